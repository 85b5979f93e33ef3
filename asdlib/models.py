"""Neural networks: the CNN encoder, its heads, and the DCASE 2020 autoencoder baseline.

Explained in chapter 4, `book/04_autoencoder_baseline.ipynb` (:class:`AutoEncoder`,
:func:`stack_frames`, :func:`reconstruction_error`) and chapter 6,
`book/06_contrastive.ipynb` (:class:`Encoder` and the heads).

Shapes: the encoder takes log-mel segments ``[B, 1, M, T]`` (any ``T >= 1``; ``T >= 16`` in
practice) and returns embeddings ``[B, emb_dim]``; the autoencoder takes stacked-frame vectors
``[N, n_mels * frames]``.
"""

from __future__ import annotations

import math
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "STEMS",
    "Encoder",
    "ProjectionHead",
    "ArcMarginHead",
    "AdaCosHead",
    "AutoEncoder",
    "stack_frames",
    "reconstruction_error",
    "count_parameters",
]

#: The encoder's stems (:class:`Encoder`): ``"patch"`` (default) and ``"conv-pool"`` (the ResNet stem).
STEMS = ("patch", "conv-pool")


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``.

    Args:
        model: any module.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        n: the count.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---------------------------------------------------------------------------------------------
# CNN encoder
# ---------------------------------------------------------------------------------------------
class _ResBlock(nn.Module):
    """Basic ResNet block: 3x3 conv (stride) - BN - ReLU - 3x3 conv - BN, plus shortcut, ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)), inplace=True)
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x), inplace=True)


class Encoder(nn.Module):
    """A small ResNet for log-mel segments ``[B, 1, M, T] -> [B, emb_dim]``.

    A stem that reduces both axes 4-fold (``ceil(n / 4)``), then ``depth`` residual stages (stage
    ``i`` has ``width * min(2**i, 4)`` channels; every stage after the first halves both axes). The
    features are flattened over channels x remaining mel rows (the frequency positions are kept),
    pooled over time by mean + max (any number of frames), and a linear layer gives the embedding.
    Stems: ``"patch"`` (default), a 4 x 4 convolution with stride 4 - BN - ReLU (the input is
    zero-padded to a multiple of 4 first); ``"conv-pool"``, the ResNet stem: 3 x 3 convolution with
    stride 2 - BN - ReLU - 2 x 2 max-pool (ceil mode). They are different functions (``asd run --set
    stem=conv-pool`` trains the other). On the CPU the weights and feature maps are channels-last
    (NHWC), elsewhere NCHW (switched whenever the encoder is moved); the stem's batch norm is folded
    into its convolution (:meth:`stem_forward`). Neither changes the function beyond float rounding;
    design reasons in ``docs/design.md``.

    Args:
        n_mels: mel bands of the input (fixes the size of the final linear layer).
        width: channels of the first stage.
        depth: number of residual stages.
        emb_dim: embedding size.
        dropout: dropout before the final linear layer, in [0, 1).
        stem: ``"patch"`` or ``"conv-pool"`` (:data:`STEMS`).
    """

    def __init__(self, n_mels: int = 128, width: int = 32, depth: int = 4, emb_dim: int = 128,
                 dropout: float = 0.0, stem: str = "patch") -> None:
        super().__init__()
        if n_mels < 1 or width < 1 or depth < 1 or emb_dim < 1:
            raise ValueError(f"Encoder: n_mels={n_mels}, width={width}, depth={depth}, emb_dim={emb_dim} "
                             "must all be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Encoder: dropout must lie in [0, 1), got {dropout}")
        if stem not in STEMS:
            raise ValueError(f"Encoder: stem must be one of {', '.join(STEMS)}, got {stem!r}")
        self.n_mels, self.width, self.depth, self.emb_dim, self.stem_kind = n_mels, width, depth, emb_dim, stem
        if stem == "patch":  # conv 4x4 / 4 - BN - (no pool) - ReLU: the same four slots as the conv-pool stem
            self.stem = nn.Sequential(nn.Conv2d(1, width, 4, 4, 0, bias=False), nn.BatchNorm2d(width),
                                      nn.Identity(), nn.ReLU(inplace=True))
        else:
            # conv - BN - max-pool - ReLU == conv - BN - ReLU - max-pool (ReLU is monotonic), but the
            # ReLU and its backward run on a quarter of the values; parameter names are unchanged
            self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width),
                                      nn.MaxPool2d(2, ceil_mode=True), nn.ReLU(inplace=True))
        stages, c_in = [], width
        for i in range(depth):
            c_out = width * min(2 ** i, 4)
            stages.append(_ResBlock(c_in, c_out, 1 if i == 0 else 2))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.out_channels = c_in
        self.out_mels = self._reduced(n_mels)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * self.out_channels * self.out_mels, emb_dim)
        self._set_layout()

    def _set_layout(self) -> None:
        """Channels-last convolution weights on the CPU, NCHW elsewhere (see the class docstring)."""
        for p in self.parameters():
            if p.dim() == 4:
                fmt = torch.channels_last if p.device.type == "cpu" else torch.contiguous_format
                new = torch.empty_like(p.data, memory_format=fmt)  # exact strides (also for 1 channel)
                if new.stride() != p.stride():
                    p.data = new.copy_(p.data)

    def _apply(self, fn, *args, **kwargs):  # every .to() / .cuda() / .cpu() ends here
        out = super()._apply(fn, *args, **kwargs)
        self._set_layout()
        return out

    def _reduced(self, n: int) -> int:
        """Size of an axis of length ``n`` after the stem and stages."""
        n = math.ceil(math.ceil(n / 2) / 2)  # conv-pool: stride 2, max-pool 2 (ceil mode); patch: ceil(n / 4)
        for _ in range(self.depth - 1):
            n = math.ceil(n / 2)
        return n

    def stem_forward(self, x: Tensor) -> Tensor:
        """``self.stem(x)`` (conv - BN - [max-pool] - ReLU) with the batch norm folded into the conv.

        In training mode the batch mean and (biased) variance of each output channel come from
        the mean and covariance of the input's patches (the conv is linear in the patch); the
        running statistics are updated exactly as ``nn.BatchNorm2d`` does (momentum, unbiased
        variance, ``num_batches_tracked``). In eval mode the running statistics are folded.
        Gradients flow through the statistics as they do through batch norm.
        """
        conv, bn = self.stem[0], self.stem[1]
        w = conv.weight  # [C, 1, kh, kw]
        if self.stem_kind == "patch":  # zero-pad the mel and time axes to a multiple of the stride
            pad_m, pad_t = (-x.shape[2]) % 4, (-x.shape[3]) % 4
            if pad_m or pad_t:
                x = F.pad(x, (0, pad_t, 0, pad_m))
        if bn.training or bn.running_mean is None:
            with torch.autocast(device_type=x.device.type, enabled=False):  # batch statistics in float32
                mean, var, n = self._stem_stats(x, w)
            if bn.training and bn.track_running_stats:
                with torch.no_grad():
                    bn.num_batches_tracked.add_(1)
                    m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
                    bn.running_mean.mul_(1.0 - m).add_(mean.detach(), alpha=m)
                    bn.running_var.mul_(1.0 - m).add_(var.detach() * (n / (n - 1)), alpha=m)
        else:
            mean, var = bn.running_mean, bn.running_var
        scale = torch.rsqrt(var + bn.eps)
        if bn.affine:
            scale = scale * bn.weight
        bias = -scale * mean + (bn.bias if bn.affine else 0.0)
        h = F.conv2d(x, w * scale[:, None, None, None], bias, conv.stride, conv.padding)
        return self.stem[3](self.stem[2](h))  # max-pool (conv-pool stem), then ReLU

    def _stem_stats(self, x: Tensor, w: Tensor) -> tuple[Tensor, Tensor, int]:
        """Batch mean and biased variance per channel of the stem convolution of ``x``, and the count."""
        conv = self.stem[0]
        shift = x.detach().mean()  # covariance is shift-invariant; centring keeps float32 precise
        if self.stem_kind == "patch":  # non-overlapping 4 x 4 patches: a reshape, no unfold
            b, _, hh, ww = x.shape
            cols = (x - shift).reshape(b, hh // 4, 4, ww // 4, 4).permute(2, 4, 0, 1, 3).reshape(16, -1)  # [K, n]
            n = cols.shape[1]
        else:
            cols = F.unfold(x, conv.kernel_size, padding=conv.padding, stride=conv.stride)  # [B, K, L]
            n = cols.shape[0] * cols.shape[2]
        if n < 2:
            raise ValueError(f"Encoder: training needs more than 1 value per channel in the stem "
                             f"(got input of shape {tuple(x.shape)})")
        if self.stem_kind == "patch":
            mu = cols.mean(dim=1)  # [K]
            cov = (cols @ cols.T) / n - mu[:, None] * mu[None, :]
        else:
            cols = cols.sub_(shift)  # in place: unfold's backward does not need its output
            mu = cols.mean(dim=(0, 2))  # [K]
            cov = torch.bmm(cols, cols.transpose(1, 2)).sum(0) / n - mu[:, None] * mu[None, :]
        wf = w.flatten(1)  # [C, K]
        mean = wf @ (mu + shift)
        var = ((wf @ cov) * wf).sum(dim=1).clamp_min(0.0)
        return mean, var, n

    def features(self, x: Tensor) -> Tensor:
        """Convolutional feature map ``[B, C, M', T']``."""
        return self.stages(self.stem_forward(x))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"Encoder: expected input [B, 1, M, T], got shape {tuple(x.shape)}")
        if x.shape[2] != self.n_mels:
            raise ValueError(f"Encoder: input has {x.shape[2]} mel bands, the encoder was built for "
                             f"n_mels={self.n_mels}")
        h = self.features(x)  # [B, C, M', T'] (channels-last on the CPU: the weights' layout)
        h = h.flatten(1, 2)  # [B, C * M', T']
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return self.fc(self.dropout(pooled))


# ---------------------------------------------------------------------------------------------
# heads
# ---------------------------------------------------------------------------------------------
class ProjectionHead(nn.Module):
    """SimCLR projection MLP: Linear - BN - ReLU - Linear (the loss sees its output)."""

    def __init__(self, in_dim: int, hidden_dim: int = 256, out_dim: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim),
                                 nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _CosineHead(nn.Module):
    """Cosine similarities between L2-normalised embeddings and class centres."""

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"{type(self).__name__}: n_classes must be >= 2, got {n_classes}")
        self.n_classes = n_classes
        self.weight = nn.Parameter(torch.empty(n_classes, in_dim))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, x: Tensor) -> Tensor:
        """``[B, n_classes]`` cosine similarities."""
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))

    @staticmethod
    def _check_labels(labels: Tensor, b: int, n_classes: int, name: str) -> None:
        if labels.shape != (b,):
            raise ValueError(f"{name}: labels must have shape ({b},), got {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
            raise ValueError(f"{name}: labels must lie in [0, {n_classes}), got range "
                             f"[{int(labels.min())}, {int(labels.max())}]")


class ArcMarginHead(_CosineHead):
    """ArcFace (Deng et al. 2019): logits ``s * cos(theta + m)`` for the true class.

    With ``labels`` (training) the target logit gets the additive angular margin ``m``; without
    them (inference) the logits are ``s * cos(theta)``. As in the reference implementation,
    when ``theta + m`` would pass pi the target logit becomes ``s * (cos(theta) - m sin(m))``
    so that it stays monotonic. Train with cross-entropy (``asdlib.losses.classification_loss``).

    Args:
        in_dim: embedding size.
        n_classes: number of classes (e.g. machine IDs / sections).
        margin: additive angular margin ``m`` in radians.
        scale: logit scale ``s``.
    """

    def __init__(self, in_dim: int, n_classes: int, margin: float = 0.5, scale: float = 30.0) -> None:
        super().__init__(in_dim, n_classes)
        if not 0.0 <= margin < math.pi / 2:
            raise ValueError(f"ArcMarginHead: margin must lie in [0, pi/2), got {margin}")
        if scale <= 0:
            raise ValueError(f"ArcMarginHead: scale must be > 0, got {scale}")
        self.margin, self.scale = float(margin), float(scale)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        cos = self.cosine(x)
        if labels is None:
            return self.scale * cos
        self._check_labels(labels, x.shape[0], self.n_classes, "ArcMarginHead")
        sin = torch.sqrt((1.0 - cos * cos).clamp(min=1e-7))
        m = self.margin
        cos_m = cos * math.cos(m) - sin * math.sin(m)  # cos(theta + m)
        cos_m = torch.where(cos > math.cos(math.pi - m), cos_m, cos - math.sin(math.pi - m) * m)
        onehot = F.one_hot(labels, self.n_classes).bool()
        return self.scale * torch.where(onehot, cos_m, cos)


class AdaCosHead(_CosineHead):
    """AdaCos (Zhang et al. 2019): cosine logits with an adaptive scale, no margin.

    The scale starts at ``sqrt(2) * log(C - 1)`` and, in training mode with labels, is updated
    on every batch (without gradient) to ``log(B_avg) / cos(min(pi/4, theta_med))`` where
    ``B_avg`` is the batch mean of ``sum_{j != y} exp(s cos theta_j)`` and ``theta_med`` the
    median angle to the true class. Logits are ``s * cos(theta)``.

    Args:
        in_dim: embedding size.
        n_classes: number of classes (>= 2).
    """

    scale: Tensor

    def __init__(self, in_dim: int, n_classes: int) -> None:
        super().__init__(in_dim, n_classes)
        self.register_buffer("scale", torch.tensor(math.sqrt(2.0) * math.log(max(n_classes - 1, 2))))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        cos = self.cosine(x)
        if labels is not None and self.training:
            self._check_labels(labels, x.shape[0], self.n_classes, "AdaCosHead")
            with torch.no_grad():
                onehot = F.one_hot(labels, self.n_classes).bool()
                theta = torch.acos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
                b_avg = torch.where(onehot, torch.zeros_like(cos), torch.exp(self.scale * cos)).sum(1).mean()
                theta_med = theta[onehot].median()
                new = torch.log(b_avg) / torch.cos(torch.clamp(theta_med, max=math.pi / 4))
                self.scale.copy_(new)
        return self.scale * cos


# ---------------------------------------------------------------------------------------------
# DCASE 2020 Task 2 autoencoder baseline
# ---------------------------------------------------------------------------------------------
def _dense_bn_relu(n_in: int, n_out: int) -> list[nn.Module]:
    # Keras BatchNormalization defaults: epsilon 1e-3, moving-average momentum 0.99 (= 0.01 in torch)
    return [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out, eps=1e-3, momentum=0.01), nn.ReLU()]


class AutoEncoder(nn.Module):
    """The DCASE 2020 Task 2 official baseline autoencoder (``keras_model.get_model``).

    Input: ``n_mels * frames`` = 320 dims (5 stacked frames of 64 log-mel bins). Encoder:
    Dense(128)-BN-ReLU x4, Dense(8)-BN-ReLU; decoder: Dense(128)-BN-ReLU x4, Dense(320) (linear
    output). Layer for layer the official Keras model, with Keras' initialisation (Glorot-uniform
    weights, zero biases) and BatchNorm settings (epsilon 1e-3, momentum 0.99). The official
    training: Adam (lr 1e-3), MSE, 100 epochs, batch 512, validation split 0.1.

    Args:
        n_mels: log-mel bins per frame (64 in the baseline).
        frames: stacked frames (5).
        hidden: width of the hidden layers (128).
        bottleneck: width of the bottleneck (8).
    """

    def __init__(self, n_mels: int = 64, frames: int = 5, hidden: int = 128, bottleneck: int = 8) -> None:
        super().__init__()
        if min(n_mels, frames, hidden, bottleneck) < 1:
            raise ValueError(f"AutoEncoder: n_mels={n_mels}, frames={frames}, hidden={hidden}, "
                             f"bottleneck={bottleneck} must all be >= 1")
        self.n_mels, self.frames = n_mels, frames
        self.input_dim = n_mels * frames
        d = self.input_dim
        self.encoder = nn.Sequential(*_dense_bn_relu(d, hidden), *_dense_bn_relu(hidden, hidden),
                                     *_dense_bn_relu(hidden, hidden), *_dense_bn_relu(hidden, hidden),
                                     *_dense_bn_relu(hidden, bottleneck))
        self.decoder = nn.Sequential(*_dense_bn_relu(bottleneck, hidden), *_dense_bn_relu(hidden, hidden),
                                     *_dense_bn_relu(hidden, hidden), *_dense_bn_relu(hidden, hidden),
                                     nn.Linear(hidden, d))
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight)
                nn.init.zeros_(mod.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"AutoEncoder: expected input [N, {self.input_dim}] (n_mels * frames), "
                             f"got shape {tuple(x.shape)}")
        return self.decoder(self.encoder(x))


def stack_frames(logmel: np.ndarray | Tensor, frames: int = 5) -> np.ndarray | Tensor:
    """Stack ``frames`` consecutive log-mel frames into vectors, exactly like the baseline.

    ``out[:, M * t : M * (t + 1)] = logmel[:, t : t + n].T`` (frame-major, as the official
    ``file_to_vector_array``).

    Args:
        logmel: ``[M, T]`` numpy array or tensor.
        frames: frames per vector.

    Returns:
        vectors: ``[T - frames + 1, M * frames]``, of the input's type; empty ``[0, M * frames]``
            for a clip shorter than ``frames``, as in the official code.
    """
    if frames < 1:
        raise ValueError(f"stack_frames: frames must be >= 1, got {frames}")
    if logmel.ndim != 2:
        raise ValueError(f"stack_frames: expected a log-mel [M, T], got shape {tuple(logmel.shape)}")
    m, t = logmel.shape
    n = t - frames + 1
    if isinstance(logmel, Tensor):
        if n < 1:
            return logmel.new_empty((0, m * frames))
        # unfold -> [M, n, frames]; out[i, f * M + k] = logmel[k, i + f]
        return logmel.unfold(1, frames, 1).permute(1, 2, 0).reshape(n, frames * m)
    arr = np.asarray(logmel)
    if n < 1:
        return np.empty((0, m * frames), dtype=arr.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(arr, frames, axis=1)  # [M, n, frames]
    return np.ascontiguousarray(windows.transpose(1, 2, 0).reshape(n, frames * m))


def reconstruction_error(model: nn.Module, vectors: np.ndarray | Tensor, batch_size: int = 4096) -> float:
    """The baseline's anomaly score of one clip: mean squared error over all its vectors.

    The model runs in eval mode (its previous mode is restored) on its own device.

    Args:
        model: an :class:`AutoEncoder`.
        vectors: ``[N, D]`` from :func:`stack_frames`.
        batch_size: vectors per forward pass.

    Returns:
        error: the mean squared error.
    """
    x = torch.as_tensor(np.asarray(vectors) if not isinstance(vectors, Tensor) else vectors)
    if x.dim() != 2 or x.shape[0] == 0:
        raise ValueError(f"reconstruction_error: expected non-empty vectors [N, D], got shape {tuple(x.shape)}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                chunk = x[start:start + batch_size].to(device=device, dtype=dtype)
                total += float(((model(chunk) - chunk) ** 2).sum(dtype=torch.float64))
    finally:
        model.train(was_training)
    return total / x.numel()

