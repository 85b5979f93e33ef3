"""Features: the log-mel front end, mel-bin helpers and an on-disk feature cache.

Explained in chapter 3, `book/03_features_and_metrics.ipynb`.

The front end is the DCASE baseline's: power spectrogram (Hann window, ``center=True`` with
zero padding, as librosa >= 0.10), Slaney mel filters (librosa's default), then
``20 / power * log10(mel + eps)`` with ``eps = sys.float_info.epsilon`` (``10 * log10`` for
power 2). With the default settings a 10 s clip at 16 kHz gives 128 x 313 values.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import torch
from torch import nn

from asdlib.data import file_digest, load_audio
from asdlib.dcase import EPS as _DCASE_EPS
from asdlib.files import atomic_path

__all__ = [
    "EPS",
    "FrontEndConfig",
    "LogMel",
    "logmel",
    "logmel_batch",
    "mel_frequencies",
    "hz_to_mel_bin",
    "FeatureCache",
    "FRONTEND_REVISION",
]

EPS: float = _DCASE_EPS  # sys.float_info.epsilon, the DCASE baseline's (asdlib.dcase.EPS)

#: Revision of the front end's code. Bump it whenever a change alters the computed numbers,
#: even at float-rounding level: cached features and cached book runs include it in their
#: keys, so results never depend on what an older version left in the cache. (Training
#: amplifies differences of a few 1e-6 dB in the features into AUC differences of a few points.)
FRONTEND_REVISION: int = 2


@dataclass(frozen=True)
class FrontEndConfig:
    """Settings of the log-mel front end (defaults: the DCASE Task 2 baseline)."""

    sr: int = 16000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    power: float = 2.0
    fmin: float = 0.0
    fmax: float | None = None
    center: bool = True
    channel: str | int = "mean"  # of a multi-channel clip (DCASE 2026: near and far microphone): "mean" or 0, 1, ...

    def __post_init__(self) -> None:
        for name in ("sr", "n_fft", "hop_length", "n_mels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"FrontEndConfig.{name} must be a positive int, got {value!r}")
            object.__setattr__(self, name, int(value))
        if not self.power > 0:
            raise ValueError(f"FrontEndConfig.power must be > 0, got {self.power!r}")
        object.__setattr__(self, "power", float(self.power))
        object.__setattr__(self, "fmin", float(self.fmin))
        if self.fmax is not None:
            object.__setattr__(self, "fmax", float(self.fmax))
        if not 0.0 <= self.fmin < self.f_max <= self.sr / 2:
            raise ValueError(
                f"FrontEndConfig needs 0 <= fmin < fmax <= sr/2, got fmin={self.fmin}, "
                f"fmax={self.f_max}, sr={self.sr}"
            )
        object.__setattr__(self, "center", bool(self.center))
        ch = self.channel
        if not (ch == "mean" or (isinstance(ch, (int, np.integer)) and not isinstance(ch, bool) and ch >= 0)):
            raise ValueError(f"FrontEndConfig.channel must be 'mean' (average the channels) or a channel number "
                             f">= 0, got {ch!r}")
        object.__setattr__(self, "channel", ch if ch == "mean" else int(ch))

    @property
    def f_max(self) -> float:
        """The upper mel edge in Hz (``fmax``, or ``sr / 2`` when it is ``None``)."""
        return self.sr / 2 if self.fmax is None else self.fmax

    def key(self) -> str:
        """A short stable hash of all fields (12 hex characters), for cache names."""
        fields = dataclasses.asdict(self)
        if fields["channel"] == "mean":  # the default: the names of caches written before the setting stay
            del fields["channel"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for a clip of ``n_samples`` samples (313 for 10 s at defaults)."""
        if n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        if self.center:  # n_fft // 2 zeros on each side
            return 1 + (n_samples + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length
        if n_samples < self.n_fft:
            raise ValueError(f"{n_samples} samples are fewer than n_fft={self.n_fft} (center=False)")
        return 1 + (n_samples - self.n_fft) // self.hop_length


def _mel_basis(config: FrontEndConfig) -> np.ndarray:
    """librosa's default (Slaney) mel filter bank ``[n_mels, n_fft // 2 + 1]``, float64."""
    return librosa.filters.mel(
        sr=config.sr,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.f_max,
        htk=False,
        norm="slaney",
        dtype=np.float64,
    )


def _band_blocks(basis: np.ndarray, n_blocks: int = 8) -> list[tuple[int, int, int, int]]:
    """Split the (banded) mel matrix into row blocks with the FFT-bin range they touch.

    Each mel filter is non-zero on a few neighbouring FFT bins only, so a block-by-block product
    skips most of the zeros of the dense one (same result).
    """
    nonzero = basis > 0
    rows = basis.shape[0]
    lo = np.where(nonzero.any(1), nonzero.argmax(1), basis.shape[1])
    hi = np.where(nonzero.any(1), basis.shape[1] - nonzero[:, ::-1].argmax(1), 0)
    edges = np.unique(np.linspace(0, rows, min(n_blocks, rows) + 1).astype(int))
    blocks = []
    for a, b in zip(edges[:-1], edges[1:]):
        f0, f1 = int(lo[a:b].min()), int(hi[a:b].max())
        blocks.append((int(a), int(b), min(f0, f1), f1))
    return blocks


class LogMel(nn.Module):
    """Log-mel spectrogram ``[..., n_samples] -> [..., n_mels, n_frames]``.

    The window and mel matrix are buffers (``.to(device)`` moves them; the input must be on the
    module's device). Float64 input is computed in float64, anything else in float32. On GPU or
    with gradients: ``torch.stft`` and one dense mel product; on CPU without gradients: a
    clip-by-clip path with a banded mel matrix, the same numbers to float rounding (tested;
    ``docs/design.md``).

    Args:
        config: the front end (default :class:`FrontEndConfig`).
    """

    def __init__(self, config: FrontEndConfig | None = None) -> None:
        super().__init__()
        self.config = config or FrontEndConfig()
        basis = _mel_basis(self.config)
        self.register_buffer("window", torch.hann_window(self.config.n_fft, dtype=torch.float32))
        self.register_buffer("mel_fb", torch.from_numpy(basis).float())
        self._blocks = _band_blocks(basis)
        # The CPU path's copies of the mel matrix, transposed to [n_bins, n_mels].
        self._fb_t = {
            torch.float32: np.ascontiguousarray(basis.T, dtype=np.float32),
            torch.float64: np.ascontiguousarray(basis.T, dtype=np.float64),
        }
        self._ws: dict[tuple, tuple[np.ndarray, ...]] = {}

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        return torch.stft(
            x,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            window=self.window.to(x.dtype),
            center=c.center,
            pad_mode="constant",
            return_complex=True,
        )

    def _power(self, spec: torch.Tensor) -> torch.Tensor:
        """``|spec| ** power`` (differentiable)."""
        p = self.config.power
        if p == 2.0:
            return spec.real.square() + spec.imag.square()
        mag = spec.abs()
        return mag if p == 1.0 else mag.pow(p)

    def _workspace(self, n_samples: int, dtype: torch.dtype) -> tuple[np.ndarray, ...]:
        """Work arrays of the CPU path, kept between calls (one set per thread): the zero-padded
        wave (its padding stays zero), the frames and the power spectrum."""
        key = (threading.get_ident(), n_samples, dtype)
        ws = self._ws.get(key)
        if ws is None:
            if len(self._ws) >= 8:  # a few threads / clip lengths at most
                self._ws.clear()
            c = self.config
            pad = c.n_fft // 2 if c.center else 0
            n_frames = c.n_frames(n_samples)
            np_dtype = np.float64 if dtype == torch.float64 else np.float32
            ws = (
                np.zeros(n_samples + 2 * pad, dtype=np_dtype),
                np.empty((n_frames, c.n_fft), dtype=np_dtype),
                np.empty((n_frames, c.n_fft // 2 + 1), dtype=np_dtype),
                np.empty((n_frames, c.n_mels), dtype=np_dtype),
            )
            self._ws[key] = ws
        return ws

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_ws"] = {}  # work arrays are not part of the module
        return state

    def _logmel_cpu(self, flat: torch.Tensor) -> torch.Tensor:
        """The CPU feature-extraction path for ``flat [B, n_samples]`` (no autograd)."""
        c = self.config
        n = flat.shape[-1]
        pad = c.n_fft // 2 if c.center else 0
        padded, frames, power, mel = self._workspace(n, flat.dtype)
        padded_t, frames_t = torch.from_numpy(padded), torch.from_numpy(frames)
        window = self.window.to(flat.dtype)
        fb_t = self._fb_t[flat.dtype]
        out = np.empty((flat.shape[0], c.n_mels, frames.shape[0]), dtype=fb_t.dtype)
        for i, clip in enumerate(flat.numpy()):
            padded[pad : pad + n] = clip
            torch.mul(padded_t.unfold(0, c.n_fft, c.hop_length)[: frames.shape[0]], window, out=frames_t)
            np.abs(torch.fft.rfft(frames_t).numpy(), out=power)  # |X| [T, F]
            if c.power == 2.0:
                np.square(power, out=power)
            elif c.power != 1.0:
                np.power(power, c.power, out=power)
            for a, b, f0, f1 in self._blocks:
                np.matmul(power[:, f0:f1], fb_t[f0:f1, a:b], out=mel[:, a:b])
            np.add(mel, EPS, out=mel)
            np.log10(mel.T, out=out[i])
        out *= 20.0 / c.power
        return torch.from_numpy(out)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Log-mel of ``wave [..., n_samples]`` as ``[..., n_mels, n_frames]``."""
        if not isinstance(wave, torch.Tensor):
            raise TypeError(f"LogMel expects a torch.Tensor, got {type(wave).__name__}")
        if wave.ndim == 0 or wave.shape[-1] == 0:
            raise ValueError(f"LogMel expects a wave [..., n_samples] with samples, got {tuple(wave.shape)}")
        c = self.config
        n = wave.shape[-1]
        if not c.center and n < c.n_fft:
            raise ValueError(f"LogMel: {n} samples < n_fft={c.n_fft} with center=False")
        if wave.dtype != torch.float64:
            wave = wave.float()
        lead = wave.shape[:-1]
        flat = wave.reshape(-1, n)
        if flat.device.type == "cpu" and not (torch.is_grad_enabled() and flat.requires_grad):
            out = self._logmel_cpu(flat.detach())
        else:
            mel = torch.matmul(self.mel_fb.to(flat.dtype), self._power(self._stft(flat)))
            out = (20.0 / c.power) * torch.log10(mel + EPS)
        return out.reshape(*lead, *out.shape[-2:])


@functools.lru_cache(maxsize=16)
def _module(config: FrontEndConfig, device: str) -> LogMel:
    return LogMel(config).to(device).eval()


def _as_wave(wave: np.ndarray | torch.Tensor, where: str) -> torch.Tensor:
    t = torch.as_tensor(wave)
    if not t.is_floating_point():
        raise TypeError(f"{where}: expected float audio samples, got dtype {t.dtype}")
    if t.ndim < 1 or t.shape[-1] == 0:
        raise ValueError(f"{where}: expected a non-empty wave [n_samples], got shape {tuple(t.shape)}")
    if t.dtype != torch.float64:
        t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{where}: the wave holds non-finite samples")
    return t


def logmel(wave: np.ndarray | torch.Tensor, config: FrontEndConfig | None = None) -> np.ndarray:
    """Log-mel ``[n_mels, n_frames]`` (float32 numpy) of one clip ``[n_samples]`` on CPU."""
    config = config or FrontEndConfig()
    t = _as_wave(wave, "logmel")
    with torch.inference_mode():
        out = _module(config, "cpu")(t.cpu())
    return out.numpy().astype(np.float32, copy=False)


def logmel_batch(
    waves: Sequence[np.ndarray | torch.Tensor],
    config: FrontEndConfig | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
) -> list[np.ndarray]:
    """Log-mels of many clips, in input order; clips of equal length are batched together.

    Args:
        waves: clips ``[n_samples]``, of any lengths.
        config: the front end (default :class:`FrontEndConfig`).
        device: where to compute.
        batch_size: clips per batch.

    Returns:
        One float32 ``[n_mels, config.n_frames(len(clip))]`` array per clip.
    """
    config = config or FrontEndConfig()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tensors = [_as_wave(w, f"logmel_batch waves[{i}]") for i, w in enumerate(waves)]
    for i, t in enumerate(tensors):
        if t.ndim != 1:
            raise ValueError(f"logmel_batch waves[{i}]: expected a 1-D wave, got shape {tuple(t.shape)}")
    module = _module(config, str(torch.device(device)))
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault(int(t.shape[0]), []).append(i)
    out: list[np.ndarray | None] = [None] * len(tensors)
    with torch.inference_mode():
        for idx in groups.values():
            for s in range(0, len(idx), batch_size):
                chunk = idx[s : s + batch_size]
                batch = torch.stack([tensors[i].float() for i in chunk]).to(device)
                mel = module(batch).cpu().numpy()
                for j, i in enumerate(chunk):
                    out[i] = mel[j]
    return out  # type: ignore[return-value]


def mel_frequencies(config: FrontEndConfig | None = None) -> np.ndarray:
    """Centre frequency in Hz of each mel band (Slaney scale), ``[n_mels]``."""
    config = config or FrontEndConfig()
    edges = librosa.mel_frequencies(config.n_mels + 2, fmin=config.fmin, fmax=config.f_max, htk=False)
    return edges[1:-1]


def hz_to_mel_bin(hz: float, config: FrontEndConfig | None = None) -> int:
    """Index of the first mel band whose centre is >= ``hz``, in ``[0, n_mels]``."""
    hz = float(hz)
    if not np.isfinite(hz):
        raise ValueError(f"hz_to_mel_bin: hz must be finite, got {hz}")
    return int(np.searchsorted(mel_frequencies(config), hz, side="left"))


class FeatureCache:
    """Log-mel features of audio files, computed once and kept as ``.npy`` files.

    The key combines ``config.key()``, :data:`FRONTEND_REVISION` (the folder name) and the file's
    content (:func:`asdlib.data.file_digest`), so a changed file, setting or front-end code never
    serves stale features, and a copied or moved data set reuses them. Files are written
    atomically, and only when the audio did not change while they were computed.

    Args:
        cache_dir: the cache folder; ``None`` disables the disk cache (computed on every call).
        config: the front end (default :class:`FrontEndConfig`).
        device: where to compute.
        batch_size: clips per batch.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None,
        config: FrontEndConfig | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> None:
        self.config = config or FrontEndConfig()
        self.device = device
        self.batch_size = int(batch_size)
        self.folder = None if cache_dir is None else Path(cache_dir) / f"logmel-{self.config.key()}-r{FRONTEND_REVISION}"
        self.hits = 0
        self.misses = 0

    def cache_file(self, path: str | os.PathLike[str]) -> Path | None:
        """Where the features of ``path`` are (or would be) stored; ``None`` without cache."""
        if self.folder is None:
            return None
        return self.folder / f"{self._digest(path)}.npy"

    @staticmethod
    def _digest(path: str | os.PathLike[str]) -> str:
        p = Path(path).absolute()
        try:
            return file_digest(p)
        except OSError as exc:
            raise FileNotFoundError(f"FeatureCache: cannot read audio file {p} ({exc})") from exc

    def _load(self, target: Path | None) -> np.ndarray | None:
        if target is None or not target.is_file():
            return None
        try:
            arr = np.load(target, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # unreadable cache entry: recompute
        if arr.ndim != 2 or arr.shape[0] != self.config.n_mels:
            return None
        return arr

    def _store(self, target: Path | None, feat: np.ndarray) -> None:
        if target is None:
            return
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.save(fh, feat, allow_pickle=False)

    def get(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Features ``[n_mels, n_frames]`` of one audio file (from disk when cached)."""
        return self.features([path])[0]

    def features(
        self, paths: Sequence[str | os.PathLike[str]], progress: bool = False
    ) -> list[np.ndarray]:
        """Features of many files, in order; uncached clips are batched through ``LogMel``."""
        targets = [self.cache_file(p) for p in paths]
        out: list[np.ndarray | None] = [self._load(t) for t in targets]
        todo = [i for i, f in enumerate(out) if f is None]
        self.hits += len(paths) - len(todo)
        self.misses += len(todo)
        bar = None
        if progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="log-mel", unit="clip")
        # One clip's STFT is too small to share between threads: compute with one thread, then restore.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for s in range(0, len(todo), self.batch_size):
                chunk = todo[s : s + self.batch_size]
                waves = [load_audio(paths[i], sr=self.config.sr, channel=self.config.channel) for i in chunk]
                for i, feat in zip(chunk, logmel_batch(waves, self.config, self.device, self.batch_size)):
                    if targets[i] is not None and self.cache_file(paths[i]) == targets[i]:
                        self._store(targets[i], feat)  # the file did not change meanwhile
                    out[i] = feat
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            torch.set_num_threads(threads)
        if bar is not None:
            bar.close()
        return out  # type: ignore[return-value]


def load_features(paths: Sequence[str], config: FrontEndConfig, use_cache: bool = True,
                  progress: bool = False) -> list[np.ndarray]:
    """Log-mel features of ``paths`` through the on-disk feature cache (``$ASD_CACHE/features``)."""
    from .settings import cache_dir

    cache = FeatureCache(cache_dir() / "features" if use_cache else None, config)
    return cache.features(list(paths), progress=progress)
