#!/usr/bin/env python
"""Autograder of the course ("Teaching with this book", ``book/course/``): plain checks, no service.

Why plain checks and not otter-grader / nbgrader: the problem sets are ordinary notebooks of the
book's exercise convention (stub tagged ``raises-exception``, solution tagged ``solution``), whose
answers are *named results* (``auc_by_hand``, ``ratio_hf``, ...). Grading them needs only to
execute a notebook and compare a few values, which ``nbclient`` (already a dependency of the book)
does; nothing new to install, nothing that needs a server or network, and the same code runs in
``tests/test_course.py``.

**notebook mode** -- ``python scripts/grade.py notebook REFERENCE STUDENT... [--out grades.csv]``:

1. The *reference* notebook (``book/course/psN_*.ipynb``, with its solutions) names the graded
   results in its metadata ``grading``: ``{"problem_set": "ps1", "checks": [{"name": ...,
   "points": ..., "kind": "close" | "equal", "rtol": ..., "atol": ..., "expected": ...}]}``.
2. The reference is executed (its stubs raise on purpose, cells tagged ``raises-exception`` may),
   and the named values are read from its kernel. A literal ``expected`` (a value worked out by
   hand) is compared with the reference's own value first: a reference that no longer gives
   its hand-computed answer is an error, not a grade. With ``--set`` those literals are skipped.
3. Every student notebook is executed in a temporary folder, continuing past errors and past
   cells interrupted at ``--timeout`` (an unsolved task costs its points, not the rest), and
   each named value is compared with the
   reference's: ``close`` -- numbers or arrays of the same shape within ``rtol`` / ``atol``
   (``numpy.allclose``); ``equal`` -- the same value (strings, integers, lists; tuples read as lists).
   A name the notebook does not define scores 0 with the message "not defined".

``--set NAME=VALUE`` (repeatable, VALUE a Python literal) overrides the problem set's parameters
(the code cell tagged ``parameters``) in the reference *and* in every student notebook, e.g.
``--set MACHINE='"valve"'``: answers copied from the published reference then no longer match.

**capstone mode** -- ``python scripts/grade.py capstone --ground-truth GT.csv TEAM_DIR... [--out leaderboard.csv]``:
each team folder of DCASE 2022 submission files is evaluated with
:func:`asdlib.submission.evaluate_submission` (the same as ``asd evaluate --submission DIR
--ground-truth GT``) and the teams are ranked by the official score. A folder that cannot be
evaluated is listed with its error, not dropped.

Student code runs on the grading machine with the grader's rights: grade in a container or a
throw-away account. The course is explained in ``book/course/index.md`` (chapter "Teaching with
this book").
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<<ASD-GRADE>>"
KINDS = ("close", "equal")
DEFAULT_TIMEOUT_S = 300

# Runs in the graded kernel after the notebook: prints the named values as JSON after MARKER.
_EXTRACT = '''
def _asd_grade_encode(v, depth=0):
    import numpy as _np
    if depth > 4:
        return {"__repr__": repr(v)[:200]}
    if isinstance(v, (bool, _np.bool_)):
        return bool(v)
    if isinstance(v, (int, _np.integer)):
        return int(v)
    if isinstance(v, (float, _np.floating)):
        return float(v)
    if isinstance(v, str):
        return v
    if hasattr(v, "detach") and hasattr(v, "numpy"):
        v = v.detach().cpu().numpy()
    if isinstance(v, _np.ndarray):
        if v.dtype.kind in "biuf":
            return {"__array__": v.astype(float).tolist(), "shape": list(v.shape)}
        return [_asd_grade_encode(x, depth + 1) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_asd_grade_encode(x, depth + 1) for x in v]
    if isinstance(v, dict):
        return {str(k): _asd_grade_encode(x, depth + 1) for k, x in v.items()}
    return {"__repr__": repr(v)[:200]}

import json as _asd_grade_json
print(%(marker)r + _asd_grade_json.dumps(
    {n: (_asd_grade_encode(globals()[n]) if n in globals() else {"__missing__": True}) for n in %(names)r}))
'''


class GradingError(RuntimeError):
    """A reference notebook or spec that cannot grade (names the notebook and what is wrong)."""


@dataclass(frozen=True)
class Check:
    """One graded result of a problem set."""

    name: str
    points: float
    kind: str = "close"
    rtol: float = 1e-6
    atol: float = 1e-9
    expected: Any = None  # a hand-computed value the reference must give (None: none)


@dataclass
class Result:
    """The outcome of one check on one notebook."""

    notebook: str  # the path as given (two students' notebooks may share a file name)
    check: str
    points: float
    max_points: float
    message: str

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class Spec:
    """The grading spec of one problem set (notebook metadata ``grading``)."""

    problem_set: str
    checks: list[Check] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.checks]

    @property
    def max_points(self) -> float:
        return float(sum(c.points for c in self.checks))


def read_spec(nb: nbformat.NotebookNode, name: str) -> Spec:
    """The grading spec of a reference notebook; GradingError naming ``name`` when it is malformed."""
    raw = nb.metadata.get("grading")
    if not isinstance(raw, dict) or not raw.get("checks"):
        raise GradingError(f"{name}: no grading spec (notebook metadata 'grading' with a 'checks' list)")
    checks = []
    for i, c in enumerate(raw["checks"]):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"].isidentifier():
            raise GradingError(f"{name}: grading check {i} needs a 'name' that is a Python identifier, got {c!r}")
        kind = c.get("kind", "close")
        if kind not in KINDS:
            raise GradingError(f"{name}: check {c['name']!r} has kind {kind!r}; expected one of {KINDS}")
        points = c.get("points", 1)
        if not isinstance(points, (int, float)) or points <= 0:
            raise GradingError(f"{name}: check {c['name']!r} needs positive points, got {points!r}")
        checks.append(Check(c["name"], float(points), kind, float(c.get("rtol", 1e-6)), float(c.get("atol", 1e-9)),
                            c.get("expected")))
    if len(set(ch.name for ch in checks)) != len(checks):
        raise GradingError(f"{name}: a graded name appears twice in the grading spec")
    return Spec(str(raw.get("problem_set", Path(name).stem)), checks)


def _parameters_index(nb: nbformat.NotebookNode) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return i
    return None


def _override_cell(overrides: dict[str, Any]) -> nbformat.NotebookNode:
    src = "\n".join(f"{k} = {v!r}" for k, v in overrides.items())
    return nbformat.v4.new_code_cell("# injected by scripts/grade.py --set\n" + src)


def prepare(nb: nbformat.NotebookNode, names: list[str], overrides: dict[str, Any]) -> tuple[nbformat.NotebookNode, list[str]]:
    """A copy of ``nb`` ready to grade: outputs cleared, ``overrides`` injected after the
    ``parameters`` cell, the extraction cell appended. Returns (notebook, notes)."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    notes = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if overrides:
        at = _parameters_index(nb)
        if at is None:
            notes.append("no cell tagged 'parameters': overrides put after the first code cell")
            at = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), -1)
        nb.cells.insert(at + 1, _override_cell(overrides))
    nb.cells.append(nbformat.v4.new_code_cell(_EXTRACT % {"marker": MARKER, "names": list(names)}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb, notes


def execute(nb: nbformat.NotebookNode, names: list[str], overrides: dict[str, Any], name: str,
            timeout: int = DEFAULT_TIMEOUT_S, allow_errors: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Execute a notebook in a fresh kernel in a temporary folder; return (named values, notes).

    ``allow_errors=False`` (the reference) still lets cells tagged ``raises-exception`` fail.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    ready, notes = prepare(nb, names, overrides)
    workdir = Path(tempfile.mkdtemp(prefix="asd-grade-"))
    try:
        # a student cell that runs past the timeout is interrupted and the next cells still run
        client = NotebookClient(ready, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                interrupt_on_timeout=allow_errors, resources={"metadata": {"path": str(workdir)}})
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
            if not allow_errors:
                raise GradingError(f"{name}: the reference notebook failed: {str(err).strip()[-1500:]}") from None
            notes.append(f"execution stopped: {type(err).__name__}")
            return {}, notes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    errors = [o for c in ready.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    unsolved = sum(1 for o in errors if o.get("ename") == "NotImplementedError"
                   and str(o.get("evalue", "")).startswith("Exercise:"))
    if unsolved:
        notes.append(f"{unsolved} task cell(s) still raise NotImplementedError('Exercise: ...')")
    others = [f"{o.get('ename')}: {str(o.get('evalue', ''))[:120]}" for o in errors
              if not (o.get("ename") == "NotImplementedError" and str(o.get("evalue", "")).startswith("Exercise:"))]
    if others:
        notes.append(f"{len(others)} cell(s) raised an error, first: {others[0]}")
    text = "".join(o.get("text", "") for o in ready.cells[-1].get("outputs", []) if o.get("output_type") == "stream")
    line = next((ln for ln in text.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        notes.append("the grader could not read the results (the kernel died or printed nothing)")
        return {}, notes
    values = json.loads(line[len(MARKER):])
    return {k: v for k, v in values.items() if not (isinstance(v, dict) and v.get("__missing__"))}, notes


def _as_number_array(v: Any):
    import numpy as np

    if isinstance(v, dict) and "__array__" in v:
        return np.asarray(v["__array__"], dtype=float).reshape(v["shape"])
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return np.asarray(float(v))
    if isinstance(v, list):
        try:
            arr = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            return None
        return arr if arr.dtype.kind == "f" else None
    return None


def _plain(v: Any) -> Any:
    """JSON-decoded value with arrays as nested lists (so 'equal' compares values, not encodings)."""
    if isinstance(v, dict) and "__array__" in v:
        return v["__array__"]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _short(v: Any, n: int = 80) -> str:
    text = json.dumps(_plain(v)) if not isinstance(v, str) else repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


def compare(check: Check, value: Any, reference: Any) -> tuple[bool, str]:
    """(passed, message) of one graded value against the reference value."""
    import numpy as np

    if check.kind == "equal":
        a, b = _plain(value), _plain(reference)
        if isinstance(a, float) and isinstance(b, int) and a == b:
            return True, "ok"
        return (True, "ok") if a == b else (False, f"got {_short(value)}, expected {_short(reference)}")
    ref = _as_number_array(reference)
    got = _as_number_array(value)
    if ref is None:
        raise GradingError(f"check {check.name!r} is 'close' but the reference value is not numeric: {_short(reference)}")
    if got is None:
        return False, f"expected a number or an array of numbers, got {_short(value)}"
    if got.shape != ref.shape:
        return False, f"shape {tuple(got.shape)}, expected {tuple(ref.shape)}"
    if not np.all(np.isfinite(got)):
        return False, "holds NaN or infinite values"
    if np.allclose(got, ref, rtol=check.rtol, atol=check.atol, equal_nan=False):
        return True, "ok"
    err = float(np.max(np.abs(got - ref)))
    shown = f"got {_short(value)}, expected {_short(reference)}" if ref.size == 1 else f"max abs difference {err:.3g}"
    return False, f"{shown} (rtol {check.rtol:g}, atol {check.atol:g})"


def reference_values(path: Path, overrides: dict[str, Any] | None = None,
                     timeout: int = DEFAULT_TIMEOUT_S) -> tuple[Spec, dict[str, Any]]:
    """Execute a reference notebook; return its spec and named values (checked against ``expected``)."""
    overrides = overrides or {}
    nb = nbformat.read(path, as_version=4)
    spec = read_spec(nb, path.name)
    values, _ = execute(nb, spec.names, overrides, path.name, timeout=timeout, allow_errors=False)
    missing = [n for n in spec.names if n not in values]
    if missing:
        raise GradingError(f"{path.name}: the reference solution does not define {missing}")
    if not overrides:
        for c in spec.checks:
            if c.expected is not None:
                ok, msg = compare(c, values[c.name], c.expected)
                if not ok:
                    raise GradingError(f"{path.name}: the reference's {c.name} is not its hand-computed value: {msg}")
    return spec, values


def grade_notebook(path: Path, spec: Spec, reference: dict[str, Any], overrides: dict[str, Any] | None = None,
                   timeout: int = DEFAULT_TIMEOUT_S) -> tuple[list[Result], list[str]]:
    """Grade one student notebook against reference values; return (one Result per check, notes)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - an unreadable submission scores 0, with the reason
        msg = f"not a readable notebook: {err}"
        return [Result(str(path), c.name, 0.0, c.points, msg) for c in spec.checks], [msg]
    notes = []
    their = nb.metadata.get("grading", {}).get("problem_set") if isinstance(nb.metadata.get("grading"), dict) else None
    if their is not None and their != spec.problem_set:
        notes.append(f"the notebook says it is problem set {their!r}, graded as {spec.problem_set!r}")
    values, run_notes = execute(nb, spec.names, overrides or {}, path.name, timeout=timeout, allow_errors=True)
    notes += run_notes
    results = []
    for c in spec.checks:
        if c.name not in values:
            results.append(Result(str(path), c.name, 0.0, c.points, "not defined"))
            continue
        ok, msg = compare(c, values[c.name], reference[c.name])
        results.append(Result(str(path), c.name, c.points if ok else 0.0, c.points, msg))
    return results, notes


def write_grades(results: list[Result], out: Path) -> None:
    """Write one row per (notebook, check) plus a ``TOTAL`` row per notebook."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["notebook", "check", "points", "max_points", "message"])
        for nb_name in dict.fromkeys(r.notebook for r in results):
            rows = [r for r in results if r.notebook == nb_name]
            for r in rows:
                w.writerow([r.notebook, r.check, f"{r.points:g}", f"{r.max_points:g}", r.message])
            w.writerow([nb_name, "TOTAL", f"{sum(r.points for r in rows):g}", f"{sum(r.max_points for r in rows):g}", ""])


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["MACHINE='valve'", "SEED=3"]`` -> ``{"MACHINE": "valve", "SEED": 3}`` (values are Python literals)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ValueError(f"--set {item!r}: expected NAME=VALUE, e.g. MACHINE='\"valve\"' or SEED=3")
        try:
            out[name.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ValueError(f"--set {item!r}: {value!r} is not a Python literal (quote strings: NAME='\"text\"')") from None
    return out


def leaderboard(team_dirs: list[Path], ground_truth: Path) -> list[dict[str, Any]]:
    """One row per team folder: official score, mean AUC (source / target), pAUC and F1, or the error."""
    from asdlib.metrics import official_score
    from asdlib.submission import SubmissionError, evaluate_submission, read_ground_truth

    gt = read_ground_truth(ground_truth)
    rows = []
    for team in team_dirs:
        row: dict[str, Any] = {"team": team.name}
        try:
            res = evaluate_submission(team, gt, method=team.name)
        except (SubmissionError, FileNotFoundError, ValueError) as err:
            row["error"] = str(err)
            rows.append(row)
            continue
        if "official" not in set(res["unit"]):
            row["error"] = "not a DCASE 2022 submission (no official score): the capstone uses section_XX files"
            rows.append(row)
            continue
        mean = res[(res["machine_type"] == "all") & (res["unit"] == "mean")]
        row["official_score"] = official_score(res)
        for domain in ("source", "target"):
            vals = mean.loc[mean["domain"] == domain, "auc"]
            row[f"auc_{domain}"] = float(vals.iloc[0]) if len(vals) else math.nan
        allrow = mean[mean["domain"] == "all"]
        row["pauc"] = float(allrow["pauc"].iloc[0]) if len(allrow) else math.nan
        row["f1"] = float(allrow["f1"].iloc[0]) if len(allrow) and "f1" in allrow else math.nan
        rows.append(row)
    ranked = sorted([r for r in rows if "error" not in r], key=lambda r: -r["official_score"])
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    return ranked + [r for r in rows if "error" in r]


def _main_notebook(a: argparse.Namespace) -> int:
    overrides = parse_overrides(a.set or [])
    reference = Path(a.reference)
    spec, ref_values = reference_values(reference, overrides, timeout=a.timeout)
    print(f"{reference.name}: problem set {spec.problem_set}, {len(spec.checks)} checks, "
          f"{spec.max_points:g} points; reference executed" + (f" with {overrides}" if overrides else ""))
    all_results: list[Result] = []
    for student in a.students:
        results, notes = grade_notebook(Path(student), spec, ref_values, overrides, timeout=a.timeout)
        all_results += results
        total = sum(r.points for r in results)
        print(f"\n{student}: {total:g} / {spec.max_points:g}" + ("".join(f"\n  note: {n}" for n in notes)))
        for r in results:
            print(f"  {'PASS' if r.passed else 'FAIL'}  {r.check:<24} {r.points:g}/{r.max_points:g}  {r.message}")
    if a.out:
        write_grades(all_results, Path(a.out))
        print(f"\ngrades written to {a.out}")
    return 0


def _main_capstone(a: argparse.Namespace) -> int:
    rows = leaderboard([Path(t) for t in a.teams], Path(a.ground_truth))
    cols = ["rank", "team", "official_score", "auc_source", "auc_target", "pauc", "f1", "error"]
    for r in rows:
        shown = " ".join(f"{k}={100 * r[k]:.2f}" for k in cols[2:7] if k in r)
        print(f"{r.get('rank', '-')!s:>3} {r['team']}: " + (shown or f"error: {r['error']}"))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
        print(f"leaderboard written to {a.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("notebook", help="grade student notebooks of one problem set against its reference")
    s.add_argument("reference", help="the problem set with its solutions, e.g. book/course/ps1_features.ipynb")
    s.add_argument("students", nargs="+", help="student notebooks (copies from make student, filled in)")
    s.add_argument("--out", help="CSV with one row per notebook and check, plus TOTAL rows")
    s.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a parameter of the problem set (Python literal), e.g. MACHINE='\"valve\"'")
    s.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="seconds per cell (default 300)")
    s.set_defaults(func=_main_notebook)
    s = sub.add_parser("capstone", help="rank capstone submission folders by the DCASE 2022 official score")
    s.add_argument("teams", nargs="+", help="one folder of submission files per team")
    s.add_argument("--ground-truth", required=True, help="the CSV written by asdlib.submission.hide_labels")
    s.add_argument("--out", help="leaderboard CSV")
    s.set_defaults(func=_main_capstone)
    a = p.parse_args(argv)
    try:
        return a.func(a)
    except (GradingError, ValueError, FileNotFoundError) as err:
        print(f"grade: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    sys.exit(main())
