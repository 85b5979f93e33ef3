"""View augmentations for contrastive learning, including the high-frequency spectrum augmentation.

Explained in chapter 5 (``book/05_views.ipynb``); chapter 9 (``book/09_ablations.ipynb``) sweeps the
spectrum augmentation's cutoff, operation and reading; the design choices are in ``docs/design.md``.

Every transform takes a batch of dB log-mels ``x`` of shape ``[B, 1, M, T]``
(``10 * log10(mel_power + eps)``, the DCASE baseline convention) on any device, and draws its
randomness per sample from its ``generator`` (``None``: torch's global generator). The chain is
BYOL-A's (Niizumi et al. 2021); the paper (Meng et al. 2025) adds a spectrum augmentation of the
high frequencies, whose operation (:class:`HighFreqAugment`) and readings (:data:`HF_ROLES`) are
ours. :func:`build_views` builds a :class:`ViewPipeline`; :meth:`ViewPipeline.draw` gives a
batch's views. :class:`LogMixupExp` and the ``"mix"`` / ``"gain"`` modes read their input as dB
(``log_scale=DB_LOG_SCALE``); for inputs standardised by ``std`` pass ``DB_LOG_SCALE / std``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import select
from .features import FrontEndConfig, hz_to_mel_bin, load_features, mel_frequencies

__all__ = [
    "PreNormalize",
    "fit_normalizer",
    "LogMixupExp",
    "RandomResizeCrop",
    "multi_segment_crop",
    "SpecAugment",
    "HighFreqAugment",
    "LowFreqAugment",
    "BandSuppress",
    "BAND_MODES",
    "GAIN_DB",
    "HF_ROLES",
    "DEFAULT_HF_ROLE",
    "Views",
    "ViewPipeline",
    "build_views",
    "scoring_steps",
    "DEFAULT_CUTOFF_HZ",
    "band_difference",
    "difference_ratio",
    "DB_LOG_SCALE",
    "AUTO_CUTOFF",
    "CUTOFF_RATIO",
    "between_within_ratio",
    "auto_cutoff",
    "cutoffs_by_type",
    "auto_cutoffs",
]

DB_LOG_SCALE = 10.0 / math.log(10.0)  # dB per natural-log unit of power: dB = DB_LOG_SCALE * ln(power)

BAND_MODES = ("mask", "noise", "mix", "gain")
GAIN_DB = 30.0  # "gain" mode: control points move the high bands by 15..30 dB (x strength), up or down
#: What the views with altered high bands are for (see :func:`build_views`); our default first.
HF_ROLES = ("invariance", "pseudo-anomaly", "suppression")
DEFAULT_HF_ROLE = "invariance"
#: ``hf_cutoff_hz="auto"``: the cutoff is chosen per machine type from its normal training clips (:func:`auto_cutoff`)
AUTO_CUTOFF = "auto"
#: our default cutoff (Hz; the paper publishes none) between the low bands the encoder should learn and
#: the high bands the views alter
DEFAULT_CUTOFF_HZ = 2000.0
#: :func:`auto_cutoff`'s threshold on :func:`between_within_ratio`: a band varies "between recordings"
#: when its clips differ from each other at least as much as it fluctuates within a clip
CUTOFF_RATIO = 1.0


# ---------------------------------------------------------------------------------------------
# front-end configuration and mel-band helpers (asdlib.features when present)
# ---------------------------------------------------------------------------------------------
def _default_config() -> Any:
    """The default front end, :class:`asdlib.features.FrontEndConfig`."""
    return FrontEndConfig()


def _mel_centres(config: Any) -> np.ndarray:
    """Centre frequency (Hz) of each mel band of ``config`` (Slaney mel scale, as librosa)."""
    return np.asarray(mel_frequencies(config), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# small shared helpers
# ---------------------------------------------------------------------------------------------
def _check_batch(x: Any, name: str) -> None:
    """Raise a clear error unless ``x`` is a floating ``[B, C, M, T]`` tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor [B, 1, M, T], got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name}: expected a 4-D tensor [B, 1, M, T], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {x.dtype}")


def _check_cutoff_bins(cutoff_bins: Tensor | Sequence[int], x: Tensor, name: str) -> Tensor:
    """Per-sample cutoff bins as a long tensor ``[B]`` on ``x``'s device, checked against ``x``."""
    bins = torch.as_tensor(cutoff_bins, device=x.device)
    if bins.dim() != 1 or bins.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: cutoff_bins must hold one band index per sample ({x.shape[0]}), "
                         f"got shape {tuple(bins.shape)}")
    if bins.is_floating_point() or bins.is_complex() or bins.dtype == torch.bool:
        raise TypeError(f"{name}: cutoff_bins must be integer band indices, got {bins.dtype}")
    if len(bins) and (int(bins.min()) < 0 or int(bins.max()) > x.shape[2]):
        raise ValueError(f"{name}: cutoff_bins must lie in [0, {x.shape[2]}] (mel bands), got "
                         f"{int(bins.min())}..{int(bins.max())}")
    return bins.long()


def _rand(shape: Sequence[int], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """U(0, 1) samples drawn on the generator's device, returned on ``like``'s device/dtype."""
    if generator is None:
        return torch.rand(*shape, device=like.device, dtype=like.dtype)
    out = torch.rand(*shape, generator=generator, device=generator.device)
    return out.to(device=like.device, dtype=like.dtype)


def _randn(shape: Sequence[int], generator: torch.Generator | None, like: Tensor) -> Tensor:
    """N(0, 1) samples drawn on the generator's device, returned on ``like``'s device/dtype."""
    if generator is None:
        return torch.randn(*shape, device=like.device, dtype=like.dtype)
    out = torch.randn(*shape, generator=generator, device=generator.device)
    return out.to(device=like.device, dtype=like.dtype)


def _randint(low: int, high: int, shape: Sequence[int], generator: torch.Generator | None,
             device: torch.device) -> Tensor:
    """Integers in ``[low, high)`` drawn on the generator's device, returned on ``device``."""
    gen_device = generator.device if generator is not None else device
    out = torch.randint(low, high, tuple(shape), generator=generator, device=gen_device)
    return out.to(device)


def _uniform(lo: float, hi: float, n: int, generator: torch.Generator | None) -> np.ndarray:
    """``n`` floats in ``[lo, hi)`` as a float64 numpy array (for crop geometry)."""
    u = torch.rand(n, generator=generator, dtype=torch.float64,
                   device=generator.device if generator is not None else "cpu")
    return (lo + (hi - lo) * u).cpu().numpy()


def _log_mix(x: Tensor, z: Tensor, a: Tensor, log_scale: float = DB_LOG_SCALE) -> Tensor:
    """Log-mixup-exp ``L((1 - a) P(x) + a P(z))`` for log-values ``x = log_scale * ln(P) + c``.

    With the default ``log_scale`` the values are dB: ``10 log10((1 - a) 10^(x/10) + a 10^(z/10))``.
    ``a`` is broadcast against ``x`` (one weight per sample). A common offset ``c`` (e.g. from
    standardisation) cancels out. Computed as ``log_scale * logaddexp(ln(1 - a) + x / log_scale,
    ln(a) + z / log_scale)`` in three passes over the data; ``logaddexp`` never overflows or
    underflows (``a = 0`` gives ``x``, ``a = 1`` gives ``z``).
    """
    k = 1.0 / log_scale
    u = torch.log1p(-a).add(x, alpha=k)  # ln((1 - a) P(x)) - c / log_scale
    v = torch.log(a).add(z, alpha=k)  # ln(a P(z)) - c / log_scale
    return _logaddexp(u, v).mul_(log_scale)


def _logaddexp(u: Tensor, v: Tensor) -> Tensor:
    """``torch.logaddexp(u, v)`` as ``max(u, v) + ln(1 + exp(-|u - v|))``.

    The same values up to float rounding, made of torch's vectorised ``exp`` and ``log`` (on the
    CPU ``torch.logaddexp`` runs element by element; ``benchmarks/bench_train.py`` times a
    training step). ``-inf`` in one argument gives the other.
    """
    m = torch.maximum(u, v)
    if u.requires_grad or v.requires_grad:  # in-place steps would break autograd
        return m + torch.log(1.0 + torch.exp(-(u - v).abs()))
    d = torch.sub(u, v).abs_().neg_().exp_().add_(1.0).log_()
    return m.add_(d)


def _check_log_scale(log_scale: float, name: str) -> float:
    if not (log_scale > 0 and math.isfinite(log_scale)):
        raise ValueError(f"{name}: log_scale must be a positive finite number, got {log_scale}")
    return float(log_scale)


# ---------------------------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------------------------
def fit_normalizer(features: Tensor | np.ndarray | Iterable[Tensor | np.ndarray]) -> tuple[float, float]:
    """BYOL-A pre-normalisation statistics: one mean and one std over every training log-mel value.

    Args:
        features: one array/tensor of any shape, or an iterable of them (e.g. one ``[M, T]``
            log-mel per training clip); normal *training* clips only.

    Returns:
        ``(mean, std + 1e-8)`` over all values, computed by NumPy in their own dtype: the run's
        ``norm``, applied with :class:`PreNormalize` at training and scoring time.
    """
    items = [features] if isinstance(features, (Tensor, np.ndarray)) else list(features)
    arrays = [item.detach().cpu().numpy() if isinstance(item, Tensor) else np.asarray(item) for item in items]
    if not arrays:
        raise ValueError("fit_normalizer: no features given")
    allv = np.concatenate([a.reshape(-1) for a in arrays])
    if allv.size < 2:
        raise ValueError(f"fit_normalizer: need at least 2 values, got {allv.size}")
    if not np.issubdtype(allv.dtype, np.floating):
        allv = allv.astype(np.float64)
    if not np.all(np.isfinite(allv)):
        raise ValueError("fit_normalizer: features contain NaN or inf")
    if float(allv.std()) == 0.0:
        raise ValueError("fit_normalizer: features are constant (std = 0)")
    return float(allv.mean()), float(allv.std() + 1e-8)  # the trainer's statistics, bit for bit


class PreNormalize(nn.Module):
    """Standardise by dataset statistics: ``(x - mean) / std`` (BYOL-A pre-normalisation).

    The last step of every training view and the first of scoring (``at_scoring``): the
    trainer fits ``mean, std`` with :func:`fit_normalizer` and stores them in the run.

    Args:
        mean: dataset mean of the log-mel values (from :func:`fit_normalizer`).
        std: dataset standard deviation (> 0).
    """

    at_scoring = True  # also applied to the windows that are scored (ViewPipeline.scoring_transform)

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if not (std > 0 and math.isfinite(std)):
            raise ValueError(f"PreNormalize: std must be a positive finite number, got {std}")
        if not math.isfinite(mean):
            raise ValueError(f"PreNormalize: mean must be finite, got {mean}")
        self.mean = float(mean)
        self.std = float(std)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sub(x, self.mean).div_(self.std)  # (x - mean) / std, one new tensor

    def inverse(self, x: Tensor) -> Tensor:
        """Back to dB: ``x * std + mean`` (to look at and listen to a view)."""
        return torch.mul(x, self.std).add_(self.mean)

    def extra_repr(self) -> str:
        return f"mean={self.mean:.4g}, std={self.std:.4g}"


# ---------------------------------------------------------------------------------------------
# log-mixup-exp
# ---------------------------------------------------------------------------------------------
class LogMixupExp(nn.Module):
    """BYOL-A log-mixup-exp with a FIFO memory bank, for dB log-mels.

    ``x' = log((1 - a) exp(x) + a exp(z))`` with ``a ~ U(0, ratio)`` per sample and ``z`` drawn at
    random from a bank of recent inputs; for dB log-mels "exp" is ``10 ** (x / 10)`` and "log" is
    ``10 * log10``, so the mix is one of powers, as in BYOL-A. Each call mixes, then pushes the
    unmixed inputs into the bank; an empty bank returns the input unchanged, and a new sample
    shape empties the bank.

    Args:
        bank_size: number of recent inputs kept (2048 in BYOL-A).
        ratio: upper bound of the mixing weight ``a`` (0.4 in BYOL-A; 0 disables mixing).
        log_scale: input units per natural-log unit of power: ``DB_LOG_SCALE`` (10 / ln 10) for dB
            (default), ``DB_LOG_SCALE / std`` for dB standardised by ``std``, 1.0 for natural logs.
        generator: optional ``torch.Generator`` for reproducible draws.
    """

    def __init__(self, bank_size: int = 2048, ratio: float = 0.4, log_scale: float = DB_LOG_SCALE,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if bank_size < 1:
            raise ValueError(f"LogMixupExp: bank_size must be >= 1, got {bank_size}")
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"LogMixupExp: ratio must lie in [0, 1], got {ratio}")
        self.bank_size = int(bank_size)
        self.ratio = float(ratio)
        self.log_scale = _check_log_scale(log_scale, "LogMixupExp")
        self.generator = generator
        self._ring: Tensor | None = None  # ring buffer [bank_size, C, M, T]
        self._filled = 0
        self._pos = 0

    @property
    def bank_filled(self) -> int:
        """How many samples the bank holds now."""
        return self._filled

    @property
    def bank(self) -> Tensor | None:
        """The bank's contents, oldest first (``None`` when empty); assign to restore it (resume)."""
        if self._ring is None or self._filled == 0:
            return None
        if self._filled < self.bank_size:
            return self._ring[:self._filled].clone()
        return torch.cat([self._ring[self._pos:], self._ring[:self._pos]])

    @bank.setter
    def bank(self, value: Tensor | None) -> None:
        self.reset()
        if value is not None and len(value) > 0:
            _check_batch(value, "LogMixupExp.bank")
            self._push(value)

    def reset(self) -> None:
        """Empty the memory bank."""
        self._ring, self._filled, self._pos = None, 0, 0

    def _push(self, x: Tensor) -> None:
        data = x.detach()
        if self._ring is None or self._ring.shape[1:] != data.shape[1:]:
            self._ring = torch.empty((self.bank_size, *data.shape[1:]), dtype=data.dtype, device=data.device)
            self._filled, self._pos = 0, 0
        data = data[-self.bank_size:].to(device=self._ring.device, dtype=self._ring.dtype)
        n = data.shape[0]
        first = min(n, self.bank_size - self._pos)  # FIFO ring buffer: write up to the end, then wrap
        self._ring[self._pos:self._pos + first] = data[:first]
        if first < n:
            self._ring[:n - first] = data[first:]
        self._pos = (self._pos + n) % self.bank_size
        self._filled = min(self.bank_size, self._filled + n)

    def forward(self, x: Tensor) -> Tensor:
        _check_batch(x, "LogMixupExp")
        if self._ring is not None and self._ring.device != x.device:
            self._ring = self._ring.to(x.device)  # e.g. a bank restored on the CPU
        usable = self._ring is not None and self._filled > 0 and self._ring.shape[1:] == x.shape[1:]
        out = x
        if usable:
            b = x.shape[0]
            oldest = (self._pos - self._filled) % self.bank_size  # draw by age, not by ring slot
            idx = (_randint(0, self._filled, (b,), self.generator, x.device) + oldest) % self.bank_size
            a = self.ratio * _rand((b, 1, 1, 1), self.generator, x)
            z = self._ring.index_select(0, idx).to(x.dtype)
            out = _log_mix(x, z, a, self.log_scale)
        self._push(x)
        return out

    def extra_repr(self) -> str:
        return f"bank_size={self.bank_size}, ratio={self.ratio}, log_scale={self.log_scale:.4g}"


# ---------------------------------------------------------------------------------------------
# random resize crop
# ---------------------------------------------------------------------------------------------
def _cubic_resize_matrix(n_in: int, n_out: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``[n_out, n_in]`` matrix that resizes a 1-D signal exactly as bicubic ``F.interpolate``.

    Built by interpolating the identity with ``F.interpolate(mode="bicubic", align_corners=True)``
    along one axis (the other axis is kept, which reproduces it exactly), so multiplying by it is
    the same separable bicubic resampling as calling ``F.interpolate`` on the crop.
    """
    key = (n_in, n_out, str(device), dtype)
    mat = _RESIZE_CACHE.get(key)
    if mat is None:
        eye = torch.eye(n_in, dtype=torch.float64)[None, None]
        mat = F.interpolate(eye, size=(n_out, n_in), mode="bicubic", align_corners=True)[0, 0]
        mat = mat.to(device=device, dtype=dtype)
        _RESIZE_CACHE[key] = mat
    return mat


_RESIZE_CACHE: dict[tuple, Tensor] = {}
_BAND_CACHE: dict[tuple, tuple[Tensor, Tensor]] = {}


def _resize_bands(n_out: int, n_canvas: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """The non-zero entries of every resize matrix ``h -> n_out`` for ``h = 1 .. n_canvas``.

    Returns ``(cols, weights)``, both ``[n_canvas, n_out, K]`` (``K <= 4`` for bicubic): row ``i``
    of the matrix of size ``h`` is ``weights[h - 1, i]`` at columns ``cols[h - 1, i]`` (unused
    slots: weight 0 at column 0). The weights are :func:`_cubic_resize_matrix`'s, bit for bit.
    """
    key = (n_out, n_canvas, str(device), dtype)
    bands = _BAND_CACHE.get(key)
    if bands is None:
        mats = [_cubic_resize_matrix(h, n_out, torch.device("cpu"), dtype) for h in range(1, n_canvas + 1)]
        k = max(int((mat != 0).sum(dim=1).max()) for mat in mats)
        cols = torch.zeros(n_canvas, n_out, k, dtype=torch.long)
        weights = torch.zeros(n_canvas, n_out, k, dtype=dtype)
        for h, mat in enumerate(mats):
            for i in range(n_out):
                nz = torch.nonzero(mat[i]).flatten()
                cols[h, i, :len(nz)] = nz
                weights[h, i, :len(nz)] = mat[i, nz]
        bands = (cols.to(device), weights.to(device))
        _BAND_CACHE[key] = bands
    return bands


def _placed_resize_matrices(starts: np.ndarray, sizes: np.ndarray, n_out: int, n_canvas: int,
                            device: torch.device, dtype: torch.dtype, transpose: bool = False) -> Tensor:
    """``[B, n_out, n_canvas]``: for sample ``k`` the resize matrix ``sizes[k] -> n_out`` of
    :func:`_cubic_resize_matrix` in columns ``starts[k] : starts[k] + sizes[k]``, zeros elsewhere
    (``transpose=True``: its transpose, ``[B, n_canvas, n_out]``, contiguous).

    Made for the whole batch at once by scattering each row's (at most 4) bicubic weights from a
    cached table into zeros: no per-sample loop, and the values are bit for bit those of
    :func:`_cubic_resize_matrix` (each weight is added to an exact zero once).
    """
    cols, weights = _resize_bands(n_out, n_canvas, device, dtype)
    pick = torch.as_tensor(np.asarray(sizes) - 1, dtype=torch.long).to(device)
    start = torch.as_tensor(np.asarray(starts), dtype=torch.long).to(device)[:, None, None]
    idx, w = cols.index_select(0, pick) + start, weights.index_select(0, pick)  # [B, n_out, K]
    b = len(pick)
    if transpose:
        out = torch.zeros(b, n_canvas, n_out, device=device, dtype=dtype)
        return out.scatter_add_(1, idx.transpose(1, 2), w.transpose(1, 2))
    out = torch.zeros(b, n_out, n_canvas, device=device, dtype=dtype)
    return out.scatter_add_(2, idx, w)


class RandomResizeCrop(nn.Module):
    """BYOL-A random resize crop on a virtual canvas, resized back with bicubic interpolation.

    The ``M x T`` input sits at the centre of a canvas of ``(M * virtual_crop_scale[0],
    T * virtual_crop_scale[1])`` filled with the sample's mean; a region of
    ``(M * U(freq_scale), T * U(time_scale))`` (clipped to the canvas) is cut at a random position
    and resized back to ``M x T`` (bicubic, ``align_corners=True``, as in BYOL-A). Each sample gets
    its own crop; all channels of a sample share its crop and fill (the first channel's mean).
    The resize is computed as batched matrix products with ``F.interpolate``'s own weights (equal
    up to float rounding; ``docs/design.md``).

    Args:
        virtual_crop_scale: canvas scale (frequency, time), *not* a range.
        freq_scale: range of the crop height relative to ``M``.
        time_scale: range of the crop width relative to ``T``.
        generator: optional ``torch.Generator``.
    """

    def __init__(self, virtual_crop_scale: tuple[float, float] = (1.0, 1.5),
                 freq_scale: tuple[float, float] = (0.6, 1.5), time_scale: tuple[float, float] = (0.6, 1.5),
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        for name, pair in (("virtual_crop_scale", virtual_crop_scale), ("freq_scale", freq_scale),
                           ("time_scale", time_scale)):
            if len(pair) != 2 or min(pair) <= 0:
                raise ValueError(f"RandomResizeCrop: {name} must be two positive numbers, got {pair}")
        if min(virtual_crop_scale) < 1.0:
            raise ValueError(f"RandomResizeCrop: virtual_crop_scale must be >= 1, got {virtual_crop_scale}")
        if freq_scale[0] > freq_scale[1] or time_scale[0] > time_scale[1]:
            raise ValueError("RandomResizeCrop: freq_scale / time_scale must be (low, high) with low <= high")
        self.virtual_crop_scale = tuple(float(v) for v in virtual_crop_scale)
        self.freq_scale = tuple(float(v) for v in freq_scale)
        self.time_scale = tuple(float(v) for v in time_scale)
        self.generator = generator

    def crop_boxes(self, b: int, m: int, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``b`` crop boxes ``(top, height, left, width)`` in canvas coordinates."""
        cm = int(round(m * self.virtual_crop_scale[0]))
        ct = int(round(t * self.virtual_crop_scale[1]))
        hs = np.clip((m * _uniform(*self.freq_scale, b, self.generator)).astype(int), 1, cm)
        ws = np.clip((t * _uniform(*self.time_scale, b, self.generator)).astype(int), 1, ct)
        ii = (_uniform(0.0, 1.0, b, self.generator) * (cm - hs + 1)).astype(int)
        jj = (_uniform(0.0, 1.0, b, self.generator) * (ct - ws + 1)).astype(int)
        return ii, hs, jj, ws

    def forward(self, x: Tensor) -> Tensor:
        _check_batch(x, "RandomResizeCrop")
        b, c, m, t = x.shape
        cm = int(round(m * self.virtual_crop_scale[0]))
        ct = int(round(t * self.virtual_crop_scale[1]))
        fill = x[:, :1].mean(dim=(2, 3), keepdim=True)  # the sample's mean
        i0, j0 = (cm - m) // 2, (ct - t) // 2  # where the input sits on the canvas
        ii, hs, jj, ws = self.crop_boxes(b, m, t)
        rows = _placed_resize_matrices(ii, hs, m, cm, x.device, x.dtype)[:, None]  # [B, 1, M, cm]
        cols = _placed_resize_matrices(jj, ws, t, ct, x.device, x.dtype, transpose=True)[:, None]  # [B, 1, ct, T]
        out = rows[:, :, :, i0:i0 + m] @ (x - fill) @ cols[:, :, j0:j0 + t, :]  # the input's part
        return out.addcmul_(fill * rows.sum(dim=3, keepdim=True), cols.sum(dim=2, keepdim=True))  # the fill's part

    def extra_repr(self) -> str:
        return (f"virtual_crop_scale={self.virtual_crop_scale}, freq_scale={self.freq_scale}, "
                f"time_scale={self.time_scale}")


# ---------------------------------------------------------------------------------------------
# multiple segmentation
# ---------------------------------------------------------------------------------------------
def multi_segment_crop(x: Tensor, segment_frames: int, n_segments: int,
                       generator: torch.Generator | None = None,
                       return_starts: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Cut ``n_segments`` random segments of ``segment_frames`` frames from every clip.

    Args:
        x: ``[B, C, M, T]``.
        return_starts: also return each segment's first frame, ``[B * n_segments]``.

    Returns:
        ``[B * n_segments, C, M, segment_frames]``, clip-major (labels follow with
        ``labels.repeat_interleave(n_segments)``), and the starts if asked.
    """
    _check_batch(x, "multi_segment_crop")
    b, c, m, t = x.shape
    if segment_frames < 1 or n_segments < 1:
        raise ValueError(f"multi_segment_crop: segment_frames ({segment_frames}) and n_segments "
                         f"({n_segments}) must be >= 1")
    if segment_frames > t:
        raise ValueError(f"multi_segment_crop: segment_frames={segment_frames} exceeds the clip length T={t}")
    starts = _randint(0, t - segment_frames + 1, (b, n_segments), generator, x.device)
    idx = starts[:, :, None] + torch.arange(segment_frames, device=x.device)  # [B, n, S]
    idx = idx[:, :, None, None, :].expand(b, n_segments, c, m, segment_frames)
    src = x[:, None].expand(b, n_segments, c, m, t)
    out = torch.gather(src, 4, idx).reshape(b * n_segments, c, m, segment_frames)
    return (out, starts.reshape(-1)) if return_starts else out


# ---------------------------------------------------------------------------------------------
# SpecAugment
# ---------------------------------------------------------------------------------------------
def _band_masks(n: int, size: int, max_width: int, n_masks: int,
                generator: torch.Generator | None, like: Tensor) -> Tensor:
    """Boolean ``[n, size]`` masks, each the union of ``n_masks`` random stripes (torchaudio rule).

    Stripe width ``w ~ U[0, max_width)`` and start ``~ U[0, size - w)``, as in
    ``torchaudio.functional.mask_along_axis_iid``.
    """
    mask = torch.zeros(n, size, dtype=torch.bool, device=like.device)
    if max_width <= 0 or n_masks <= 0:
        return mask
    pos = torch.arange(size, device=like.device)
    for _ in range(n_masks):
        width = _rand((n, 1), generator, like) * min(max_width, size)
        start = _rand((n, 1), generator, like) * (size - width)
        start, end = start.long(), (start + width).long()
        mask |= (pos >= start) & (pos < end)
    return mask


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al. 2019), filled with each sample's mean.

    Same masking rule as ``torchaudio.transforms.FrequencyMasking`` / ``TimeMasking`` with
    ``iid_masks=True``, re-implemented so that it draws from ``generator``.

    Args:
        freq_mask: maximum width (mel bins) of a frequency mask.
        time_mask: maximum width (frames) of a time mask.
        n_masks: number of frequency masks and of time masks per sample.
        generator: optional ``torch.Generator``.
    """

    def __init__(self, freq_mask: int = 16, time_mask: int = 8, n_masks: int = 1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if freq_mask < 0 or time_mask < 0 or n_masks < 0:
            raise ValueError(f"SpecAugment: freq_mask={freq_mask}, time_mask={time_mask}, n_masks={n_masks} "
                             "must be >= 0")
        self.freq_mask, self.time_mask, self.n_masks = int(freq_mask), int(time_mask), int(n_masks)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        _check_batch(x, "SpecAugment")
        b, _, m, t = x.shape
        fmask = _band_masks(b, m, self.freq_mask, self.n_masks, self.generator, x)[:, None, :, None]
        tmask = _band_masks(b, t, self.time_mask, self.n_masks, self.generator, x)[:, None, None, :]
        mean = x[:, :1].mean(dim=(2, 3), keepdim=True)  # the (first channel's) mean; channels share masks
        return torch.where(fmask | tmask, mean.expand_as(x), x)

    def extra_repr(self) -> str:
        return f"freq_mask={self.freq_mask}, time_mask={self.time_mask}, n_masks={self.n_masks}"


# ---------------------------------------------------------------------------------------------
# the spectrum (band) augmentation
# ---------------------------------------------------------------------------------------------
class _BandAugment(nn.Module):
    """Shared machinery of :class:`HighFreqAugment` and :class:`LowFreqAugment`."""

    _band = "high"

    def __init__(self, cutoff_hz: float | None = DEFAULT_CUTOFF_HZ, mode: str = "gain", p: float = 1.0, strength: float = 1.0,
                 config: Any = None, transition_bins: int = 0, gain_points: int = 4,
                 log_scale: float = DB_LOG_SCALE, generator: torch.Generator | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if mode not in BAND_MODES:
            raise ValueError(f"{name}: mode must be one of {BAND_MODES}, got {mode!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name}: p must lie in [0, 1], got {p}")
        if strength < 0:
            raise ValueError(f"{name}: strength must be >= 0, got {strength}")
        if mode in ("mask", "mix") and strength > 1:
            raise ValueError(f"{name}: strength must lie in [0, 1] for mode {mode!r}, got {strength}")
        if cutoff_hz is not None and not (cutoff_hz >= 0 and math.isfinite(cutoff_hz)):
            raise ValueError(f"{name}: cutoff_hz must be a finite number >= 0 or None (per-sample cutoffs), "
                             f"got {cutoff_hz}")
        if transition_bins < 0 or gain_points < 2:
            raise ValueError(f"{name}: transition_bins must be >= 0 and gain_points >= 2")
        self.config = config if config is not None else _default_config()
        self.cutoff_hz = None if cutoff_hz is None else float(cutoff_hz)
        self.mode, self.p, self.strength = mode, float(p), float(strength)
        self.transition_bins, self.gain_points = int(transition_bins), int(gain_points)
        self.log_scale = _check_log_scale(log_scale, name)
        self.generator = generator
        self.mel_centres = _mel_centres(self.config)
        self._cutoff_bin = (None if self.cutoff_hz is None
                            else hz_to_mel_bin(self.cutoff_hz, self.config))

    @property
    def cutoff_bin(self) -> int | None:
        """Index of the first mel band whose centre frequency is >= ``cutoff_hz`` (``None``: per-sample cutoffs)."""
        return self._cutoff_bin

    @property
    def n_mels(self) -> int:
        return len(self.mel_centres)

    def band_slice(self, cutoff_bin: int | None = None) -> slice:
        """The mel bands this transform may change (at ``cutoff_bin``, default its own)."""
        cb = self._cutoff_bin if cutoff_bin is None else int(cutoff_bin)
        if cb is None:
            raise ValueError(f"{type(self).__name__}: built with cutoff_hz=None (per-sample cutoffs): "
                             "pass cutoff_bins= with every batch")
        return slice(cb, None) if self._band == "high" else slice(0, cb)

    def _weights(self, n: int, like: Tensor) -> Tensor:
        """Per-band blend weight ``[n]``: ramps from the cutoff over ``transition_bins`` bands."""
        k = torch.arange(n, device=like.device, dtype=like.dtype)
        if self._band == "low":
            k = k.flip(0)  # distance from the cutoff, counting down from the band just below it
        return torch.clamp((k + 1) / (self.transition_bins + 1), max=1.0)

    def _perturb(self, x: Tensor, sel: Tensor) -> Tensor:
        """The new values of the selected bands ``sel`` (``[B, C, H, T]``) of ``x``."""
        b, c, h, t = sel.shape
        g, s = self.generator, self.strength
        if self.mode == "mask":
            floor = x.amin(dim=(1, 2, 3), keepdim=True)
            return sel - s * (sel - floor)
        if self.mode == "noise":
            mu = sel.mean(dim=3, keepdim=True)
            sd = sel.std(dim=3, keepdim=True) if t > 1 else torch.zeros_like(mu)
            return mu + s * sd * _randn((b, c, h, t), g, x)
        if self.mode == "mix":
            if b > 1:
                partner = (torch.arange(b, device=x.device) + _randint(1, b, (b,), g, x.device)) % b
            else:
                partner = torch.zeros(1, dtype=torch.long, device=x.device)
            a = s * _rand((b, 1, 1, 1), g, x)
            if b == 1:  # the partner is the clip itself: mixing it with itself changes nothing
                return sel.clone()
            return _log_mix(sel, sel[partner], a, self.log_scale)
        # gain: smooth random gain curve over the selected bands, constant in time; each control
        # point moves by U(0.5, 1) * GAIN_DB * strength dB, up or down at random
        units_per_db = self.log_scale / DB_LOG_SCALE
        size = (0.5 + 0.5 * _rand((b, 1, self.gain_points), g, x)) * GAIN_DB * s * units_per_db
        sign = torch.where(_rand((b, 1, self.gain_points), g, x) < 0.5, -1.0, 1.0).to(x.dtype)
        points = sign * size
        curve = F.interpolate(points, size=h, mode="linear", align_corners=True)  # [B, 1, H]
        return sel + curve[:, :, :, None]

    def forward(self, x: Tensor, cutoff_bins: Tensor | Sequence[int] | None = None) -> Tensor:
        """The augmented batch.

        Args:
            x: ``[B, C, M, T]``.
            cutoff_bins: ``[B]`` band indices in ``[0, M]``, each sample's own cutoff (e.g. its
                machine type's, :func:`auto_cutoff`) instead of ``cutoff_hz``; the samples that
                share one are augmented as a batch of their own (``"mix"`` pairs them).
        """
        name = type(self).__name__
        _check_batch(x, name)
        if x.shape[2] != self.n_mels:
            raise ValueError(f"{name}: input has {x.shape[2]} mel bands but the front-end config has "
                             f"n_mels={self.n_mels}; pass the matching config=")
        if cutoff_bins is None:
            return self._augment(x, self.band_slice())
        bins = _check_cutoff_bins(cutoff_bins, x, name)
        out = torch.empty_like(x)
        for cb in torch.unique(bins).tolist():  # sorted: the same draws for the same batch
            rows = torch.nonzero(bins == cb).flatten()
            out[rows] = self._augment(x.index_select(0, rows), self.band_slice(cb))
        return out

    def _augment(self, x: Tensor, band: slice) -> Tensor:
        """:meth:`forward` for one cutoff (the bands ``band``)."""
        sel = x[:, :, band, :]
        if sel.shape[2] == 0 or self.p == 0.0:
            return x.clone()
        new = self._perturb(x, sel)
        if self.transition_bins > 0:
            w = self._weights(sel.shape[2], x)[None, None, :, None]
            new = sel + w * (new - sel)
        apply = _rand((x.shape[0],), self.generator, x) < self.p
        out = x.clone()
        out[:, :, band, :] = torch.where(apply[:, None, None, None], new, sel)
        return out

    def extra_repr(self) -> str:
        return (f"cutoff_hz={self.cutoff_hz}, cutoff_bin={self.cutoff_bin}, mode={self.mode!r}, p={self.p}, "
                f"strength={self.strength}, transition_bins={self.transition_bins}")


class HighFreqAugment(_BandAugment):
    """The paper's spectrum augmentation, as *we* define it: perturb only the high mel bands.

    The paper (Meng et al. 2025) does not publish the operation, cutoff or probability. Here, with
    probability ``p`` per sample, only the bands whose centre frequency is ``>= cutoff_hz``
    change; every band below stays bit-identical. Modes (``strength`` sets how much):
    ``"mask"``: ``x - strength * (x - min(x))`` (towards the sample's floor in dB); ``"noise"``:
    ``mean + strength * std * N(0, 1)`` with each band's time mean and std; ``"mix"``:
    log-mixup-exp with the high bands of a random other clip of the batch, ``a ~ U(0, strength)``;
    ``"gain"`` (default): a smooth random gain curve, ``gain_points`` control points each moved
    by ``U(0.5, 1) * GAIN_DB * strength`` dB up or down, constant in time.

    Args:
        cutoff_hz: bands with centre frequency ``>= cutoff_hz`` are changed.
        mode: one of :data:`BAND_MODES`.
        p: probability per sample of applying the change.
        strength: amount (see the modes; in ``[0, 1]`` for ``mask`` and ``mix``).
        config: front end (``asdlib.features.FrontEndConfig``); inputs need ``config.n_mels`` bands.
        transition_bins: width of a linear fade-in above the cutoff (0 = hard edge).
        gain_points: control points of the ``"gain"`` curve.
        log_scale: input units per natural-log unit of power (:class:`LogMixupExp`). Default: dB.
        generator: optional ``torch.Generator``.
    """

    _band = "high"


class LowFreqAugment(_BandAugment):
    """Control twin of :class:`HighFreqAugment`: the same modes applied *below* the cutoff.

    Bands with centre frequency ``< cutoff_hz`` are changed; the bands at and above the cutoff
    stay bit-identical. Used by the ablation chapter to test whether it is the *high*
    frequencies that matter. Same arguments as :class:`HighFreqAugment`.
    """

    _band = "low"


class BandSuppress(nn.Module):
    """Replace one side of the spectrum by a constant, on every input (the ``"suppression"`` reading).

    Not random; applied at training and at scoring time (``at_scoring``,
    :meth:`ViewPipeline.scoring_transform`), so the encoder never sees the suppressed bands.

    Args:
        cutoff_hz: bands with centre frequency ``>= cutoff_hz`` are the high side.
        side: ``"high"`` (suppress the high bands, a low-pass input) or ``"low"`` (the control).
        value: the constant in input units (:func:`build_views` passes the training mean: 0 after
            pre-normalisation); ``None``: each sample's minimum.
        config: front end (``asdlib.features.FrontEndConfig``); inputs need ``config.n_mels`` bands.
    """

    at_scoring = True

    def __init__(self, cutoff_hz: float | None = DEFAULT_CUTOFF_HZ, side: str = "high", value: float | None = None,
                 config: Any = None) -> None:
        super().__init__()
        if side not in ("high", "low"):
            raise ValueError(f"BandSuppress: side must be 'high' or 'low', got {side!r}")
        if cutoff_hz is not None and not (cutoff_hz >= 0 and math.isfinite(cutoff_hz)):
            raise ValueError(f"BandSuppress: cutoff_hz must be a finite number >= 0 or None (per-sample cutoffs), "
                             f"got {cutoff_hz}")
        if value is not None and not math.isfinite(value):
            raise ValueError(f"BandSuppress: value must be finite or None, got {value}")
        self.config = config if config is not None else _default_config()
        self.cutoff_hz, self.side = (None if cutoff_hz is None else float(cutoff_hz)), side
        self.value = None if value is None else float(value)
        self.mel_centres = _mel_centres(self.config)
        self.cutoff_bin = (None if self.cutoff_hz is None
                           else hz_to_mel_bin(self.cutoff_hz, self.config))

    def band_slice(self) -> slice:
        """The mel bands replaced by the constant."""
        if self.cutoff_bin is None:
            raise ValueError("BandSuppress: built with cutoff_hz=None (per-sample cutoffs): pass cutoff_bins= "
                             "with every batch")
        return slice(self.cutoff_bin, None) if self.side == "high" else slice(0, self.cutoff_bin)

    def forward(self, x: Tensor, cutoff_bins: Tensor | Sequence[int] | None = None) -> Tensor:
        """``x`` with one side replaced; ``cutoff_bins`` (``[B]`` band indices) gives each sample its own cutoff."""
        _check_batch(x, "BandSuppress")
        if x.shape[2] != len(self.mel_centres):
            raise ValueError(f"BandSuppress: input has {x.shape[2]} mel bands but the front-end config has "
                             f"n_mels={len(self.mel_centres)}; pass the matching config=")
        fill = (x.amin(dim=(1, 2, 3), keepdim=True) if self.value is None
                else torch.full((x.shape[0], 1, 1, 1), self.value, dtype=x.dtype, device=x.device))
        if cutoff_bins is None:
            out = x.clone()
            band = self.band_slice()
            out[:, :, band, :] = fill.expand_as(out[:, :, band, :])
            return out
        bins = _check_cutoff_bins(cutoff_bins, x, "BandSuppress")
        m = torch.arange(x.shape[2], device=x.device)[None, :]
        mask = (m >= bins[:, None]) if self.side == "high" else (m < bins[:, None])  # [B, M]
        return torch.where(mask[:, None, :, None], fill.expand_as(x), x)

    def extra_repr(self) -> str:
        return f"cutoff_hz={self.cutoff_hz}, cutoff_bin={self.cutoff_bin}, side={self.side!r}, value={self.value}"


# ---------------------------------------------------------------------------------------------
# pipelines
# ---------------------------------------------------------------------------------------------
class Views(NamedTuple):
    """The views of one batch (:meth:`ViewPipeline.draw`).

    ``first`` and ``second`` are the positive pair; ``outlier`` is ``second``'s copy with its
    high bands altered (the ``"pseudo-anomaly"`` reading only, else ``None``).
    """

    first: Tensor
    second: Tensor
    outlier: Tensor | None = None


class ViewPipeline(nn.Module):
    """A chain of view transforms (each ``[B, C, M, T] -> [B, C, M, T]``) and how it makes views.

    ``pipe(x)`` gives one view (``alter=False`` skips the band augmentations). :meth:`draw` gives a
    batch's views according to ``hf_role``: ``None`` and ``"suppression"``: two independent draws
    of the chain; ``"invariance"``: ``second``'s high bands are altered, ``first``'s are not;
    ``"pseudo-anomaly"``: ``first`` and ``second`` keep their high bands, and ``outlier`` is
    ``second`` with altered high bands, sharing all of ``second``'s other random draws.

    Args:
        transforms: the transforms, applied in order (a plain callable is wrapped).
        hf_role: ``None`` or one of :data:`HF_ROLES`.
    """

    def __init__(self, transforms: Sequence[nn.Module], hf_role: str | None = None) -> None:
        super().__init__()
        if hf_role is not None and hf_role not in HF_ROLES:
            raise ValueError(f"ViewPipeline: hf_role must be None or one of {HF_ROLES}, got {hf_role!r}")
        for k, tr in enumerate(transforms):
            if not callable(tr):
                raise TypeError(f"ViewPipeline: transform {k} ({tr!r}) is not callable")
        self.transforms = nn.ModuleList([tr if isinstance(tr, nn.Module) else _Wrap(tr) for tr in transforms])
        self.hf_role = hf_role
        if hf_role == "pseudo-anomaly":
            bands = [k for k, tr in enumerate(self.transforms) if isinstance(tr, _BandAugment)]
            if len(bands) != 1:
                raise ValueError(f"ViewPipeline: hf_role='pseudo-anomaly' needs exactly one band augmentation, "
                                 f"found {len(bands)}")
            later = [type(tr).__name__ for tr in self.transforms[bands[0] + 1:] if isinstance(tr, LogMixupExp)]
            if later:
                raise ValueError("ViewPipeline: with hf_role='pseudo-anomaly' no LogMixupExp may follow the band "
                                 "augmentation (the altered copy shares the later steps' draws channel-wise)")

    def forward(self, x: Tensor, alter: bool = True, cutoff_bins: Tensor | Sequence[int] | None = None) -> Tensor:
        """One view of ``x``; ``alter=False`` skips the band augmentations. ``cutoff_bins`` (``[B]``)
        gives every sample its own cutoff band in the band steps (:class:`HighFreqAugment`,
        :class:`LowFreqAugment`, :class:`BandSuppress`), e.g. its machine type's automatic cutoff."""
        for tr in self.transforms:
            if isinstance(tr, (_BandAugment, BandSuppress)):
                if alter or isinstance(tr, BandSuppress):
                    x = tr(x, cutoff_bins=cutoff_bins)
            else:
                x = tr(x)
        return x

    def _with_outlier(self, x: Tensor, cutoff_bins: Tensor | Sequence[int] | None = None) -> tuple[Tensor, Tensor]:
        """A view and its copy with altered bands, sharing every other draw (pseudo-anomaly)."""
        _check_batch(x, "ViewPipeline.draw")
        c = x.shape[1]
        for tr in self.transforms:
            if isinstance(tr, _BandAugment):  # channels: [view, altered copy]; later steps draw once per sample
                x = torch.cat([x, tr(x, cutoff_bins=cutoff_bins)], dim=1)
            elif isinstance(tr, BandSuppress):
                x = tr(x, cutoff_bins=cutoff_bins)
            else:
                x = tr(x)
        return x[:, :c], x[:, c:]

    def draw(self, x: Tensor, cutoff_bins: Tensor | Sequence[int] | None = None) -> Views:
        """The views of the batch ``x`` for this pipeline's ``hf_role`` (see the class docstring);
        ``cutoff_bins`` as in :meth:`forward` (one cutoff band per sample)."""
        _check_batch(x, "ViewPipeline.draw")
        if self.hf_role == "invariance":
            return Views(self(x, alter=False, cutoff_bins=cutoff_bins), self(x, cutoff_bins=cutoff_bins))
        if self.hf_role == "pseudo-anomaly":
            first = self(x, alter=False, cutoff_bins=cutoff_bins)
            second, outlier = self._with_outlier(x, cutoff_bins)
            return Views(first, second, outlier)
        return Views(self(x, cutoff_bins=cutoff_bins), self(x, cutoff_bins=cutoff_bins))

    def scoring_transform(self) -> "ViewPipeline":
        """The steps that also apply to the windows that are scored (``at_scoring``): band
        suppression and pre-normalisation, in order; identity when there are none."""
        return ViewPipeline([tr for tr in self.transforms if getattr(tr, "at_scoring", False)])

    def manual_seed(self, seed: int) -> "ViewPipeline":
        """Give every transform its own CPU generator seeded from ``seed`` (reproducible views)."""
        for k, tr in enumerate(self.transforms):
            if hasattr(tr, "generator"):
                tr.generator = torch.Generator().manual_seed(int(seed) * 1000 + k)
        return self

    def reset(self) -> None:
        """Empty memory banks (``LogMixupExp``)."""
        for tr in self.transforms:
            if hasattr(tr, "reset"):
                tr.reset()

    def __len__(self) -> int:
        return len(self.transforms)

    def extra_repr(self) -> str:
        return f"hf_role={self.hf_role!r}"


class _Wrap(nn.Module):
    """Wrap a plain callable as a module."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def _part(value: Any, name: str) -> dict | None:
    """``False``/``None`` off, ``True`` on with defaults, a dict of keyword arguments."""
    if value is False or value is None:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        return dict(value)
    raise TypeError(f"build_views: {name}= must be True, False, None or a dict of arguments, got {value!r}")


def build_views(config: Any = None, *, mixup: bool | dict | None = True, band: dict | None = None,
                side: str = "high", hf_role: str = DEFAULT_HF_ROLE, crop: bool | dict | None = True,
                specaugment: bool | dict | None = False, normalizer: tuple[float, float] | None = None,
                seed: int | None = None) -> ViewPipeline:
    """The view pipeline (chapter 5) from explicit parameters; the trainer maps a method to them.

    Order: [:class:`BandSuppress`] -> :class:`LogMixupExp` -> [band augmentation] ->
    :class:`RandomResizeCrop` -> [:class:`SpecAugment`] -> [:class:`PreNormalize`]; the band step
    precedes the crop, so its cutoff acts on true frequencies. Inputs are dB log-mels.

    Args:
        config: the front end of the inputs (``asdlib.features.FrontEndConfig``; default 128 mels).
        mixup, crop, specaugment: ``True`` (on, defaults), ``False``/``None`` (off) or a dict of
            keyword arguments of :class:`LogMixupExp` / :class:`RandomResizeCrop` / :class:`SpecAugment`.
        band: ``None`` (no spectrum augmentation) or the keyword arguments of :class:`HighFreqAugment`.
        side: ``"high"`` (the paper's high bands) or ``"low"`` (the control below the cutoff).
        hf_role: what the altered views are for, one of :data:`HF_ROLES` (ignored without ``band``):
            ``"invariance"`` (default): a view and a copy with altered high bands are a positive
            pair; ``"pseudo-anomaly"``: two unaltered views are the pair and an altered copy is an
            outlier (``asdlib.losses``); ``"suppression"``: :class:`BandSuppress` replaces the high
            bands by the training mean, at scoring time too (only ``band``'s ``cutoff_hz`` is used).
        normalizer: ``(mean, std)`` from :func:`fit_normalizer`: appends :class:`PreNormalize`
            (and gives :class:`BandSuppress` the mean as its constant).
        seed: calls :meth:`ViewPipeline.manual_seed`.

    Returns:
        The :class:`ViewPipeline`.
    """
    config = config if config is not None else _default_config()
    if side not in ("high", "low"):
        raise ValueError(f"build_views: side (hf_band) must be 'high' or 'low', got {side!r}")
    if hf_role not in HF_ROLES:
        raise ValueError(f"build_views: hf_role must be one of {', '.join(HF_ROLES)}; got {hf_role!r}")
    if band is not None and not isinstance(band, dict):
        raise TypeError(f"build_views: band= must be None or a dict of HighFreqAugment arguments, got {band!r}")
    mixup_kw, crop_kw, spec_kw = _part(mixup, "mixup"), _part(crop, "crop"), _part(specaugment, "specaugment")
    steps: list[nn.Module] = []
    role = None
    if band is not None:
        role = hf_role
        band = dict(band)
        band_config = band.pop("config", config)
        if hf_role == "suppression":
            mean = None if normalizer is None else float(normalizer[0])
            steps.append(BandSuppress(cutoff_hz=band.get("cutoff_hz", DEFAULT_CUTOFF_HZ), side=side, value=mean,
                                      config=band_config))
    if mixup_kw is not None:
        steps.append(LogMixupExp(**mixup_kw))
    if band is not None and hf_role != "suppression":
        cls = HighFreqAugment if side == "high" else LowFreqAugment
        steps.append(cls(config=band_config, **band))
    if crop_kw is not None:
        steps.append(RandomResizeCrop(**crop_kw))
    if spec_kw is not None:
        steps.append(SpecAugment(**spec_kw))
    if normalizer is not None:
        mean, std = normalizer
        steps.append(PreNormalize(mean, std))
    pipe = ViewPipeline(steps, hf_role=role)
    if seed is not None:
        pipe.manual_seed(seed)
    return pipe


def scoring_steps(config: Any, normalizer: tuple[float, float] | None, suppress: bool = False,
                  cutoff_hz: float | None = DEFAULT_CUTOFF_HZ, side: str = "high") -> ViewPipeline:
    """The steps of :func:`build_views` that also apply to the windows that are scored.

    Args:
        config: the front end of the inputs.
        normalizer: ``(mean, std)`` of the training clips (:func:`fit_normalizer`), or ``None``.
        suppress: ``hf_role="suppression"``: replace the bands beyond ``cutoff_hz`` (``side``) by
            the training mean first.

    Returns:
        ``[BandSuppress] -> [PreNormalize]``, as :meth:`ViewPipeline.scoring_transform` of the
        training pipeline gives them.
    """
    steps: list[nn.Module] = []
    if suppress:
        mean = None if normalizer is None else float(normalizer[0])
        steps.append(BandSuppress(cutoff_hz=cutoff_hz, side=side, value=mean, config=config))
    if normalizer is not None:
        steps.append(PreNormalize(*normalizer))
    return ViewPipeline(steps)


# ---------------------------------------------------------------------------------------------
# a cutoff per machine type, from normal training clips only
# ---------------------------------------------------------------------------------------------
def between_within_ratio(features: Sequence[np.ndarray | Tensor]) -> np.ndarray:
    """Per mel band: how much the clips differ from each other, relative to how much each fluctuates.

    Args:
        features: the ``[M, T]`` dB log-mels of ``N >= 2`` clips (each at least 2 frames).

    Returns:
        ``r_m = B_m / W_m``, ``[M]``: ``B_m`` the variance over clips of each clip's time mean in
        band ``m``, ``W_m`` the mean over clips of the variance over frames (both ``ddof=1``);
        ``0`` where both are 0, ``inf`` where only ``W_m`` is.
    """
    clips = [np.asarray(f.detach().cpu().numpy() if isinstance(f, Tensor) else f, dtype=np.float64)
             for f in features]
    if len(clips) < 2:
        raise ValueError(f"between_within_ratio: need the log-mels of at least 2 clips, got {len(clips)}")
    shapes = {c.shape[0] for c in clips}
    if any(c.ndim != 2 for c in clips) or len(shapes) != 1:
        raise ValueError("between_within_ratio: every clip must be a [M, T] log-mel with the same M; got shapes "
                         f"{sorted({c.shape for c in clips})[:3]}")
    if min(c.shape[1] for c in clips) < 2:
        raise ValueError("between_within_ratio: every clip needs at least 2 frames (a within-clip variance)")
    if not all(np.isfinite(c).all() for c in clips):
        raise ValueError("between_within_ratio: the log-mels contain NaN or inf")
    means = np.stack([c.mean(axis=1) for c in clips])  # [N, M]
    between = means.var(axis=0, ddof=1)
    within = np.mean([c.var(axis=1, ddof=1) for c in clips], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(within > 0, between / np.where(within > 0, within, 1.0), np.where(between > 0, np.inf, 0.0))
    return ratio


def auto_cutoff(features: Sequence[np.ndarray | Tensor], config: Any = None, ratio: float = CUTOFF_RATIO) -> float:
    """The cutoff (Hz) of ``hf_cutoff_hz="auto"`` for one machine type, from its normal training clips' log-mels.

    The rule (ours; chapter 9, reasoning in ``docs/design.md``): the centre frequency of the lowest
    band ``k >= 1`` such that every band from ``k`` to the top has ``r_m >= ratio``
    (:func:`between_within_ratio`); ``config.f_max`` when even the top band falls short (no band
    is then altered). A band centre, so ``HighFreqAugment(cutoff_hz=...).cutoff_bin == k``.

    Args:
        features: normal training log-mels ``[M, T]`` (dB) of one machine type.
        config: their front end (``asdlib.features.FrontEndConfig``; ``n_mels`` must match).
        ratio: the threshold (default :data:`CUTOFF_RATIO`).

    Returns:
        The cutoff in Hz.
    """
    config = config if config is not None else _default_config()
    if not (ratio > 0 and math.isfinite(ratio)):
        raise ValueError(f"auto_cutoff: ratio must be a positive finite number, got {ratio}")
    r = between_within_ratio(features)
    centres = _mel_centres(config)
    if len(r) != len(centres):
        raise ValueError(f"auto_cutoff: the log-mels have {len(r)} mel bands but the front end has "
                         f"n_mels={len(centres)}; pass the matching config=")
    above = r >= ratio
    if not above[-1]:
        return float(config.f_max)
    k = len(r) - 1
    while k > 1 and above[k - 1]:  # walk down while every band from k up qualifies
        k -= 1
    return float(centres[k])


def cutoffs_by_type(features: Sequence[np.ndarray | Tensor], types: Sequence[str], config: Any = None,
                    ratio: float = CUTOFF_RATIO) -> dict[str, float]:
    """:func:`auto_cutoff` of every machine type: ``{type: Hz}`` from the log-mels of its clips.

    ``features[i]`` belongs to machine type ``types[i]``; give normal *training* clips only (the
    trainer passes its training clips; :func:`auto_cutoffs` selects them from an index).
    """
    types = [str(t) for t in types]
    if len(types) != len(features):
        raise ValueError(f"cutoffs_by_type: {len(features)} clips but {len(types)} machine types")
    out = {}
    for t in sorted(set(types)):
        clips = [f for f, ti in zip(features, types) if ti == t]
        try:
            out[t] = auto_cutoff(clips, config, ratio)
        except ValueError as err:
            raise ValueError(f"hf_cutoff_hz='auto', machine type {t!r}: {err}") from None
    return out


def auto_cutoffs(df: Any, config: Any, machine_types: Sequence[str] | None = None,
                 use_cache: bool = True, progress: bool = False) -> dict[str, float]:
    """The ``hf_cutoff_hz="auto"`` cutoffs ``{machine type: Hz}`` of an index ``df`` (chapter 9).

    Reads the normal *training* clips of each machine type only (:func:`asdlib.data.select` with
    ``split="train"``; no test clip is loaded), through the feature cache with front end
    ``config`` (default: the 64-band front end of the contrastive methods,
    :func:`asdlib.methods.default_frontend`), and applies :func:`auto_cutoff`. The trainer
    computes the same numbers from the same clips and records them in the run.
    """
    types = sorted(df["machine_type"].dropna().astype(str).unique()) if machine_types is None else list(machine_types)
    paths, owners = [], []
    for t in types:
        train = select(df, t, "train")
        if train.empty:
            raise ValueError(f"hf_cutoff_hz='auto': machine type {t!r} has no normal training clips")
        paths += list(train["path"].astype(str))
        owners += [t] * len(train)
    feats = load_features(paths, config, use_cache=use_cache, progress=progress)
    return cutoffs_by_type(feats, owners, config)


# ---------------------------------------------------------------------------------------------
# how different are two views, band by band
# ---------------------------------------------------------------------------------------------
def band_difference(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute difference of two view batches per mel band: ``[M]`` (mean over B, C, T)."""
    _check_batch(a, "band_difference")
    if a.shape != b.shape:
        raise ValueError(f"band_difference: the views differ in shape, {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a - b).abs().mean(dim=(0, 1, 3))


def difference_ratio(a: Tensor, b: Tensor, cutoff_bin: int) -> float:
    """How much more two views differ above a cutoff than below it.

    The mean absolute difference over the bands ``>= cutoff_bin`` divided by the mean over the
    bands below (bands weighted equally). 1 means "no more different above than below".
    """
    diff = band_difference(a, b)
    if not 0 < cutoff_bin < len(diff):
        raise ValueError(f"difference_ratio: cutoff_bin must lie in [1, {len(diff) - 1}], got {cutoff_bin}")
    low = float(diff[:cutoff_bin].mean())
    if low == 0.0:
        raise ValueError("difference_ratio: the views are identical below the cutoff (ratio undefined)")
    return float(diff[cutoff_bin:].mean()) / low
