"""Benchmark: the book's time budget on this machine (no chapter over 4 min, the book within 15).

The build never fails on time (``scripts/build_book.py`` only reports); this script checks the
budget. Run: ``python benchmarks/bench_book.py`` prints the table of the last build
(``_build/chapter_times.csv``); ``--build`` first builds the book from a fresh cache in a temporary
folder (the time of a first build, as on a fresh clone). Columns: chapter, seconds, share of the
chapter budget, status; the last lines say whether the book fits, with the slowest chapter.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from build_book import CHAPTER_BUDGET_S, TOTAL_BUDGET_S  # noqa: E402


def read_times(path: Path) -> list[tuple[str, float]]:
    """``(chapter, seconds)`` rows of a ``chapter_times.csv`` (without its total)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [(r["chapter"], float(r["seconds"])) for r in csv.DictReader(fh) if r["chapter"] != "total"]


def table(rows: list[tuple[str, float]], chapter_budget: float, total_budget: float) -> str:
    """The budget table as text."""
    width = max([len("chapter")] + [len(n) for n, _ in rows])
    out = [f"{'chapter':<{width}}  {'seconds':>8}  {'of budget':>9}  status"]
    for name, sec in rows:
        out.append(f"{name:<{width}}  {sec:8.1f}  {sec / chapter_budget:9.0%}  "
                   f"{'OVER BUDGET' if sec > chapter_budget else 'ok'}")
    total = sum(s for _, s in rows)
    out.append(f"{'total':<{width}}  {total:8.1f}  {total / total_budget:9.0%}  "
               f"{'OVER BUDGET' if total > total_budget else 'ok'}")
    slowest = max(rows, key=lambda r: r[1]) if rows else ("-", 0.0)
    out.append(f"budget: {chapter_budget:.0f} s a chapter, {total_budget:.0f} s in all; slowest chapter "
               f"{slowest[0]} ({slowest[1]:.1f} s, headroom {chapter_budget / max(slowest[1], 1e-9):.2f}x)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="build the book first, from a fresh cache")
    parser.add_argument("--times", type=Path, default=ROOT / "_build" / "chapter_times.csv")
    args = parser.parse_args(argv)
    if args.build:
        with tempfile.TemporaryDirectory(prefix="asd-bench-book-") as cache:
            subprocess.call([sys.executable, str(ROOT / "scripts" / "build_book.py")], cwd=ROOT,
                            env={**os.environ, "ASD_CACHE": cache})
    if not args.times.exists():
        print(f"no build times at {args.times}: run make book first, or pass --build")
        return 0
    print(table(read_times(args.times), CHAPTER_BUDGET_S, TOTAL_BUDGET_S))
    return 0


if __name__ == "__main__":
    sys.exit(main())
