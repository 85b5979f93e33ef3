"""Tests of the library functions the chapters call instead of defining their own helpers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from scipy.stats import hmean  # noqa: E402

from asdlib import analysis, augment, features, listen, metrics, plotting, stats  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _scores(seed: int = 0, n: int = 12) -> pd.DataFrame:
    """Two methods, one seed, two types x two IDs; every other clip an anomaly, half low, half high band."""
    rng = np.random.default_rng(seed)
    rows = []
    for mt in ("fan", "valve"):
        for u in ("id_00", "id_02"):
            for i in range(n):
                lab = "anomaly" if i % 2 else "normal"
                for method, shift in (("a", 1.5), ("b", 0.5)):
                    rows.append(dict(path=f"data/{mt}/test/{lab}_{u}_{i:03d}.wav", layout="dcase2020",
                                     machine_type=mt, unit=u, domain="source", label=lab, method=method,
                                     score=rng.normal(shift if lab == "anomaly" else 0.0, 1.0)))
    return pd.DataFrame(rows)


def _manifest(scores: pd.DataFrame) -> pd.DataFrame:
    clips = scores.drop_duplicates("path")
    anomalous = clips["label"] == "anomaly"
    idx = clips["path"].str[-7:-4].astype(int)
    band = np.where(anomalous, np.where(idx % 4 == 1, "low", "high"), None)
    return pd.DataFrame({"path": ["/".join(p.split("/")[-3:]) for p in clips["path"]],
                         "anomaly_kind": np.where(anomalous, "kind_" + pd.Series(band).astype(str), None),
                         "anomaly_band": band, "severity": np.where(anomalous, 0.5, np.nan)})


# ------------------------------------------------------------------ stats: picking cells
def test_select_and_cell_pick_rows_by_value() -> None:
    t = pd.DataFrame({"method": ["a", "a", "b", "b"], "band": ["low", "high", "low", "high"],
                      "estimate": [0.1, 0.2, 0.3, 0.4]})
    assert stats.select(t, method="b")["estimate"].tolist() == [0.3, 0.4]
    assert stats.select(t, band=["high"], method=("a", "b"))["estimate"].tolist() == [0.2, 0.4]
    assert stats.cell(t, method="b", band="low")["estimate"] == 0.3
    with pytest.raises(ValueError, match="2 rows match"):
        stats.cell(t, method="a")
    with pytest.raises(ValueError, match="0 rows match"):
        stats.cell(t, method="c")
    with pytest.raises(ValueError, match="no column"):
        stats.select(t, metric="auc")


def test_bootstrap_cell_and_difference_cell_are_rows_of_the_tables() -> None:
    bs = stats.bootstrap(_scores(), n_boot=200)
    iv, diff = bs.intervals(), bs.difference("a", "b")
    for mt in ("fan", "all"):
        row = stats.cell(iv, method="a", machine_type=mt, unit="mean", metric="auc")
        got = bs.cell("a", mt)
        assert (got["estimate"], got["lo"], got["hi"]) == (row["estimate"], row["lo"], row["hi"])
        d = stats.cell(diff, machine_type=mt, unit="mean", metric="auc")
        got = bs.difference_cell("a", "b", mt)
        assert (got["estimate"], got["lo"], got["hi"]) == (d["estimate"], d["lo"], d["hi"])
        assert got["verdict"] == stats.verdict(d["lo"], d["hi"])
    pauc = bs.cell("b", "valve", metric="pauc", unit="id_02")
    assert pauc["estimate"] == stats.cell(iv, method="b", machine_type="valve", unit="id_02",
                                          metric="pauc")["estimate"]
    with pytest.raises(ValueError, match="no cell"):
        bs.cell("a", "pump")
    with pytest.raises(ValueError, match="not in this bootstrap"):
        bs.difference_cell("a", "c")


def test_bootstrap_cell_hand_computed_point_estimate() -> None:
    # one ID, 2 normals (0, 2) and 2 anomalies (1, 3): 3 of the 4 pairs are ordered, AUC = 0.75
    scores = pd.DataFrame({"path": [f"x/fan/test/{c}_id_00_{i}.wav" for i, c in
                                    enumerate(["normal", "anomaly", "normal", "anomaly"])],
                           "machine_type": "fan", "unit": "id_00", "label": ["normal", "anomaly"] * 2,
                           "score": [0.0, 1.0, 2.0, 3.0]})
    assert stats.bootstrap(scores, n_boot=50).cell("unnamed")["estimate"] == pytest.approx(0.75)


def test_bootstrap_bands_is_all_plus_bootstrap_by() -> None:
    scores = _scores()
    man = _manifest(scores)
    boots = stats.bootstrap_bands(scores, man, n_boot=100)
    assert list(boots) == ["all", "high", "low"]
    ref_all = stats.bootstrap(scores, n_boot=100).intervals()
    pd.testing.assert_frame_equal(boots["all"].intervals(), ref_all)
    ref_low = stats.bootstrap_by(metrics.attach_manifest(scores, man), "anomaly_band", n_boot=100)["low"]
    pd.testing.assert_frame_equal(boots["low"].intervals(), ref_low.intervals())
    assert list(stats.bootstrap_bands(scores, None, n_boot=10)) == ["all"]
    long = stats.intervals_by(boots, "band")
    assert len(long) == 3 * len(ref_all) and list(dict.fromkeys(long["band"])) == ["all", "high", "low"]


def test_interval_grid_two_column_dimensions() -> None:
    t = pd.DataFrame({"machine_type": ["fan", "fan", "fan", "fan", "all", "all", "all", "all"],
                      "band": ["low", "low", "high", "high"] * 2, "method": ["a", "b"] * 4,
                      "estimate": [0.5, 0.6, 0.7, 0.8, 0.55, 0.65, 0.75, 0.85],
                      "lo": [0.4] * 8, "hi": [0.9] * 8})
    grid = stats.interval_grid(t, "machine_type", ["band", "method"], index_order=["fan", "all"],
                               column_order=[("low", "b"), ("low", "a"), ("high", "a")])
    assert list(grid.index) == ["fan", "all"]
    assert list(grid.columns) == [("low", "b"), ("low", "a"), ("high", "a")]
    assert grid.loc["fan", ("low", "b")] == "60.0 [40.0, 90.0]"
    assert grid.loc["all", ("high", "a")] == "75.0 [40.0, 90.0]"
    one = stats.interval_grid(t[t["band"] == "low"], "method", "machine_type", column_order=["all", "fan"], digits=0)
    assert list(one.columns) == ["all", "fan"] and one.loc["b", "all"] == "65 [40, 90]"
    with pytest.raises(ValueError):
        stats.interval_grid(pd.concat([t, t]), "machine_type", ["band", "method"])   # duplicate cells


def test_against_chance_hand_made_intervals() -> None:
    t = pd.DataFrame({"method": ["a", "b", "c"], "lo": [0.52, 0.40, 0.45], "hi": [0.60, 0.49, 0.50]})
    assert stats.against_chance(t).tolist() == ["higher", "lower", "not resolved"]
    assert stats.describe_against_chance(t) == ("`a` above chance; `b` below chance; "
                                                "`c` not resolved against chance")
    assert stats.against_chance(t, chance=0.4).tolist() == ["higher", "not resolved", "higher"]


# ------------------------------------------------------------------ metrics
def test_official_score_parts_order_and_harmonic_mean() -> None:
    rows = []
    for mt, sec, src, tgt, p in (("fan", "section_00", 0.9, 0.6, 0.7), ("fan", "section_01", 0.8, 0.5, 0.65)):
        rows += [dict(method="m", machine_type=mt, unit=sec, domain="source", auc=src, pauc=np.nan),
                 dict(method="m", machine_type=mt, unit=sec, domain="target", auc=tgt, pauc=np.nan),
                 dict(method="m", machine_type=mt, unit=sec, domain="all", auc=np.nan, pauc=p)]
    rows.append(dict(method="m", machine_type="fan", unit="mean", domain="source", auc=0.85, pauc=np.nan))
    parts = metrics.official_score_parts(pd.DataFrame(rows))
    np.testing.assert_allclose(parts, [0.9, 0.8, 0.6, 0.5, 0.7, 0.65])
    # on a real results table the harmonic mean of the parts is the official score
    rng = np.random.default_rng(0)
    clips = []
    for sec in ("section_00", "section_01"):
        for dom in ("source", "target"):
            for i in range(8):
                lab = "anomaly" if i % 2 else "normal"
                clips.append(dict(path=f"fan/test/{sec}_{dom}_test_{lab}_{i:04d}.wav", layout="dcase2022",
                                  machine_type="fan", unit=sec, domain=dom, label=lab,
                                  score=rng.normal(1.0 if lab == "anomaly" else 0.0)))
    res = metrics.evaluate(pd.DataFrame(clips), method="m")
    assert hmean(metrics.official_score_parts(res)) == pytest.approx(metrics.official_score(res), rel=1e-12)
    with pytest.raises(ValueError, match="no section rows"):
        metrics.official_score_parts(pd.DataFrame(rows).assign(unit="id_00"))


def test_share_of_normals_above_hand_computed() -> None:
    scores = pd.DataFrame({
        "path": [f"fan/test/{i}.wav" for i in range(8)], "machine_type": "fan",
        "unit": ["id_00"] * 6 + ["id_02"] * 2,
        "label": ["normal", "normal", "normal", "anomaly", "anomaly", "anomaly", "normal", "anomaly"],
        "score": [0.1, 0.5, 0.9, 0.6, 0.95, 0.05, 2.0, 1.0]})
    out = metrics.share_of_normals_above(scores)
    assert out.index.tolist() == [3, 4, 5, 7]
    np.testing.assert_allclose(out["share_above"], [1 / 3, 0.0, 1.0, 1.0])


def test_evaluate_bands_hand_computed() -> None:
    # one ID: normals 0, 1, 2; low anomalies 1.5, 3 (AUC 5/6); high anomalies 0.5, -1 (AUC 1/6)
    scores = pd.DataFrame({
        "path": [f"d/fan/test/{n}_id_00_{i}.wav" for i, n in enumerate(["normal"] * 3 + ["anomaly"] * 4)],
        "layout": "dcase2020", "machine_type": "fan", "unit": "id_00", "domain": "source",
        "label": ["normal"] * 3 + ["anomaly"] * 4, "score": [0.0, 1.0, 2.0, 1.5, 3.0, 0.5, -1.0]})
    man = pd.DataFrame({"path": ["/".join(p.split("/")[-3:]) for p in scores["path"][3:]],
                        "anomaly_kind": ["k1", "k1", "k2", "k2"], "anomaly_band": ["low", "low", "high", "high"],
                        "severity": 0.5})
    out = metrics.evaluate_bands(scores.assign(method="m"), man).set_index("band")
    assert list(out.index) == ["all", "high", "low"]
    assert out.loc["low", "auc"] == pytest.approx(5 / 6)
    assert out.loc["high", "auc"] == pytest.approx(1 / 6)
    assert out.loc["all", "auc"] == pytest.approx(6 / 12)
    assert out.loc["low", "n_anomaly"] == 2 and out.loc["all", "n_anomaly"] == 4 and out.loc["all", "n_normal"] == 3
    assert metrics.evaluate_bands(scores.assign(method="m"))["band"].tolist() == ["all"]


# ------------------------------------------------------------------ plotting
def test_log_hz_axis_ticks_and_labels() -> None:
    fig, ax = plt.subplots()
    ax.plot([50, 8000], [0, 1])
    plotting.log_hz_axis(ax, xlim=(20, 8000))
    assert ax.get_xscale() == "log"
    assert ax.get_xlim() == pytest.approx((20, 8000))
    np.testing.assert_allclose(ax.get_xticks(), [100, 1000, 2000, 8000])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100", "1k", "2k", "8k"]
    assert len(ax.xaxis.get_minorticklocs()) == 0
    plotting.log_hz_axis(ax, [500, 1234], labels=["500", "1234"], rotation=30)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["500", "1234"]
    assert ax.get_xticklabels()[0].get_rotation() == 30
    plotting.log_hz_axis(ax, [500, 4000])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["500", "4k"]
    with pytest.raises(ValueError, match="one per tick"):
        plotting.log_hz_axis(ax, [100, 200], labels=["100"])


def test_panel_grid_hides_unused_panels_and_outer_labels() -> None:
    fig, axes = plotting.panel_grid(5, ncols=3, width=9.0, height=5.0)
    assert axes.shape == (2, 3)
    assert [ax.get_visible() for ax in axes.flat] == [True] * 5 + [False]
    assert tuple(fig.get_size_inches()) == (9.0, 5.0)
    for ax in axes.flat:
        ax.set(xlabel="Hz", ylabel="dB")
    plotting.outer_labels(axes)
    assert [ax.get_ylabel() for ax in axes.flat] == ["dB", "", "", "dB", "", ""]
    assert [ax.get_xlabel() for ax in axes.flat] == ["", "", "", "Hz", "Hz", "Hz"]
    with pytest.raises(ValueError, match="2-D"):
        plotting.outer_labels(axes.ravel())


# ------------------------------------------------------------------ listen
def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(16000 * seconds))).astype(np.float32)


def test_view_to_audio_applies_a_level_change() -> None:
    cfg = features.FrontEndConfig()
    wave = _noise()
    x = torch.from_numpy(features.logmel(wave, cfg))[None, None]
    np.testing.assert_allclose(listen.view_to_audio(wave, x, cfg), wave, atol=1e-4)   # no change
    half = listen.view_to_audio(wave, x - 20 * np.log10(2.0), cfg)                    # -6.02 dB everywhere
    np.testing.assert_allclose(half, wave / 2, atol=1e-4)


def test_hear_transforms_builds_each_transform_with_a_fresh_generator() -> None:
    cfg = features.FrontEndConfig()
    wave = _noise()
    spec = {"mask above 2 kHz": (augment.HighFreqAugment, {"cutoff_hz": 2000.0, "mode": "mask"}),
            "gain above 2 kHz": (augment.HighFreqAugment, {"cutoff_hz": 2000.0, "mode": "gain"})}
    out = listen.hear_transforms(wave, spec, config=cfg, seed=3)
    assert list(out) == ["original", "mask above 2 kHz", "gain above 2 kHz"]
    assert out["original"] is wave
    expected = listen.apply_to_audio(wave, augment.HighFreqAugment(
        cutoff_hz=2000.0, mode="gain", config=cfg, generator=torch.Generator().manual_seed(3)), config=cfg)
    np.testing.assert_array_equal(out["gain above 2 kHz"], expected)
    again = listen.hear_transforms(wave, spec, config=cfg, seed=3)
    np.testing.assert_array_equal(again["gain above 2 kHz"], out["gain above 2 kHz"])


def test_example_clips_picks_one_id_and_the_strongest_anomaly_per_band(tmp_path) -> None:
    rows = []
    for k, (unit, label, band, severity) in enumerate([
            ("id_02", "normal", None, np.nan), ("id_00", "anomaly", "low", 0.2), ("id_00", "normal", None, np.nan),
            ("id_00", "anomaly", "low", 0.9), ("id_00", "anomaly", "high", 0.4), ("id_00", "anomaly", "high", 0.1)]):
        path = tmp_path / f"clip{k}.wav"
        sf.write(path, np.full(1600, 0.01 * (k + 1), dtype=np.float32), 16000, subtype="FLOAT")
        rows.append(dict(path=str(path), machine_type="fan", unit=unit, label=label, anomaly_band=band,
                         anomaly_kind=None if band is None else f"{band}_kind", severity=severity,
                         band_hz=None if band is None else ("50-900" if band == "low" else "2000-6000")))
    clips = pd.DataFrame(rows)
    items = listen.example_clips(clips, "fan")
    assert list(items) == ["fan id_00: normal", "low_kind (low, 50-900 Hz)", "high_kind (high, 2000-6000 Hz)"]
    level = [float(w.mean()) for w in items.values()]
    np.testing.assert_allclose(level, [0.03, 0.04, 0.05], rtol=1e-4)   # clips 2, 3 (severity 0.9) and 4 (severity 0.4)
    real = clips.drop(columns=["anomaly_band", "anomaly_kind", "severity", "band_hz"])
    items = listen.example_clips(real, "fan", prefix="real ")
    assert list(items) == ["real fan id_00: normal", "real fan id_00: anomaly"]
    np.testing.assert_allclose([float(w.mean()) for w in items.values()], [0.03, 0.02], rtol=1e-4)
    with pytest.raises(ValueError, match="no clip"):
        listen.example_clips(clips, "valve")


# ------------------------------------------------------------------ analysis
def test_evidence_per_unit_uses_the_normal_training_clips_of_each_unit() -> None:
    cfg = features.FrontEndConfig(n_mels=16)
    centres = features.mel_frequencies(cfg)
    top = int(np.flatnonzero(centres >= 2000.0)[0])   # first band at or above 2 kHz
    rng = np.random.default_rng(0)
    clips, profiles = [], []
    for unit, offset in (("id_00", 0.0), ("id_02", 30.0)):
        for i in range(5):
            clips.append(dict(machine_type="fan", unit=unit, split="train", label="normal"))
            profiles.append(offset + rng.normal(0.0, 1.0, cfg.n_mels))
        for band, label in ((top, "anomaly"), (1, "anomaly"), (None, "normal")):
            clips.append(dict(machine_type="fan", unit=unit, split="test", label=label))
            p = offset + np.zeros(cfg.n_mels)
            if band is not None:
                p[band] += 40.0
            profiles.append(p)
    ev = analysis.evidence_per_unit(pd.DataFrame(clips), np.array(profiles), config=cfg)
    assert ev["unit"].tolist() == ["id_00"] * 3 + ["id_02"] * 3
    assert ev["evidence"].tolist()[:2] == ["high", "low"] and ev["evidence"].tolist()[3:5] == ["high", "low"]
    assert ev["peak_hz"].iloc[0] == pytest.approx(centres[top]) and ev["peak_hz"].iloc[4] == pytest.approx(centres[1])
    ref = np.array(profiles[5:8])
    one = analysis.evidence_band(ref, np.array(profiles[:5]), config=cfg)
    np.testing.assert_allclose(ev["peak_z"].iloc[:3], one["peak_z"])
    with pytest.raises(ValueError, match="one per clip"):
        analysis.evidence_per_unit(pd.DataFrame(clips), np.array(profiles)[:-1], config=cfg)
