"""Training: one loop for every method, with checkpoints, resume and epoch selection.

Explained in chapter 4 (``book/04_autoencoder_baseline.ipynb``) and chapter 6
(``book/06_contrastive.ipynb``). The loop asks the method (:mod:`asdlib.methods`) for its models,
batches and losses and takes the optimiser step; :mod:`asdlib.selection` chooses the epoch on
held-out normal clips; :mod:`asdlib.runs` holds the run directory's files. Training sees the
normal training clips of one machine type, or of several for one shared encoder.
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
from .augment import LogMixupExp, fit_normalizer
from .data import check_training_clips, fingerprint, select, unit_labels
from .features import load_features
from .files import atomic_path, write_text_atomic
from .methods import Method, MethodConfig, family_of, method_for
from .runs import (RUN_FORMAT, RunConfigError, check_out_dir, load_checkpoint, prepare_run_dir, save_torch,
                   write_memory)
from .scoring import unit_keys
from .selection import EpochSelector, validation_per_clip, validation_split

__all__ = ["TrainingError", "RunConfigError", "TrainResult", "ALL_TYPES", "pick_device", "seed_everything",
           "training_types", "train"]


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN, or no optimisation step would run)."""


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


def _aug_state(pipe) -> dict:
    """The log-mixup-exp memory banks (needed to resume a run exactly)."""
    return {i: t.bank.clone() for i, t in enumerate(pipe.transforms)
            if isinstance(t, LogMixupExp) and t.bank is not None}


def _set_aug_state(pipe, state: dict) -> None:
    for i, bank in state.items():
        if bank is not None:
            pipe.transforms[int(i)].bank = bank


@dataclass
class TrainResult:
    run_dir: Path
    status: str  # "trained", "resumed", "cached"
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0


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

    Resumes from ``out/checkpoint.pt`` a run of the same configuration and data that was
    interrupted; returns at once when it already finished.

    Args:
        df: the data's index.
        machine_type: one type, a list, or ``"all"``; several types train one shared encoder
            (contrastive methods with ``encoder="shared"``) over every (machine type, unit).
        cfg: the method's settings.
        out: the run directory.
        device: ``None`` picks one (:func:`pick_device`).
        force: replace an asdlib run directory of another configuration.
        progress, use_cache: progress bars; the feature cache.
        on_epoch_end: ``f(epoch, row)``, called after each epoch's checkpoint is written.

    Returns:
        A :class:`TrainResult`.
    """
    t0 = time.perf_counter()
    out = Path(out)
    types = training_types(df, machine_type)
    encoder = family_of(cfg.method).encoder
    if len(types) > 1 and cfg.encoder != "shared":
        why = ("encoder='per-type' trains one encoder per machine type" if encoder
               else f"method {cfg.method!r} trains one model per machine type")
        raise ValueError(f"{why}; give one machine type (got {', '.join(types)}), "
                         + ("or encoder='shared'" if encoder else "or use asd run"))
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
    if encoder and cfg.val_fraction > 0:
        held = validation_split(train_df, cfg.val_fraction, cfg.seed)
        meta["validation"] = {
            "fraction": cfg.val_fraction, "seed": cfg.seed, "select_epoch": cfg.select_epoch,
            "criterion": "val_margin (mean cosine margin of held-out normal training clips between the nearest "
                         "other training clip of their machine type/unit and the nearest of another), ties "
                         "broken by val_acc (1-NN machine type/unit accuracy)",
            "paths": sorted(train_df["path"].astype(str)[held])}
    status = prepare_run_dir(out, meta, force)
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
    """Prepare the method, fit it (if it trains) and write the finished run."""
    dev = pick_device(device)
    feats = _training_features(train_df, cfg, use_cache, progress)
    method = method_for(cfg)
    method.cfg = cfg = method.resolve(feats, list(train_df["machine_type"].astype(str)))  # training clips only
    if cfg.hf_cutoffs is not None:
        meta["hf_cutoffs"] = dict(cfg.hf_cutoffs)  # Hz per machine type, recorded before the first epoch
        write_text_atomic(out / "config.json", json.dumps(meta, indent=2, sort_keys=True))
    fit_feats = [f for f, h in zip(feats, held) if not h]  # the held-out clips take no part in the fit
    hist, selection = pd.DataFrame(columns=["epoch", "loss", "steps", "seconds"]), None
    if method.trains:
        data = _training_data(method, feats, fit_feats, labels[~held], held)
        _check_selection(cfg, held, labels, classes)
        seed_everything(cfg.seed)
        method.build(len(classes))
        for m in method.models.values():
            m.to(dev)
        opt = method.optimizer(dev)
        method.norm = fit_normalizer(fit_feats)
        views = method.views(method.norm)
        method.cutoff_bins_table = method.cutoff_bins(classes)  # per-clip cutoffs (auto, types that differ)
        history, selection = _fit(method, opt, data, views, feats, labels, held, out, meta, status, dev,
                                  progress, on_epoch_end)
        hist = _write_history(out, history, selection, train_df, labels, held)
    else:
        method.build(len(classes))
        with atomic_path(out / "history.csv") as tmp:
            hist.to_csv(tmp, index=False)
    _finish(method, train_df, feats, classes, selection, out, meta)
    return hist


def _training_features(train_df: pd.DataFrame, cfg: MethodConfig, use_cache: bool, progress: bool) -> list:
    """The training clips' log-mels, refused when not finite or silent."""
    feats = load_features(train_df["path"], cfg.frontend, use_cache=use_cache, progress=progress)
    for path, f in zip(train_df["path"], feats):
        if not np.isfinite(f).all():
            raise TrainingError(f"the features of {path} contain NaN or infinite values; check that file")
    check_training_clips(list(train_df["path"]), feats)  # silent clips hold no machine sound: refuse them
    return feats


def _training_data(method: Method, feats: list, fit_feats: list, fit_labels: np.ndarray, held: np.ndarray):
    """The method's training data; an error when an epoch would run no optimisation step."""
    setting = method.batch_setting
    fix = (f"training would run zero optimisation steps. Lower the batch size (--set {setting}=...) or use more "
           "training clips" + (" / more segments_per_clip" if method.encoder else "") + ".")
    if held.any():  # not even with every clip: say so without the held-out ones
        data, what = method.training_data(feats, np.zeros(len(feats), dtype=np.int64))
        if method.steps_per_epoch(len(data)) == 0:
            raise TrainingError(f"{what} give no full batch of {setting}={getattr(method.cfg, setting)}: {fix}")
    note = (f", after holding out {int(held.sum())} validation clips, val_fraction={method.cfg.val_fraction:g}"
            if held.any() else "")
    data, what = method.training_data(fit_feats, fit_labels, note)
    if method.steps_per_epoch(len(data)) == 0:
        raise TrainingError(f"{what} give no full batch of {setting}={getattr(method.cfg, setting)}: {fix}")
    return data


def _check_selection(cfg: MethodConfig, held: np.ndarray, labels: np.ndarray, classes) -> None:
    if cfg.select_epoch == "val" and not held.any():
        raise TrainingError(f"select_epoch='val' found no clip to hold out (val_fraction={cfg.val_fraction:g}; a unit "
                            "needs 2 normal training clips to lend one): use select_epoch='last'")
    if held.any() and len(np.unique(labels)) < 2:
        raise TrainingError(f"the validation criterion tells machine types / units apart, but the training data has "
                            f"one class ({classes[0]}): use select_epoch='last' and val_fraction=0")


def _fit(method: Method, opt, data, views, feats, labels, held, out: Path, meta: dict, status: str, dev,
         progress: bool, on_epoch_end) -> tuple[list, dict]:
    """The epochs (resumed from the checkpoint), then the chosen epoch's weights: ``(history, selection)``."""
    from tqdm.auto import tqdm

    cfg, validate = method.cfg, bool(held.any())
    selector = EpochSelector(cfg.select_epoch, labels[held], cfg.seed)
    start_epoch, history = 0, []
    if status == "resume":
        ck = load_checkpoint(out / "checkpoint.pt", meta)
        for name, m in method.models.items():
            m.load_state_dict(ck["models"][name])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, history = ck["epoch"] + 1, ck["history"]
        selector.restore(ck)
        if views is not None:
            _set_aug_state(views, ck.get("aug_state", {}))
    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"{cfg.method} {meta['data']['machine_type']}",
               disable=not progress, initial=start_epoch, total=cfg.epochs)
    stopped_early = False
    for epoch in bar:
        if selector.stop(epoch, cfg.patience):
            stopped_early = True  # (also when a run that stopped was interrupted before its model.pt)
            break
        row = _epoch(method, opt, data, views, epoch, dev, out)
        if validate:
            values = _validate(method, feats, labels, held, dev)
            selector.update(epoch, row, values["_correct"], values["_margin"], method.models)
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", **({"val_margin": f"{row['val_margin']:.4f}"} if validate else {}))
        save_torch({"format": RUN_FORMAT, "asdlib": __version__, "config_key": meta["config_key"], "epoch": epoch,
                    "models": {k: m.state_dict() for k, m in method.models.items()}, "optimizer": opt.state_dict(),
                    "history": history, "aug_state": _aug_state(views) if views is not None else {},
                    **selector.state()}, out / "checkpoint.pt")
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    last = int(history[-1]["epoch"])
    chosen, reliability = selector.choose(last, validate)
    if chosen != last:
        for k, m in method.models.items():
            m.load_state_dict(selector.best_weights()[k])
    selection = {"select_epoch": cfg.select_epoch, "chosen_epoch": chosen, "epochs_run": len(history),
                 "stopped_early": stopped_early}
    if validate:
        at = next(r for r in history if r["epoch"] == chosen)
        selection.update({"val_acc": float(at["val_acc"]), "val_margin": float(at["val_margin"]),
                          "n_val": int(held.sum()), "best_epoch": int(selector.best["epoch"]),
                          "margin_reliability": None if not np.isfinite(reliability) else round(reliability, 6),
                          "reliability_threshold": selector.threshold, "_per_clip": selector.per_clip})
    return history, selection


def _epoch(method: Method, opt, data, views, epoch: int, dev, out: Path) -> dict:
    """One epoch: the method's batch losses, each followed by the one optimiser step."""
    te = time.perf_counter()
    epoch_seed = method.cfg.seed * 100003 + epoch
    torch.manual_seed(epoch_seed)
    if views is not None:
        views.manual_seed(epoch_seed)
    for m in method.models.values():
        m.train()
    loss_sum, n, steps = 0.0, 0, 0
    for step, (loss, size) in enumerate(method.batch_losses(data, views, epoch, epoch_seed, dev)):
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the training loss became {loss.item()} at epoch {epoch}, step {step} (run {out}). "
                "Nothing was saved from this epoch; the last good checkpoint is kept. "
                "Lower the learning rate (lr) or check the input features for silent / broken clips.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum, n, steps = loss_sum + loss.item() * size, n + size, steps + 1
    if steps == 0:  # cannot happen after _training_data's check; never report an epoch that did nothing
        raise TrainingError(f"epoch {epoch} of run {out} ran no optimisation step")
    return {"epoch": epoch, "loss": loss_sum / n, "steps": steps, "seconds": time.perf_counter() - te}


def _validate(method: Method, feats, labels: np.ndarray, held: np.ndarray, dev) -> dict:
    """The criterion of the held-out clips against the other training clips, with its per-clip values.

    Embedded as for scoring, with windows every ``segment_frames`` (not overlapping).
    """
    emb = method.represent(feats, dev, hop_frames=method.cfg.segment_frames)
    correct, margin = validation_per_clip(emb[held], labels[held], emb[~held], labels[~held])
    return {"val_acc": float(np.mean(correct)), "val_margin": float(np.mean(margin)), "_correct": correct,
            "_margin": margin}


def _write_history(out: Path, history: list, selection: dict, train_df, labels, held) -> pd.DataFrame:
    """``history.csv`` (with ``chosen``) and, with held-out clips, ``validation.npz``."""
    hist = pd.DataFrame(history)
    if "best_epoch" in hist:
        hist["chosen"] = hist["epoch"] == selection["chosen_epoch"]
    with atomic_path(out / "history.csv") as tmp:
        hist.to_csv(tmp, index=False)
    per_clip = selection.pop("_per_clip", None)
    if per_clip is not None:
        with atomic_path(out / "validation.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, correct=np.stack(per_clip["correct"]), margin=np.stack(per_clip["margin"]),
                         classes=labels[held], paths=train_df["path"].to_numpy(dtype=str)[held],
                         epochs=hist["epoch"].to_numpy())
    return hist


def _finish(method: Method, train_df, feats, classes, selection: dict | None, out: Path, meta: dict) -> None:
    """The memory (every training clip, represented with the kept weights), then ``model.pt``, last."""
    for m in method.models.values():
        m.eval()
    models = {k: m.to("cpu").state_dict() for k, m in method.models.items()}
    memory = method.represent(feats, "cpu", paths=list(train_df["path"]))
    keys = unit_keys(train_df["machine_type"], train_df["unit"])
    method.scorer().fit(memory, keys, list(train_df["domain"].astype(str)))  # fails now, not at scoring
    write_memory(out, train_df, memory)
    final = {"format": RUN_FORMAT, "asdlib": __version__, "config": method.cfg.to_dict(), "classes": list(classes),
             "norm": method.norm, "models": models}
    if selection is not None:
        final["selection"] = selection
        write_text_atomic(out / "config.json", json.dumps({**meta, "selection": selection}, indent=2, sort_keys=True))
    save_torch(final, out / "model.pt")  # written last: the run counts as finished from here on
    (out / "checkpoint.pt").unlink(missing_ok=True)
