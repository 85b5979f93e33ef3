"""The package's structure (issue 20): no import cycle, short functions, one lookup of a method's name."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "asdlib"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
MAX_FUNCTION_LINES = 80
#: the comment that says why a function is longer
LONG_ON_PURPOSE = "long on purpose"


def _tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))


def _imports(name: str) -> set[str]:
    """The asdlib modules ``name`` imports anywhere in its code (top level or inside functions)."""
    found = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("asdlib."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("asdlib."))
    return found & set(MODULES)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        path.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle_between_modules() -> None:
    graph = {name: _imports(name) - {name} for name in MODULES}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_function_over_80_lines_without_a_reason_beside_it() -> None:
    long = []
    for name in MODULES:
        lines = (PACKAGE / f"{name}.py").read_text(encoding="utf-8").splitlines()
        for node in ast.walk(_tree(name)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and LONG_ON_PURPOSE not in lines[node.lineno - 1]:
                    long.append(f"asdlib/{name}.py:{node.lineno} {node.name} ({n} lines)")
    assert not long, long


def test_the_method_name_is_tested_only_by_the_registry_and_the_book() -> None:
    """The trainer and the scorer never ask which method they have (at most 3 tests of the name)."""
    pattern = re.compile(r"\bmethod\s*(?:==|!=|\bnot in\b|\bin\b)\s")
    hits = [f"{name}: {line.strip()}" for name in MODULES
            for line in (PACKAGE / f"{name}.py").read_text(encoding="utf-8").splitlines()
            if pattern.search(line.split("#")[0])]
    hits += ["methods: the registry (family_of)"]
    assert len(hits) <= 3, hits
    for name in ("train", "pipeline", "runs", "embedding", "selection", "scoring"):
        assert not any(h.startswith(f"{name}:") for h in hits), hits


def test_the_settings_object_imports_nothing_inside_its_methods() -> None:
    tree = _tree("methods")
    cfg = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MethodConfig")
    inner = [n for n in ast.walk(cfg) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not inner, [ast.unparse(n) for n in inner]
