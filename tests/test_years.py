"""DCASE 2023-2026: the official score by hand, evaluator ground-truth folders, submission files, `asd evaluate`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asdlib import dcase
from asdlib.cli import main
from asdlib.dcase import FIRST_SHOT_LAYOUTS, LAYOUTS, MACHINE_TYPES, SECTION_LAYOUTS, UNIT_PREFIX
from asdlib.metrics import evaluate, official_score, official_score_parts, summary_table
from asdlib.submission import (SubmissionError, evaluate_submission, read_evaluator_ground_truth,
                               read_ground_truth, write_submission)

# Two first-shot machine types, one section each. By hand (anomaly = positive):
#   A: source normals .1 .4, target normals .3 .6, anomalies .5 (source) .2 (target)
#      AUC_source = 3/4 (pairs .5>.1 .5>.4 .2>.1), AUC_target = 1/4 (.5>.3 only)
#      pAUC: the top clip is a normal, so the ROC stays at TPR 0 up to FPR 1/4 > 0.1: raw area 0,
#      McClish-standardised 0.5 * (1 + (0 - 0.005) / (0.1 - 0.005)) = 9/19
#   B: every anomaly above every normal: AUC_source = AUC_target = pAUC = 1
# Official score = hmean(3/4, 1, 1/4, 1, 9/19, 1) = 6 / (4/3 + 1 + 4 + 1 + 19/9 + 1) = 27/47.
_CLIPS = [  # machine type, file, domain, label, score
    ("A", "section_00_0000.wav", "source", "normal", 0.1), ("A", "section_00_0001.wav", "source", "normal", 0.4),
    ("A", "section_00_0002.wav", "target", "normal", 0.3), ("A", "section_00_0003.wav", "target", "normal", 0.6),
    ("A", "section_00_0004.wav", "source", "anomaly", 0.5), ("A", "section_00_0005.wav", "target", "anomaly", 0.2),
    ("B", "section_00_0000.wav", "source", "normal", 0.1), ("B", "section_00_0001.wav", "source", "normal", 0.2),
    ("B", "section_00_0002.wav", "target", "normal", 0.3), ("B", "section_00_0003.wav", "target", "normal", 0.4),
    ("B", "section_00_0004.wav", "source", "anomaly", 0.9), ("B", "section_00_0005.wav", "target", "anomaly", 0.8),
]


def _scores(layout: str = "dcase2024") -> pd.DataFrame:
    df = pd.DataFrame(_CLIPS, columns=["machine_type", "file", "domain", "label", "score"])
    return df.assign(path=df["machine_type"] + "/test/" + df["file"], unit="section_00", layout=layout)


def test_vocabulary_of_every_year():
    assert LAYOUTS == ("dcase2020", "dcase2022", "dcase2023", "dcase2024", "dcase2025", "dcase2026")
    assert SECTION_LAYOUTS == LAYOUTS[1:] and FIRST_SHOT_LAYOUTS == ("dcase2023", "dcase2024", "dcase2025")
    assert {UNIT_PREFIX[y] for y in SECTION_LAYOUTS} == {"section_"} and UNIT_PREFIX["dcase2020"] == "id_"
    assert set(MACHINE_TYPES) == set(LAYOUTS) and "ToyTrain" in MACHINE_TYPES["dcase2024"]
    assert set(dcase.EVAL_MACHINE_TYPES) == set(LAYOUTS)
    # 2026: the real ToyCar and fan, and five emulated two-channel types named ...Emu
    emu = [t for t in MACHINE_TYPES["dcase2026"] if t.endswith(dcase.EMULATED_SUFFIX)]
    assert emu == ["ToyCarEmu", "bearingEmu", "gearboxEmu", "sliderEmu", "valveEmu"]
    assert set(MACHINE_TYPES["dcase2026"]) - set(emu) == {"ToyCar", "fan"}
    # the evaluation sets of 2023+ bring types the development sets do not have
    for year in FIRST_SHOT_LAYOUTS + ("dcase2026",):
        assert not set(dcase.EVAL_MACHINE_TYPES[year]) & set(MACHINE_TYPES[year]), year


@pytest.mark.parametrize("year", ["dcase2023", "dcase2024", "dcase2025", "dcase2026"])
def test_official_score_of_first_shot_years_by_hand(year):
    res = evaluate(_scores(year), method="m")
    assert set(res["layout"]) == {year}
    row = res.set_index(["machine_type", "unit", "domain"])
    assert row.loc[("A", "section_00", "source"), "auc"] == pytest.approx(0.75)
    assert row.loc[("A", "section_00", "target"), "auc"] == pytest.approx(0.25)
    assert row.loc[("A", "section_00", "all"), "pauc"] == pytest.approx(9 / 19)
    assert row.loc[("B", "section_00", "all"), "pauc"] == pytest.approx(1.0)
    np.testing.assert_allclose(sorted(official_score_parts(res)), sorted([0.75, 1, 0.25, 1, 9 / 19, 1]))
    assert official_score(res) == pytest.approx(27 / 47)
    table = summary_table(res)
    assert table.loc["A", ("m", "AUC (target)")] == pytest.approx(25.0)


def _evaluator_folder(root, clips=_CLIPS):
    """The ground truth as the official 2023-2025 evaluators ship it: 0/1 lists per type, no header."""
    for sub in ("ground_truth_data", "ground_truth_domain"):
        (root / sub).mkdir(parents=True)
    for mt in sorted({c[0] for c in clips}):
        rows = [c for c in clips if c[0] == mt]
        name = f"ground_truth_{mt}_section_00_test.csv"
        (root / "ground_truth_data" / name).write_text("".join(f"{f},{int(lab == 'anomaly')}\n" for _, f, _, lab, _ in rows))
        (root / "ground_truth_domain" / name).write_text("".join(f"{f},{int(d == 'target')}\n" for _, f, d, _, _ in rows))
    return root


def test_evaluator_ground_truth_folder_and_submission_give_the_hand_computed_score(tmp_path):
    gt_dir = _evaluator_folder(tmp_path / "gt")
    gt = read_evaluator_ground_truth(gt_dir)
    assert len(gt) == 12 and set(gt["domain"]) == {"source", "target"}
    assert gt.loc[(gt["machine_type"] == "A") & (gt["file"] == "section_00_0005.wav"), "label"].item() == "anomaly"
    assert read_ground_truth(gt_dir).equals(gt)  # a folder is read the same way
    paths = write_submission(_scores(), tmp_path / "team", decision_threshold=0.45)
    assert sorted(p.name for p in paths) == [
        "anomaly_score_A_section_00_test.csv", "anomaly_score_B_section_00_test.csv",
        "decision_result_A_section_00_test.csv", "decision_result_B_section_00_test.csv"]
    res = evaluate_submission(tmp_path / "team", gt_dir, layout="dcase2024")
    assert set(res["layout"]) == {"dcase2024"}
    assert official_score(res) == pytest.approx(27 / 47)
    # decisions at 0.45, type A source: clips .1 .4 (normal), .5 (anomaly) -> tp 1, fp 0, fn 0
    a_src = res[(res["machine_type"] == "A") & (res["unit"] == "section_00") & (res["domain"] == "source")]
    assert a_src[["precision", "recall", "f1"]].to_numpy().tolist() == [[1.0, 1.0, 1.0]]
    # without layout= the rows say dcase2022: the names of 2021-2026 are one scheme
    assert set(evaluate_submission(tmp_path / "team", gt_dir)["layout"]) == {"dcase2022"}


def test_ground_truth_layout_column_names_the_year(tmp_path):
    gt = _scores("dcase2025").drop(columns=["score", "path"])
    gt.to_csv(tmp_path / "gt.csv", index=False)
    write_submission(_scores(), tmp_path / "team", decision_threshold=0.5)
    assert read_ground_truth(tmp_path / "gt.csv").attrs["layout"] == "dcase2025"
    assert set(evaluate_submission(tmp_path / "team", tmp_path / "gt.csv")["layout"]) == {"dcase2025"}
    with pytest.raises(SubmissionError, match="layout dcase2020 does not fit its section_XX units"):
        evaluate_submission(tmp_path / "team", tmp_path / "gt.csv", layout="dcase2020")


def test_bad_evaluator_folders_and_first_shot_sections_are_named(tmp_path):
    with pytest.raises(SubmissionError, match="no ground_truth_data/ folder"):
        read_evaluator_ground_truth(tmp_path)
    gt_dir = _evaluator_folder(tmp_path / "gt")
    bad = gt_dir / "ground_truth_data" / "ground_truth_A_section_00_test.csv"
    bad.write_text(bad.read_text().replace(",1\n", ",2\n", 1))
    with pytest.raises(SubmissionError, match=r"ground_truth_A_section_00_test.csv, line \d+: label .* must be 0"):
        read_evaluator_ground_truth(gt_dir)
    (gt_dir / "ground_truth_domain" / "ground_truth_B_section_00_test.csv").unlink()
    bad.write_text(bad.read_text().replace(",2\n", ",1\n"))
    with pytest.raises(SubmissionError, match="has no domain list"):
        read_evaluator_ground_truth(gt_dir)
    scores = _scores().assign(unit="section_01", file=lambda d: d["file"].str.replace("section_00", "section_01"))
    scores.drop(columns=["score", "path"]).to_csv(tmp_path / "gt.csv", index=False)
    write_submission(scores, tmp_path / "team", decision_threshold=0.5)
    with pytest.raises(SubmissionError, match="dcase2024 has one section, section_00, per machine type"):
        evaluate_submission(tmp_path / "team", tmp_path / "gt.csv")


def test_asd_evaluate_with_an_evaluator_folder_and_layout(tmp_path, capsys):
    gt_dir = _evaluator_folder(tmp_path / "gt")
    write_submission(_scores(), tmp_path / "team", decision_threshold=0.45)
    out = tmp_path / "res.csv"
    assert main(["evaluate", "--submission", str(tmp_path / "team"), "--ground-truth", str(gt_dir),
                 "--layout", "dcase2023", "--out", str(out)]) == 0
    res = pd.read_csv(out)
    assert set(res["layout"]) == {"dcase2023"}
    assert res.loc[res["unit"] == "official", "auc"].item() == pytest.approx(27 / 47)
    assert "decisions (%)" in capsys.readouterr().out


@pytest.mark.parametrize("layout, machine", [("dcase2024", "slider"), ("dcase2025", "fan"), ("dcase2026", "valveEmu")])
def test_asd_cli_trains_scores_and_submits_a_new_year(tmp_path, capsys, layout, machine):
    """`asd synth` -> `asd train` -> `asd score --format dcase` -> `asd evaluate`, with each year's names."""
    data = tmp_path / "data"
    assert main(["synth", "--layout", layout, "--scale", "tiny", "--machines", machine, "--out", str(data),
                 "--quiet"]) == 0
    named = ["--layout", layout] if layout == "dcase2024" else []  # 2025 / 2026 are told from their files
    assert main(["index", str(data), *named]) == 0
    assert f"layout(s): {layout}" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), *named, "--machine", machine, "--method", "knn-stats",
                 "--out", str(run), "--quiet"]) == 0
    sub = tmp_path / "sub"
    assert main(["score", "--run", str(run), "--data", str(data), *named, "--format", "dcase",
                 "--out", str(sub)]) == 0
    assert "decision threshold" in capsys.readouterr().out  # fitted on the training clips' scores
    assert sorted(p.name for p in sub.iterdir()) == [f"anomaly_score_{machine}_section_00_test.csv",
                                                     f"decision_result_{machine}_section_00_test.csv"]
    assert main(["index", str(data), *named, "--out", str(tmp_path / "gt.csv")]) == 0
    out = tmp_path / "res.csv"
    assert main(["evaluate", "--submission", str(sub), "--ground-truth", str(tmp_path / "gt.csv"),
                 "--layout", layout, "--out", str(out)]) == 0
    res = pd.read_csv(out)
    assert set(res["layout"]) == {layout}
    # the official score is the harmonic mean of the section's AUC_source, AUC_target and pAUC
    row = res[(res["machine_type"] == machine) & (res["unit"] == "section_00")]
    parts = [row.loc[row["domain"] == "source", "auc"].item(), row.loc[row["domain"] == "target", "auc"].item(),
             row["pauc"].dropna().iloc[0]]
    assert res.loc[res["unit"] == "official", "auc"].item() == pytest.approx(3 / sum(1 / max(p, 1e-12) for p in parts))
