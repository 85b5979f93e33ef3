"""Choosing the training epoch on held-out *normal* clips: the split, the criterion, its reliability.

Explained in chapter 6 (``book/06_contrastive.ipynb``). :class:`EpochSelector` is what the
trainer (:mod:`asdlib.train`) asks after every epoch and at the end; the reasoning behind the
criterion and the threshold is in ``docs/design.md``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

def validation_split(train_df: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Which normal training clips are held out for choosing the epoch.

    Per (machine type, unit): ``max(1, round(fraction * n))`` of its ``n`` clips (none when
    ``n < 2``; every unit keeps a training clip), drawn with ``numpy.random.default_rng(seed)``
    from the clips sorted by path.

    Args:
        train_df: normal training clips only (:func:`asdlib.data.select` with ``split="train"``).
        fraction: the share held out per unit.
        seed: the split's seed (same data and seed, same split).

    Returns:
        A boolean mask over ``train_df``'s rows.
    """
    if (train_df["split"] != "train").any() or (train_df["label"].fillna("normal") != "normal").any():
        bad = train_df[(train_df["split"] != "train") | (train_df["label"].fillna("normal") != "normal")]
        raise ValueError(f"validation_split takes normal training clips only; got {bad['path'].iloc[0]}")
    mask = np.zeros(len(train_df), dtype=bool)
    if fraction <= 0:
        return mask
    rng = np.random.default_rng(seed)
    keys = train_df["machine_type"].astype(str) + "/" + train_df["unit"].astype(str)
    for key in sorted(keys.unique()):
        rows = np.flatnonzero((keys == key).to_numpy())
        rows = rows[np.argsort(train_df["path"].astype(str).to_numpy()[rows], kind="stable")]
        n_val = 0 if len(rows) < 2 else min(len(rows) - 1, max(1, int(round(fraction * len(rows)))))
        mask[rng.choice(rows, size=n_val, replace=False)] = True
    return mask


def validation_per_clip(val_emb: np.ndarray, val_classes: Sequence[int], mem_emb: np.ndarray,
                        mem_classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per held-out clip: whether its nearest training clip (cosine) has its class, and its margin.

    Args:
        val_emb, val_classes: the held-out clips' embeddings ``[N, D]`` and class indices ``[N]``.
        mem_emb, mem_classes: the training clips' (at least two classes).

    Returns:
        ``(correct, margin)``, both ``[N]``: the margin is the similarity to the nearest training
        clip of its own class minus that to the nearest of another class, in ``[-2, 2]``.
    """
    v = torch.nn.functional.normalize(torch.as_tensor(np.asarray(val_emb, dtype=np.float32)), dim=1)
    m = torch.nn.functional.normalize(torch.as_tensor(np.asarray(mem_emb, dtype=np.float32)), dim=1)
    vc, mc = np.asarray(val_classes), np.asarray(mem_classes)
    if len(np.unique(mc)) < 2:
        raise ValueError("validation_criterion needs training clips of at least 2 classes")
    sim = (v @ m.T).numpy()
    same = mc[None, :] == vc[:, None]
    nearest_same = np.where(same, sim, -np.inf).max(axis=1)
    nearest_other = np.where(~same, sim, -np.inf).max(axis=1)
    return mc[sim.argmax(axis=1)] == vc, nearest_same - nearest_other


def validation_criterion(val_emb: np.ndarray, val_classes: Sequence[int], mem_emb: np.ndarray,
                         mem_classes: Sequence[int]) -> dict[str, float]:
    """How well the embeddings separate (machine type, unit) on held-out normal clips: no anomaly needed.

    Takes the arguments of :func:`validation_per_clip`.

    Returns:
        ``{"val_acc", "val_margin"}``: the means over the held-out clips of
        :func:`validation_per_clip`'s ``correct`` and ``margin`` (larger = classes further apart).
    """
    correct, margin = validation_per_clip(val_emb, val_classes, mem_emb, mem_classes)
    return {"val_acc": float(np.mean(correct)), "val_margin": float(np.mean(margin))}


#: The lowest split-half reliability (Spearman-Brown) at which the validation criterion may choose an
#: epoch other than the last: 0.7, the "modest reliability" of Nunnally (Psychometric Theory, 1978).
RELIABILITY_THRESHOLD = 0.7


def criterion_reliability(per_clip: np.ndarray, classes: Sequence[int], seed: int = 0, splits: int = 100) -> float:
    """Split-half reliability of an epoch profile measured on held-out clips.

    ``splits`` times, the clips are split into two halves (evenly within every class, seeded) and
    the Spearman correlation of the two halves' mean profiles over the epochs is taken; the mean
    ``r`` is stepped up by Spearman-Brown, ``2 r / (1 + r)``, when positive.

    Args:
        per_clip: ``[epochs, clips]``, e.g. each held-out clip's margin after every epoch.
        classes: the class of each clip.
        seed, splits: the seed and number of random splits.

    Returns:
        1: both halves rank the epochs alike; 0 or below: noise. NaN with fewer than 3 epochs or
        4 clips, or when no split has a profile that varies.
    """
    from scipy.stats import spearmanr

    x = np.asarray(per_clip, dtype=np.float64)
    cls = np.asarray(classes)
    if x.ndim != 2 or x.shape[1] != len(cls):
        raise ValueError(f"criterion_reliability: per_clip must be [epochs, clips] with one class per clip, got "
                         f"shape {x.shape} and {len(cls)} classes")
    n_epochs, n = x.shape
    if n_epochs < 3 or n < 4:
        return float("nan")
    rng = np.random.default_rng([int(seed), 7])
    rhos = []
    for _ in range(int(splits)):
        order = np.lexsort((rng.random(n), cls))  # by class, at random within a class
        first = np.zeros(n, dtype=bool)
        first[order[::2]] = True  # every other clip: each class split as evenly as it can be
        a, b = x[:, first].mean(axis=1), x[:, ~first].mean(axis=1)
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            rhos.append(spearmanr(a, b).statistic)
    if not rhos:
        return float("nan")
    r = float(np.mean(rhos))
    return r if r <= 0 else 2.0 * r / (1.0 + r)


def better(row: dict, best: dict | None) -> bool:
    """Whether an epoch's criterion beats the best so far: higher ``val_margin``, then higher ``val_acc``.

    Args:
        row: the epoch's ``val_margin`` and ``val_acc``.
        best: the best epoch's so far, or ``None`` (then ``True``).
    """
    return best is None or (row["val_margin"], row["val_acc"]) > (best["val_margin"], best["val_acc"])


class EpochSelector:
    """Keeps the best epoch's weights by the validation criterion and decides which epoch a run keeps.

    Args:
        select_epoch: ``"val"`` (the best epoch, if the criterion is reliable) or ``"last"``.
        classes: the held-out clips' class indices (for :func:`criterion_reliability`).
        seed: the run's seed.
    """

    threshold = RELIABILITY_THRESHOLD

    def __init__(self, select_epoch: str, classes: np.ndarray, seed: int) -> None:
        self.select_epoch, self.classes, self.seed = select_epoch, np.asarray(classes), int(seed)
        self.best: dict | None = None  # {"epoch", "val_acc", "val_margin", "models"}
        self.per_clip: dict[str, list] = {"correct": [], "margin": []}

    def state(self) -> dict:
        """What a checkpoint keeps to resume the selection exactly."""
        return {"best": self.best, "per_clip": self.per_clip}

    def restore(self, ck: dict) -> None:
        self.best = ck.get("best")
        self.per_clip = ck.get("per_clip", self.per_clip)

    def update(self, epoch: int, row: dict, correct: np.ndarray, margin: np.ndarray, models: dict) -> None:
        """Record one epoch's criterion (``row`` gets ``val_acc``, ``val_margin``, ``best_epoch``)."""
        self.per_clip["correct"].append(np.asarray(correct, dtype=np.float64))
        self.per_clip["margin"].append(np.asarray(margin, dtype=np.float64))
        row.update({"val_acc": float(np.mean(correct)), "val_margin": float(np.mean(margin))})
        if better(row, self.best):
            self.best = {"epoch": epoch, "val_acc": row["val_acc"], "val_margin": row["val_margin"],
                         "models": {k: {n: t.detach().clone() for n, t in m.state_dict().items()}
                                    for k, m in models.items()}}
        row["best_epoch"] = self.best["epoch"]

    def stop(self, epoch: int, patience: int) -> bool:
        """Whether ``patience`` epochs have passed without a better criterion (never with 0)."""
        return bool(patience) and self.best is not None and epoch - self.best["epoch"] > patience

    def choose(self, last: int, validated: bool) -> tuple[int, float]:
        """Returns ``(chosen epoch, reliability)``: the best epoch when allowed and reliable, else ``last``."""
        reliability = float("nan")
        if validated:
            reliability = criterion_reliability(np.stack(self.per_clip["margin"]), self.classes, self.seed)
        reliable = bool(np.isfinite(reliability) and reliability >= self.threshold)
        if self.select_epoch == "val" and self.best is not None and reliable:
            return self.best["epoch"], reliability
        return last, reliability

    def best_weights(self) -> dict:
        return self.best["models"]
