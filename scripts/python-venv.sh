#!/usr/bin/env bash
# Creates (or reuses) the Python virtual environment the SDK tests and benchmarks run in and
# installs what they need from PyPI. Idempotent: a stamp file records the installed set, so a
# second run with the same arguments does nothing.
#
# Usage: scripts/python-venv.sh VENV_DIR [test|bench]...
#   test   pytest, numpy, toon-format (the SDK tests), and ToonDB's original SDK (the `sochdb`
#          wheel, without its dependencies: the compatibility tests load its IPC client alone)
#   bench  rocksdict, plyvel, lmdb (the embedded-mode peers), hnswlib, faiss-cpu, usearch (the
#          vector-index peers)
set -euo pipefail

venv=${1:?usage: python-venv.sh VENV_DIR [test|bench]...}
shift
packages=()
nodeps=()
for set in "$@"; do
    case $set in
        test) packages+=(pytest numpy toon-format); nodeps+=(sochdb==0.8.3) ;;
        bench) packages+=(numpy rocksdict plyvel lmdb hnswlib faiss-cpu usearch) ;;
        *) echo "python-venv: unknown package set '$set'" >&2; exit 2 ;;
    esac
done

# Debian splits venv support into its own package.
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    scripts/install-deps.sh python3-venv
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"

stamp="$venv/.toondb-installed"
wanted=""
[ ${#packages[@]} -gt 0 ] && wanted=$(printf '%s\n' "${packages[@]}" | sort -u | tr '\n' ' ')
[ ${#nodeps[@]} -gt 0 ] && wanted="$wanted| --no-deps ${nodeps[*]}"
if [ -n "$wanted" ] && ! grep -qxF -- "$wanted" "$stamp" 2>/dev/null; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check ${wanted%%|*}
    if [ ${#nodeps[@]} -gt 0 ]; then
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${nodeps[@]}"
    fi
    echo "$wanted" >> "$stamp"
fi
