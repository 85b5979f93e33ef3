"""Anomaly scores from embeddings: k-NN, Mahalanobis and GMM against normal training embeddings.

Explained in chapter 6, `book/06_contrastive.ipynb`.

A trained encoder maps each clip to one embedding (:func:`clip_embeddings`). A scorer keeps, per
*unit* (machine ID for DCASE 2020, section for DCASE 2022), a memory of the normal training
embeddings of that unit and scores a test clip against its own unit's memory only. For 2022 the
memory holds both domains' training clips (990 source + 10 target), so one score serves both
domains, as the task requires. Every score follows the DCASE convention: higher = more anomalous.
"""

from __future__ import annotations

from typing import Callable, Hashable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.covariance import EmpiricalCovariance, LedoitWolf
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from .data import sliding_windows

__all__ = [
    "UnitScorer",
    "KNNScorer",
    "MahalanobisScorer",
    "GMMScorer",
    "SCORERS",
    "make_scorer",
    "clip_embeddings",
]

_GLOBAL = "<global>"


def _as_embeddings(emb: object, name: str = "emb") -> np.ndarray:
    """Check an ``[N, D]`` finite embedding array and return it as float64."""
    if isinstance(emb, torch.Tensor):
        emb = emb.detach().cpu().numpy()
    arr = np.asarray(emb, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty [N, D] array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.unique(np.nonzero(~np.isfinite(arr))[0])[:5].tolist()
        raise ValueError(f"{name}: non-finite values in row(s) {bad}")
    return arr


def _as_units(units: Sequence[Hashable] | None, n: int, name: str = "units") -> np.ndarray | None:
    """Check that ``units`` has one entry per embedding row (or is None)."""
    if units is None:
        return None
    arr = np.asarray(list(units), dtype=object)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} unit names (one per embedding row), got {arr.shape[0]}")
    return arr


class UnitScorer:
    """Base class: one model per unit, fitted on normal embeddings; subclasses implement
    ``_fit_one(x) -> model`` and ``_score_one(model, x) -> scores``."""

    min_train: int = 1

    def fit(self, emb: np.ndarray, units: Sequence[Hashable] | None = None) -> "UnitScorer":
        """Fit one memory / model per unit on normal training embeddings ``[N, D]``.

        ``units=None`` fits one global model for all clips.
        """
        x = _as_embeddings(emb)
        u = _as_units(units, x.shape[0])
        self.dim_ = x.shape[1]
        self.global_ = u is None
        groups = {_GLOBAL: np.arange(x.shape[0])} if u is None else {
            key: np.flatnonzero(u == key) for key in dict.fromkeys(u.tolist())}
        self.models_: dict[Hashable, object] = {}
        for key, idx in groups.items():
            if len(idx) < self.min_train:
                raise ValueError(
                    f"{type(self).__name__}: unit {key!r} has {len(idx)} training embedding(s), "
                    f"needs at least {self.min_train}"
                )
            self.models_[key] = self._fit_one(x[idx])
        return self

    def score(self, emb: np.ndarray, units: Sequence[Hashable] | None = None) -> np.ndarray:
        """Anomaly scores ``[N]`` (higher = more anomalous), each clip against its own unit.

        A scorer fitted with ``units=None`` scores every clip against its one global model.
        """
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__}: call fit() before score()")
        x = _as_embeddings(emb)
        if x.shape[1] != self.dim_:
            raise ValueError(f"emb: dimension {x.shape[1]} differs from the fitted dimension {self.dim_}")
        u = _as_units(units, x.shape[0])
        out = np.empty(x.shape[0], dtype=np.float64)
        if self.global_:
            out[:] = self._score_one(self.models_[_GLOBAL], x)
            return out
        if u is None:
            raise ValueError(
                f"units: this scorer was fitted per unit ({sorted(map(str, self.models_))}); "
                "pass the test clips' units"
            )
        for key in dict.fromkeys(u.tolist()):
            if key not in self.models_:
                raise ValueError(
                    f"units: unit {key!r} has no training memory; fitted units are "
                    f"{sorted(map(str, self.models_))}"
                )
            idx = np.flatnonzero(u == key)
            out[idx] = self._score_one(self.models_[key], x[idx])
        return out

    def fit_score(self, train_emb: np.ndarray, train_units: Sequence[Hashable] | None,
                  test_emb: np.ndarray, test_units: Sequence[Hashable] | None) -> np.ndarray:
        """``fit`` on the training embeddings, then ``score`` the test embeddings."""
        return self.fit(train_emb, train_units).score(test_emb, test_units)

    def _fit_one(self, x: np.ndarray) -> object:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score_one(self, model: object, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class KNNScorer(UnitScorer):
    """Mean distance to the ``k`` nearest normal training embeddings of the same unit.

    With ``metric="cosine"`` the distance is ``1 - cos``. Any scikit-learn
    ``NearestNeighbors`` metric works (e.g. ``"euclidean"``).
    """

    def __init__(self, k: int = 1, metric: str = "cosine") -> None:
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)
        self.metric = metric
        self.min_train = self.k

    def _fit_one(self, x: np.ndarray) -> NearestNeighbors:
        """Index one unit's memory."""
        return NearestNeighbors(n_neighbors=self.k, metric=self.metric).fit(x)

    def _score_one(self, model: NearestNeighbors, x: np.ndarray) -> np.ndarray:
        """Mean of the k smallest distances."""
        dist, _ = model.kneighbors(x, n_neighbors=self.k)
        return dist.mean(axis=1)


class MahalanobisScorer(UnitScorer):
    """Mahalanobis distance to the unit's normal embeddings (mean and covariance).

    ``shrinkage=True`` estimates the covariance with Ledoit-Wolf shrinkage (stable when the
    embedding dimension is large compared to the number of clips), else the empirical
    covariance (pseudo-inverse when singular). The score is the distance, not its square.
    """

    def __init__(self, shrinkage: bool = True) -> None:
        self.shrinkage = bool(shrinkage)
        self.min_train = 2

    def _fit_one(self, x: np.ndarray) -> EmpiricalCovariance:
        """Fit mean and covariance of one unit."""
        return (LedoitWolf() if self.shrinkage else EmpiricalCovariance()).fit(x)

    def _score_one(self, model: EmpiricalCovariance, x: np.ndarray) -> np.ndarray:
        """sqrt((x - mu)^T Sigma^-1 (x - mu)); sklearn returns the squared distance."""
        return np.sqrt(np.maximum(model.mahalanobis(x), 0.0))


class GMMScorer(UnitScorer):
    """Negative log-likelihood under a Gaussian mixture fitted to the unit's normal embeddings."""

    def __init__(self, n_components: int = 2, covariance_type: str = "diag", seed: int = 0) -> None:
        if int(n_components) != n_components or n_components < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
        self.n_components = int(n_components)
        self.covariance_type = covariance_type
        self.seed = seed
        self.min_train = self.n_components

    def _fit_one(self, x: np.ndarray) -> GaussianMixture:
        """Fit one mixture."""
        return GaussianMixture(n_components=self.n_components, covariance_type=self.covariance_type,
                               random_state=self.seed).fit(x)

    def _score_one(self, model: GaussianMixture, x: np.ndarray) -> np.ndarray:
        """Negative log-likelihood per clip."""
        return -model.score_samples(x)


SCORERS: dict[str, type[UnitScorer]] = {
    "knn": KNNScorer,
    "mahalanobis": MahalanobisScorer,
    "gmm": GMMScorer,
}


def make_scorer(name: str, **kw: object) -> UnitScorer:
    """A scorer by name: ``"knn"``, ``"mahalanobis"`` or ``"gmm"``; ``kw`` go to its constructor."""
    key = str(name).lower()
    if key not in SCORERS:
        raise ValueError(f"unknown scorer {name!r}; choices: {sorted(SCORERS)}")
    return SCORERS[key](**kw)


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
    """One embedding per clip: the mean of its L2-normalised window embeddings, ``[N, D]``.

    Each ``[M, T]`` clip is cut into windows of ``segment_frames`` frames every ``hop_frames``
    (``Tensor.unfold`` over time; short clips are padded by repetition, and a last window aligned
    to the clip's end covers any tail). Windows ``[B, 1, M, S]`` go through ``normalize`` (the
    trainer's pre-normalisation) when given, then through ``encoder`` in eval mode under
    ``torch.no_grad()``; the encoder must already be on ``device``. Its training/eval mode is
    restored afterwards.
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

    ``logmel`` is ``[M, T]``; vectors come from :func:`asdlib.models.stack_frames`, so the
    result has ``T - frames + 1`` values; their mean is the clip's score
    (:func:`reconstruction_scores`). Chapter 4 plots them over time.
    """
    from .models import stack_frames

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

    A clip too short for one ``frames``-frame vector is an error that names its file (``paths``).
    """
    from .models import reconstruction_error, stack_frames

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
    (:mod:`asdlib.methods`), and of the 1-NN detector the synthetic data was calibrated with.
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
