"""What a method is: its settings (:class:`MethodConfig`) and its family class (:class:`Method`).

Explained in chapter 4 (``book/04_autoencoder_baseline.ipynb``: ``ae``), chapter 5
(``book/05_views.ipynb``: the views), chapter 6 (``book/06_contrastive.ipynb``: the contrastive
methods) and chapter 7 (``book/07_dcase2020_results.ipynb``: the training-free references). A
family owns its front end, builds its models, yields its training losses, represents a clip
(``represent(features) -> [N, D]``) and names its scorer; :func:`method_for` is the registry.
The trainer (:mod:`asdlib.train`) and the scorer (:mod:`asdlib.pipeline`) call these steps and
never ask which method they have. Why the defaults are what they are: ``docs/design.md``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from . import augment, losses
from .augment import AUTO_CUTOFF, BAND_MODES, DEFAULT_CUTOFF_HZ, HF_ROLES
from .data import SegmentDataset
from .embedding import clip_embeddings, clip_statistics, reconstruction_scores
from .features import FrontEndConfig, hz_to_mel_bin
from .models import STEMS, AdaCosHead, ArcMarginHead, AutoEncoder, Encoder, ProjectionHead, stack_frames
from .scoring import SCORERS, ErrorScorer, UnitScorer, make_scorer

#: contrastive losses (over two views) and margin classification losses (over machine IDs / sections)
LOSSES: tuple[str, ...] = ("supcon", "ntxent", "arcface", "adacos")
#: ``hf_band="high"`` is the paper's augmentation; ``"low"`` the control of chapter 9
HF_BANDS: tuple[str, ...] = ("high", "low")
#: one encoder for all machine types of the data ("shared": outlier exposure over every (type, unit)),
#: or one per machine type ("per-type"); the autoencoder and the references are always per type
ENCODERS: tuple[str, ...] = ("shared", "per-type")
#: arithmetic of an encoder's training forward pass: "float32", or "bfloat16" under ``torch.autocast``
#: (weights, optimiser and loss stay float32; scoring is always float32)
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
#: which weights an encoder run keeps: the best epoch on held-out normal clips, or the last
SELECT_EPOCH: tuple[str, ...] = ("val", "last")
#: front-end fields accepted as flat settings (``--set n_mels=128``)
FRONTEND_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(FrontEndConfig))


@dataclass
class MethodConfig:
    """Every setting of a training run (see the module docstring for the defaults' origin)."""

    method: str = "contrastive-hf"
    seed: int = 0
    epochs: int | None = None  # None = the method's default_epochs
    frontend: FrontEndConfig | None = None  # None = the method's default front end
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
    stem: str = "patch"  # models.STEMS: "patch" (4x4 / 4 conv) or "conv-pool" (a ResNet stem)
    precision: str = "float32"  # PRECISIONS: "bfloat16" trains the encoder's forward pass in bfloat16 autocast
    emb_dim: int = 128
    proj_dim: int = 64
    mixup_ratio: float = 0.4
    resize_crop: bool = True
    hf_mode: str = "gain"
    hf_cutoff_hz: float | str = DEFAULT_CUTOFF_HZ  # Hz, or "auto": one cutoff per machine type (augment.auto_cutoff)
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
        family = family_of(self.method)
        if self.frontend is None:
            self.frontend = family.default_frontend()
        if isinstance(self.frontend, Mapping):
            self.frontend = FrontEndConfig(**self.frontend)
        if not isinstance(self.frontend, FrontEndConfig):
            raise ValueError(f"setting frontend must be a FrontEndConfig, got {self.frontend!r}")
        if self.epochs is None:
            self.epochs = family.default_epochs
        contrastive = family.encoder
        if self.encoder is None:
            self.encoder = "shared" if contrastive else "per-type"
        if self.select_epoch is None:
            self.select_epoch = "val" if contrastive else "last"
        _choice("encoder", self.encoder, ENCODERS)
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
        self._check_cutoff(family)
        if self.select_epoch == "val" and self.val_fraction == 0:
            raise ValueError("setting select_epoch='val' needs held-out clips: val_fraction must be > 0 "
                             "(or select_epoch='last')")
        if self.patience and self.select_epoch != "val":
            raise ValueError(f"setting patience={self.patience} stops on the validation criterion: "
                             "it needs select_epoch='val'")
        if not isinstance(self.resize_crop, bool):
            raise ValueError(f"setting resize_crop must be true or false, got {self.resize_crop!r}")
        _choice("loss", self.loss, LOSSES)
        _choice("hf_mode", self.hf_mode, BAND_MODES)
        _choice("hf_band", self.hf_band, HF_BANDS)
        _choice("hf_role", self.hf_role, HF_ROLES)
        _choice("scorer", self.scorer, tuple(SCORERS))

    def _check_cutoff(self, family: type["Method"]) -> None:
        """``hf_cutoff_hz``: a frequency in (0, f_max] or ``"auto"``; ``hf_cutoffs``: only with ``"auto"``."""
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
        if (family.alters_band and self.hf_cutoff_hz == AUTO_CUTOFF and self.hf_role == "suppression"
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
        keep = family_of(self.method).relevant_settings(set(d)) - {"hf_cutoffs"}  # hf_cutoffs: from the data
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

    Args:
        method: a method name (:func:`method_for`).
        **overrides: settings; front-end fields (``sr``, ``n_fft``, ``hop_length``, ``n_mels``, ...)
            go into the configuration's :class:`~asdlib.features.FrontEndConfig`.

    Raises:
        ValueError: for an unknown key.
    """
    names = set(setting_names())
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {sorted(names)}")
    fe_over = {k: overrides.pop(k) for k in list(overrides) if k in FRONTEND_FIELDS}
    if fe_over:
        try:
            overrides["frontend"] = dataclasses.replace(default_frontend(method), **fe_over)
        except (ValueError, TypeError) as err:
            raise ValueError(f"setting {', '.join(sorted(fe_over))}: {err}") from None
    return MethodConfig(method=method, **overrides)


# --------------------------------------------------------------------------- presets
#: Named groups of settings (``asd run --preset NAME``; ``--set`` still overrides any of them).
#: ``dcase``: a GPU recipe for real DCASE data, one encoder for every machine type, sized after
#: STgram-MFN and ASDKit (their published settings and our choices: ``docs/design.md``).
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
    if not family_of(chosen).encoder:
        raise ValueError(f"preset {name!r} configures a shared contrastive encoder; method {chosen!r} is not one "
                         f"of {', '.join(CONTRASTIVE)}")
    return chosen, settings


def preset(name: str, method: str | None = None, **overrides: Any) -> MethodConfig:
    """The :class:`MethodConfig` of preset ``name`` (:data:`PRESETS`), with keyword overrides on top."""
    chosen, settings = preset_settings(name, method)
    return method_config(chosen, **{**settings, **overrides})




# --------------------------------------------------------------------------- the families
_AE_ONLY = frozenset({"ae_frames", "ae_batch_size"})
_SELECTION = frozenset({"encoder", "select_epoch", "val_fraction", "patience"})
_BAND = frozenset({"hf_mode", "hf_cutoff_hz", "hf_p", "hf_strength", "hf_band", "hf_role"})


class Method:
    """Base class of a method family; subclasses override the steps.

    Args:
        cfg: the run's settings.

    After :meth:`build` (or :func:`asdlib.runs.load_run`), ``models`` holds the modules and
    ``norm`` the pre-normalisation ``(mean, std)`` of the training clips (``None`` if unused).
    """

    frontend_settings: dict = {"n_mels": 64}  # the default front end: FrontEndConfig(**this)
    default_epochs = 1
    trains = True  # has weights to optimise
    encoder = False  # trains an encoder: may be shared by machine types, validated, in bfloat16
    alters_band = False  # the spectrum augmentation of the paper (contrastive-hf)

    def __init__(self, cfg: "MethodConfig") -> None:
        self.cfg = cfg
        self.models: dict[str, nn.Module] = {}
        self.norm: tuple[float, float] | None = None

    @classmethod
    def default_frontend(cls) -> FrontEndConfig:
        return FrontEndConfig(**cls.frontend_settings)

    @classmethod
    def relevant_settings(cls, names: set[str]) -> set[str]:
        """Which of the setting ``names`` influence this family's results."""
        raise NotImplementedError

    def resolve(self, features: Sequence[np.ndarray], types: Sequence[str]) -> "MethodConfig":
        """The settings with what is computed from the training clips filled in (default: none)."""
        return self.cfg

    def build(self, n_classes: int) -> "Method":
        """Make ``models`` for ``n_classes`` training classes (machine type x unit); returns ``self``."""
        self.models = {}
        return self

    def optimizer(self, device: torch.device | str = "cpu") -> torch.optim.Optimizer:
        """AdamW over ``models``' parameters, fused on CPU and CUDA."""
        return torch.optim.AdamW(self._params(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay,
                                 fused=_fused(device))

    def _params(self) -> list:
        return [p for m in self.models.values() for p in m.parameters()]

    def views(self, norm: tuple[float, float] | None = None) -> augment.ViewPipeline | None:
        """The view pipeline of the training batches (chapter 5); ``None`` for single-view methods."""
        return None

    def training_data(self, features: Sequence[np.ndarray], labels: np.ndarray, note: str = "") -> tuple[Any, str]:
        """What one epoch draws its batches from, and a phrase that counts it (for errors; ``note``
        is added inside its parentheses)."""
        raise NotImplementedError

    def steps_per_epoch(self, n_items: int) -> int:
        return n_items // self.cfg.batch_size  # full batches only

    batch_setting = "batch_size"

    def batch_losses(self, data: Any, views: Any, epoch: int, epoch_seed: int,
                     device: torch.device) -> Iterator[tuple[torch.Tensor, int]]:
        """One epoch's ``(loss, batch size)``, batch by batch; the trainer takes the optimiser step."""
        raise NotImplementedError

    def represent(self, features: Sequence[np.ndarray], device: torch.device | str = "cpu",
                  paths: Sequence[str] | None = None) -> np.ndarray:
        """One row per clip, ``[N, D]``: what the scorer compares (``paths`` name clips in errors)."""
        raise NotImplementedError

    def scorer(self, name: str | None = None) -> UnitScorer:
        """The scorer of :meth:`represent`'s rows; ``name`` replaces the ``scorer`` setting."""
        name = self._scorer_name(name)
        if not name.startswith("knn"):
            return make_scorer(name)
        return make_scorer(name, k=self.cfg.k, metric=self.distance)

    distance = "cosine"

    def _scorer_name(self, name: str | None) -> str:
        if name is not None and name not in SCORERS:
            raise ValueError(f"unknown scorer {name!r}; choose one of {', '.join(SCORERS)}")
        return name or self.cfg.scorer

    def cutoff_bins(self, classes: Sequence[str]) -> torch.Tensor | None:
        """Each class's cutoff band when the cutoff differs between machine types, else ``None``."""
        return None


def _fused(device: torch.device | str) -> bool:
    return torch.device(device).type in ("cpu", "cuda")


class AutoEncoderMethod(Method):
    """``ae``: the DCASE 2020 baseline, a dense autoencoder on 5-frame vectors; score = its error."""

    default_epochs = 100
    batch_setting = "ae_batch_size"

    @classmethod
    def relevant_settings(cls, names: set[str]) -> set[str]:
        return {"method", "seed", "epochs", "frontend", "lr"} | _AE_ONLY

    def build(self, n_classes: int) -> "Method":
        self.models = {"ae": AutoEncoder(n_mels=self.cfg.frontend.n_mels, frames=self.cfg.ae_frames)}
        return self

    def optimizer(self, device: torch.device | str = "cpu") -> torch.optim.Optimizer:
        """Adam, as the official baseline."""
        return torch.optim.Adam(self._params(), lr=self.cfg.lr, fused=_fused(device))

    def training_data(self, features, labels, note: str = "") -> tuple[Any, str]:
        frames = self.cfg.ae_frames
        data = torch.from_numpy(np.concatenate([stack_frames(f, frames) for f in features]).astype(np.float32))
        return data, f"{len(data)} training vectors ({len(features)} clips x frames, ae_frames={frames}{note})"

    def steps_per_epoch(self, n_items: int) -> int:
        bs = self.cfg.ae_batch_size
        return sum(1 for i in range(0, n_items, bs) if min(bs, n_items - i) >= 2)

    def batch_losses(self, data, views, epoch, epoch_seed, device):
        ae, bs = self.models["ae"], self.cfg.ae_batch_size
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(epoch_seed))
        for i in range(0, len(data), bs):
            xb = data[order[i:i + bs]].to(device)
            if len(xb) >= 2:
                yield torch.nn.functional.mse_loss(ae(xb), xb), len(xb)

    def represent(self, features, device="cpu", paths=None) -> np.ndarray:
        """The clip's mean squared reconstruction error over its vectors, ``[N, 1]``."""
        ae = self.models["ae"].to(device)
        return reconstruction_scores(ae, features, self.cfg.ae_frames, paths=paths)[:, None]

    def scorer(self, name: str | None = None) -> UnitScorer:
        if name is not None:
            raise ValueError(f"an 'ae' run, scored by reconstruction error; scorer={name!r} applies to the methods "
                             "that score against a memory of training clips")
        return ErrorScorer()


class ContrastiveMethod(Method):
    """``contrastive``: an encoder trained on two views of each clip (SupCon, NT-Xent or a margin head)."""

    default_epochs = 10
    encoder = True

    @classmethod
    def relevant_settings(cls, names: set[str]) -> set[str]:
        return set(names) - _AE_ONLY - {"gmm_components"} - (set() if cls.alters_band else _BAND)

    def head_classes(self, n_classes: int) -> int:
        return n_classes

    def build(self, n_classes: int) -> "Method":
        cfg = self.cfg
        enc = Encoder(n_mels=cfg.frontend.n_mels, width=cfg.width, depth=cfg.depth, emb_dim=cfg.emb_dim,
                      stem=cfg.stem)
        if cfg.loss in ("arcface", "adacos"):
            n = self.head_classes(n_classes)
            if n < 2:
                raise ValueError(f"loss {cfg.loss!r} classifies machine IDs / sections and needs at least 2 of them "
                                 f"in the training data, found {n}; use loss='supcon' or 'ntxent'")
            head = ArcMarginHead(cfg.emb_dim, n) if cfg.loss == "arcface" else AdaCosHead(cfg.emb_dim, n)
            self.models = {"encoder": enc, "head": head}
        else:
            self.models = {"encoder": enc, "projector": ProjectionHead(cfg.emb_dim, hidden_dim=2 * cfg.proj_dim,
                                                                       out_dim=cfg.proj_dim)}
        return self

    def band(self) -> dict | None:
        """The spectrum augmentation's arguments (``None``: none)."""
        return None

    def views(self, norm=None) -> augment.ViewPipeline:
        """log-mixup-exp -> [band step] -> random resize crop -> pre-normalisation (chapter 5)."""
        cfg = self.cfg
        return augment.build_views(cfg.frontend, mixup={"ratio": cfg.mixup_ratio} if cfg.mixup_ratio > 0 else False,
                                   band=self.band(), side=cfg.hf_band, hf_role=cfg.hf_role, crop=cfg.resize_crop,
                                   normalizer=norm)

    def scoring_steps(self) -> augment.ViewPipeline:
        """What also applies to the scored windows: [band suppression], pre-normalisation."""
        return augment.scoring_steps(self.cfg.frontend, self.norm)

    def training_data(self, features, labels, note: str = "") -> tuple[Any, str]:
        cfg = self.cfg
        data = SegmentDataset(list(features), labels, segment_frames=cfg.segment_frames,
                              segments_per_clip=cfg.segments_per_clip, seed=cfg.seed)
        return data, (f"{len(data)} training segments ({len(features)} clips x "
                      f"segments_per_clip={cfg.segments_per_clip}{note})")

    def batch_losses(self, data, views, epoch, epoch_seed, device):
        cfg, enc = self.cfg, self.models["encoder"]
        n_classes = int(max(data.labels)) + 1  # labels are 0 .. n_classes - 1 (data.unit_labels)
        bins_of = self.cutoff_bins_table
        data.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                             generator=torch.Generator().manual_seed(epoch_seed), num_workers=0)
        autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16,
                                  enabled=cfg.precision == "bfloat16")
        for x, y in loader:
            x, y = x.to(device), y.to(device)  # dB log-mel; the view pipeline ends with the pre-normalisation
            bins = None if bins_of is None else bins_of.to(device)[y]  # each clip's own type's cutoff band
            v1, v2, vo = views.draw(x, cutoff_bins=bins)  # vo: altered copies of v2 (pseudo-anomaly), else None
            parts, labels = [v1, v2], [y, y]
            if vo is not None:
                parts.append(vo)
                labels.append(losses.outlier_labels(y, n_classes))
            yy = torch.cat(labels)
            if cfg.loss in ("arcface", "adacos"):  # margin classification of the views' machine IDs
                with autocast:
                    logits = self.models["head"](enc(torch.cat(parts)), yy)
                loss = losses.classification_loss(logits.float(), yy)
            else:
                with autocast:
                    z = self.models["projector"](enc(torch.cat(parts)))
                z = z.float()
                z1, z2, zo = z[: len(x)], z[len(x): 2 * len(x)], z[2 * len(x):]
                if cfg.loss == "supcon" and vo is None:
                    loss = losses.supcon(torch.stack([z1, z2], dim=1), y, temperature=cfg.temperature)
                elif cfg.loss == "supcon":
                    loss = losses.supcon(z, yy, temperature=cfg.temperature)
                else:
                    loss = losses.nt_xent(z1, z2, temperature=cfg.temperature,
                                          negatives=zo if vo is not None else None)
            yield loss, len(x)

    cutoff_bins_table: torch.Tensor | None = None  # set by the trainer from cutoff_bins(classes)

    def represent(self, features, device="cpu", paths=None, hop_frames: int | None = None) -> np.ndarray:
        """The mean of the L2-normalised window embeddings, ``[N, emb_dim]`` (windows every
        ``hop_frames``, default the ``test_hop_frames`` setting)."""
        cfg = self.cfg
        return clip_embeddings(self.models["encoder"].to(device), features, segment_frames=cfg.segment_frames,
                               hop_frames=hop_frames or cfg.test_hop_frames, device=str(device),
                               normalize=self.scoring_steps())


class BandContrastiveMethod(ContrastiveMethod):
    """``contrastive-hf``: the paper's views, which differ strongly above a cutoff (chapter 5)."""

    alters_band = True

    def head_classes(self, n_classes: int) -> int:
        # hf_role "pseudo-anomaly": one extra class per ID / section, its copies with altered high bands
        return 2 * n_classes if self.cfg.hf_role == "pseudo-anomaly" else n_classes

    def band(self) -> dict:
        cfg = self.cfg
        return {"cutoff_hz": fixed_cutoff(cfg), "mode": cfg.hf_mode, "p": cfg.hf_p, "strength": cfg.hf_strength}

    def scoring_steps(self) -> augment.ViewPipeline:
        cfg = self.cfg
        if cfg.hf_role != "suppression":
            return augment.scoring_steps(cfg.frontend, self.norm)
        return augment.scoring_steps(cfg.frontend, self.norm, suppress=True, cutoff_hz=fixed_cutoff(cfg), side=cfg.hf_band)

    def resolve(self, features, types) -> "MethodConfig":
        """With ``hf_cutoff_hz="auto"``: one cutoff per machine type from its training clips
        (:func:`asdlib.augment.cutoffs_by_type`), recorded in ``hf_cutoffs``."""
        if self.cfg.hf_cutoff_hz != AUTO_CUTOFF:
            return self.cfg
        return dataclasses.replace(self.cfg, hf_cutoffs=augment.cutoffs_by_type(features, types, self.cfg.frontend))

    def cutoff_bins(self, classes):
        cfg = self.cfg
        if fixed_cutoff(cfg) is not None:
            return None
        if not cfg.hf_cutoffs:
            raise ValueError("hf_cutoff_hz='auto' is not resolved yet: call resolve() with the training clips first")
        types = [str(c).split("/", 1)[0] for c in classes]
        missing = sorted(set(types) - set(cfg.hf_cutoffs))
        if missing:
            raise ValueError(f"hf_cutoffs has no cutoff for machine type(s) {missing}")
        return torch.tensor([hz_to_mel_bin(cfg.hf_cutoffs[t], cfg.frontend) for t in types], dtype=torch.long)


class StatisticsMethod(Method):
    """A training-free reference: each clip's mean log-mel against the normal training clips' (chapter 7)."""

    frontend_settings: dict = {}  # the DCASE 128-mel front end
    trains = False
    distance = "euclidean"

    def represent(self, features, device="cpu", paths=None) -> np.ndarray:
        """The mean of each mel band over time, ``[N, n_mels]``."""
        return clip_statistics(features)


class KNNStatsMethod(StatisticsMethod):
    """``knn-stats``: mean Euclidean distance to the ``k`` nearest training clips' statistics."""

    @classmethod
    def relevant_settings(cls, names: set[str]) -> set[str]:
        return {"method", "frontend", "k", "scorer"}

    def _scorer_name(self, name: str | None) -> str:
        name = super()._scorer_name(name)
        return name if name.startswith("knn") else "knn"


class GMMStatsMethod(StatisticsMethod):
    """``gmm-stats``: negative log-likelihood under a diagonal Gaussian mixture of the statistics."""

    @classmethod
    def relevant_settings(cls, names: set[str]) -> set[str]:
        return {"method", "frontend", "seed", "gmm_components"}

    def scorer(self, name: str | None = None) -> UnitScorer:
        if name is None:
            return make_scorer("gmm", n_components=self.cfg.gmm_components, seed=self.cfg.seed)
        return super().scorer(name)


#: the registry: method name -> family
FAMILIES: dict[str, type[Method]] = {"ae": AutoEncoderMethod, "contrastive": ContrastiveMethod,
                                     "contrastive-hf": BandContrastiveMethod, "knn-stats": KNNStatsMethod,
                                     "gmm-stats": GMMStatsMethod}
METHODS: tuple[str, ...] = tuple(FAMILIES)
#: the methods that train an encoder with two views
CONTRASTIVE: tuple[str, ...] = tuple(n for n, f in FAMILIES.items() if f.encoder)
#: the training-free references (no model is trained)
TRAINING_FREE: tuple[str, ...] = tuple(n for n, f in FAMILIES.items() if not f.trains)
#: epochs when ``epochs`` is not given
DEFAULT_EPOCHS: dict[str, int] = {n: f.default_epochs for n, f in FAMILIES.items()}


def family_of(method: str) -> type[Method]:
    """The family class of a method name (a clear error for an unknown one)."""
    _choice("method", method, tuple(FAMILIES))
    return FAMILIES[method]


def method_for(cfg: "MethodConfig") -> Method:
    """The method object of a configuration (models not built yet)."""
    return FAMILIES[cfg.method](cfg)


def default_frontend(method: str = "contrastive-hf") -> FrontEndConfig:
    """The front end of ``method`` when none is given (64 mels; the references: the DCASE 128)."""
    return family_of(method).default_frontend()


def fixed_cutoff(cfg: MethodConfig) -> float | None:
    """The one cutoff (Hz) of ``cfg``'s band step: ``hf_cutoff_hz``, or the common value of the
    resolved ``hf_cutoffs``; ``None`` when it differs between machine types or is not resolved."""
    if cfg.hf_cutoff_hz != AUTO_CUTOFF:
        return float(cfg.hf_cutoff_hz)
    values = set((cfg.hf_cutoffs or {}).values())
    return float(values.pop()) if len(values) == 1 else None
