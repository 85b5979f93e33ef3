"""Chapter set-up: the data choice, seeds, plot style, and cached training runs.

Used by the setup cell of every chapter (explained in ``book/index.md``, "How to use this
book"). The one data setting is the environment variable ``ASD_DATA``:

* ``synthetic`` (default): the built-in synthetic DCASE 2020 / 2022 sets at book scale,
  generated on first use into ``$ASD_CACHE/synth`` (``~/.cache/asdlib`` by default).
* ``real``: the DCASE development sets under ``$ASD_DATA_DIR`` (default ``~/asd-data``),
  downloaded from Zenodo with :func:`asdlib.download.download` when missing.

Training runs are cached under ``$ASD_CACHE/runs/<key>``, where the key hashes the complete
method configuration, the machine types, a fingerprint of every audio file used and of the
training code (:func:`asdlib.store.code_fingerprint`), so a changed setting, changed data or
changed code never reuses a stale run.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from .dcase import check_layout
from .settings import DATA_CHOICES, cache_dir, data_choice, data_dir, samples_dir, samples_set, synth_scale

__all__ = ["DATA_CHOICES", "BOOK_SETTINGS", "data_choice", "data_root", "project_root", "shared_samples", "setup",
           "run_key", "cached_run", "book_run", "reproduce_command"]

#: Settings the chapters use on top of :class:`asdlib.methods.MethodConfig`'s defaults. The official
#: autoencoder schedule is 100 epochs; the book trains it for 10 to stay within its CPU budget
#: (``asd run --method ae --epochs 10`` reproduces the book's numbers).
BOOK_SETTINGS: dict[str, dict] = {"ae": {"epochs": 10}, "contrastive": {}, "contrastive-hf": {}, "knn-stats": {},
                                  "gmm-stats": {}}


def data_root(layout: str = "dcase2020", choice: str | None = None, machines: Iterable[str] | None = None) -> Path:
    """Root folder of the ``layout`` data set for the current data choice (created on first use)."""
    check_layout(layout)
    choice = choice or data_choice()
    if choice == "synthetic":
        from .synth import ensure

        return Path(ensure(layout, scale=synth_scale()))
    from .download import RECORDS, dataset_dir, download, is_complete

    out = data_dir()
    root = dataset_dir(out, layout)
    wanted = list(machines) if machines else list(RECORDS[layout]["dev"].machines)
    if not all(is_complete(out, layout, m) for m in wanted):
        download(layout, part="dev", machines=wanted, out=out)
    return Path(root)


def project_root() -> Path | None:
    """The asd-book checkout containing the current directory, if any."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "_toc.yml").exists() and (p / "asdlib").is_dir():
            return p
    return None


def shared_samples() -> Path | None:
    """``../shared/data/dcase-samples`` beside the project checkout, when it exists."""
    if samples_set():
        return samples_dir()
    root = project_root()
    if root is None:
        return None
    p = root.parent / "shared" / "data" / "dcase-samples"
    return p if p.is_dir() else None


def setup(seed: int = 0, quiet: bool = False) -> dict:
    """Seed everything, set the plot style, pick the device; return a small info dict."""
    import matplotlib.pyplot as plt

    from .train import pick_device, seed_everything

    seed_everything(seed)
    plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 80, "axes.grid": False,
                         "savefig.dpi": 80, "font.size": 10})
    pd.set_option("display.max_colwidth", None)  # notes and caveats in tables are shown whole, not cut at 50 chars
    info = {"data": data_choice(), "device": str(pick_device()), "seed": seed,
            "samples": str(shared_samples()) if shared_samples() else None}
    if not quiet:
        print(f"data: {info['data']} | device: {info['device']} | seed: {seed}"
              + (" | real sample clips found" if info["samples"] else ""))
    return info


def run_key(df: pd.DataFrame, method: str, machines: Iterable[str] | None, **overrides) -> str:
    """Cache key of a run: asdlib, its training code, front-end revision, configuration, machine types, data."""
    from . import __version__
    from .features import FRONTEND_REVISION
    from .data import fingerprint
    from .methods import method_config
    from .store import code_fingerprint

    cfg = method_config(method, **overrides)
    types = sorted(machines) if machines else sorted(df["machine_type"].unique())
    used = df[df["machine_type"].isin(types)]
    payload = {"asdlib": __version__, "code": code_fingerprint(), "frontend": FRONTEND_REVISION, "config": cfg.relevant(),
               "types": types, "data": fingerprint(used)}
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cached_run(df: pd.DataFrame, method: str, machines: Iterable[str] | None = None, progress: bool = False,
               **overrides) -> tuple[pd.DataFrame, Path]:
    """Results of ``method`` on ``df`` (an index), trained once and reused while nothing changed.

    Returns ``(results, run_dir)``; ``run_dir/scores.csv`` holds the per-clip scores.
    """
    from .files import locked
    from .pipeline import run_pipeline

    machines = list(machines) if machines else None
    key = run_key(df, method, machines, **overrides)
    out = cache_dir() / "runs" / f"{method}-{key}"
    done = out / "results.csv"
    if done.exists():
        return pd.read_csv(done), out
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out.parent / f"{out.name}.lock", what=f"the cached run {out.name}"):  # two notebooks computing the same run wait for each other
        if done.exists():
            return pd.read_csv(done), out
        results = run_pipeline(df, method, out, machines=machines, progress=progress, **overrides)
    return results, out


def book_run(df: pd.DataFrame, method: str, machines: Iterable[str] | None = None, progress: bool = False,
             **overrides) -> tuple[pd.DataFrame, Path]:
    """:func:`cached_run` with the book's settings (:data:`BOOK_SETTINGS`) plus ``overrides``."""
    if method not in BOOK_SETTINGS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(BOOK_SETTINGS)}")
    return cached_run(df, method, machines, progress=progress, **{**BOOK_SETTINGS[method], **overrides})


def reproduce_command(layout: str, method: str, **overrides) -> str:
    """The ``asd run`` command line that recomputes a book table on real DCASE data."""
    settings = {**BOOK_SETTINGS.get(method, {}), **overrides}
    extra = ""
    if "epochs" in settings:
        extra += f" --epochs {settings.pop('epochs')}"
    extra += "".join(f" --set {k}={v}" for k, v in sorted(settings.items()))
    return (f"asd download --dataset {layout} --part dev --out ~/asd-data && "
            f"asd run --data ~/asd-data/{layout} --method {method} --out runs/{layout}-{method}{extra}")
