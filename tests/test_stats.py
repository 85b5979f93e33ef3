"""Tests of asdlib.stats: standard error, fast AUC / pAUC, bootstrap, paired differences, verdicts."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from asdlib import metrics, stats


# ------------------------------------------------------------------------------ helpers
def _scores_2020(rng: np.random.Generator, types=("fan", "valve"), units=("id_00", "id_02"), n=20,
                 seeds=(0,), shift=1.0, ties: bool = False) -> pd.DataFrame:
    rows = []
    for mt in types:
        for u in units:
            for i in range(n):
                lab = "anomaly" if i % 2 else "normal"
                for seed in seeds:
                    s = rng.normal(shift if lab == "anomaly" else 0.0, 1.0)
                    rows.append(dict(path=f"data/{mt}/test/{lab}_{u}_{i:03d}.wav", layout="dcase2020",
                                     machine_type=mt, unit=u, domain="source", label=lab,
                                     score=round(s) if ties else s, seed=seed))
    return pd.DataFrame(rows)


def _scores_2022(rng: np.random.Generator, seeds=(0, 1)) -> pd.DataFrame:
    rows = []
    for mt in ("fan", "gearbox"):
        for sec in ("section_00", "section_01"):
            for dom, n in (("source", 16), ("target", 6)):
                for i in range(n):
                    lab = "anomaly" if i % 2 else "normal"
                    for seed in seeds:
                        mu = (1.5 if dom == "source" else 0.7) if lab == "anomaly" else 0.0
                        rows.append(dict(path=f"data/{mt}/test/{sec}_{dom}_test_{lab}_{i:04d}.wav",
                                         layout="dcase2022", machine_type=mt, unit=sec, domain=dom, label=lab,
                                         score=rng.normal(mu, 1.0), seed=seed))
    return pd.DataFrame(rows)


def _row(table: pd.DataFrame, mt: str, unit: str, domain: str, metric: str) -> pd.Series:
    sel = table[(table["machine_type"] == mt) & (table["unit"] == unit) & (table["domain"] == domain)
                & (table["metric"] == metric)]
    assert len(sel) == 1, (mt, unit, domain, metric, len(sel))
    return sel.iloc[0]


# ------------------------------------------------------------------------ standard error
def test_auc_standard_error_hand_computed():
    # A = 0.8, 50 + 50 clips: Q1 = 0.8 / 1.2 = 2/3, Q2 = 2 * 0.64 / 1.8 = 32/45;
    # var = (0.16 + 49 * (2/3 - 0.64) + 49 * (32/45 - 0.64)) / 2500 = 4.951111 / 2500
    expected = np.sqrt((0.16 + 49 * (2 / 3 - 0.64) + 49 * (32 / 45 - 0.64)) / 2500)
    assert expected == pytest.approx(0.0445022, abs=1e-6)
    assert stats.auc_standard_error(0.8, 50, 50) == pytest.approx(expected, rel=1e-12)
    # asymmetric counts: n_anomaly multiplies Q1, n_normal Q2 (swapping them changes the value)
    a, nn, na = 0.9, 100, 10
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt((a * (1 - a) + (na - 1) * (q1 - a * a) + (nn - 1) * (q2 - a * a)) / (nn * na))
    assert stats.auc_standard_error(a, nn, na) == pytest.approx(se, rel=1e-12)
    assert stats.auc_standard_error(a, na, nn) != pytest.approx(se, rel=1e-3)
    np.testing.assert_allclose(stats.auc_standard_error(np.array([0.8, 0.9]), [50, 100], [50, 10]),
                               [expected, se], rtol=1e-12)
    assert stats.auc_standard_error(1.0, 10, 10) == 0.0


@pytest.mark.parametrize("args", [(1.2, 10, 10), (-0.1, 10, 10), (np.nan, 10, 10), (0.7, 0, 10)])
def test_auc_standard_error_rejects_bad_input(args):
    with pytest.raises(ValueError, match="auc|n_normal"):
        stats.auc_standard_error(*args)


# --------------------------------------------------------------------- fast AUC / pAUC
@pytest.mark.parametrize("ties", [False, True])
def test_weighted_auc_pauc_equals_metrics_on_resampled_data(ties):
    rng = np.random.default_rng(1)
    for trial in range(60):
        n0, n1 = rng.integers(3, 40), rng.integers(2, 40)
        y = np.r_[np.zeros(n0, int), np.ones(n1, int)]
        s = rng.normal(0.6 * y, 1.0)
        if ties:
            s = np.round(s * 2) / 2  # many tied scores, within and across classes
        w = np.zeros((5, y.size))
        for b in range(5):  # stratified resample: n0 normals and n1 anomalies with replacement
            w[b, :n0] = rng.multinomial(n0, np.full(n0, 1 / n0))
            w[b, n0:] = rng.multinomial(n1, np.full(n1, 1 / n1))
        auc, pauc = stats.weighted_auc_pauc(y, s, w)
        for b in range(5):
            idx = np.repeat(np.arange(y.size), w[b].astype(int))
            assert auc[b] == pytest.approx(metrics.auc(y[idx], s[idx]), abs=1e-12)
            assert pauc[b] == pytest.approx(metrics.pauc(y[idx], s[idx]), abs=1e-12)
        auc1, pauc1 = stats.weighted_auc_pauc(y, s, np.ones((1, y.size)))
        assert auc1[0] == pytest.approx(metrics.auc(y, s), abs=1e-12)
        assert pauc1[0] == pytest.approx(metrics.pauc(y, s), abs=1e-12)


def test_weighted_auc_pauc_hand_computed_and_errors():
    # anomaly 0.35 beats normal 0.1 only, anomaly 0.8 beats both: 3 of 4 pairs; doubling the
    # anomaly 0.35 gives 4 of 6 pairs (metrics.auc's own hand example)
    auc, _ = stats.weighted_auc_pauc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [[1, 1, 1, 1], [1, 1, 2, 1]])
    np.testing.assert_allclose(auc, [0.75, 4 / 6])
    with pytest.raises(ValueError, match="weights"):
        stats.weighted_auc_pauc([0, 1], [0.1, 0.2], np.ones((2, 3)))
    with pytest.raises(ValueError, match="normal and anomalous"):
        stats.weighted_auc_pauc([0, 1], [0.1, 0.2], [[1, 0]])


# ---------------------------------------------------------------------------- bootstrap
def test_point_estimates_are_evaluate_averaged_over_seeds_2020():
    scores = _scores_2020(np.random.default_rng(0), seeds=(0, 1, 2))
    table = stats.bootstrap(scores, n_boot=50).intervals()
    per_seed = [metrics.evaluate(scores[scores["seed"] == s].drop(columns="seed")) for s in (0, 1, 2)]
    for mt, unit in [("fan", "id_00"), ("valve", "id_02"), ("fan", "mean"), ("all", "mean")]:
        for metric in ("auc", "pauc"):
            want = np.mean([r[(r["machine_type"] == mt) & (r["unit"] == unit)][metric].iloc[0] for r in per_seed])
            assert _row(table, mt, unit, "all", metric)["estimate"] == pytest.approx(want, abs=1e-12)
    assert set(table["n_seeds"]) == {3} and set(table["n_boot"]) == {50}
    assert list(table.columns) == stats.INTERVAL_COLUMNS


def test_point_estimates_and_official_score_2022():
    scores = _scores_2022(np.random.default_rng(0))
    table = stats.bootstrap(scores, n_boot=50).intervals()
    res = [metrics.evaluate(scores[scores["seed"] == s].drop(columns="seed")) for s in (0, 1)]
    official = np.mean([metrics.official_score(r) for r in res])
    assert _row(table, "all", "official", "all", "official")["estimate"] == pytest.approx(official, abs=1e-12)
    for domain, metric in (("source", "auc"), ("target", "auc"), ("all", "pauc")):
        want = np.mean([r[(r["machine_type"] == "fan") & (r["unit"] == "section_01") & (r["domain"] == domain)]
                        [metric].iloc[0] for r in res])
        assert _row(table, "fan", "section_01", domain, metric)["estimate"] == pytest.approx(want, abs=1e-12)
        hm = np.mean([r[(r["machine_type"] == "gearbox") & (r["unit"] == "mean") & (r["domain"] == domain)]
                      [metric].iloc[0] for r in res])
        assert _row(table, "gearbox", "mean", domain, metric)["estimate"] == pytest.approx(hm, abs=1e-12)


def test_replicates_with_all_clips_once_reproduce_the_point_estimate():
    # the vectorised cells, fed weights of one (the original data), equal evaluate's values
    for scores in (_scores_2020(np.random.default_rng(3), ties=True), _scores_2022(np.random.default_rng(3), seeds=(0,))):
        df = stats._check_scores(scores.drop(columns="seed"), "m")
        points, layout = stats._points(df, [0], "m")
        units = stats._units(df, layout)
        mats = [stats._score_matrix(df, u, [0], "m") for u in units]
        cells = stats._cells(units, mats, [np.ones((1, u.paths.size)) for u in units], layout)
        assert set(cells) == set(points)
        for key, value in points.items():
            assert cells[key][0, 0] == pytest.approx(value, abs=1e-12), key


def test_interval_width_matches_hanley_mcneil_for_one_unit():
    rng = np.random.default_rng(5)
    n = 100
    y = np.r_[np.zeros(n, int), np.ones(n, int)]
    s = rng.normal(0.9 * y, 1.0)
    scores = pd.DataFrame(dict(path=[f"c{i}" for i in range(2 * n)], machine_type="fan", unit="id_00",
                               domain="source", label=np.where(y == 1, "anomaly", "normal"), score=s))
    bs = stats.bootstrap(scores, n_boot=2000, random_state=1)
    reps = bs.replicates["unnamed"][("fan", "id_00", "all", "auc")]
    se = stats.auc_standard_error(metrics.auc(y, s), n, n)
    assert reps.std() == pytest.approx(se, rel=0.15)
    row = _row(bs.intervals(), "fan", "id_00", "all", "auc")
    assert row["hi"] - row["lo"] == pytest.approx(2 * 1.96 * se, rel=0.2)


def test_resampling_is_stratified_by_label_and_domain():
    scores = _scores_2022(np.random.default_rng(0), seeds=(0,))
    df = stats._check_scores(scores, "m")
    units = stats._units(df, "dcase2022")
    assert len(units) == 4
    for u in units:
        assert len(u.strata) == 4  # (source, target) x (normal, anomaly)
        for idx in u.strata:
            assert len(set(u.domain[idx])) == 1 and len(set(u.y[idx])) == 1


def test_seeds_are_resampled_too():
    # seed 0 separates perfectly (AUC 1), seed 1 is reversed (AUC 0): clip resampling cannot move
    # either, so the replicates are means of two drawn seeds: 0, 0.5 or 1 (1/4, 1/2, 1/4)
    n = 10
    rows = []
    for seed, sign in ((0, 1.0), (1, -1.0)):
        for i in range(2 * n):
            lab = "anomaly" if i >= n else "normal"
            rows.append(dict(path=f"c{i}", machine_type="fan", unit="id_00", label=lab,
                             score=sign * (i + (100 if lab == "anomaly" else 0)), seed=seed))
    bs = stats.bootstrap(pd.DataFrame(rows), n_boot=4000, random_state=0)
    reps = bs.replicates["unnamed"][("fan", "id_00", "all", "auc")]
    assert set(np.round(reps, 12)) == {0.0, 0.5, 1.0}
    assert np.mean(reps == 0.5) == pytest.approx(0.5, abs=0.04)
    row = _row(bs.intervals(), "fan", "id_00", "all", "auc")
    assert (row["estimate"], row["lo"], row["hi"]) == (0.5, 0.0, 1.0)


def test_paired_difference_uses_the_same_clips_for_both_methods():
    rng = np.random.default_rng(2)
    a = _scores_2020(rng, n=60, seeds=(0, 1))
    b = a.assign(score=a["score"] + rng.normal(0, 0.1, len(a)))  # almost the same ranking as a
    bs = stats.bootstrap({"a": a, "b": b}, n_boot=500)
    single = _row(bs.intervals("a"), "all", "mean", "all", "auc")
    diff = _row(bs.difference("a", "b"), "all", "mean", "all", "auc")
    point_a = _row(bs.intervals("a"), "all", "mean", "all", "auc")["estimate"]
    point_b = _row(bs.intervals("b"), "all", "mean", "all", "auc")["estimate"]
    assert diff["estimate"] == pytest.approx(point_a - point_b, abs=1e-12)
    assert diff["method"] == "a - b"
    # independent resampling would make the difference about sqrt(2) x as wide as one method's interval
    assert diff["hi"] - diff["lo"] < 0.25 * (single["hi"] - single["lo"])
    twin = stats.bootstrap({"a": a, "copy": a.copy()}, n_boot=200).difference("a", "copy")
    assert (twin["lo"] == 0).all() and (twin["hi"] == 0).all() and (twin["estimate"] == 0).all()
    assert stats.verdict(0.0, 0.0) == "not resolved"


def test_difference_2022_has_the_official_score():
    rng = np.random.default_rng(4)
    a = _scores_2022(rng)
    b = a.assign(score=-a["score"])  # reversed: worse everywhere
    diff = stats.bootstrap({"a": a, "b": b}, n_boot=200).difference("a", "b")
    off = _row(diff, "all", "official", "all", "official")
    assert off["lo"] > 0 and stats.verdict(off["lo"], off["hi"]) == "higher"


def test_bootstrap_rejects_mismatched_inputs():
    rng = np.random.default_rng(0)
    a = _scores_2020(rng, seeds=(0, 1))
    with pytest.raises(ValueError, match="seed"):
        stats.bootstrap(a[~((a["seed"] == 1) & (a["path"] == a["path"].iloc[0]))])
    with pytest.raises(ValueError, match="'b'.*not the same test clips"):
        stats.bootstrap({"a": a, "b": a.iloc[2:]})
    with pytest.raises(ValueError, match="duplicate"):
        stats.bootstrap(pd.concat([a, a.iloc[:1]]))
    with pytest.raises(ValueError, match="one layout"):
        stats.bootstrap({"a": a, "b": _scores_2022(rng)})
    with pytest.raises(ValueError, match="labels differ"):
        flipped = a.assign(label=np.where(a["path"] == a["path"].iloc[0], "anomaly", a["label"]))
        stats.bootstrap({"a": a, "b": flipped})
    with pytest.raises(ValueError, match="missing column"):
        stats.bootstrap(a.drop(columns="score"))
    with pytest.raises(ValueError, match="'method' has 1 empty"):
        stats.bootstrap(a.assign(method=["x"] * (len(a) - 1) + [None]))
    with pytest.raises(ValueError, match="not in this bootstrap"):
        stats.bootstrap(a, n_boot=10).difference("unnamed", "other")


def test_bootstrap_is_reproducible_and_takes_a_method_column():
    a = _scores_2020(np.random.default_rng(0), seeds=(0, 1))
    both = pd.concat([a.assign(method="x"), a.assign(method="y", score=a["score"] * 2 + 1)])
    t1 = stats.bootstrap(both, n_boot=100, random_state=7).intervals()
    t2 = stats.bootstrap(both, n_boot=100, random_state=7).intervals()
    pd.testing.assert_frame_equal(t1, t2)
    # a monotone transform changes no AUC: the two methods' rows are identical
    x, y = t1[t1["method"] == "x"].drop(columns="method"), t1[t1["method"] == "y"].drop(columns="method")
    np.testing.assert_allclose(x[["estimate", "lo", "hi"]].to_numpy(), y[["estimate", "lo", "hi"]].to_numpy())


def test_interval_table_and_format():
    assert stats.format_interval(0.6684, 0.6212, 0.7031) == "66.8 [62.1, 70.3]"
    a = _scores_2020(np.random.default_rng(0))
    t = stats.interval_table(stats.bootstrap({"m": a}, n_boot=20).intervals())
    assert list(t.index) == ["fan", "valve", "all"] and list(t.columns) == ["m"]
    assert re.fullmatch(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", t.loc["all", "m"])
    with pytest.raises(ValueError, match="metric"):
        stats.interval_table(stats.bootstrap({"m": a}, n_boot=20).intervals(), metric="official")


def test_bootstrap_speed_book_scale():
    # 6 types x 3 IDs x 100 clips x 3 seeds, 1000 replicates: a few seconds at most on one core
    import time

    scores = _scores_2020(np.random.default_rng(0), types=("fan", "pump", "slider", "valve", "ToyCar",
                                                           "ToyConveyor"),
                          units=("id_00", "id_02", "id_04"), n=100, seeds=(0, 1, 2))
    t0 = time.perf_counter()
    stats.bootstrap(scores, n_boot=1000).intervals()
    assert time.perf_counter() - t0 < 10.0  # about 0.5 s unloaded; generous for a shared machine


# ------------------------------------------------------------------------------ verdicts
DIRECTION_WORDS = ("higher", "lower", "better", "worse", "helped", "hurt", "improv", "exceed", "beat", "above",
                   "below")


def test_verdict_never_names_a_direction_when_zero_is_inside():
    rng = np.random.default_rng(0)
    lo = -rng.exponential(5, 5000)
    hi = rng.exponential(5, 5000)
    edges = [(0.0, 0.0), (0.0, 3.0), (-3.0, 0.0), (-0.0, 0.0), (-1e-300, 1e-300), (0.0, 1e-300)]
    for l, h in list(zip(lo, hi)) + edges:
        assert stats.verdict(l, h) == "not resolved"
        est = rng.uniform(l, h)
        text = stats.describe_difference("contrastive-hf", "contrastive", est, l, h).lower()
        text = text.replace("contrastive-hf", "A").replace("contrastive", "B")
        assert not any(w in text for w in DIRECTION_WORDS), text
        assert "do not resolve" in text


def test_verdict_names_the_direction_when_zero_is_outside():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        l = rng.exponential(5) + 1e-9
        h = l + rng.exponential(5)
        assert stats.verdict(l, h) == "higher"
        assert stats.verdict(-h, -l) == "lower"
        up = stats.describe_difference("A", "B", (l + h) / 2, l, h)
        down = stats.describe_difference("A", "B", -(l + h) / 2, -h, -l)
        assert up.startswith("A is higher than B: A minus B is +") and "lower" not in up
        assert down.startswith("A is lower than B: A minus B is -") and "higher" not in down
    assert stats.verdict(1e-300, 1.0) == "higher" and stats.verdict(-1.0, -1e-300) == "lower"
    assert stats.describe_difference("A", "B", 3.14, 1.0, 5.0) == \
        "A is higher than B: A minus B is +3.1 AUC points (95 % interval +1.0 to +5.0 AUC points)."


@pytest.mark.parametrize("lo, hi", [(1.0, -1.0), (np.nan, 1.0), (0.0, np.inf)])
def test_verdict_rejects_bad_intervals(lo, hi):
    with pytest.raises(ValueError, match="verdict"):
        stats.verdict(lo, hi)


# ------------------------------------------------------------------------ learning curve
def test_learning_curve_has_one_row_per_method_size_and_metric():
    rng = np.random.default_rng(0)
    parts = []
    for n_train, shift in ((16, 0.3), (64, 1.5)):
        for m in ("ae", "knn"):
            parts.append(_scores_2020(rng, seeds=(0, 1), shift=shift).assign(method=m, n_train=n_train))
    scores = pd.concat(parts, ignore_index=True)
    lc = stats.learning_curve(scores, n_boot=100)
    assert len(lc) == 2 * 2 * 2 and list(lc["n_train"][:2]) == [16, 16]
    sub = scores[(scores["method"] == "ae") & (scores["n_train"] == 64)]
    want = np.mean([metrics.evaluate(sub[sub["seed"] == s].drop(columns=["seed", "method", "n_train"]))
                    .query("machine_type == 'all'")["auc"].iloc[0] for s in (0, 1)])
    got = lc[(lc["method"] == "ae") & (lc["n_train"] == 64) & (lc["metric"] == "auc")]["estimate"].iloc[0]
    assert got == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match="n_clips"):
        stats.learning_curve(scores, by="n_clips")


def test_domain_gap_2022():
    rng = np.random.default_rng(6)
    scores = _scores_2022(rng)  # anomalies are easier against source normals (mean 1.5 vs 0.7)
    bs = stats.bootstrap(scores, n_boot=300)
    gap = bs.domain_gap()
    iv = bs.intervals()
    for mt, unit in (("fan", "section_00"), ("gearbox", "mean"), ("all", "mean")):
        want = _row(iv, mt, unit, "source", "auc")["estimate"] - _row(iv, mt, unit, "target", "auc")["estimate"]
        assert _row(gap, mt, unit, "source - target", "auc")["estimate"] == pytest.approx(want, abs=1e-12)
    assert set(gap["unit"]) == {"section_00", "section_01", "mean"}
    with pytest.raises(ValueError, match="dcase2022"):
        stats.bootstrap(_scores_2020(rng), n_boot=10).domain_gap()


def test_bootstrap_by_keeps_all_normals_and_one_band_of_anomalies():
    rng = np.random.default_rng(7)
    scores = _scores_2020(rng, n=40)
    anomalous = scores["label"] == "anomaly"
    # odd anomalies "high" (easy: score + 3), the others "low" (score unchanged); valve has no high ones
    band = np.where(anomalous & (np.arange(len(scores)) % 4 == 1) & (scores["machine_type"] == "fan"), "high",
                    np.where(anomalous, "low", None))
    scores = scores.assign(anomaly_band=band, score=scores["score"] + 3 * (band == "high"))
    boots = stats.bootstrap_by(scores, "anomaly_band", n_boot=50)
    assert sorted(boots) == ["high", "low"]
    high = boots["high"].intervals()
    assert set(high["machine_type"]) == {"fan", "all"}  # valve has no high-band anomalies
    sub = scores[(scores["machine_type"] == "fan") & ((scores["label"] == "normal") | (scores["anomaly_band"] == "high"))]
    want = metrics.evaluate(sub.drop(columns=["seed", "anomaly_band"])).query("unit == 'mean'")["auc"].iloc[0]
    assert _row(high, "fan", "mean", "all", "auc")["estimate"] == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match="manifest"):
        stats.bootstrap_by(scores.drop(columns="anomaly_band"), "anomaly_band")


def test_bootstrap_describe_uses_the_difference_interval():
    rng = np.random.default_rng(8)
    a = _scores_2020(rng, n=60)
    worse = a.assign(score=a["score"] + rng.normal(0, 3.0, len(a)))  # much noisier: lower AUC
    bs = stats.bootstrap({"good": a, "noisy": worse}, n_boot=300)
    row = _row(bs.difference("good", "noisy"), "all", "mean", "all", "auc")
    text = bs.describe("good", "noisy")
    assert text == stats.describe_difference("good", "noisy", 100 * row["estimate"], 100 * row["lo"],
                                             100 * row["hi"], unit="AUC points")
    assert text.startswith("good is higher than noisy")
    assert bs.describe("noisy", "good").startswith("noisy is lower than good")
    with pytest.raises(ValueError, match="no cell"):
        bs.describe("good", "noisy", machine_type="pump")


def test_summarize_seeds_hand_computed_t_interval():
    res = pd.DataFrame({"method": ["ae"] * 3 + ["knn"], "n_train": [16] * 4, "auc": [0.6, 0.7, 0.8, 0.75]})
    out = stats.summarize_seeds(res, ["method", "n_train"])
    ae = out[out["method"] == "ae"].iloc[0]
    # mean 0.7, sd 0.1, t(0.975, 2 df) = 4.302653: half width 4.302653 * 0.1 / sqrt(3) = 0.248414
    assert ae["estimate"] == pytest.approx(0.7)
    assert (ae["lo"], ae["hi"]) == (pytest.approx(0.7 - 0.248414, abs=1e-6), pytest.approx(0.7 + 0.248414, abs=1e-6))
    knn = out[out["method"] == "knn"].iloc[0]
    assert knn["n_seeds"] == 1 and np.isnan(knn["lo"]) and np.isnan(knn["hi"])
    with pytest.raises(ValueError, match="missing column"):
        stats.summarize_seeds(res, ["method", "seed"])
