"""Issue 10, "beyond the paper": the spectrum augmentation's cutoff chosen per machine type from
normal training clips only (``hf_cutoff_hz="auto"``, :func:`asdlib.augment.auto_cutoff`), and the
per-clip cutoffs a shared encoder's views use."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from asdlib import augment as A
from asdlib import methods
from asdlib.cli import _overrides
from asdlib.data import index
from asdlib.features import FrontEndConfig, hz_to_mel_bin, mel_frequencies
from asdlib.train import train
from conftest import spy_on_load_features

FE8 = FrontEndConfig(n_mels=8)
FAST = dict(epochs=1, batch_size=16, segments_per_clip=2, width=8, depth=2, emb_dim=32, proj_dim=16)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)


def _clips(between: list[bool], n: int = 4, t: int = 6) -> list[np.ndarray]:
    """``n`` clips of ``len(between)`` bands: a band marked True is constant in time with a different
    level per clip (r = inf); a band marked False alternates +-1 dB around one level shared by all
    clips (r = 0)."""
    clips = []
    for i in range(n):
        x = np.zeros((len(between), t))
        for m, b in enumerate(between):
            x[m] = -40.0 + 3.0 * i if b else -40.0 + np.where(np.arange(t) % 2 == 0, 1.0, -1.0)
        clips.append(x)
    return clips


# ------------------------------------------------------------------ the statistic and the rule
def test_between_within_ratio_by_hand():
    a = np.array([[0.0, 2.0], [0.0, 2.0], [5.0, 5.0]])  # bands: [0, 2], [0, 2], constant 5
    b = np.array([[4.0, 6.0], [0.0, 2.0], [5.0, 5.0]])
    r = A.between_within_ratio([a, b])
    # band 0: clip means 1 and 5 -> B = var([1, 5], ddof=1) = 8; frame variances 2 and 2 -> W = 2
    # band 1: equal means -> B = 0, W = 2; band 2: no variation at all -> 0 by definition
    assert r.tolist() == [4.0, 0.0, 0.0]
    c = np.array([[4.0, 6.0], [0.0, 2.0], [9.0, 9.0]])
    assert A.between_within_ratio([a, c])[2] == np.inf  # clips differ, neither fluctuates
    with pytest.raises(ValueError, match="at least 2 clips"):
        A.between_within_ratio([a])
    with pytest.raises(ValueError, match="at least 2 frames"):
        A.between_within_ratio([a[:, :1], b[:, :1]])
    with pytest.raises(ValueError, match="same M"):
        A.between_within_ratio([a, b[:2]])


@pytest.mark.parametrize("between, k", [
    ([False] * 5 + [True] * 3, 5),            # the top three bands vary between clips: cutoff at band 5
    ([False, True, False, True, False, True, True, True], 5),  # band 4 breaks the run: band 5 again
    ([True] * 8, 1),                          # every band qualifies: band 0 always stays unaltered
    ([False] * 7 + [True], 7),
])
def test_auto_cutoff_is_the_lowest_band_above_which_every_band_varies_between_clips(between, k):
    hz = A.auto_cutoff(_clips(between), FE8)
    assert hz == mel_frequencies(FE8)[k]
    assert A.HighFreqAugment(cutoff_hz=hz, config=FE8).cutoff_bin == k  # a band centre: the bin exactly


def test_auto_cutoff_without_a_qualifying_top_band_alters_nothing():
    hz = A.auto_cutoff(_clips([True] * 7 + [False]), FE8)
    assert hz == FE8.f_max == 8000.0
    assert A.HighFreqAugment(cutoff_hz=hz, config=FE8).cutoff_bin == 8  # no band changed
    with pytest.raises(ValueError, match="n_mels=64"):
        A.auto_cutoff(_clips([True] * 8), FrontEndConfig(n_mels=64))


def test_the_threshold_is_between_equal_to_within():
    # band 7: clip means 0 and 2 (B = 2), each clip alternates +-1 over 2 frames (W = 2): r = 1 exactly
    clips = [np.zeros((8, 2)) + np.array([-1.0, 1.0]), np.zeros((8, 2)) + np.array([1.0, 3.0])]
    for c in clips:
        c[:7] = np.array([-1.0, 1.0])  # bands 0..6: same mean in both clips, r = 0
    assert A.between_within_ratio(clips)[7] == pytest.approx(1.0)
    assert A.auto_cutoff(clips, FE8) == mel_frequencies(FE8)[7]  # r >= 1 counts
    assert A.auto_cutoff(clips, FE8, ratio=1.5) == 8000.0


def test_cutoffs_by_type_uses_each_types_clips():
    feats = _clips([False] * 5 + [True] * 3) + _clips([False] * 7 + [True])
    got = A.cutoffs_by_type(feats, ["fan"] * 4 + ["valve"] * 4, FE8)
    assert got == {"fan": mel_frequencies(FE8)[5], "valve": mel_frequencies(FE8)[7]}
    with pytest.raises(ValueError, match="machine type 'valve'"):
        A.cutoffs_by_type(feats[:5], ["fan"] * 4 + ["valve"], FE8)  # one valve clip: no between-clip variance


# ------------------------------------------------------------------ no test clip influences it
def test_auto_cutoffs_read_training_clips_only(tiny2020, monkeypatch, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tiny2020, root)  # the test clips of this copy are overwritten below
    df = index(root)
    seen = spy_on_load_features(monkeypatch, A)
    before = A.auto_cutoffs(df, methods.default_frontend(), use_cache=False)
    train_paths = set(df[(df.split == "train") & (df.label == "normal")]["path"].astype(str))
    assert seen and set(seen) == train_paths  # every normal training clip, nothing else
    assert set(before) == {"fan", "valve"}
    # replace every test clip by loud noise: the cutoffs do not move
    rng = np.random.default_rng(0)
    for p in df[df.split == "test"]["path"]:
        sf.write(p, (0.9 * rng.uniform(-1, 1, 16000 * 2)).astype(np.float32), 16000, subtype="PCM_16")
    assert A.auto_cutoffs(index(root), methods.default_frontend(), use_cache=False) == before


# ------------------------------------------------------------------ the setting
def test_hf_cutoff_hz_auto_is_a_checked_setting():
    cfg = methods.method_config("contrastive-hf", **_overrides(["hf_cutoff_hz=auto"]))
    assert cfg.hf_cutoff_hz == "auto" and cfg.hf_cutoffs is None
    assert cfg.key() != methods.method_config("contrastive-hf").key()
    for bad in ("car", "Auto", ""):
        with pytest.raises(ValueError, match=r"setting hf_cutoff_hz must be a number > 0 and <= 8000 \(Hz\) or "
                                             rf"'auto' .*got '{bad}'"):
            methods.method_config("contrastive-hf", hf_cutoff_hz=bad)
    with pytest.raises(ValueError, match="setting hf_cutoff_hz must be a number > 0 and <= 8000"):
        methods.method_config("contrastive-hf", hf_cutoff_hz=9000.0)
    assert "hf_cutoffs" not in methods.setting_names()  # resolved by the trainer, not given
    with pytest.raises(ValueError, match="unknown setting"):
        methods.method_config("contrastive-hf", hf_cutoffs={"fan": 1000.0})
    with pytest.raises(ValueError, match="hf_cutoffs is filled by the trainer for hf_cutoff_hz='auto' only"):
        methods.MethodConfig(hf_cutoffs={"fan": 1000.0})
    with pytest.raises(ValueError, match="needs encoder='per-type'"):
        methods.method_config("contrastive-hf", hf_cutoff_hz="auto", hf_role="suppression")
    methods.method_config("contrastive-hf", hf_cutoff_hz="auto", hf_role="suppression", encoder="per-type")
    resolved = methods.MethodConfig(hf_cutoff_hz="auto", hf_cutoffs={"valve": 4000, "fan": 1000.0})
    assert resolved.key() == cfg.key()  # the resolved cutoffs follow from the data, which the run fingerprints
    assert methods.MethodConfig.from_dict(resolved.to_dict()) == resolved


def test_views_of_auto_cutoffs():
    fe = FrontEndConfig(n_mels=64)
    one = methods.MethodConfig(hf_cutoff_hz="auto", hf_cutoffs={"fan": 1000.0, "valve": 1000.0})
    assert methods.fixed_cutoff(one) == 1000.0 and methods.method_for(one).cutoff_bins(["fan/id_00"]) is None
    assert methods.method_for(one).views().transforms[1].cutoff_bin == hz_to_mel_bin(1000.0, fe)
    two = methods.MethodConfig(hf_cutoff_hz="auto", hf_cutoffs={"fan": 1000.0, "valve": 4000.0})
    assert methods.fixed_cutoff(two) is None and methods.method_for(two).views().transforms[1].cutoff_bin is None
    table = methods.method_for(two).cutoff_bins(["fan/id_00", "fan/id_02", "valve/id_00"])
    assert table.tolist() == [hz_to_mel_bin(1000.0, fe)] * 2 + [hz_to_mel_bin(4000.0, fe)]
    with pytest.raises(ValueError, match="not resolved yet"):
        methods.method_for(methods.MethodConfig(hf_cutoff_hz="auto")).cutoff_bins(["fan/id_00"])
    with pytest.raises(ValueError, match=r"no cutoff for machine type\(s\) \['pump'\]"):
        methods.method_for(two).cutoff_bins(["pump/id_00"])
    assert methods.method_for(methods.MethodConfig()).cutoff_bins(["fan/id_00"]) is None  # a fixed cutoff


# ------------------------------------------------------------------ per-sample cutoffs in the views
def _batch(b: int = 4, m: int = 64, t: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return -50.0 + 10.0 * torch.rand(b, 1, m, t, generator=g)


def test_band_augment_with_per_sample_cutoffs():
    x = _batch()
    bins = torch.tensor([10, 40, 10, 64])
    aug = A.HighFreqAugment(cutoff_hz=None, mode="mask", config=FrontEndConfig(n_mels=64))
    y = aug(x, cutoff_bins=bins)
    floor = x.amin(dim=(1, 2, 3), keepdim=True)
    for i, cb in enumerate(bins.tolist()):
        assert torch.equal(y[i, :, :cb], x[i, :, :cb])  # below the sample's own cutoff: untouched
        assert torch.allclose(y[i, :, cb:], floor[i].expand_as(y[i, :, cb:]))  # above: masked to its floor
    with pytest.raises(ValueError, match="pass cutoff_bins= with every batch"):
        aug(x)
    with pytest.raises(ValueError, match=r"one band index per sample \(4\)"):
        aug(x, cutoff_bins=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 64\]"):
        aug(x, cutoff_bins=torch.tensor([1, 2, 3, 65]))
    with pytest.raises(TypeError, match="integer band indices"):
        aug(x, cutoff_bins=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    # one cutoff for all samples: the same numbers as the fixed-cutoff transform (same generator draws)
    fixed = A.HighFreqAugment(cutoff_hz=2000.0, mode="gain", generator=torch.Generator().manual_seed(3),
                              config=FrontEndConfig(n_mels=64))
    per = A.HighFreqAugment(cutoff_hz=None, mode="gain", generator=torch.Generator().manual_seed(3),
                            config=FrontEndConfig(n_mels=64))
    assert torch.equal(per(x, cutoff_bins=torch.full((4,), fixed.cutoff_bin)), fixed(x))


def test_band_suppress_with_per_sample_cutoffs():
    x = _batch()
    sup = A.BandSuppress(cutoff_hz=None, value=-45.0, config=FrontEndConfig(n_mels=64))
    y = sup(x, cutoff_bins=[20, 30, 64, 0])
    for i, cb in enumerate([20, 30, 64, 0]):
        assert torch.equal(y[i, :, :cb], x[i, :, :cb])
        assert (y[i, :, cb:] == -45.0).all()
    fixed = A.BandSuppress(cutoff_hz=2000.0, value=-45.0, config=FrontEndConfig(n_mels=64))
    assert torch.equal(sup(x, cutoff_bins=[fixed.cutoff_bin] * 4), fixed(x))


def test_invariance_views_alter_each_clip_above_its_own_cutoff():
    pipe = A.build_views(FrontEndConfig(n_mels=64), band={"cutoff_hz": None, "mode": "gain"}, mixup=False,
                         crop=False, seed=0)
    x = _batch()
    bins = torch.tensor([12, 50, 12, 50])
    first, second, _ = pipe.draw(x, cutoff_bins=bins)
    assert torch.equal(first, x)
    for i, cb in enumerate(bins.tolist()):
        assert torch.equal(second[i, :, :cb], x[i, :, :cb])
        d = (second[i, 0, cb:] - x[i, 0, cb:]).abs()[:, 0]
        assert d[0] >= 15.0 - 1e-4 and d[-1] >= 15.0 - 1e-4  # gain control points at the cutoff and the top: 15..30 dB


# ------------------------------------------------------------------ the trainer
def test_training_resolves_records_and_uses_the_cutoff_of_each_type(tiny2020, tmp_path, monkeypatch, loaded_paths):
    df = index(tiny2020)
    loaded = loaded_paths
    draws: list[torch.Tensor | None] = []
    real_draw = A.ViewPipeline.draw

    def draw(self, x, cutoff_bins=None):
        draws.append(None if cutoff_bins is None else cutoff_bins.clone())
        return real_draw(self, x, cutoff_bins=cutoff_bins)

    monkeypatch.setattr(A.ViewPipeline, "draw", draw)
    cfg = methods.method_config("contrastive-hf", hf_cutoff_hz="auto", **FAST)
    res = train(df, "all", cfg, tmp_path / "run", progress=False)
    expected = A.auto_cutoffs(df, methods.default_frontend())  # the public function gives the trainer's numbers
    meta = json.loads((res.run_dir / "config.json").read_text())
    assert meta["hf_cutoffs"] == expected and meta["config"]["hf_cutoff_hz"] == "auto"
    saved = torch.load(res.run_dir / "model.pt", map_location="cpu", weights_only=False)["config"]
    assert saved["hf_cutoffs"] == expected
    train_paths = set(df[(df.split == "train") & (df.label == "normal")]["path"].astype(str))
    assert set(loaded) == train_paths  # the trainer reads no test clip
    bins_of = {t: hz_to_mel_bin(hz, cfg.frontend) for t, hz in expected.items()}
    if len(set(bins_of.values())) > 1:  # per-clip cutoffs: every batch says each clip's own
        assert draws and all(d is not None for d in draws)
        assert set(torch.cat(draws).tolist()) <= set(bins_of.values())
    else:
        assert all(d is None for d in draws)


def test_a_shared_encoder_gives_each_clip_its_types_cutoff(tiny2020, tmp_path, monkeypatch):
    df = index(tiny2020)
    cls = methods.BandContrastiveMethod
    real_resolve, real_bins = cls.resolve, cls.cutoff_bins
    fake = {"fan": float(mel_frequencies(FrontEndConfig(n_mels=64))[20]),
            "valve": float(mel_frequencies(FrontEndConfig(n_mels=64))[45])}

    def resolve(self, feats, types):  # two different cutoffs, whatever the tiny data says
        out = real_resolve(self, feats, types)
        return methods.MethodConfig.from_dict({**out.to_dict(), "hf_cutoffs": fake})

    seen: list[torch.Tensor] = []

    def bins(self, classes):  # the table the trainer gives the batches
        table = real_bins(self, classes)
        seen.append(table)
        return table

    monkeypatch.setattr(cls, "resolve", resolve)
    monkeypatch.setattr(cls, "cutoff_bins", bins)
    res = train(df, "all", methods.method_config("contrastive-hf", hf_cutoff_hz="auto", **FAST), tmp_path / "r",
                progress=False)
    meta = json.loads((res.run_dir / "config.json").read_text())
    assert meta["hf_cutoffs"] == fake
    # the table maps each class (type/unit) to its type's cutoff band; the trainer indexes it with the labels
    assert meta["classes"] == ["fan/id_00", "fan/id_02", "valve/id_00", "valve/id_02"]
    assert seen and seen[0].tolist() == [20, 20, 45, 45]


# ------------------------------------------------------------------ through the asd command
def _asd(*argv: object) -> tuple[int, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from asdlib.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, err.getvalue()


def test_asd_run_with_an_automatic_cutoff(tiny2020, tmp_path):
    fast = [x for k, v in FAST.items() if k != "epochs" for x in ("--set", f"{k}={v}")]
    rc, err = _asd("run", "--data", tiny2020, "--method", "contrastive-hf", "--set", "hf_cutoff_hz=car",
                   "--epochs", 1, "--out", tmp_path / "bad", "--quiet", *fast)
    assert rc == 2 and "setting hf_cutoff_hz must be a number > 0 and <= 8000 (Hz) or 'auto'" in err and "'car'" in err
    assert not (tmp_path / "bad").exists()  # refused before anything was written
    rc, err = _asd("run", "--data", tiny2020, "--method", "contrastive-hf", "--set", "hf_cutoff_hz=auto",
                   "--epochs", 1, "--out", tmp_path / "good", "--quiet", *fast)
    assert rc == 0, err
    meta = json.loads((tmp_path / "good" / "_shared" / "config.json").read_text())
    assert meta["hf_cutoffs"] == A.auto_cutoffs(index(tiny2020), methods.default_frontend())
    assert (tmp_path / "good" / "scores.csv").exists()


def test_suppression_with_an_automatic_cutoff_scores_with_the_types_cutoff(tiny2020, tmp_path):
    from asdlib.pipeline import load_run, score

    df = index(tiny2020)
    cfg = methods.method_config("contrastive-hf", hf_cutoff_hz="auto", hf_role="suppression", encoder="per-type",
                                **FAST)
    res = train(df, "fan", cfg, tmp_path / "fan", progress=False)
    run = load_run(res.run_dir)
    fan_hz = A.auto_cutoffs(df, methods.default_frontend(), machine_types=["fan"])["fan"]
    assert run["config"].hf_cutoffs == {"fan": fan_hz}
    steps = run["method"].scoring_steps().transforms
    assert [type(t).__name__ for t in steps] == ["BandSuppress", "PreNormalize"]
    assert steps[0].cutoff_hz == fan_hz and steps[0].cutoff_bin == hz_to_mel_bin(fan_hz, cfg.frontend)
    assert len(score(res.run_dir, df)) == int(((df.machine_type == "fan") & (df.split == "test")).sum())
