"""The whole pipeline behind ``asd run``: load a trained run, score clips, train → score → evaluate.

Explained in chapter 6 (``book/06_contrastive.ipynb``: scoring) and chapter 7
(``book/07_dcase2020_results.ipynb``: :func:`run_pipeline` on every machine type). Training
itself is :mod:`asdlib.train`; how a clip becomes a score is :mod:`asdlib.scoring`; the DCASE
metrics are :mod:`asdlib.metrics`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from . import __version__
from .data import select
from .features import load_features
from .files import atomic_path, write_text_atomic
from .methods import TRAINING_FREE, MethodConfig, build_models, build_scorer, method_config
from .train import RUN_FORMAT, RunConfigError, check_out_dir, pick_device, read_model_file, train


def load_run(run_dir: str | Path) -> dict:
    """Read a finished run: its configuration, classes, normalisation and models."""
    run_dir = Path(run_dir)
    path = run_dir / "model.pt"
    if not path.exists():
        if (run_dir / "checkpoint.pt").exists():
            raise RunConfigError(f"run {run_dir} has not finished training (only checkpoint.pt); run `asd train` again to resume")
        raise RunConfigError(f"{run_dir} is not a trained asdlib run (no model.pt)")
    final = read_model_file(path)
    if final.get("format") != RUN_FORMAT or final.get("asdlib") != __version__:
        raise RunConfigError(f"run {run_dir} was written by asdlib {final.get('asdlib')} (format {final.get('format')}); "
                             f"this is asdlib {__version__}: train it again")
    cfg = MethodConfig.from_dict(final["config"])
    models = build_models(cfg, len(final["classes"]))
    for k, m in models.items():
        m.load_state_dict(final["models"][k])
        m.eval()
    meta = json.loads((run_dir / "config.json").read_text())
    norm = tuple(final["norm"]) if final["norm"] is not None else None
    return {"config": cfg, "classes": final["classes"], "norm": norm, "models": models,
            "machine_type": meta["data"]["machine_type"], "run_dir": run_dir}


def embed(run: dict, paths: list[str], device: str | None = None, progress: bool = False,
          use_cache: bool = True) -> np.ndarray:
    """Clip embeddings ``[N, D]`` of ``paths`` from a loaded contrastive run (:func:`load_run`).

    The same path as scoring: the run's front end, its pre-normalisation, windows of
    ``segment_frames`` every ``test_hop_frames``, the mean of the L2-normalised window embeddings.
    """
    from .methods import build_views
    from .scoring import clip_embeddings

    cfg: MethodConfig = run["config"]
    if cfg.method == "ae" or cfg.method in TRAINING_FREE:
        raise ValueError(f"run {run['run_dir']} is a {cfg.method} run: it has no encoder embeddings")
    dev = pick_device(device)
    feats = load_features(paths, cfg.frontend, use_cache=use_cache, progress=progress)
    return clip_embeddings(run["models"]["encoder"].to(dev), feats, segment_frames=cfg.segment_frames,
                           hop_frames=cfg.test_hop_frames, device=str(dev),
                           normalize=build_views(cfg, run["norm"]).scoring_transform())


def histories(out: str | Path) -> pd.DataFrame:
    """The training histories of every machine type of a :func:`run_pipeline` folder, one table.

    Columns of ``history.csv`` (``epoch, loss, steps, seconds``) plus ``machine_type``.
    """
    out = Path(out)
    files = sorted(out.glob("*/history.csv"))
    if not files:
        raise FileNotFoundError(f"{out}: no <machine_type>/history.csv (is it a run_pipeline folder?)")
    return pd.concat([pd.read_csv(f).assign(machine_type=f.parent.name) for f in files], ignore_index=True)


def collect_scores(runs: dict[str, str | Path]) -> pd.DataFrame:
    """The ``scores.csv`` of several :func:`run_pipeline` folders as one table with a ``method`` column."""
    from .metrics import read_scores

    return pd.concat([read_scores(Path(d) / "scores.csv").assign(method=name) for name, d in runs.items()],
                     ignore_index=True)


def score(run_dir: str | Path, df: pd.DataFrame, split: str = "test", device: str | None = None,
          progress: bool = False, use_cache: bool = True, scorer: str | None = None) -> pd.DataFrame:
    """Anomaly scores (higher = more anomalous) of the ``split`` clips of the run's machine type.

    ``ae``: mean squared reconstruction error over a clip's 5-frame vectors (official baseline,
    :func:`asdlib.scoring.reconstruction_scores`). Contrastive methods: the scorer of the config
    (default cosine 1-NN distance, :mod:`asdlib.scoring`) between the clip embedding and the
    training embeddings of the *same* machine ID / section. Training-free references: the same
    with the clips' log-mel statistics (:func:`asdlib.scoring.clip_statistics`). The memory's
    domains (training clips only) go to the scorer, for the domain-shift scorers.

    ``split="train"`` scores the training clips, for a decision threshold: in-sample for ``ae``,
    leave-one-out from the memory otherwise (:meth:`asdlib.scoring.UnitScorer.train_scores`).
    ``scorer`` replaces the config's scorer (same trained encoder; e.g. to compare scorers).
    """
    from . import scoring

    run = load_run(run_dir)
    cfg: MethodConfig = run["config"]
    if scorer is not None and cfg.method == "ae":
        raise ValueError(f"run {run_dir} is an 'ae' run, scored by reconstruction error; scorer={scorer!r} "
                         "applies to the methods with a memory of training clips")
    test = select(df, run["machine_type"], split)
    if test.empty:
        raise ValueError(f"no {split} clips of machine type {run['machine_type']!r} in the data")
    paths = list(test["path"].astype(str))
    if cfg.method == "ae":
        feats = load_features(paths, cfg.frontend, use_cache=use_cache, progress=progress)
        ae = run["models"]["ae"].to(pick_device(device))
        scores = scoring.reconstruction_scores(ae, feats, cfg.ae_frames, paths=paths)
    else:
        mem = np.load(Path(run_dir) / "memory.npz")
        if scorer is None:
            fitted = build_scorer(cfg)
        else:
            fitted = scoring.make_scorer(scorer, **({"k": cfg.k} if scorer.startswith("knn") else {}))
        fitted.fit(mem["emb"], list(mem["units"]), list(mem["domains"]))
        if split == "train":  # leave-one-out scores of the memory, matched by <type>/<split>/<name>
            key = lambda p: "/".join(Path(str(p)).parts[-3:])  # noqa: E731
            loo = pd.Series(fitted.train_scores(), index=[key(p) for p in mem["paths"]])
            scores = loo.reindex([key(p) for p in test["path"]]).to_numpy()
            if np.isnan(scores).any():
                raise RunConfigError(f"run {run_dir}: training clips of the data are not in the run's memory "
                                     f"(e.g. {test['path'][np.isnan(scores)].iloc[0]}); train it on this data")
        else:
            if cfg.method in TRAINING_FREE:
                emb = scoring.clip_statistics(load_features(paths, cfg.frontend, use_cache=use_cache,
                                                            progress=progress))
            else:
                emb = embed(run, paths, device=device, progress=progress, use_cache=use_cache)
            scores = fitted.score(emb, list(test["unit"].astype(str)))
    out = test[["path", "layout", "machine_type", "unit", "domain", "label"]].copy()
    out["score"] = np.asarray(scores, dtype=float)
    return out


def _check_one_layout(df: pd.DataFrame, types: list[str]) -> None:
    layouts = df[df["machine_type"].isin(types)].groupby("layout")["machine_type"].unique()
    if len(layouts) > 1:
        detail = "; ".join(f"{lay}: {', '.join(sorted(t))}" for lay, t in layouts.items())
        raise ValueError(f"the data mixes layouts ({detail}); point --data at one DCASE layout, "
                         "or choose machine types of one layout with --machines")


def run_pipeline(
    data_root: str | Path | pd.DataFrame,
    method: str,
    out: str | Path,
    machines: Iterable[str] | None = None,
    device: str | None = None,
    force: bool = False,
    progress: bool = True,
    use_cache: bool = True,
    on_unknown: str = "error",
    **overrides,
) -> pd.DataFrame:
    """Train, score and evaluate ``method`` on every machine type (or ``machines``).

    Writes ``out/<type>/`` run directories, ``out/scores.csv``, ``out/results.csv`` and, for
    DCASE 2022 data, ``out/official_score.json``. Returns the results table. Every setting is
    checked before any work starts.
    """
    from .data import index
    from .metrics import evaluate, official_score

    cfg = method_config(method, **overrides)
    df = data_root if isinstance(data_root, pd.DataFrame) else index(data_root, on_unknown=on_unknown)
    types = sorted(df["machine_type"].unique())
    wanted = list(machines) if machines else types
    missing = [m for m in wanted if m not in types]
    if missing:
        raise ValueError(f"machine type(s) {', '.join(missing)} not in the data; found: {', '.join(types)}")
    _check_one_layout(df, wanted)
    out = Path(out)
    check_out_dir(out, list(df["path"]))
    out.mkdir(parents=True, exist_ok=True)
    all_scores = []
    for mt in wanted:
        train(df, mt, cfg, out / mt, device=device, force=force, progress=progress, use_cache=use_cache)
        s = score(out / mt, df, device=device, use_cache=use_cache)
        with atomic_path(out / mt / "scores.csv") as tmp:
            s.to_csv(tmp, index=False)
        all_scores.append(s)
    scores = pd.concat(all_scores, ignore_index=True)
    with atomic_path(out / "scores.csv") as tmp:
        scores.to_csv(tmp, index=False)
    results = evaluate(scores, method=method)
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    if (results["unit"] == "official").any():
        write_text_atomic(out / "official_score.json", json.dumps(
            {"method": method, "official_score": official_score(results),
             "definition": "harmonic mean of AUC_source, AUC_target and pAUC over all types and sections"}, indent=2))
    return results
