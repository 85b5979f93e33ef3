"""How a clip becomes one vector: encoder embeddings, log-mel statistics, reconstruction errors.

Explained in chapter 4 (``book/04_autoencoder_baseline.ipynb``: reconstruction errors), chapter 6
(``book/06_contrastive.ipynb``: embeddings) and chapter 7 (``book/07_dcase2020_results.ipynb``:
statistics). Each method's ``represent`` (:mod:`asdlib.methods`) calls one of these.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .data import sliding_windows
from .models import reconstruction_error, stack_frames

# --------------------------------------------------------------------------------------------
# clip embeddings from an encoder
# --------------------------------------------------------------------------------------------
def _as_clip(feature: object, i: int) -> torch.Tensor:
    """Check one ``[M, T]`` feature and return it as a float32 tensor."""
    t = feature if isinstance(feature, torch.Tensor) else torch.as_tensor(np.asarray(feature))
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"features[{i}]: expected a non-empty [M, T] log-mel, got shape {tuple(t.shape)}")
    return t.detach().to(torch.float32)


def _embedding_output(out: object) -> torch.Tensor:
    """The ``[B, D]`` embedding from an encoder output (a tensor, or the first item of a tuple)."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"encoder: expected an output of shape [B, D], got {shape}")
    return out


def clip_embeddings(
    encoder: torch.nn.Module,
    features: Sequence[np.ndarray | torch.Tensor],
    segment_frames: int = 64,
    hop_frames: int = 32,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """One embedding per clip: the mean of its L2-normalised window embeddings.

    Each clip is cut into windows of ``segment_frames`` frames every ``hop_frames`` (short clips are
    padded by repetition; a last window aligned to the clip's end covers any tail); the windows
    ``[B, 1, M, S]`` go through ``normalize``, then ``encoder`` in eval mode without gradients
    (its training/eval mode is restored afterwards).

    Args:
        encoder: the encoder, already on ``device``.
        features: log-mels ``[M, T]``, one per clip.
        segment_frames, hop_frames: window length and hop in frames.
        batch_size: windows per forward pass.
        device: where the windows go.
        normalize: the trainer's pre-normalisation, or ``None``.

    Returns:
        ``[N, D]`` float array.
    """
    if segment_frames < 1 or hop_frames < 1 or batch_size < 1:
        raise ValueError(
            f"segment_frames, hop_frames and batch_size must be >= 1, got {segment_frames}, {hop_frames}, {batch_size}"
        )
    if len(features) == 0:
        raise ValueError("features: empty list, nothing to embed")
    clips = [_as_clip(f, i) for i, f in enumerate(features)]
    n_mels = {c.shape[0] for c in clips}
    if len(n_mels) != 1:
        raise ValueError(f"features: all clips need the same number of mel bins, got {sorted(n_mels)}")
    windows = [sliding_windows(c, segment_frames, hop_frames) for c in clips]
    owner = torch.cat([torch.full((w.shape[0],), i, dtype=torch.long) for i, w in enumerate(windows)])
    all_windows = torch.cat(windows)
    was_training = encoder.training
    encoder.eval()
    parts = []
    try:
        with torch.no_grad():
            for start in range(0, all_windows.shape[0], batch_size):
                batch = all_windows[start:start + batch_size].to(device)
                if normalize is not None:
                    batch = normalize(batch)
                emb = _embedding_output(encoder(batch))
                parts.append(F.normalize(emb.float(), dim=1).cpu())
    finally:
        encoder.train(was_training)
    emb = torch.cat(parts)
    sums = torch.zeros(len(clips), emb.shape[1]).index_add_(0, owner, emb)
    counts = torch.bincount(owner, minlength=len(clips)).clamp_min(1).unsqueeze(1)
    return (sums / counts).numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------
# the autoencoder baseline's scores (chapter 4)
# --------------------------------------------------------------------------------------------
def frame_errors(model: torch.nn.Module, logmel: np.ndarray, frames: int = 5) -> np.ndarray:
    """Per-vector reconstruction error of one clip: mean squared error of each stacked vector.

    Args:
        model: the autoencoder.
        logmel: ``[M, T]``; vectors from :func:`asdlib.models.stack_frames`.
        frames: frames per vector.

    Returns:
        ``[T - frames + 1]`` errors; their mean is the clip's score (:func:`reconstruction_scores`).
    """
    x = torch.from_numpy(stack_frames(np.asarray(logmel), frames).astype(np.float32))
    if x.shape[0] == 0:
        raise ValueError(f"frame_errors: the clip has {np.shape(logmel)[-1]} frames, fewer than frames={frames}")
    param = next(model.parameters(), None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = x.to(param.device if param is not None else "cpu")
            err = ((model(x) - x) ** 2).mean(dim=1)
    finally:
        model.train(was_training)
    return err.double().cpu().numpy()


def reconstruction_scores(model: torch.nn.Module, features: Sequence[np.ndarray], frames: int = 5,
                          paths: Sequence[str] | None = None) -> np.ndarray:
    """The official baseline's anomaly score per clip: mean squared error over all its vectors.

    Args:
        model: the autoencoder.
        features: log-mels ``[M, T]``, one per clip.
        frames: frames per vector.
        paths: the clips' files, named in the error raised for a clip too short for one vector.

    Returns:
        ``[N]`` scores.
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    out = np.empty(len(features), dtype=float)
    for i, f in enumerate(features):
        vectors = stack_frames(f, frames)
        if vectors.shape[0] == 0:
            name = paths[i] if paths is not None else f"features[{i}]"
            raise ValueError(f"{name}: the clip has {np.shape(f)[-1]} log-mel frames, fewer than the "
                             f"{frames} frames (ae_frames) one autoencoder vector needs; it is too short to score")
        out[i] = reconstruction_error(model, torch.from_numpy(vectors.astype(np.float32)).to(device))
    return out


# --------------------------------------------------------------------------------------------
# training-free references (chapter 7)
# --------------------------------------------------------------------------------------------
def clip_statistics(features: Sequence[np.ndarray]) -> np.ndarray:
    """Per-clip statistics ``[N, M]``: the mean of each mel band's log-mel over time.

    The representation of the training-free references ``knn-stats`` / ``gmm-stats``
    (:mod:`asdlib.methods`) and of the 1-NN detector the synthetic data was calibrated with.

    Args:
        features: log-mels ``[M, T]``, one per clip.
    """
    if len(features) == 0:
        raise ValueError("features: empty list, nothing to summarise")
    rows = []
    for i, f in enumerate(features):
        arr = np.asarray(f, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise ValueError(f"features[{i}]: expected a non-empty [M, T] log-mel, got shape {arr.shape}")
        rows.append(arr.mean(axis=1))
    return np.stack(rows).astype(np.float32)
