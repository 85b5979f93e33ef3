"""README, ARCHITECTURE.md and the code agree: every module listed, every ASD_* variable in one place."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import asdlib
from asdlib import settings

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "asdlib").glob("*.py") if p.stem != "__init__" and not p.stem.startswith("_"))


def test_every_module_is_listed_and_re_exported() -> None:
    readme = (ROOT / "README.md").read_text()
    arch = (ROOT / "ARCHITECTURE.md").read_text()
    for name in MODULES:
        assert f"`asdlib.{name}`" in readme, f"README's module table lacks asdlib.{name}"
        assert f"`asdlib.{name}`" in arch, f"ARCHITECTURE.md's module table lacks asdlib.{name}"
        assert name in asdlib.__all__, f"asdlib.__all__ lacks {name}"


def test_every_module_docstring_names_its_chapter() -> None:
    for name in MODULES:
        text = (ROOT / "asdlib" / f"{name}.py").read_text()
        doc = re.match(r'\s*(?:#.*\n)*\s*"""(.*?)"""', text, re.S)
        assert doc, f"asdlib/{name}.py has no module docstring"
        assert re.search(r"chapter|book/index\.md|README", doc.group(1), re.I), f"asdlib/{name}.py: no chapter named"


def test_asd_variables_are_read_in_settings_only_and_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in settings.VARIABLES:
        assert f"`{name}`" in readme, f"README does not document {name}"
    for path in sorted((ROOT / "asdlib").glob("*.py")):
        if path.name == "settings.py":
            continue
        text = path.read_text()
        assert not re.search(r"environ(\.get)?\s*[\[(]\s*[\"']ASD_", text), f"{path.name} reads an ASD_* variable"
    found = set(re.findall(r"ASD_[A-Z_]+", (ROOT / "asdlib" / "settings.py").read_text()))
    assert found == set(settings.VARIABLES), f"settings.py mentions {found - set(settings.VARIABLES)}"


def test_one_list_of_machine_types_and_layouts() -> None:
    for path in sorted((ROOT / "asdlib").glob("*.py")):
        if path.name == "dcase.py":
            continue
        text = path.read_text()
        assert not re.search(r"\[\s*\"fan\",\s*\"pump\",\s*\"slider\"", text), f"{path.name} repeats the 2020 type list"
        assert not re.search(r"[\[(]\s*\"dcase2020\",\s*\"dcase2022\"\s*[\])]", text), f"{path.name} repeats the layouts"


#: every module's docstrings follow the short form (issue 20, point 4)
SHORT_DOCSTRING_MODULES = ("__init__", *MODULES)
MAX_MODULE_DOCSTRING_LINES = 15
#: measurements and history belong to the benchmarks' output and git, not to the library
BANNED_PHRASES = ("asdlib 0.", "2-core", "under load", "the issue")


def _docstrings(tree: ast.Module):
    """(where, text) of the module docstring and of every class and function docstring."""
    yield "module", ast.get_docstring(tree, clean=False) or ""
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text:
                yield f"{node.name} (line {node.lineno})", text


def test_module_docstrings_are_short_and_docs_hold_no_measurements_or_history() -> None:
    for name in SHORT_DOCSTRING_MODULES:
        path = ROOT / "asdlib" / f"{name}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_doc = ast.get_docstring(tree, clean=False)
        assert module_doc, f"asdlib/{name}.py has no module docstring"
        n_lines = len(module_doc.strip("\n").splitlines())
        assert n_lines <= MAX_MODULE_DOCSTRING_LINES, (
            f"asdlib/{name}.py: module docstring of {n_lines} lines (at most {MAX_MODULE_DOCSTRING_LINES}); "
            "the reasoning goes to the chapter or docs/design.md")
        texts = list(_docstrings(tree))
        texts += [(f"comment (line {tok.start[0]})", tok.string)
                  for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
                  if tok.type == tokenize.COMMENT]
        for where, text in texts:
            for phrase in BANNED_PHRASES:
                assert phrase not in text.lower(), f"asdlib/{name}.py, {where}: {phrase!r}"
