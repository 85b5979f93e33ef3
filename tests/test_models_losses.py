"""Tests for asdlib.models (chapters 4, 6) and asdlib.losses (chapter 6), with hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asdlib import losses as L
from asdlib import models as Mo


# --------------------------------------------------------------------------- encoder and heads
@pytest.mark.parametrize("frames", [16, 32, 313])
def test_encoder_output_shape_for_any_length(frames: int) -> None:
    torch.manual_seed(0)
    enc = Mo.Encoder(n_mels=128, width=8, depth=4, emb_dim=24).eval()
    out = enc(torch.randn(2, 1, 128, frames))
    assert out.shape == (2, 24)
    assert torch.isfinite(out).all()


def test_patch_stem_is_conv4x4_stride4_bn_relu_on_zero_padded_input() -> None:
    # the default stem by hand: zero-pad to a multiple of 4, conv 4x4 / 4, batch norm, ReLU (no pool)
    torch.manual_seed(3)
    enc = Mo.Encoder(n_mels=30, width=6, depth=2, emb_dim=8)
    assert enc.stem_kind == "patch" and enc.out_mels == 4  # ceil(30 / 4) = 8 after the stem, 4 after stage 2
    plain = Mo.Encoder(n_mels=30, width=6, depth=2, emb_dim=8)
    plain.load_state_dict(enc.state_dict())
    x = torch.randn(5, 1, 30, 21) * 12.0 - 40.0
    conv, bn = plain.stem[0], plain.stem[1]
    want = F.relu(bn(F.conv2d(F.pad(x, (0, 3, 0, 2)), conv.weight, stride=4)))  # 32 x 24 -> 8 x 6
    got = enc.stem_forward(x)
    assert got.shape == want.shape == (5, 6, 8, 6)
    assert torch.allclose(got, want, atol=2e-4), float((got - want).abs().max())
    got.pow(2).sum().backward()
    want.pow(2).sum().backward()
    assert torch.allclose(enc.stem[0].weight.grad, conv.weight.grad, rtol=1e-3, atol=1e-3 * float(conv.weight.grad.abs().max()))
    assert torch.allclose(enc.stem[1].running_var, bn.running_var, rtol=1e-4)
    assert torch.allclose(enc.stem[1].running_mean, bn.running_mean, rtol=1e-5, atol=1e-4)
    enc.eval(), plain.eval()
    assert torch.allclose(enc.stem_forward(x), F.relu(bn(F.conv2d(F.pad(x, (0, 3, 0, 2)), conv.weight, stride=4))), atol=2e-4)
    with pytest.raises(ValueError, match="stem must be one of patch, conv-pool"):
        Mo.Encoder(stem="pool")


def test_stem_setting_builds_its_stem() -> None:
    from asdlib import methods

    cfg = methods.method_config("contrastive")
    assert cfg.stem == "patch"
    assert methods.MethodConfig.from_dict(cfg.to_dict()).stem == "patch"
    enc = methods.method_for(methods.method_config("contrastive", stem="conv-pool")).build(3).models["encoder"]
    assert enc.stem[0].kernel_size == (3, 3) and isinstance(enc.stem[2], nn.MaxPool2d)
    assert methods.method_for(cfg).build(3).models["encoder"].stem[0].kernel_size == (4, 4)
    with pytest.raises(ValueError, match="stem"):
        methods.method_config("contrastive", stem="vit")


def test_encoder_default_size_and_gradients() -> None:
    torch.manual_seed(0)
    enc = Mo.Encoder()
    n = Mo.count_parameters(enc)
    assert 300_000 < n < 2_000_000  # small enough for a 2-core CPU
    assert enc.out_mels == 4 and enc.out_channels == 128  # 128 mels / 32; channels 32 * min(2**3, 4)
    x = torch.randn(4, 1, 128, 32)
    enc(x).pow(2).mean().backward()
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert enc.stem[0].weight.grad.abs().sum() > 0


def test_encoder_is_channels_last_and_computes_conv_bn_relu_pool() -> None:
    # speed layout: channels-last weights and feature maps; the stem pools before its ReLU. The
    # function (and its gradients) is that of the documented conv - BN - ReLU - max-pool stem, in NCHW.
    torch.manual_seed(0)
    enc = Mo.Encoder(n_mels=64, width=8, depth=3, emb_dim=16, stem="conv-pool")
    x = torch.randn(6, 1, 64, 40)
    assert enc.stages[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert enc.stem[0].weight.stride() == (9, 1, 3, 1)  # one input channel: NHWC strides all the same
    assert enc.stem(x).is_contiguous(memory_format=torch.channels_last)
    assert enc.features(x).is_contiguous(memory_format=torch.channels_last)
    ref = Mo.Encoder(n_mels=64, width=8, depth=3, emb_dim=16, stem="conv-pool").to("meta")  # off the CPU: NCHW
    assert not ref.stages[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert ref.to_empty(device="cpu").stages[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    for m in ref.modules():
        for name, p in m.named_parameters(recurse=False):  # NCHW copies of enc's weights, on the CPU
            setattr(m, name, nn.Parameter(p.detach().contiguous()))
    ref.load_state_dict(enc.state_dict())
    assert sorted(enc.state_dict()) == sorted(ref.state_dict())
    assert not ref.stages[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)

    def reference(m: Mo.Encoder, inp: torch.Tensor) -> torch.Tensor:
        conv, bn, pool, _ = m.stem
        h = pool(F.relu(bn(conv(inp))))  # the textbook order, NCHW
        h = m.stages(h).flatten(1, 2)
        return m.fc(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))

    out, want = enc(x), reference(ref, x)
    assert torch.allclose(out, want, atol=1e-4), float((out - want).abs().max())
    out.pow(2).sum().backward()
    want.pow(2).sum().backward()
    for (name, p), q in zip(enc.named_parameters(), ref.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-3, atol=1e-4), name
    assert torch.allclose(enc.stem[1].running_var, ref.stem[1].running_var)


@pytest.mark.parametrize("stem", Mo.STEMS)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_folded_stem_batch_norm_matches_nn_batchnorm(momentum: float | None, stem: str) -> None:
    # the stem's batch norm folded into its conv: same outputs, gradients and running statistics
    torch.manual_seed(1)
    enc = Mo.Encoder(n_mels=32, width=8, depth=2, emb_dim=8, stem=stem)
    enc.stem[1].momentum = momentum
    plain = Mo.Encoder(n_mels=32, width=8, depth=2, emb_dim=8, stem=stem)
    plain.load_state_dict(enc.state_dict())
    plain.stem[1].momentum = momentum
    for step in range(3):  # running statistics over several batches (dB-like offset: centring matters)
        x = torch.randn(5, 1, 32, 24) * 12.0 - 40.0  # a multiple of 4: the patch stem pads nothing
        got, want = enc.stem_forward(x), plain.stem(x)
        assert got.shape == want.shape == (5, 8, 8, 6)
        assert torch.allclose(got, want, atol=2e-4), float((got - want).abs().max())
        got.pow(2).sum().backward()
        want.pow(2).sum().backward()
    bn, ref = enc.stem[1], plain.stem[1]
    assert int(bn.num_batches_tracked) == int(ref.num_batches_tracked) == 3
    assert torch.allclose(bn.running_mean, ref.running_mean, rtol=1e-5, atol=1e-4)
    assert torch.allclose(bn.running_var, ref.running_var, rtol=1e-4)
    for a, b in ((enc.stem[0].weight, plain.stem[0].weight), (bn.weight, ref.weight), (bn.bias, ref.bias)):
        assert torch.allclose(a.grad, b.grad, rtol=1e-3, atol=1e-3 * float(b.grad.abs().max()))
    enc.eval()
    plain.eval()
    x = torch.randn(2, 1, 32, 12) * 12.0 - 40.0
    assert torch.allclose(enc.stem_forward(x), plain.stem(x), atol=2e-4)  # running statistics folded
    assert int(bn.num_batches_tracked) == 3  # eval mode updates nothing
    # gradients through the batch statistics, also to the input: finite differences in float64
    small = Mo.Encoder(n_mels=8, width=2, depth=1, emb_dim=4, stem=stem).double()
    xd = torch.randn(3, 1, 8, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(small.stem_forward, (xd,), eps=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        Mo.Encoder(n_mels=2, width=2, depth=1, stem=stem).stem_forward(torch.randn(1, 1, 2, 2))


def test_encoder_rejects_wrong_input() -> None:
    enc = Mo.Encoder(n_mels=64, width=4, depth=2)
    with pytest.raises(ValueError, match="n_mels=64"):
        enc(torch.randn(2, 1, 128, 32))
    with pytest.raises(ValueError, match=r"\[B, 1, M, T\]"):
        enc(torch.randn(2, 64, 32))


def test_heads_shapes() -> None:
    x = torch.randn(5, 16)
    assert Mo.ProjectionHead(16, 32, 8)(x).shape == (5, 8)
    assert Mo.ArcMarginHead(16, 3)(x).shape == (5, 3)
    assert Mo.AdaCosHead(16, 3)(x).shape == (5, 3)


def test_arc_margin_head_hand_computed() -> None:
    head = Mo.ArcMarginHead(2, 2, margin=0.5, scale=30.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))  # normalised inside
    theta = 0.3
    x = torch.tensor([[math.cos(theta), math.sin(theta)]]) * 4.0  # scale does not matter
    infer = head(x)
    assert torch.allclose(infer, torch.tensor([[30 * math.cos(theta), 30 * math.sin(theta)]]), atol=1e-4)
    train = head(x, torch.tensor([0]))
    assert train[0, 0].item() == pytest.approx(30 * math.cos(theta + 0.5), abs=1e-4)  # margin on the target
    assert train[0, 1].item() == pytest.approx(30 * math.sin(theta), abs=1e-4)  # others unchanged
    # near theta = pi the fallback keeps the target logit monotonic: s * (cos(theta) - m sin(m))
    far = head(torch.tensor([[-1.0, 0.01]]), torch.tensor([0]))
    cos = -1.0 / math.sqrt(1 + 1e-4)
    assert far[0, 0].item() == pytest.approx(30 * (cos - 0.5 * math.sin(math.pi - 0.5)), abs=1e-3)
    with pytest.raises(ValueError, match="labels"):
        head(x, torch.tensor([2]))


def test_adacos_scale_update() -> None:
    torch.manual_seed(0)
    head = Mo.AdaCosHead(8, 4)
    assert head.scale.item() == pytest.approx(math.sqrt(2) * math.log(3))
    x, y = torch.randn(16, 8), torch.randint(0, 4, (16,))
    s0 = head.scale.item()
    cos = F.linear(F.normalize(x), F.normalize(head.weight)).detach().numpy()
    onehot = np.eye(4, dtype=bool)[y.numpy()]
    b_avg = np.where(onehot, 0.0, np.exp(s0 * cos)).sum(1).mean()
    theta_med = np.arccos(cos[onehot])
    theta_med = np.sort(theta_med)[(len(theta_med) - 1) // 2]  # torch.median = lower median
    expected = math.log(b_avg) / math.cos(min(math.pi / 4, theta_med))
    logits = head(x, y)
    assert head.scale.item() == pytest.approx(expected, rel=1e-4)
    assert torch.allclose(logits, head.scale * torch.from_numpy(cos), atol=1e-4)
    head.eval()
    head(x, y)
    assert head.scale.item() == pytest.approx(expected, rel=1e-4)  # no update in eval mode


# --------------------------------------------------------------------------- DCASE 2020 autoencoder
def test_autoencoder_matches_official_structure() -> None:
    ae = Mo.AutoEncoder()
    linear = [(m.in_features, m.out_features) for m in ae.modules() if isinstance(m, nn.Linear)]
    assert linear == [(320, 128), (128, 128), (128, 128), (128, 128), (128, 8),
                      (8, 128), (128, 128), (128, 128), (128, 128), (128, 320)]
    bns = [m for m in ae.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [b.num_features for b in bns] == [128] * 4 + [8] + [128] * 4
    assert all(b.eps == 1e-3 and b.momentum == pytest.approx(0.01) for b in bns)
    assert sum(isinstance(m, nn.ReLU) for m in ae.modules()) == 9
    assert isinstance(list(ae.decoder)[-1], nn.Linear)  # linear output layer
    # dense: 41088 + 3 * 16512 + 1032 + 1152 + 3 * 16512 + 41280; BN: 2 * (8 * 128 + 8)
    assert Mo.count_parameters(ae) == 183_624 + 2_064
    assert ae(torch.randn(7, 320)).shape == (7, 320)
    with pytest.raises(ValueError, match="320"):
        ae(torch.randn(7, 64))


def test_stack_frames_hand_computed() -> None:
    logmel = np.array([[0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0]])  # M = 2, T = 4
    expected = np.array([[0.0, 10.0, 1.0, 11.0, 2.0, 12.0],
                         [1.0, 11.0, 2.0, 12.0, 3.0, 13.0]])
    out = Mo.stack_frames(logmel, frames=3)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, expected)
    out_t = Mo.stack_frames(torch.from_numpy(logmel), frames=3)
    assert isinstance(out_t, torch.Tensor)
    np.testing.assert_array_equal(out_t.numpy(), expected)
    assert Mo.stack_frames(logmel, frames=5).shape == (0, 10)  # too short: empty, as the official code


def test_stack_frames_matches_official_loop() -> None:
    rng = np.random.default_rng(0)
    logmel = rng.standard_normal((64, 313))
    frames, n_mels = 5, 64
    n = logmel.shape[1] - frames + 1
    ref = np.zeros((n, n_mels * frames))
    for t in range(frames):  # the official file_to_vector_array loop
        ref[:, n_mels * t: n_mels * (t + 1)] = logmel[:, t: t + n].T
    np.testing.assert_array_equal(Mo.stack_frames(logmel, frames), ref)


class _Zero(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w


def test_reconstruction_error_hand_computed() -> None:
    vectors = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    model = _Zero()
    model.train()
    assert Mo.reconstruction_error(model, vectors) == pytest.approx((1 + 4 + 9 + 16) / 4)
    assert model.training  # mode restored
    assert Mo.reconstruction_error(model, vectors, batch_size=1) == pytest.approx(7.5)
    with torch.no_grad():
        model.w.fill_(1.0)
    assert Mo.reconstruction_error(model, torch.from_numpy(vectors)) == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        Mo.reconstruction_error(model, np.empty((0, 2)))


# --------------------------------------------------------------------------- NT-Xent
E = math.e


def test_nt_xent_hand_computed() -> None:
    a, b = [1.0, 0.0], [0.0, 1.0]
    z = torch.tensor([a, b])
    # aligned pairs: for every anchor, positive sim 1, negatives 0 and 0
    assert L.nt_xent(z, z, temperature=1.0).item() == pytest.approx(math.log((E + 2) / E), abs=1e-6)
    assert L.nt_xent(z, z, temperature=0.5).item() == pytest.approx(math.log((E ** 2 + 2) / E ** 2), abs=1e-6)
    # swapped partners: positive sim 0, negatives 0 (the other sample) and 1 (its own twin)
    swapped = torch.tensor([b, a])
    assert L.nt_xent(z, swapped, temperature=1.0).item() == pytest.approx(math.log(2 + E), abs=1e-6)


def test_nt_xent_properties() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(16, 8), torch.randn(16, 8)
    assert L.nt_xent(z1, z2).item() == pytest.approx(L.nt_xent(z2, z1).item(), abs=1e-5)  # symmetric
    assert L.nt_xent(3 * z1, z2).item() == pytest.approx(L.nt_xent(z1, z2).item(), abs=1e-5)  # cosine
    assert L.nt_xent(z1, z1 + 0.01 * z2) < L.nt_xent(z1, z2)  # alignment lowers the loss
    aligned = torch.eye(4)
    assert L.nt_xent(aligned, aligned, temperature=0.1) < L.nt_xent(aligned, aligned, temperature=1.0)
    z1.requires_grad_(True)
    L.nt_xent(z1, z2).backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="temperature"):
        L.nt_xent(z1, z2, temperature=0.0)
    with pytest.raises(ValueError, match="same shape"):
        L.nt_xent(z1, z2[:3])


# --------------------------------------------------------------------------- supervised contrastive
def test_supcon_equals_nt_xent_for_unique_labels() -> None:
    torch.manual_seed(1)
    z1, z2 = torch.randn(10, 6), torch.randn(10, 6)
    labels = torch.arange(10)
    for t in (0.1, 0.5):
        sc = L.supcon(torch.stack([z1, z2], dim=1), labels, temperature=t)
        assert sc.item() == pytest.approx(L.nt_xent(z1, z2, temperature=t).item(), abs=1e-5)


def test_supcon_hand_computed_single_view() -> None:
    # u0 = (1, 0), u1 = (0, 1) share label 0; u2 = (-1, 0) has label 1 (no positive: not an anchor)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    # anchor 0: s01 = 0, s02 = -1 -> -log(1 / (1 + e^-1)); anchor 1: s10 = 0, s12 = 0 -> log 2
    expected = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert L.supcon(z, labels, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)


def test_supcon_same_label_views_pull_together() -> None:
    torch.manual_seed(2)
    base = F.normalize(torch.randn(2, 8), dim=1)
    labels = torch.tensor([0, 0, 1, 1])
    clustered = torch.stack([base[0], base[0], base[1], base[1]]) + 0.01 * torch.randn(4, 8)
    scattered = torch.randn(4, 8)
    assert L.supcon(clustered, labels) < L.supcon(scattered, labels)
    z = torch.randn(4, 2, 8, requires_grad=True)
    L.supcon(z, labels).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no positive"):
        L.supcon(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="labels"):
        L.supcon(torch.randn(3, 4), torch.tensor([0, 1]))


def test_classification_loss_is_cross_entropy() -> None:
    logits = torch.tensor([[2.0, 0.0]])
    assert L.classification_loss(logits, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-6)
    torch.manual_seed(3)
    head = Mo.ArcMarginHead(8, 3)
    x, y = torch.randn(6, 8), torch.randint(0, 3, (6,))
    logits = head(x, y)
    assert L.classification_loss(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item())
    # the margin makes the training loss larger than the inference cross-entropy
    assert L.classification_loss(head(x, y), y) > F.cross_entropy(head(x), y)
    # it trains AdaCos too: cross-entropy on the adaptive-scale cosine logits
    ada = Mo.AdaCosHead(8, 3)
    logits = ada(x, y)
    assert L.classification_loss(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item())
    assert not hasattr(L, "arcface_loss")  # renamed: it was never ArcFace-specific


# --------------------------------------------------------------------------- the pseudo-anomaly reading
def test_nt_xent_extra_negatives_hand_computed() -> None:
    # one pair, aligned (s = 1), and one extra negative at 90 degrees (s = 0), t = 1:
    # each of the 2 anchors: positive e^1, negatives: nothing else in the batch + the extra e^0
    a = torch.tensor([[1.0, 0.0]])
    neg = torch.tensor([[0.0, 3.0]])
    assert L.nt_xent(a, a, temperature=1.0, negatives=neg).item() == pytest.approx(math.log((E + 1) / E), abs=1e-6)
    assert L.nt_xent(a, a, temperature=1.0).item() == pytest.approx(0.0, abs=1e-6)  # no negative at all
    # the anchor's own altered copy close to it (s = 0.8, at 36.87 degrees) is a hard negative
    near = torch.tensor([[0.8, 0.6]])
    assert L.nt_xent(a, a, temperature=0.5, negatives=near).item() == pytest.approx(
        math.log((E ** 2 + math.exp(1.6)) / E ** 2), abs=1e-6)
    # two pairs plus two negatives, against the formula computed by hand over the 4 x 6 similarities
    z1, z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.6, 0.8], [-0.6, 0.8]])
    negs = torch.tensor([[-1.0, 0.0], [0.0, -1.0]])
    zs = torch.cat([z1, z2])
    sim = zs @ torch.cat([zs, negs]).T  # all unit vectors already
    expected = 0.0
    for i in range(4):
        pos = (i + 2) % 4
        denom = sum(math.exp(sim[i, k].item()) for k in range(6) if k != i)
        expected += -math.log(math.exp(sim[i, pos].item()) / denom) / 4
    assert L.nt_xent(z1, z2, temperature=1.0, negatives=negs).item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="negatives"):
        L.nt_xent(z1, z2, negatives=torch.randn(2, 3))


def test_supcon_with_outlier_class_hand_computed() -> None:
    # one clip of ID 0: views u1 = (1, 0), u2 = (0, 1); its altered copy o = (-1, 0) gets label 0 + C
    y = torch.tensor([0])
    yo = L.outlier_labels(y, n_classes=2)
    assert yo.tolist() == [2]
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    labels = torch.cat([y, y, yo])
    # anchor u1: positive u2 (s = 0), negative o (s = -1): -log(1 / (1 + e^-1))
    # anchor u2: positive u1 (s = 0), negative o (s = 0): log 2; anchor o: no positive, not an anchor
    expected = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    assert L.supcon(z, labels, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)
    # the same with the altered copy labelled as its ID (a positive instead): the loss differs
    assert L.supcon(z, torch.tensor([0, 0, 0]), temperature=1.0).item() != pytest.approx(expected, abs=1e-3)
    with pytest.raises(ValueError, match="outlier_labels"):
        L.outlier_labels(torch.tensor([2]), n_classes=2)


# --------------------------------------------------------------------------- the readings, trained end to end
@pytest.fixture(scope="module")
def tiny2020(tmp_path_factory):
    from asdlib import synth

    root = tmp_path_factory.mktemp("synth") / "d2020"
    synth.generate(root, layout="dcase2020", scale="tiny", machines=["fan"], seed=1)
    return root


@pytest.mark.parametrize("role,loss", [("pseudo-anomaly", "supcon"), ("pseudo-anomaly", "ntxent"),
                                       ("pseudo-anomaly", "arcface"), ("suppression", "supcon"),
                                       ("invariance", "adacos")])
def test_hf_roles_train_and_score(tiny2020, tmp_path, monkeypatch, role, loss) -> None:
    # the trainer's loss wiring of each reading (methods.ContrastiveMethod.batch_losses, build, pipeline.score)
    from asdlib.data import index
    from asdlib.methods import method_config
    from asdlib.pipeline import load_run, score
    from asdlib.train import train

    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    cfg = method_config("contrastive-hf", hf_role=role, loss=loss, epochs=1, batch_size=16, segments_per_clip=2,
                        width=8, depth=2, emb_dim=16, proj_dim=8)
    df = index(tiny2020)
    res = train(df, "fan", cfg, tmp_path / "run", progress=False)
    assert np.isfinite(res.history["loss"]).all()
    run = load_run(res.run_dir)
    n_ids = len(run["classes"])
    if loss == "arcface":  # one extra class per ID for the altered copies
        assert run["models"]["head"].n_classes == 2 * n_ids
    if loss == "adacos":
        assert run["models"]["head"].n_classes == n_ids
    scores = score(res.run_dir, df)
    assert len(scores) and np.isfinite(scores["score"]).all()
    if role == "suppression":  # at scoring time the encoder does not see the high bands either
        from asdlib.features import hz_to_mel_bin, load_features

        feat = load_features(scores["path"][:1], cfg.frontend)[0]
        louder = feat.copy()
        louder[hz_to_mel_bin(cfg.hf_cutoff_hz, cfg.frontend):] += 20.0
        emb = [run["method"].represent([f]) for f in (feat, louder)]
        assert np.array_equal(emb[0], emb[1])
    with pytest.raises(ValueError, match="hf_role"):
        method_config("contrastive-hf", hf_role="outliers")
