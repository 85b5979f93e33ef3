"""Anomaly scores from embeddings: k-NN, Mahalanobis and GMM against normal training embeddings.

Explained in chapter 6 (``book/06_contrastive.ipynb``) and, for the domain-shift scorers, chapter 8
(``book/08_dcase2022_results.ipynb``); their sources and reasoning are in ``docs/design.md``.

A scorer keeps, per *unit* (machine ID for DCASE 2020, section for DCASE 2022), a memory of that
unit's normal training embeddings and scores a test clip against its own unit's memory only;
higher = more anomalous (the DCASE convention). :func:`make_scorer` gives them by name:
``"knn"``, ``"mahalanobis"``, ``"gmm"``; ``"knn-domain"``, ``"knn-smote"``, ``"knn-zscore"``
(:class:`DomainKNNScorer`, whose ``fit`` needs the *training* clips' domains); ``"knn-rescale"``
(:class:`RescaledKNNScorer`); ``"knn-auto"`` (:class:`BalancedDomainScorer`, the default of the
contrastive methods and ``knn-stats``). No scorer is given a test clip's domain or label.
"""

from __future__ import annotations

import functools
import zlib
from typing import Callable, Hashable, Sequence

import numpy as np
import torch
from sklearn.covariance import EmpiricalCovariance, LedoitWolf
from sklearn.metrics import pairwise_distances
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors


__all__ = [
    "UnitScorer",
    "KNNScorer",
    "MahalanobisScorer",
    "GMMScorer",
    "DomainKNNScorer",
    "BalancedDomainScorer",
    "SCORERS",
    "DOMAIN_SCORERS",
    "make_scorer",
    "ErrorScorer",
    "unit_keys",
]

_GLOBAL = "<global>"
_TINY = 1e-12  # floor of a reference distance (duplicate clips would otherwise divide by zero)
DOMAINS = ("source", "target")


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


def _as_domains(domains: Sequence[object] | None, n: int) -> np.ndarray | None:
    """Check that ``domains`` has one ``"source"`` / ``"target"`` entry per training row (or is None)."""
    if domains is None:
        return None
    arr = np.asarray([str(d).strip().lower() if isinstance(d, str) else d for d in domains], dtype=object)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"domains: expected {n} domain names (one per training embedding), got {arr.shape[0]}")
    bad = [d for d in dict.fromkeys(arr.tolist()) if d not in DOMAINS]
    if bad:
        rows = np.flatnonzero(~np.isin(arr, DOMAINS))[:5].tolist()
        raise ValueError(f"domains: expected 'source' or 'target' for every training clip, got {bad[:5]!r} "
                         f"in row(s) {rows}")
    return arr


def _kmean(dist: np.ndarray, k: int) -> np.ndarray:
    """Mean of the k smallest entries per row; inf where fewer than k are finite."""
    if dist.shape[1] < k:
        return np.full(dist.shape[0], np.inf)
    part = np.partition(dist, k - 1, axis=1)[:, :k]
    return part.mean(axis=1)


class UnitScorer:
    """Base class: one model per unit, fitted on normal embeddings; subclasses implement
    ``_fit_one(x) -> model`` and ``_score_one(model, x) -> scores`` (or ``_fit_unit`` when they
    use the training clips' domains)."""

    min_train: int = 1

    def fit(self, emb: np.ndarray, units: Sequence[Hashable] | None = None,
            domains: Sequence[object] | None = None) -> "UnitScorer":
        """Fit one memory / model per unit on normal training embeddings.

        Args:
            emb: ``[N, D]`` training embeddings.
            units: the unit of each row; ``None`` fits one global model for all clips.
            domains: ``"source"`` / ``"target"`` per training row (from its file name); used by
                the domain-aware scorers (:class:`DomainKNNScorer`), checked and ignored by the others.

        Returns:
            The fitted scorer itself.
        """
        x = _as_embeddings(emb)
        u = _as_units(units, x.shape[0])
        d = _as_domains(domains, x.shape[0])
        self.dim_ = x.shape[1]
        self.global_ = u is None
        groups = {_GLOBAL: np.arange(x.shape[0])} if u is None else {
            key: np.flatnonzero(u == key) for key in dict.fromkeys(u.tolist())}
        self.models_: dict[Hashable, object] = {}
        self.train_groups_ = groups
        self.train_emb_ = x
        self.train_domains_ = d
        for key, idx in groups.items():
            self.models_[key] = self._fit_unit(key, x[idx], None if d is None else d[idx])
        return self

    def _fit_unit(self, key: Hashable, x: np.ndarray, domains: np.ndarray | None) -> object:
        """Fit one unit (default: check ``min_train`` and call ``_fit_one``; domains unused)."""
        if len(x) < self.min_train:
            raise ValueError(
                f"{type(self).__name__}: unit {key!r} has {len(x)} training embedding(s), "
                f"needs at least {self.min_train}"
            )
        return self._fit_one(x)

    def train_scores(self) -> np.ndarray:
        """Scores ``[N]`` of the training embeddings, in the order given to :meth:`fit`.

        k-NN scorers leave each training clip out of its own memory; Mahalanobis and GMM score
        in-sample, as the official baseline scores its training clips.
        """
        if not hasattr(self, "models_"):
            raise RuntimeError(f"{type(self).__name__}: call fit() before train_scores()")
        out = np.empty(self.train_emb_.shape[0], dtype=np.float64)
        for key, idx in self.train_groups_.items():
            d = None if self.train_domains_ is None else self.train_domains_[idx]
            out[idx] = self._train_scores_unit(key, self.models_[key], self.train_emb_[idx], d)
        return out

    def _train_scores_unit(self, key: Hashable, model: object, x: np.ndarray,
                           domains: np.ndarray | None) -> np.ndarray:
        """In-sample scores of one unit's training embeddings (k-NN scorers override this)."""
        return self._score_one(model, x)

    def score(self, emb: np.ndarray, units: Sequence[Hashable] | None = None) -> np.ndarray:
        """Anomaly scores ``[N]`` (higher = more anomalous), each clip against its own unit.

        Args:
            emb: ``[N, D]`` embeddings.
            units: the unit of each row (ignored by a scorer fitted with ``units=None``).

        Returns:
            ``[N]`` float64 scores.
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

    def _train_scores_unit(self, key: Hashable, model: NearestNeighbors, x: np.ndarray,
                           domains: np.ndarray | None) -> np.ndarray:
        """Leave-one-out: ``kneighbors()`` without a query excludes each point itself."""
        if len(x) < self.k + 1:
            raise ValueError(f"KNNScorer: unit {key!r} has {len(x)} training embedding(s); leave-one-out "
                             f"scores with k={self.k} need at least {self.k + 1}")
        dist, _ = model.kneighbors(n_neighbors=self.k)
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


def _zscale(mean: np.ndarray | float, std: np.ndarray | float) -> np.ndarray | float:
    """The divisor of a per-domain z-score: the standard deviation, or the mean when the
    distances have no spread (then 1 when the mean is not positive either)."""
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    out = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, np.where(mean > 0, mean, 1.0))
    return float(out) if out.ndim == 0 else out


class _DomainMemory:
    """One unit's memories: real source clips, target clips (real first, then SMOTE points) and,
    per target point, the two real target clips it was made from (a real clip: itself twice)."""

    def __init__(self, source: np.ndarray | None, target: np.ndarray | None, parents: np.ndarray | None) -> None:
        self.source = source
        self.target = target
        self.parents = parents
        self.n_target_real = 0 if parents is None else int((parents[:, 0] == parents[:, 1]).sum())
        self.stats: dict[str, tuple[float, float]] = {}


class DomainKNNScorer(UnitScorer):
    """k-NN against separate source and target memories per unit; the score is the smaller of the two.

    The scorer of ``"knn-domain"``, ``"knn-smote"`` and ``"knn-zscore"``, after ASDKit's ``Knn``
    back end (Fujimura et al., arXiv:2507.10264). ``fit`` needs the training clips' domains; a unit
    without target training clips keeps its source memory only. :meth:`train_scores` leaves each
    clip out of its own domain's memory, of the SMOTE points made from it and, with
    ``standardize``, of its domain's mean and scale (needs ``k + 2`` clips of each domain).

    Args:
        k: neighbours in the source memory (a distance is the mean over them).
        k_target: neighbours in the target memory (default ``k``).
        metric: as :class:`KNNScorer`.
        smote_ratio: > 0 oversamples each unit's target clips SMOTE-style (Chawla et al., 2002) to
            ``round(smote_ratio * n_source)`` points ``x_i + u (x_j - x_i)``, ``u ~ U(0, 1)``.
        smote_neighbors: ``x_j`` is one of the ``smote_neighbors`` nearest target clips of ``x_i``.
        standardize: z-score each domain's distance with the mean and standard deviation of that
            domain's leave-one-out training distances (the mean as scale when they have no spread).
        seed: seeds the oversampling, together with the unit name.
    """

    def __init__(self, k: int = 1, k_target: int | None = None, metric: str = "cosine",
                 smote_ratio: float = 0.0, smote_neighbors: int = 2, standardize: bool = False,
                 seed: int = 0) -> None:
        for name, value in (("k", k), ("k_target", k if k_target is None else k_target),
                            ("smote_neighbors", smote_neighbors)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (np.isfinite(smote_ratio) and smote_ratio >= 0):
            raise ValueError(f"smote_ratio must be a finite number >= 0, got {smote_ratio!r}")
        self.k = int(k)
        self.k_target = int(k if k_target is None else k_target)
        self.metric = metric
        self.smote_ratio = float(smote_ratio)
        self.smote_neighbors = int(smote_neighbors)
        self.standardize = bool(standardize)
        self.seed = int(seed)

    # ------------------------------------------------------------------ fitting
    def _fit_unit(self, key: Hashable, x: np.ndarray, domains: np.ndarray | None) -> _DomainMemory:
        if domains is None:
            raise ValueError(f"{type(self).__name__} needs the training clips' domains: "
                             "fit(emb, units, domains) with 'source' / 'target' per training clip")
        xs, xt = x[domains == "source"], x[domains == "target"]
        name = f"{type(self).__name__}: unit {key!r}"
        if len(xs) and len(xs) < self.k:
            raise ValueError(f"{name} has {len(xs)} source training clip(s), needs at least k={self.k}")
        if len(xt) and len(xt) < self.k_target:
            raise ValueError(f"{name} has {len(xt)} target training clip(s), needs at least k_target={self.k_target}")
        parents = np.repeat(np.arange(len(xt))[:, None], 2, axis=1) if len(xt) else None
        target = xt if len(xt) else None
        if self.smote_ratio > 0 and len(xt):
            target, parents = self._oversample(key, name, xt, len(xs))
        mem = _DomainMemory(xs if len(xs) else None, target, parents)
        if self.standardize:
            for dom, n_real, k in (("source", len(xs), self.k), ("target", len(xt), self.k_target)):
                if n_real == 0:
                    continue
                loo = self._loo(mem, dom)
                if not np.all(np.isfinite(loo)):
                    raise ValueError(f"{name}: per-domain standardisation needs leave-one-out distances of the "
                                     f"{dom} training clips, but {n_real} {dom} clip(s) leave fewer than "
                                     f"k={k} others; needs at least {k + 1}")
                mean = float(loo.mean())
                mem.stats[dom] = (mean, _zscale(mean, float(loo.std())))
        return mem

    def _oversample(self, key: Hashable, name: str, xt: np.ndarray, n_source: int) -> tuple[np.ndarray, np.ndarray]:
        """SMOTE-style interpolation between target clips of one unit (seeded by ``seed`` and the unit)."""
        if len(xt) < 2:
            raise ValueError(f"{name} has {len(xt)} target training clip; SMOTE oversampling interpolates "
                             "between two target clips and needs at least 2 (use smote_ratio=0)")
        n_new = max(0, int(round(self.smote_ratio * n_source)) - len(xt))
        real_parents = np.repeat(np.arange(len(xt))[:, None], 2, axis=1)
        if n_new == 0:
            return xt, real_parents
        m = min(self.smote_neighbors, len(xt) - 1)
        dist = pairwise_distances(xt, metric=self.metric)
        np.fill_diagonal(dist, np.inf)
        neighbours = np.argsort(dist, axis=1, kind="stable")[:, :m]
        rng = np.random.default_rng([self.seed, zlib.crc32(str(key).encode())])
        i = rng.integers(len(xt), size=n_new)
        j = neighbours[i, rng.integers(m, size=n_new)]
        u = rng.random(n_new)[:, None]
        synth = xt[i] + u * (xt[j] - xt[i])
        return np.vstack([xt, synth]), np.vstack([real_parents, np.stack([i, j], axis=1)])

    # ------------------------------------------------------------------ distances
    def _dist(self, mem: _DomainMemory, dom: str, x: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Raw k-NN distance of ``x`` to one memory (inf without that memory); ``exclude`` masks memory points."""
        bank = mem.source if dom == "source" else mem.target
        if bank is None:
            return np.full(len(x), np.inf)
        dist = np.maximum(pairwise_distances(x, bank, metric=self.metric), 0.0)
        if exclude is not None:
            dist[exclude] = np.inf
        return _kmean(dist, self.k if dom == "source" else self.k_target)

    @staticmethod
    def _domain(mem: _DomainMemory, dom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One domain's real clips ``[n, D]``, its memory ``[m, D]`` and ``parents`` ``[m, 2]``
        (the real clips each memory point was made from; a real clip: itself twice)."""
        if dom == "source":
            return mem.source, mem.source, np.repeat(np.arange(len(mem.source))[:, None], 2, axis=1)
        return mem.target[: mem.n_target_real], mem.target, mem.parents

    def _loo(self, mem: _DomainMemory, dom: str) -> np.ndarray:
        """Leave-one-out distances of one domain's real training clips to their own memory."""
        x, _, parents = self._domain(mem, dom)
        real = np.arange(len(x))[:, None]
        exclude = (parents[:, 0][None, :] == real) | (parents[:, 1][None, :] == real)
        return self._dist(mem, dom, x, exclude)

    def _loo_without(self, mem: _DomainMemory, dom: str) -> np.ndarray:
        """``[n, n]``: entry ``[i, j]`` is real clip ``j``'s leave-one-out distance (:meth:`_loo`)
        in the memory without clip ``i`` either (and without the SMOTE points made from ``i``);
        the diagonal is NaN. Row ``i`` is what the domain's leave-one-out distances would be had
        clip ``i`` never been a training clip.

        Each row ``j`` of distances is sorted once; removing clip ``i`` removes at most ``c``
        memory points (``c``: the most points made from one clip), so the ``k`` nearest left are
        among the ``k + c`` nearest.
        """
        k = self.k if dom == "source" else self.k_target
        x, bank, parents = self._domain(mem, dom)
        n = len(x)
        ids = np.arange(n)
        made_from = (parents[:, 0][None, :] == ids[:, None]) | (parents[:, 1][None, :] == ids[:, None])  # [n, m]
        dist = np.maximum(pairwise_distances(x, bank, metric=self.metric), 0.0)
        dist[made_from] = np.inf  # row j: clip j and its SMOTE points are never j's neighbours
        width = min(bank.shape[0], k + int(made_from.sum(axis=1).max()))
        order = np.argsort(dist, axis=1, kind="stable")[:, :width]  # [j, l]
        near = np.take_along_axis(dist, order, axis=1)  # [j, l], ascending
        gone = made_from[:, order]  # [i, j, l]: neighbour l of clip j is removed with clip i
        keep = ~gone & np.isfinite(near)[None]
        take = keep & (np.cumsum(keep, axis=2) <= k)
        total = np.where(take, near[None], 0.0).sum(axis=2)
        out = np.where(take.sum(axis=2) == k, total / k, np.inf)
        np.fill_diagonal(out, np.nan)
        return out

    def _standardised_loo(self, key: Hashable, mem: _DomainMemory, dom: str) -> np.ndarray:
        """Leave-one-out z-scores of one domain's real training clips, each with the domain's
        mean and scale recomputed without that clip (exact leave-one-out: a clip never enters
        the constants that standardise its own distance)."""
        loo, without = self._loo(mem, dom), self._loo_without(mem, dom)
        others = without[~np.eye(len(loo), dtype=bool)].reshape(len(loo), len(loo) - 1)  # row i: clips j != i
        if len(loo) < 2 or not np.all(np.isfinite(others)):
            k = self.k if dom == "source" else self.k_target
            raise ValueError(f"{type(self).__name__}: unit {key!r}: leave-one-out z-scores of the {dom} training "
                             f"clips recompute the domain's mean and scale without each clip, which needs at "
                             f"least k + 2 = {k + 2} {dom} clips (k={k}); it has {len(loo)}")
        mean = others.mean(axis=1)
        return (loo - mean) / _zscale(mean, others.std(axis=1))

    def _combine(self, mem: _DomainMemory, d_source: np.ndarray, d_target: np.ndarray) -> np.ndarray:
        """Standardise each domain's distance (when enabled) and take the smaller."""
        parts = []
        for dom, d in (("source", d_source), ("target", d_target)):
            if self.standardize and dom in mem.stats:
                mean, scale = mem.stats[dom]
                d = (d - mean) / scale
            parts.append(d)
        return np.minimum(parts[0], parts[1])

    def _score_one(self, model: _DomainMemory, x: np.ndarray) -> np.ndarray:
        return self._combine(model, self._dist(model, "source", x), self._dist(model, "target", x))

    def _train_scores_unit(self, key: Hashable, model: _DomainMemory, x: np.ndarray,
                           domains: np.ndarray | None) -> np.ndarray:
        """Each training clip scored like a test clip, but left out of its own domain's memory
        and, with ``standardize``, of its own domain's mean and scale (:meth:`_standardised_loo`)."""
        out = np.empty(len(x))
        is_src = domains == "source"
        for dom, other, rows in (("source", "target", is_src), ("target", "source", ~is_src)):
            if not rows.any():
                continue
            far = self._dist(model, other, x[rows])  # the other domain's memory, without this clip anyway
            if self.standardize and other in model.stats:
                mean, scale = model.stats[other]
                far = (far - mean) / scale
            own = self._standardised_loo(key, model, dom) if self.standardize else self._loo(model, dom)
            out[rows] = np.minimum(own, far)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{type(self).__name__}: unit {key!r} has too few training clips for leave-one-out "
                             f"scores (k={self.k}, k_target={self.k_target})")
        return out


class RescaledKNNScorer(UnitScorer):
    """k-NN with each memory clip's distance rescaled by its local density (``"knn-rescale"``).

    Wilkinghoff et al., *Keeping the Balance*, ICASSP 2025 (ASDKit's ``KnnRescale``). The score is
    the mean of the ``k`` smallest ``d(x, r) / c_r`` over the unit's memory clips ``r``, where
    ``c_r`` is the mean distance from ``r`` to its ``k_ref`` nearest other memory clips (all of
    them when fewer). No domain labels are used (``fit`` ignores them). :meth:`train_scores` is
    leave-one-out, with every ``c_r`` recomputed without the scored clip.

    Args:
        k: neighbours averaged in the score.
        k_ref: neighbours in a memory clip's constant ``c_r`` (16 as in ASDKit).
        metric: as :class:`KNNScorer` (ASDKit: Euclidean distance of L2-normalised embeddings).
    """

    def __init__(self, k: int = 1, k_ref: int = 16, metric: str = "cosine") -> None:
        for name, v in (("k", k), ("k_ref", k_ref)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.k, self.k_ref, self.metric = int(k), int(k_ref), metric
        self.min_train = max(2, self.k)

    def _distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.maximum(pairwise_distances(a, b, metric=self.metric), 0.0)

    def _neighbours(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances among a unit's clips (inf on the diagonal) and each row sorted ascending."""
        d = self._distances(x, x)
        np.fill_diagonal(d, np.inf)
        return d, np.sort(d, axis=1)  # row r: distances from r to the other clips, ascending (inf last)

    def _fit_one(self, x: np.ndarray) -> dict:
        """The unit's memory and each clip's reference constant ``c_r``."""
        _, ordered = self._neighbours(x)
        c = ordered[:, :min(self.k_ref, len(x) - 1)].mean(axis=1)
        return {"x": x, "c": np.maximum(c, _TINY)}

    def _score_one(self, model: dict, x: np.ndarray) -> np.ndarray:
        """Mean of the ``k`` smallest ``d(x, r) / c_r``."""
        return _kmean(self._distances(x, model["x"]) / model["c"][None, :], self.k)

    def _train_scores_unit(self, key: Hashable, model: dict, x: np.ndarray,
                           domains: np.ndarray | None) -> np.ndarray:
        n = len(x)
        if n < max(3, self.k + 1):
            raise ValueError(f"RescaledKNNScorer: unit {key!r} has {n} training embedding(s); leave-one-out "
                             f"scores need at least {max(3, self.k + 1)}")
        d, ordered = self._neighbours(x)
        k_ref = min(self.k_ref, n - 2)
        head = ordered[:, :k_ref].sum(axis=1)  # [r]
        # c_r without clip i (entry [i, r]): drop d(r, i) from r's k_ref nearest when it is one of them
        # and let the next-nearest in; ties give the same sum either way
        inside = d.T <= ordered[:, k_ref - 1][None, :]  # [i, r]: d(r, i) among r's k_ref nearest
        c_loo = (head[None, :] - np.where(inside, d.T, 0.0) + np.where(inside, ordered[:, k_ref][None, :], 0.0)) / k_ref
        rescaled = d / np.maximum(c_loo, _TINY)  # d[i, i] = inf: clip i is not its own neighbour
        return _kmean(rescaled, self.k)


class BalancedDomainScorer(UnitScorer):
    """The domain scorer whose training scores treat the two domains alike (``"knn-auto"``).

    ``fit`` fits every candidate of :attr:`CANDIDATES` and keeps the one with the smallest domain
    imbalance ``|AUC(target vs source leave-one-out training scores) - 0.5|``, averaged over the
    units with training clips of both domains (ties: the first candidate). Only training clips
    and their domains enter. Without target training clips (DCASE 2020) ``"knn-domain"`` is
    kept, which then scores as ``"knn"``.

    Args:
        k: neighbours of every candidate.
        metric: as :class:`KNNScorer`.

    After ``fit``: ``choice_`` (the kept candidate), ``imbalance_`` (candidate -> mean imbalance;
    empty without target clips) and ``skipped_`` (candidate -> why it could not be fitted).
    """

    CANDIDATES: tuple[str, ...] = ("knn-domain", "knn-smote", "knn-zscore", "knn-rescale")

    def __init__(self, k: int = 1, metric: str = "cosine") -> None:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)
        self.metric = metric

    def fit(self, emb: np.ndarray, units: Sequence[Hashable] | None = None,
            domains: Sequence[object] | None = None) -> "BalancedDomainScorer":
        """Fit every candidate on the training clips and keep the best-balanced one (see the class)."""
        from sklearn.metrics import roc_auc_score

        x = _as_embeddings(emb)
        d = _as_domains(domains, x.shape[0])
        if d is None:
            raise ValueError("BalancedDomainScorer needs the training clips' domains: "
                             "fit(emb, units, domains) with 'source' / 'target' per training clip")
        u = _as_units(units, x.shape[0])
        keys = np.zeros(x.shape[0], dtype=np.int64) if u is None else u
        both = [key for key in dict.fromkeys(keys.tolist())
                if {"source", "target"} <= set(d[keys == key].tolist())]
        fitted: dict[str, UnitScorer] = {}
        self.skipped_: dict[str, str] = {}
        self.imbalance_: dict[str, float] = {}
        for name in self.CANDIDATES:
            try:
                scorer = make_scorer(name, k=self.k, metric=self.metric).fit(x, units, d)
                loo = scorer.train_scores() if both else None
            except ValueError as err:  # e.g. SMOTE or z-scores with a single target clip
                if name == self.CANDIDATES[0]:
                    raise
                self.skipped_[name] = str(err)
                continue
            fitted[name] = scorer
            if both:
                self.imbalance_[name] = float(np.mean([
                    abs(roc_auc_score(d[keys == key] == "target", loo[keys == key]) - 0.5) for key in both]))
        self.choice_ = (min(self.imbalance_, key=lambda n: (self.imbalance_[n], self.CANDIDATES.index(n)))
                        if both else self.CANDIDATES[0])
        self.chosen_ = fitted[self.choice_]
        self.dim_ = self.chosen_.dim_
        self.models_ = self.chosen_.models_
        return self

    def train_scores(self) -> np.ndarray:
        """The kept candidate's leave-one-out training scores."""
        if not hasattr(self, "chosen_"):
            raise RuntimeError("BalancedDomainScorer: call fit() before train_scores()")
        return self.chosen_.train_scores()

    def score(self, emb: np.ndarray, units: Sequence[Hashable] | None = None) -> np.ndarray:
        """Scores of the kept candidate (higher = more anomalous)."""
        if not hasattr(self, "chosen_"):
            raise RuntimeError("BalancedDomainScorer: call fit() before score()")
        return self.chosen_.score(emb, units)


SCORERS: dict[str, Callable[..., UnitScorer]] = {
    "knn": KNNScorer,
    "mahalanobis": MahalanobisScorer,
    "gmm": GMMScorer,
    "knn-domain": DomainKNNScorer,
    "knn-smote": functools.partial(DomainKNNScorer, smote_ratio=1.0),
    "knn-zscore": functools.partial(DomainKNNScorer, standardize=True),
    "knn-rescale": RescaledKNNScorer,
    "knn-auto": BalancedDomainScorer,
}
#: scorers whose ``fit`` needs the training clips' domains
DOMAIN_SCORERS: tuple[str, ...] = ("knn-domain", "knn-smote", "knn-zscore", "knn-auto")


def make_scorer(name: str, **kw: object) -> UnitScorer:
    """A scorer by name.

    Args:
        name: a key of :data:`SCORERS`: ``"knn"``, ``"mahalanobis"``, ``"gmm"``, ``"knn-domain"``,
            ``"knn-smote"`` (``smote_ratio=1.0``), ``"knn-zscore"`` (``standardize=True``),
            ``"knn-rescale"`` or ``"knn-auto"``.
        **kw: constructor arguments (they override a named option's settings).

    Returns:
        The unfitted scorer.

    Raises:
        ValueError: for an unknown name.
    """
    key = str(name).lower()
    if key not in SCORERS:
        raise ValueError(f"unknown scorer {name!r}; choices: {sorted(SCORERS)}")
    return SCORERS[key](**kw)


class ErrorScorer(UnitScorer):
    """The representation is the score: an autoencoder's reconstruction error ``[N, 1]`` per clip.

    ``train_scores`` gives the training clips' own errors (in-sample, as the official baseline).
    """

    def _fit_one(self, x: np.ndarray) -> None:
        return None

    def _score_one(self, model: None, x: np.ndarray) -> np.ndarray:
        return x[:, 0]


def unit_keys(types: Sequence[object], units: Sequence[object]) -> list[str]:
    """The scorer's group of each clip: ``"<machine type>/<unit>"`` (unit names repeat across types)."""
    types, units = list(types), list(units)
    if len(types) != len(units):
        raise ValueError(f"unit_keys: {len(types)} machine types but {len(units)} units")
    return [f"{t}/{u}" for t, u in zip(types, units)]
