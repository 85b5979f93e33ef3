"""Tests of asdlib.metrics against hand-computed values (chapter 3, 7, 8)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hmean
from sklearn.metrics import roc_auc_score

from asdlib import metrics


# ------------------------------------------------------------------------------------ labels
def test_labels_to_binary_accepts_strings_ints_bools():
    assert metrics.labels_to_binary(["normal", "anomaly", "Anomaly"]).tolist() == [0, 1, 1]
    assert metrics.labels_to_binary([0, 1, 1.0]).tolist() == [0, 1, 1]
    assert metrics.labels_to_binary(np.array([True, False])).tolist() == [1, 0]
    assert metrics.labels_to_binary(pd.Series(["anomaly", "normal"])).tolist() == [1, 0]


@pytest.mark.parametrize("bad", [["normal", "broken"], [0, 2], [None, 1], [0.5]])
def test_labels_to_binary_rejects_other_values(bad):
    with pytest.raises(ValueError, match="unrecognised label"):
        metrics.labels_to_binary(bad)


# ------------------------------------------------------------------------------- AUC / pAUC
def test_auc_hand_computed():
    # anomaly 0.35 beats normal 0.1 only, anomaly 0.8 beats both: 3 of 4 pairs
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert metrics.auc(["normal", "normal", "anomaly", "anomaly"], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def _pauc_example() -> tuple[np.ndarray, np.ndarray]:
    """20 normals, 4 anomalies; ranked from the top: A, N, A, A, N, ... (FPR steps of 0.05)."""
    normals = [99.0] + list(np.arange(96.0, 77.0, -1.0))  # 99, 96, 95, ..., 78: 20 values
    anomalies = [100.0, 98.0, 97.0, -1.0]
    y = np.array([0] * len(normals) + [1] * len(anomalies))
    s = np.array(normals + anomalies)
    assert len(normals) == 20
    return y, s


def test_pauc_hand_computed_mcclish():
    y, s = _pauc_example()
    # ROC up to FPR 0.1: TPR 0.25 on [0, 0.05], TPR 0.75 on [0.05, 0.1] -> area 0.05
    area = 0.05 * 0.25 + 0.05 * 0.75
    lo, hi = 0.1**2 / 2, 0.1
    mcclish = 0.5 * (1 + (area - lo) / (hi - lo))  # = 14/19
    assert mcclish == pytest.approx(14 / 19)
    assert metrics.pauc(y, s) == pytest.approx(mcclish)
    assert metrics.pauc(y, s) == pytest.approx(roc_auc_score(y, s, max_fpr=0.1))
    assert metrics.pauc_raw(y, s) == pytest.approx(area / 0.1)
    # full AUC: the anomalies beat 20, 19, 19 and 0 of the 20 normals
    assert metrics.auc(y, s) == pytest.approx(58 / 80)


def test_pauc_raw_interpolates_a_tie():
    # anomaly and normal tied at the top: ROC diagonal from (0, 0) to (0.125, 0.5)
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([5.0, 5.0, 0.5, 4.0, 3.0, 2.0, 1.5, 1.2, 1.1, 0.9])
    area = 0.5 * 0.1 * 0.4  # TPR reaches 0.4 at FPR 0.1
    assert metrics.pauc_raw(y, s) == pytest.approx(area / 0.1)
    assert metrics.pauc(y, s) == pytest.approx(0.5 * (1 + (area - 0.005) / 0.095))


def test_pauc_and_pauc_raw_relation_random():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = np.r_[np.zeros(30, int), np.ones(10, int)]
        s = np.round(rng.normal(size=40) + y, 1)  # rounding creates ties
        raw = metrics.pauc_raw(y, s)
        assert metrics.pauc(y, s) == pytest.approx(0.5 * (1 + (raw - 0.05) / (1 - 0.05)))


def test_single_class_names_the_group():
    with pytest.raises(ValueError, match="fan id_00.*both classes"):
        metrics.auc([0, 0, 0], [0.1, 0.2, 0.3], group="fan id_00")
    with pytest.raises(ValueError, match="both classes"):
        metrics.pauc([1, 1], [0.1, 0.2])


def test_harmonic_mean_clips_at_eps():
    assert metrics.harmonic_mean([0.5, 1.0]) == pytest.approx(2 / 3)
    assert metrics.harmonic_mean([0.0, 1.0]) > 0  # clipped, as the official evaluator does


# ----------------------------------------------------------------------------- DCASE 2020
def _scores_2020() -> pd.DataFrame:
    rows = []

    def add(mt, unit, normals, anomalies):
        for i, v in enumerate(normals):
            rows.append((f"{mt}/test/normal_{unit}_{i:08d}.wav", mt, unit, "source", "normal", v))
        for i, v in enumerate(anomalies):
            rows.append((f"{mt}/test/anomaly_{unit}_{i:08d}.wav", mt, unit, "source", "anomaly", v))

    add("fan", "id_00", [0.1, 0.2, 0.3], [0.25, 0.9])  # AUC 5/6, pAUC 14/19
    add("fan", "id_02", [0.5, 0.6], [0.55, 0.4])  # AUC 1/4, pAUC 9/19
    add("pump", "id_00", [1.0, 2.0], [3.0, 4.0])  # AUC 1, pAUC 1
    return pd.DataFrame(rows, columns=["path", "machine_type", "unit", "domain", "label", "score"])


def test_evaluate_2020_hand_computed():
    res = metrics.evaluate(_scores_2020(), method="toy")
    assert list(res.columns) == metrics.RESULT_COLUMNS
    assert set(res["layout"]) == {"dcase2020"} and set(res["method"]) == {"toy"}
    get = res.set_index(["machine_type", "unit"])
    assert get.loc[("fan", "id_00"), "auc"] == pytest.approx(5 / 6)
    assert get.loc[("fan", "id_00"), "pauc"] == pytest.approx(14 / 19)
    assert get.loc[("fan", "id_02"), "auc"] == pytest.approx(1 / 4)
    assert get.loc[("fan", "id_02"), "pauc"] == pytest.approx(9 / 19)
    assert (get.loc[("fan", "id_00"), "n_normal"], get.loc[("fan", "id_00"), "n_anomaly"]) == (3, 2)
    assert np.isnan(get.loc[("fan", "id_00"), "mauc"])
    fan = get.loc[("fan", "mean")]
    assert fan["auc"] == pytest.approx((5 / 6 + 1 / 4) / 2)
    assert fan["pauc"] == pytest.approx(23 / 38)
    assert fan["mauc"] == pytest.approx(1 / 4)
    assert (fan["n_normal"], fan["n_anomaly"]) == (5, 4)
    allrow = get.loc[("all", "mean")]
    assert allrow["auc"] == pytest.approx((13 / 24 + 1) / 2)
    assert allrow["pauc"] == pytest.approx((23 / 38 + 1) / 2)
    assert allrow["mauc"] == pytest.approx(1 / 4)  # the minimum over every ID of every type (one meaning)
    assert set(res["domain"]) == {"all"}


def test_evaluate_infers_layout_and_uses_given_layout():
    df = _scores_2020()
    inferred = metrics.evaluate(df, method="m")
    given = metrics.evaluate(df.assign(layout="dcase2020"), method="m")
    pd.testing.assert_frame_equal(inferred, given)


def test_evaluate_method_column_gives_one_block_per_method():
    df = _scores_2020()
    both = pd.concat([df.assign(method="a"), df.assign(method="b", score=-df["score"])])
    res = metrics.evaluate(both)
    a = res[(res["method"] == "a") & (res["unit"] == "id_02")]
    b = res[(res["method"] == "b") & (res["unit"] == "id_02")]
    assert a["auc"].iloc[0] == pytest.approx(1 / 4) and b["auc"].iloc[0] == pytest.approx(3 / 4)


def test_evaluate_layout_errors():
    df = _scores_2020()
    mixed = df.copy()
    mixed.loc[0, "unit"] = "section_00"
    with pytest.raises(ValueError, match="mixed layouts.*section_00"):
        metrics.evaluate(mixed)
    neither = df.copy()
    neither.loc[0, "unit"] = "machine_7"
    with pytest.raises(ValueError, match="machine_7"):
        metrics.evaluate(neither)
    with pytest.raises(ValueError, match="layout"):
        metrics.evaluate(df.assign(layout="dcase2019"))


def test_evaluate_nan_score_names_the_path():
    df = _scores_2020()
    df.loc[3, "score"] = np.nan
    with pytest.raises(ValueError, match="non-finite.*anomaly_id_00_00000000.wav"):
        metrics.evaluate(df)


def test_evaluate_single_class_group_names_it():
    df = _scores_2020()
    df = df[~((df["unit"] == "id_02") & (df["label"] == "anomaly"))]
    with pytest.raises(ValueError, match="fan id_02.*both classes"):
        metrics.evaluate(df)


def test_evaluate_drops_unlabelled_rows_with_warning():
    df = _scores_2020()
    extra = pd.DataFrame([("fan/test/id_00_00000099.wav", "fan", "id_00", None, None, 123.0)], columns=df.columns)
    with pytest.warns(UserWarning, match="dropped 1 row"):
        res = metrics.evaluate(pd.concat([df, extra], ignore_index=True), method="m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = metrics.evaluate(df, method="m")
    pd.testing.assert_frame_equal(res, expected)


def test_evaluate_missing_column():
    with pytest.raises(ValueError, match="score"):
        metrics.evaluate(_scores_2020().drop(columns="score"))


# ----------------------------------------------------------------------------- DCASE 2022
def _scores_2022() -> pd.DataFrame:
    rows = []

    def add(section, domain, label, values):
        for i, v in enumerate(values):
            path = f"fan/test/{section}_{domain}_test_{label}_{len(rows):04d}_a_1.wav"
            rows.append((path, "dcase2022", "fan", section, domain, label, v))

    add("section_00", "source", "normal", [0.1, 0.2, 0.6])
    add("section_00", "target", "normal", [0.5, 0.7])
    add("section_00", "source", "anomaly", [0.65])
    add("section_00", "target", "anomaly", [0.3, 0.8])
    add("section_01", "source", "normal", [0.1, 0.2])
    add("section_01", "target", "normal", [0.3])
    add("section_01", "source", "anomaly", [0.9])
    add("section_01", "target", "anomaly", [0.25])
    return pd.DataFrame(rows, columns=metrics.SCORE_COLUMNS)


def test_evaluate_2022_hand_computed():
    res = metrics.evaluate(_scores_2022(), method="toy")
    get = res.set_index(["machine_type", "unit", "domain"])
    # section_00, AUC_source: source normals {.1,.2,.6} vs ALL anomalies {.65,.3,.8}: 3+2+3 of 9
    assert get.loc[("fan", "section_00", "source"), "auc"] == pytest.approx(8 / 9)
    # (with the source anomaly alone it would be 1.0: using all anomalies matters)
    assert get.loc[("fan", "section_00", "target"), "auc"] == pytest.approx(3 / 6)
    assert get.loc[("fan", "section_00", "all"), "auc"] == pytest.approx(11 / 15)
    assert get.loc[("fan", "section_00", "all"), "pauc"] == pytest.approx(37 / 57)
    assert np.isnan(get.loc[("fan", "section_00", "source"), "pauc"])
    assert (get.loc[("fan", "section_00", "source"), "n_normal"],
            get.loc[("fan", "section_00", "source"), "n_anomaly"]) == (3, 3)
    assert get.loc[("fan", "section_01", "source"), "auc"] == pytest.approx(1.0)
    assert get.loc[("fan", "section_01", "target"), "auc"] == pytest.approx(1 / 2)
    assert get.loc[("fan", "section_01", "all"), "pauc"] == pytest.approx(14 / 19)
    # per-type harmonic means over sections
    assert get.loc[("fan", "mean", "source"), "auc"] == pytest.approx(16 / 17)
    assert get.loc[("fan", "mean", "target"), "auc"] == pytest.approx(1 / 2)
    assert get.loc[("fan", "mean", "all"), "pauc"] == pytest.approx(2 / (57 / 37 + 19 / 14))
    # official score: harmonic mean of all AUC_source, AUC_target and pAUC values
    hand = [8 / 9, 1.0, 1 / 2, 1 / 2, 37 / 57, 14 / 19]
    official = get.loc[("all", "official", "all")]
    assert official["auc"] == pytest.approx(len(hand) / sum(1 / v for v in hand))
    assert official["auc"] == pytest.approx(hmean(hand))
    assert np.isnan(official["pauc"])
    assert metrics.official_score(res) == pytest.approx(hmean(hand))
    assert res["mauc"].isna().all()


def test_evaluate_2022_rejects_unknown_domain():
    df = _scores_2022()
    df.loc[0, "domain"] = None
    with pytest.raises(ValueError, match="source' or 'target"):
        metrics.evaluate(df)


def test_official_score_errors():
    res2020 = metrics.evaluate(_scores_2020(), method="m")
    with pytest.raises(ValueError, match="official"):
        metrics.official_score(res2020)


# -------------------------------------------------------------------------------- tables
def test_summary_table_2020_and_2022():
    df = _scores_2020()
    res = pd.concat([metrics.evaluate(df, method="a"), metrics.evaluate(df.assign(score=-df["score"]), method="b")])
    table = metrics.summary_table(res)
    assert list(table.index) == ["fan", "pump", "all"]
    assert table.loc["fan", ("a", "AUC")] == pytest.approx(100 * 13 / 24)
    assert table.loc["pump", ("b", "AUC")] == pytest.approx(0.0)
    assert [c for c in table.columns] == [("a", "AUC"), ("a", "pAUC"), ("b", "AUC"), ("b", "pAUC")]
    frac = metrics.summary_table(res, percent=False, include_mauc=True)
    assert frac.loc["fan", ("a", "mAUC")] == pytest.approx(1 / 4)

    t22 = metrics.summary_table(metrics.evaluate(_scores_2022(), method="toy"))
    assert list(t22.columns.get_level_values("metric")) == ["AUC (source)", "AUC (target)", "pAUC"]
    assert t22.loc["fan", ("toy", "AUC (source)")] == pytest.approx(100 * 16 / 17)


def test_summary_table_rejects_mixed_layouts():
    res = pd.concat([metrics.evaluate(_scores_2020(), method="a"), metrics.evaluate(_scores_2022(), method="a")])
    with pytest.raises(ValueError, match="one layout"):
        metrics.summary_table(res)


def test_results_csv_roundtrip(tmp_path):
    res = metrics.evaluate(_scores_2022(), method="toy")
    path = metrics.results_to_csv(res, tmp_path / "out" / "results.csv")
    back = metrics.read_results(path)
    assert list(back.columns) == metrics.RESULT_COLUMNS
    assert metrics.official_score(back) == pytest.approx(metrics.official_score(res))


def test_published_numbers():
    t = metrics.published_table("dcase2020")
    base = t[(t["system"] == "official AE baseline") & (t["machine_type"] == "all")]
    assert base["auc"].iloc[0] == pytest.approx(73.66) and base["pauc"].iloc[0] == pytest.approx(59.67)
    seed = t[t["system"].str.startswith("seed paper")]
    assert seed["auc"].iloc[0] == pytest.approx(93.83)
    # the published per-type baseline AUCs average to the published mean (rounding only)
    per_type = t[(t["system"] == "official AE baseline") & (t["machine_type"] != "all")]
    assert len(per_type) == 6 and per_type["auc"].mean() == pytest.approx(73.66, abs=0.01)
    t22 = metrics.published_table("dcase2022", percent=False)
    ae = t22[t22["system"] == "official AE baseline"]["official_score"].iloc[0]
    assert ae == pytest.approx(0.5261)
    assert metrics.PUBLISHED["auc"].dropna().between(0, 1).all()
    with pytest.raises(ValueError, match="dataset"):
        metrics.published_table("dcase2019")


def test_evaluate_by_band_and_kind_hand_computed():
    rows = []
    # fan id_00: normals 0.1 0.2 0.3; low anomaly 0.25, high anomaly 0.9
    for s in (0.1, 0.2, 0.3):
        rows.append(("fan/test/n.wav", "fan", "id_00", "normal", s, None, None))
    rows.append(("fan/test/a1.wav", "fan", "id_00", "anomaly", 0.25, "imbalance", "low"))
    rows.append(("fan/test/a2.wav", "fan", "id_00", "anomaly", 0.9, "rubbing", "high"))
    # valve id_00: normals 0.5 0.6; high-band kind of its own only
    for s in (0.5, 0.6):
        rows.append(("valve/test/n.wav", "valve", "id_00", "normal", s, None, None))
    rows.append(("valve/test/a.wav", "valve", "id_00", "anomaly", 0.55, "chatter", "high"))
    df = pd.DataFrame(rows, columns=["path", "machine_type", "unit", "label", "score", "anomaly_kind", "anomaly_band"])
    df["layout"], df["domain"] = "dcase2020", "source"
    band = metrics.evaluate_by(df, "anomaly_band")
    get = lambda b, mt: band[(band.anomaly_band == b) & (band.machine_type == mt)]["auc"].iloc[0]  # noqa: E731
    assert get("low", "fan") == pytest.approx(2 / 3)  # 0.25 beats 0.1 and 0.2, not 0.3
    assert get("high", "fan") == pytest.approx(1.0)
    assert get("high", "valve") == pytest.approx(0.5)
    assert "valve" not in set(band[band.anomaly_band == "low"]["machine_type"])
    kind = metrics.evaluate_by(df, "anomaly_kind")  # kinds that exist for one type only
    assert set(kind["anomaly_kind"]) == {"imbalance", "rubbing", "chatter"}


# ----------------------------------------------------------------------------- read_scores
def test_read_scores_roundtrip_unlabelled_rows_and_methods(tmp_path):
    df = _scores_2022()
    df.loc[0, "label"] = None  # an evaluation clip: kept, evaluate() drops it with a warning
    p = tmp_path / "scores.csv"
    df.to_csv(p, index=False)
    back = metrics.read_scores(p)
    pd.testing.assert_frame_equal(back, pd.read_csv(p))
    with pytest.warns(UserWarning, match="dropped 1 row"):
        metrics.evaluate(back)
    two = pd.concat([_scores_2020().assign(method="a"), _scores_2020().assign(method="b")], ignore_index=True)
    two.to_csv(p, index=False)
    assert len(metrics.read_scores(p)) == 2 * len(_scores_2020())  # the same path once per method
    two.loc[1, "method"] = "a"
    two.loc[1, "path"] = two.loc[0, "path"]
    two.to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"scores\.csv: 1 path\(s\) scored more than once \(per method\).*lines 2, 3"):
        metrics.read_scores(p)


def test_read_scores_lists_at_most_five_bad_rows(tmp_path):
    df = _scores_2020()
    df["score"] = df["score"].astype(object)
    df.loc[:, "score"] = "x"
    p = tmp_path / "s.csv"
    df.to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"s\.csv: 13 non-numeric.*line 6 \('fan/test/anomaly_id_00_00000001\.wav'\) and 8 more"):
        metrics.read_scores(p)
    with pytest.raises(ValueError, match=r"is a folder"):
        metrics.read_scores(tmp_path)
