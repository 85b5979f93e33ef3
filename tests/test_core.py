"""The small shared homes: settings (ASD_* variables), dcase vocabulary, files (lock, atomic writes),
methods (MethodConfig checks), data.select / fingerprint / format_attributes, pipeline helpers."""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from asdlib import dcase, files, methods, settings
from asdlib.data import format_attributes, index, parse_attributes, select


# ------------------------------------------------------------------ settings
def test_settings_defaults_and_overrides(monkeypatch, tmp_path):
    for name in settings.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert settings.data_choice() == "synthetic" and settings.synth_scale() == "book"
    assert settings.cache_dir() == Path.home() / ".cache" / "asdlib"
    assert settings.zenodo_url() == "https://zenodo.org" and settings.samples_dir() is None
    monkeypatch.setenv("ASD_CACHE", str(tmp_path))
    monkeypatch.setenv("ASD_ZENODO_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("ASD_DATA", " REAL ")
    assert settings.cache_dir() == tmp_path and settings.zenodo_url() == "http://127.0.0.1:9"
    assert settings.data_choice() == "real"
    monkeypatch.setenv("ASD_DATA", "both")
    with pytest.raises(ValueError, match="ASD_DATA='both'"):
        settings.data_choice()
    monkeypatch.setenv("ASD_SYNTH_SCALE", "huge")
    with pytest.raises(ValueError, match="ASD_SYNTH_SCALE='huge'"):
        settings.synth_scale()


def test_dcase_vocabulary():
    assert dcase.MACHINE_TYPES["dcase2020"][0] == "fan" and len(dcase.MACHINE_TYPES["dcase2022"]) == 7
    assert dcase.check_layout("dcase2022") == "dcase2022"
    with pytest.raises(ValueError, match="layout must be one of dcase2020, dcase2022, dcase2023, dcase2024, "
                                         "dcase2025, dcase2026, got 'dcase2021'"):
        dcase.check_layout("dcase2021")
    with pytest.raises(ValueError, match="layout must be one of dcase2020, got 'dcase2022'"):
        dcase.check_layout("dcase2022", allowed=("dcase2020",))


# ------------------------------------------------------------------ files
def _hold(path, ready, release):
    with files.locked(path):
        ready.set()
        release.wait(10)


def test_lock_is_exclusive_across_processes_and_released(tmp_path):
    path = tmp_path / "x.lock"
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(path, ready, release))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(files.LockedError, match=rf"x.lock is held by pid {proc.pid}"):
            with files.locked(path, timeout=0.2):
                pass
    finally:
        release.set()
        proc.join(30)
    with files.locked(path, timeout=1):  # free again once the holder ended
        pass
    assert not path.exists()


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    files.write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


# ------------------------------------------------------------------ methods
@pytest.mark.parametrize("setting, value, message", [
    ("epochs", 0, "setting epochs must be an integer >= 1, got 0"),
    ("epochs", 2.0, "setting epochs must be an integer >= 1, got 2.0"),
    ("seed", -1, "setting seed must be an integer >= 0"),
    ("batch_size", 1, "setting batch_size must be an integer >= 2"),
    ("lr", "abc", "setting lr must be a positive finite number, got 'abc'"),
    ("lr", float("inf"), "setting lr must be a positive finite number"),
    ("mixup_ratio", 1.5, "setting mixup_ratio must be a number >= 0 and <= 1"),
    ("hf_cutoff_hz", 9000.0, "setting hf_cutoff_hz must be a number > 0 and <= 8000"),
    ("hf_band", "mid", "unknown hf_band 'mid'; choose one of high, low"),
    ("hf_mode", "blur", "unknown hf_mode 'blur'"),
    ("scorer", "bogus", "unknown scorer 'bogus'"),
    ("loss", "triplet", "unknown loss 'triplet'"),
    ("resize_crop", "yes", "setting resize_crop must be true or false"),
    ("n_mels", 0, "setting n_mels: FrontEndConfig.n_mels must be a positive int"),
])
def test_every_setting_is_checked_at_construction(setting, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        methods.method_config("contrastive-hf", **{setting: value})


def test_front_end_settings_go_into_the_one_front_end():
    cfg = methods.method_config("ae", n_mels=128, hop_length=256)
    assert cfg.frontend.n_mels == 128 and cfg.frontend.hop_length == 256
    assert methods.method_for(cfg).build(1).models["ae"].input_dim == 128 * cfg.ae_frames
    assert methods.method_config("ae").epochs == methods.DEFAULT_EPOCHS["ae"]
    again = methods.MethodConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.key() == cfg.key()
    assert methods.method_config("ae", n_mels=128).key() != methods.method_config("ae").key()


# ------------------------------------------------------------------ data helpers
def test_format_attributes_inverts_parse_attributes():
    for text in ("vel_8_loc_A", "", "noise_1_2"):
        assert format_attributes(parse_attributes(text)) == text
    assert format_attributes({"vel": "8", "loc": "A"}) == "vel_8_loc_A"


def test_select_keeps_normal_training_clips(tmp_path, monkeypatch):
    from asdlib import synth

    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "d"
    synth.generate(root, layout="dcase2020", scale="tiny", machines=["fan"], seed=1)
    df = index(root)
    df.loc[df.index[0], "label"] = "anomaly"  # a labelled anomaly in train must not be trained on
    tr = select(df, "fan", "train")
    assert len(tr) == int(((df.split == "train") & (df.label == "normal")).sum())
    with pytest.raises(ValueError, match="'pump' is not in the data; found: fan"):
        select(df, "pump", "test")


def test_pipeline_embed_is_the_scoring_path(tmp_path, monkeypatch):
    """pipeline.embed gives exactly the embeddings that the k-NN memory of a run holds for its training clips."""
    from asdlib import synth
    from asdlib.pipeline import embed, histories, load_run
    from asdlib.train import train

    torch.set_num_threads(1)
    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "d"
    synth.generate(root, layout="dcase2020", scale="tiny", machines=["fan"], seed=1)
    df = index(root)
    cfg = methods.method_config("contrastive", epochs=1, batch_size=16, segments_per_clip=2, width=8, depth=2,
                                emb_dim=32, proj_dim=16)
    out = tmp_path / "runs"
    train(df, "fan", cfg, out / "fan", progress=False)
    mem = np.load(out / "fan" / "memory.npz")
    emb = embed(load_run(out / "fan"), list(mem["paths"]))
    assert np.allclose(emb, mem["emb"], atol=1e-6)
    h = histories(out)
    assert list(h.columns) == ["epoch", "loss", "steps", "seconds", "val_acc", "val_margin", "best_epoch", "chosen",
                               "machine_type"] and (h["steps"] > 0).all()
    assert h["chosen"].sum() == 1 and (h["machine_type"] == "fan").all()


@pytest.mark.parametrize("method", ["knn-stats", "gmm-stats"])
def test_training_free_references_run_end_to_end(tmp_path, monkeypatch, method):
    """knn-stats is exactly 1-NN (Euclidean) on per-clip mean log-mels of the same unit's normal training clips."""
    import pandas as pd
    from sklearn.neighbors import NearestNeighbors

    from asdlib import synth
    from asdlib.features import load_features
    from asdlib.pipeline import run_pipeline

    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "d"
    synth.generate(root, layout="dcase2020", scale="tiny", machines=["fan"], seed=1)
    res = run_pipeline(root, method, tmp_path / "out", progress=False)
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert methods.method_config(method).frontend.n_mels == 128
    assert not (tmp_path / "out" / "fan" / "checkpoint.pt").exists()
    if method == "knn-stats":
        df = index(root)
        fe = methods.method_config(method).frontend
        for unit, g in scores.groupby("unit"):
            tr = select(df, "fan", "train")
            tr = tr[tr["unit"] == unit]
            mem = np.stack([f.mean(axis=1) for f in load_features(list(tr["path"]), fe)])
            te = np.stack([f.mean(axis=1) for f in load_features(list(g["path"]), fe)])
            expect = NearestNeighbors(n_neighbors=1).fit(mem).kneighbors(te)[0][:, 0]
            assert np.allclose(g["score"].to_numpy(), expect, rtol=1e-4)
    assert set(res["method"]) == {method} and (res["unit"] == "mean").any()
