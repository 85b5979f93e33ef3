"""DCASE submission files, their evaluation and the hidden-label test set (asdlib.submission, chapter 8)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from asdlib import submission as sm
from asdlib.cli import main

FAST = ["--set", "batch_size=16", "--set", "segments_per_clip=2", "--set", "width=8", "--set", "depth=2"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))


# Two sections x 4 clips of machine type "fan" (eval-style names), hand-made:
#   section_00: 0000 source normal 0.1, 0001 source anomaly 0.9, 0002 target normal 0.6, 0003 target anomaly 0.4
#   section_01: 0000 source normal 0.2, 0001 source anomaly 0.55, 0002 target normal 0.7, 0003 target anomaly 0.8
_CLIPS = [
    ("section_00", "section_00_test_0000.wav", "source", "normal", 0.1),
    ("section_00", "section_00_test_0001.wav", "source", "anomaly", 0.9),
    ("section_00", "section_00_test_0002.wav", "target", "normal", 0.6),
    ("section_00", "section_00_test_0003.wav", "target", "anomaly", 0.4),
    ("section_01", "section_01_test_0000.wav", "source", "normal", 0.2),
    ("section_01", "section_01_test_0001.wav", "source", "anomaly", 0.55),
    ("section_01", "section_01_test_0002.wav", "target", "normal", 0.7),
    ("section_01", "section_01_test_0003.wav", "target", "anomaly", 0.8),
]
_THRESHOLD = 0.5  # decisions: s00 0,1,1,0; s01 0,1,1,1


def _scores() -> pd.DataFrame:
    return pd.DataFrame({"path": [f"/data/fan/test/{f}" for _, f, *_ in _CLIPS], "layout": "dcase2022",
                         "machine_type": "fan", "unit": [u for u, *_ in _CLIPS], "domain": None, "label": None,
                         "score": [s for *_, s in _CLIPS]})


def _ground_truth(path: Path) -> Path:
    pd.DataFrame([{"machine_type": "fan", "file": f, "unit": u, "domain": d, "label": lab}
                  for u, f, d, lab, _ in _CLIPS]).to_csv(path, index=False)
    return path


def _submission(tmp_path: Path) -> Path:
    out = tmp_path / "team"
    sm.write_submission(_scores(), out, decision_threshold=_THRESHOLD)
    return out


# ------------------------------------------------------------------------------- writing
def test_write_submission_2022_exact_content(tmp_path):
    out = _submission(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == [
        "anomaly_score_fan_section_00_test.csv", "anomaly_score_fan_section_01_test.csv",
        "decision_result_fan_section_00_test.csv", "decision_result_fan_section_01_test.csv"]
    # no header, base names, one row per clip, sorted by name
    assert (out / "anomaly_score_fan_section_00_test.csv").read_text() == (
        "section_00_test_0000.wav,0.1\nsection_00_test_0001.wav,0.9\n"
        "section_00_test_0002.wav,0.6\nsection_00_test_0003.wav,0.4\n")
    assert (out / "decision_result_fan_section_01_test.csv").read_text() == (
        "section_01_test_0000.wav,0\nsection_01_test_0001.wav,1\n"
        "section_01_test_0002.wav,1\nsection_01_test_0003.wav,1\n")
    # nothing is overwritten silently; overwrite=True replaces; other types' files stay
    with pytest.raises(FileExistsError, match="anomaly_score_fan_section_00_test.csv.*overwrite"):
        sm.write_submission(_scores(), out, decision_threshold=_THRESHOLD)
    sm.write_submission(_scores().assign(machine_type="pump"), out, decision_threshold={"pump": 0.0})
    assert (out / "decision_result_pump_section_00_test.csv").read_text().count(",1\n") == 4
    sm.write_submission(_scores().assign(score=1.0), out, decision_threshold=2.0, overwrite=True)
    assert (out / "anomaly_score_fan_section_01_test.csv").read_text().count(",1.0\n") == 4
    assert (out / "anomaly_score_pump_section_00_test.csv").exists()


def test_write_submission_2020_and_input_errors(tmp_path):
    s20 = pd.DataFrame({"path": ["a/id_00_00000001.wav", "a/id_00_00000000.wav", "b/id_02_00000000.wav"],
                        "machine_type": "ToyCar", "unit": ["id_00", "id_00", "id_02"], "score": [2.5, -1.0, 3.0]})
    files = sm.write_submission(s20, tmp_path / "s20")
    assert [p.name for p in files] == ["anomaly_score_ToyCar_id_00.csv", "anomaly_score_ToyCar_id_02.csv"]
    assert files[0].read_text() == "id_00_00000000.wav,-1.0\nid_00_00000001.wav,2.5\n"
    with pytest.raises(ValueError, match="2020 submission format has no decision files"):
        sm.write_submission(s20, tmp_path / "x", decision_threshold=1.0)
    with pytest.raises(ValueError, match="needs decision_result files: pass decision_threshold"):
        sm.write_submission(_scores(), tmp_path / "x")
    with pytest.raises(ValueError, match="no entry for machine type 'fan'"):
        sm.write_submission(_scores(), tmp_path / "x", decision_threshold={"pump": 1.0})
    with pytest.raises(ValueError, match=r"non-finite or non-numeric score\(s\) for \['section_00_test_0001.wav'\]"):
        sm.write_submission(_scores().assign(score=[0.1, np.nan] + [0.0] * 6), tmp_path / "x", decision_threshold=0.5)
    with pytest.raises(ValueError, match="duplicate clip name"):
        sm.write_submission(pd.concat([_scores(), _scores().head(1)]), tmp_path / "x", decision_threshold=0.5)
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_fit_decision_threshold_is_the_gamma_quantile():
    rng = np.random.default_rng(0)
    train = rng.gamma(2.0, 1.5, size=300)
    a, loc, scale = stats.gamma.fit(train)
    assert sm.fit_decision_threshold(train) == pytest.approx(stats.gamma.ppf(0.9, a, loc=loc, scale=scale))
    assert sm.fit_decision_threshold(train, 0.5) < sm.fit_decision_threshold(train, 0.99)
    # z-scored (negative) scores still get a gamma fit with a free location
    z = rng.normal(size=200)
    assert sm.fit_decision_threshold(z) == pytest.approx(stats.gamma.ppf(0.9, *stats.gamma.fit(z)))
    with pytest.warns(UserWarning, match="gamma fit to 3 training scores failed.*empirical 0.9 quantile"):
        assert sm.fit_decision_threshold([1.0, 1.0, 1.0]) == 1.0
    with pytest.raises(ValueError, match="at least 2 finite training scores"):
        sm.fit_decision_threshold([1.0])
    with pytest.raises(ValueError, match="quantile must be in"):
        sm.fit_decision_threshold(train, 1.0)
    table = pd.DataFrame({"machine_type": ["fan"] * 300 + ["pump"] * 300, "score": np.r_[train, train + 10]})
    thr = sm.decision_thresholds(table)
    assert thr["pump"] > thr["fan"] + 9


# ------------------------------------------------------------------------------ evaluating
def test_round_trip_hand_computed(tmp_path):
    out = _submission(tmp_path)
    sub = sm.read_submission(out)
    assert len(sub) == 8 and set(sub["layout"]) == {"dcase2022"}
    assert sub.set_index("file").loc["section_01_test_0003.wav", ["score", "decision"]].tolist() == [0.8, 1]
    res = sm.evaluate_submission(out, _ground_truth(tmp_path / "gt.csv"))
    row = lambda unit, dom, mt="fan": res[(res.machine_type == mt) & (res.unit == unit) & (res.domain == dom)].iloc[0]  # noqa: E731
    # AUC_source: the source normal is below both anomalies of its section; AUC_target: one of two
    for unit in ("section_00", "section_01"):
        assert row(unit, "source")["auc"] == pytest.approx(1.0)
        assert row(unit, "target")["auc"] == pytest.approx(0.5)
        # pAUC (max_fpr 0.1, McClish): TPR 1/2 up to FPR 0.1 -> area 0.05 -> 0.5 (1 + 0.045 / 0.095) = 14/19
        assert row(unit, "all")["pauc"] == pytest.approx(14 / 19)
    # official score: harmonic mean of 1, 1, 1/2, 1/2, 14/19, 14/19 = 42/61
    assert res[res.unit == "official"]["auc"].iloc[0] == pytest.approx(42 / 61)
    # decisions (threshold 0.5): s00 source tp=1 -> P=R=F1=1; s00 target: the normal flagged, the anomaly missed
    assert row("section_00", "source")[["precision", "recall", "f1"]].tolist() == pytest.approx([1, 1, 1])
    assert row("section_00", "target")[["precision", "recall", "f1"]].tolist() == pytest.approx([0, 0, 0])
    assert row("section_00", "all")[["precision", "recall", "f1"]].tolist() == pytest.approx([0.5, 0.5, 0.5])
    # s01 target: both flagged -> P = 1/2, R = 1, F1 = 2/3; s01 all: 3 flagged, 2 of them anomalies
    assert row("section_01", "target")[["precision", "recall", "f1"]].tolist() == pytest.approx([0.5, 1, 2 / 3])
    assert row("section_01", "all")[["precision", "recall", "f1"]].tolist() == pytest.approx([2 / 3, 1, 0.8])
    # per-type harmonic means over sections: source F1 1; target F1 ~0 (one section has F1 0)
    assert row("mean", "source")["f1"] == pytest.approx(1.0)
    assert row("mean", "target")["f1"] < 1e-12
    assert row("mean", "target")["precision"] < 1e-12
    assert row("mean", "target", "all")["recall"] == pytest.approx(0.0, abs=1e-12)  # hmean(0, 1) over all types
    assert row("mean", "source", "all")["f1"] == pytest.approx(1.0)
    assert res["method"].iloc[0] == "team"


def test_cli_evaluate_submission(tmp_path, capsys):
    out = _submission(tmp_path)
    gt = _ground_truth(tmp_path / "gt.csv")
    assert main(["evaluate", "--submission", str(out), "--ground-truth", str(gt), "--out", str(tmp_path / "r.csv")]) == 0
    printed = capsys.readouterr().out
    assert "official" in printed and "decisions (%)" in printed and "66.67" in printed
    res = pd.read_csv(tmp_path / "r.csv")
    assert res.loc[res.unit == "official", "auc"].iloc[0] == pytest.approx(42 / 61)
    assert {"precision", "recall", "f1"} <= set(res.columns)
    assert main(["evaluate", "--submission", str(out)]) == 2
    assert "needs --ground-truth" in capsys.readouterr().err
    (out / "anomaly_score_fan_section_01_test.csv").write_text("section_01_test_0000.wav,abc\n")
    assert main(["evaluate", "--submission", str(out), "--ground-truth", str(gt)]) == 2
    err = capsys.readouterr().err
    assert "anomaly_score_fan_section_01_test.csv, line 1" in err and "'abc'" in err and "no header row" in err


@pytest.mark.parametrize("breakage, message", [
    (lambda d: (d / "decision_result_fan_section_01_test.csv").unlink(),
     r"anomaly_score_fan_section_01_test.csv has no decision file: .*decision_result_fan_section_01_test.csv is missing"),
    (lambda d: (d / "anomaly_score_fan_section_01_test.csv").unlink(),
     r"decision_result_fan_section_01_test.csv has no anomaly score file"),
    (lambda d: [(d / f"{k}_fan_section_01_test.csv").unlink() for k in ("anomaly_score", "decision_result")],
     r"has no file for fan section_01: anomaly_score_fan_section_01_test.csv is missing"),
    (lambda d: [(d / f"{k}_pump_section_00_test.csv").write_text((d / f"{k}_fan_section_00_test.csv").read_text())
                for k in ("anomaly_score", "decision_result")],
     r"anomaly_score_pump_section_00_test.csv: pump section_00 is not in the ground truth"),
    (lambda d: (d / "anomaly_score_fan_section_00_test.csv").write_text(
        "section_00_test_0000.wav,0.1\nsection_00_test_0000.wav,0.2\n"),
     r"anomaly_score_fan_section_00_test.csv: duplicate file name section_00_test_0000.wav on lines 1 and 2"),
    (lambda d: (d / "anomaly_score_fan_section_00_test.csv").write_text(
        "file,score\nsection_00_test_0000.wav,0.1\n"),
     r"anomaly_score_fan_section_00_test.csv, line 1: score 'score' of file is not a number \(the format has no header"),
    (lambda d: (d / "anomaly_score_fan_section_00_test.csv").write_text("section_00_test_0000.wav,nan\n"),
     r"line 1: score of section_00_test_0000.wav is 'nan', not a finite number"),
    (lambda d: (d / "decision_result_fan_section_00_test.csv").write_text(
        "section_00_test_0000.wav,0\nsection_00_test_0001.wav,2\nsection_00_test_0002.wav,1\nsection_00_test_0003.wav,0\n"),
     r"decision_result_fan_section_00_test.csv, line 2: decision of section_00_test_0001.wav is '2'; decisions must be 0 or 1"),
    (lambda d: (d / "decision_result_fan_section_00_test.csv").write_text("section_00_test_0000.wav,yes\n"),
     r"decision_result_fan_section_00_test.csv, line 1: decision 'yes' of section_00_test_0000.wav is not a number"),
    (lambda d: (d / "decision_result_fan_section_00_test.csv").write_text("section_00_test_0000.wav,1\n"),
     r"decision_result_fan_section_00_test.csv and anomaly_score_fan_section_00_test.csv list different clips"),
    (lambda d: [(d / f"{k}_fan_section_00_test.csv").open("a").write("section_00_test_0099.wav,1\n")
                for k in ("anomaly_score", "decision_result")],
     r"anomaly_score_fan_section_00_test.csv: 1 clip\(s\) not in the ground truth, e.g. \['section_00_test_0099.wav'\]"),
    (lambda d: [(d / f"{k}_fan_section_00_test.csv").write_text(
        "".join(line + "\n" for line in (d / f"{k}_fan_section_00_test.csv").read_text().splitlines()[:3]))
                for k in ("anomaly_score", "decision_result")],
     r"anomaly_score_fan_section_00_test.csv: 1 ground-truth clip\(s\) missing, e.g. \['section_00_test_0003.wav'\]"),
    (lambda d: [(d / f"{k}_fan_section_01_test.csv").open("a").write("section_00_test_0000.wav,1\n")
                for k in ("anomaly_score", "decision_result")],
     r"anomaly_score_fan_section_01_test.csv: file name section_00_test_0000.wav is also in "
     r"anomaly_score_fan_section_00_test.csv"),
    (lambda d: (d / "anomaly_score_fan_section_00_test.csv").write_text("section_00_test_0000.wav,0.1,7\n"),
     r"line 1: expected 2 columns"),
    (lambda d: (d / "results.csv").write_text("x\n"), r"results.csv: unexpected file in the submission folder"),
    (lambda d: (d / "anomaly_score_fan_id_00.csv").write_text("id_00_00000000.wav,1\n"),
     r"mixes DCASE 2020 names \(anomaly_score_fan_id_00.csv\) and DCASE 2021-2026 names"),
])
def test_submission_errors_name_the_file(tmp_path, breakage, message):
    out = _submission(tmp_path)
    gt = _ground_truth(tmp_path / "gt.csv")
    breakage(out)
    with pytest.raises(sm.SubmissionError, match=message):
        sm.evaluate_submission(out, gt)


def test_ground_truth_errors_and_index_form(tmp_path):
    out = _submission(tmp_path)
    gt = pd.read_csv(_ground_truth(tmp_path / "gt.csv"))
    with pytest.raises(sm.SubmissionError, match=r"missing column\(s\) \['label'\]"):
        sm.evaluate_submission(out, gt.drop(columns="label"))
    with pytest.raises(sm.SubmissionError, match="needs a 'domain' column"):
        sm.evaluate_submission(out, gt.drop(columns="domain"))
    with pytest.raises(sm.SubmissionError, match=r"clip\(s\) without a label: \['section_00_test_0000.wav'\]"):
        sm.evaluate_submission(out, gt.assign(label=[""] + gt["label"].tolist()[1:]))
    with pytest.raises(sm.SubmissionError, match=r"listed twice"):
        sm.evaluate_submission(out, pd.concat([gt, gt.head(1)]))
    with pytest.raises(sm.SubmissionError, match="belongs to section_01 in the ground truth, not section_00"):
        moved = gt.copy()
        moved.loc[0, "unit"] = "section_01"
        moved.loc[4, "unit"] = "section_00"
        sm.evaluate_submission(out, moved)
    with pytest.raises(sm.SubmissionError, match="file not found"):
        sm.evaluate_submission(out, tmp_path / "nope.csv")
    # the index form: path + split columns, 0/1 labels; train rows are ignored
    index_form = gt.assign(path="/x/fan/test/" + gt["file"], split="test", label=(gt["label"] == "anomaly").astype(int))
    index_form = pd.concat([index_form, index_form.head(1).assign(split="train", path="/x/fan/train/t.wav")])
    res = sm.evaluate_submission(out, index_form.drop(columns=["file", "machine_type"]))
    assert res.loc[res.unit == "official", "auc"].iloc[0] == pytest.approx(42 / 61)


# ------------------------------------------------------------------- hidden labels, end to end
def test_hide_labels_then_score_and_evaluate_round_trip(tmp_path, capsys):
    from asdlib.data import index

    data, hidden = tmp_path / "d", tmp_path / "course" / "students"
    assert main(["synth", "--layout", "dcase2022", "--scale", "tiny", "--machines", "valve", "--out", str(data),
                 "--quiet"]) == 0
    gt_path = sm.hide_labels(data, hidden, seed=1)
    assert gt_path == tmp_path / "course" / "students_ground_truth.csv"
    orig, hid = index(data), index(hidden)
    gt = pd.read_csv(gt_path)
    # same training clips (names keep their domains); test clips renamed, without domain or label
    assert sorted(orig.loc[orig.split == "train", "path"].map(lambda p: Path(p).name)) == \
        sorted(hid.loc[hid.split == "train", "path"].map(lambda p: Path(p).name))
    test = hid[hid.split == "test"]
    assert len(test) == (orig.split == "test").sum() == len(gt)
    assert test["label"].isna().all() and test["domain"].isna().all()
    assert all(Path(p).name.startswith(f"{u}_test_") for p, u in zip(test["path"], test["unit"]))
    assert not (hidden / "manifest.csv").exists() and not any("anomaly" in p.name for p in hidden.rglob("*"))
    for r in gt.itertuples():  # the ground truth maps each renamed clip to its original, byte for byte
        assert (hidden / "valve" / "test" / r.file).read_bytes() == (data / r.original).read_bytes()
        assert f"_{r.domain}_test_{r.label}_" in r.original
    # numbering is shuffled: labels are not sorted by number within a section
    assert any(list(g["label"]) != sorted(g["label"]) for _, g in gt.groupby("unit"))
    with pytest.raises(FileExistsError, match="not empty"):
        sm.hide_labels(data, hidden)

    # one run, scored on the labelled set and on the hidden copy: the submission's official metrics
    # against the hidden ground truth equal those of the labelled scores
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--machine", "valve", "--method", "contrastive-hf", "--out", str(run),
                 "--epochs", "1", "--quiet", "--set", "scorer=knn-domain", *FAST]) == 0
    assert main(["score", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "scores.csv")]) == 0
    sub = tmp_path / "sub"
    assert main(["score", "--run", str(run), "--data", str(hidden), "--format", "dcase", "--out", str(sub)]) == 0
    assert "decision threshold" in capsys.readouterr().out
    names = sorted(p.name for p in sub.iterdir())
    assert names == sorted(f"{k}_valve_{u}_test.csv" for k in ("anomaly_score", "decision_result")
                           for u in sorted(gt["unit"].unique()))
    assert main(["score", "--run", str(run), "--data", str(hidden), "--format", "dcase", "--out", str(sub)]) == 2
    assert "--force" in capsys.readouterr().err
    res = sm.evaluate_submission(sub, gt_path)
    from asdlib.metrics import evaluate

    ref = evaluate(pd.read_csv(tmp_path / "scores.csv"), method="sub")
    cols = ["machine_type", "unit", "domain", "auc", "pauc"]
    pd.testing.assert_frame_equal(res[cols].reset_index(drop=True), ref[cols].reset_index(drop=True))
    assert res["f1"].notna().any()
    # the threshold came from the training clips' leave-one-out scores, not from the test clips
    from asdlib.pipeline import score

    train_scores = score(run, index(hidden), split="train")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thr = sm.fit_decision_threshold(train_scores["score"])
    decided = sm.read_submission(sub)
    assert (decided["decision"] == (decided["score"] > thr).astype(int)).all()
    assert (train_scores["score"] > 0).all()  # leave-one-out: no training clip finds itself at distance 0
    # the same run scored with another scorer: at k = 1, separate memories give the pooled 1-NN distance
    pooled = score(run, index(data), scorer="knn")
    sep = score(run, index(data), scorer="knn-domain")
    np.testing.assert_allclose(pooled["score"], sep["score"], rtol=1e-6)
    with pytest.raises(ValueError, match="leave-one-out.*target clip"):  # tiny sets have 1 target clip per section
        score(run, index(data), scorer="knn-zscore")


def test_hide_labels_dcase2020_and_a_perfect_submission(tmp_path):
    from asdlib.data import index

    data, hidden = tmp_path / "d", tmp_path / "students"
    assert main(["synth", "--layout", "dcase2020", "--scale", "tiny", "--machines", "pump", "--out", str(data),
                 "--quiet"]) == 0
    gt_path = sm.hide_labels(data, hidden, ground_truth=tmp_path / "teacher" / "gt.csv")
    gt = pd.read_csv(gt_path)
    test = index(hidden).query("split == 'test'")
    assert test["label"].isna().all() and len(test) == len(gt)
    assert all(pd.Series(test["path"].map(lambda p: Path(p).name)).str.fullmatch(r"id_\d{2}_\d{8}\.wav"))
    # a submission that scores every anomaly above every normal clip: AUC 1 per ID, no decision files
    scores = test.assign(score=test["path"].map(lambda p: Path(p).name).map(
        dict(zip(gt["file"], (gt["label"] == "anomaly").astype(float)))))
    files = sm.write_submission(scores, tmp_path / "sub")
    assert sorted(p.name for p in files) == sorted(f"anomaly_score_pump_{u}.csv" for u in gt["unit"].unique())
    res = sm.evaluate_submission(tmp_path / "sub", gt_path)
    assert (res["auc"] == 1.0).all() and res["f1"].isna().all()
    with pytest.raises(ValueError, match="inside the student folder"):
        sm.hide_labels(data, tmp_path / "s2", ground_truth=tmp_path / "s2" / "gt.csv")


def test_ae_run_dcase_submission_against_the_index_as_ground_truth(tmp_path, capsys):
    data = tmp_path / "d"
    main(["synth", "--layout", "dcase2022", "--scale", "tiny", "--machines", "valve", "--out", str(data), "--quiet"])
    run = tmp_path / "ae"
    assert main(["train", "--data", str(data), "--machine", "valve", "--method", "ae", "--out", str(run),
                 "--epochs", "1", "--quiet"]) == 0
    assert main(["score", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "scores.csv")]) == 0
    assert main(["score", "--run", str(run), "--data", str(data), "--format", "dcase", "--out", str(tmp_path / "sub"),
                 "--decision-quantile", "0.5"]) == 0
    assert main(["index", str(data), "--out", str(tmp_path / "index.csv")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--submission", str(tmp_path / "sub"), "--ground-truth", str(tmp_path / "index.csv"),
                 "--out", str(tmp_path / "res.csv")]) == 0
    from asdlib.metrics import evaluate
    from asdlib.pipeline import score
    from asdlib.data import index

    res = pd.read_csv(tmp_path / "res.csv")
    ref = evaluate(pd.read_csv(tmp_path / "scores.csv"), method="sub")
    np.testing.assert_allclose(res["auc"], ref["auc"])
    # the threshold: the gamma median of the training clips' in-sample reconstruction errors
    train_scores = score(run, index(data), split="train")["score"]
    assert len(train_scores) == (index(data).split == "train").sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thr = sm.fit_decision_threshold(train_scores, 0.5)
    sub = sm.read_submission(tmp_path / "sub")
    assert (sub["decision"] == (sub["score"] > thr).astype(int)).all()
    with pytest.raises(ValueError, match="'ae' run, scored by reconstruction error"):
        score(run, index(data), scorer="knn")


def test_several_scorers_share_one_embedding_pass(tmp_path, monkeypatch):
    """pipeline.score with a list of scorers equals scoring with each one alone."""
    import torch

    from asdlib import synth
    from asdlib.data import index
    from asdlib.pipeline import run_pipeline, score

    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    root = tmp_path / "d"
    synth.generate(root, layout="dcase2022", scale="tiny", machines=["fan", "valve"], seed=2)
    df = index(root)
    run_pipeline(df, "contrastive", tmp_path / "out", progress=False, epochs=1, batch_size=16, segments_per_clip=2,
                 width=8, depth=2, emb_dim=16, proj_dim=8, select_epoch="last", val_fraction=0.0)
    both = score(tmp_path / "out" / "_shared", df, scorer=["knn", "knn-domain"])
    assert set(both["method"]) == {"knn", "knn-domain"}
    for name in ("knn", "knn-domain"):
        alone = score(tmp_path / "out" / "_shared", df, scorer=name)
        got = both[both["method"] == name].reset_index(drop=True)
        assert np.allclose(got["score"].to_numpy(), alone["score"].to_numpy())
