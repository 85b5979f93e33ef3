"""What the methods *are*: ``ae``, ``contrastive``, ``contrastive-hf`` and the training-free references.

Explained in chapter 4 (``book/04_autoencoder_baseline.ipynb``: ``ae``), chapter 5
(``book/05_views.ipynb``: the views) and chapter 6 (``book/06_contrastive.ipynb``: the
contrastive methods). :class:`MethodConfig` holds every setting of a run, with one
:class:`asdlib.features.FrontEndConfig` for the log-mel front end, and checks every field's
type and range when it is made, naming the setting. :func:`build_models` and
:func:`build_views` turn a configuration into the modules that :mod:`asdlib.train` trains.

The defaults are *ours* (the paper does not publish them). ``ae`` follows the official DCASE
2020 baseline (64 mels, 5 frames, dense autoencoder, MSE, Adam lr 1e-3, batch 512); its official
schedule is 100 epochs. ``knn-stats`` and ``gmm-stats`` train nothing: they compare each clip's
mean log-mel (DCASE 128-mel front end) with those of the normal training clips of the same
machine ID / section (k-NN distance, or a Gaussian mixture's negative log-likelihood), the
training-free references DCASE papers calibrate with (chapter 7).

**Outlier exposure as the literature does it** (chapter 6). The contrastive methods train, by
default, *one encoder shared by every machine type* of a data set (``encoder="shared"``): its
classes are all (machine type, machine ID / section) pairs of the training data, so the other
types' units are outliers too, as in STgram-MFN, Noisy-ArcMix and the ASD toolkit ASDKit.
``encoder="per-type"`` trains one encoder per machine type (the ablation). ``ae`` and the
training-free references are always per type, as the official baseline. Scoring stays per
(machine type, unit) in both cases.

**Training length chosen on normal clips only** (chapter 6). ``select_epoch="val"`` (default for
the contrastive methods) holds out ``val_fraction`` of every unit's normal training clips
(seeded by ``seed``; test clips never), measures after every epoch how far, on average, the
held-out clips' embeddings are closer to the nearest other training clip of their own
(machine type, unit) than to the nearest of another (``val_margin``, the mean cosine margin;
ties broken by ``val_acc``, the share whose nearest training clip is of their own class) and
keeps the best epoch's weights (``patience`` > 0 stops early). The margin comes first because
the share, counted over a few dozen held-out clips, changes from epoch to epoch by no more than
its own sampling noise (``benchmarks/bench_val_criterion.py``, :func:`asdlib.train._better`).
The best epoch is kept only when the margin's profile over the epochs is reproducible on the
held-out clips (split-half reliability >= 0.7, :func:`asdlib.train.criterion_reliability`);
otherwise the last epoch is (recorded in the run's ``selection``). Why the default: the issue's measurements showed the fixed schedule stopping
far too early on real data; a criterion that needs no anomalies lets a longer schedule keep its
best epoch, and the recorded curve shows whether training was long enough (best epoch = last
epoch: train longer). ``select_epoch="last"`` keeps the last weights (the official baseline's
way); with ``val_fraction=0`` nothing is held out.

**The cutoff chosen from the data** (chapter 9, beyond the paper). ``hf_cutoff_hz="auto"``
(``asd run --set hf_cutoff_hz=auto``) gives every machine type its own cutoff, computed by the
trainer from that type's *normal training clips only* with :func:`asdlib.augment.auto_cutoff`:
the centre of the lowest mel band above which every band's between-clip variance of per-clip
band means is at least its mean within-clip frame variance (the threshold 1 was fixed before any
test score was seen). The cutoffs are recorded in the run (``config.json`` ``hf_cutoffs``, Hz
per type; :func:`asdlib.augment.auto_cutoffs` recomputes them from an index). A shared encoder
alters each clip above its own type's cutoff (:func:`cutoff_bin_table`). With
``hf_role="suppression"`` the cutoff also applies at scoring time, to every clip alike, so
``"auto"`` there needs ``encoder="per-type"``.

**Presets** (:data:`PRESETS`, :func:`preset`): named groups of settings. ``dcase`` is the GPU
recipe for real DCASE data (see :data:`PRESETS` for its sources).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from .features import FrontEndConfig

METHODS: tuple[str, ...] = ("ae", "contrastive", "contrastive-hf", "knn-stats", "gmm-stats")
#: training-free references: statistics of each clip's log-mel against the normal training clips
#: of the same machine ID / section (no model is trained; how DCASE papers calibrate a data set)
TRAINING_FREE: tuple[str, ...] = ("knn-stats", "gmm-stats")
#: the methods that train an encoder with two views
CONTRASTIVE: tuple[str, ...] = ("contrastive", "contrastive-hf")
#: contrastive losses (over two views) and margin classification losses (over machine IDs / sections)
LOSSES: tuple[str, ...] = ("supcon", "ntxent", "arcface", "adacos")
#: ``hf_band="high"`` is the paper's augmentation; ``"low"`` the control of chapter 9
HF_BANDS: tuple[str, ...] = ("high", "low")
#: epochs when ``epochs`` is not given
DEFAULT_EPOCHS: dict[str, int] = {"ae": 100, "contrastive": 10, "contrastive-hf": 10, "knn-stats": 1,
                                   "gmm-stats": 1}
#: one encoder for all machine types of the data ("shared", outlier exposure over every (type, unit)),
#: or one per machine type ("per-type"); ``ae`` and the training-free references are always per type
ENCODERS: tuple[str, ...] = ("shared", "per-type")
#: arithmetic of the contrastive methods' training steps: "float32" (default), or "bfloat16" for the
#: encoder's and head's forward pass under ``torch.autocast`` (mixed precision: weights, optimiser,
#: loss and batch statistics of the stem stay float32; scoring is always float32). On this project's
#: 2-core CPU (AVX512-BF16) about 1.2x the float32 training steps per second when the two are timed
#: side by side (``benchmarks/bench_train.py --precision bfloat16``), but one 10-epoch trainer run
#: per precision took as long per epoch with two threads; not measured on a GPU. The book trains in
#: float32; bfloat16's effect on the results is not measured here (the training loss of one run
#: followed float32's to 0.01).
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
#: which weights a contrastive run keeps: the best epoch on held-out normal clips, or the last
SELECT_EPOCH: tuple[str, ...] = ("val", "last")
#: front-end fields accepted as flat settings (``--set n_mels=128``)
FRONTEND_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FrontEndConfig))


def default_frontend(method: str = "contrastive-hf") -> FrontEndConfig:
    """The front end of ``method`` when none is given.

    64 mels for the trained methods (BYOL-A's 64 bands: half the compute of the 128-band DCASE
    front end; the official AE uses 64 too); the DCASE 128-mel front end for the training-free
    references (the statistics the synthetic data's difficulty was calibrated with).
    """
    return FrontEndConfig() if method in TRAINING_FREE else FrontEndConfig(n_mels=64)


@dataclass
class MethodConfig:
    """Every setting of a training run (see the module docstring for the defaults' origin)."""

    method: str = "contrastive-hf"
    seed: int = 0
    epochs: int | None = None  # None = DEFAULT_EPOCHS[method]
    frontend: FrontEndConfig | None = None  # None = default_frontend(method)
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
    stem: str = "patch"  # models.STEMS: "patch" (4x4 / 4 conv) or "conv-pool" (the ResNet stem of asdlib 0.1)
    precision: str = "float32"  # PRECISIONS: "bfloat16" trains the encoder's forward pass in bfloat16 autocast
    emb_dim: int = 128
    proj_dim: int = 64
    mixup_ratio: float = 0.4
    resize_crop: bool = True
    hf_mode: str = "gain"
    hf_cutoff_hz: float | str = 2000.0  # Hz, or "auto": one cutoff per machine type (augment.auto_cutoff)
    hf_p: float = 1.0
    hf_strength: float = 1.0
    hf_band: str = "high"
    hf_role: str = "invariance"  # what the altered views are for: augment.HF_ROLES (our default: invariance)
    scorer: str = "knn-auto"  # scoring.SCORERS; knn-auto: as "knn" without target training clips (see scoring)
    k: int = 1
    test_hop_frames: int = 32
    encoder: str | None = None  # None = "shared" for the contrastive methods, else "per-type"
    select_epoch: str | None = None  # None = "val" for the contrastive methods, else "last"
    val_fraction: float = 0.1  # of each unit's normal training clips, held out for select_epoch
    patience: int = 0  # stop after this many epochs without a better val_margin / val_acc (0: never)
    # autoencoder baseline
    ae_frames: int = 5
    ae_batch_size: int = 512
    # training-free references
    gmm_components: int = 2
    # filled by the trainer, not a setting: the cutoffs {machine type: Hz} that hf_cutoff_hz="auto" resolved to
    hf_cutoffs: dict | None = None

    def __post_init__(self) -> None:
        _choice("method", self.method, METHODS)
        if self.frontend is None:
            self.frontend = default_frontend(self.method)
        if isinstance(self.frontend, Mapping):
            self.frontend = FrontEndConfig(**self.frontend)
        if not isinstance(self.frontend, FrontEndConfig):
            raise ValueError(f"setting frontend must be a FrontEndConfig, got {self.frontend!r}")
        if self.epochs is None:
            self.epochs = DEFAULT_EPOCHS[self.method]
        contrastive = self.method in CONTRASTIVE
        if self.encoder is None:
            self.encoder = "shared" if contrastive else "per-type"
        if self.select_epoch is None:
            self.select_epoch = "val" if contrastive else "last"
        _choice("encoder", self.encoder, ENCODERS)
        from .models import STEMS

        _choice("stem", self.stem, STEMS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("select_epoch", self.select_epoch, SELECT_EPOCH)
        if not contrastive and self.encoder != "per-type":
            raise ValueError(f"setting encoder={self.encoder!r}: method {self.method!r} trains one model per machine "
                             "type (as the official baseline); only the contrastive methods share an encoder")
        if not contrastive and self.precision != "float32":
            raise ValueError(f"setting precision={self.precision!r}: method {self.method!r} trains in float32; "
                             "bfloat16 is an option of the contrastive methods' encoders")
        if not contrastive and self.select_epoch != "last":
            raise ValueError(f"setting select_epoch={self.select_epoch!r}: method {self.method!r} keeps its last "
                             "epoch (as the official baseline); validation epochs are for the contrastive methods")
        for name, lo in (("seed", 0), ("epochs", 1), ("segment_frames", 1), ("segments_per_clip", 1),
                         ("batch_size", 2), ("width", 1), ("depth", 1), ("emb_dim", 1), ("proj_dim", 1),
                         ("k", 1), ("test_hop_frames", 1), ("ae_frames", 1), ("ae_batch_size", 2),
                         ("gmm_components", 1), ("patience", 0)):
            setattr(self, name, _integer(name, getattr(self, name), lo))
        for name, lo, hi, lo_open in (("lr", 0.0, None, True), ("weight_decay", 0.0, None, False),
                                      ("temperature", 0.0, None, True), ("mixup_ratio", 0.0, 1.0, False),
                                      ("hf_p", 0.0, 1.0, False), ("hf_strength", 0.0, None, False),
                                      ("val_fraction", 0.0, 0.5, False)):
            setattr(self, name, _number(name, getattr(self, name), lo, hi, lo_open))
        self._check_cutoff()
        if self.select_epoch == "val" and self.val_fraction == 0:
            raise ValueError("setting select_epoch='val' needs held-out clips: val_fraction must be > 0 "
                             "(or select_epoch='last')")
        if self.patience and self.select_epoch != "val":
            raise ValueError(f"setting patience={self.patience} stops on the validation criterion: "
                             "it needs select_epoch='val'")
        if not isinstance(self.resize_crop, bool):
            raise ValueError(f"setting resize_crop must be true or false, got {self.resize_crop!r}")
        from .augment import BAND_MODES, HF_ROLES
        from .scoring import SCORERS

        _choice("loss", self.loss, LOSSES)
        _choice("hf_mode", self.hf_mode, BAND_MODES)
        _choice("hf_band", self.hf_band, HF_BANDS)
        _choice("hf_role", self.hf_role, HF_ROLES)
        _choice("scorer", self.scorer, tuple(SCORERS))

    def _check_cutoff(self) -> None:
        """``hf_cutoff_hz``: a frequency in (0, f_max] or ``"auto"``; ``hf_cutoffs``: only with ``"auto"``."""
        from .augment import AUTO_CUTOFF

        f_max = self.frontend.f_max
        if isinstance(self.hf_cutoff_hz, str):
            if self.hf_cutoff_hz != AUTO_CUTOFF:
                raise ValueError(f"setting hf_cutoff_hz must be a number > 0 and <= {f_max:g} (Hz) or {AUTO_CUTOFF!r} "
                                 f"(one cutoff per machine type, from its normal training clips), "
                                 f"got {self.hf_cutoff_hz!r}")
        else:
            self.hf_cutoff_hz = _number("hf_cutoff_hz", self.hf_cutoff_hz, 0.0, f_max, True)
        if self.hf_cutoffs is not None:
            if self.hf_cutoff_hz != AUTO_CUTOFF:
                raise ValueError("setting hf_cutoffs is filled by the trainer for hf_cutoff_hz='auto' only; "
                                 f"got it with hf_cutoff_hz={self.hf_cutoff_hz!r}")
            if not isinstance(self.hf_cutoffs, Mapping) or not self.hf_cutoffs:
                raise ValueError(f"setting hf_cutoffs must map machine types to Hz, got {self.hf_cutoffs!r}")
            self.hf_cutoffs = {str(k): _number(f"hf_cutoffs[{k!r}]", v, 0.0, f_max, True)
                               for k, v in sorted(self.hf_cutoffs.items())}
        if (self.method == "contrastive-hf" and self.hf_cutoff_hz == AUTO_CUTOFF and self.hf_role == "suppression"
                and self.encoder != "per-type"):
            raise ValueError("setting hf_cutoff_hz='auto' with hf_role='suppression' needs encoder='per-type': "
                             "suppression applies one low-pass to every scored clip, and a shared encoder's types "
                             "have cutoffs of their own (or give a fixed hf_cutoff_hz)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MethodConfig":
        """The configuration saved by :meth:`to_dict` (in ``config.json`` and ``model.pt``)."""
        return cls(**dict(d))

    def relevant(self) -> dict:
        """The fields that influence this method (others are left out of the key)."""
        d = self.to_dict()
        ae_only = {"ae_frames", "ae_batch_size"}
        selection = {"encoder", "select_epoch", "val_fraction", "patience"}  # the contrastive methods' only
        hf_only = {"hf_mode", "hf_cutoff_hz", "hf_p", "hf_strength", "hf_band", "hf_role"}
        if self.method == "ae":
            keep = {"method", "seed", "epochs", "frontend", "lr"} | ae_only
        elif self.method == "knn-stats":
            keep = {"method", "frontend", "k", "scorer"}
        elif self.method == "gmm-stats":
            keep = {"method", "frontend", "seed", "gmm_components"}
        else:
            keep = set(d) - ae_only - {"gmm_components"} - (hf_only if self.method == "contrastive" else set())
        if self.method not in CONTRASTIVE:
            keep -= selection
        keep.discard("hf_cutoffs")  # resolved from the data, which the run's fingerprint covers
        return {k: v for k, v in d.items() if k in keep}

    def key(self) -> str:
        """A short hash of :meth:`relevant` (12 hex characters)."""
        return hashlib.sha1(json.dumps(self.relevant(), sort_keys=True).encode()).hexdigest()[:12]


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)} "
                         f"(setting {name})")


def _integer(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"setting {name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def _number(name: str, value: object, lo: float, hi: float | None, lo_open: bool) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and (value > lo if lo_open else value >= lo) and (hi is None or value <= hi))
    if not ok:
        rng = f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
        what = "a positive finite number" if (lo_open and lo == 0 and hi is None) else f"a number {rng}"
        raise ValueError(f"setting {name} must be {what}, got {value!r}")
    return float(value)


def setting_names() -> list[str]:
    """Every name :func:`method_config` accepts (front-end fields included)."""
    return sorted({f.name for f in dataclasses.fields(MethodConfig)} - {"frontend", "method", "hf_cutoffs"}
                  | set(FRONTEND_FIELDS))


def method_config(method: str, **overrides: Any) -> MethodConfig:
    """A :class:`MethodConfig` for ``method`` with keyword overrides.

    Front-end fields (``sr``, ``n_fft``, ``hop_length``, ``n_mels``, ...) go into the
    configuration's :class:`~asdlib.features.FrontEndConfig`. Unknown keys are an error.
    """
    names = set(setting_names())
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(names)}")
    fe_over = {k: overrides.pop(k) for k in list(overrides) if k in FRONTEND_FIELDS}
    if fe_over:
        _choice("method", method, METHODS)
        try:
            overrides["frontend"] = dataclasses.replace(default_frontend(method), **fe_over)
        except (ValueError, TypeError) as err:
            raise ValueError(f"setting {', '.join(sorted(fe_over))}: {err}") from None
    return MethodConfig(method=method, **overrides)


# --------------------------------------------------------------------------- presets
#: Named groups of settings (``asd run --preset NAME``; ``--set`` still overrides any of them).
#:
#: ``dcase``: the GPU recipe for real DCASE data, sized after two open systems that train one model
#: for all machine types (their settings are cited here as published, not reproduced by us):
#: STgram-MFN (github.com/liuyoude/STgram-MFN, ``config.yaml``: 128 mels, n_fft 1024, hop 512,
#: batch 128, Adam lr 1e-4, ArcFace over every machine type x ID) and ASDKit
#: (github.com/TakuyaFujimura/dcase-asd-toolkit: ``config/train/datamodule/basic.yaml`` batch 64,
#: ``config/train/trainer/default.yaml`` 16 epochs, ``config/train/frontend/dis_multiresnet_1024.yaml``
#: AdamW lr 1e-3, one model for all machines). Ours: one encoder shared by all machine types (classes:
#: every machine type x ID / section); the DCASE 128-mel front end; batch 64, AdamW lr 1e-3; a wider
#: encoder (width 64: about 4x the parameters of width 32, "width 64+ on a GPU" in
#: :class:`asdlib.models.Encoder`); 64 epochs of 4 segments of 64 frames per clip (about 0.8 of a
#: 313-frame clip per epoch, about 50 passes over the data, between ASDKit's 16 and STgram-MFN's 500),
#: keeping the best epoch on held-out normal clips (``select_epoch="val"``, ``patience=16``). The loss
#: stays this book's supervised contrastive loss (``--set loss=arcface`` / ``adacos`` for the margin
#: losses of those systems). Measured here: that the preset resolves and trains on tiny synthetic
#: data on CPU (``tests/test_shared.py``, one epoch). Not measured: its AUCs on real DCASE data and
#: its run time on a GPU (no GPU was available while it was written).
PRESETS: dict[str, dict[str, Any]] = {
    "dcase": {"method": "contrastive-hf", "encoder": "shared", "n_mels": 128, "width": 64, "depth": 4,
              "emb_dim": 128, "proj_dim": 64, "batch_size": 64, "lr": 1e-3, "weight_decay": 1e-4,
              "epochs": 64, "segments_per_clip": 4, "select_epoch": "val", "val_fraction": 0.1, "patience": 16},
}


def preset_settings(name: str, method: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(method, settings)`` of preset ``name``; ``method`` replaces the preset's (contrastive methods only)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    settings = dict(PRESETS[name])
    chosen = method or settings.pop("method")
    settings.pop("method", None)
    if chosen not in CONTRASTIVE:
        raise ValueError(f"preset {name!r} configures a shared contrastive encoder; method {chosen!r} is not one "
                         f"of {', '.join(CONTRASTIVE)}")
    return chosen, settings


def preset(name: str, method: str | None = None, **overrides: Any) -> MethodConfig:
    """The :class:`MethodConfig` of preset ``name`` (:data:`PRESETS`), with keyword overrides on top."""
    chosen, settings = preset_settings(name, method)
    return method_config(chosen, **{**settings, **overrides})


# --------------------------------------------------------------------------- builders
def build_optimizer(cfg: MethodConfig, params: list, device: torch.device | str = "cpu") -> torch.optim.Optimizer:
    """The trainer's optimiser: Adam for ``ae`` (the DCASE baseline's), AdamW for the encoders.

    Fused on the CPU and CUDA (one kernel per step for every parameter; the same update).
    ``benchmarks/bench_train.py`` builds its optimiser here too, so it times what the trainer runs.
    """
    fused = torch.device(device).type in ("cpu", "cuda")
    if cfg.method == "ae":
        return torch.optim.Adam(params, lr=cfg.lr, fused=fused)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def build_models(cfg: MethodConfig, n_classes: int) -> dict[str, nn.Module]:
    """The modules a run trains: ``{"ae"}``, ``{"encoder", "projector"}``, ``{"encoder", "head"}`` or none."""
    from .models import AdaCosHead, ArcMarginHead, AutoEncoder, Encoder, ProjectionHead

    n_mels = cfg.frontend.n_mels
    if cfg.method in TRAINING_FREE:
        return {}
    if cfg.method == "ae":
        return {"ae": AutoEncoder(n_mels=n_mels, frames=cfg.ae_frames)}
    enc = Encoder(n_mels=n_mels, width=cfg.width, depth=cfg.depth, emb_dim=cfg.emb_dim, stem=cfg.stem)
    if cfg.loss in ("arcface", "adacos"):
        if cfg.method == "contrastive-hf" and cfg.hf_role == "pseudo-anomaly":
            n_classes *= 2  # one extra class per ID / section: its copies with altered high bands
        if n_classes < 2:
            raise ValueError(f"loss {cfg.loss!r} classifies machine IDs / sections and needs at least 2 of them "
                             f"in the training data, found {n_classes}; use loss='supcon' or 'ntxent'")
        head = ArcMarginHead(cfg.emb_dim, n_classes) if cfg.loss == "arcface" else AdaCosHead(cfg.emb_dim, n_classes)
        return {"encoder": enc, "head": head}
    return {"encoder": enc, "projector": ProjectionHead(cfg.emb_dim, hidden_dim=2 * cfg.proj_dim, out_dim=cfg.proj_dim)}


def build_scorer(cfg: MethodConfig, scorer: str | None = None):
    """The scorer of a method's clip representations (:mod:`asdlib.scoring`); ``None`` for ``ae``.

    ``knn-stats``: mean Euclidean distance to the ``k`` nearest normal training clips' statistics
    of the same unit (with the ``scorer`` setting's domain handling when it is a ``knn-*``
    scorer; ``"knn"`` otherwise); ``gmm-stats``: negative log-likelihood under a
    ``gmm_components``-component diagonal Gaussian mixture of them; contrastive methods: the
    ``scorer`` setting on embeddings (cosine distance). ``scorer`` replaces the setting (e.g. to
    compare scorers on one run); the method's distance (Euclidean for the training-free
    references, cosine for embeddings) and ``k`` are kept.
    """
    from .scoring import SCORERS, make_scorer

    if cfg.method == "ae":
        return None
    if scorer is not None and scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; choose one of {', '.join(SCORERS)}")
    if cfg.method == "gmm-stats" and scorer is None:
        return make_scorer("gmm", n_components=cfg.gmm_components, seed=cfg.seed)
    name = scorer or cfg.scorer
    if cfg.method == "knn-stats" and not name.startswith("knn"):
        name = "knn"
    if not name.startswith("knn"):
        return make_scorer(name)
    metric = "euclidean" if cfg.method in TRAINING_FREE else "cosine"
    return make_scorer(name, k=cfg.k, metric=metric)


def build_views(cfg: MethodConfig, norm: tuple[float, float] | None = None):
    """The view pipeline of ``cfg`` (chapter 5), applied to dB log-mel segments; ``None`` for other methods.

    log-mixup-exp -> (``contrastive-hf`` only) the spectrum augmentation in the reading
    ``cfg.hf_role`` (``hf_band="high"``: the paper's; ``"low"``: the control) -> random resize
    crop -> pre-normalisation with the training statistics ``norm`` (see
    :func:`asdlib.augment.build_views`). With ``hf_cutoff_hz="auto"`` the band step has one
    cutoff (:func:`fixed_cutoff`) or, when the machine types' cutoffs differ, none of its own:
    every batch then passes each clip's cutoff band (:func:`cutoff_bin_table`) to
    :meth:`~asdlib.augment.ViewPipeline.draw`.
    """
    from . import augment

    if cfg.method not in CONTRASTIVE:
        return None
    band = None
    if cfg.method == "contrastive-hf":
        band = {"cutoff_hz": fixed_cutoff(cfg), "mode": cfg.hf_mode, "p": cfg.hf_p, "strength": cfg.hf_strength}
    return augment.build_views(cfg.frontend, mixup={"ratio": cfg.mixup_ratio} if cfg.mixup_ratio > 0 else False,
                               band=band, side=cfg.hf_band, hf_role=cfg.hf_role, crop=cfg.resize_crop,
                               normalizer=norm)


# --------------------------------------------------------------------------- the automatic cutoff
def resolve_cutoffs(cfg: MethodConfig, features, types) -> MethodConfig:
    """``cfg`` with ``hf_cutoffs`` filled when ``hf_cutoff_hz="auto"`` (else ``cfg`` itself).

    ``features`` are the log-mels (``cfg.frontend``) of the run's normal *training* clips and
    ``types`` their machine types: :func:`asdlib.augment.cutoffs_by_type` gives one cutoff per
    type (the rule: :func:`asdlib.augment.auto_cutoff`). The trainer calls this and records the
    result in the run (``config.json``: ``hf_cutoffs``; ``model.pt``: the configuration).
    """
    from .augment import AUTO_CUTOFF, cutoffs_by_type

    if cfg.method != "contrastive-hf" or cfg.hf_cutoff_hz != AUTO_CUTOFF:
        return cfg
    return dataclasses.replace(cfg, hf_cutoffs=cutoffs_by_type(features, types, cfg.frontend))


def fixed_cutoff(cfg: MethodConfig) -> float | None:
    """The one cutoff (Hz) of ``cfg``'s band step: ``hf_cutoff_hz``, or the common value of the
    resolved ``hf_cutoffs``; ``None`` when the cutoff is per clip (``"auto"`` with cutoffs that
    differ between machine types, or not resolved yet)."""
    from .augment import AUTO_CUTOFF

    if cfg.hf_cutoff_hz != AUTO_CUTOFF:
        return float(cfg.hf_cutoff_hz)
    values = set((cfg.hf_cutoffs or {}).values())
    return float(values.pop()) if len(values) == 1 else None


def cutoff_bin_table(cfg: MethodConfig, classes) -> "torch.Tensor | None":
    """The cutoff band of every class (``"type/unit"``, :func:`asdlib.data.unit_labels`), ``[n_classes]``,
    for a run whose cutoff is per clip (:func:`fixed_cutoff` is ``None``); ``None`` otherwise.

    ``table[y]`` gives the ``cutoff_bins`` of a batch with labels ``y``: each clip is augmented
    above its own machine type's cutoff.
    """
    import torch

    from .features import hz_to_mel_bin

    if cfg.method != "contrastive-hf" or fixed_cutoff(cfg) is not None:
        return None
    if not cfg.hf_cutoffs:
        raise ValueError("hf_cutoff_hz='auto' is not resolved yet: call methods.resolve_cutoffs with the "
                         "training clips first")
    types = [str(c).split("/", 1)[0] for c in classes]
    missing = sorted(set(types) - set(cfg.hf_cutoffs))
    if missing:
        raise ValueError(f"hf_cutoffs has no cutoff for machine type(s) {missing}")
    return torch.tensor([hz_to_mel_bin(cfg.hf_cutoffs[t], cfg.frontend) for t in types], dtype=torch.long)
