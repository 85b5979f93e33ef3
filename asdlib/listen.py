"""Listening to log-mels and to augmentations (sonification).

Explained in chapter 5, `book/05_views.ipynb` (hear each view) and used in chapter 9,
`book/09_ablations.ipynb`.

Both functions use the front end's own analysis, :class:`asdlib.features.LogMel`: its mel
filter bank (``LogMel.mel_fb``, the Slaney filters the features are computed with) and its
window. There is no second mel front end here.

- :func:`to_audio`: a log-mel back to audio (mel pseudo-inverse + Griffin-Lim): for views
  that move energy in time or frequency (crops), at the cost of an invented phase.
- :func:`apply_to_audio`: apply a log-mel transform's change to the clip's own STFT and keep
  its phase: for transforms that change values in place (band augmentations, SpecAugment, mixup).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from .features import FrontEndConfig, LogMel, mel_frequencies

__all__ = ["to_audio", "apply_to_audio"]


def _front_end(config: FrontEndConfig | None) -> LogMel:
    return LogMel(config if config is not None else FrontEndConfig())


def _as_numpy_2d(logmel: Any, name: str) -> np.ndarray:
    arr = logmel.detach().cpu().numpy() if isinstance(logmel, Tensor) else np.asarray(logmel)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a log-mel [M, T], got shape {np.shape(logmel)}")
    return arr.astype(np.float64)


def _peak_limit(y: np.ndarray) -> np.ndarray:
    """Scale down (never up) so the waveform stays within [-1, 1]."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return (y / peak if peak > 1.0 else y).astype(np.float32)


def to_audio(logmel: Any, config: FrontEndConfig | None = None, n_iter: int = 32) -> np.ndarray:
    """Render a dB log-mel ``[M, T]`` back to audio (mel pseudo-inverse + Griffin-Lim).

    The mel power ``10 ** (logmel * power / 20)`` (the inverse of ``20 / power * log10``) is
    mapped back to an STFT magnitude by non-negative least squares against the front end's
    filter bank (``librosa.util.nnls``, as ``librosa.feature.inverse.mel_to_stft`` does with
    its own copy), then ``librosa.griffinlim`` invents a phase (``n_iter`` iterations), so
    expect a "phasey" sound. Returns float32 audio at ``config.sr``, scaled down if it would
    leave [-1, 1].
    """
    import librosa  # noqa: PLC0415

    fe = _front_end(config)
    c = fe.config
    arr = _as_numpy_2d(logmel, "to_audio")
    if arr.shape[0] != c.n_mels:
        raise ValueError(f"to_audio: log-mel has {arr.shape[0]} bands, config.n_mels={c.n_mels}")
    if n_iter < 1:
        raise ValueError(f"to_audio: n_iter must be >= 1, got {n_iter}")
    mel_power = np.power(10.0, arr * c.power / 20.0)
    magnitude = np.power(librosa.util.nnls(fe.mel_fb.double().numpy(), mel_power), 1.0 / c.power)
    y = librosa.griffinlim(magnitude, n_iter=n_iter, hop_length=c.hop_length, n_fft=c.n_fft,
                           window=fe.window.double().numpy(), center=c.center, pad_mode="constant")
    return _peak_limit(y)


def apply_to_audio(wave: np.ndarray, transform: Callable[[Tensor], Tensor],
                   config: FrontEndConfig | None = None) -> np.ndarray:
    """Hear what a log-mel transform does: apply its change to the audio's STFT, keep the phase.

    Steps: the front end's log-mel of ``wave`` (:class:`asdlib.features.LogMel`, float64); run
    ``transform`` on it as a ``[1, 1, M, T]`` batch; the change ``gain_db = out - in`` per band
    and frame is mapped to STFT bins as the filter-bank-weighted average of the bands covering
    each bin (bins no filter covers take the nearest band's gain); the complex STFT (same
    window, hop and padding as the front end) is multiplied by ``10 ** (gain / 20)`` and
    inverted with the **original phase**, so it sounds natural.

    Approximation: a mel band's gain is spread over its whole triangular support, so bins just
    below the cutoff, which the first high band also covers, are slightly affected; and the
    new STFT is not exactly consistent, so re-analysing the output gives back the transform's
    log-mel only approximately. For crops (which move energy) use :func:`to_audio`.
    Returns float32 audio of the same length, scaled down if it would leave [-1, 1].
    """
    fe = _front_end(config).double()
    c = fe.config
    y = np.asarray(wave, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"apply_to_audio: expected a non-empty mono waveform, got shape {y.shape}")
    wave_t = torch.from_numpy(y)
    with torch.no_grad():
        x = fe(wave_t).float()[None, None]  # the front end's log-mel [1, 1, M, T]
        out = transform(x)
    if not isinstance(out, Tensor) or tuple(out.shape) != tuple(x.shape):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"apply_to_audio: the transform changed the shape {tuple(x.shape)} -> {shape}; "
                         "use to_audio for shape-changing transforms")
    gain_db = (out - x)[0, 0].double().numpy()  # [M, T]
    fb = fe.mel_fb.numpy()  # [M, F], the front end's filter bank
    weight = fb.sum(axis=0)  # [F]
    bin_gain = (fb.T @ gain_db) / np.where(weight > 0, weight, 1.0)[:, None]
    uncovered = np.flatnonzero(weight <= 0)
    if uncovered.size:
        bin_hz = np.fft.rfftfreq(c.n_fft, 1.0 / c.sr)
        nearest = np.abs(bin_hz[uncovered, None] - mel_frequencies(c)[None, :]).argmin(axis=1)
        bin_gain[uncovered] = gain_db[nearest]
    stft = torch.stft(wave_t, n_fft=c.n_fft, hop_length=c.hop_length, window=fe.window, center=c.center,
                      pad_mode="constant", return_complex=True)  # [F, T], as the front end frames it
    new = stft * torch.from_numpy(np.power(10.0, bin_gain / 20.0))
    y_out = torch.istft(new, n_fft=c.n_fft, hop_length=c.hop_length, window=fe.window, center=c.center,
                        length=y.size).numpy()
    return _peak_limit(y_out)
