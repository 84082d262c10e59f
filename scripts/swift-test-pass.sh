#!/usr/bin/env bash
# Runs one pass of the Swift tests (already built) and leaves xUnit results in RESULTS_DIR:
# NAME.xml (XCTest) and NAME-swift-testing.xml (Swift Testing), plus NAME.log. When
# `swift test` fails without any result file reporting a failure (a crash, a build problem),
# NAME-exit.xml records one failed test saying so, so the summary never undercounts.
#
# Usage: scripts/swift-test-pass.sh NAME RESULTS_DIR [extra swift test arguments...]
# The environment passes through (e.g. TOONDB_IO=posix).
set -uo pipefail
name="${1:?usage: swift-test-pass.sh NAME RESULTS_DIR [swift test args...]}"
results="${2:?usage: swift-test-pass.sh NAME RESULTS_DIR [swift test args...]}"
shift 2
mkdir -p "$results"
rm -f "$results/$name.xml" "$results/$name-swift-testing.xml" "$results/$name-exit.xml"

echo "=== swift test: $name (TOONDB_IO=${TOONDB_IO:-unset}) ==="
start=$SECONDS
# --parallel: without it SwiftPM writes no xUnit file for XCTest tests.
swift test --skip-build --parallel --xunit-output "$results/$name.xml" "$@" </dev/null 2>&1 | tee "$results/$name.log"
status=${PIPESTATUS[0]}
echo "=== $name: swift test exited with status $status after $((SECONDS - start)) s ==="

if [ "$status" -ne 0 ]; then
    if ! grep -qs -e '<failure' -e '<error' "$results/$name.xml" "$results/$name-swift-testing.xml"; then
        cat > "$results/$name-exit.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="$name" tests="1" failures="1" errors="0">
    <testcase classname="$name" name="swift test">
      <failure message="swift test exited with status $status and no test reported a failure (crash or build problem); see $name.log"/>
    </testcase>
  </testsuite>
</testsuites>
XML
    fi
fi
exit "$status"
