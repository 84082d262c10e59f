#!/usr/bin/env bash
# Installs the system packages ToonDB needs on Debian 12 (the Swift toolchain itself is a
# prerequisite): liburing-dev and pkg-config for the io_uring backend, python3 for the test
# summary, gcc and python3-dev to compile the Python SDK's optional C extension. Idempotent and non-interactive: nothing happens when everything is installed;
# otherwise `apt-get update` then `apt-get install -y` (through sudo when not root).
#
# Usage: scripts/install-deps.sh [extra-package...]   (bench-rocksdb.sh adds rocksdb-tools)
set -euo pipefail

packages=(liburing-dev pkg-config gcc python3-dev "$@")
command -v python3 >/dev/null 2>&1 || packages+=(python3)

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    # Not Debian: check what can be checked and leave installing to the user.
    if pkg-config --exists liburing 2>/dev/null; then exit 0; fi
    echo "install-deps: not a Debian system; install ${packages[*]} (liburing headers, pkg-config) yourself" >&2
    exit 1
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
    # Without a terminal (CI), never wait for a password.
    if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
