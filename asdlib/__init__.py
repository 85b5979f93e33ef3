"""asdlib: the library of the asd-book (unsupervised anomalous sound detection, DCASE Task 2).

Submodules are imported on first use, so ``import asdlib`` stays fast and
``asdlib.metrics.pauc(...)`` works without a separate import. See ``ARCHITECTURE.md`` for the
conventions they share and ``book/index.md`` for where each one is explained.
"""
from __future__ import annotations

import importlib

__version__ = "0.4.0"

__all__ = [
    "analysis", "augment", "book", "cli", "data", "dcase", "download", "embedding", "features", "files", "losses",
    "listen", "methods", "metrics", "models", "pipeline", "plotting", "realdata", "runs", "scoring", "selection",
    "settings", "stats", "store", "submission", "synth", "train",
]


def __getattr__(name: str):
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'asdlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
