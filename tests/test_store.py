"""The experiment store (asdlib.store): stored DCASE score files, provenance, staleness, recompute."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asdlib import metrics, store
from asdlib.store import Run

ROOT = Path(__file__).resolve().parents[1]


TINY = {"kind": "synth", "layout": "dcase2020", "scale": "tiny",
        "settings": {"contrastive": {"epochs": 1, "batch_size": 8}}}
RUNS = [Run("t", "tiny", "knn-stats", 0, machines=("fan", "valve")),
        Run("t", "tiny", "contrastive", 0, n_train=4, machines=("fan", "valve"))]


def _use(mp, cache: Path, results: Path) -> None:
    mp.setenv("ASD_CACHE", str(cache))
    mp.setenv("ASD_RESULTS", str(results))
    mp.setitem(store.DATASETS, "tiny", TINY)
    mp.setattr(store, "EXPERIMENTS", {"t": RUNS})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A store of two runs (training-free, one-epoch contrastive) on a tiny synthetic set, built once."""
    base = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as mp:
        _use(mp, base / "cache", base / "results")
        assert store.run_all(progress=False) == ["t/knn-stats-s0", "t/contrastive-n4-s0"]
    return base


@pytest.fixture
def tiny_store(built, tmp_path, monkeypatch):
    """A copy of the built store (tests may damage it), with the plan and data set it was built from."""
    shutil.copytree(built / "results", tmp_path / "results")
    _use(monkeypatch, built / "cache", tmp_path / "results")
    return tmp_path / "results"


def test_runs_are_stored_as_dcase_files_with_provenance(tiny_store):
    folder = tiny_store / "t" / "knn-stats-s0"
    names = sorted(p.name for p in folder.glob("*.csv.gz"))
    assert names == ["anomaly_score_fan_id_00.csv.gz", "anomaly_score_fan_id_02.csv.gz",
                     "anomaly_score_valve_id_00.csv.gz", "anomaly_score_valve_id_02.csv.gz"]
    rows = gzip.decompress((folder / names[0]).read_bytes()).decode().splitlines()
    assert len(rows) == 6 and rows == sorted(rows) and all(r.count(",") == 1 for r in rows)
    assert rows[0].split(",")[0] == "anomaly_id_00_00000000.wav"
    meta = json.loads((folder / "run.json").read_text())
    for key in ("config", "seed", "asdlib", "code_fingerprint", "data", "selection", "wall_s", "machine"):
        assert key in meta
    assert meta["data"]["n_test"] == 24 and meta["config"]["method"] == "knn-stats"
    contrastive = json.loads((tiny_store / "t" / "contrastive-n4-s0" / "run.json").read_text())
    assert contrastive["data"]["n_train"] == 16  # the first 4 normal clips of each of the 4 IDs
    assert contrastive["selection"]["_shared"]["epochs_run"] == 1


def test_loaded_scores_give_the_metrics_of_the_run(tiny_store, built):
    from asdlib import data, synth

    df = data.index(synth.ensure("dcase2020", scale="tiny"))
    loaded = store.load("t", df)
    assert set(loaded["method"]) == {"knn-stats", "contrastive"} and len(loaded) == 48
    assert set(loaded.columns) >= set(metrics.SCORE_COLUMNS) | {"method", "seed", "n_train"}
    own = pd.concat(pd.read_csv(p) for p in (built / "cache" / "runs").glob("knn-stats-*/scores.csv"))
    a = metrics.evaluate(own, method="knn-stats").set_index(["machine_type", "unit"])["auc"]
    b = metrics.evaluate(loaded[loaded["method"] == "knn-stats"], method="knn-stats").set_index(
        ["machine_type", "unit"])["auc"]
    assert np.allclose(a.loc[b.index], b, atol=1e-12)  # 7 significant digits keep every rank here
    without_index = store.load("t")
    assert sorted(without_index["label"].unique()) == ["anomaly", "normal"]


def test_second_run_computes_nothing(tiny_store):
    assert store.run_all(progress=False) == []
    assert store.check() == []


def test_changed_training_code_makes_the_store_stale(tiny_store, monkeypatch, tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(ROOT / "asdlib", pkg)
    before = store.code_fingerprint(package=pkg)
    train = pkg / "train.py"
    text = train.read_text()
    train.write_text(text.replace('"""Seed Python, NumPy and torch (CPU and CUDA)."""',
                                  '"""Seeds everything."""  # a comment'))
    assert store.code_fingerprint(package=pkg) == before  # docstrings and comments do not count
    train.write_text(text.replace("torch.manual_seed(seed)", "torch.manual_seed(seed + 1)"))
    changed = store.code_fingerprint(package=pkg)
    assert changed != before
    from asdlib import book, data, synth

    df = data.index(synth.ensure("dcase2020", scale="tiny"))
    key = store.run_key(df, "knn-stats", ["fan", "valve"])
    monkeypatch.setattr(store, "code_fingerprint", lambda *a, **k: changed)
    assert store.run_key(df, "knn-stats", ["fan", "valve"]) != key  # cached trainings are not reused either
    problems = store.check()
    assert len(problems) == 2 and all("stored results are stale" in p for p in problems)
    with pytest.raises(store.StaleStoreError, match="run make experiments"):
        store.load("t")
    assert store.run_all(progress=False) == ["t/knn-stats-s0", "t/contrastive-n4-s0"]  # regenerated
    assert store.check() == []
    meta = json.loads((tiny_store / "t" / "contrastive-n4-s0" / "run.json").read_text())
    assert meta["code_fingerprint"] == changed


def test_truncated_missing_and_foreign_files_are_named(tiny_store):
    folder = tiny_store / "t" / "knn-stats-s0"
    target = folder / "anomaly_score_fan_id_00.csv.gz"
    target.write_bytes(target.read_bytes()[:20])
    with pytest.raises(store.StoreError, match="anomaly_score_fan_id_00.csv.gz: truncated"):
        store.load("t")
    target.unlink()
    assert any("anomaly_score_fan_id_00.csv.gz: stored score file missing" in p for p in store.check())
    (folder / "run.json").unlink()
    assert any("no run.json" in p for p in store.check())
    (tiny_store / "t" / "old-run-s0").mkdir()
    assert any("old-run-s0: a stored run that the plan does not list" in p for p in store.check())


def test_edited_scores_are_refused(tiny_store):
    target = tiny_store / "t" / "knn-stats-s0" / "anomaly_score_valve_id_02.csv.gz"
    text = gzip.decompress(target.read_bytes()).decode().replace(",", ",1", 1)
    target.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(store.StoreError, match="differs from the digest"):
        store.load("t")


def test_a_clip_list_that_does_not_fit_the_data_is_refused(tiny_store):
    from asdlib import data, synth

    df = data.index(synth.ensure("dcase2020", scale="tiny"))
    missing_one = df.drop(index=df[(df["split"] == "test") & (df["machine_type"] == "fan")].index[0])
    with pytest.raises(store.StoreError, match="the stored clip list differs from the test clips"):
        store.load("t", missing_one)


def test_recompute_gives_the_stored_scores(tiny_store):
    res = store.recompute("t", "contrastive-n4-s0")
    assert res == {"run": "t/contrastive-n4-s0", "clips": 24, "max_abs_diff": 0.0, "identical": True,
                   "same_data": True}


def test_the_books_plan_has_the_asked_scale():
    runs = store.plan()
    ids = {(r.experiment, r.run_id) for r in runs}
    assert len(ids) == len(runs), "two planned runs share a folder"
    main = [r for r in store.EXPERIMENTS["dcase2020"] if r.method not in store.TRAINING_FREE]
    assert {r.n_train for r in main} == {128}
    assert all(len({r.seed for r in main if r.method == m}) >= 5 for m in {r.method for r in main})
    curve = {r.n_train for r in store.EXPERIMENTS["learning-curve"]}
    assert max(curve) == 256 and 128 not in curve  # 128 is the dcase2020 experiment
    assert all(len({r.seed for r in store.EXPERIMENTS["ablations"] if r.label == lab}) == 3
               for lab in {r.label for r in store.EXPERIMENTS["ablations"]})
    for exp, run_id in store.RECOMPUTE_SAMPLE:
        assert store.find_run(exp, run_id).experiment == exp


def test_the_check_command_fails_on_a_stale_store(tiny_store, monkeypatch, capsys):
    from asdlib import cli

    assert cli.main(["experiments", "--check"]) == 0
    assert "2 runs current" in capsys.readouterr().out
    monkeypatch.setattr(store, "code_fingerprint", lambda *a, **k: "0" * 16)
    assert cli.main(["experiments", "--check"]) == 1
    assert "stored results are stale: run make experiments (2 of 2 runs)" in capsys.readouterr().err


# --------------------------------------------------------------------------- training length (store)
def test_flattening_epoch_by_hand() -> None:
    """Trailing 5-epoch means, plateau within 10 % of the gain of the best, 5 epochs to confirm it."""
    from asdlib.store import flattening_epoch

    # smoothed (epochs i..i+4): 6.3, 8.34, 9.14, 9.48, 9.6, ..., best 9.66: gain 3.36; within 0.336 of
    # the best from the window of epochs 3-7 on, so the plateau is reached at epoch 7; 7 epochs follow
    curve = [0, 5, 8, 9, 9.5, 9.6, 9.6, 9.7, 9.6, 9.7, 9.6, 9.7, 9.7, 9.6, 9.7]
    flat = flattening_epoch(curve)
    assert flat["epoch"] == 7 and flat["flattened"] and flat["epochs"] == 15
    assert flat["gain"] == pytest.approx(9.66 - 6.3)
    # a curve still rising at its end has not flattened; its plateau is its last epoch
    rising = flattening_epoch(list(range(12)))
    assert rising["epoch"] == 11 and not rising["flattened"] and rising["gain"] == pytest.approx(7.0)
    # an error curve: lower is better
    err = flattening_epoch([3, 2, 1, .5, .4, .4, .4, .4, .4, .4, .4, .4, .4], higher_is_better=False)
    assert err["epoch"] == 7 and err["flattened"]
    # a curve that never improves counts as flat (no gain), at the first full window
    flat0 = flattening_epoch([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
    assert flat0["gain"] <= 0 and flat0["flattened"] and flat0["epoch"] == 4
    for bad, why in (([1.0, float("nan")] * 3, "finite"), ([1, 2, 3], "shorter than the window")):
        with pytest.raises(ValueError, match=why):
            flattening_epoch(bad)


def test_provenance_says_whether_each_validation_curve_flattened() -> None:
    """val_flattened: per run directory with a val_margin curve, by store.flattening_epoch."""
    plateau = [0, 5, 8, 9, 9.5, 9.6, 9.6, 9.7, 9.6, 9.7, 9.6, 9.7, 9.7, 9.6, 9.7]
    sel = {"all": {"history": {"val_margin": plateau}}, "fan": {"history": {"val_margin": list(range(12))}},
           "pump": {"history": {"val_margin": [5, 4, 3, 2, 1, 0]}}, "ae": {"history": {"loss": [3, 2, 1]}}}
    assert store._flattened(sel) == "yes (epoch 7), no, no gain"
    assert store._flattened({}) == "-"
    prov = store.provenance("dcase2020")
    trained = prov[prov["method"].isin(["contrastive", "contrastive-hf"])]
    assert set(prov.loc[prov["method"] == "ae", "val_flattened"]) == {"-"}  # no held-out clips: no curve
    assert trained["val_flattened"].str.fullmatch(r"no|no gain|yes \(epoch \d+\)").all()
