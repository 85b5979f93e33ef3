"""The pipeline behind ``asd run``: train every machine type, score its clips, evaluate.

Explained in chapter 6 (``book/06_contrastive.ipynb``: scoring) and chapter 7
(``book/07_dcase2020_results.ipynb``: :func:`run_pipeline` on every machine type). A clip's score
is its method's representation (:meth:`asdlib.methods.Method.represent`) compared by the method's
scorer with the normal training clips of its own (machine type, unit) in the run's memory. A
:func:`run_pipeline` folder holds ``scores.csv``, ``results.csv`` (``official_score.json`` for
DCASE 2022) and the runs: ``_shared/`` for a shared encoder, else one ``<machine_type>/`` each.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .data import select
from .features import load_features
from .files import atomic_path, write_text_atomic
from .methods import method_config
from .runs import (SHARED_DIR, RunConfigError, check_out_dir, histories, load_memory, load_run, read_model_file,
                   run_dir_for)
from .scoring import UnitScorer, unit_keys
from .train import ALL_TYPES, pick_device, train

__all__ = ["SHARED_DIR", "run_dir_for", "load_run", "load_memory", "histories", "embed", "collect_scores",
           "score_against_memory", "score", "run_pipeline", "compare_widths"]


def embed(run: dict, paths: list[str], device: str | None = None, progress: bool = False,
          use_cache: bool = True) -> np.ndarray:
    """The representation ``[N, D]`` of the clips ``paths`` by a loaded run (:func:`load_run`).

    The run's front end, then :meth:`~asdlib.methods.Method.represent` (an encoder's embeddings,
    the statistics, or an autoencoder's errors).
    """
    method = run["method"]
    feats = load_features(paths, method.cfg.frontend, use_cache=use_cache, progress=progress)
    return method.represent(feats, pick_device(device), paths=paths)


def collect_scores(runs: dict[str, str | Path]) -> pd.DataFrame:
    """The ``scores.csv`` of several :func:`run_pipeline` folders as one table with a ``method`` column."""
    from .metrics import read_scores

    return pd.concat([read_scores(Path(d) / "scores.csv").assign(method=name) for name, d in runs.items()],
                     ignore_index=True)


def score_against_memory(scorer: UnitScorer, memory: Mapping[str, np.ndarray], emb: np.ndarray,
                         types: Sequence[str], units: Sequence[str]) -> np.ndarray:
    """Scores of clips against a run's memory, each only against its own (machine type, unit).

    Args:
        scorer: fitted here on ``memory["emb"]``, grouped by (machine type, unit), with its domains.
        memory: a run's memory (:func:`asdlib.runs.load_memory`).
        emb: ``[N, D]`` representations of the clips.
        types, units: each clip's machine type and unit.

    Returns:
        ``[N]`` scores (higher = more anomalous).
    """
    scorer.fit(memory["emb"], unit_keys(memory["types"], memory["units"]), list(memory["domains"]))
    return np.asarray(scorer.score(emb, unit_keys(types, units)), dtype=float)


def _clips_to_score(run: dict, df: pd.DataFrame, split: str, machine_type: str | None) -> pd.DataFrame:
    if machine_type is not None:
        types = [machine_type]
    elif len(run["machine_types"]) == 1:
        types = run["machine_types"]
    else:
        present = set(df["machine_type"].astype(str))
        types = [t for t in run["machine_types"] if t in present]
        if not types:
            raise ValueError(f"none of the run's machine types ({', '.join(run['machine_types'])}) is in the data")
    clips = pd.concat([select(df, t, split) for t in types], ignore_index=True)
    if clips.empty:
        raise ValueError(f"no {split} clips of machine type(s) {', '.join(types)} in the data")
    return clips


def _train_scores(scorer: UnitScorer, mem: Mapping[str, np.ndarray], clips: pd.DataFrame, run_dir: Path) -> np.ndarray:
    """The memory's own training scores (leave-one-out for k-NN), matched by ``<type>/<split>/<name>``."""
    scorer.fit(mem["emb"], unit_keys(mem["types"], mem["units"]), list(mem["domains"]))
    key = lambda p: "/".join(Path(str(p)).parts[-3:])  # noqa: E731
    loo = pd.Series(scorer.train_scores(), index=[key(p) for p in mem["paths"]])
    scores = loo.reindex([key(p) for p in clips["path"]]).to_numpy()
    if np.isnan(scores).any():
        raise RunConfigError(f"run {run_dir}: training clips of the data are not in the run's memory "
                             f"(e.g. {clips['path'][np.isnan(scores)].iloc[0]}); train it on this data")
    return scores


def score(run_dir: str | Path, df: pd.DataFrame, split: str = "test", device: str | None = None,
          progress: bool = False, use_cache: bool = True, scorer: str | Sequence[str] | None = None,
          machine_type: str | None = None) -> pd.DataFrame:
    """Anomaly scores (higher = more anomalous) of the ``split`` clips of the run's machine type(s).

    Args:
        run_dir: a run (:func:`load_run` finds a shared one).
        df: the data's index.
        split: ``"test"``, or ``"train"``: the training clips' scores for a decision threshold
            (leave-one-out from the memory for k-NN; in-sample for the others).
        scorer: replaces the run's scorer; a list scores the test clips with each (one
            representation) and returns one table with a ``method`` column naming the scorer.
        machine_type: score this type only (default: every type of the run that ``df`` holds).

    Returns:
        One row per clip: ``path, layout, machine_type, unit, domain, label, score``.
    """
    names = [scorer] if isinstance(scorer, str) or scorer is None else list(scorer)
    if len(names) > 1 and split != "test":
        raise ValueError("several scorers at once score the test split only")
    run = load_run(run_dir, machine_type)
    method = run["method"]
    scorers = [method.scorer(n) for n in names]  # an unknown or inapplicable scorer fails before any work
    clips = _clips_to_score(run, df, split, machine_type)
    mem = load_memory(run["run_dir"])
    out = clips[["path", "layout", "machine_type", "unit", "domain", "label"]].copy()
    if split == "train":
        return out.assign(score=_train_scores(scorers[0], mem, clips, run["run_dir"]))
    emb = embed(run, list(clips["path"].astype(str)), device=device, progress=progress, use_cache=use_cache)
    types, units = list(clips["machine_type"].astype(str)), list(clips["unit"].astype(str))
    tables = [out.assign(score=score_against_memory(s, mem, emb, types, units)) for s in scorers]
    if len(names) == 1:
        return tables[0]
    return pd.concat([t.assign(method=n) for t, n in zip(tables, names)], ignore_index=True)


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

    A shared encoder (the contrastive methods' default) is trained once in ``out/_shared/``,
    otherwise one ``out/<type>/`` run per type. Writes each run's ``scores.csv``,
    ``out/scores.csv``, ``out/results.csv`` and, for DCASE 2022, ``out/official_score.json``.
    Every setting is checked before any work starts.

    Args:
        data_root: a data folder or its index.
        method, overrides: the method and its settings (:func:`asdlib.methods.method_config`).
        out: the output folder.
        machines: the machine types (default: all of the data).
        device, force, progress, use_cache: as :func:`asdlib.train.train`.
        on_unknown: what :func:`asdlib.data.index` does with unknown file names.

    Returns:
        The results table.
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
    if cfg.encoder == "shared":
        run_dir = out / SHARED_DIR
        train(df, sorted(wanted), cfg, run_dir, device=device, force=force, progress=progress, use_cache=use_cache)
        for mt in wanted:
            all_scores.append(score(run_dir, df, device=device, use_cache=use_cache, machine_type=mt))
        with atomic_path(run_dir / "scores.csv") as tmp:
            pd.concat(all_scores, ignore_index=True).to_csv(tmp, index=False)
    else:
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


def compare_widths(
    data_root: str | Path | pd.DataFrame,
    method: str,
    widths: Sequence[int],
    out: str | Path,
    machines: Iterable[str] | None = None,
    device: str | None = None,
    progress: bool = False,
    **overrides,
) -> pd.DataFrame:
    """Encoder widths compared on the validation criterion only (held-out *normal* training clips).

    Trains one run per width in ``out/width-<w>/`` (``select_epoch="val"``); no test clip is
    scored. Arguments as :func:`run_pipeline`, plus ``widths``.

    Returns:
        One row per width and run: ``width, machine_type, chosen_epoch, val_acc, val_margin,
        epochs_run, best`` (the width with the highest mean (``val_margin``, ``val_acc``) over
        the runs; ties: the narrower).
    """
    from .data import index

    df = data_root if isinstance(data_root, pd.DataFrame) else index(data_root)
    if not widths:
        raise ValueError("compare_widths: give at least one width")
    cfgs = {int(w): method_config(method, **{**overrides, "width": w}) for w in widths}
    if any(c.select_epoch != "val" for c in cfgs.values()):
        raise ValueError("compare_widths compares the validation criterion: it needs select_epoch='val'")
    types = sorted(machines) if machines else sorted(df["machine_type"].unique())
    rows = []
    for w, cfg in cfgs.items():
        groups = [types] if cfg.encoder == "shared" else [[t] for t in types]
        for g in groups:
            name = SHARED_DIR if cfg.encoder == "shared" else g[0]
            res = train(df, g, cfg, Path(out) / f"width-{w}" / name, device=device, progress=progress)
            sel = read_model_file(res.run_dir / "model.pt")["selection"]
            rows.append({"width": w, "machine_type": g[0] if len(g) == 1 else ALL_TYPES,
                         "chosen_epoch": sel["chosen_epoch"], "val_acc": sel["val_acc"],
                         "val_margin": sel["val_margin"], "epochs_run": sel["epochs_run"]})
    table = pd.DataFrame(rows)
    mean = table.groupby("width")[["val_acc", "val_margin"]].mean()
    best = max(mean.index, key=lambda w: (mean.loc[w, "val_margin"], mean.loc[w, "val_acc"], -w))
    table["best"] = table["width"] == best
    return table
