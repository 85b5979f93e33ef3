"""Training, checkpoints, resume, scoring and the end-to-end pipeline behind ``asd run``.

Explained in chapter 4 (``book/04_autoencoder_baseline.ipynb``: the ``ae`` method) and
chapter 6 (``book/06_contrastive.ipynb``: the ``contrastive`` and ``contrastive-hf`` methods);
chapter 7 runs :func:`run_pipeline` on every machine type.

One model is trained per machine type, on that type's *normal training clips only*
(the official DCASE 2020 baseline does the same). The machine IDs (2020) or sections (2022)
of the type are the classes of the supervised contrastive loss, so the other IDs act as
pseudo-anomalies (outlier exposure). No epoch, threshold or hyperparameter is chosen with
test clips: training runs for a fixed number of epochs and the last weights are used.

A run directory holds ``config.json`` (the full configuration and a fingerprint of the
training data), ``checkpoint.pt`` (written atomically after every epoch, so an interrupted
run resumes from its last epoch), ``history.csv``, ``model.pt`` and, for the contrastive
methods, ``memory.npz`` (the training embeddings that the k-NN scorer compares against).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import __version__
from .data import cache_dir

METHODS: tuple[str, ...] = ("ae", "contrastive", "contrastive-hf")
#: contrastive losses (over two views) and margin classification losses (over machine IDs / sections)
LOSSES: tuple[str, ...] = ("supcon", "ntxent", "arcface", "adacos")
RUN_FORMAT = 1


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN)."""


class RunConfigError(ValueError):
    """A run directory belongs to another configuration, data set or asdlib version."""


# --------------------------------------------------------------------------- configuration
@dataclass
class MethodConfig:
    """Every setting of a training run. Defaults are *ours* (the paper does not publish them).

    ``ae`` follows the official DCASE 2020 baseline (64 mels, 5 frames, dense AE, MSE, Adam
    lr 1e-3, batch 512); the official schedule is 100 epochs, our default is shorter so that a
    laptop CPU finishes (pass ``epochs=100`` for the official one).
    """

    method: str = "contrastive-hf"
    seed: int = 0
    epochs: int = 0  # 0 = the method's default
    # front end
    sr: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64  # BYOL-A's 64 bands: half the compute of the 128-band DCASE front end
    # contrastive methods
    segment_frames: int = 64
    segments_per_clip: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss: str = "supcon"  # "supcon" (over machine IDs / sections), "ntxent", "arcface" or "adacos"
    temperature: float = 0.1
    width: int = 16
    depth: int = 4
    emb_dim: int = 128
    proj_dim: int = 64
    mixup_ratio: float = 0.4
    resize_crop: bool = True
    hf_mode: str = "mix"
    hf_cutoff_hz: float = 2000.0
    hf_p: float = 1.0
    hf_strength: float = 1.0
    hf_band: str = "high"  # "high" = the paper's augmentation; "low" = control (ablation)
    scorer: str = "knn"
    k: int = 1
    test_hop_frames: int = 32
    # autoencoder baseline
    ae_n_mels: int = 64
    ae_frames: int = 5
    ae_batch_size: int = 512

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.epochs == 0:
            self.epochs = DEFAULT_EPOCHS[self.method]
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        from .scoring import SCORERS

        if self.scorer not in SCORERS:
            raise ValueError(f"unknown scorer {self.scorer!r}; choose one of {', '.join(sorted(SCORERS))}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def relevant(self) -> dict:
        """The fields that influence this method (others are ignored in the key)."""
        d = self.to_dict()
        ae_only = {"ae_n_mels", "ae_frames", "ae_batch_size"}
        hf_only = {"hf_mode", "hf_cutoff_hz", "hf_p", "hf_strength", "hf_band"}
        if self.method == "ae":
            keep = {"method", "seed", "epochs", "sr", "n_fft", "hop_length", "lr"} | ae_only
        else:
            keep = set(d) - ae_only - (hf_only if self.method == "contrastive" else set())
        return {k: v for k, v in d.items() if k in keep}

    def key(self) -> str:
        return hashlib.sha1(json.dumps(self.relevant(), sort_keys=True).encode()).hexdigest()[:12]


DEFAULT_EPOCHS = {"ae": 100, "contrastive": 10, "contrastive-hf": 10}


def method_config(method: str, **overrides) -> MethodConfig:
    """A :class:`MethodConfig` for ``method`` with keyword overrides (unknown keys are an error)."""
    names = {f.name for f in dataclasses.fields(MethodConfig)}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(names)}")
    return MethodConfig(method=method, **overrides)


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


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def data_fingerprint(df: pd.DataFrame) -> str:
    """Hash of the files in ``df`` (name, size, modification time): changes when the data does."""
    h = hashlib.sha1()
    for p in sorted(df["path"].astype(str)):
        st = os.stat(p)
        h.update(f"{Path(p).parent.name}/{Path(p).name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _frontend(cfg: MethodConfig):
    from .features import FrontEndConfig

    n_mels = cfg.ae_n_mels if cfg.method == "ae" else cfg.n_mels
    return FrontEndConfig(sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=n_mels)


def load_features(paths: Sequence[str], frontend, use_cache: bool = True, progress: bool = False) -> list[np.ndarray]:
    """Log-mel features of ``paths`` through the on-disk feature cache (``$ASD_CACHE/features``)."""
    from .features import FeatureCache

    cache = FeatureCache(cache_dir() / "features" if use_cache else None, frontend)
    return cache.features(list(paths), progress=progress)


def select(df: pd.DataFrame, machine_type: str, split: str) -> pd.DataFrame:
    """Rows of one machine type and split; the training split keeps normal clips only."""
    types = sorted(df["machine_type"].unique())
    if machine_type not in types:
        raise ValueError(f"machine type {machine_type!r} is not in the data; found: {', '.join(types)}")
    sub = df[(df["machine_type"] == machine_type) & (df["split"] == split)]
    if split == "train":
        sub = sub[sub["label"].fillna("normal") == "normal"]
    return sub.reset_index(drop=True)


# --------------------------------------------------------------------------- run directory
def _prepare_run_dir(out: Path, meta: dict, force: bool) -> str:
    """Returns "new", "resume" or "done"; refuses a directory of another configuration."""
    cfg_file = out / "config.json"
    if out.exists() and not out.is_dir():
        raise RunConfigError(f"{out} exists and is not a directory")
    if cfg_file.exists():
        old = json.loads(cfg_file.read_text())
        same = (old.get("format") == meta["format"] and old.get("asdlib") == meta["asdlib"]
                and old.get("config_key") == meta["config_key"] and old.get("data") == meta["data"])
        if not same:
            if not force:
                diffs = [k for k in ("format", "asdlib", "config_key", "data") if old.get(k) != meta.get(k)]
                detail = ""
                if "config_key" in diffs:
                    a, b = old.get("config", {}), meta["config"]
                    detail = "; settings that differ: " + ", ".join(
                        f"{k}={a.get(k)!r}->{b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
                raise RunConfigError(
                    f"run directory {out} was made with another {'/'.join(diffs)}{detail}. "
                    "Use another --out, or --force to delete it and train again.")
            shutil.rmtree(out)
        elif (out / "model.pt").exists():
            return "done"
        elif (out / "checkpoint.pt").exists():
            return "resume"
    elif out.exists() and any(out.iterdir()):
        if not force:
            raise RunConfigError(f"{out} is not empty and is not an asdlib run directory; use another --out or --force")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(cfg_file, json.dumps(meta, indent=2, sort_keys=True))
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


# --------------------------------------------------------------------------- models per method
def _build(cfg: MethodConfig, n_classes: int) -> dict[str, nn.Module]:
    from .models import AdaCosHead, ArcMarginHead, AutoEncoder, Encoder, ProjectionHead

    if cfg.method == "ae":
        return {"ae": AutoEncoder(n_mels=cfg.ae_n_mels, frames=cfg.ae_frames)}
    enc = Encoder(n_mels=cfg.n_mels, width=cfg.width, depth=cfg.depth, emb_dim=cfg.emb_dim)
    if cfg.loss in ("arcface", "adacos"):
        if n_classes < 2:
            raise ValueError(f"loss {cfg.loss!r} classifies machine IDs / sections and needs at least 2 of them "
                             f"in the training data, found {n_classes}; use loss='supcon' or 'ntxent'")
        head = ArcMarginHead(cfg.emb_dim, n_classes) if cfg.loss == "arcface" else AdaCosHead(cfg.emb_dim, n_classes)
        return {"encoder": enc, "head": head}
    return {"encoder": enc, "projector": ProjectionHead(cfg.emb_dim, hidden_dim=2 * cfg.proj_dim, out_dim=cfg.proj_dim)}


def build_views(cfg: MethodConfig, norm: tuple[float, float] | None = None):
    """The view pipeline of ``cfg`` (chapter 5), applied to dB log-mel segments.

    log-mixup-exp -> (``contrastive-hf`` only) the high-frequency spectrum augmentation ->
    random resize crop -> pre-normalisation with the training statistics ``norm``.
    """
    from . import augment
    from .features import FrontEndConfig

    fe = FrontEndConfig(sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels)
    kind = "contrastive"
    band: dict | bool = False
    if cfg.method == "contrastive-hf":
        kind = "contrastive-hf" if cfg.hf_band == "high" else "contrastive-lf"
        band = {"cutoff_hz": cfg.hf_cutoff_hz, "mode": cfg.hf_mode, "p": cfg.hf_p, "strength": cfg.hf_strength}
    return augment.view_pipeline(
        kind, fe,
        mixup={"ratio": cfg.mixup_ratio} if cfg.mixup_ratio > 0 else False,
        band=band if kind != "contrastive" else False,
        crop=cfg.resize_crop,
        normalizer=norm,
    )


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


def train(
    df: pd.DataFrame,
    machine_type: str,
    cfg: MethodConfig,
    out: str | Path,
    device: str | None = None,
    force: bool = False,
    progress: bool = True,
    use_cache: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Train ``cfg.method`` on the normal training clips of ``machine_type`` in the index ``df``.

    Resumes from ``out/checkpoint.pt`` when a previous run with the same configuration and
    data was interrupted; returns at once when it already finished. ``on_epoch_end(epoch,
    row)`` is called after each epoch's checkpoint is written.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    out = Path(out)
    train_df = select(df, machine_type, "train")
    if train_df.empty:
        raise ValueError(f"machine type {machine_type!r} has no normal training clips (empty train split)")
    from .data import unit_labels

    labels, classes = unit_labels(train_df)
    meta = {
        "format": RUN_FORMAT, "asdlib": __version__, "config_key": cfg.key(), "config": cfg.relevant(),
        "data": {"machine_type": machine_type, "n_train": int(len(train_df)),
                 "layout": str(train_df["layout"].iloc[0]), "fingerprint": data_fingerprint(train_df)},
        "classes": list(classes),
    }
    status = _prepare_run_dir(out, meta, force)
    if status == "done":
        hist = pd.read_csv(out / "history.csv") if (out / "history.csv").exists() else pd.DataFrame()
        return TrainResult(out, "cached", hist, time.perf_counter() - t0)

    dev = pick_device(device)
    frontend = _frontend(cfg)
    feats = load_features(train_df["path"], frontend, use_cache=use_cache, progress=progress)
    for path, f in zip(train_df["path"], feats):
        if not np.isfinite(f).all():
            raise TrainingError(f"the features of {path} contain NaN or infinite values; check that file")
    seed_everything(cfg.seed)
    models = _build(cfg, len(classes))
    params = [p for m in models.values() for p in m.parameters()]
    for m in models.values():
        m.to(dev)
    if cfg.method == "ae":
        opt = torch.optim.Adam(params, lr=cfg.lr)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    norm = _fit_norm(feats)
    views = build_views(cfg, norm) if cfg.method != "ae" else None

    start_epoch, history = 0, []
    if status == "resume":
        ck = _load_checkpoint(out / "checkpoint.pt", meta)
        for name, m in models.items():
            m.load_state_dict(ck["models"][name])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, history = ck["epoch"] + 1, ck["history"]
        if views is not None:
            _set_aug_state(views, ck.get("aug_state", {}))

    if cfg.method == "ae":
        from .models import stack_frames

        data = torch.from_numpy(np.concatenate([stack_frames(f, cfg.ae_frames) for f in feats]).astype(np.float32))
    else:
        from .data import SegmentDataset

        data = SegmentDataset(feats, labels, segment_frames=cfg.segment_frames,
                              segments_per_clip=cfg.segments_per_clip, seed=cfg.seed)

    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"{cfg.method} {machine_type}", disable=not progress,
               initial=start_epoch, total=cfg.epochs)
    for epoch in bar:
        te = time.perf_counter()
        epoch_seed = cfg.seed * 100003 + epoch
        torch.manual_seed(epoch_seed)
        if views is not None:
            views.manual_seed(epoch_seed)
        for m in models.values():
            m.train()
        if cfg.method == "ae":
            loss_sum, n = _ae_epoch(models["ae"], opt, data, cfg, dev, epoch_seed, out, epoch)
        else:
            loss_sum, n = _contrastive_epoch(models, opt, data, views, cfg, dev, epoch, epoch_seed, out)
        row = {"epoch": epoch, "loss": loss_sum / max(n, 1), "seconds": time.perf_counter() - te}
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
        ck = {"format": RUN_FORMAT, "asdlib": __version__, "config_key": meta["config_key"], "epoch": epoch,
              "models": {k: m.state_dict() for k, m in models.items()}, "optimizer": opt.state_dict(),
              "history": history, "aug_state": _aug_state(views) if views is not None else {}}
        _atomic_torch_save(ck, out / "checkpoint.pt")
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)

    hist = pd.DataFrame(history)
    hist.to_csv(out / "history.csv", index=False)
    for m in models.values():
        m.eval()
    final = {"format": RUN_FORMAT, "asdlib": __version__, "config": cfg.to_dict(), "classes": list(classes),
             "norm": norm, "models": {k: m.to("cpu").state_dict() for k, m in models.items()}}
    if cfg.method != "ae":
        from .scoring import clip_embeddings

        enc = models["encoder"]
        emb = clip_embeddings(enc, feats, segment_frames=cfg.segment_frames, hop_frames=cfg.test_hop_frames,
                              device="cpu", normalize=_normalizer(norm))
        np.savez(out / "memory.npz", emb=emb, units=train_df["unit"].to_numpy(dtype=str),
                 paths=train_df["path"].to_numpy(dtype=str))
    _atomic_torch_save(final, out / "model.pt")
    (out / "checkpoint.pt").unlink(missing_ok=True)  # the finished model replaces it
    return TrainResult(out, "resumed" if status == "resume" else "trained", hist, time.perf_counter() - t0)


def _fit_norm(feats: Sequence[np.ndarray]) -> tuple[float, float]:
    """BYOL-A pre-normalisation statistics: one mean and std over all training log-mels."""
    allv = np.concatenate([f.reshape(-1) for f in feats])
    return float(allv.mean()), float(allv.std() + 1e-8)


def _normalizer(norm: tuple[float, float]) -> Callable[[torch.Tensor], torch.Tensor]:
    mean, std = norm
    return lambda x: (x - mean) / std


def _check_finite(loss: torch.Tensor, out: Path, epoch: int, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingError(
            f"the training loss became {loss.item()} at epoch {epoch}, step {step} (run {out}). "
            "Nothing was saved from this epoch; the last good checkpoint is kept. "
            "Lower the learning rate (lr) or check the input features for silent / broken clips.")


def _ae_epoch(ae, opt, data: torch.Tensor, cfg, dev, epoch_seed: int, out: Path, epoch: int):
    g = torch.Generator().manual_seed(epoch_seed)
    order = torch.randperm(len(data), generator=g)
    loss_sum, n = 0.0, 0
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
    return loss_sum, n


def _contrastive_epoch(models, opt, data, views, cfg, dev, epoch, epoch_seed, out):
    from . import losses
    from .augment import make_views

    enc = models["encoder"]
    data.set_epoch(epoch)
    g = torch.Generator().manual_seed(epoch_seed)
    loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         generator=g, num_workers=0)
    loss_sum, n = 0.0, 0
    for step, (x, y) in enumerate(loader):
        x = x.to(dev)  # dB log-mel; the view pipeline ends with the pre-normalisation
        y = y.to(dev)
        v1, v2 = make_views(x, views)
        if cfg.loss in ("arcface", "adacos"):  # margin classification of both views' machine IDs
            yy = torch.cat([y, y])
            loss = losses.arcface_loss(models["head"](enc(torch.cat([v1, v2])), yy), yy)
        else:
            z = models["projector"](enc(torch.cat([v1, v2])))
            z1, z2 = z[: len(x)], z[len(x):]
            if cfg.loss == "supcon":
                loss = losses.supcon(torch.stack([z1, z2], dim=1), y, temperature=cfg.temperature)
            else:
                loss = losses.nt_xent(z1, z2, temperature=cfg.temperature)
        _check_finite(loss, out, epoch, step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(x)
        n += len(x)
    return loss_sum, n


# --------------------------------------------------------------------------- scoring
def load_run(run_dir: str | Path) -> dict:
    """Read a finished run: its configuration, classes, normalisation and models."""
    run_dir = Path(run_dir)
    path = run_dir / "model.pt"
    if not path.exists():
        if (run_dir / "checkpoint.pt").exists():
            raise RunConfigError(f"run {run_dir} has not finished training (only checkpoint.pt); run `asd train` again to resume")
        raise RunConfigError(f"{run_dir} is not a trained asdlib run (no model.pt)")
    final = torch.load(path, map_location="cpu", weights_only=False)
    if final.get("format") != RUN_FORMAT or final.get("asdlib") != __version__:
        raise RunConfigError(f"run {run_dir} was written by asdlib {final.get('asdlib')} (format {final.get('format')}); "
                             f"this is asdlib {__version__}: train it again")
    cfg = MethodConfig(**final["config"])
    models = _build(cfg, len(final["classes"]))
    for k, m in models.items():
        m.load_state_dict(final["models"][k])
        m.eval()
    meta = json.loads((run_dir / "config.json").read_text())
    return {"config": cfg, "classes": final["classes"], "norm": tuple(final["norm"]), "models": models,
            "machine_type": meta["data"]["machine_type"], "run_dir": run_dir}


def score(run_dir: str | Path, df: pd.DataFrame, split: str = "test", device: str | None = None,
          progress: bool = False, use_cache: bool = True, scorer: str | None = None) -> pd.DataFrame:
    """Anomaly scores (higher = more anomalous) of the ``split`` clips of the run's machine type.

    ``ae``: mean squared reconstruction error over a clip's 5-frame vectors (official baseline).
    contrastive methods: the scorer of the config (default cosine 1-NN distance) between the
    clip embedding and the training embeddings of the *same* machine ID / section; the
    memory's domains come from its file names (training clips only). ``split="train"`` scores
    the training clips for a decision threshold: in-sample for ``ae``, leave-one-out from the
    memory for the contrastive methods (:meth:`asdlib.scoring.UnitScorer.train_scores`).
    ``scorer`` replaces the config's scorer (same trained encoder; e.g. to compare scorers).
    """
    run = load_run(run_dir)
    cfg: MethodConfig = run["config"]
    if scorer is not None and cfg.method == "ae":
        raise ValueError(f"run {run_dir} is an 'ae' run, scored by reconstruction error; scorer={scorer!r} "
                         "applies to the contrastive methods")
    test = select(df, run["machine_type"], split)
    if test.empty:
        raise ValueError(f"no {split} clips of machine type {run['machine_type']!r} in the data")
    feats = load_features(test["path"], _frontend(cfg), use_cache=use_cache, progress=progress)
    dev = pick_device(device)
    if cfg.method == "ae":
        from .models import reconstruction_error, stack_frames

        ae = run["models"]["ae"].to(dev)
        with torch.no_grad():
            scores = np.array([reconstruction_error(ae, torch.from_numpy(stack_frames(f, cfg.ae_frames).astype(np.float32)).to(dev))
                               for f in feats])
    else:
        from .data import parse_filename
        from .scoring import clip_embeddings, make_scorer

        mem = np.load(Path(run_dir) / "memory.npz")
        name = scorer or cfg.scorer
        scorer = make_scorer(name, **({"k": cfg.k} if name.startswith("knn") else {}))
        scorer.fit(mem["emb"], list(mem["units"]), [parse_filename(p)["domain"] for p in mem["paths"]])
        if split == "train":  # leave-one-out scores of the memory, matched by <type>/<split>/<name>
            key = lambda p: "/".join(Path(str(p)).parts[-3:])  # noqa: E731
            loo = pd.Series(scorer.train_scores(), index=[key(p) for p in mem["paths"]])
            scores = loo.reindex([key(p) for p in test["path"]]).to_numpy()
            if np.isnan(scores).any():
                raise RunConfigError(f"run {run_dir}: training clips of the data are not in the run's memory "
                                     f"(e.g. {test['path'][np.isnan(scores)].iloc[0]}); train it on this data")
        else:
            emb = clip_embeddings(run["models"]["encoder"].to(dev), feats, segment_frames=cfg.segment_frames,
                                  hop_frames=cfg.test_hop_frames, device=str(dev), normalize=_normalizer(run["norm"]))
            scores = scorer.score(emb, list(test["unit"].astype(str)))
    out = test[["path", "layout", "machine_type", "unit", "domain", "label"]].copy()
    out["score"] = np.asarray(scores, dtype=float)
    return out


# --------------------------------------------------------------------------- the whole pipeline
def run_pipeline(
    data_root: str | Path | pd.DataFrame,
    method: str,
    out: str | Path,
    machines: Iterable[str] | None = None,
    device: str | None = None,
    force: bool = False,
    progress: bool = True,
    use_cache: bool = True,
    **overrides,
) -> pd.DataFrame:
    """Train, score and evaluate ``method`` on every machine type (or ``machines``).

    Writes ``out/<type>/`` run directories, ``out/scores.csv``, ``out/results.csv`` and, for
    DCASE 2022 data, ``out/official_score.json``. Returns the results table.
    """
    from .data import index
    from .metrics import evaluate

    cfg = method_config(method, **overrides)
    df = data_root if isinstance(data_root, pd.DataFrame) else index(data_root)
    types = sorted(df["machine_type"].unique())
    wanted = list(machines) if machines else types
    missing = [m for m in wanted if m not in types]
    if missing:
        raise ValueError(f"machine type(s) {', '.join(missing)} not in the data; found: {', '.join(types)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    all_scores = []
    for mt in wanted:
        train(df, mt, cfg, out / mt, device=device, force=force, progress=progress, use_cache=use_cache)
        s = score(out / mt, df, device=device, use_cache=use_cache)
        s.to_csv(out / mt / "scores.csv", index=False)
        all_scores.append(s)
    scores = pd.concat(all_scores, ignore_index=True)
    scores.to_csv(out / "scores.csv", index=False)
    results = evaluate(scores, method=method)
    results.to_csv(out / "results.csv", index=False)
    official = results[results["unit"] == "official"]
    if len(official):
        (out / "official_score.json").write_text(json.dumps(
            {"method": method, "official_score": float(official["auc"].iloc[0]),
             "definition": "harmonic mean of AUC_source, AUC_target and pAUC over all types and sections"}, indent=2))
    return results
