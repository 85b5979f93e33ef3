"""Contrastive and classification losses: NT-Xent, supervised contrastive, ArcFace / AdaCos.

Explained in chapter 6, `book/06_contrastive.ipynb`; how the views of the spectrum augmentation
(``hf_role``) enter these losses is in chapter 9, `book/09_ablations.ipynb`, and ``docs/design.md``.

- :func:`nt_xent`: SimCLR's loss; the two views of a clip are positives, every other view in the
  batch is a negative.
- :func:`supcon`: Khosla et al.'s supervised contrastive loss (``L_out``): views with the same
  label (machine ID / section) are positives, views of other machines negatives (the
  outlier-exposure reading). With all labels distinct it reduces exactly to NT-Xent.
- :func:`classification_loss`: cross-entropy on the logits of ``asdlib.models.ArcMarginHead`` /
  ``AdaCosHead`` (the margin or adaptive scale lives in the head).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["nt_xent", "supcon", "classification_loss", "outlier_labels"]


def _check_temperature(temperature: float, name: str) -> None:
    if not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.1, negatives: Tensor | None = None) -> Tensor:
    """SimCLR NT-Xent loss over the ``2N`` views of ``N`` pairs ``(z1[i], z2[i])``.

    Embeddings are L2-normalised (cosine similarity). For each of the ``2N`` anchors the positive
    is its partner view and the ``2N - 2`` other views are negatives:
    ``l_i = -log(exp(s_ip / t) / sum_{k != i} exp(s_ik / t))``, averaged over all anchors.
    ``negatives`` join every anchor's denominator as extra negatives; they are not anchors.

    Args:
        z1, z2: ``[N, D]`` embeddings of the two views.
        temperature: softmax temperature ``t``.
        negatives: optional ``[K, D]`` extra negatives (e.g. the pseudo-anomalies).

    Returns:
        loss: scalar tensor.
    """
    _check_temperature(temperature, "nt_xent")
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"nt_xent: z1 and z2 must both be [N, D] with the same shape, got "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    if n < 1:
        raise ValueError("nt_xent: need at least one pair")
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    logits = z @ z.T / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    if negatives is not None:
        if negatives.dim() != 2 or negatives.shape[1] != z1.shape[1]:
            raise ValueError(f"nt_xent: negatives must be [K, {z1.shape[1]}], got {tuple(negatives.shape)}")
        logits = torch.cat([logits, z @ F.normalize(negatives, dim=1).T / temperature], dim=1)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def supcon(z: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, ``L_out``: mean over positives outside the log).

    For every anchor view ``i`` (all ``N * V`` views are anchors), with positives ``P(i)`` = the
    other views whose label equals ``i``'s:
    ``l_i = -1/|P(i)| sum_{p in P(i)} log(exp(s_ip / t) / sum_{a != i} exp(s_ia / t))``,
    averaged over the anchors that have at least one positive. Embeddings are L2-normalised.

    Args:
        z: ``[N, D]`` (one view per sample) or ``[N, V, D]`` (``V`` views per sample).
        labels: ``[N]`` integer labels (machine ID / section index).
        temperature: softmax temperature ``t`` (Khosla's ``base_temperature`` equals it).

    Returns:
        loss: scalar tensor.
    """
    _check_temperature(temperature, "supcon")
    if z.dim() == 2:
        z = z[:, None, :]
    if z.dim() != 3:
        raise ValueError(f"supcon: z must be [N, D] or [N, V, D], got shape {tuple(z.shape)}")
    n, v, _ = z.shape
    labels = torch.as_tensor(labels, device=z.device)
    if labels.shape != (n,):
        raise ValueError(f"supcon: labels must have shape ({n},), got {tuple(labels.shape)}")
    # view-major order (all first views, then all second views), as in Khosla et al.'s code
    feats = F.normalize(z.transpose(0, 1).reshape(v * n, -1), dim=1)
    lab = labels.repeat(v)
    logits = feats @ feats.T / temperature
    eye = torch.eye(v * n, dtype=torch.bool, device=z.device)
    log_prob = logits - torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    pos = (lab[:, None] == lab[None, :]) & ~eye
    n_pos = pos.sum(dim=1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        raise ValueError("supcon: no positive pairs - with z of shape [N, D] every label must occur at "
                         "least twice (or pass several views as [N, V, D])")
    mean_log_prob_pos = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(dim=1)[has_pos] / n_pos[has_pos]
    return -mean_log_prob_pos.mean()


def classification_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy on the logits of a cosine head (``ArcMarginHead(emb, labels)`` or ``AdaCosHead``).

    The margin or adaptive scale is applied inside the head when it is given the labels, so this is
    plain softmax cross-entropy; pass the same labels to both.

    Args:
        logits: ``[B, n_classes]``.
        labels: ``[B]`` integer labels.

    Returns:
        loss: scalar tensor.
    """
    if logits.dim() != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"classification_loss: expected logits [N, C] and labels [N], got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)}")
    return F.cross_entropy(logits, labels)


def outlier_labels(labels: Tensor, n_classes: int) -> Tensor:
    """Labels of the pseudo-anomalies (altered copies) of samples labelled ``labels``.

    One extra class per machine ID / section, so that SupCon and the margin heads (built with
    ``2 * n_classes`` classes) keep the altered copies apart from the normal views of their ID.

    Args:
        labels: ``[B]`` integer labels in ``0 .. n_classes - 1``.
        n_classes: the number of normal classes.

    Returns:
        labels: ``labels + n_classes``.
    """
    labels = torch.as_tensor(labels)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(f"outlier_labels: labels must lie in [0, {n_classes}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return labels + n_classes
