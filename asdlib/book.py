"""Chapter set-up: the data choice, seeds, plot style, and cached training runs.

Used by the setup cell of every chapter (explained in ``book/index.md``, "How to use this
book"). The one data setting is the environment variable ``ASD_DATA``:

* ``synthetic`` (default): the built-in synthetic DCASE 2020 / 2022 sets at book scale,
  generated on first use into ``$ASD_CACHE/synth`` (``~/.cache/asdlib`` by default).
* ``real``: the DCASE development sets under ``$ASD_DATA_DIR`` (default ``~/asd-data``),
  downloaded from Zenodo with :func:`asdlib.download.download` when missing.

Training runs are cached under ``$ASD_CACHE/runs/<key>`` (:func:`asdlib.store.cached_run`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import pandas as pd

from .dcase import check_layout
from .settings import (DATA_CHOICES, cache_dir, data_choice, data_dir, project_root, samples_dir,  # noqa: F401
                       samples_set, synth_scale)
from .store import cached_run, run_key  # noqa: F401  (the chapters' cached runs)

__all__ = ["DATA_CHOICES", "BOOK_SETTINGS", "data_choice", "data_root", "project_root", "shared_samples", "setup",
           "run_key", "cached_run", "book_run", "experiment_scores", "against_real", "knn_auto_choices", "reproduce_command"]

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


def book_run(df: pd.DataFrame, method: str, machines: Iterable[str] | None = None, progress: bool = False,
             **overrides) -> tuple[pd.DataFrame, Path]:
    """:func:`cached_run` with the book's settings (:data:`BOOK_SETTINGS`) plus ``overrides``."""
    if method not in BOOK_SETTINGS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(BOOK_SETTINGS)}")
    return cached_run(df, method, machines, progress=progress, **{**BOOK_SETTINGS[method], **overrides})


def experiment_scores(experiment: str, df: pd.DataFrame | None, progress: bool = False) -> pd.DataFrame:
    """The per-clip scores of an experiment of the store (``asdlib.store``) on the chapter's data.

    Read from the store on the synthetic data (checked against ``df``'s test clips); trained
    here on ``df`` with ``ASD_DATA=real`` (:func:`asdlib.store.live`).

    Args:
        experiment: the experiment's name.
        df: the chapter's index; for an experiment on real recordings ``None`` reads the stored
            scores alone, and an index of other recordings trains the runs here.
        progress: progress bars when training.
    """
    from . import store

    if df is None:
        return store.load(experiment)
    if data_choice() == "real":
        return store.live(experiment, df, progress=progress)
    try:
        return store.load(experiment, df)
    except store.DataMismatchError as exc:
        if store.DATASETS[store.plan([experiment])[0].dataset]["kind"] != "real":
            raise
        print(f"The stored runs were computed on other recordings ({exc}); training them here.")
        return store.live(experiment, df, progress=progress)


def against_real(synthetic, pairs: Iterable[tuple[str, str]], experiment: str = "real-toycar",
                 n_boot: int = 1000) -> str:
    """Markdown lines: each synthetic verdict of ``pairs`` beside the same difference on real ToyCar.

    Args:
        synthetic: a :class:`asdlib.stats.Bootstrap` of a synthetic chapter.
        pairs: the compared (method, method) pairs.
        experiment: the stored real-data experiment (chapter 11) giving the real verdicts.
        n_boot: bootstrap resamples (verdicts by :func:`asdlib.stats.verdict`).
    """
    from . import stats

    pairs = list(pairs)
    real = stats.bootstrap(experiment_scores(experiment, None).drop(columns=["n_train", "run"]), n_boot=n_boot)
    d = stats.learning_curve_differences({"synthetic": synthetic, "real": real}, pairs, by="data")
    lines = []
    for a, b in pairs:
        v = d[(d["a"] == a) & (d["b"] == b)].set_index("data")
        r = v.loc["real"]
        real_text = (f"{100 * r['estimate']:+.1f} [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}] AUC points, "
                     f"{r['verdict']}")
        if v.loc["synthetic", "verdict"] == r["verdict"]:
            lines.append(f"- `{a}` − `{b}`: synthetic {v.loc['synthetic', 'verdict']}; real ToyCar {real_text}: they agree.")
        else:
            lines.append(f"- `{a}` − `{b}`: synthetic {v.loc['synthetic', 'verdict']}; real ToyCar {real_text}: "
                         "**the real recordings disagree with this synthetic verdict.**")
    return "\n".join(lines)


def knn_auto_choices(experiment: str, df: pd.DataFrame, methods: Iterable[str]) -> pd.DataFrame:
    """``knn-auto``'s domain imbalance per candidate and its choice, per memory of the seed-0 runs of ``methods``.

    Computed from training clips only: read from the runs' provenance in the store on the
    synthetic data, from the runs trained here with ``ASD_DATA=real``.
    """
    from . import store

    rows = []
    for run in store.plan([experiment]):
        if run.seed != 0 or run.scorer is not None or run.method not in set(methods):
            continue
        if data_choice() == "synthetic":
            found = store.run_record(experiment, run.run_id)["knn_auto"]
        else:
            _, out, _ = store.train_and_score(run, df)
            found = store.auto_choices(out)
        for memory, r in found.items():
            rows.append({"method": run.label, "memory": "all types" if memory == "_shared" else memory,
                         **r["imbalance"], "chosen": r["chosen"]})
    return pd.DataFrame(rows).set_index(["method", "memory"])


def reproduce_command(layout: str, method: str, **overrides) -> str:
    """The ``asd run`` command line that recomputes a book table on real DCASE data."""
    settings = {**BOOK_SETTINGS.get(method, {}), **overrides}
    extra = ""
    if "epochs" in settings:
        extra += f" --epochs {settings.pop('epochs')}"
    extra += "".join(f" --set {k}={v}" for k, v in sorted(settings.items()))
    return (f"asd download --dataset {layout} --part dev --out ~/asd-data && "
            f"asd run --data ~/asd-data/{layout} --method {method} --out runs/{layout}-{method}{extra}")
