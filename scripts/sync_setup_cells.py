#!/usr/bin/env python
"""Write the Colab install line of every chapter and problem set from one source.

The line installs ``asdlib`` from the repository that ``_config.yml`` names (``repository.url``)
at the tag ``v<asdlib.__version__>``. Run after a version bump (README, "Releases");
``tests/test_book_infra.py`` fails while any notebook disagrees.

Usage: ``python scripts/sync_setup_cells.py [--check]``
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL = re.compile(r'%pip install --quiet "asdlib @ git\+[^"@]+@v[^"]+"')


def version(root: Path = ROOT) -> str:
    """``__version__`` of ``asdlib/__init__.py``, read without importing the package."""
    tree = ast.parse((root / "asdlib" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise SystemExit("asdlib/__init__.py defines no __version__")


def install_line(root: Path = ROOT) -> str:
    """The Colab install line every notebook's set-up cell must hold."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = str(config["repository"]["url"]).rstrip("/")
    return f'%pip install --quiet "asdlib @ git+{url}@v{version(root)}"'


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every chapter and problem-set notebook."""
    return (sorted(root.glob("book/[0-9][0-9]_*.ipynb")) + sorted(root.glob("book/appendix/*.ipynb"))
            + sorted(root.glob("book/course/ps*.ipynb")))


def _setup_cells(root: Path) -> list[tuple[Path, nbformat.NotebookNode, nbformat.NotebookNode | None]]:
    """``(path, notebook, first code cell or None)`` of every notebook."""
    out = []
    for path in notebooks(root):
        nb = nbformat.read(path, as_version=4)
        out.append((path, nb, next((c for c in nb.cells if c.cell_type == "code"), None)))
    return out


def disagreeing(root: Path = ROOT) -> list[str]:
    """Notebooks whose set-up cell lacks the install line of :func:`install_line`."""
    want = install_line(root)
    return [str(p.relative_to(root)) for p, _, setup in _setup_cells(root) if setup is None or want not in setup.source]


def sync(root: Path = ROOT) -> list[str]:
    """Rewrite the install line of every notebook that disagrees; return their names."""
    want = install_line(root)
    changed = []
    for path, nb, setup in _setup_cells(root):
        if setup is None or not INSTALL.search(setup.source):
            raise SystemExit(f"{path}: its first code cell has no Colab install line to rewrite")
        new = INSTALL.sub(lambda _: want, setup.source)
        if new != setup.source:
            setup.source = new
            nbformat.write(nb, path)
            changed.append(str(path.relative_to(root)))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that disagree (exit 1)")
    args = parser.parse_args(argv)
    if args.check:
        bad = disagreeing()
        for name in bad:
            print(f"{name}: set-up cell does not install {install_line()}")
        return 1 if bad else 0
    for name in sync():
        print(f"updated {name}")
    print(install_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
