"""The whole pipeline behind ``asd run``: load a trained run, score clips, train → score → evaluate.

Explained in chapter 6 (``book/06_contrastive.ipynb``: scoring) and chapter 7
(``book/07_dcase2020_results.ipynb``: :func:`run_pipeline` on every machine type). Training
itself is :mod:`asdlib.train`; how a clip becomes a score is :mod:`asdlib.scoring`; the DCASE
metrics are :mod:`asdlib.metrics`.

A :func:`run_pipeline` folder holds ``scores.csv``, ``results.csv`` (and ``official_score.json``
for DCASE 2022 data) and the run directories: ``_shared/`` for a shared encoder (the contrastive
methods' default: one training run, every machine type scored with it), or one ``<machine_type>/``
per type (``ae``, the training-free references, ``encoder="per-type"``). Either way every clip is
scored against the normal training clips of its own (machine type, unit): unit names repeat
across types (``id_00`` of ``fan`` and of ``pump``), so the memory is keyed by both.
``load_run(folder / "fan")`` finds the shared run when there is no ``fan/`` run.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import __version__
from .data import select
from .features import load_features
from .files import atomic_path, write_text_atomic
from .methods import TRAINING_FREE, MethodConfig, build_models, build_scorer, method_config
from .train import (ALL_TYPES, RUN_FORMAT, RunConfigError, check_out_dir, pick_device, read_model_file, train,
                    unit_keys)

#: the run directory of a shared encoder inside a :func:`run_pipeline` folder
SHARED_DIR = "_shared"


def run_dir_for(out: str | Path, machine_type: str) -> Path:
    """The run directory that scores ``machine_type`` in a :func:`run_pipeline` folder ``out``.

    ``out/<machine_type>`` when it is a trained run, else ``out/_shared`` when that shared run
    covers ``machine_type``; a :class:`~asdlib.train.RunConfigError` otherwise.
    """
    out = Path(out)
    own, shared = out / machine_type, out / SHARED_DIR
    if (own / "model.pt").exists() or (own / "checkpoint.pt").exists():
        return own
    if (shared / "config.json").exists():
        types = _meta(shared)["data"].get("machine_types", [])
        if machine_type in types:
            return shared
        raise RunConfigError(f"the shared run {shared} was trained on {', '.join(types)}, not on {machine_type!r}")
    return own


def _meta(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise RunConfigError(f"{run_dir}: config.json cannot be read ({exc}); train the run again") from None


def load_run(run_dir: str | Path, machine_type: str | None = None) -> dict:
    """Read a finished run: its configuration, classes, normalisation, models and machine types.

    ``run_dir`` is a run directory, or ``<run_pipeline folder>/<machine_type>`` (found in the
    shared run when there is no per-type one, :func:`run_dir_for`), or a :func:`run_pipeline`
    folder with ``machine_type``. ``machine_type`` (optional) must be one of the run's types;
    the result's ``"machine_type"`` is it, the run's only type, or ``"all"`` for a shared run.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "model.pt").exists() and not (run_dir / "checkpoint.pt").exists():
        if machine_type is not None and ((run_dir / machine_type).is_dir() or (run_dir / SHARED_DIR).is_dir()):
            run_dir = run_dir_for(run_dir, machine_type)  # a run_pipeline folder and a type
        elif not run_dir.exists() and (run_dir.parent / SHARED_DIR / "config.json").exists():
            machine_type = machine_type or run_dir.name  # <folder>/<type> of a shared run
            run_dir = run_dir_for(run_dir.parent, run_dir.name)
        elif (run_dir / SHARED_DIR / "config.json").exists():
            run_dir = run_dir / SHARED_DIR  # a run_pipeline folder of a shared encoder
    path = run_dir / "model.pt"
    if not path.exists():
        runs = sorted(p.parent.name for p in run_dir.glob("*/model.pt"))
        if runs:
            raise RunConfigError(f"{run_dir} is a run_pipeline folder of per-type runs ({', '.join(runs)}): "
                                 f"give one of them, e.g. {run_dir / runs[0]}")
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
    meta = _meta(run_dir)
    types = list(meta["data"].get("machine_types") or [meta["data"]["machine_type"]])
    if machine_type is not None and machine_type not in types:
        raise RunConfigError(f"run {run_dir} was trained on {', '.join(types)}, not on machine type {machine_type!r}")
    norm = tuple(final["norm"]) if final["norm"] is not None else None
    return {"config": cfg, "classes": final["classes"], "norm": norm, "models": models,
            "machine_type": machine_type or meta["data"]["machine_type"], "machine_types": types,
            "selection": final.get("selection", {}), "run_dir": run_dir}


def load_memory(run_dir: str | Path, machine_type: str | None = None) -> dict[str, np.ndarray]:
    """A run's ``memory.npz`` (``emb, types, units, domains, paths``), the rows of ``machine_type`` only if given.

    ``run_dir`` as in :func:`load_run`: a run directory, ``<run_pipeline folder>/<type>`` or a
    :func:`run_pipeline` folder with ``machine_type`` (a shared run's memory holds every type).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "memory.npz").exists():
        if machine_type is not None and ((run_dir / machine_type).is_dir() or (run_dir / SHARED_DIR).is_dir()):
            run_dir = run_dir_for(run_dir, machine_type)
        elif not run_dir.exists() and (run_dir.parent / SHARED_DIR / "config.json").exists():
            machine_type = machine_type or run_dir.name
            run_dir = run_dir_for(run_dir.parent, run_dir.name)
    if not (run_dir / "memory.npz").exists():
        raise RunConfigError(f"{run_dir} has no memory.npz (an ae run, or not a finished run)")
    mem = dict(np.load(run_dir / "memory.npz"))
    if machine_type is not None:
        keep = mem["types"] == machine_type
        if not keep.any():
            raise RunConfigError(f"the memory of {run_dir} holds no clip of machine type {machine_type!r}")
        mem = {k: v[keep] for k, v in mem.items()}
    return mem


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
    """The training histories of the runs of a :func:`run_pipeline` folder, one table.

    Columns of ``history.csv`` (``epoch, loss, steps, seconds`` and, with held-out clips,
    ``val_acc, val_margin, best_epoch, chosen``) plus ``machine_type``: the run's type, or
    ``"all"`` for a shared encoder (one curve for every type).
    """
    out = Path(out)
    files = sorted(out.glob("*/history.csv"))
    if not files:
        raise FileNotFoundError(f"{out}: no <run>/history.csv (is it a run_pipeline folder?)")
    tables = []
    for f in files:
        try:
            mt = _meta(f.parent)["data"]["machine_type"]
        except (RunConfigError, KeyError):
            mt = f.parent.name
        tables.append(pd.read_csv(f).assign(machine_type=mt))
    return pd.concat(tables, ignore_index=True)


def collect_scores(runs: dict[str, str | Path]) -> pd.DataFrame:
    """The ``scores.csv`` of several :func:`run_pipeline` folders as one table with a ``method`` column."""
    from .metrics import read_scores

    return pd.concat([read_scores(Path(d) / "scores.csv").assign(method=name) for name, d in runs.items()],
                     ignore_index=True)


def score_against_memory(scorer, memory: Mapping[str, np.ndarray], emb: np.ndarray, types: Sequence[str],
                         units: Sequence[str]) -> np.ndarray:
    """Scores of clips ``emb [N, D]`` of machine types ``types`` / units ``units`` against a run's memory.

    ``scorer`` (:mod:`asdlib.scoring`) is fitted on ``memory["emb"]`` grouped by (machine type,
    unit) (:func:`asdlib.train.unit_keys`), with the memory's domains; each clip is compared only
    with the normal training clips of its own type and unit.
    """
    mem_types = memory["types"] if "types" in memory else None
    if mem_types is None:
        raise RunConfigError("the run's memory.npz has no machine types (an older run): train it again")
    scorer.fit(memory["emb"], unit_keys(mem_types, memory["units"]), list(memory["domains"]))
    return np.asarray(scorer.score(emb, unit_keys(types, units)), dtype=float)


def score(run_dir: str | Path, df: pd.DataFrame, split: str = "test", device: str | None = None,
          progress: bool = False, use_cache: bool = True, scorer: str | Sequence[str] | None = None,
          machine_type: str | None = None) -> pd.DataFrame:
    """Anomaly scores (higher = more anomalous) of the ``split`` clips of the run's machine type(s).

    ``machine_type``: score this type only (one of a shared run's types); by default every type
    the run was trained on (one, or all of a shared run's that ``df`` holds).

    ``ae``: mean squared reconstruction error over a clip's 5-frame vectors (official baseline,
    :func:`asdlib.scoring.reconstruction_scores`). Contrastive methods: the scorer of the config
    (default cosine 1-NN distance, :mod:`asdlib.scoring`) between the clip embedding and the
    training embeddings of the *same* machine type and machine ID / section
    (:func:`score_against_memory`). Training-free references: the same with the clips' log-mel
    statistics (:func:`asdlib.scoring.clip_statistics`). The memory's domains (training clips
    only) go to the scorer, for the domain-shift scorers.

    ``split="train"`` scores the training clips, for a decision threshold: in-sample for ``ae``,
    leave-one-out from the memory otherwise (:meth:`asdlib.scoring.UnitScorer.train_scores`).
    ``scorer`` replaces the config's scorer (same trained encoder; e.g. to compare scorers). A
    list of scorer names scores the test clips with each of them (the embeddings are computed
    once) and returns one table with a ``method`` column naming the scorer.
    """
    from . import scoring

    names = [scorer] if isinstance(scorer, str) or scorer is None else list(scorer)
    if len(names) > 1 and split != "test":
        raise ValueError("several scorers at once score the test split only")
    run = load_run(run_dir, machine_type)
    run_dir = run["run_dir"]
    cfg: MethodConfig = run["config"]
    if names != [None] and cfg.method == "ae":
        raise ValueError(f"run {run_dir} is an 'ae' run, scored by reconstruction error; scorer={scorer!r} "
                         "applies to the methods with a memory of training clips")
    if machine_type is not None:
        types = [machine_type]
    elif len(run["machine_types"]) == 1:
        types = run["machine_types"]
    else:
        present = set(df["machine_type"].astype(str))
        types = [t for t in run["machine_types"] if t in present]
        if not types:
            raise ValueError(f"none of the run's machine types ({', '.join(run['machine_types'])}) is in the data")
    test = pd.concat([select(df, t, split) for t in types], ignore_index=True)
    if test.empty:
        raise ValueError(f"no {split} clips of machine type(s) {', '.join(types)} in the data")
    paths = list(test["path"].astype(str))
    if cfg.method == "ae":
        feats = load_features(paths, cfg.frontend, use_cache=use_cache, progress=progress)
        ae = run["models"]["ae"].to(pick_device(device))
        scores = scoring.reconstruction_scores(ae, feats, cfg.ae_frames, paths=paths)
    else:
        mem = dict(np.load(Path(run_dir) / "memory.npz"))

        fitted = build_scorer(cfg, names[0])
        if split == "train":  # leave-one-out scores of the memory, matched by <type>/<split>/<name>
            fitted.fit(mem["emb"], unit_keys(mem["types"], mem["units"]), list(mem["domains"]))
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
            types_, units_ = list(test["machine_type"].astype(str)), list(test["unit"].astype(str))
            if len(names) > 1:
                out = test[["path", "layout", "machine_type", "unit", "domain", "label"]]
                return pd.concat([out.assign(score=np.asarray(score_against_memory(build_scorer(cfg, n), mem, emb, types_, units_),
                                                              dtype=float), method=n) for n in names],
                                 ignore_index=True)
            scores = score_against_memory(fitted, mem, emb, types_, units_)
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

    A shared encoder (``encoder="shared"``, the contrastive methods' default) is trained once,
    on every chosen type, in ``out/_shared/``; otherwise one ``out/<type>/`` run per type.
    Writes each run's ``scores.csv``, ``out/scores.csv``, ``out/results.csv`` and, for DCASE
    2022 data, ``out/official_score.json``. Returns the results table. Every setting is checked
    before any work starts.
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

    Trains one run per width in ``out/width-<w>/`` (shared or per type, as ``encoder`` says;
    ``select_epoch="val"``) and returns one row per width and run: ``width, machine_type,
    chosen_epoch, val_acc, val_margin, epochs_run``, plus ``best``: the width with the highest
    (``val_margin``, ``val_acc``) averaged over the runs, the trainer's order (ties: the narrower). No test clip is
    scored; pass the chosen width to :func:`run_pipeline`.
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
