"""The course around the book (``book/course/``, part "Teaching with this book" of ``_toc.yml``).

- every problem set is a valid notebook committed without outputs, follows the book's exercise
  convention (stub tagged ``raises-exception`` + one solution tagged ``solution`` + ``hide-input``),
  has a ``parameters`` cell and a grading spec whose names only its solution cells define;
- ``scripts/student_copies.py`` writes student copies of the problem sets without solutions and
  without the autograder's hand-computed answers;
- ``scripts/grade.py`` gives the reference solutions full marks, a blank student copy zero, a wrong
  answer no points for that answer only, and with ``--set`` fails answers typed in as numbers;
- the capstone flow (``hide_labels`` -> ``asd train`` / ``asd score --format dcase`` ->
  ``asd evaluate --submission`` and the leaderboard) gives the same official score as the labelled
  evaluation, 1.0 to an oracle submission and a clear error to an incomplete one;
- ``_toc.yml`` lists the course pages after the chapters.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "book" / "course"
PROBLEM_SETS = sorted(COURSE.glob("ps[0-9]*_*.ipynb"))
COURSE_PAGES = ["book/course/index", "book/course/problem_sets", "book/course/capstone", "book/course/self_check"]
STUB = re.compile(r"^raise NotImplementedError\(\s*[\"']Exercise: .+[\"']\s*\)\s*$", re.M)


def _load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_course_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


grade = _load_script("grade")
student_copies = _load_script("student_copies")
build_book = _load_script("build_book")


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.metadata.get("tags", []))


def _assigned_names(source: str) -> set[str]:
    """Names bound at the top level of a code cell (magics dropped)."""
    code = "\n".join(line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!"))
                     else line for line in source.splitlines())
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


# ------------------------------------------------------------------------------ static checks
def test_there_are_at_least_four_problem_sets() -> None:
    assert len(PROBLEM_SETS) >= 4, [p.name for p in PROBLEM_SETS]


@pytest.mark.parametrize("path", PROBLEM_SETS, ids=lambda p: p.stem)
def test_problem_set_is_valid_and_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: cell {i} has outputs"
    text = path.read_text(encoding="utf-8")
    assert str(ROOT) not in text and "/tmp/" not in text and str(Path.home()) not in text, f"{path.name}: machine path"


@pytest.mark.parametrize("path", PROBLEM_SETS, ids=lambda p: p.stem)
def test_problem_set_follows_the_exercise_convention(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    setup = next(c for c in cells if c.cell_type == "code")
    assert "google.colab" in setup.source and re.search(r"asdlib @ git\+https://\S+@v\d", setup.source)
    assert sum("parameters" in _tags(c) for c in cells) == 1, f"{path.name}: needs one cell tagged 'parameters'"
    stubs = [i for i, c in enumerate(cells) if "raises-exception" in _tags(c)]
    solutions = [i for i, c in enumerate(cells) if "solution" in _tags(c)]
    assert stubs and len(stubs) == len(solutions), f"{path.name}: {len(stubs)} stubs, {len(solutions)} solutions"
    for stub, sol in zip(stubs, solutions):
        assert STUB.search(cells[stub].source), f"{path.name}: cell {stub} does not end in the Exercise raise"
        assert stub < sol and not any("raises-exception" in _tags(c) for c in cells[stub + 1: sol]), (
            f"{path.name}: the solution of the stub at cell {stub} must come before the next stub")
        s = cells[sol]
        assert s.cell_type == "code" and {"solution", "hide-input"} <= _tags(s) and "remove-cell" not in _tags(s)
        assert "Show the solution" in s.metadata.get("mystnb", {}).get("code_prompt_show", "")


@pytest.mark.parametrize("path", PROBLEM_SETS, ids=lambda p: p.stem)
def test_graded_names_are_defined_only_by_solutions_and_listed_for_students(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    spec = grade.read_spec(nb, path.name)
    assert spec.problem_set == path.stem.split("_")[0]
    by_solutions: set[str] = set()
    by_others: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        (by_solutions if "solution" in _tags(cell) else by_others).update(_assigned_names(cell.source))
    intro = nb.cells[0].source
    for name in spec.names:
        assert name in by_solutions, f"{path.name}: no solution cell defines the graded name {name}"
        assert name not in by_others, f"{path.name}: {name} is defined outside a solution cell (a blank copy would score)"
        assert f"`{name}`" in intro, f"{path.name}: the graded name {name} is not listed for students"
    points = re.search(r"(\d+) points\.", intro)
    assert points and float(points.group(1)) == spec.max_points, f"{path.name}: the intro states other points"


def test_read_spec_refuses_bad_specs() -> None:
    nb = nbformat.v4.new_notebook()
    with pytest.raises(grade.GradingError, match="x.ipynb: no grading spec"):
        grade.read_spec(nb, "x.ipynb")
    nb.metadata["grading"] = {"checks": [{"name": "a b", "points": 1}]}
    with pytest.raises(grade.GradingError, match="Python identifier"):
        grade.read_spec(nb, "x.ipynb")
    nb.metadata["grading"] = {"checks": [{"name": "a", "kind": "roughly"}]}
    with pytest.raises(grade.GradingError, match="kind 'roughly'"):
        grade.read_spec(nb, "x.ipynb")
    nb.metadata["grading"] = {"checks": [{"name": "a"}, {"name": "a"}]}
    with pytest.raises(grade.GradingError, match="twice"):
        grade.read_spec(nb, "x.ipynb")


def test_compare_close_and_equal() -> None:
    close = grade.Check("x", 1, "close", rtol=0, atol=1e-3)
    arr = {"__array__": [[1.0, 2.0]], "shape": [1, 2]}
    assert grade.compare(close, 0.7905, 0.79) == (True, "ok")
    ok, msg = grade.compare(close, 0.80, 0.79)
    assert not ok and "got 0.8, expected 0.79" in msg
    assert grade.compare(close, arr, {"__array__": [[1.0, 2.0005]], "shape": [1, 2]})[0]
    ok, msg = grade.compare(close, {"__array__": [1.0, 2.0], "shape": [2]}, arr)
    assert not ok and "shape (2,), expected (1, 2)" in msg
    ok, msg = grade.compare(close, "0.79", 0.79)
    assert not ok and "expected a number" in msg
    assert not grade.compare(close, float("nan"), 0.79)[0]
    assert grade.compare(close, [0.1, 0.2], [0.1, 0.2])[0]
    equal = grade.Check("y", 1, "equal")
    assert grade.compare(equal, ["id_00", "id_02"], ["id_00", "id_02"])[0]
    assert grade.compare(equal, [128, 63], [128, 63])[0]
    assert not grade.compare(equal, [128, 64], [128, 63])[0]
    assert not grade.compare(equal, "higher", "not resolved")[0]


def test_parse_overrides() -> None:
    assert grade.parse_overrides(["MACHINE='valve'", "SEED=3", "CUTOFF_HZ=4000.0"]) == {
        "MACHINE": "valve", "SEED": 3, "CUTOFF_HZ": 4000.0}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        grade.parse_overrides(["MACHINE"])
    with pytest.raises(ValueError, match="not a Python literal"):
        grade.parse_overrides(["MACHINE=valve"])


def test_prepare_injects_overrides_after_the_parameters_cell() -> None:
    nb = nbformat.read(PROBLEM_SETS[0], as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in _tags(c))
    ready, notes = grade.prepare(nb, ["a", "b"], {"MACHINE": "valve"})
    assert notes == []
    assert ready.cells[at + 1].source.endswith("MACHINE = 'valve'")
    assert len(ready.cells) == len(nb.cells) + 2 and "['a', 'b']" in ready.cells[-1].source
    assert nb.cells[at + 1].source != ready.cells[at + 1].source, "the original must not change"


def test_student_copies_of_problem_sets(tmp_path: Path) -> None:
    removed = student_copies.write_student_copies(ROOT / "book", tmp_path)
    for path in PROBLEM_SETS:
        rel = f"course/{path.name}"
        original = nbformat.read(path, as_version=4)
        copy = nbformat.read(tmp_path / rel, as_version=4)
        n_solution = sum("solution" in _tags(c) for c in original.cells)
        assert removed[rel] == n_solution > 0
        assert len(copy.cells) == len(original.cells) - n_solution
        assert not any("solution" in _tags(c) for c in copy.cells)
        assert [c.source for c in copy.cells if "raises-exception" in _tags(c)] == \
            [c.source for c in original.cells if "raises-exception" in _tags(c)]
        assert copy.metadata["grading"] == {"problem_set": path.stem.split("_")[0]}, "the spec must stay with the teacher"
        assert "expected" not in json.dumps(copy.metadata)


def test_student_copies_refuse_a_problem_set_without_solutions(tmp_path: Path) -> None:
    book = tmp_path / "book"
    (book / "course").mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, book / "01_a.ipynb")
    nbformat.write(nb, book / "course" / "ps1_a.ipynb")
    with pytest.raises(ValueError, match="course/ps1_a.ipynb: a problem set without"):
        student_copies.write_student_copies(book, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing may be written when a notebook is refused"


# ------------------------------------------------------------------------------ table of contents
def test_toc_lists_the_course_after_the_chapters() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    captions = [p.get("caption") for p in toc.get("parts", [])]
    assert "Teaching with this book" in captions
    course_part = toc["parts"][captions.index("Teaching with this book")]
    files = [re.sub(r"\.(md|ipynb)$", "", e["file"]) for e in course_part["chapters"]]
    for e in course_part["chapters"]:
        files += [re.sub(r"\.(md|ipynb)$", "", s["file"]) for s in e.get("sections", [])]
    assert sorted(files) == sorted(COURSE_PAGES)
    pages = build_book.toc_files(ROOT)
    chapters = [p for p in pages if re.fullmatch(r"book/\d\d_[a-z0-9_]+", p)]
    assert len(chapters) >= 9 and max(pages.index(c) for c in chapters) < min(pages.index(p) for p in COURSE_PAGES)
    for page in COURSE_PAGES:
        assert (ROOT / f"{page}.md").exists(), f"{page}.md is listed in _toc.yml but missing"
    assert not any(p.startswith("book/course/ps") for p in pages), "problem sets (with solutions) are not book pages"


def test_course_pages_name_every_problem_set_and_the_commands() -> None:
    text = {p: (ROOT / f"{p}.md").read_text(encoding="utf-8") for p in COURSE_PAGES}
    for path in PROBLEM_SETS:
        assert f"book/course/{path.name}" in text["book/course/problem_sets"], path.name
        assert path.stem.split("_")[0] in text["book/course/index"].lower(), path.name
    for needle in ("scripts/grade.py notebook", "make student", "--set"):
        assert needle in text["book/course/problem_sets"], needle
    for needle in ("hide_labels", "asd score", "--format dcase", "asd evaluate --submission", "--ground-truth",
                   "scripts/grade.py capstone"):
        assert needle in text["book/course/capstone"], needle
    chapters = [p for p in build_book.toc_files(ROOT) if re.fullmatch(r"book/\d\d_[a-z0-9_]+", p)]
    for chapter in chapters:
        n = int(chapter.split("/")[1][:2])
        assert re.search(rf"^## Chapter {n}\b", text["book/course/self_check"], re.M), f"no self-check for chapter {n}"
    for page, body in text.items():
        assert str(ROOT) not in body and str(Path.home()) not in body, f"{page}: machine path"


# ------------------------------------------------------------------------------ the grader, end to end
@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory):
    """Kernels started by the grader import this checkout's asdlib and use a private cache."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    saved = {k: os.environ.get(k) for k in ("ASD_CACHE", "PYTHONPATH")}
    os.environ["ASD_CACHE"] = str(tmp_path_factory.mktemp("asd-cache"))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else []))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _student_copy(path: Path, out: Path) -> Path:
    copy, _ = student_copies.strip_solutions(nbformat.read(path, as_version=4), name=path.name)
    nbformat.write(copy, out / path.name)
    return out / path.name


def _grade_reference_and_blank(path: Path, tmp: Path) -> None:
    spec, ref = grade.reference_values(path)
    results, _ = grade.grade_notebook(path, spec, ref)
    assert [r.message for r in results] == ["ok"] * len(spec.checks)
    assert sum(r.points for r in results) == spec.max_points
    blank, notes = grade.grade_notebook(_student_copy(path, tmp), spec, ref)
    assert sum(r.points for r in blank) == 0
    assert all(r.message == "not defined" for r in blank)
    n_tasks = sum("raises-exception" in _tags(c) for c in nbformat.read(path, as_version=4).cells)
    assert f"{n_tasks} task cell(s) still raise" in " ".join(notes)


def test_grader_end_to_end_on_problem_set_2(kernel_env, tmp_path: Path) -> None:
    """Reference: full marks; blank student copy: 0; one wrong answer: only its points lost."""
    path = COURSE / "ps2_metrics.ipynb"
    spec, ref = grade.reference_values(path)
    assert ref["auc_by_hand"] == pytest.approx(0.79) and ref["pauc_by_hand"] == pytest.approx(0.6842105263)

    student = _student_copy(path, tmp_path)
    blank, _ = grade.grade_notebook(student, spec, ref)
    assert sum(r.points for r in blank) == 0 and {r.message for r in blank} == {"not defined"}

    # a student who solved everything but counts ties as wins: only auc_by_hand loses its points
    nb = nbformat.read(path, as_version=4)
    sol = next(c for c in nb.cells if "solution" in _tags(c) and "auc_by_hand =" in c.source)
    sol.source = sol.source.replace("0.5 * (anomaly[:, None] == normal[None, :]).sum()",
                                    "1.0 * (anomaly[:, None] == normal[None, :]).sum()")
    nbformat.write(nb, tmp_path / "wrong.ipynb")
    wrong, _ = grade.grade_notebook(tmp_path / "wrong.ipynb", spec, ref)
    by_name = {r.check: r for r in wrong}
    assert by_name["auc_by_hand"].points == 0 and "got 0.8, expected 0.79" in by_name["auc_by_hand"].message
    assert all(r.passed for r in wrong if r.check != "auc_by_hand")

    # two students' notebooks with the same file name stay apart in the grades
    (tmp_path / "bob").mkdir()
    twin = [grade.Result(str(tmp_path / "bob" / "wrong.ipynb"), r.check, r.max_points, r.max_points, "ok") for r in wrong]
    out = tmp_path / "grades.csv"
    grade.write_grades(blank + wrong + twin, out)
    totals = pd.read_csv(out).query("check == 'TOTAL'")
    assert totals["points"].tolist() == [0, spec.max_points - 3, spec.max_points]
    assert totals["max_points"].tolist() == [spec.max_points] * 3


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.stem for p in PROBLEM_SETS])
def test_grader_passes_the_reference_and_fails_a_blank_copy(kernel_env, tmp_path: Path, name: str) -> None:
    _grade_reference_and_blank(COURSE / f"{name}.ipynb", tmp_path)


@pytest.mark.slow
def test_grader_set_defeats_typed_in_answers(kernel_env, tmp_path: Path) -> None:
    """With --set SECTION, answers typed in from the default parameters lose their points."""
    path = COURSE / "ps2_metrics.ipynb"
    spec, ref = grade.reference_values(path)
    nb = nbformat.read(path, as_version=4)
    copied = f"section_scores = {[float(v) for v in np.asarray(ref['section_scores'])]!r}"
    sol = next(c for c in nb.cells if "solution" in _tags(c) and "section_scores =" in c.source)
    sol.source = copied
    nbformat.write(nb, tmp_path / "typed.ipynb")
    ok, _ = grade.grade_notebook(tmp_path / "typed.ipynb", spec, ref)
    assert all(r.passed for r in ok)
    overrides = {"SECTION": "section_01"}
    spec2, ref2 = grade.reference_values(path, overrides)
    assert not np.allclose(ref2["section_scores"], ref["section_scores"])
    graded, _ = grade.grade_notebook(tmp_path / "typed.ipynb", spec2, ref2, overrides)
    by_name = {r.check: r for r in graded}
    assert by_name["section_scores"].points == 0
    assert all(r.passed for r in graded if r.check != "section_scores")


def _mini_problem_set(*task_sources: str, expected: float | None = 0.25) -> nbformat.NotebookNode:
    """A two-task problem set without asdlib: x (close, maybe with a hand-computed value), label (equal)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import math", metadata={}),
                nbformat.v4.new_code_cell("N = 4", metadata={"tags": ["parameters"]})]
    for src in task_sources:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    check = {"name": "x", "points": 2, "kind": "close", "rtol": 0, "atol": 1e-9}
    if expected is not None:
        check["expected"] = expected
    nb.metadata["grading"] = {"problem_set": "ps9", "checks": [check, {"name": "label", "points": 1, "kind": "equal"}]}
    return nb


def test_grader_continues_past_errors_and_checks_hand_computed_values(kernel_env, tmp_path: Path) -> None:
    ref = tmp_path / "ref.ipynb"
    nbformat.write(_mini_problem_set("x = 1 / N", "label = 'quarter' if x == 0.25 else 'other'"), ref)
    spec, values = grade.reference_values(ref)
    assert values == {"x": 0.25, "label": "quarter"}
    # a broken first task and an endless loop cost their points only; the error is named in the notes
    student = tmp_path / "student.ipynb"
    nbformat.write(_mini_problem_set("x = 1 / 0", "while True:\n    pass", "label = 'quarter'"), student)
    results, notes = grade.grade_notebook(student, spec, values, timeout=3)
    assert [(r.check, r.points, r.message) for r in results] == [("x", 0.0, "not defined"), ("label", 1.0, "ok")]
    assert any("2 cell(s) raised an error, first: ZeroDivisionError" in n for n in notes), notes
    # a reference that no longer gives its hand-computed value stops the grading
    nbformat.write(_mini_problem_set("x = 1 / (N + 1)", "label = 'other'"), ref)
    with pytest.raises(grade.GradingError, match="ref.ipynb: the reference's x is not its hand-computed value"):
        grade.reference_values(ref)
    # ... unless the teacher grades with other parameters, where the reference is the answer
    spec2, values2 = grade.reference_values(ref, {"N": 9})
    assert values2["x"] == pytest.approx(0.1)
    # an unreadable submission scores 0 with the reason
    (tmp_path / "broken.ipynb").write_text("{not json")
    results, notes = grade.grade_notebook(tmp_path / "broken.ipynb", spec, values)
    assert sum(r.points for r in results) == 0 and "not a readable notebook" in notes[0]


def test_grade_command_line_reports_a_broken_reference(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "ref.ipynb")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "grade.py"), "notebook", str(tmp_path / "ref.ipynb"),
                           str(tmp_path / "ref.ipynb")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "ref.ipynb: no grading spec" in proc.stderr


# ------------------------------------------------------------------------------ the capstone
def test_capstone_flow_on_tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Teacher hides the labels, a team trains and submits with asd, the teacher evaluates and ranks."""
    import torch

    from asdlib import cli, data, metrics, pipeline, submission, train
    from asdlib.methods import method_config

    torch.set_num_threads(1)
    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    machines = ["fan", "valve"]
    assert cli.main(["synth", "--layout", "dcase2022", "--scale", "tiny", "--machines", ",".join(machines),
                     "--seed", "7", "--out", "full", "--quiet"]) == 0
    gt_path = submission.hide_labels("full", "students")
    assert gt_path == Path("students_ground_truth.csv") and gt_path.exists()

    # what students get: training clips with their names, test clips without domain or label
    test_names = [p.name for p in Path("students").rglob("*.wav") if p.parent.name == "test"]
    assert test_names and all(re.fullmatch(r"section_\d\d_test_\d{4}\.wav", n) for n in test_names)
    assert not list(Path("students").rglob("*ground_truth*")) and not list(Path("students").rglob("manifest.csv"))

    # a team: train on the training clips, submit scores and decisions with asd
    for m in machines:
        assert cli.main(["train", "--data", "students", "--machine", m, "--method", "knn-stats",
                         "--out", f"runs/{m}", "--quiet"]) == 0
        assert cli.main(["score", "--run", f"runs/{m}", "--data", "students", "--format", "dcase",
                         "--out", "submissions/team_a"]) == 0
    assert len(list(Path("submissions/team_a").glob("anomaly_score_*_section_*_test.csv"))) == 6
    assert len(list(Path("submissions/team_a").glob("decision_result_*_section_*_test.csv"))) == 6
    assert cli.main(["evaluate", "--submission", "submissions/team_a", "--ground-truth", str(gt_path),
                     "--out", "team_a_results.csv"]) == 0

    # the same detector trained and scored on the labelled set gives the same official score
    full = data.index("full")
    labelled = pd.concat([pipeline.score(train.train(full, m, method_config("knn-stats"), f"labelled/{m}",
                                                     progress=False).run_dir, full) for m in machines])
    expected = metrics.official_score(metrics.evaluate(labelled, method="knn-stats"))
    assert metrics.official_score(pd.read_csv("team_a_results.csv")) == pytest.approx(expected, abs=1e-12)

    # an oracle built from the ground truth (the teacher's sanity check) and a broken folder
    gt = pd.read_csv(gt_path)
    for (mt, unit), g in gt.groupby(["machine_type", "unit"]):
        score_name, decision_name = submission.submission_file_names(mt, unit)
        oracle = Path("submissions/oracle")
        oracle.mkdir(parents=True, exist_ok=True)
        y = (g["label"] == "anomaly").astype(int)
        pd.DataFrame({"f": g["file"], "s": y.astype(float)}).to_csv(oracle / score_name, header=False, index=False)
        pd.DataFrame({"f": g["file"], "d": y}).to_csv(oracle / decision_name, header=False, index=False)
    broken = Path("submissions/team_b")
    broken.mkdir()
    for f in sorted(Path("submissions/team_a").iterdir())[1:]:
        (broken / f.name).write_bytes(f.read_bytes())

    rows = grade.leaderboard([Path("submissions/team_a"), broken, Path("submissions/oracle")], gt_path)
    assert [r["team"] for r in rows] == ["oracle", "team_a", "team_b"]
    assert rows[0]["rank"] == 1 and rows[0]["official_score"] == pytest.approx(1.0) and rows[0]["f1"] == pytest.approx(1.0)
    assert rows[1]["official_score"] == pytest.approx(expected, abs=1e-12)
    missing = sorted(Path("submissions/team_a").iterdir())[0].name
    assert "rank" not in rows[2] and missing in rows[2]["error"]

    assert grade.main(["capstone", "submissions/team_a", "submissions/oracle", "--ground-truth", str(gt_path),
                       "--out", "leaderboard.csv"]) == 0
    board = pd.read_csv("leaderboard.csv")
    assert board["team"].tolist() == ["oracle", "team_a"] and board["rank"].tolist() == [1, 2]
