#!/usr/bin/env python
"""Write student copies of the chapters: exercise solutions removed, outputs cleared.

The exercise convention (also in ``book/index.md``, "For teachers"); every exercise is two
consecutive cells, so each solution exists once:

1. stub: a code cell tagged ``raises-exception`` ending in
   ``raise NotImplementedError("Exercise: ...")`` -- kept;
2. solution: a code cell tagged ``solution`` and ``hide-input`` that runs the reference solution
   (the book shows its output and hides its code behind a toggle) -- removed.

Rule: a cell is removed **iff it is tagged** ``solution``. A cell tagged ``remove-cell`` but not
``solution`` is a hidden helper that later cells need, and is kept. A markdown cell with a
Solution dropdown that is *not* tagged ``solution`` is an error (the notebook and cell are
named), so a forgotten tag cannot leak a solution. In the copies every output and execution
count is cleared.

The course's problem sets (``book/course/ps*.ipynb``, "Teaching with this book") follow the
same convention and are written to ``<out>/course/``; their notebook metadata ``grading`` (the
autograder's spec, read from the teacher's reference copy by ``scripts/grade.py``) is reduced to
the problem-set name, so no hand-computed answer travels with a student copy.

Usage: ``python scripts/student_copies.py --out student [--book book]``
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
CHAPTER_GLOB = "[0-9][0-9]_*.ipynb"
COURSE_DIR = "course"
PROBLEM_SET_GLOB = "ps[0-9]*_*.ipynb"
_DROPDOWN_SOLUTION = re.compile(r"\{admonition\}\s*Solution", re.IGNORECASE)


def cell_tags(cell: nbformat.NotebookNode) -> set[str]:
    """Return the set of tags of a notebook cell."""
    return set(cell.get("metadata", {}).get("tags", []))


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True when the cell belongs to a solution (tagged ``solution``) and must be removed."""
    return SOLUTION_TAG in cell_tags(cell)


def strip_solutions(nb: nbformat.NotebookNode, name: str = "notebook") -> tuple[
        nbformat.NotebookNode, int]:
    """Return (student copy, number of cells removed): solutions dropped, outputs cleared.

    Raises ValueError naming ``name`` and the cell when a Solution dropdown is not tagged.
    """
    kept = []
    for index, cell in enumerate(nb.cells):
        if is_solution(cell):
            continue
        if cell.cell_type == "markdown" and _DROPDOWN_SOLUTION.search(cell.source):
            raise ValueError(f"{name}: cell {index} holds a Solution admonition but is not "
                             f"tagged '{SOLUTION_TAG}'; tag it so student copies drop it")
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        kept.append(cell)
    copy = nbformat.from_dict(dict(nb))
    copy.cells = kept
    grading = copy.metadata.get("grading")
    if isinstance(grading, dict):  # the autograder's spec stays with the teacher
        copy.metadata["grading"] = {"problem_set": grading.get("problem_set", name)}
    nbformat.validate(copy)
    return copy, len(nb.cells) - len(kept)


def write_student_copies(book: Path, out: Path) -> dict[str, int]:
    """Write a student copy of every ``book/NN_*.ipynb`` into ``out`` and of every problem set
    ``book/course/psN_*.ipynb`` into ``out/course``; return relative name -> cells removed.

    Every notebook is stripped before anything is written, so a refused notebook leaves no
    partial set of copies behind.
    """
    chapters = sorted(book.glob(CHAPTER_GLOB))
    if not chapters:
        raise FileNotFoundError(f"{book}: no chapter notebooks matching {CHAPTER_GLOB}")
    sources = [(path, Path(path.name)) for path in chapters]
    sources += [(path, Path(COURSE_DIR) / path.name)
                for path in sorted((book / COURSE_DIR).glob(PROBLEM_SET_GLOB))]
    copies = []
    for path, rel in sources:
        nb = nbformat.read(path, as_version=4)
        copy, n = strip_solutions(nb, name=rel.as_posix())
        if n == 0 and rel.parent == Path(COURSE_DIR):
            raise ValueError(f"{rel.as_posix()}: a problem set without any cell tagged '{SOLUTION_TAG}'")
        copies.append((rel, copy, n))
    removed = {}
    for rel, copy, n in copies:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(copy, out / rel)
        removed[rel.as_posix()] = n
    return removed


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "student",
                        help="folder for the student copies (default: student/)")
    parser.add_argument("--book", type=Path, default=ROOT / "book",
                        help="folder of the chapter notebooks (default: book/)")
    args = parser.parse_args(argv)
    try:
        removed = write_student_copies(args.book, args.out)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, n in removed.items():
        print(f"{name}: {n} solution cell(s) removed")
    print(f"{len(removed)} student notebook(s) written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
