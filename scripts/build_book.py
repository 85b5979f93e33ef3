#!/usr/bin/env python
"""Build the Jupyter Book (every chapter executed) and report the time each chapter took.

Runs ``jupyter-book build <repo> --builder html -W -n --keep-going --all`` from the repository
root (found from this file's location), so a cell error (``nb_execution_raise_on_error``) or
any Sphinx warning fails the build. Execution times come from the Sphinx environment that
MyST-NB fills (``env.nb_metadata[docname]["exec_data"]["runtime"]``), read back from
``_build/.doctrees/environment.pickle``; for a chapter missing there, the build log line
``Executed notebook in X seconds`` is used.

Prints a ``chapter, seconds, budget`` table plus the total, writes it to
``_build/chapter_times.csv``, and exits non-zero when the build failed or a chapter in
``_toc.yml`` was not executed. Time never fails the build: a chapter over its budget
(``--chapter-budget``, 240 s) or a book over ``--total-budget`` (900 s) is reported on an
"over budget" line; ``benchmarks/bench_book.py`` checks the budget. The book itself is
explained in ``book/index.md``.

Usage: ``python scripts/build_book.py [--chapter-budget S] [--total-budget S]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD_FLAGS = ["--builder", "html", "-W", "-n", "--keep-going", "--all"]
CHAPTER_BUDGET_S = 240.0  # the project budget on a 2-core CPU: no chapter over 4 min,
TOTAL_BUDGET_S = 900.0  # and the whole build within 15 min (reported, never enforced)


def toc_files(root: Path = ROOT) -> list[str]:
    """Return the docnames in ``_toc.yml`` in reading order, root first (``book/index``, ...)."""
    toc_path = root / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"{toc_path}: expected a mapping with a 'root' key")
    names = [str(toc["root"])]

    def walk(entries: list[Any]) -> None:
        for entry in entries or []:
            if "file" in entry:
                names.append(str(entry["file"]))
            for key in ("chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("chapters", []))
    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return [re.sub(r"\.(ipynb|md)$", "", name) for name in names]


def toc_notebooks(root: Path = ROOT) -> list[str]:
    """Return the docnames in ``_toc.yml`` that are notebooks (``book/01_listening``, ...)."""
    return [name for name in toc_files(root) if (root / f"{name}.ipynb").exists()]


def jupyter_book_command() -> list[str]:
    """Return the ``jupyter-book`` executable of this interpreter's environment."""
    exe = Path(sys.executable).parent / "jupyter-book"
    found = str(exe) if exe.exists() else shutil.which("jupyter-book")
    if not found:
        raise SystemExit("jupyter-book not found: install the book extra, pip install -e '.[book]'")
    return [found]


def run_build(root: Path, log_path: Path) -> int:
    """Run the book build, streaming its output to the terminal and to ``log_path``."""
    cmd = jupyter_book_command() + ["build", str(root)] + BUILD_FLAGS
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print("$ jupyter-book build . " + " ".join(BUILD_FLAGS), flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        return proc.wait()


def times_from_environment(build_dir: Path) -> dict[str, float]:
    """Return docname -> execution seconds recorded by MyST-NB in the Sphinx environment."""
    pickle_path = build_dir / ".doctrees" / "environment.pickle"
    if not pickle_path.exists():
        return {}
    try:
        with open(pickle_path, "rb") as fh:
            env = pickle.load(fh)
    except Exception as err:  # an unreadable environment falls back to the log
        print(f"warning: could not read {pickle_path}: {err}", file=sys.stderr)
        return {}
    out = {}
    for docname, meta in getattr(env, "nb_metadata", {}).items():
        data = meta.get("exec_data") or {}
        if data.get("runtime") is not None and data.get("succeeded", True):
            out[docname] = float(data["runtime"])
    return out


def times_from_log(log_text: str, docnames: list[str]) -> dict[str, float]:
    """Return docname -> seconds from ``Executed notebook in X seconds`` lines of the log."""
    out: dict[str, float] = {}
    current = None
    for line in log_text.splitlines():
        for name in docnames:
            if f"{name}.ipynb" in line or re.search(rf"\b{re.escape(name)}\s*$", line):
                current = name
        hit = re.search(r"Executed notebook in ([0-9.]+) seconds", line)
        if hit and current is not None:
            out[current] = float(hit.group(1))
    return out


def over_budget(rows: list[tuple[str, float]], wall: float, chapter_budget: float = CHAPTER_BUDGET_S,
                total_budget: float = TOTAL_BUDGET_S) -> list[str]:
    """One line per chapter over ``chapter_budget`` seconds, and for a build over ``total_budget``."""
    lines = [f"over budget: {name} took {sec:.1f} s > {chapter_budget:.0f} s per chapter"
             for name, sec in rows if sec > chapter_budget]
    total = sum(sec for _, sec in rows)
    if max(total, wall) > total_budget:
        lines.append(f"over budget: the book took {max(total, wall):.1f} s > {total_budget:.0f} s in all")
    return lines


def write_table(rows: list[tuple[str, float]], csv_path: Path, chapter_budget: float = CHAPTER_BUDGET_S) -> None:
    """Print the ``chapter, seconds, budget`` table with its total and write it to ``csv_path``."""
    total = sum(sec for _, sec in rows)
    width = max([len("chapter"), len("total")] + [len(name) for name, _ in rows])
    print(f"\n{'chapter':<{width}}  {'seconds':>8}  budget")
    for name, sec in rows:
        print(f"{name:<{width}}  {sec:8.1f}  {'OVER' if sec > chapter_budget else 'ok'}")
    print(f"{'total':<{width}}  {total:8.1f}")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["chapter", "seconds"])
        writer.writerows((name, f"{sec:.2f}") for name, sec in rows)
        writer.writerow(["total", f"{total:.2f}"])


def main(argv: list[str] | None = None) -> int:
    """Build the book, print and save chapter times, return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter-budget", type=float, default=CHAPTER_BUDGET_S,
                        help="report a chapter that executes longer (seconds, default 240)")
    parser.add_argument("--total-budget", type=float, default=TOTAL_BUDGET_S,
                        help="report a build that takes longer (seconds, default 900)")
    args = parser.parse_args(argv)

    build_dir = ROOT / "_build"
    log_path = build_dir / "build.log"
    chapters = toc_notebooks(ROOT)
    missing = [n for n in toc_files(ROOT)
               if not any((ROOT / f"{n}{ext}").exists() for ext in (".ipynb", ".md"))]
    if missing:
        print(f"FAILED: _toc.yml lists pages that do not exist: {missing}", file=sys.stderr)
        return 2

    # A fresh checkout builds with a fresh data/run cache inside _build (so the time measured is
    # the time of a first build); set ASD_CACHE to share a cache between checkouts.
    os.environ.setdefault("ASD_CACHE", str(build_dir / "asd-cache"))
    print(f"ASD_CACHE={os.environ['ASD_CACHE']}  ASD_DATA={os.environ.get('ASD_DATA', 'synthetic')}", flush=True)
    start = time.perf_counter()
    rc = run_build(ROOT, log_path)
    wall = time.perf_counter() - start

    times = times_from_log(log_path.read_text(encoding="utf-8"), chapters)
    times.update(times_from_environment(build_dir))
    rows = [(name, times[name]) for name in chapters if name in times]
    write_table(rows, build_dir / "chapter_times.csv", args.chapter_budget)
    print(f"(build wall time {wall:.1f} s; table in _build/chapter_times.csv)")

    problems = []
    if rc != 0:
        problems.append(f"jupyter-book build exited with status {rc} (a cell error or a "
                        f"Sphinx warning; see the log above or {log_path.relative_to(ROOT)})")
    not_run = [name for name in chapters if name not in times]
    if rc == 0 and not_run:
        problems.append(f"no execution time recorded for {not_run}: were they executed?")
    budget = over_budget(rows, wall, args.chapter_budget, args.total_budget)
    (build_dir / "book_build.json").write_text(json.dumps(
        {"exit": 1 if problems else 0, "wall_s": round(wall, 1), "chapters": len(rows),
         "chapters_expected": len(chapters), "over_budget": budget}, indent=2), encoding="utf-8")
    print("\n".join(budget) if budget else
          f"within budget: every chapter under {args.chapter_budget:.0f} s, the book under {args.total_budget:.0f} s")
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("\nBook built: every chapter executed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
