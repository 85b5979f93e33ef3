"""Tests of the learning-curve helpers (chapter 10): data.first_training_clips and the stats helpers
learning_curve_bootstraps / learning_curve / learning_curve_differences, and the benchmark's table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asdlib import data, metrics, stats

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ the subset of clips
def _index_2020() -> pd.DataFrame:
    """A hand-made index: fan id_00 with 5 training clips listed out of order, id_02 with 3; test clips."""
    rows = []
    for unit, names in (("id_00", [3, 0, 4, 1, 2]), ("id_02", [2, 0, 1])):
        for i in names:
            rows.append(dict(path=f"d/fan/train/normal_{unit}_{i:08d}.wav", layout="dcase2020", machine_type="fan",
                             split="train", label="normal", unit=unit, domain=None))
        for lab in ("normal", "anomaly"):
            rows.append(dict(path=f"d/fan/test/{lab}_{unit}_00000000.wav", layout="dcase2020", machine_type="fan",
                             split="test", label=lab, unit=unit, domain=None))
    return pd.DataFrame(rows, index=np.arange(100, 100 + len(rows)))


def _names(df: pd.DataFrame, unit: str) -> list[str]:
    sel = df[(df["split"] == "train") & (df["unit"] == unit)]
    return [Path(p).name for p in sel["path"]]


def test_first_training_clips_takes_the_first_names_per_unit_and_keeps_the_test_clips():
    df = _index_2020()
    out = data.first_training_clips(df, 2)
    # the first two file names of each ID, whatever the row order; rows keep df's order and index
    assert sorted(_names(out, "id_00")) == ["normal_id_00_00000000.wav", "normal_id_00_00000001.wav"]
    assert sorted(_names(out, "id_02")) == ["normal_id_02_00000000.wav", "normal_id_02_00000001.wav"]
    assert _names(out, "id_00") == ["normal_id_00_00000000.wav", "normal_id_00_00000001.wav"]  # df order: 0 before 1
    assert list(out.index) == sorted(out.index)
    pd.testing.assert_frame_equal(out[out["split"] == "test"], df[df["split"] == "test"])
    # nested: the clips of n=2 are among those of n=3
    three = data.first_training_clips(df, 3)
    assert set(out["path"]) <= set(three["path"]) and len(three[three["split"] == "train"]) == 6


def test_first_training_clips_at_every_units_count_returns_the_same_rows():
    df = _index_2020()
    df = df[~((df["unit"] == "id_00") & df["path"].str.contains("0000000[34]"))]  # both IDs now have 3
    out = data.first_training_clips(df, 3)
    pd.testing.assert_frame_equal(out, df)


def test_first_training_clips_drops_non_normal_training_rows():
    df = _index_2020()
    df.loc[df.index[0], "label"] = "anomaly"  # normal_id_00_00000003 relabelled
    out = data.first_training_clips(df, 3)
    assert "normal_id_00_00000003.wav" not in _names(out, "id_00")
    assert len(out[out["split"] == "train"]) == 6


def test_first_training_clips_dcase2022_counts_per_section_and_domain():
    rows = []
    for dom, n in (("source", 4), ("target", 2)):
        for i in range(n):
            rows.append(dict(path=f"d/fan/train/section_00_{dom}_train_normal_{i:04d}_a_1.wav", layout="dcase2022",
                             machine_type="fan", split="train", label="normal", unit="section_00", domain=dom))
    rows.append(dict(path="d/fan/test/section_00_source_test_normal_0000_a_1.wav", layout="dcase2022",
                     machine_type="fan", split="test", label="normal", unit="section_00", domain="source"))
    df = pd.DataFrame(rows)
    out = data.first_training_clips(df, 2)
    train = out[out["split"] == "train"]
    assert train.groupby("domain").size().to_dict() == {"source": 2, "target": 2}
    with pytest.raises(ValueError, match=r"fan/section_00/target \(2\)"):
        data.first_training_clips(df, 3)


@pytest.mark.parametrize("n, match", [(0, "n: expected"), (2.5, "n: expected"), (True, "n: expected"),
                                      (4, r"n=4 .*1 unit\(s\) have fewer: fan/id_02 \(3\)")])
def test_first_training_clips_refuses_bad_n(n, match):
    with pytest.raises(ValueError, match=match):
        data.first_training_clips(_index_2020(), n)


def test_first_training_clips_on_tiny_synthetic_data(tiny2020):
    df = data.index(tiny2020)
    out = data.first_training_clips(df, 2)
    per_unit = out[out["split"] == "train"].groupby(["machine_type", "unit"]).size()
    assert set(per_unit) == {2} and len(per_unit) == df[df["split"] == "train"].groupby(["machine_type", "unit"]).ngroups
    assert data.fingerprint(out) != data.fingerprint(df)  # a subset gets its own cache key
    biggest = int(df[df["split"] == "train"].groupby(["machine_type", "unit"]).size().min())
    assert data.fingerprint(data.first_training_clips(df, biggest)) == data.fingerprint(df)


# ------------------------------------------------------------------------------ the statistics
def _scores(rng: np.random.Generator, shift: float, seeds=(0, 1), n: int = 30) -> pd.DataFrame:
    rows = []
    for mt in ("fan", "valve"):
        for u in ("id_00", "id_02"):
            for i in range(n):
                lab = "anomaly" if i % 2 else "normal"
                for seed in seeds:
                    rows.append(dict(path=f"d/{mt}/test/{lab}_{u}_{i:03d}.wav", machine_type=mt, unit=u, label=lab,
                                     score=rng.normal(shift if lab == "anomaly" else 0.0, 1.0), seed=seed))
    return pd.DataFrame(rows)


def _curve_scores() -> pd.DataFrame:
    """'good' separates much better than 'poor' at n_train=64, and equally (pure noise) at 16."""
    rng = np.random.default_rng(3)
    parts = [_scores(rng, 0.0).assign(method="good", n_train=16), _scores(rng, 0.0).assign(method="poor", n_train=16),
             _scores(rng, 3.0).assign(method="good", n_train=64), _scores(rng, 0.0).assign(method="poor", n_train=64)]
    return pd.concat(parts, ignore_index=True)


def test_learning_curve_from_bootstraps_equals_learning_curve_from_scores():
    scores = _curve_scores()
    boots = stats.learning_curve_bootstraps(scores, n_boot=200)
    assert list(boots) == [16, 64] and all(isinstance(b, stats.Bootstrap) for b in boots.values())
    a = stats.learning_curve(boots)
    b = stats.learning_curve(scores, n_boot=200)
    pd.testing.assert_frame_equal(a, b)
    sub = scores[(scores["method"] == "good") & (scores["n_train"] == 64)]
    want = np.mean([metrics.evaluate(sub[sub["seed"] == s].drop(columns=["seed", "method", "n_train"]))
                    .query("machine_type == 'all'")["auc"].iloc[0] for s in (0, 1)])
    got = a[(a["method"] == "good") & (a["n_train"] == 64) & (a["metric"] == "auc")]["estimate"].iloc[0]
    assert got == pytest.approx(want, abs=1e-12)


def test_learning_curve_differences_are_the_paired_bootstrap_and_its_verdict():
    boots = stats.learning_curve_bootstraps(_curve_scores(), n_boot=300)
    diff = stats.learning_curve_differences(boots, [("good", "poor")])
    assert list(diff.columns) == ["a", "b", "n_train", "estimate", "lo", "hi", "verdict"]
    assert list(diff["n_train"]) == [16, 64]
    for n, b in boots.items():
        want = b.difference("good", "poor")
        want = want[(want["machine_type"] == "all") & (want["metric"] == "auc")].iloc[0]
        row = diff[diff["n_train"] == n].iloc[0]
        assert (row["estimate"], row["lo"], row["hi"]) == (want["estimate"], want["lo"], want["hi"])
        assert row["verdict"] == stats.verdict(want["lo"], want["hi"])
        # the generated sentence at this size says the same as the table
        assert b.describe("good", "poor").startswith("good is higher" if row["verdict"] == "higher" else "The data do not")
    big = diff[diff["n_train"] == 64].iloc[0]
    assert big["verdict"] == "higher" and big["lo"] > 0.2  # shift 3 vs noise: a clear, resolved gap
    small = diff[diff["n_train"] == 16].iloc[0]
    assert small["lo"] < 0 < small["hi"] and small["verdict"] == "not resolved"  # both pure noise
    with pytest.raises(ValueError, match="pairs"):
        stats.learning_curve_differences(boots, [])
    with pytest.raises(ValueError, match="not in this bootstrap"):
        stats.learning_curve_differences(boots, [("good", "other")])


def test_learning_curve_bootstraps_refuses_missing_or_empty_sizes():
    scores = _curve_scores()
    with pytest.raises(ValueError, match="no column 'n_clips'"):
        stats.learning_curve_bootstraps(scores, by="n_clips")
    scores.loc[0, "n_train"] = np.nan
    with pytest.raises(ValueError, match="empty value"):
        stats.learning_curve_bootstraps(scores)


# ------------------------------------------------------------------------------ the benchmark's table
def _bench():
    spec = importlib.util.spec_from_file_location("bench_learning_curve", ROOT / "benchmarks" / "bench_learning_curve.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_learning_curve"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_table_formats_intervals_and_verdicts():
    bench = _bench()
    boots = stats.learning_curve_bootstraps(_curve_scores(), n_boot=200)
    table = bench.curve_table(boots, ["good", "poor"])
    assert list(table.columns) == ["good", "poor"] and list(table.index) == [16, 64]
    lc = stats.learning_curve(boots)
    row = lc[(lc["method"] == "good") & (lc["n_train"] == 64) & (lc["metric"] == "auc")].iloc[0]
    assert table.loc[64, "good"] == stats.format_interval(row["estimate"], row["lo"], row["hi"])
    diffs = bench.difference_table(boots, [("good", "poor")])
    assert diffs.loc[64, "good - poor"].endswith("higher") and diffs.loc[16, "good - poor"].endswith("not resolved")


def test_benchmark_refuses_bad_arguments():
    bench = _bench()
    with pytest.raises(SystemExit):
        bench.parse_args(["--sizes", "0"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--methods", "nope"])
    args = bench.parse_args([])
    assert args.sizes == [16, 32, 64, 128, 256] and args.seeds == [0, 1, 2]


def _diffs(verdicts):
    return pd.DataFrame([{"a": "A", "b": "B", "n_train": n, "estimate": 0.0, "lo": 0.0, "hi": 0.0, "verdict": v}
                         for n, v in verdicts.items()])


def test_describe_over_sizes_says_overtakes_only_from_some_size_on():
    text = stats.describe_over_sizes(_diffs({16: "lower", 32: "not resolved", 64: "higher", 128: "higher"}), "A", "B")
    assert text == ("`A` is resolved above `B` at N = 64, 128; `a` is resolved below `B` at N = 16; the data do not "
                    "resolve the difference at N = 32. So `A` overtakes `B` on this data: resolved ahead from N = 64 "
                    "clips per ID on, not at the smaller sizes.".replace("`a`", "`A`"))
    # ahead at 32 but not at 64: no overtaking is claimed
    gap = stats.describe_over_sizes(_diffs({16: "not resolved", 32: "higher", 64: "not resolved"}), "A", "B")
    assert "overtakes" not in gap and gap.startswith("`A` is resolved above `B` at N = 32")
    # B ahead from 32 on: B overtakes A; A is never above B
    behind = stats.describe_over_sizes(_diffs({16: "not resolved", 32: "lower", 64: "lower"}), "A", "B")
    assert "So `B` overtakes `A` on this data: resolved ahead from N = 32" in behind
    assert behind.endswith("At none of the measured sizes is `A` resolved above `B`.")
    with pytest.raises(ValueError, match="no rows of A - C"):
        stats.describe_over_sizes(_diffs({16: "higher"}), "A", "C")
