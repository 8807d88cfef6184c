#!/usr/bin/env python3
"""Sums JUnit XML reports (lit, GoogleTest, pytest) into the one closing line
`N passed, N failed[, N skipped]`. A missing or empty report counts as a
failure: a suite that did not run must not look green."""

import sys
import xml.etree.ElementTree as ET


def count(path):
    passed = failed = skipped = 0
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"{path}: no report ({e})", file=sys.stderr)
        return 0, 1, 0
    cases = list(root.iter("testcase"))
    if not cases:
        print(f"{path}: no test ran", file=sys.stderr)
        return 0, 1, 0
    for case in cases:
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags or case.get("status") == "notrun":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths):
    total = [0, 0, 0]
    for path in paths:
        p, f, s = count(path)
        print(f"  {path.rsplit('/', 1)[-1]}: {p} passed, {f} failed, {s} skipped")
        total = [a + b for a, b in zip(total, (p, f, s))]
    line = f"{total[0]} passed, {total[1]} failed"
    if total[2]:
        line += f", {total[2]} skipped"
    print(line)
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
