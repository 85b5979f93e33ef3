"""Tests of asdlib.features: log-mel front end, mel helpers, feature cache (chapter 3)."""

from __future__ import annotations

import re

import math
import os
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from asdlib import features as F
from asdlib.features import (
    FRONTEND_REVISION,
    FeatureCache,
    FrontEndConfig,
    LogMel,
    hz_to_mel_bin,
    logmel,
    logmel_batch,
    mel_frequencies,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dcase-samples"
EPS_DB = 10 * math.log10(sys.float_info.epsilon)  # -156.54 dB, the floor of digital silence


def reference(y: np.ndarray, config: FrontEndConfig = FrontEndConfig()) -> np.ndarray:
    """librosa in float64 followed by the DCASE log."""
    mel = librosa.feature.melspectrogram(
        y=np.asarray(y, dtype=np.float64), sr=config.sr, n_fft=config.n_fft,
        hop_length=config.hop_length, n_mels=config.n_mels, power=config.power,
        fmin=config.fmin, fmax=config.fmax, center=config.center,
    )
    return 20.0 / config.power * np.log10(mel + sys.float_info.epsilon)


def assert_close_db(ours: np.ndarray, ref: np.ndarray, tol: float = 1e-2, floor: float = 80.0) -> None:
    """Max abs difference below ``tol`` dB wherever the reference is within ``floor`` dB of its peak."""
    assert ours.shape == ref.shape
    mask = ref > ref.max() - floor
    assert mask.mean() > 0.5
    assert np.abs(ours - ref)[mask].max() < tol


def noise(seconds: float = 10.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)


# --------------------------------------------------------------------------- config


def test_config_defaults_frames_and_key():
    c = FrontEndConfig()
    assert (c.sr, c.n_fft, c.hop_length, c.n_mels, c.power, c.center) == (16000, 1024, 512, 128, 2.0, True)
    assert c.n_frames(160000) == 313 and c.n_frames(176000) == 344 and c.n_frames(0) == 1
    assert FrontEndConfig(center=False).n_frames(160000) == 1 + (160000 - 1024) // 512  # 311
    key = c.key()
    assert re.fullmatch(r"[0-9a-f]{12}", key), key
    assert key == FrontEndConfig().key() == FrontEndConfig(power=2, n_mels=128).key()
    changed = {FrontEndConfig(n_mels=64).key(), FrontEndConfig(hop_length=256).key(),
               FrontEndConfig(fmax=8000.0).key(), FrontEndConfig(center=False).key()}
    assert key not in changed and len(changed) == 4


@pytest.mark.parametrize("kwargs,match", [
    ({"n_fft": 0}, "n_fft"), ({"n_mels": 2.5}, "n_mels"), ({"power": 0}, "power"),
    ({"fmax": 9000}, "fmax"), ({"fmin": 500, "fmax": 400}, "fmin"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FrontEndConfig(**kwargs)


# --------------------------------------------------------------------------- LogMel vs librosa


def test_mel_matrix_is_librosa_default():
    m = LogMel()
    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128)
    np.testing.assert_allclose(m.mel_fb.numpy(), ref, rtol=1e-6, atol=1e-9)
    ta = torchaudio.functional.melscale_fbanks(513, 0.0, 8000.0, 128, 16000, norm="slaney", mel_scale="slaney")
    np.testing.assert_allclose(ta.T.numpy(), ref, rtol=1e-3, atol=1e-6)
    assert m.window.shape == (1024,) and float(m.window[0]) == 0.0  # periodic Hann


def test_logmel_matches_librosa_on_noise_10s():
    y = noise()
    ours = logmel(y)
    assert ours.shape == (128, 313) and ours.dtype == np.float32
    assert_close_db(ours, reference(y))


def test_logmel_matches_librosa_on_real_clips():
    folder = SAMPLES / "dcase2020_dev_sample"
    if not folder.is_dir():
        pytest.skip("real DCASE samples not available")
    from asdlib.data import load_audio

    for sub in ("fan", "ToyCar", "ToyConveyor"):
        clip = sorted(folder.glob(f"{sub}/test/*.wav"))[0]
        y = load_audio(clip)
        ours = logmel(y)
        assert ours.shape[1] == FrontEndConfig().n_frames(len(y))
        assert_close_db(ours, reference(y))


@pytest.mark.parametrize("config", [
    FrontEndConfig(n_mels=64),
    FrontEndConfig(power=1.0, fmin=50.0, fmax=7000.0),
    FrontEndConfig(n_fft=512, hop_length=160, n_mels=64, center=False),
])
def test_logmel_other_settings_match_librosa(config):
    y = noise(2.0, seed=3)
    ours = logmel(y, config)
    assert ours.shape == (config.n_mels, config.n_frames(len(y)))
    assert_close_db(ours, reference(y, config))


def test_silence_is_the_eps_floor():
    out = logmel(np.zeros(16000, np.float32))
    np.testing.assert_allclose(out, EPS_DB, atol=1e-3)
    assert out.shape == (128, 32)


def test_tone_peaks_in_its_mel_band():
    sr, hz = 16000, 1000.0
    y = np.sin(2 * np.pi * hz * np.arange(sr) / sr).astype(np.float32)
    profile = logmel(y).mean(axis=1)
    peak = int(np.argmax(profile))
    centres = mel_frequencies()
    assert abs(centres[peak] - hz) < (centres[peak + 1] - centres[peak])
    assert peak in (hz_to_mel_bin(hz) - 1, hz_to_mel_bin(hz))


def test_batched_equals_single_and_lead_dims():
    m = LogMel().eval()
    waves = torch.from_numpy(np.stack([noise(1.0, s) for s in range(6)]))
    with torch.inference_mode():
        batch = m(waves)
        single = torch.stack([m(w) for w in waves])
        grid = m(waves.reshape(2, 3, -1))
    assert batch.shape == (6, 128, 32)
    torch.testing.assert_close(batch, single, rtol=0, atol=1e-5)
    torch.testing.assert_close(grid.reshape(6, 128, 32), batch, rtol=0, atol=0)


def test_autograd_path_equals_fast_path_and_float64():
    m = LogMel()
    x = torch.from_numpy(noise(1.0, 9)).requires_grad_(True)
    slow = m(x)  # dense product, out of place (differentiable)
    slow.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with torch.no_grad():
        fast = m(x)
    torch.testing.assert_close(slow.detach(), fast, rtol=0, atol=1e-3)
    with torch.no_grad():
        f64 = m(x.detach().double())
    assert f64.dtype == torch.float64
    torch.testing.assert_close(f64.float(), fast, rtol=0, atol=1e-3)


@pytest.mark.parametrize("config", [
    FrontEndConfig(),
    FrontEndConfig(n_fft=511, hop_length=100, n_mels=40),  # odd window, hop not n_fft / 2
    FrontEndConfig(n_fft=512, hop_length=160, n_mels=64, center=False, power=1.0),
])
@pytest.mark.parametrize("n_samples", [100, 700, 16000])
def test_cpu_path_equals_stft_path(config, n_samples):
    """The CPU fast path (unfold + rfft + banded product) and the torch.stft path agree."""
    m = LogMel(config)
    x = torch.from_numpy(noise(n_samples / 16000, 5)[:n_samples]).reshape(1, -1).requires_grad_(True)
    if not config.center and n_samples < config.n_fft:  # both paths refuse a too-short clip
        for grad in (True, False):
            with torch.set_grad_enabled(grad), pytest.raises(ValueError, match="n_fft"):
                m(x)
        return
    stft_path = m(x).detach()  # gradients on: the torch.stft path
    with torch.inference_mode():
        fast = m(x.detach())
    assert fast.shape == stft_path.shape == (1, config.n_mels, config.n_frames(n_samples))
    torch.testing.assert_close(fast, stft_path, rtol=0, atol=1e-3)


def test_cpu_path_threads_and_copies_agree():
    """Work arrays are per thread and not copied with the module: results do not mix."""
    import copy
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    m = LogMel()
    waves = [torch.from_numpy(noise(1.0 + 0.25 * (i % 3), i)) for i in range(12)]
    with torch.inference_mode():
        expected = [m(w) for w in waves]

        def run(i):
            with torch.inference_mode():
                return m(waves[i])

        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(run, list(range(len(waves))) * 3))
        for i, g in enumerate(got):
            torch.testing.assert_close(g, expected[i % len(waves)], rtol=0, atol=0)
        for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
            torch.testing.assert_close(clone(waves[0]), expected[0], rtol=0, atol=0)


def test_logmel_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        logmel(np.zeros(0, np.float32))
    with pytest.raises(TypeError, match="float"):
        logmel(np.zeros(100, np.int16))
    with pytest.raises(ValueError, match="non-finite"):
        logmel(np.array([0.0, np.nan] * 100, np.float32))
    with pytest.raises(ValueError, match="n_fft"):
        LogMel(FrontEndConfig(center=False))(torch.zeros(100))
    with pytest.raises(TypeError, match="torch.Tensor"):
        LogMel()(np.zeros(100))


def test_logmel_batch_mixed_lengths_in_order():
    waves = [noise(1.0, 0), noise(0.5, 1), noise(1.0, 2), torch.from_numpy(noise(0.25, 3))]
    outs = logmel_batch(waves, batch_size=1)
    assert [o.shape for o in outs] == [(128, 32), (128, 16), (128, 32), (128, 8)]
    for w, o in zip(waves, outs):
        np.testing.assert_allclose(o, logmel(w), atol=1e-5)
    with pytest.raises(ValueError, match=r"waves\[0\].*1-D"):
        logmel_batch([np.zeros((2, 100), np.float32)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_logmel_on_cuda_matches_cpu():
    y = noise(2.0)
    cpu = logmel(y)
    gpu = LogMel().cuda()(torch.from_numpy(y).cuda()).cpu().numpy()
    assert_close_db(gpu, cpu, tol=1e-2)


# --------------------------------------------------------------------------- mel helpers


def test_mel_frequencies_hand_values():
    c = mel_frequencies()
    assert c.shape == (128,) and np.all(np.diff(c) > 0)
    # Slaney scale: 3 mels per 200 Hz below 1 kHz, log above; 8 kHz is 15 + 27 ln(8) / ln(6.4) mel
    top = 15 + 27 * math.log(8.0) / math.log(6.4)
    assert c[0] == pytest.approx(top / 129 * 200 / 3, rel=1e-9)  # 23.38 Hz
    assert c[-1] == pytest.approx(1000 * 6.4 ** ((top * 128 / 129 - 15) / 27), rel=1e-9)


def test_hz_to_mel_bin_edges_and_clamp():
    c = mel_frequencies()
    assert hz_to_mel_bin(0.0) == 0 and hz_to_mel_bin(-5) == 0
    assert hz_to_mel_bin(1e6) == 128
    for k in (0, 17, 64, 127):
        assert hz_to_mel_bin(c[k]) == k
        assert hz_to_mel_bin(c[k] + 1e-6) == k + 1
    small = FrontEndConfig(n_mels=64)
    assert 0 < hz_to_mel_bin(4000.0, small) < hz_to_mel_bin(4000.0) < 128
    with pytest.raises(ValueError, match="finite"):
        hz_to_mel_bin(float("nan"))


# --------------------------------------------------------------------------- FeatureCache


def write(path: Path, y: np.ndarray) -> Path:
    sf.write(path, y, 16000, subtype="PCM_16")
    return path


def test_cache_hit_and_disk_file(tmp_path):
    wav = write(tmp_path / "a.wav", noise(1.0))
    cache = FeatureCache(tmp_path / "cache")
    first = cache.get(wav)
    assert first.shape == (128, 32) and (cache.hits, cache.misses) == (0, 1)
    stored = cache.cache_file(wav)
    assert stored.is_file() and stored.parent.name == f"logmel-{FrontEndConfig().key()}-r{FRONTEND_REVISION}"
    np.testing.assert_array_equal(np.load(stored), first)
    second = cache.get(wav)
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first, second)
    assert not list(stored.parent.glob(".tmp-*"))  # no temporary file left behind


def test_cache_invalidated_when_file_changes(tmp_path):
    wav = write(tmp_path / "a.wav", noise(1.0, 0))
    cache = FeatureCache(tmp_path / "cache")
    old = cache.get(wav)
    old_file = cache.cache_file(wav)
    write(wav, noise(1.0, 1))
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert cache.cache_file(wav) != old_file
    new = cache.get(wav)
    assert cache.misses == 2
    assert np.abs(new - old).max() > 1.0
    np.testing.assert_allclose(new, logmel(noise(1.0, 1)), atol=0.05)  # 16-bit rounding


def test_cache_invalidated_when_config_changes(tmp_path):
    wav = write(tmp_path / "a.wav", noise(1.0))
    a = FeatureCache(tmp_path / "cache")
    b = FeatureCache(tmp_path / "cache", FrontEndConfig(n_mels=64))
    assert a.get(wav).shape == (128, 32)
    assert b.get(wav).shape == (64, 32) and b.misses == 1
    assert a.cache_file(wav).parent != b.cache_file(wav).parent


def test_cache_invalidated_when_frontend_code_changes(tmp_path, monkeypatch):
    import asdlib.features as features_module

    wav = write(tmp_path / "a.wav", noise(1.0))
    old = FeatureCache(tmp_path / "cache")
    old.get(wav)
    monkeypatch.setattr(features_module, "FRONTEND_REVISION", features_module.FRONTEND_REVISION + 1)
    new = FeatureCache(tmp_path / "cache")
    assert new.cache_file(wav) != old.cache_file(wav)
    new.get(wav)
    assert new.misses == 1 and new.hits == 0


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    wav = write(tmp_path / "a.wav", noise(0.5))
    cache = FeatureCache(tmp_path / "cache")

    def broken_save(fh, arr, allow_pickle=False):
        fh.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(F.np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cache.get(wav)
    target = cache.cache_file(wav)
    assert not target.exists() and not list(target.parent.iterdir())
    monkeypatch.undo()
    assert cache.get(wav).shape == (128, 16) and target.is_file()


def test_cache_recovers_from_corrupt_entry_and_can_be_disabled(tmp_path):
    wav = write(tmp_path / "a.wav", noise(0.5))
    cache = FeatureCache(tmp_path / "cache")
    good = cache.get(wav)
    cache.cache_file(wav).write_bytes(b"garbage")
    np.testing.assert_array_equal(cache.get(wav), good)
    assert cache.misses == 2
    off = FeatureCache(None)
    assert off.cache_file(wav) is None
    np.testing.assert_array_equal(off.get(wav), good)
    assert off.get(wav).shape == (128, 16) and off.misses == 2


def test_cache_features_order_and_batching(tmp_path):
    paths = [write(tmp_path / f"c{i}.wav", noise(0.5 + 0.25 * (i % 2), i)) for i in range(5)]
    cache = FeatureCache(tmp_path / "cache", batch_size=2)
    cache.get(paths[3])
    feats = cache.features(paths)
    assert [f.shape[1] for f in feats] == [16, 24, 16, 24, 16]
    assert (cache.hits, cache.misses) == (1, 5)
    for p, f in zip(paths, feats):
        np.testing.assert_allclose(f, cache.get(p), atol=0)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        cache.get(tmp_path / "missing.wav")


def test_cache_keys_on_content_not_on_name_size_or_mtime(tmp_path, monkeypatch):
    import time

    from asdlib import data as D

    a = write(tmp_path / "a.wav", noise(1.0, 0))
    copy = tmp_path / "copy.wav"
    copy.write_bytes(a.read_bytes())
    cache = FeatureCache(tmp_path / "cache")
    old = cache.get(a)
    assert cache.cache_file(copy) == cache.cache_file(a)  # a copied data set reuses the features
    assert cache.get(copy) is not None and (cache.hits, cache.misses) == (1, 1)
    # the in-process digest memo is on (no racy margin): a rewrite with the same size and the
    # old mtime still changes ctime, so it is noticed in the same process too
    monkeypatch.setattr(D, "_RACY_NS", 0)
    time.sleep(0.05)
    D.file_digest(a)
    st = a.stat()
    assert any(k[0] == str(a.absolute()) for k in D._DIGEST_MEMO)
    time.sleep(0.05)  # past the file system's time-stamp tick
    write(a, noise(1.0, 1))
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (a.stat().st_size, a.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    new = cache.get(a)
    assert cache.misses == 2
    assert np.abs(new - old).max() > 1.0
    np.testing.assert_allclose(new, logmel(noise(1.0, 1)), atol=0.05)  # 16-bit rounding


def test_cache_stores_nothing_when_the_file_changes_while_computing(tmp_path, monkeypatch):
    wav = write(tmp_path / "a.wav", noise(0.5, 0))
    cache = FeatureCache(tmp_path / "cache")
    before = cache.cache_file(wav)
    real_load = F.load_audio

    def load_then_rewrite(path, sr=16000, channel="mean"):
        y = real_load(path, sr=sr, channel=channel)
        write(Path(path), noise(0.5, 1))  # another program rewrites the file meanwhile
        return y

    monkeypatch.setattr(F, "load_audio", load_then_rewrite)
    cache.get(wav)
    assert not before.exists() and not cache.cache_file(wav).exists()
    monkeypatch.undo()
    np.testing.assert_allclose(cache.get(wav), logmel(noise(0.5, 1)), atol=0.05)
    assert cache.cache_file(wav).is_file()
