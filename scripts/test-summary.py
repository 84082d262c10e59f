#!/usr/bin/env python3
"""Sums the xUnit result files of a test run and prints one final line: `N passed, M failed`.

Usage: scripts/test-summary.py RESULTS_DIR

Every *.xml in RESULTS_DIR counts (XCTest and Swift Testing files from `swift test
--xunit-output`, pytest's --junitxml, synthetic files for passes that crashed). A test case
with a <failure> or <error> child failed; one with <skipped> is skipped (not counted as
passed). A file that is not well-formed XML counts as one failure. Exits 1 when anything
failed or no test ran. Standard library only.
"""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(path: Path):
    passed = failed = skipped = 0
    failures = []
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as error:
        return 0, 1, 0, [f"{path.name}: unreadable result file ({error})"]
    for case in root.iter("testcase"):
        children = {child.tag for child in case}
        name = f"{case.get('classname', '')}.{case.get('name', '')}".strip(".")
        if children & {"failure", "error"}:
            failed += 1
            failures.append(f"{path.name}: {name}")
        elif "skipped" in children:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, failures


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    results = Path(sys.argv[1])
    files = sorted(results.glob("*.xml")) if results.is_dir() else []
    total_passed = total_failed = total_skipped = 0
    all_failures = []
    for path in files:
        passed, failed, skipped, failures = count(path)
        total_passed += passed
        total_failed += failed
        total_skipped += skipped
        all_failures += failures
        print(f"  {path.name}: {passed} passed, {failed} failed, {skipped} skipped", file=sys.stderr)
    if not files:
        print(f"no test results in {results}", file=sys.stderr)
    for failure in all_failures:
        print(f"  FAILED {failure}", file=sys.stderr)
    if total_skipped:
        print(f"  ({total_skipped} skipped)", file=sys.stderr)
    sys.stderr.flush()
    print(f"{total_passed} passed, {total_failed} failed", flush=True)
    return 1 if total_failed or total_passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
