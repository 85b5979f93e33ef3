"""Every ``ASD_*`` environment variable that asdlib reads, in one place.

Explained in ``book/index.md`` ("How to use this book") and the README ("Settings");
:data:`VARIABLES` holds each one's default and meaning (as a table: :func:`describe`). No other
module reads ``os.environ`` for an ``ASD_*`` name: they call the functions below.

``ASD_DATA`` (``synthetic`` / ``real``), ``ASD_DATA_DIR`` (real DCASE data), ``ASD_CACHE``
(features, synthetic sets, cached runs), ``ASD_SYNTH_SCALE``, ``ASD_SAMPLES`` (real sample
clips), ``ASD_ZENODO_URL`` and ``ASD_GITHUB_RAW_URL`` (tests and mirrors), ``ASD_RESULTS`` (the
experiment store) and ``ASD_REAL_TOYCAR`` (the real DCASE 2020 ToyCar clips).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: name -> (default shown to users, one-line meaning); the README table is generated from this.
VARIABLES: dict[str, tuple[str, str]] = {
    "ASD_DATA": ("synthetic", "data of the chapters: 'synthetic' (built in) or 'real' (DCASE development sets)"),
    "ASD_DATA_DIR": ("~/asd-data", "where real DCASE data is downloaded to and read from"),
    "ASD_CACHE": ("~/.cache/asdlib", "cache of features, synthetic sets and trained runs"),
    "ASD_SYNTH_SCALE": ("book", "scale of the synthetic sets the chapters use: tiny, book, study, curve or full"),
    "ASD_SAMPLES": ("../shared/data/dcase-samples beside the checkout", "folder of real DCASE sample clips"),
    "ASD_ZENODO_URL": ("https://zenodo.org", "base URL of the Zenodo server the downloader talks to"),
    "ASD_GITHUB_RAW_URL": ("https://raw.githubusercontent.com",
                           "base URL of the raw GitHub files the ground-truth download reads (evaluator lists)"),
    "ASD_RESULTS": ("results/ of the checkout", "the experiment store: the book's stored runs (asd experiments)"),
    "ASD_REAL_TOYCAR": ("../shared/data/real-toycar/dcase2020 beside the checkout",
                        "folder of the real DCASE 2020 ToyCar clips (the real-data chapter)"),
}

DATA_CHOICES = ("synthetic", "real")
SYNTH_SCALES = ("tiny", "book", "study", "curve", "full")
DEFAULT_ZENODO_URL = "https://zenodo.org"
DEFAULT_GITHUB_RAW_URL = "https://raw.githubusercontent.com"


def _get(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value is not None and value.strip() else None


def data_choice() -> str:
    """``ASD_DATA``: ``synthetic`` (default) or ``real``, checked."""
    choice = (_get("ASD_DATA") or "synthetic").lower()
    if choice not in DATA_CHOICES:
        raise ValueError(f"ASD_DATA={choice!r}: expected one of {', '.join(DATA_CHOICES)}")
    return choice


def data_dir() -> Path:
    """``ASD_DATA_DIR``: the folder of real DCASE data (default ``~/asd-data``)."""
    return Path(_get("ASD_DATA_DIR") or Path.home() / "asd-data").expanduser()


def cache_dir() -> Path:
    """``ASD_CACHE``: the asdlib cache folder (default ``~/.cache/asdlib``)."""
    return Path(_get("ASD_CACHE") or Path.home() / ".cache" / "asdlib").expanduser()


def synth_scale() -> str:
    """``ASD_SYNTH_SCALE``: the scale of the chapters' synthetic sets (default ``book``), checked."""
    scale = (_get("ASD_SYNTH_SCALE") or "book").lower()
    if scale not in SYNTH_SCALES:
        raise ValueError(f"ASD_SYNTH_SCALE={scale!r}: expected one of {', '.join(SYNTH_SCALES)}")
    return scale


def samples_dir() -> Path | None:
    """``ASD_SAMPLES`` if set (``None`` when it is not a folder); else ``None`` (callers look beside the checkout)."""
    value = _get("ASD_SAMPLES")
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_dir() else None


def samples_set() -> bool:
    """Whether ``ASD_SAMPLES`` is set (then it alone decides where sample clips are)."""
    return _get("ASD_SAMPLES") is not None


@contextmanager
def cache_dir_set_to(path: str | os.PathLike) -> Iterator[Path]:
    """Within the block, ``ASD_CACHE`` is ``path`` (restored afterwards, also on error)."""
    old = os.environ.get("ASD_CACHE")
    os.environ["ASD_CACHE"] = str(path)
    try:
        yield Path(path)
    finally:
        if old is None:
            os.environ.pop("ASD_CACHE", None)
        else:
            os.environ["ASD_CACHE"] = old


def results_dir() -> Path | None:
    """``ASD_RESULTS`` if set (the experiment store's folder), else ``None`` (the checkout's ``results/``)."""
    value = _get("ASD_RESULTS")
    return Path(value).expanduser() if value else None


def real_toycar_dir() -> Path | None:
    """``ASD_REAL_TOYCAR`` if set, else ``None`` (callers look beside the checkout)."""
    value = _get("ASD_REAL_TOYCAR")
    return Path(value).expanduser() if value else None


def zenodo_url() -> str:
    """``ASD_ZENODO_URL`` (default ``https://zenodo.org``), without a trailing slash."""
    return (_get("ASD_ZENODO_URL") or DEFAULT_ZENODO_URL).rstrip("/")


def github_raw_url() -> str:
    """``ASD_GITHUB_RAW_URL`` (default ``https://raw.githubusercontent.com``), without a trailing slash."""
    return (_get("ASD_GITHUB_RAW_URL") or DEFAULT_GITHUB_RAW_URL).rstrip("/")


def describe() -> str:
    """The variables as a Markdown table (name, default, meaning) for help texts and the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{k}` | `{d}` | {m} |" for k, (d, m) in VARIABLES.items()]
    return "\n".join(rows)


def project_root() -> Path | None:
    """The asd-book checkout containing the current directory, if any."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "_toc.yml").exists() and (p / "asdlib").is_dir():
            return p
    return None
