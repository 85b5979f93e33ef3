"""Issue 9 items 3 and 8: the shared encoder (outlier exposure over every machine type x unit),
per-(type, unit) scoring, the epoch chosen on held-out normal training clips, the ``dcase`` preset."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from asdlib import methods, selection, synth
from asdlib.cli import main
from asdlib.data import index, select
from asdlib.pipeline import load_run, run_pipeline, score, score_against_memory
from asdlib.scoring import make_scorer
from asdlib.selection import validation_criterion, validation_per_clip, validation_split
from asdlib.train import TrainingError, train

FAST = dict(epochs=2, batch_size=16, segments_per_clip=2, width=8, depth=2, emb_dim=32, proj_dim=16)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)


# ------------------------------------------------------------------ settings
def test_encoder_and_selection_defaults_and_checks():
    c = methods.method_config("contrastive")
    assert (c.encoder, c.select_epoch, c.val_fraction, c.patience) == ("shared", "val", 0.1, 0)
    a = methods.method_config("ae")
    assert (a.encoder, a.select_epoch) == ("per-type", "last")
    assert methods.method_config("knn-stats").encoder == "per-type"
    assert methods.method_config("ae").key() == methods.method_config("ae").key()
    assert methods.method_config("contrastive", encoder="per-type").key() != c.key()
    for setting, value, message in [
        ("encoder", "global", "unknown encoder 'global'; choose one of shared, per-type"),
        ("select_epoch", "best", "unknown select_epoch 'best'"),
        ("val_fraction", 0.9, "setting val_fraction must be a number >= 0 and <= 0.5"),
        ("val_fraction", 0.0, "select_epoch='val' needs held-out clips: val_fraction must be > 0"),
        ("patience", -1, "setting patience must be an integer >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            methods.method_config("contrastive", **{setting: value})
    with pytest.raises(ValueError, match="patience=3 stops on the validation criterion"):
        methods.method_config("contrastive", select_epoch="last", patience=3)
    with pytest.raises(ValueError, match="method 'ae' trains one model per machine type"):
        methods.method_config("ae", encoder="shared")
    with pytest.raises(ValueError, match="method 'knn-stats' keeps its last epoch"):
        methods.method_config("knn-stats", select_epoch="val")


# ------------------------------------------------------------------ shared encoder
def test_shared_encoder_classes_are_every_type_unit_pair(tiny2020, tmp_path):
    df = index(tiny2020)
    res = train(df, "all", methods.method_config("contrastive", loss="arcface", **FAST), tmp_path / "run",
                progress=False)
    tr = df[(df.split == "train") & (df.label == "normal")]
    pairs = sorted({f"{t}/{u}" for t, u in zip(tr.machine_type, tr.unit)})
    assert pairs == ["fan/id_00", "fan/id_02", "valve/id_00", "valve/id_02"]  # unit names repeat across types
    meta = json.loads((res.run_dir / "config.json").read_text())
    assert meta["classes"] == pairs
    assert meta["data"]["machine_type"] == "all" and meta["data"]["machine_types"] == ["fan", "valve"]
    run = load_run(res.run_dir)
    assert run["models"]["head"].weight.shape[0] == len(pairs)  # one ArcFace class per (type, unit)
    mem = np.load(res.run_dir / "memory.npz")
    assert sorted(zip(mem["types"], mem["paths"])) == sorted(zip(tr.machine_type, tr.path))
    with pytest.raises(ValueError, match="encoder='per-type' trains one encoder per machine type"):
        train(df, "all", methods.method_config("contrastive", encoder="per-type", **FAST), tmp_path / "b",
              progress=False)
    with pytest.raises(ValueError, match="method 'ae' trains one model per machine type"):
        train(df, ["fan", "valve"], methods.method_config("ae", epochs=1), tmp_path / "c", progress=False)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_scoring_keys_machine_type_and_unit():
    """Hand-made: fan/id_00 and pump/id_00 share a unit name; each clip meets only its own type's memory."""
    memory = {"emb": np.array([[0.0, 0.0], [10.0, 0.0]]), "types": np.array(["fan", "pump"]),
              "units": np.array(["id_00", "id_00"]), "domains": np.array(["source", "source"])}
    test = np.array([[9.0, 0.0], [9.0, 0.0], [1.0, 0.0]])
    got = score_against_memory(make_scorer("knn", k=1, metric="euclidean"), memory, test,
                               ["fan", "pump", "pump"], ["id_00", "id_00", "id_00"])
    assert got == pytest.approx([9.0, 1.0, 9.0])  # keyed by unit alone, the first would be 1.0
    with pytest.raises(ValueError, match="valve/id_00"):
        score_against_memory(make_scorer("knn", k=1, metric="euclidean"), memory, test[:1], ["valve"], ["id_00"])


def test_run_pipeline_trains_once_and_scores_every_type(tiny2020, tmp_path):
    df = index(tiny2020)
    out = tmp_path / "out"
    res = run_pipeline(df, "contrastive", out, progress=False, **FAST)
    assert (out / "_shared" / "model.pt").exists() and not (out / "fan").exists() and not (out / "valve").exists()
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["path", "layout", "machine_type", "unit", "domain", "label", "score"]
    test = df[df.split == "test"]
    assert sorted(scores["path"]) == sorted(test["path"])
    assert {"fan", "valve"} <= set(res[res.unit == "mean"]["machine_type"])
    # the per-(type, unit) memory, recomputed by hand: cosine 1-NN distance to the same type and unit
    mem = np.load(out / "_shared" / "memory.npz")
    run = load_run(out / "valve")  # a <folder>/<type> path finds the shared run
    assert run["run_dir"] == out / "_shared" and run["machine_type"] == "valve"
    from asdlib.pipeline import embed

    g = scores[(scores.machine_type == "valve") & (scores.unit == "id_00")]
    emb = embed(run, list(g["path"]))
    m = mem["emb"][(mem["types"] == "valve") & (mem["units"] == "id_00")]
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    expect = 1.0 - (unit(emb) @ unit(m).T).max(axis=1)
    assert np.allclose(g["score"].to_numpy(), expect, atol=1e-5)
    from asdlib.pipeline import load_memory

    mine = load_memory(out, "valve")  # a run_pipeline folder and a type: that type's rows of the shared memory
    assert set(mine["types"]) == {"valve"} and len(mine["emb"]) == 12
    assert np.array_equal(load_memory(out / "valve", "valve")["emb"], mine["emb"])
    assert load_run(out)["run_dir"] == out / "_shared"  # the run_pipeline folder itself
    one = score(out / "_shared", df, machine_type="fan")
    assert set(one["machine_type"]) == {"fan"}
    assert np.allclose(one["score"], scores[scores.machine_type == "fan"]["score"].to_numpy())
    again = run_pipeline(df, "contrastive", out, progress=False, **FAST)  # cached: same results
    pd.testing.assert_frame_equal(again, res)


# ------------------------------------------------------------------ validation
def test_validation_split_holds_out_training_normals_only(tiny2020):
    df = index(tiny2020)
    tr = pd.concat([select(df, t, "train") for t in ("fan", "valve")], ignore_index=True)
    held = validation_split(tr, 0.1, seed=0)
    test_paths = set(df.loc[df.split == "test", "path"])
    assert not (set(tr.loc[held, "path"]) & test_paths)
    # max(1, round(0.1 * 6)) = 1 clip of each of the 4 (type, unit) pairs
    assert tr[held].groupby(["machine_type", "unit"]).size().to_dict() == {
        ("fan", "id_00"): 1, ("fan", "id_02"): 1, ("valve", "id_00"): 1, ("valve", "id_02"): 1}
    assert (validation_split(tr, 0.1, seed=0) == held).all()  # seeded
    assert validation_split(tr, 0.5, seed=0).sum() == 12 and validation_split(tr, 0.0, seed=0).sum() == 0
    with pytest.raises(ValueError, match="normal training clips only; got .*test"):
        validation_split(df, 0.1, seed=0)


def test_validation_criterion_by_hand():
    mem = np.array([[1.0, 0.0], [0.0, 1.0]])  # class 0 along x, class 1 along y
    val = np.array([[1.0, 0.2], [1.0, 0.0]])  # both nearest to class 0; the second is labelled 1
    got = validation_criterion(val, [0, 1], mem, [0, 1])
    s = 1.0 / np.sqrt(1.04)  # cos([1, .2], [1, 0]); cos([1, .2], [0, 1]) = .2 s
    assert got["val_acc"] == 0.5
    assert got["val_margin"] == pytest.approx(((s - 0.2 * s) + (0.0 - 1.0)) / 2)
    correct, margin = validation_per_clip(val, [0, 1], mem, [0, 1])  # the per-clip values behind both means
    assert list(correct) == [True, False]
    assert margin == pytest.approx([s - 0.2 * s, 0.0 - 1.0])


def _bench_val_criterion():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_val_criterion.py"
    spec = importlib.util.spec_from_file_location("bench_val_criterion", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_split_half_reliability_tells_a_trend_from_noise():
    bench = _bench_val_criterion()
    rng = np.random.default_rng(0)
    classes = np.repeat([0, 1, 2], 20)
    epochs = np.arange(8)[:, None]
    trend = epochs * 1.0 + rng.normal(0, 0.1, (8, 60))  # every clip improves with the epoch: halves agree
    noise = rng.normal(0, 1.0, (8, 60))                   # no epoch effect: halves rank the epochs at random
    rho_t, agree_t = bench.split_half(trend, classes, 50, np.random.default_rng(1))
    rho_n, agree_n = bench.split_half(noise, classes, 50, np.random.default_rng(1))
    assert rho_t == pytest.approx(1.0) and agree_t == 1.0
    assert abs(rho_n) < 0.3 and agree_n < 0.7


def test_val_criterion_benchmark_records_every_epoch_of_a_run(tiny2020, tmp_path):
    bench = _bench_val_criterion()
    cfg = methods.method_config("contrastive", **{**FAST, "epochs": 3})
    correct, margin, classes = bench.record_epochs(index(tiny2020), cfg, tmp_path / "run")
    assert correct.shape == margin.shape == (3, 4) and len(classes) == 4  # 3 epochs x 4 held-out clips
    hist = pd.read_csv(tmp_path / "run" / "history.csv")
    assert hist["val_acc"].to_numpy() == pytest.approx(correct.mean(axis=1))
    assert hist["val_margin"].to_numpy() == pytest.approx(margin.mean(axis=1), abs=1e-6)


def test_training_never_sees_a_test_clip_and_records_the_held_out_list(tiny2020, tmp_path, loaded_paths):
    df = index(tiny2020)
    seen = loaded_paths
    res = train(df, "all", methods.method_config("contrastive", **FAST), tmp_path / "run", progress=False)
    meta = json.loads((res.run_dir / "config.json").read_text())
    test_paths = set(df.loc[df.split == "test", "path"])
    assert seen and not (set(seen) & test_paths)
    val = meta["validation"]["paths"]
    assert len(val) == 4 and not (set(val) & test_paths) and set(val) <= set(seen)
    assert meta["selection"]["n_val"] == 4 and meta["selection"]["select_epoch"] == "val"


def _scripted_criterion(values):
    """A stand-in for train._validate returning ``values[epoch]`` as (val_acc, val_margin), in epoch order."""
    calls = iter(range(10**6))

    def fake(method, feats, labels, held, dev):
        acc, margin = values[next(calls)]
        n = int(held.sum())  # every held-out clip has the epoch's margin: the two halves always agree
        return {"val_acc": acc, "val_margin": margin, "_correct": np.full(n, acc), "_margin": np.full(n, margin)}
    return fake


def test_best_epoch_is_kept_recorded_and_resumed_exactly(tiny2020, tmp_path, monkeypatch):
    """The chosen epoch's weights are the model; an interrupted run resumes to the same choice and weights."""
    import asdlib.train as tr

    df = index(tiny2020)
    cfg = methods.method_config("contrastive", **{**FAST, "epochs": 4})
    # best: epoch 2 (margin, then accuracy): epoch 1 has the higher accuracy but the lower margin,
    # epoch 3 ties epoch 2's margin with a lower accuracy
    values = [(0.5, 0.1), (1.0, 0.2), (0.75, 0.4), (0.5, 0.4)]
    weights = {}

    def keep(epoch, row):  # the encoder of every epoch, from its checkpoint
        weights[epoch] = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["models"]["encoder"]

    monkeypatch.setattr(tr, "_validate", _scripted_criterion(values))
    full = train(df, "all", cfg, tmp_path / "full", progress=False, on_epoch_end=keep)
    assert list(full.history["best_epoch"]) == [0, 1, 2, 2]
    assert list(full.history["chosen"]) == [False, False, True, False]
    assert list(full.history["val_acc"]) == [v[0] for v in values]
    meta = json.loads((tmp_path / "full" / "config.json").read_text())
    assert meta["selection"] == {"select_epoch": "val", "chosen_epoch": 2, "epochs_run": 4, "stopped_early": False,
                                 "val_acc": 0.75, "val_margin": 0.4, "n_val": 4, "best_epoch": 2,
                                 "margin_reliability": 1.0, "reliability_threshold": 0.7}
    model = torch.load(tmp_path / "full" / "model.pt", weights_only=False)
    assert model["selection"]["chosen_epoch"] == 2
    for k, v in model["models"]["encoder"].items():
        assert torch.equal(v, weights[2][k].cpu()), k
    assert not all(torch.equal(v, weights[3][k].cpu()) for k, v in model["models"]["encoder"].items())

    class Stop(Exception):
        pass

    def interrupt(epoch, row):
        if epoch == 2:
            raise Stop

    monkeypatch.setattr(tr, "_validate", _scripted_criterion(values))
    with pytest.raises(Stop):
        train(df, "all", cfg, tmp_path / "cut", progress=False, on_epoch_end=interrupt)
    monkeypatch.setattr(tr, "_validate", _scripted_criterion(values[3:]))
    resumed = train(df, "all", cfg, tmp_path / "cut", progress=False)
    assert resumed.status == "resumed"
    pd.testing.assert_frame_equal(resumed.history.drop(columns="seconds"), full.history.drop(columns="seconds"))
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=False)
    for k, v in model["models"]["encoder"].items():
        assert torch.allclose(v.float(), cut["models"]["encoder"][k].float(), atol=1e-6), k
    assert np.allclose(np.load(tmp_path / "full" / "memory.npz")["emb"], np.load(tmp_path / "cut" / "memory.npz")["emb"],
                       atol=1e-6)


def test_criterion_reliability_tells_a_reproducible_profile_from_noise():
    from asdlib.selection import criterion_reliability

    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(6), 6)  # 36 held-out clips, 6 per class (the 2020 fan + valve runs)
    epochs = np.arange(10)[:, None]
    trend = 0.01 * epochs + rng.normal(0, 0.002, (10, 36))  # every clip gains with training
    assert criterion_reliability(trend, classes, seed=0) > 0.95
    noise = rng.normal(0, 1.0, (10, 36))  # no epoch effect at all
    assert -1.0 <= criterion_reliability(noise, classes, seed=0) < 0.7
    # two clips rise, two fall (one of each per class): a split either pairs the risers against the
    # fallers (r = -1) or mixes them (flat halves, left out), so r = -1, returned as it is
    up, down = [0.0, 1.0, 2.0], [2.0, 1.0, 0.0]
    opposite = np.array([up, down, up, down]).T  # [3 epochs, 4 clips], classes 0, 0, 1, 1
    assert criterion_reliability(opposite, np.array([0, 0, 1, 1]), seed=0) == pytest.approx(-1.0)
    assert criterion_reliability(noise, classes, seed=0) == criterion_reliability(noise, classes, seed=0)  # seeded
    # Spearman-Brown by hand: identical halves give r = 1, hence 2 * 1 / (1 + 1) = 1
    assert criterion_reliability(np.repeat(np.arange(5.0)[:, None], 8, axis=1), np.zeros(8), seed=1) == pytest.approx(1.0)
    assert np.isnan(criterion_reliability(trend[:2], classes))  # two epochs: nothing to rank
    assert np.isnan(criterion_reliability(np.ones((5, 8)), np.zeros(8)))  # a flat profile: no split varies
    with pytest.raises(ValueError, match=r"\[epochs, clips\].*shape \(10, 36\) and 5 classes"):
        criterion_reliability(trend, classes[:5])


def test_an_unreliable_margin_keeps_the_last_epoch_and_the_run_records_why(tiny2020, tmp_path, monkeypatch):
    import asdlib.train as tr

    df = index(tiny2020)
    noise = np.random.default_rng(3).normal(0, 1.0, (4, 4))  # 4 epochs x 4 held-out clips, no epoch effect
    calls = iter(range(4))

    def noisy(method, feats, labels, held, dev):
        m = noise[next(calls)]
        return {"val_acc": 0.5, "val_margin": float(m.mean()), "_correct": np.full(4, 0.5), "_margin": m}

    monkeypatch.setattr(tr, "_validate", noisy)
    res = train(df, "all", methods.method_config("contrastive", **{**FAST, "epochs": 4}), tmp_path / "r",
                progress=False)
    best = int(np.argmax(noise.mean(axis=1)))
    saved = np.load(tmp_path / "r" / "validation.npz")
    assert saved["margin"] == pytest.approx(noise) and saved["correct"].shape == (4, 4)
    assert list(saved["epochs"]) == [0, 1, 2, 3] and len(saved["paths"]) == 4
    reliability = selection.criterion_reliability(noise, saved["classes"], seed=0)
    assert best != 3 and reliability < 0.7  # the data of this test: the best margin is not the last epoch's
    sel = json.loads((tmp_path / "r" / "config.json").read_text())["selection"]
    assert sel["best_epoch"] == best and sel["chosen_epoch"] == 3
    assert sel["margin_reliability"] == pytest.approx(reliability, abs=1e-6) and sel["reliability_threshold"] == 0.7
    assert list(res.history["chosen"]) == [False, False, False, True]


def test_patience_stops_early_and_last_keeps_the_last_epoch(tiny2020, tmp_path, monkeypatch):
    import asdlib.train as tr

    df = index(tiny2020)
    values = [(0.5, 0.1), (1.0, 0.2), (0.5, 0.1), (0.5, 0.1), (0.5, 0.1), (0.5, 0.1)]
    monkeypatch.setattr(tr, "_validate", _scripted_criterion(values))
    res = train(df, "all", methods.method_config("contrastive", **{**FAST, "epochs": 6, "patience": 2}),
                tmp_path / "p", progress=False)
    assert list(res.history["epoch"]) == [0, 1, 2, 3]  # epochs 2 and 3 did not beat epoch 1
    sel = json.loads((tmp_path / "p" / "config.json").read_text())["selection"]
    assert sel["stopped_early"] and sel["chosen_epoch"] == 1 and sel["epochs_run"] == 4
    monkeypatch.setattr(tr, "_validate", _scripted_criterion(values))
    last = train(df, "all", methods.method_config("contrastive", **{**FAST, "epochs": 3, "select_epoch": "last"}),
                 tmp_path / "l", progress=False)
    assert list(last.history["chosen"]) == [False, False, True] and list(last.history["best_epoch"]) == [0, 1, 1]
    none = train(df, "all", methods.method_config("contrastive", **{**FAST, "select_epoch": "last",
                                                                      "val_fraction": 0.0}), tmp_path / "n",
                 progress=False)
    assert "val_acc" not in none.history and "validation" not in json.loads((tmp_path / "n" / "config.json").read_text())


def test_validation_needs_two_classes(tmp_path):
    root = tmp_path / "d"
    synth.generate(root, layout="dcase2020", scale="tiny", machines=["fan"], seed=1)
    df = index(root)
    df = df[df.unit == "id_00"]
    with pytest.raises(TrainingError, match="one class \\(fan/id_00\\): use select_epoch='last'"):
        train(df, "fan", methods.method_config("contrastive", **{**FAST, "batch_size": 4}), tmp_path / "r",
              progress=False)
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ preset
def test_dcase_preset_resolves():
    cfg = methods.preset("dcase")
    assert (cfg.method, cfg.encoder, cfg.select_epoch) == ("contrastive-hf", "shared", "val")
    assert (cfg.frontend.n_mels, cfg.width, cfg.batch_size, cfg.epochs) == (128, 64, 64, 64)
    assert methods.preset("dcase", method="contrastive", epochs=2).epochs == 2
    with pytest.raises(ValueError, match="unknown preset 'huge'; choose one of dcase"):
        methods.preset("huge")
    with pytest.raises(ValueError, match="method 'ae' is not one of contrastive, contrastive-hf"):
        methods.preset("dcase", method="ae")


def test_dcase_preset_trains_on_tiny_data_from_the_command_line(tiny2020, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "--data", str(tiny2020), "--preset", "dcase", "--out", str(out), "--quiet",
                 "--set", "epochs=1"]) == 0
    assert "results:" in capsys.readouterr().out
    meta = json.loads((out / "_shared" / "config.json").read_text())
    assert meta["config"]["width"] == 64 and meta["config"]["frontend"]["n_mels"] == 128
    assert meta["config"]["epochs"] == 1 and meta["classes"] == ["fan/id_00", "fan/id_02", "valve/id_00", "valve/id_02"]
    assert len(pd.read_csv(out / "scores.csv")) == 24


def test_cli_train_all_then_score(tiny2020, tmp_path, capsys):
    run = tmp_path / "run"
    fast = [x for k, v in FAST.items() if k != "epochs" for x in ("--set", f"{k}={v}")]
    assert main(["train", "--data", str(tiny2020), "--machine", "all", "--method", "contrastive", "--out", str(run),
                 "--epochs", "1", "--quiet", *fast]) == 0
    assert "kept epoch 0 (val)" in capsys.readouterr().out
    assert main(["score", "--run", str(run), "--data", str(tiny2020), "--out", str(tmp_path / "s.csv")]) == 0
    s = pd.read_csv(tmp_path / "s.csv")
    assert set(s["machine_type"]) == {"fan", "valve"} and len(s) == 24
    assert main(["train", "--data", str(tiny2020), "--machine", "all", "--method", "ae", "--out",
                 str(tmp_path / "ae"), "--epochs", "1", "--quiet"]) == 2
    assert "method 'ae' trains one model per machine type" in capsys.readouterr().err
    assert main(["run", "--data", str(tiny2020), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "give --method (or --preset)" in capsys.readouterr().err


def test_compare_widths_uses_the_validation_criterion_only(tiny2020, tmp_path, monkeypatch, loaded_paths):
    import asdlib.train as tr
    from asdlib.pipeline import compare_widths

    df = index(tiny2020)
    seen = loaded_paths

    def by_width(method, feats, labels, held, dev):  # a wider encoder separates units better
        n = int(held.sum())
        return {"val_acc": 1.0, "val_margin": method.cfg.width / 100, "_correct": np.ones(n),
                "_margin": np.full(n, method.cfg.width / 100)}

    monkeypatch.setattr(tr, "_validate", by_width)
    table = compare_widths(df, "contrastive", [4, 8], tmp_path / "w", **{**FAST, "epochs": 1})
    assert list(table["width"]) == [4, 8] and list(table["machine_type"]) == ["all", "all"]
    assert list(table["val_margin"]) == pytest.approx([0.04, 0.08]) and list(table["best"]) == [False, True]
    assert not (set(seen) & set(df.loc[df.split == "test", "path"]))
    with pytest.raises(ValueError, match="needs select_epoch='val'"):
        compare_widths(df, "contrastive", [4], tmp_path / "x", select_epoch="last")


def test_dcase_submission_of_a_shared_run_has_one_threshold_per_type(tmp_path, capsys):
    from asdlib.submission import fit_decision_threshold

    data = tmp_path / "d"
    synth.generate(data, layout="dcase2022", scale="tiny", machines=["bearing", "valve"], seed=1)
    run = tmp_path / "run"
    fast = [x for k, v in FAST.items() if k != "epochs" for x in ("--set", f"{k}={v}")]
    assert main(["train", "--data", str(data), "--machine", "all", "--method", "contrastive", "--out", str(run),
                 "--epochs", "1", "--quiet", *fast]) == 0
    capsys.readouterr()
    assert main(["score", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "sub"),
                 "--format", "dcase"]) == 0
    said = capsys.readouterr().out
    tr = score(run, index(data), split="train")
    for mt, g in tr.groupby("machine_type"):  # each type's threshold from its own training clips' scores
        assert f"{mt} {fit_decision_threshold(g['score'], 0.9):.6g}" in said
    assert {p.name.split("_")[2] for p in (tmp_path / "sub").glob("decision_result_*.csv")} == {"bearing", "valve"}


def test_per_type_pipeline_folder_keeps_one_run_per_type(tiny2020, tmp_path):
    from asdlib.pipeline import RunConfigError

    out = tmp_path / "out"
    run_pipeline(tiny2020, "knn-stats", out, progress=False)
    assert (out / "fan" / "model.pt").exists() and (out / "valve" / "model.pt").exists()
    assert not (out / "_shared").exists()
    assert load_run(out, "valve")["run_dir"] == out / "valve"
    with pytest.raises(RunConfigError, match="run_pipeline folder of per-type runs \\(fan, valve\\)"):
        load_run(out)
