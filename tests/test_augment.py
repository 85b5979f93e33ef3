"""Tests for asdlib.augment and asdlib.listen (chapter 5): shapes, determinism, band locality,
hand-checked values, the three readings of the spectrum augmentation and the view-difference ratio."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from asdlib import augment as A
from asdlib import listen
from asdlib.book import shared_samples

SAMPLES = shared_samples()
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
M, T = 128, 64


def _batch(b: int = 8, m: int = M, t: int = T, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A fake dB log-mel batch: random values around -40 dB with a spectral slope."""
    g = torch.Generator().manual_seed(seed)
    slope = torch.linspace(0.0, -30.0, m)[None, None, :, None]
    return (torch.randn(b, 1, m, t, generator=g) * 8.0 - 40.0 + slope).to(dtype)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _transforms(seed: int = 0) -> list[torch.nn.Module]:
    return [
        A.LogMixupExp(bank_size=16, generator=_gen(seed)),
        A.RandomResizeCrop(generator=_gen(seed)),
        A.SpecAugment(generator=_gen(seed)),
        *[A.HighFreqAugment(mode=mode, generator=_gen(seed)) for mode in A.BAND_MODES],
        *[A.LowFreqAugment(mode=mode, generator=_gen(seed)) for mode in A.BAND_MODES],
        A.PreNormalize(-40.0, 10.0),
        A.BandSuppress(),
    ]


# --------------------------------------------------------------------------- generic properties
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_device_preserved(device: str, dtype: torch.dtype) -> None:
    x = _batch(dtype=dtype).to(device)
    for tr in _transforms():
        y = tr(tr(x))  # twice, so the mixup bank is used
        assert y.shape == x.shape, tr
        assert y.dtype == x.dtype, tr
        assert y.device == x.device, tr
        assert torch.isfinite(y).all(), tr


def test_seeded_generator_is_reproducible() -> None:
    x = _batch()
    for tr_a, tr_b, tr_c in zip(_transforms(1), _transforms(1), _transforms(2)):
        ya, yb, yc = tr_a(tr_a(x)), tr_b(tr_b(x)), tr_c(tr_c(x))
        assert torch.equal(ya, yb), tr_a
        deterministic = isinstance(tr_a, (A.PreNormalize, A.BandSuppress)) or getattr(tr_a, "mode", "") == "mask"
        if not deterministic:
            assert not torch.equal(ya, yc), tr_a


def test_each_sample_gets_its_own_draw() -> None:
    x = _batch(b=1).repeat(6, 1, 1, 1)  # six copies of one clip
    for tr in (A.RandomResizeCrop(generator=_gen()), A.HighFreqAugment(mode="gain", generator=_gen()),
               A.SpecAugment(freq_mask=30, time_mask=20, generator=_gen())):
        y = tr(x)
        assert not torch.equal(y[0], y[1]), tr


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(ValueError, match="4-D"):
        A.RandomResizeCrop()(torch.zeros(128, 64))
    with pytest.raises(ValueError, match="n_mels"):
        A.HighFreqAugment()(torch.zeros(2, 1, 64, 32))
    with pytest.raises(ValueError, match="mode"):
        A.HighFreqAugment(mode="filter")
    with pytest.raises(ValueError, match="p must"):
        A.LowFreqAugment(p=1.5)
    with pytest.raises(ValueError, match="segment_frames"):
        A.multi_segment_crop(_batch(t=10), segment_frames=20, n_segments=2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        A.SpecAugment()(np.zeros((2, 1, 128, 64)))


# --------------------------------------------------------------------------- the band augmentations
def test_cutoff_bin_matches_librosa_mel_frequencies() -> None:
    centres = librosa.mel_frequencies(n_mels=M + 2, fmin=0.0, fmax=8000.0)[1:-1]
    for hz in (0.0, 500.0, 1000.0, 2000.0, 4000.0, 7900.0):
        aug = A.HighFreqAugment(cutoff_hz=hz)
        cb = aug.cutoff_bin
        assert cb == int(np.sum(centres < hz))
        assert cb == 0 or centres[cb - 1] < hz
        assert cb == M or centres[cb] >= hz
    assert A.HighFreqAugment(cutoff_hz=2000.0).cutoff_bin == 71  # 128 Slaney mels at 16 kHz
    assert A.HighFreqAugment(cutoff_hz=0.0).cutoff_bin == 0
    assert A.HighFreqAugment(cutoff_hz=9000.0).cutoff_bin == M


@pytest.mark.parametrize("mode", A.BAND_MODES)
def test_high_freq_augment_touches_only_high_bands(mode: str) -> None:
    x = _batch()
    aug = A.HighFreqAugment(cutoff_hz=2000.0, mode=mode, generator=_gen())
    y = aug(x)
    cb = aug.cutoff_bin
    assert torch.equal(y[:, :, :cb], x[:, :, :cb])  # bit-identical below the cutoff
    changed = (y[:, :, cb:] != x[:, :, cb:]).flatten(2).any(dim=2)
    assert changed.all()  # every sample changed above the cutoff (p = 1)


@pytest.mark.parametrize("mode", A.BAND_MODES)
def test_low_freq_twin_touches_only_low_bands(mode: str) -> None:
    x = _batch()
    aug = A.LowFreqAugment(cutoff_hz=2000.0, mode=mode, generator=_gen())
    y = aug(x)
    cb = aug.cutoff_bin
    assert torch.equal(y[:, :, cb:], x[:, :, cb:])
    assert (y[:, :, :cb] != x[:, :, :cb]).flatten(2).any(dim=2).all()


@pytest.mark.parametrize("cls", [A.HighFreqAugment, A.LowFreqAugment])
def test_p_zero_is_identity(cls: type) -> None:
    x = _batch()
    for mode in A.BAND_MODES:
        assert torch.equal(cls(mode=mode, p=0.0, generator=_gen())(x), x)


def test_probability_p_selects_samples() -> None:
    x = _batch(b=400, t=8)
    aug = A.HighFreqAugment(mode="gain", p=0.3, generator=_gen())
    changed = (aug(x) != x).flatten(1).any(dim=1).float().mean().item()
    assert 0.22 < changed < 0.38


def test_mask_mode_values() -> None:
    x = _batch()
    cb = A.HighFreqAugment().cutoff_bin
    floor = x.amin(dim=(1, 2, 3), keepdim=True)
    full = A.HighFreqAugment(mode="mask", strength=1.0)(x)
    assert torch.allclose(full[:, :, cb:], floor.expand_as(full[:, :, cb:]))
    half = A.HighFreqAugment(mode="mask", strength=0.5)(x)
    assert torch.allclose(half[:, :, cb:], (x[:, :, cb:] + floor) / 2, atol=1e-5)


def test_noise_mode_with_zero_strength_keeps_band_means() -> None:
    x = _batch()
    cb = A.HighFreqAugment().cutoff_bin
    y = A.HighFreqAugment(mode="noise", strength=0.0)(x)
    band_mean = x[:, :, cb:].mean(dim=3, keepdim=True)
    assert torch.allclose(y[:, :, cb:], band_mean.expand_as(y[:, :, cb:]))
    # full strength: same per-band mean / std on average over many frames
    xl = _batch(b=2, t=4000)
    yl = A.HighFreqAugment(mode="noise", generator=_gen())(xl)
    assert torch.allclose(yl[:, :, cb:].mean(3), xl[:, :, cb:].mean(3), atol=0.6)
    assert torch.allclose(yl[:, :, cb:].std(3), xl[:, :, cb:].std(3), rtol=0.1)


def test_gain_mode_is_constant_in_time_and_bounded() -> None:
    x = _batch(b=64)
    aug = A.HighFreqAugment(mode="gain", strength=0.5, generator=_gen())
    d = (aug(x) - x)[:, :, aug.cutoff_bin:]
    assert torch.allclose(d, d[..., :1].expand_as(d), atol=1e-4)
    # control points (the curve's first and last band, align_corners) move by 7.5..15 dB = (0.5..1) * 30 * 0.5
    ends = d[:, 0, [0, -1], 0].abs()
    assert (ends >= 7.5 - 1e-4).all() and (ends <= 15.0 + 1e-4).all()
    assert d.abs().max() <= 15.0 + 1e-4
    signs = torch.sign(d[:, 0, 0, 0])
    assert (signs > 0).any() and (signs < 0).any()  # up or down


def test_mix_mode_stays_between_clip_and_partner() -> None:
    # two constant clips, 0 dB and 10 dB: the mixed high bands lie between them in power
    x = torch.cat([torch.zeros(1, 1, M, T), torch.full((1, 1, M, T), 10.0)])
    aug = A.HighFreqAugment(mode="mix", strength=1.0, generator=_gen())
    y = aug(x)
    hb = y[:, :, aug.cutoff_bin:]
    assert (hb >= -1e-4).all() and (hb <= 10.0 + 1e-4).all()
    assert (hb[0] > 0).all() and (hb[1] < 10).all()  # each took some of its partner
    assert torch.equal(A.HighFreqAugment(mode="mix")(x[:1]), x[:1])  # B = 1: the partner is itself


def test_transition_bins_fade_in() -> None:
    x = _batch()
    hard = A.HighFreqAugment(mode="gain", generator=_gen(5))(x) - x
    soft = A.HighFreqAugment(mode="gain", transition_bins=3, generator=_gen(5))(x) - x
    cb = A.HighFreqAugment().cutoff_bin
    for k, w in enumerate([0.25, 0.5, 0.75, 1.0, 1.0]):
        assert torch.allclose(soft[:, :, cb + k], w * hard[:, :, cb + k], atol=1e-4)
    assert torch.equal(soft[:, :, :cb], torch.zeros_like(soft[:, :, :cb]))


# --------------------------------------------------------------------------- log-mixup-exp
def test_log_mixup_exp_empty_bank_and_fifo() -> None:
    mix = A.LogMixupExp(bank_size=3, generator=_gen())
    x = _batch(b=2)
    assert torch.equal(mix(x), x)  # empty bank: unchanged, bank filled
    assert mix.bank_filled == 2
    mix(_batch(b=2, seed=1))
    assert mix.bank_filled == 3
    big = _batch(b=5, seed=2)
    mix(big)  # keeps only the 3 most recent
    assert torch.equal(mix.bank, big[2:])  # oldest first
    # the bank can be saved and restored (resume): same state, same draws, same output
    twin = A.LogMixupExp(bank_size=3, generator=_gen(9))
    twin.bank = mix.bank
    mix.generator = _gen(9)
    x2 = _batch(b=2, seed=4)
    assert torch.equal(twin(x2), mix(x2))
    mix.reset()
    assert mix.bank_filled == 0 and mix.bank is None


def test_log_mixup_exp_ratio_zero_is_identity() -> None:
    mix = A.LogMixupExp(ratio=0.0, generator=_gen())
    x = _batch()
    mix(_batch(seed=3))
    assert torch.allclose(mix(x), x, atol=1e-4)


def test_log_mixup_exp_mixes_powers_between_inputs() -> None:
    # bank holds z = 10 dB everywhere; x = 0 dB: out = 10 log10((1 - a) + 10 a), a in [0, 0.4]
    mix = A.LogMixupExp(bank_size=1, ratio=0.4, generator=_gen())
    mix(torch.full((1, 1, M, T), 10.0))
    y = mix(torch.zeros(4, 1, M, T))
    per_sample = y.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4)  # one a per sample
    assert (per_sample >= -1e-5).all()
    assert (per_sample <= 10 * math.log10(1 + 9 * 0.4) + 1e-4).all()
    # general random inputs: the result lies between the two inputs elementwise
    mix2 = A.LogMixupExp(bank_size=1, ratio=1.0, generator=_gen())
    z, x = _batch(b=1, seed=7), _batch(b=1, seed=8)
    mix2(z)
    out = mix2(x)
    lo, hi = torch.minimum(x, z), torch.maximum(x, z)
    assert ((out >= lo - 1e-3) & (out <= hi + 1e-3)).all()


def test_log_mixup_exp_log_scale_handles_standardised_input() -> None:
    mean, std = -40.0, 12.0
    z, x = _batch(b=4, seed=1), _batch(b=4, seed=2)
    db = A.LogMixupExp(bank_size=8, ratio=0.4, generator=_gen(3))
    db(z)
    ref = (db(x) - mean) / std
    norm = A.LogMixupExp(bank_size=8, ratio=0.4, log_scale=A.DB_LOG_SCALE / std, generator=_gen(3))
    norm((z - mean) / std)
    assert torch.allclose(norm((x - mean) / std), ref, atol=1e-4)


# --------------------------------------------------------------------------- crops and segments
def test_random_resize_crop_matches_per_crop_interpolate() -> None:
    x = _batch(b=6)
    rrc = A.RandomResizeCrop(generator=_gen(3))
    y = rrc(x)
    assert y.shape == x.shape
    ii, hs, jj, ws = A.RandomResizeCrop(generator=_gen(3)).crop_boxes(6, M, T)
    cm, ct = M, int(round(T * 1.5))
    canvas = x.mean(dim=(1, 2, 3), keepdim=True).expand(6, 1, cm, ct).clone()
    canvas[:, :, :, (ct - T) // 2:(ct - T) // 2 + T] = x
    for k in range(6):
        crop = canvas[k:k + 1, :, ii[k]:ii[k] + hs[k], jj[k]:jj[k] + ws[k]]
        ref = F.interpolate(crop, size=(M, T), mode="bicubic", align_corners=True)
        assert torch.allclose(y[k:k + 1], ref, atol=2e-3)
    assert ((hs >= 1) & (hs <= cm) & (ws >= 1) & (ws <= ct)).all()


def test_random_resize_crop_batched_matrices_equal_the_per_sample_ones() -> None:
    # the batch's resize matrices are scattered from a table: bit for bit the per-sample matrices
    ii, hs, jj, ws = A.RandomResizeCrop(generator=_gen(4)).crop_boxes(16, M, T)
    ct = int(round(T * 1.5))
    rows = A._placed_resize_matrices(ii, hs, M, M, torch.device("cpu"), torch.float32)
    cols = A._placed_resize_matrices(jj, ws, T, ct, torch.device("cpu"), torch.float32, transpose=True)
    assert rows.shape == (16, M, M) and cols.shape == (16, ct, T)
    for k in range(16):
        ref_rows = torch.zeros(M, M)
        ref_rows[:, ii[k]:ii[k] + hs[k]] = A._cubic_resize_matrix(int(hs[k]), M, torch.device("cpu"), torch.float32)
        ref_cols = torch.zeros(ct, T)
        ref_cols[jj[k]:jj[k] + ws[k]] = A._cubic_resize_matrix(int(ws[k]), T, torch.device("cpu"), torch.float32).T
        assert torch.equal(rows[k], ref_rows) and torch.equal(cols[k], ref_cols)
    # every crop size of the table, including 1 (one input row: all weight on it)
    every = A._placed_resize_matrices(np.zeros(M, dtype=int), np.arange(1, M + 1), M, M, torch.device("cpu"),
                                      torch.float32)
    assert torch.equal(every[0], torch.nn.functional.pad(torch.ones(M, 1), (0, M - 1)))
    assert torch.allclose(every.sum(dim=2), torch.ones(M, M), atol=1e-5)  # bicubic weights sum to 1


def test_log_mix_hand_computed_and_extreme_ranges() -> None:
    # 0 dB and 10 dB mixed half and half in power: 10 log10(0.5 * 1 + 0.5 * 10) = 10 log10(5.5) dB
    x, z = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 10.0)
    half = torch.full((1, 1, 1, 1), 0.5)
    assert torch.allclose(A._log_mix(x, z, half), torch.full_like(x, 10 * math.log10(5.5)), atol=1e-5)
    assert torch.equal(A._log_mix(x, z, torch.zeros_like(half)), x)  # a = 0: exactly x
    # differentiable: d out / d x = 0.5 * 1 / (0.5 * 1 + 0.5 * 10) = 1 / 11 (power share of x)
    xg = x.clone().requires_grad_(True)
    A._log_mix(xg, z, half).sum().backward()
    assert torch.allclose(xg.grad, torch.full_like(x, 1 / 11), atol=1e-6)
    # 1000 dB apart: no overflow or underflow; the quieter one adds nothing measurable
    loud = A._log_mix(torch.full((1, 1, 2, 2), 500.0), torch.full((1, 1, 2, 2), -500.0), half)
    assert torch.allclose(loud, torch.full_like(loud, 500.0 + 10 * math.log10(0.5)), atol=1e-3)
    quiet = A._log_mix(torch.full((1, 1, 2, 2), -500.0), torch.full((1, 1, 2, 2), 500.0), half)
    assert torch.allclose(quiet, torch.full_like(quiet, 500.0 + 10 * math.log10(0.5)), atol=1e-3)


def test_random_resize_crop_full_crop_is_identity() -> None:
    x = _batch(b=3)
    rrc = A.RandomResizeCrop(virtual_crop_scale=(1.0, 1.0), freq_scale=(1.0, 1.0), time_scale=(1.0, 1.0))
    assert torch.allclose(rrc(x), x, atol=1e-4)


def test_multi_segment_crop_counts_and_contents() -> None:
    b, n, seg = 3, 4, 16
    x = torch.arange(b * T, dtype=torch.float32).reshape(b, 1, 1, T).expand(b, 1, 5, T).contiguous()
    y = A.multi_segment_crop(x, seg, n, generator=_gen())
    assert y.shape == (b * n, 1, 5, seg)
    for k in range(b * n):
        clip = k // n  # clip-major order
        start = int(y[k, 0, 0, 0]) - clip * T
        assert 0 <= start <= T - seg
        assert torch.equal(y[k], x[clip, :, :, start:start + seg])


# --------------------------------------------------------------------------- SpecAugment, normalisation
def test_spec_augment_fills_with_sample_mean() -> None:
    x = _batch()
    y = A.SpecAugment(freq_mask=20, time_mask=10, n_masks=2, generator=_gen())(x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    changed = y != x
    assert changed.any()
    assert torch.equal(y[changed], mean[changed])
    assert torch.equal(A.SpecAugment(freq_mask=0, time_mask=0)(x), x)


def test_normalisation() -> None:
    mean, std = A.fit_normalizer(np.array([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and std == math.sqrt(1.25) + 1e-8  # hand-computed: mean, population std + 1e-8
    parts = [np.array([[1.0, 2.0]]), torch.tensor([3.0, 4.0])]
    assert A.fit_normalizer(parts) == pytest.approx((mean, std))
    y = A.PreNormalize(mean, std)(torch.tensor([1.0, 4.0]))
    assert torch.allclose(y, torch.tensor([-1.5, 1.5]) / math.sqrt(1.25))
    with pytest.raises(ValueError, match="constant"):
        A.fit_normalizer(np.ones(5))
    with pytest.raises(ValueError, match="NaN"):
        A.fit_normalizer([np.array([1.0, np.nan])])


def test_fit_normalizer_is_the_trainers_statistics_bit_for_bit() -> None:
    # the trainer's former train._fit_norm: float32 log-mels concatenated, NumPy mean and std + 1e-8
    rng = np.random.default_rng(0)
    feats = [(rng.standard_normal((64, t)) * 12 - 45).astype(np.float32) for t in (313, 200, 313)]
    allv = np.concatenate([f.reshape(-1) for f in feats])
    assert A.fit_normalizer(feats) == (float(allv.mean()), float(allv.std() + 1e-8))
    # and PreNormalize is the trainer's former lambda (x - mean) / std, bit for bit
    mean, std = A.fit_normalizer(feats)
    x = torch.from_numpy(feats[0])[None, None]
    assert torch.equal(A.PreNormalize(mean, std)(x), (x - mean) / std)


# --------------------------------------------------------------------------- pipelines
def test_build_views_composition() -> None:
    def names(pipe: A.ViewPipeline) -> list[str]:
        return [type(t).__name__ for t in pipe.transforms]

    assert names(A.build_views(mixup=False, crop=False)) == []
    assert names(A.build_views()) == ["LogMixupExp", "RandomResizeCrop"]
    assert A.build_views().hf_role is None  # no band augmentation: no reading
    band = {"cutoff_hz": 1000.0, "mode": "mask"}
    assert names(A.build_views(band=band)) == ["LogMixupExp", "HighFreqAugment", "RandomResizeCrop"]
    assert names(A.build_views(band=band, side="low")) == ["LogMixupExp", "LowFreqAugment", "RandomResizeCrop"]
    pipe = A.build_views(band=band, specaugment=True, mixup=False, normalizer=(-40.0, 10.0))
    assert names(pipe) == ["HighFreqAugment", "RandomResizeCrop", "SpecAugment", "PreNormalize"]
    assert pipe.transforms[0].mode == "mask" and pipe.transforms[0].cutoff_hz == 1000.0
    assert pipe.hf_role == A.DEFAULT_HF_ROLE == "invariance"
    sup = A.build_views(band=band, hf_role="suppression", normalizer=(-40.0, 10.0))
    assert names(sup) == ["BandSuppress", "LogMixupExp", "RandomResizeCrop", "PreNormalize"]
    assert sup.transforms[0].value == -40.0 and sup.transforms[0].cutoff_hz == 1000.0
    assert names(sup.scoring_transform()) == ["BandSuppress", "PreNormalize"]
    assert names(A.build_views(band=band, normalizer=(-40.0, 10.0)).scoring_transform()) == ["PreNormalize"]
    with pytest.raises(ValueError, match="hf_role"):
        A.build_views(band=band, hf_role="outlier")
    with pytest.raises(ValueError, match="side"):
        A.build_views(band=band, side="mid")
    with pytest.raises(TypeError, match="crop="):
        A.build_views(crop=3)
    with pytest.raises(ValueError, match="exactly one band"):
        A.ViewPipeline([A.RandomResizeCrop()], hf_role="pseudo-anomaly")


def test_draw_is_different_and_reproducible() -> None:
    x = _batch()
    v1, v2, vo = A.build_views(band={}, seed=0).draw(x)
    w1, w2, _ = A.build_views(band={}, seed=0).draw(x)
    assert vo is None
    assert v1.shape == v2.shape == x.shape
    assert not torch.equal(v1, v2)
    assert torch.equal(v1, w1) and torch.equal(v2, w2)
    assert torch.equal(A.build_views(mixup=False, crop=False)(x), x)


def test_crop_shares_its_box_across_channels_and_keeps_single_channel_numbers() -> None:
    x = _batch(b=4)
    y = A.RandomResizeCrop(generator=_gen(5))(torch.cat([x, x], dim=1))
    assert torch.equal(y[:, 1:], y[:, :1])  # one crop (and one fill) per sample for all its channels
    no_pad = A.RandomResizeCrop(virtual_crop_scale=(1.0, 1.0), generator=_gen(5))
    y = no_pad(torch.cat([x, x + 7.0], dim=1))
    assert torch.allclose(y[:, 1:], y[:, :1] + 7.0, atol=1e-4)  # bicubic weights sum to 1
    # one channel: the fill is the sample's mean, as before the per-channel change
    rrc = A.RandomResizeCrop(generator=_gen(6))
    ii, hs, jj, ws = A.RandomResizeCrop(generator=_gen(6)).crop_boxes(4, M, T)
    ct = int(round(T * 1.5))
    canvas = x.mean(dim=(1, 2, 3), keepdim=True).expand(4, 1, M, ct).clone()
    canvas[:, :, :, (ct - T) // 2:(ct - T) // 2 + T] = x
    ref = torch.cat([F.interpolate(canvas[k:k + 1, :, ii[k]:ii[k] + hs[k], jj[k]:jj[k] + ws[k]], size=(M, T),
                                   mode="bicubic", align_corners=True) for k in range(4)])
    assert torch.allclose(rrc(x), ref, atol=2e-3)


# --------------------------------------------------------------------------- the three readings
def _no_crop(role: str, mode: str = "gain", **kw) -> A.ViewPipeline:
    return A.build_views(band={"mode": mode}, hf_role=role, mixup=False, crop=False, seed=0, **kw)


def test_invariance_first_view_keeps_its_high_bands_second_is_altered() -> None:
    x = _batch()
    first, second, outlier = _no_crop("invariance").draw(x)
    cb = A.HighFreqAugment().cutoff_bin
    assert outlier is None
    assert torch.equal(first, x)  # no crop, no mixup: the unaltered view is the input
    assert torch.equal(second[:, :, :cb], x[:, :, :cb])
    d = (second - x)[:, 0, cb:, 0].abs()
    assert (d[:, [0, -1]] >= 15.0 - 1e-4).all()  # gain control points: 15..30 dB


def test_pseudo_anomaly_outlier_is_the_second_view_with_altered_high_bands() -> None:
    x = _batch()
    cb = A.HighFreqAugment().cutoff_bin
    first, second, outlier = _no_crop("pseudo-anomaly", mode="mask").draw(x)
    assert torch.equal(first, x) and torch.equal(second, x)  # positives keep their high bands
    floor = x.amin(dim=(1, 2, 3), keepdim=True)
    assert torch.equal(outlier[:, :, :cb], x[:, :, :cb])
    assert torch.allclose(outlier[:, :, cb:], floor.expand_as(outlier[:, :, cb:]))  # mask, strength 1
    # with mixup and crop: the outlier shares second's draws, so below the cutoff the two agree
    # except where the crop's frequency zoom moves altered bands down (a few bands next to the cutoff)
    pipe = A.build_views(band={}, hf_role="pseudo-anomaly", seed=1)
    pipe(_batch(seed=9))  # fill the mixup bank
    first, second, outlier = pipe.draw(x)
    diff = A.band_difference(second, outlier)
    assert float(diff[: cb // 2].max()) == 0.0
    assert A.difference_ratio(first, second, cb) < 1.5  # the positive pair is not altered
    assert not torch.equal(first, second)


def test_suppression_removes_the_high_bands_in_training_and_scoring() -> None:
    x = _batch()
    mean, std = -40.0, 10.0
    pipe = A.build_views(band={"cutoff_hz": 2000.0}, hf_role="suppression", normalizer=(mean, std), crop=False,
                         seed=0)
    pipe(_batch(seed=3))  # fill the mixup bank
    cb = A.HighFreqAugment().cutoff_bin
    first, second, outlier = pipe.draw(x)
    assert outlier is None
    for v in (first, second):
        assert torch.allclose(v[:, :, cb:], torch.zeros_like(v[:, :, cb:]), atol=1e-5)  # training mean -> 0
    scored = pipe.scoring_transform()(x)
    assert torch.equal(scored[:, :, cb:], torch.zeros_like(scored[:, :, cb:]))
    assert torch.equal(scored[:, :, :cb], (x[:, :, :cb] - mean) / std)
    low = A.BandSuppress(cutoff_hz=2000.0, side="low", value=None)(x)
    assert torch.equal(low[:, :, cb:], x[:, :, cb:])
    assert torch.equal(low[:, :, :cb], x.amin(dim=(1, 2, 3), keepdim=True).expand_as(low[:, :, :cb]))


def test_difference_ratio_hand_computed() -> None:
    a = torch.zeros(1, 1, 4, 2)
    b = torch.tensor([[1.0, 1.0], [3.0, 3.0], [4.0, 4.0], [8.0, 8.0]])[None, None]
    assert torch.equal(A.band_difference(a, b), torch.tensor([1.0, 3.0, 4.0, 8.0]))
    assert A.difference_ratio(a, b, cutoff_bin=2) == pytest.approx(6.0 / 2.0)
    with pytest.raises(ValueError, match="cutoff_bin"):
        A.difference_ratio(a, b, cutoff_bin=4)


# --------------------------------------------------------------------------- the ratio in the trainer's pipeline
@pytest.fixture(scope="module")
def synthetic_segments():
    """Segments of short synthetic normal clips (4 types x 2 IDs x 2 clips) at the encoder's 64 mels."""
    from asdlib import features, synth
    from asdlib.data import SegmentDataset

    fe = features.FrontEndConfig(n_mels=64)
    feats = []
    for mt in ("fan", "pump", "slider", "valve"):
        for unit in ("id_00", "id_02"):
            params = synth.unit_params(mt, unit, seed=0)
            for k in range(2):
                feats.append(features.logmel(synth.synth_clip(mt, params, np.random.default_rng(k), duration=2.5), fe))
    ds = SegmentDataset(feats, [0] * len(feats), segment_frames=64, segments_per_clip=4, seed=0)
    segs = torch.stack([ds[i][0] for i in np.random.default_rng(0).permutation(len(ds))])
    return A.fit_normalizer(feats), segs[:32], segs[32:], features.hz_to_mel_bin(2000.0, fe)


def _ratios(method: str, data, draws: int = 3, **settings) -> dict[str, float]:
    from asdlib.methods import method_config, method_for

    norm, warm, xb, cb = data
    out: dict[str, list[float]] = {}
    for d in range(draws):
        pipe = method_for(method_config(method, **settings)).views(norm).manual_seed(d)
        pipe(warm)
        v = pipe.draw(xb)
        out.setdefault("pair", []).append(A.difference_ratio(v.first, v.second, cb))
        if v.outlier is not None:
            out.setdefault("outlier", []).append(A.difference_ratio(v.second, v.outlier, cb))
    return {k: float(np.mean(r)) for k, r in out.items()}


def test_views_differ_at_least_twice_as_much_above_the_cutoff(synthetic_segments) -> None:
    # issue 10: >= 2x for every reading that alters views, about 1x without the augmentation
    # (benchmarks/bench_views.py prints the full table; the old mix/p=1 default gave about 1x here)
    plain = _ratios("contrastive", synthetic_segments)["pair"]
    assert 0.7 < plain < 1.4, plain
    assert _ratios("contrastive-hf", synthetic_segments, hf_role="invariance")["pair"] >= 2.0
    pseudo = _ratios("contrastive-hf", synthetic_segments, hf_role="pseudo-anomaly")
    assert pseudo["outlier"] >= 2.0, pseudo
    assert 0.7 < pseudo["pair"] < 1.4, pseudo  # the positives are not altered
    assert _ratios("contrastive-hf", synthetic_segments, hf_role="suppression")["pair"] < 1.0


# --------------------------------------------------------------------------- listening (asdlib.listen)
def _band_energy(y: np.ndarray, lo: float, hi: float, sr: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1.0 / sr)
    return float(spec[(f >= lo) & (f < hi)].sum())


def _check_hf_mask_on_audio(wave: np.ndarray) -> None:
    aug = A.HighFreqAugment(cutoff_hz=2000.0, mode="mask", strength=1.0)
    out = listen.apply_to_audio(wave, aug)
    assert out.shape == wave.shape and out.dtype == np.float32
    below = _band_energy(out, 0, 2000) / _band_energy(wave, 0, 2000)
    above = _band_energy(out, 2100, 8000) / _band_energy(wave, 2100, 8000)
    assert abs(below - 1.0) < 0.05, below
    assert above < 0.05, above
    low = A.LowFreqAugment(cutoff_hz=2000.0, mode="mask", strength=1.0)
    out_low = listen.apply_to_audio(wave, low)
    assert _band_energy(out_low, 20, 1900) / _band_energy(wave, 20, 1900) < 0.05
    assert abs(_band_energy(out_low, 2100, 8000) / _band_energy(wave, 2100, 8000) - 1.0) < 0.05


def test_apply_to_audio_hf_mask_on_noise() -> None:
    rng = np.random.default_rng(0)
    _check_hf_mask_on_audio((0.1 * rng.standard_normal(16000 * 3)).astype(np.float32))


def test_apply_to_audio_hf_mask_on_real_clip() -> None:
    clips = sorted(SAMPLES.glob("dcase2020_dev_sample/fan/test/normal_*.wav")) if SAMPLES else []
    if not clips:
        pytest.skip("shared DCASE sample clips not available")
    wave, sr = sf.read(clips[0], dtype="float32")
    assert sr == 16000
    _check_hf_mask_on_audio(wave[: 16000 * 4])


def test_apply_to_audio_identity_and_shape_check() -> None:
    rng = np.random.default_rng(1)
    wave = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    same = listen.apply_to_audio(wave, A.HighFreqAugment(p=0.0))
    assert np.allclose(same, wave, atol=1e-4)
    with pytest.raises(ValueError, match="shape"):
        listen.apply_to_audio(wave, lambda x: x[..., :3])


def test_to_audio_renders_a_logmel() -> None:
    rng = np.random.default_rng(2)
    wave = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=1024, hop_length=512, n_mels=M, power=2.0)
    logmel = 10 * np.log10(mel + np.finfo(float).eps)
    y = listen.to_audio(logmel, n_iter=4)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 512 * (logmel.shape[1] - 1)
    assert np.abs(y).max() <= 1.0
    # the rendered audio has roughly the original loudness (white noise in, white noise out)
    assert 0.3 < np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(wave ** 2)) < 3.0


def test_multi_segment_crop_returns_the_first_frame_of_every_segment() -> None:
    x = torch.arange(2 * 3 * 40, dtype=torch.float32).reshape(2, 1, 3, 40)
    plain = A.multi_segment_crop(x, 8, 5, generator=_gen())
    segs, starts = A.multi_segment_crop(x, 8, 5, generator=_gen(), return_starts=True)
    assert torch.equal(plain, segs)  # the same draws with or without the starts
    assert starts.shape == (10,)
    for j, start in enumerate(starts.tolist()):
        clip = j // 5
        assert torch.equal(segs[j, 0], x[clip, 0, :, start:start + 8])


def test_prenormalize_inverse_returns_the_db_values() -> None:
    norm = A.PreNormalize(-40.0, 8.0)
    x = torch.tensor([[-56.0, -40.0, -24.0]])
    assert torch.allclose(norm(x), torch.tensor([[-2.0, 0.0, 2.0]]))
    assert torch.allclose(norm.inverse(norm(x)), x)
