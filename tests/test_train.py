"""Training loop, checkpoints, resume, bad input and the end-to-end pipeline (tiny synthetic data)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn.metrics import roc_auc_score

from asdlib import metrics, synth
from asdlib.data import index
from asdlib.methods import MethodConfig, method_config
from asdlib.pipeline import load_run, run_pipeline, score
from asdlib.train import RunConfigError, TrainingError, pick_device, train

FAST = dict(epochs=2, batch_size=16, segments_per_clip=2, width=8, depth=2, emb_dim=32, proj_dim=16)


@pytest.fixture(scope="module")
def tiny2022(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "d2022"
    synth.generate(root, layout="dcase2022", scale="tiny", machines=["bearing"], seed=1)
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)


def test_unknown_method_and_setting():
    with pytest.raises(ValueError, match="unknown method 'foo'"):
        MethodConfig(method="foo")
    with pytest.raises(ValueError, match="unknown setting"):
        method_config("contrastive", learning_rate=1)


def test_config_key_ignores_irrelevant_settings():
    a = method_config("contrastive", hf_cutoff_hz=1000)
    b = method_config("contrastive", hf_cutoff_hz=4000)
    assert a.key() == b.key()  # no HF augmentation in "contrastive"
    c = method_config("contrastive-hf", hf_cutoff_hz=1000)
    d = method_config("contrastive-hf", hf_cutoff_hz=4000)
    assert c.key() != d.key()


@pytest.mark.parametrize("loss", ["ntxent", "arcface", "adacos"])
def test_other_losses_train(tiny2020, tmp_path, loss):
    res = train(index(tiny2020), "fan", method_config("contrastive-hf", loss=loss, **FAST), tmp_path / loss,
                progress=False)
    assert np.isfinite(res.history["loss"]).all()
    assert np.load(res.run_dir / "memory.npz")["emb"].shape[1] == FAST["emb_dim"]
    with pytest.raises(ValueError, match="unknown loss 'triplet'"):
        method_config("contrastive", loss="triplet")


@pytest.mark.parametrize("loss", ["supcon", "arcface"])
def test_bfloat16_training_keeps_float32_weights_and_is_recorded(tiny2020, tmp_path, loss):
    cfg = method_config("contrastive-hf", precision="bfloat16", loss=loss, **FAST)
    assert cfg.key() != method_config("contrastive-hf", loss=loss, **FAST).key()  # a different run
    res = train(index(tiny2020), "fan", cfg, tmp_path / loss, progress=False)
    assert np.isfinite(res.history["loss"]).all()
    saved = json.loads((res.run_dir / "config.json").read_text())
    assert saved["config"]["precision"] == "bfloat16"
    state = torch.load(res.run_dir / "model.pt", weights_only=False)["models"]["encoder"]
    assert all(t.dtype in (torch.float32, torch.int64) for t in state.values())  # mixed precision, float32 weights
    with pytest.raises(ValueError, match="precision"):
        method_config("contrastive", precision="fp8")
    with pytest.raises(ValueError, match="precision='bfloat16': method 'ae' trains in float32"):
        method_config("ae", precision="bfloat16")


def test_stem_batch_statistics_stay_float32_under_bfloat16_autocast():
    from asdlib.models import Encoder

    torch.manual_seed(0)
    enc, ref = Encoder(n_mels=32, width=4, depth=2, emb_dim=8), Encoder(n_mels=32, width=4, depth=2, emb_dim=8)
    ref.load_state_dict(enc.state_dict())
    x = torch.randn(6, 1, 32, 16) * 12.0 - 40.0  # dB-like offset: bfloat16 statistics would be off by far more
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc.stem_forward(x)
    ref.stem_forward(x)
    assert out.dtype == torch.bfloat16
    assert torch.allclose(enc.stem[1].running_mean, ref.stem[1].running_mean, rtol=1e-6, atol=1e-6)
    assert torch.allclose(enc.stem[1].running_var, ref.stem[1].running_var, rtol=1e-6)


def test_pick_device_cpu_and_bad_request():
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")


def test_training_sees_only_normal_train_clips(tiny2020, tmp_path):
    df = index(tiny2020)
    res = train(df, "fan", method_config("contrastive", **FAST), tmp_path / "run", progress=False)
    meta = json.loads((res.run_dir / "config.json").read_text())
    expected = df[(df.machine_type == "fan") & (df.split == "train") & (df.label == "normal")]
    assert meta["data"]["n_train"] == len(expected)
    mem = np.load(res.run_dir / "memory.npz")
    assert set(mem["paths"]) == set(expected["path"])
    assert len(res.history) == 2 and np.isfinite(res.history["loss"]).all()


def test_resume_after_interruption_matches_uninterrupted(tiny2020, tmp_path):
    df = index(tiny2020)
    cfg = method_config("contrastive-hf", **{**FAST, "epochs": 3})
    full = train(df, "fan", cfg, tmp_path / "full", progress=False)

    class Stop(Exception):
        pass

    def interrupt(epoch, row):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train(df, "fan", cfg, tmp_path / "cut", progress=False, on_epoch_end=interrupt)
    assert (tmp_path / "cut" / "checkpoint.pt").exists() and not (tmp_path / "cut" / "model.pt").exists()
    seen = []
    resumed = train(df, "fan", cfg, tmp_path / "cut", progress=False, on_epoch_end=lambda e, r: seen.append(e))
    assert resumed.status == "resumed"
    assert seen == [2]  # only the missing epoch ran
    assert list(resumed.history["epoch"]) == [0, 1, 2]
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=False)["models"]["encoder"]
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=False)["models"]["encoder"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    # the epoch chosen on held-out normal clips, its criterion curve and the held-out list are the same
    assert {"val_acc", "val_margin", "best_epoch", "chosen"} <= set(full.history.columns)
    pd.testing.assert_frame_equal(resumed.history.drop(columns="seconds"), full.history.drop(columns="seconds"),
                                  check_exact=False, atol=1e-6)
    meta_full = json.loads((tmp_path / "full" / "config.json").read_text())
    meta_cut = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert meta_cut["validation"] == meta_full["validation"] and len(meta_full["validation"]["paths"]) == 2
    sel_full, sel_cut = meta_full["selection"], meta_cut["selection"]
    assert sel_cut["chosen_epoch"] == sel_full["chosen_epoch"] == int(full.history.loc[full.history["chosen"], "epoch"].iloc[0])
    assert sel_cut["val_acc"] == pytest.approx(sel_full["val_acc"]) and sel_full["epochs_run"] == 3
    again = train(df, "fan", cfg, tmp_path / "cut", progress=False)
    assert again.status == "cached"


def test_run_dir_of_another_configuration_is_refused(tiny2020, tmp_path):
    df = index(tiny2020)
    train(df, "fan", method_config("ae", epochs=1), tmp_path / "run", progress=False)
    with pytest.raises(RunConfigError, match="another config_key.*epochs=1->2"):
        train(df, "fan", method_config("ae", epochs=2), tmp_path / "run", progress=False)
    res = train(df, "fan", method_config("ae", epochs=2), tmp_path / "run", progress=False, force=True)
    assert res.status == "trained" and len(res.history) == 2


def test_non_run_directory_not_overwritten(tiny2020, tmp_path):
    (tmp_path / "run").mkdir()
    keep = tmp_path / "run" / "notes.txt"
    keep.write_text("mine")
    with pytest.raises(RunConfigError, match="not an asdlib run directory"):
        train(index(tiny2020), "fan", method_config("ae", epochs=1), tmp_path / "run", progress=False)
    assert keep.read_text() == "mine"


def test_checkpoint_from_another_version_is_refused(tiny2020, tmp_path):
    df = index(tiny2020)
    cfg = method_config("ae", epochs=2)

    def stop(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(df, "fan", cfg, tmp_path / "run", progress=False, on_epoch_end=stop)
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    ck["asdlib"] = "0.0.1"
    torch.save(ck, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(RunConfigError, match="written by asdlib 0.0.1"):
        train(df, "fan", cfg, tmp_path / "run", progress=False)


def test_broken_features_and_nan_loss_are_refused(tiny2020, tmp_path, monkeypatch):
    import asdlib.losses
    import asdlib.train as tr

    real = tr.load_features

    def broken(paths, frontend, **kw):  # one clip with a non-finite feature value
        feats = real(paths, frontend, **kw)
        feats[1] = feats[1].copy()
        feats[1][0, 0] = np.nan
        return feats

    with monkeypatch.context() as m:
        m.setattr(tr, "load_features", broken)
        with pytest.raises(TrainingError, match="features of .*normal_id_.*wav contain NaN"):
            train(index(tiny2020), "fan", method_config("ae", epochs=1), tmp_path / "a", progress=False)

    def nan_loss(z, labels, temperature=0.1):  # a diverging loss
        return z.sum() * float("nan")

    monkeypatch.setattr(asdlib.losses, "supcon", nan_loss)
    with pytest.raises(TrainingError, match="loss became nan at epoch 0, step 0"):
        train(index(tiny2020), "fan", method_config("contrastive", **FAST), tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "model.pt").exists()  # not left looking finished
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        method_config("ae", lr=float("nan"))


def test_unknown_machine_and_empty_train_split(tiny2020, tmp_path):
    df = index(tiny2020)
    with pytest.raises(ValueError, match="'pump' is not in the data; found: fan, valve"):
        train(df, "pump", method_config("ae", epochs=1), tmp_path / "a", progress=False)
    no_train = df[~((df.machine_type == "fan") & (df.split == "train"))]
    with pytest.raises(ValueError, match="no normal training clips"):
        train(no_train, "fan", method_config("ae", epochs=1), tmp_path / "b", progress=False)


def test_unfinished_run_cannot_be_scored(tiny2020, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunConfigError, match="not a trained asdlib run"):
        load_run(tmp_path / "empty")


@pytest.mark.parametrize("method", ["ae", "contrastive", "contrastive-hf"])
def test_pipeline_2020_all_methods(tiny2020, tmp_path, method):
    res = run_pipeline(tiny2020, method, tmp_path / "out", progress=False, **({"epochs": 1} if method == "ae" else FAST))
    assert (tmp_path / "out" / "results.csv").exists()
    saved = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(saved["machine_type"]) >= {"fan", "valve"}
    rows = saved[(saved.unit == "mean") & (saved.machine_type == "fan")]
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    fan = scores[scores["machine_type"] == "fan"]
    by_id = [roc_auc_score(g["label"] == "anomaly", g["score"]) for _, g in fan.groupby("unit")]
    assert len(rows) == 1 and rows["auc"].iloc[0] == pytest.approx(np.mean(by_id))  # results follow from scores
    assert {"path", "machine_type", "unit", "domain", "label", "score"} <= set(scores.columns)
    assert np.isfinite(scores["score"]).all()
    assert (scores["label"].isin(["normal", "anomaly"])).all()


def test_pipeline_2022_writes_official_score(tiny2022, tmp_path):
    res = run_pipeline(tiny2022, "contrastive-hf", tmp_path / "out", progress=False, **FAST)
    off = json.loads((tmp_path / "out" / "official_score.json").read_text())
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert off["official_score"] == pytest.approx(metrics.official_score(metrics.evaluate(scores)))
    assert set(res["domain"]) >= {"source", "target"}
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert set(scores["domain"]) == {"source", "target"}


def test_score_columns(tiny2020, tmp_path):
    df = index(tiny2020)
    train(df, "valve", method_config("ae", epochs=1), tmp_path / "run", progress=False)
    s = score(tmp_path / "run", df)
    test = df[(df.machine_type == "valve") & (df.split == "test")]
    assert len(s) == len(test)
    assert list(s.columns) == ["path", "layout", "machine_type", "unit", "domain", "label", "score"]


def test_book_run_key_changes_with_the_front_end_revision(tiny2020, monkeypatch):
    """A book run cached with older front-end code is not reused."""
    import asdlib.features as features_module
    from asdlib.store import run_key

    df = index(tiny2020)
    before = run_key(df, "contrastive", ["fan"])
    assert run_key(df, "contrastive", ["fan"]) == before
    monkeypatch.setattr(features_module, "FRONTEND_REVISION", features_module.FRONTEND_REVISION + 1)
    assert run_key(df, "contrastive", ["fan"]) != before


def test_a_run_of_the_older_format_is_refused_with_a_clear_message(tiny2020, tmp_path):
    """Format 3 runs (no memory for the autoencoder) are not read: the message says to train again."""
    df = index(tiny2020)
    res = train(df, "fan", method_config("ae", epochs=1), tmp_path / "run", progress=False)
    assert (res.run_dir / "memory.npz").exists()  # format 4: the autoencoder's training errors
    final = torch.load(res.run_dir / "model.pt", weights_only=False)
    final["format"] = 3
    torch.save(final, res.run_dir / "model.pt")
    with pytest.raises(RunConfigError, match=r"\(format 3\).*train it again"):
        score(res.run_dir, df)

