"""Tests of the book infrastructure: config, table of contents, chapter skeleton, exercises.

The conventions checked here are written down in ``book/index.md`` ("For teachers"),
``book/appendix/chapter_authors.md`` and ``scripts/student_copies.py``.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUB = re.compile(r"^raise NotImplementedError\(\s*[\"']Exercise: .+[\"']\s*\)\s*$", re.M)


def _load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_book = _load_script("build_book")
student_copies = _load_script("student_copies")
CHAPTERS = [name for name in build_book.toc_files(ROOT) if re.fullmatch(r"book/\d\d_[a-z0-9_]+", name)]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.metadata.get("tags", []))


def _headings(nb: nbformat.NotebookNode) -> list[str]:
    return [line.lstrip("#").strip() for cell in nb.cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if re.match(r"^#{1,6} ", line)]


def _read(docname: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)


def test_config_has_the_required_settings() -> None:
    config = _config()
    assert config["title"] == "Anomalous Sound Detection: a hands-on book"
    assert config["only_build_toc_files"] is True
    assert "path_to_book" not in config.get("repository", {})
    execute = config["execute"]
    assert execute["execute_notebooks"] == "force"
    assert execute["timeout"] >= 1800 and execute["allow_errors"] is False  # a hang guard, never a budget
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    excluded = " ".join(config["exclude_patterns"])
    for folder in ("_build", "tests", "benchmarks", "scripts", "student", "README.md",
                   "ARCHITECTURE.md", ".*"):
        assert folder in excluded, f"_config.yml: exclude_patterns lacks {folder}"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["repository"] == {"url": "https://github.com/asd-book/asd-book",
                                    "branch": "main"}
    assert config["html"]["use_repository_button"] is True


def test_build_script_fails_on_warnings_and_errors() -> None:
    for flag in ("-W", "-n", "--keep-going", "--builder"):
        assert flag in build_book.BUILD_FLAGS
    assert build_book.CHAPTER_BUDGET_S == 240 and build_book.TOTAL_BUDGET_S == 900  # 4 min a chapter, 15 in all


def test_time_is_reported_never_a_failure() -> None:
    rows = [("book/01_a", 10.0), ("book/02_b", 300.0)]
    lines = build_book.over_budget(rows, wall=950.0)
    assert lines == ["over budget: book/02_b took 300.0 s > 240 s per chapter",
                     "over budget: the book took 950.0 s > 900 s in all"]
    assert build_book.over_budget([("book/01_a", 10.0)], wall=20.0) == []
    source = (ROOT / "scripts" / "build_book.py").read_text(encoding="utf-8")
    assert "problems.append" not in source.split("def over_budget")[1].split("def write_table")[0]


def test_every_notebook_installs_the_library_version_from_the_one_repository() -> None:
    sync = _load_script("sync_setup_cells")
    import asdlib

    want = sync.install_line(ROOT)
    assert want == (f'%pip install --quiet "asdlib @ git+{_config()["repository"]["url"]}@v{asdlib.__version__}"')
    assert sync.version(ROOT) == asdlib.__version__
    assert len(sync.notebooks(ROOT)) >= len(CHAPTERS) + 4  # the chapters and the four problem sets
    assert sync.disagreeing(ROOT) == [], "run python scripts/sync_setup_cells.py after a version bump"


def test_a_notebook_with_another_version_is_found(tmp_path: Path) -> None:
    sync = _load_script("sync_setup_cells")
    for rel in ("_config.yml", "asdlib/__init__.py", "book/01_listening.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text(encoding="utf-8"), encoding="utf-8")
    nb = tmp_path / "book/01_listening.ipynb"
    nb.write_text(nb.read_text(encoding="utf-8").replace(f"@v{sync.version(ROOT)}", "@v0.0.1"), encoding="utf-8")
    assert sync.disagreeing(tmp_path) == ["book/01_listening.ipynb"]
    assert sync.sync(tmp_path) == ["book/01_listening.ipynb"] and sync.disagreeing(tmp_path) == []


def test_the_package_version_has_one_source() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in text and 'version = {attr = "asdlib.__version__"}' in text
    assert not re.search(r'^version\s*=\s*"', text, re.M)


def test_toc_lists_existing_chapters_in_order() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["format"] == "jb-book" and toc["root"] == "book/index"
    assert (ROOT / "book" / "index.md").exists()
    assert CHAPTERS, "_toc.yml lists no chapter"
    assert CHAPTERS == sorted(CHAPTERS)
    for name in CHAPTERS:
        assert re.fullmatch(r"book/\d\d_[a-z0-9_]+", name), f"{name}: not book/NN_name"
        assert (ROOT / f"{name}.ipynb").exists(), f"{name}.ipynb listed in _toc.yml is missing"


def test_toc_reader_handles_parts_and_sections(tmp_path: Path) -> None:
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nparts:\n  - caption: A\n    chapters:\n"
        "      - file: book/01_a.ipynb\n        sections:\n          - file: book/01b\n")
    assert build_book.toc_files(tmp_path) == ["book/index", "book/01_a", "book/01b"]


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_is_committed_without_outputs(docname: str) -> None:
    nb = _read(docname)
    nbformat.validate(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{docname}: cell {index} has outputs"
            assert cell.execution_count is None, f"{docname}: cell {index} has a count"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_has_the_skeleton(docname: str) -> None:
    nb = _read(docname)
    headings = _headings(nb)
    assert any(h.endswith("Objectives") for h in headings), f"{docname}: no Objectives heading"
    assert any(h.endswith("Summary") for h in headings), f"{docname}: no Summary heading"
    assert any(re.search(r"What next|Further reading", h) for h in headings), (
        f"{docname}: no 'What next' or 'Further reading' section")
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "google.colab" in setup.source and "%pip install" in setup.source, (
        f"{docname}: the first code cell must install asdlib on Colab")
    assert re.search(r"asdlib @ git\+https://\S+@v\d", setup.source), (
        f"{docname}: the Colab install must pin a tag (asdlib @ git+https://...@vX.Y.Z)")
    text = nbformat.writes(nb)
    assert str(ROOT) not in text and str(Path.home()) not in text, f"{docname}: absolute path"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_exercises_follow_the_convention(docname: str) -> None:
    cells = _read(docname).cells
    stubs = [i for i, c in enumerate(cells) if "raises-exception" in _tags(c)]
    assert stubs, f"{docname}: no exercise (code cell tagged raises-exception)"
    for n, i in enumerate(stubs):
        stub = cells[i]
        assert stub.cell_type == "code" and STUB.search(stub.source), (
            f"{docname}: cell {i} is tagged raises-exception but does not end in "
            "raise NotImplementedError(\"Exercise: ...\")")
        end = stubs[n + 1] if n + 1 < len(stubs) else len(cells)
        following = cells[i + 1 : end]
        solutions = [c for c in following if "solution" in _tags(c)]
        assert len(solutions) == 1, f"{docname}: exercise at cell {i} needs exactly one 'solution' cell"
        sol = solutions[0]
        assert sol.cell_type == "code" and "hide-input" in _tags(sol) and "remove-cell" not in _tags(sol), (
            f"{docname}: the solution of the exercise at cell {i} must be one code cell tagged "
            "solution + hide-input (shown with its output, code collapsed)")
        assert "Show the solution" in sol.metadata.get("mystnb", {}).get("code_prompt_show", "")
        assert not any("{admonition} Solution" in c.source for c in cells), f"{docname}: a second copy"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_student_copies_drop_solutions(tmp_path: Path, docname: str) -> None:
    script = ROOT / "scripts" / "student_copies.py"
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    original = _read(docname)
    copy = nbformat.read(tmp_path / Path(docname).with_suffix(".ipynb").name, as_version=4)
    n_solution = sum("solution" in _tags(c) for c in original.cells)
    assert len(copy.cells) == len(original.cells) - n_solution
    assert not any("solution" in _tags(c) for c in copy.cells)
    assert "{admonition} Solution" not in nbformat.writes(copy)
    stubs = [c.source for c in original.cells if "raises-exception" in _tags(c)]
    assert stubs == [c.source for c in copy.cells if "raises-exception" in _tags(c)]
    assert all(c.outputs == [] for c in copy.cells if c.cell_type == "code")


def _notebook(*cells: tuple[str, str, list[str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(source, metadata={"tags": tags}))
    return nb


def test_strip_solutions_rule() -> None:
    nb = _notebook(("code", "x = 1", []),
                   ("code", 'raise NotImplementedError("Exercise: y")', ["raises-exception"]),
                   ("code", "y = 2", ["solution", "hide-input"]),
                   ("code", "helper = 3", ["remove-cell"]))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[0].execution_count = 1
    copy, removed = student_copies.strip_solutions(nb)
    assert removed == 1
    assert [c.source for c in copy.cells] == ["x = 1", nb.cells[1].source, "helper = 3"]
    assert copy.cells[0].outputs == [] and copy.cells[0].execution_count is None
    assert nb.cells[0].outputs, "the original notebook must not be modified"


def test_strip_solutions_refuses_an_untagged_dropdown() -> None:
    nb = _notebook(("markdown", "```{admonition} Solution\n:class: dropdown\n```", []))
    with pytest.raises(ValueError, match="x.ipynb: cell 0"):
        student_copies.strip_solutions(nb, name="x.ipynb")


def test_index_page_explains_use_and_exercises() -> None:
    text = (ROOT / "book" / "index.md").read_text(encoding="utf-8")
    for needle in ("Colab", "ASD_DATA", "ASD_DATA_DIR", "GPU", "raises-exception",
                   "hide-input", "solution", "student_copies.py", "{bibliography}"):
        assert needle in text, f"book/index.md does not mention {needle}"
    assert str(ROOT) not in text, "book/index.md names an absolute path of this machine"


@pytest.mark.slow
@pytest.mark.parametrize("case, markdown, code, fails_with", [
    ("clean", "Text.", "1 + 1", None),
    ("cell error", "Text.", "1 / 0", "ZeroDivisionError"),
    ("sphinx warning", "See {doc}`missing_page`.", "1 + 1", "missing_page"),
])
def test_build_fails_on_cell_errors_and_warnings(
    tmp_path: Path, case: str, markdown: str, code: str, fails_with: str | None
) -> None:
    """A tiny book with the real config and build flags builds only when clean."""
    config = _config()
    for bib in config.get("bibtex_bibfiles", []):
        (tmp_path / bib).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / bib).write_text((ROOT / bib).read_text(encoding="utf-8"))
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: ch\n")
    (tmp_path / "index.md").write_text("# Index\n")
    nb = _notebook(("markdown", f"# Chapter\n\n{markdown}", []), ("code", code, []))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "ch.ipynb")
    cmd = build_book.jupyter_book_command() + ["build", str(tmp_path), *build_book.BUILD_FLAGS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    if fails_with is None:
        assert proc.returncode == 0, f"{case}: clean book did not build: {log[-3000:]}"
    else:
        assert proc.returncode != 0, f"{case}: the build passed: {log[-3000:]}"
        assert fails_with in log, f"{case}: {fails_with} not reported: {log[-3000:]}"
