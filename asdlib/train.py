"""Training: the loop, checkpoints, resume and the run directory.

Explained in chapter 4 (``book/04_autoencoder_baseline.ipynb``: the ``ae`` method) and
chapter 6 (``book/06_contrastive.ipynb``: the contrastive methods). What a method *is* (its
settings, models and views) lives in :mod:`asdlib.methods`; scoring a trained run and the whole
train → score → evaluate pipeline live in :mod:`asdlib.pipeline`.

A run trains on the *normal training clips only* of one machine type (``ae``, the
training-free references and ``encoder="per-type"``, as the official DCASE 2020 baseline) or
of several (``machine_type="all"`` or a list: one encoder shared by every type, the contrastive
methods' default in :func:`asdlib.pipeline.run_pipeline`). The classes of the contrastive and
margin losses are the (machine type, machine ID / section) pairs of the training data, so every
other unit, of the same type or another, acts as a pseudo-anomaly (outlier exposure).

No epoch, threshold or hyperparameter is chosen with test clips. With ``select_epoch="val"``
(the contrastive methods' default) :func:`validation_split` holds out ``val_fraction`` of every
unit's normal training clips (seeded); after every epoch :func:`validation_criterion` measures
how well the embeddings tell the held-out clips' (type, unit) apart from the other training
clips' (the mean margin first, then the share, :func:`_better`). The best epoch's weights are
kept if that profile over the epochs is reliable: two random halves of the held-out clips must
rank the epochs alike, a split-half reliability (:func:`criterion_reliability`) of at least
:data:`RELIABILITY_THRESHOLD`; otherwise the criterion is noise on this data and the last
epoch's weights are kept (``patience`` > 0 stops early either way). The held-out
clips take no part in the loss or the normalisation; the k-NN memory of the finished run holds
every normal training clip, embedded with the chosen weights. ``select_epoch="last"`` keeps the
last epoch (``ae`` always does, as the official baseline).

A run directory holds ``config.json`` (the full configuration, a fingerprint of the training
data, its machine types and classes, the held-out clip list under ``validation``, for
``hf_cutoff_hz="auto"`` the cutoff of every machine type under ``hf_cutoffs`` (Hz, computed from
the normal training clips by :func:`asdlib.methods.resolve_cutoffs`) and, once finished, the
chosen epoch, the criterion's best epoch and its reliability under ``selection``),
``validation.npz`` (with held-out clips: each held-out clip's ``correct`` and ``margin`` after
every epoch, their ``classes``, ``paths`` and the ``epochs``), ``checkpoint.pt`` (written atomically after
every epoch with the best epoch's weights so far, so an interrupted run resumes from its last
epoch to the same result), ``history.csv`` (``epoch, loss, steps, seconds`` and, with held-out
clips, ``val_acc, val_margin, best_epoch, chosen``), ``model.pt`` and, for the methods with a
memory, ``memory.npz`` (the training clips' embeddings or statistics with their machine types,
units, domains and paths). A run counts as finished only when ``model.pt`` exists and can be
read; a start that fails before its first checkpoint leaves nothing that blocks a rerun.
``force=True`` replaces only an asdlib run directory (or an empty one), never data or other files.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from . import __version__
from .data import check_training_clips, data_root_of, fingerprint, select, unit_labels
from .features import load_features
from .files import atomic_path, write_text_atomic
from .methods import (CONTRASTIVE, TRAINING_FREE, MethodConfig, build_models, build_optimizer, build_views,
                      cutoff_bin_table, resolve_cutoffs)

RUN_FORMAT = 3  # 3: memory.npz holds each clip's machine type (shared encoders)
#: the files an asdlib run directory may hold (``force`` deletes a directory only if it holds nothing else)
RUN_FILES = frozenset({"config.json", "checkpoint.pt", "history.csv", "model.pt", "memory.npz", "scores.csv"})


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN, or no optimisation step would run)."""


class RunConfigError(ValueError):
    """A run directory belongs to another configuration, data set or asdlib version, or is not a run."""


# --------------------------------------------------------------------------- utilities
def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given (checked), else CUDA, then Apple MPS, then CPU."""
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} requested but Apple MPS is not available here; use --device cpu")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _save_torch(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_model_file(path: Path) -> dict:
    """``model.pt`` of a run, or a :class:`RunConfigError` that names it (truncated, corrupt, foreign)."""
    try:
        final = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise RunConfigError(f"{path} cannot be read ({type(exc).__name__}: {exc}); the file is truncated or "
                             "corrupt: train the run again (asd train ... --force)") from None
    if not isinstance(final, dict) or "models" not in final:
        raise RunConfigError(f"{path} is not an asdlib model file; train the run again (asd train ... --force)")
    return final


# --------------------------------------------------------------------------- run directory
def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is an asdlib run directory (its ``config.json`` says so)."""
    cfg = Path(path) / "config.json"
    try:
        meta = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "asdlib" in meta and "config_key" in meta


def _run_files_only(path: Path) -> list[str]:
    """Names in ``path`` that are not run files (temporary files of a run count as run files)."""
    return sorted(p.name for p in path.iterdir()
                  if p.name not in RUN_FILES and not (p.name.startswith(".") and ".tmp" in p.name))


def remove_run_dir(path: Path) -> None:
    """Delete an asdlib run directory; refuse anything else (data, other files)."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise RunConfigError(f"{path} is not a directory; not deleted")
    if any(path.iterdir()):
        if not is_run_dir(path):
            raise RunConfigError(f"{path} is not an asdlib run directory (no asdlib config.json); "
                                 "--force replaces run directories only: choose another --out")
        foreign = _run_files_only(path)
        if foreign:
            raise RunConfigError(f"{path} holds files that are not part of a run ({', '.join(foreign[:5])}); "
                                 "--force replaces run directories only: move them or choose another --out")
    shutil.rmtree(path)


def check_out_dir(out: Path, data_paths: Sequence[str]) -> None:
    """Refuse an output folder equal to or inside the data root, or one that holds data files."""
    out = Path(out).expanduser().resolve()
    roots = data_root_of(pd.DataFrame({"path": list(data_paths)})) if len(data_paths) else []
    for root in roots:
        if out == root or root in out.parents:
            raise RunConfigError(f"--out {out} is inside the data folder {root}; write runs outside the data")
        if out in root.parents:
            raise RunConfigError(f"--out {out} contains the data folder {root}; write runs to a folder of their own")


def _prepare_run_dir(out: Path, meta: dict, force: bool) -> str:
    """Returns "new", "resume" or "done"; refuses a directory of another configuration."""
    if out.exists() and not out.is_dir():
        raise RunConfigError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not is_run_dir(out):
            raise RunConfigError(f"{out} is not empty and is not an asdlib run directory; use another --out "
                                 "(--force replaces run directories only)")
        old = json.loads((out / "config.json").read_text())
        same = all(old.get(k) == meta[k] for k in ("format", "asdlib", "config_key", "data"))
        started = (out / "checkpoint.pt").exists() or (out / "model.pt").exists()
        if same and (out / "model.pt").exists():
            try:
                read_model_file(out / "model.pt")
                return "done"
            except RunConfigError:
                (out / "model.pt").unlink()  # damaged: train again (from the checkpoint if any)
        if same and (out / "checkpoint.pt").exists():
            return "resume"
        if not same and started and not force:
            diffs = [k for k in ("format", "asdlib", "config_key", "data") if old.get(k) != meta.get(k)]
            detail = ""
            if "config_key" in diffs:
                a, b = old.get("config", {}), meta["config"]
                detail = "; settings that differ: " + ", ".join(
                    f"{k}={a.get(k)!r}->{b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
            raise RunConfigError(
                f"run directory {out} was made with another {'/'.join(diffs)}{detail}. "
                "Use another --out, or --force to replace that run.")
        # a run of another configuration (force), or one that never reached its first checkpoint
        remove_run_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.json", json.dumps(meta, indent=2, sort_keys=True))
    return "new"


def _load_checkpoint(path: Path, meta: dict) -> dict:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise RunConfigError(f"checkpoint {path} cannot be read ({exc}); delete it or use --force") from exc
    if ck.get("format") != RUN_FORMAT or ck.get("asdlib") != __version__:
        raise RunConfigError(
            f"checkpoint {path} was written by asdlib {ck.get('asdlib')} (format {ck.get('format')}); "
            f"this is asdlib {__version__} (format {RUN_FORMAT}). Use --force to train again.")
    if ck.get("config_key") != meta["config_key"]:
        raise RunConfigError(f"checkpoint {path} belongs to another configuration; use --force to train again")
    return ck


def _aug_state(pipe) -> dict:
    """The log-mixup-exp memory banks (needed to resume a run exactly)."""
    from .augment import LogMixupExp

    return {i: t.bank.clone() for i, t in enumerate(pipe.transforms)
            if isinstance(t, LogMixupExp) and t.bank is not None}


def _set_aug_state(pipe, state: dict) -> None:
    for i, bank in state.items():
        if bank is not None:
            pipe.transforms[int(i)].bank = bank


# --------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    run_dir: Path
    status: str  # "trained", "resumed", "cached"
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0


def _steps_per_epoch(cfg: MethodConfig, n_items: int) -> int:
    if cfg.method == "ae":
        return sum(1 for i in range(0, n_items, cfg.ae_batch_size) if min(cfg.ae_batch_size, n_items - i) >= 2)
    return n_items // cfg.batch_size  # drop_last: only full batches


#: ``machine_type`` of :func:`train` for one encoder over every machine type of the data
ALL_TYPES = "all"


def training_types(df: pd.DataFrame, machine_type: str | Sequence[str]) -> list[str]:
    """The machine types a run trains on: ``"all"`` (every type of ``df``), one type, or a list (checked)."""
    types = sorted(df["machine_type"].dropna().astype(str).unique())
    if isinstance(machine_type, str):
        wanted = types if machine_type == ALL_TYPES else [m.strip() for m in machine_type.split(",") if m.strip()]
    else:
        wanted = [str(m) for m in machine_type]
    if not wanted:
        raise ValueError(f"no machine type given; choose from {', '.join(types)} or {ALL_TYPES!r}")
    missing = [m for m in wanted if m not in types]
    if missing:
        raise ValueError(f"machine type {missing[0]!r} is not in the data; found: {', '.join(types)}")
    return sorted(dict.fromkeys(wanted))


def validation_split(train_df: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Which normal training clips are held out for choosing the epoch: a boolean mask over ``train_df``.

    Per (machine type, unit): ``max(1, round(fraction * n))`` of its ``n`` clips (none when
    ``n < 2``, so every unit keeps a training clip), drawn with ``numpy.random.default_rng(seed)``
    from the clips sorted by path. The same data and seed give the same split; ``train_df`` must
    hold training clips only (:func:`asdlib.data.select` with ``split="train"``).
    """
    if (train_df["split"] != "train").any() or (train_df["label"].fillna("normal") != "normal").any():
        bad = train_df[(train_df["split"] != "train") | (train_df["label"].fillna("normal") != "normal")]
        raise ValueError(f"validation_split takes normal training clips only; got {bad['path'].iloc[0]}")
    mask = np.zeros(len(train_df), dtype=bool)
    if fraction <= 0:
        return mask
    rng = np.random.default_rng(seed)
    keys = train_df["machine_type"].astype(str) + "/" + train_df["unit"].astype(str)
    for key in sorted(keys.unique()):
        rows = np.flatnonzero((keys == key).to_numpy())
        rows = rows[np.argsort(train_df["path"].astype(str).to_numpy()[rows], kind="stable")]
        n_val = 0 if len(rows) < 2 else min(len(rows) - 1, max(1, int(round(fraction * len(rows)))))
        mask[rng.choice(rows, size=n_val, replace=False)] = True
    return mask


def validation_per_clip(val_emb: np.ndarray, val_classes: Sequence[int], mem_emb: np.ndarray,
                        mem_classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per held-out clip: whether its nearest training clip (cosine) has its class, and its margin.

    The margin is the similarity to the nearest training clip of its own class minus that to the
    nearest of another class (in [-2, 2]). :func:`validation_criterion` averages both;
    ``benchmarks/bench_val_criterion.py`` uses the per-clip values to measure how reliable each
    average is. Needs at least two classes in the memory.
    """
    v = torch.nn.functional.normalize(torch.as_tensor(np.asarray(val_emb, dtype=np.float32)), dim=1)
    m = torch.nn.functional.normalize(torch.as_tensor(np.asarray(mem_emb, dtype=np.float32)), dim=1)
    vc, mc = np.asarray(val_classes), np.asarray(mem_classes)
    if len(np.unique(mc)) < 2:
        raise ValueError("validation_criterion needs training clips of at least 2 classes")
    sim = (v @ m.T).numpy()
    same = mc[None, :] == vc[:, None]
    nearest_same = np.where(same, sim, -np.inf).max(axis=1)
    nearest_other = np.where(~same, sim, -np.inf).max(axis=1)
    return mc[sim.argmax(axis=1)] == vc, nearest_same - nearest_other


def validation_criterion(val_emb: np.ndarray, val_classes: Sequence[int], mem_emb: np.ndarray,
                         mem_classes: Sequence[int]) -> dict[str, float]:
    """How well the embeddings separate (machine type, unit) on held-out normal clips: no anomaly needed.

    ``val_acc``: the fraction of held-out clips whose nearest training clip (cosine similarity)
    has their class. ``val_margin``: the mean, over held-out clips, of the similarity to the
    nearest training clip of their own class minus that to the nearest of another class (in
    [-2, 2]; larger = classes further apart). Needs at least two classes in the memory. The
    trainer keeps the epoch with the highest margin, then accuracy (:func:`_better`).
    """
    correct, margin = validation_per_clip(val_emb, val_classes, mem_emb, mem_classes)
    return {"val_acc": float(np.mean(correct)), "val_margin": float(np.mean(margin))}


#: The lowest split-half reliability (Spearman-Brown) at which the validation criterion may choose an
#: epoch other than the last: 0.7, the "modest reliability" Nunnally (Psychometric Theory, 1978)
#: asks of a measure in early-stage research. Fixed before any result of this trainer was seen.
RELIABILITY_THRESHOLD = 0.7


def criterion_reliability(per_clip: np.ndarray, classes: Sequence[int], seed: int = 0, splits: int = 100) -> float:
    """Split-half reliability of an epoch profile measured on held-out clips.

    ``per_clip`` is ``[epochs, clips]`` (e.g. each held-out clip's margin after every epoch,
    :func:`validation_per_clip`). ``splits`` times, the clips are split into two halves (within
    every class as evenly as possible, at random, seeded by ``seed``) and the Spearman
    correlation between the two halves' mean profiles over the epochs is taken; the mean
    correlation ``r`` is stepped up to the whole set with the Spearman-Brown formula
    ``2 r / (1 + r)`` when it is positive (a correlation of zero or below has nothing to step
    up and is returned as it is). 1: both halves rank the epochs alike; 0 or below: the profile
    is noise. NaN with fewer than 3 epochs or 4 clips, or when no split has a profile that varies.
    """
    from scipy.stats import spearmanr

    x = np.asarray(per_clip, dtype=np.float64)
    cls = np.asarray(classes)
    if x.ndim != 2 or x.shape[1] != len(cls):
        raise ValueError(f"criterion_reliability: per_clip must be [epochs, clips] with one class per clip, got "
                         f"shape {x.shape} and {len(cls)} classes")
    n_epochs, n = x.shape
    if n_epochs < 3 or n < 4:
        return float("nan")
    rng = np.random.default_rng([int(seed), 7])
    rhos = []
    for _ in range(int(splits)):
        order = np.lexsort((rng.random(n), cls))  # by class, at random within a class
        first = np.zeros(n, dtype=bool)
        first[order[::2]] = True  # every other clip: each class split as evenly as it can be
        a, b = x[:, first].mean(axis=1), x[:, ~first].mean(axis=1)
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            rhos.append(spearmanr(a, b).statistic)
    if not rhos:
        return float("nan")
    r = float(np.mean(rhos))
    return r if r <= 0 else 2.0 * r / (1.0 + r)


def _better(row: dict, best: dict | None) -> bool:
    """Whether an epoch's criterion beats the best so far: higher ``val_margin``, then higher ``val_acc``.

    The margin comes first because it measures something on data this size and the share does
    not. ``val_margin`` is a mean of a continuous quantity over every held-out clip. ``val_acc``
    moves in steps of one clip, and on the book-scale sets (36-147 held-out clips) its
    epoch-to-epoch changes are the size of its sampling noise: split the held-out clips into
    two random halves, and the two halves' epoch profiles of ``val_acc`` are uncorrelated, while
    those of ``val_margin`` agree, except where the margin is noise too
    (``benchmarks/bench_val_criterion.py`` measures it; held-out normal clips only). Where the
    margin is noise too, :func:`criterion_reliability` tells, and the trainer keeps the last epoch.
    """
    return best is None or (row["val_margin"], row["val_acc"]) > (best["val_margin"], best["val_acc"])


def train(
    df: pd.DataFrame,
    machine_type: str | Sequence[str],
    cfg: MethodConfig,
    out: str | Path,
    device: str | None = None,
    force: bool = False,
    progress: bool = True,
    use_cache: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Train ``cfg.method`` on the normal training clips of ``machine_type`` in the index ``df``.

    ``machine_type``: one type, a list, or ``"all"`` (every type of ``df``). Several types train
    one shared encoder (contrastive methods with ``encoder="shared"``) whose classes are every
    (machine type, unit); ``ae``, the training-free references and ``encoder="per-type"`` take
    one type. Resumes from ``out/checkpoint.pt`` when a previous run with the same
    configuration and data was interrupted; returns at once when it already finished.
    ``on_epoch_end(epoch, row)`` is called after each epoch's checkpoint is written.
    """
    t0 = time.perf_counter()
    out = Path(out)
    types = training_types(df, machine_type)
    if len(types) > 1 and cfg.encoder != "shared":
        why = (f"method {cfg.method!r} trains one model per machine type" if cfg.method not in CONTRASTIVE
               else "encoder='per-type' trains one encoder per machine type")
        raise ValueError(f"{why}; give one machine type (got {', '.join(types)}), "
                         + ("or encoder='shared'" if cfg.method in CONTRASTIVE else "or use asd run"))
    parts = [select(df, t, "train") for t in types]
    empty = [t for t, p in zip(types, parts) if p.empty]
    if empty:
        raise ValueError(f"machine type {empty[0]!r} has no normal training clips (empty train split)")
    train_df = pd.concat(parts, ignore_index=True)
    layouts = sorted(train_df["layout"].astype(str).unique())
    if len(layouts) > 1:
        raise ValueError(f"the training clips mix layouts ({', '.join(layouts)}); train one DCASE layout at a time")
    check_out_dir(out, list(train_df["path"]))
    labels, classes = unit_labels(train_df)
    meta = {
        "format": RUN_FORMAT, "asdlib": __version__, "config_key": cfg.key(), "config": cfg.relevant(),
        "data": {"machine_type": types[0] if len(types) == 1 else ALL_TYPES, "machine_types": types,
                 "n_train": int(len(train_df)), "layout": layouts[0], "fingerprint": fingerprint(train_df)},
        "classes": list(classes),
    }
    held = np.zeros(len(train_df), dtype=bool)
    if cfg.method in CONTRASTIVE and cfg.val_fraction > 0:
        held = validation_split(train_df, cfg.val_fraction, cfg.seed)
        meta["validation"] = {
            "fraction": cfg.val_fraction, "seed": cfg.seed, "select_epoch": cfg.select_epoch,
            "criterion": "val_margin (mean cosine margin of held-out normal training clips between the nearest "
                         "other training clip of their machine type/unit and the nearest of another), ties "
                         "broken by val_acc (1-NN machine type/unit accuracy)",
            "paths": sorted(train_df["path"].astype(str)[held])}
    status = _prepare_run_dir(out, meta, force)
    if status == "done":
        hist = pd.read_csv(out / "history.csv") if (out / "history.csv").exists() else pd.DataFrame()
        return TrainResult(out, "cached", hist, time.perf_counter() - t0)
    try:
        hist = _train(train_df, labels, classes, cfg, out, meta, status, device, progress, use_cache, on_epoch_end,
                      held)
    except BaseException:
        # a start that failed before its first checkpoint leaves nothing behind that blocks a rerun
        if not (out / "checkpoint.pt").exists() and not (out / "model.pt").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    return TrainResult(out, "resumed" if status == "resume" else "trained", hist, time.perf_counter() - t0)


def _train(train_df, labels, classes, cfg: MethodConfig, out: Path, meta: dict, status: str, device, progress: bool,
           use_cache: bool, on_epoch_end, held: np.ndarray) -> pd.DataFrame:
    from tqdm.auto import tqdm

    from .augment import fit_normalizer

    dev = pick_device(device)
    feats = load_features(train_df["path"], cfg.frontend, use_cache=use_cache, progress=progress)
    for path, f in zip(train_df["path"], feats):
        if not np.isfinite(f).all():
            raise TrainingError(f"the features of {path} contain NaN or infinite values; check that file")
    check_training_clips(list(train_df["path"]), feats)  # silent clips hold no machine sound: refuse them
    cfg = resolve_cutoffs(cfg, feats, list(train_df["machine_type"].astype(str)))  # hf_cutoff_hz="auto": training clips only
    if cfg.hf_cutoffs is not None:
        meta["hf_cutoffs"] = dict(cfg.hf_cutoffs)  # Hz per machine type, recorded before the first epoch
        write_text_atomic(out / "config.json", json.dumps(meta, indent=2, sort_keys=True))
    if cfg.method in TRAINING_FREE:
        return _fit_reference(train_df, classes, cfg, feats, out)
    if cfg.method == "ae":
        from .models import stack_frames

        data = torch.from_numpy(np.concatenate([stack_frames(f, cfg.ae_frames) for f in feats]).astype(np.float32))
        what = f"{len(data)} training vectors ({len(feats)} clips x frames, ae_frames={cfg.ae_frames})"
        batch_setting = f"ae_batch_size={cfg.ae_batch_size}"
    else:
        from .data import SegmentDataset

        n_all = len(feats) * cfg.segments_per_clip
        if _steps_per_epoch(cfg, n_all) == 0:  # not even with every clip: say so without the held-out ones
            raise TrainingError(
                f"{n_all} training segments ({len(feats)} clips x segments_per_clip={cfg.segments_per_clip}) give no "
                f"full batch of batch_size={cfg.batch_size}: training would run zero optimisation steps. Lower the "
                "batch size (--set batch_size=...) or use more training clips / more segments_per_clip.")
        fit_feats = [f for f, h in zip(feats, held) if not h]
        data = SegmentDataset(fit_feats, labels[~held], segment_frames=cfg.segment_frames,
                              segments_per_clip=cfg.segments_per_clip, seed=cfg.seed)
        what = (f"{len(data)} training segments ({len(fit_feats)} clips x segments_per_clip={cfg.segments_per_clip}"
                + (f", after holding out {int(held.sum())} validation clips, val_fraction={cfg.val_fraction:g}"
                   if held.any() else "") + ")")
        batch_setting = f"batch_size={cfg.batch_size}"
    if _steps_per_epoch(cfg, len(data)) == 0:
        raise TrainingError(
            f"{what} give no full batch of {batch_setting}: training would run zero optimisation steps. "
            f"Lower the batch size (--set {batch_setting.split('=')[0]}=...) or use more training clips"
            + ("" if cfg.method == "ae" else " / more segments_per_clip") + ".")
    validate = bool(held.any())
    if cfg.select_epoch == "val" and not validate:
        raise TrainingError(f"select_epoch='val' found no clip to hold out (val_fraction={cfg.val_fraction:g}; a unit "
                            "needs 2 normal training clips to lend one): use select_epoch='last'")
    if validate and len(np.unique(labels)) < 2:
        raise TrainingError(f"the validation criterion tells machine types / units apart, but the training data has "
                            f"one class ({classes[0]}): use select_epoch='last' and val_fraction=0")

    seed_everything(cfg.seed)
    models = build_models(cfg, len(classes))
    params = [p for m in models.values() for p in m.parameters()]
    for m in models.values():
        m.to(dev)
    opt = build_optimizer(cfg, params, dev)
    norm = fit_normalizer(feats if cfg.method == "ae" else fit_feats)
    views = build_views(cfg, norm)
    cutoff_bins = cutoff_bin_table(cfg, classes)  # per-clip cutoffs (hf_cutoff_hz="auto", types that differ)

    start_epoch, history, best = 0, [], None  # best: {"epoch", "val_acc", "val_margin", "models"}
    per_clip: dict[str, list] = {"correct": [], "margin": []}  # every validation epoch's per-clip values
    if status == "resume":
        ck = _load_checkpoint(out / "checkpoint.pt", meta)
        for name, m in models.items():
            m.load_state_dict(ck["models"][name])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, history, best = ck["epoch"] + 1, ck["history"], ck.get("best")
        per_clip = ck.get("per_clip", per_clip)
        if views is not None:
            _set_aug_state(views, ck.get("aug_state", {}))

    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"{cfg.method} {meta['data']['machine_type']}",
               disable=not progress, initial=start_epoch, total=cfg.epochs)
    stopped_early = False
    for epoch in bar:
        if cfg.patience and best is not None and epoch - best["epoch"] > cfg.patience:
            stopped_early = True  # (also when a run that stopped was interrupted before its model.pt)
            break
        te = time.perf_counter()
        epoch_seed = cfg.seed * 100003 + epoch
        torch.manual_seed(epoch_seed)
        if views is not None:
            views.manual_seed(epoch_seed)
        for m in models.values():
            m.train()
        if cfg.method == "ae":
            loss_sum, n, steps = _ae_epoch(models["ae"], opt, data, cfg, dev, epoch_seed, out, epoch)
        else:
            loss_sum, n, steps = _contrastive_epoch(models, opt, data, views, cfg, dev, epoch, epoch_seed, out,
                                                    cutoff_bins)
        if steps == 0:  # cannot happen after the check above; never report an epoch that did nothing
            raise TrainingError(f"epoch {epoch} of run {out} ran no optimisation step")
        row = {"epoch": epoch, "loss": loss_sum / n, "steps": steps, "seconds": time.perf_counter() - te}
        if validate:
            values = _validate(models["encoder"], feats, labels, held, views, cfg, dev)
            for key in per_clip:
                per_clip[key].append(np.asarray(values.pop(f"_{key}"), dtype=np.float64))
            row.update(values)
            if _better(row, best):
                best = {"epoch": epoch, "val_acc": row["val_acc"], "val_margin": row["val_margin"],
                        "models": {k: {n_: t.detach().clone() for n_, t in m.state_dict().items()}
                                   for k, m in models.items()}}
            row["best_epoch"] = best["epoch"]
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", **({"val_margin": f"{row['val_margin']:.4f}"} if validate else {}))
        ck = {"format": RUN_FORMAT, "asdlib": __version__, "config_key": meta["config_key"], "epoch": epoch,
              "models": {k: m.state_dict() for k, m in models.items()}, "optimizer": opt.state_dict(),
              "history": history, "aug_state": _aug_state(views) if views is not None else {}, "best": best,
              "per_clip": per_clip}
        _save_torch(ck, out / "checkpoint.pt")
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)

    hist = pd.DataFrame(history)
    last = int(hist["epoch"].iloc[-1])
    reliability = float("nan")
    if validate:  # may the margin choose an epoch? only if two halves of the held-out clips agree on its profile
        reliability = criterion_reliability(np.stack(per_clip["margin"]), labels[held], cfg.seed)
    reliable = bool(np.isfinite(reliability) and reliability >= RELIABILITY_THRESHOLD)
    chosen = best["epoch"] if (cfg.select_epoch == "val" and best is not None and reliable) else last
    if "best_epoch" in hist:
        hist["chosen"] = hist["epoch"] == chosen
    with atomic_path(out / "history.csv") as tmp:
        hist.to_csv(tmp, index=False)
    if chosen != last:
        for k, m in models.items():
            m.load_state_dict(best["models"][k])
    for m in models.values():
        m.eval()
    selection = {"select_epoch": cfg.select_epoch, "chosen_epoch": chosen, "epochs_run": len(hist),
                 "stopped_early": stopped_early}
    if validate:
        at = hist[hist["epoch"] == chosen].iloc[0]
        selection.update({"val_acc": float(at["val_acc"]), "val_margin": float(at["val_margin"]),
                          "n_val": int(held.sum()), "best_epoch": int(best["epoch"]),
                          "margin_reliability": None if not np.isfinite(reliability) else round(reliability, 6),
                          "reliability_threshold": RELIABILITY_THRESHOLD})
        with atomic_path(out / "validation.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, correct=np.stack(per_clip["correct"]), margin=np.stack(per_clip["margin"]),
                         classes=labels[held], paths=train_df["path"].to_numpy(dtype=str)[held],
                         epochs=hist["epoch"].to_numpy())
    final = {"format": RUN_FORMAT, "asdlib": __version__, "config": cfg.to_dict(), "classes": list(classes),
             "norm": norm, "models": {k: m.to("cpu").state_dict() for k, m in models.items()},
             "selection": selection}
    if cfg.method != "ae":
        from .scoring import clip_embeddings

        emb = clip_embeddings(models["encoder"], feats, segment_frames=cfg.segment_frames,
                              hop_frames=cfg.test_hop_frames, device="cpu", normalize=views.scoring_transform())
        _write_memory(out, train_df, emb)
    write_text_atomic(out / "config.json", json.dumps({**meta, "selection": selection}, indent=2, sort_keys=True))
    _save_torch(final, out / "model.pt")  # written last: the run counts as finished from here on
    (out / "checkpoint.pt").unlink(missing_ok=True)
    return hist


def _validate(encoder, feats, labels: np.ndarray, held: np.ndarray, views, cfg: MethodConfig, dev) -> dict:
    """:func:`validation_criterion` of the held-out clips against the other training clips, plus
    the per-clip values behind it (``_correct``, ``_margin``: :func:`validation_per_clip`), which
    the trainer keeps for :func:`criterion_reliability` and ``validation.npz``.

    The scoring path (pre-normalisation, mean of L2-normalised window embeddings), with windows
    every ``segment_frames`` instead of ``test_hop_frames``: non-overlapping windows cost about
    half (2-core CPU, shared encoder, book-scale 2020 set, under load: about 0.4 of a training
    epoch's time with the scoring hop, about 0.2 with this one).
    """
    from .scoring import clip_embeddings

    emb = clip_embeddings(encoder, feats, segment_frames=cfg.segment_frames, hop_frames=cfg.segment_frames,
                          device=dev, normalize=views.scoring_transform())
    correct, margin = validation_per_clip(emb[held], labels[held], emb[~held], labels[~held])
    return {"val_acc": float(np.mean(correct)), "val_margin": float(np.mean(margin)), "_correct": correct,
            "_margin": margin}


def unit_keys(types: Sequence[object], units: Sequence[object]) -> list[str]:
    """The scorer's group of each clip: ``"<machine type>/<unit>"`` (unit names repeat across types)."""
    types, units = list(types), list(units)
    if len(types) != len(units):
        raise ValueError(f"unit_keys: {len(types)} machine types but {len(units)} units")
    return [f"{t}/{u}" for t, u in zip(types, units)]


def _write_memory(out: Path, train_df: pd.DataFrame, emb: np.ndarray) -> None:
    """``memory.npz``: the training clips' representations with their units, domains and paths."""
    with atomic_path(out / "memory.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, emb=emb, types=train_df["machine_type"].to_numpy(dtype=str),
                     units=train_df["unit"].to_numpy(dtype=str),
                     domains=train_df["domain"].astype(str).to_numpy(dtype=str),
                     paths=train_df["path"].to_numpy(dtype=str))


def _fit_reference(train_df: pd.DataFrame, classes, cfg: MethodConfig, feats, out: Path) -> pd.DataFrame:
    """A training-free reference: its memory is the training clips' statistics (nothing is optimised)."""
    from .methods import build_scorer
    from .scoring import clip_statistics

    stats = clip_statistics(feats)
    build_scorer(cfg).fit(stats, unit_keys(train_df["machine_type"], train_df["unit"]),  # fails now, not at scoring,
                          list(train_df["domain"].astype(str)))                          # if it cannot fit
    _write_memory(out, train_df, stats)
    hist = pd.DataFrame(columns=["epoch", "loss", "steps", "seconds"])
    with atomic_path(out / "history.csv") as tmp:
        hist.to_csv(tmp, index=False)
    final = {"format": RUN_FORMAT, "asdlib": __version__, "config": cfg.to_dict(), "classes": list(classes),
             "norm": None, "models": {}}
    _save_torch(final, out / "model.pt")
    return hist


def _check_finite(loss: torch.Tensor, out: Path, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(
            f"the training loss became {loss.item()} at epoch {epoch}, step {step} (run {out}). "
            "Nothing was saved from this epoch; the last good checkpoint is kept. "
            "Lower the learning rate (lr) or check the input features for silent / broken clips.")


def _ae_epoch(ae, opt, data: torch.Tensor, cfg, dev, epoch_seed: int, out: Path, epoch: int):
    g = torch.Generator().manual_seed(epoch_seed)
    order = torch.randperm(len(data), generator=g)
    loss_sum, n, steps = 0.0, 0, 0
    for step, i in enumerate(range(0, len(data), cfg.ae_batch_size)):
        xb = data[order[i:i + cfg.ae_batch_size]].to(dev)
        if len(xb) < 2:
            continue
        loss = torch.nn.functional.mse_loss(ae(xb), xb)
        _check_finite(loss, out, epoch, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(xb)
        n += len(xb)
        steps += 1
    return loss_sum, n, steps


def autocast(cfg: MethodConfig, dev: torch.device):
    """The training forward pass's precision context (:data:`asdlib.methods.PRECISIONS`)."""
    return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cfg.precision == "bfloat16")


def _contrastive_epoch(models, opt, data, views, cfg, dev, epoch, epoch_seed, out, cutoff_bins=None):
    from . import losses

    enc = models["encoder"]
    n_classes = int(max(data.labels)) + 1  # labels are 0 .. n_classes - 1 (data.unit_labels)
    data.set_epoch(epoch)
    g = torch.Generator().manual_seed(epoch_seed)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         generator=g, num_workers=0)
    loss_sum, n, steps = 0.0, 0, 0
    for step, (x, y) in enumerate(loader):
        x = x.to(dev)  # dB log-mel; the view pipeline ends with the pre-normalisation
        y = y.to(dev)
        bins = None if cutoff_bins is None else cutoff_bins.to(dev)[y]  # each clip's own type's cutoff band
        v1, v2, vo = views.draw(x, cutoff_bins=bins)  # vo: altered copies of v2 (hf_role "pseudo-anomaly"), else None
        parts, labels = [v1, v2], [y, y]
        if vo is not None:
            parts.append(vo)
            labels.append(losses.outlier_labels(y, n_classes))
        yy = torch.cat(labels)
        if cfg.loss in ("arcface", "adacos"):  # margin classification of the views' machine IDs
            with autocast(cfg, dev):
                logits = models["head"](enc(torch.cat(parts)), yy)
            loss = losses.classification_loss(logits.float(), yy)
        else:
            with autocast(cfg, dev):
                z = models["projector"](enc(torch.cat(parts)))
            z = z.float()
            z1, z2, zo = z[: len(x)], z[len(x): 2 * len(x)], z[2 * len(x):]
            if cfg.loss == "supcon" and vo is None:
                loss = losses.supcon(torch.stack([z1, z2], dim=1), y, temperature=cfg.temperature)
            elif cfg.loss == "supcon":
                loss = losses.supcon(z, yy, temperature=cfg.temperature)
            else:
                loss = losses.nt_xent(z1, z2, temperature=cfg.temperature, negatives=zo if vo is not None else None)
        _check_finite(loss, out, epoch, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(x)
        n += len(x)
        steps += 1
    return loss_sum, n, steps
