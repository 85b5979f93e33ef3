"""Listening to log-mels and to augmentations (sonification).

Explained in chapter 5 (`book/05_views.ipynb`: hear each view), used in chapter 9
(`book/09_ablations.ipynb`); :func:`example_clips` picks the clips chapter 1
(`book/01_listening.ipynb`) looks at and listens to. Everything uses the front end's own
analysis (:class:`asdlib.features.LogMel`: its Slaney mel filter bank and window).

- :func:`to_audio`: a log-mel back to audio (mel pseudo-inverse + Griffin-Lim): for views
  that move energy in time or frequency (crops), at the cost of an invented phase.
- :func:`apply_to_audio`: apply a log-mel transform's change to the clip's own STFT and keep
  its phase (band augmentations, SpecAugment, mixup); :func:`view_to_audio` for a view
  already computed, :func:`hear_transforms` for several transforms at once.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from .features import FrontEndConfig, LogMel, mel_frequencies

__all__ = ["to_audio", "apply_to_audio", "view_to_audio", "hear_transforms", "example_clips"]


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


def view_to_audio(wave: np.ndarray, view: Any, config: FrontEndConfig | None = None) -> np.ndarray:
    """The clip with a view's change of its log-mel applied to its STFT (:func:`apply_to_audio`).

    Args:
        wave: the mono clip the view was made from.
        view: the view, the clip's log-mel after a transform (``[1, 1, M, T]``).
        config: the front end the log-mel was made with.

    Returns:
        float32 audio of the clip's length.
    """
    return apply_to_audio(wave, lambda _: view, config)


def hear_transforms(wave: np.ndarray, transforms: Mapping[str, tuple[type, dict]],
                    config: FrontEndConfig | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """The clip and how it sounds after each of several log-mel transforms, the original first.

    Args:
        wave: a mono clip.
        transforms: ``{title: (transform class, keyword arguments)}``; each transform is built
            anew with ``config=config`` and ``generator=torch.Generator().manual_seed(seed)``, so
            two calls draw the same.
        config: the front end.
        seed: the seed of every transform's generator.

    Returns:
        ``{"original": wave, title: audio, ...}`` (:func:`apply_to_audio`).
    """
    out = {"original": wave}
    for title, (cls, kwargs) in transforms.items():
        transform = cls(config=config, generator=torch.Generator().manual_seed(seed), **kwargs)
        out[title] = apply_to_audio(wave, transform, config=config)
    return out


def example_clips(clips: Any, machine_type: str, prefix: str = "") -> dict[str, np.ndarray]:
    """A normal clip and anomalous clips of one machine ID, to look at and listen to.

    The ID is the first (sorted) of the type with both normal and anomalous clips (with none,
    all clips of the type). With the synthetic ground truth (columns ``anomaly_band``,
    ``anomaly_kind``, ``severity`` of :func:`asdlib.metrics.attach_manifest`, optionally
    ``band_hz``) the strongest anomaly of each band (``low``, then ``high``) is taken, else the
    first anomaly.

    Args:
        clips: an index table (:func:`asdlib.data.index`) of test clips.
        machine_type: the machine type.
        prefix: put before every title (e.g. ``"real "``).

    Returns:
        ``{title: wave}``: ``"<prefix><type> <unit>: normal"`` first, then each anomaly, titled
        ``"<kind> (<band>, <band_hz> Hz)"`` or ``"<prefix><type> <unit>: anomaly"``.
    """
    from .data import load_audio  # noqa: PLC0415

    rows = clips[clips["machine_type"] == machine_type]
    if rows.empty:
        raise ValueError(f"clips: no clip of machine type {machine_type!r}")
    both = [u for u, g in rows.groupby("unit") if g["label"].nunique() == 2]
    rows = rows[rows["unit"] == both[0]] if both else rows
    items = {}
    normal = rows[rows["label"] == "normal"]
    if len(normal):
        items[f"{prefix}{machine_type} {normal['unit'].iloc[0]}: normal"] = load_audio(normal["path"].iloc[0])
    anomalies = rows[rows["label"] == "anomaly"]
    if "anomaly_band" in anomalies.columns:
        for band in ("low", "high"):
            group = anomalies[anomalies["anomaly_band"] == band]
            if len(group):
                row = group.sort_values("severity", ascending=False).iloc[0]
                hz = f", {row['band_hz']} Hz" if "band_hz" in row.index else ""
                items[f"{row['anomaly_kind']} ({band}{hz})"] = load_audio(row["path"])
    elif len(anomalies):
        items[f"{prefix}{machine_type} {anomalies['unit'].iloc[0]}: anomaly"] = load_audio(anomalies["path"].iloc[0])
    return items
