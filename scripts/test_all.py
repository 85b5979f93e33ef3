#!/usr/bin/env python
"""``make test``: the unit tests, the experiment store's check, the book build and the browser checks.

Runs the stages in order, stops at the first that fails, and ends with one summary: unit tests
passed / failed / skipped, the store check, chapters built, browser checks, and the seconds of
each stage (also written to ``_build/test_summary.json``). Time never fails a stage.

Usage: ``python scripts/test_all.py`` (from ``make test``, inside the project's ``.venv``)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
PY = sys.executable


def junit_counts(path: Path) -> dict[str, int]:
    """``passed, failed, skipped`` of a pytest JUnit XML report (errors count as failed)."""
    if not path.exists():
        return {"passed": 0, "failed": 0, "skipped": 0}
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


def stages() -> list[tuple[str, list[list[str]]]]:
    """``(name, commands)`` of every stage, in order."""
    return [
        ("unit tests", [[PY, "-m", "pytest", "-m", "not browser", f"--junitxml={BUILD / 'junit-unit.xml'}"]]),
        ("experiment store", [[PY, "-m", "asdlib.cli", "experiments", "--check", "--recompute-sample"]]),
        ("book build", [[PY, str(ROOT / "scripts" / "build_book.py")]]),
        ("browser checks", [["bash", str(ROOT / "scripts" / "install_browser.sh")],
                            [PY, "-m", "pytest", "-m", "browser", f"--junitxml={BUILD / 'junit-browser.xml'}"]]),
    ]


def summary(rows: list[dict]) -> str:
    """The closing table; its last line counts every test (``N passed, N failed, N skipped``)."""
    lines = ["", "== make test summary =="]
    for r in rows:
        lines.append(f"{r['stage']:<17} {r['status']:<7} {r['seconds']:8.1f} s  {r.get('detail', '')}")
    lines.append(f"{'all stages':<17} {'':<7} {sum(r['seconds'] for r in rows):8.1f} s")
    unit = junit_counts(BUILD / "junit-unit.xml")
    browser = junit_counts(BUILD / "junit-browser.xml")
    tot = {k: unit[k] + browser[k] for k in unit}
    lines.append(f"tests: {tot['passed']} passed, {tot['failed']} failed, {tot['skipped']} skipped")
    return "\n".join(lines)


def main() -> int:
    BUILD.mkdir(exist_ok=True)
    # the store check and the book build share one cache (build_book.py's default): the book-scale
    # synthetic sets that the check compares the stored test clips with are generated once
    os.environ.setdefault("ASD_CACHE", str(BUILD / "asd-cache"))
    for stale in ("junit-unit.xml", "junit-browser.xml", "book_build.json"):
        (BUILD / stale).unlink(missing_ok=True)
    rows, rc = [], 0
    for name, commands in stages():
        print(f"\n== {name} ==", flush=True)
        t0 = time.perf_counter()
        for cmd in commands:
            rc = subprocess.call(cmd, cwd=ROOT)
            if rc != 0:
                break
        row = {"stage": name, "status": "passed" if rc == 0 else "FAILED", "seconds": time.perf_counter() - t0}
        if name == "unit tests":
            c = junit_counts(BUILD / "junit-unit.xml")
            row["detail"] = f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"
        elif name == "browser checks":
            c = junit_counts(BUILD / "junit-browser.xml")
            row["detail"] = f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped"
        elif name == "book build" and (BUILD / "book_build.json").exists():
            b = json.loads((BUILD / "book_build.json").read_text())
            row["detail"] = (f"{b['chapters']} of {b['chapters_expected']} chapters executed; "
                             + ("; ".join(b["over_budget"]) if b["over_budget"] else "within the time budget"))
        rows.append(row)
        if rc != 0:
            break
    text = summary(rows)
    (BUILD / "test_summary.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(text, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
