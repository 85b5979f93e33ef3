"""Tests of the synthetic stand-ins for the DCASE 2023-2026 layouts (`asdlib.synth`, docs/synthetic_data.md),
and pinned bytes of the existing 2020 / 2022 layouts. Uses the `tiny` scale only."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdlib import data, synth

NEW_LAYOUTS = ("dcase2023", "dcase2024", "dcase2025", "dcase2026")
TYPES = ("bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve")
TYPES_2026 = ("ToyCar", "ToyCarEmu", "bearingEmu", "fan", "gearboxEmu", "sliderEmu", "valveEmu")
RE_NAME = re.compile(r"^section_00_(source|target)_(train|test)_(normal|anomaly)_(\d{4})_(.+)\.wav$")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wavs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.wav"))


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, pd.DataFrame]]:
    out = {}
    for layout in NEW_LAYOUTS:
        root = tmp_path_factory.mktemp(layout) / "data"
        out[layout] = root, synth.generate(root, layout=layout, scale="tiny", seed=0, workers=1)
    return out


# --------------------------------------------------------------------------- existing layouts: pinned bytes
#: sha256 of tiny-scale seed-0 files written by the code before the 2023+ layouts existed; a stored
#: experiment depends on these bytes (a numpy / scipy change that moves them must be noticed here).
PINNED = {
    ("dcase2020", "fan/train/normal_id_00_00000000.wav"):
        "abf7da7cf21a09b4683a34298b9aa5b89dab78fbce4a5945f4e3fcda9b18d018",
    ("dcase2020", "valve/test/anomaly_id_02_00000002.wav"):
        "2e50e0e8dbc0ed1af307f7ba6a6f18f0a2a0e03f061023305b2a3ecd214d939e",
    ("dcase2022", "bearing/train/section_00_source_train_normal_0000_vel_10_loc_A.wav"):
        "2d72b36f22bca49aa2d98dd616e33e4140b92d923a5683eabe2e2f45151b0a81",
    ("dcase2022", "bearing/test/section_01_target_test_anomaly_0001_vel_18_loc_B.wav"):
        "51372b179e74514578aec9ff44ada86aa1419df1e4d59d7ba22fe5dc4d773e21",
    ("dcase2022", "bearing/attributes_00.csv"):
        "64830ef9c1730dfaa12b7a04a31fc0c1b279472cdf2403409691ad712eb866ac",
}


def test_existing_layouts_keep_their_bytes(tmp_path: Path) -> None:
    roots = {"dcase2020": synth.generate(tmp_path / "a", "dcase2020", "tiny", machines=["fan", "valve"], workers=1),
             "dcase2022": synth.generate(tmp_path / "b", "dcase2022", "tiny", machines=["bearing"], workers=1)}
    assert len(roots["dcase2020"]) == 2 * 2 * 12 and len(roots["dcase2022"]) == 3 * 15
    for (layout, rel), digest in PINNED.items():
        assert _sha(tmp_path / ("a" if layout == "dcase2020" else "b") / rel) == digest, (layout, rel)
    assert not (tmp_path / "a" / "fan" / "supplemental").exists()
    assert all(sf.info(p).channels == 1 for p in _wavs(tmp_path))


# --------------------------------------------------------------------------- first-shot layouts
def test_first_shot_counts_and_names(sets: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    expected_hidden = {"dcase2023": set(), "dcase2024": {"gearbox", "slider", "ToyTrain"},
                       "dcase2025": {"bearing", "slider", "ToyTrain"},
                       "dcase2026": {"ToyCar", "bearingEmu", "sliderEmu", "valveEmu"}}
    for layout, (root, man) in sets.items():
        types = TYPES_2026 if layout == "dcase2026" else TYPES
        assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(types)
        n_supp = 7 * 2 if layout == "dcase2025" else 0
        assert len(_wavs(root)) == len(man) == 7 * (6 + 1 + 2 * (2 + 2)) + n_supp, layout
        for mt in types:
            names = [p.name for p in (root / mt / "train").iterdir()] + [p.name for p in (root / mt / "test").iterdir()]
            parsed = [RE_NAME.match(n) for n in names]
            assert all(parsed), names
            counts = pd.Series([m.group(1, 2, 3) for m in parsed]).value_counts().to_dict()
            assert counts == {("source", "train", "normal"): 6, ("target", "train", "normal"): 1,
                              ("source", "test", "normal"): 2, ("source", "test", "anomaly"): 2,
                              ("target", "test", "normal"): 2, ("target", "test", "anomaly"): 2}, (layout, mt)
            tails = {m.group(5) for m in parsed}
            if mt in expected_hidden[layout]:
                assert tails == {"noAttribute"}, (layout, mt)
            else:
                assert "noAttribute" not in tails and len(tails) == 2, (layout, mt)  # source and target differ
    root24 = sets["dcase2024"][0]
    assert (root24 / "slider/train/section_00_source_train_normal_0000_noAttribute.wav").is_file()
    assert (root24 / "gearbox/test/section_00_target_test_anomaly_0001_noAttribute.wav").is_file()
    assert re.fullmatch(r"vel_\d+_loc_[A-H]", RE_NAME.match(
        next((root24 / "bearing/train").glob("section_00_source_train_normal_0000_*.wav")).name).group(5))
    assert re.fullmatch(r"volt_[\d.]+_wt_\d+", RE_NAME.match(
        next((sets["dcase2025"][0] / "gearbox/train").glob("section_00_source_*_0000_*.wav")).name).group(5))


def test_attribute_tables(sets: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    for layout, (root, man) in sets.items():
        hidden = synth.NO_ATTRIBUTE_TYPES[layout]
        for mt in synth.SYNTH_TYPES[layout]:
            assert sorted(p.name for p in (root / mt).glob("attributes_*.csv")) == ["attributes_00.csv"]
            csv = pd.read_csv(root / mt / "attributes_00.csv", dtype=str, keep_default_na=False)
            assert len(csv) == 15 and all((root / f).is_file() for f in csv.file_name)
            assert not any("supplemental" in f for f in csv.file_name)
            if mt in hidden:
                assert list(csv.columns) == ["file_name"]
            else:
                assert list(csv.columns[:3]) == ["file_name", "d1p", "d1v"] and len(csv.columns) % 2 == 1
                for _, row in csv.iterrows():  # the table says what the name says
                    pairs = "_".join(f"{row[f'd{j}p']}_{row[f'd{j}v']}" for j in range(1, len(csv.columns) // 2 + 1))
                    assert row.file_name.endswith(f"_{pairs}.wav")
        # the manifest keeps the hidden attributes: the first one changes from source to target
        for mt in hidden:
            g = man[(man.machine_type == mt) & (man.split != "supplemental")]
            by_domain = g.groupby("domain").attributes.unique()
            assert all(len(v) == 1 and v[0] for v in by_domain)
            assert by_domain["source"][0] != by_domain["target"][0]


def test_supplemental_2025(sets: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    root, man = sets["dcase2025"]
    for mt in TYPES:
        content = synth.SUPPLEMENTAL_CONTENT[mt]
        names = sorted(p.name for p in (root / mt / "supplemental").iterdir())
        assert names == [f"section_00_{content}_0000.wav", f"section_00_{content}_0001.wav"], mt
        for name in names:
            info = sf.info(root / mt / "supplemental" / name)
            assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_16", 32000)
            y, _ = sf.read(root / mt / "supplemental" / name)
            assert 1e-3 < np.sqrt(np.mean(y ** 2)) < 0.5
    assert synth.SUPPLEMENTAL_CONTENT == {"bearing": "machine", "fan": "noise", "gearbox": "machine",
                                          "slider": "noise", "ToyCar": "machine", "ToyTrain": "noise",
                                          "valve": "machine"}
    supp = man[man.split == "supplemental"]
    assert len(supp) == 14 and (supp.label.fillna("") == "").all() and (supp.domain.fillna("") == "").all()
    assert supp.snr_db.isna().all() and (supp.anomaly_kind == "").all()
    for layout in ("dcase2023", "dcase2024", "dcase2026"):
        assert not list(sets[layout][0].glob("*/supplemental"))


def test_index_parses_every_new_set(sets: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    for layout, (root, man) in sets.items():
        explicit = layout if layout in ("dcase2023", "dcase2024") else None  # 2023/2024 look like 2022 on disk
        df = data.index(root, layout=explicit)
        assert len(df) == len(man) and (df.layout == layout).all(), layout
        assert (df.channels == (2 if layout == "dcase2026" else 1)).all()
        assert (df.section == "section_00").all() and df.machine_type.nunique() == 7
        sub = df[~df.supplemental]
        assert sub.groupby(["split", "label"]).size().to_dict() == {
            ("test", "anomaly"): 28, ("test", "normal"): 28, ("train", "normal"): 49}
        assert sub.groupby("domain").size().to_dict() == {"source": 7 * 10, "target": 7 * 5}
        hidden = sub.machine_type.isin(synth.NO_ATTRIBUTE_TYPES[layout])
        assert (sub[hidden].attributes.map(len) == 0).all()
        assert (sub[~hidden].attributes.map(len) > 0).all()
        bearing = sub[sub.machine_type.map(synth.sound_model) == "bearing"]
        assert set(bearing.attributes.iloc[0]) in ({"vel", "loc"}, set())
        if layout == "dcase2025":
            supp = df[df.supplemental]
            assert len(supp) == 14 and (supp.split == "train").all() and supp.label.isna().all()
        else:
            assert not df.supplemental.any()
    assert (data.index(sets["dcase2024"][0]).layout == "dcase2022").all()  # without layout=: as documented
    assert (data.index(sets["dcase2023"][0], layout="dcase2024").layout == "dcase2024").all()


# --------------------------------------------------------------------------- DCASE 2026: two microphones
def _band_power(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    f = np.fft.rfftfreq(y.shape[-1], 1 / 16000)
    return (np.abs(np.fft.rfft(y, axis=-1)) ** 2)[..., (f >= lo) & (f < hi)].sum(axis=-1)


def _lag(near: np.ndarray, far: np.ndarray) -> int:
    """Delay of ``far`` behind ``near`` in samples (phase-transform cross-correlation)."""
    n = len(near)
    r = np.conj(np.fft.rfft(near, 2 * n)) * np.fft.rfft(far, 2 * n)
    return int(np.argmax(np.fft.irfft(r / (np.abs(r) + 1e-12))[:800]))


def test_2026_files_are_two_channel_and_the_far_mic_is_delayed_and_darker(
        sets: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    root, man = sets["dcase2026"]
    for mt in TYPES_2026:
        far = synth.far_mic(mt, "section_00", seed=0)
        assert 2.0 <= far.delay_ms <= 6.0 and 4.0 <= far.atten_db <= 8.0 and 1500 <= far.lowpass_hz <= 3000
        assert far == synth.far_mic(mt, "section_00", seed=0) != synth.far_mic(mt, "section_00", seed=1)
        darker = []
        for path in sorted((root / mt).glob("*/*.wav")):
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 2, "PCM_16", 32000)
            both = data.load_audio(path, channel="all")
            assert both.shape == (2, 32000)
            near, far_ch = both
            assert abs(_lag(near, far_ch) - far.delay_ms * 16) <= 1.0, (path.name, far.delay_ms)
            hf = _band_power(far_ch, 4000, 8000) / _band_power(near, 4000, 8000)
            lf = _band_power(far_ch, 100, 1000) / _band_power(near, 100, 1000)
            darker.append(10 * np.log10(lf / hf))
        # the far channel loses the high frequencies (a loud transient of its own background may
        # make one clip an exception)
        assert np.median(darker) > 6.0, (mt, darker)
    assert man.snr_db.notna().all()


def test_2026_near_channel_is_the_mono_clip_and_the_far_one_is_noisier() -> None:
    for mt in ("fan", "sliderEmu", "ToyCar"):
        p = synth.unit_params(mt, "section_00", seed=0, layout="dcase2026")
        far = synth.far_mic(mt, "section_00", seed=0)
        mono = synth.synth_clip(mt, p, np.random.default_rng(7), duration=2.0)
        a = synth.synth_clip_two_channel(mt, p, np.random.default_rng(7), far, duration=2.0,
                                         far_rng=np.random.default_rng(1))
        b = synth.synth_clip_two_channel(mt, p, np.random.default_rng(7), far, duration=2.0,
                                         far_rng=np.random.default_rng(2))
        assert a.dtype == np.float32 and a.shape == (2, 32000)
        assert np.array_equal(a[0], mono) and np.array_equal(b[0], mono)
        # the far channels differ only by their background: its power is half that of the difference
        noise = np.mean((a[1] - b[1]) ** 2) / 2
        far_snr = 10 * np.log10((np.mean(a[1] ** 2) - noise) / noise)
        near_snr = synth._render(mt, p, np.random.default_rng(7), None, 2.0, 16000)[1]["snr_db"]
        assert far_snr < near_snr - 3.0, (mt, far_snr, near_snr)


def test_2026_anomaly_is_in_both_channels() -> None:
    for mt, kind, band in (("ToyCar", "bearing_defect", (2500, 6500)), ("fan", "imbalance", (10, 60))):
        p = synth.unit_params(mt, "section_00", seed=0, layout="dcase2026")
        far = synth.far_mic(mt, "section_00", seed=0)
        gains = []
        for k in range(4):
            clips = [synth.synth_clip_two_channel(mt, p, np.random.default_rng(k), far, anomaly, duration=2.0,
                                                  far_rng=np.random.default_rng(100 + k))
                     for anomaly in ({"kind": kind, "severity": 1.0}, None)]
            gains.append(10 * np.log10(_band_power(clips[0], *band) / _band_power(clips[1], *band)))
        assert (np.mean(gains, axis=0) > 2.0).all(), (mt, kind, np.mean(gains, axis=0))  # [near, far] in dB


# --------------------------------------------------------------------------- determinism, plan, refusals
def test_new_layouts_are_deterministic(tmp_path: Path, sets: dict[str, tuple[Path, pd.DataFrame]]) -> None:
    for layout, machines in (("dcase2026", ["fan", "sliderEmu"]), ("dcase2025", ["bearing", "fan"])):
        root0 = sets[layout][0]
        again = tmp_path / layout
        synth.generate(again, layout, "tiny", machines=machines, seed=0, workers=2)
        digests = {str(p.relative_to(again)): _sha(p) for p in _wavs(again)}
        assert digests and digests == {str(p.relative_to(root0)): _sha(p) for p in _wavs(root0)
                                       if p.relative_to(root0).parts[0] in machines}
        for mt in machines:
            assert _sha(again / mt / "attributes_00.csv") == _sha(root0 / mt / "attributes_00.csv")
    other = tmp_path / "seed1"
    synth.generate(other, "dcase2026", "tiny", machines=["fan"], seed=1, workers=1)
    root0 = sets["dcase2026"][0]
    assert all(_sha(p) != _sha(root0 / p.relative_to(other)) for p in _wavs(other)
               if (root0 / p.relative_to(other)).exists())


def test_plan_counts_of_the_new_layouts() -> None:
    for layout in NEW_LAYOUTS:
        tiny = synth.plan_counts(layout, "tiny")
        assert tiny.clips.sum() == 7 * 15 + (14 if layout == "dcase2025" else 0)
        full = synth.plan_counts(layout, "full").set_index(["machine_type", "unit", "domain", "split", "label"]).clips
        assert set(full.index.get_level_values("unit")) == {"section_00"}
        assert (full.xs(("source", "train", "normal"), level=("domain", "split", "label")) == 990).all()
        assert (full.xs(("target", "train", "normal"), level=("domain", "split", "label")) == 10).all()
        for dom in ("source", "target"):
            for lab in ("normal", "anomaly"):
                assert (full.xs((dom, "test", lab), level=("domain", "split", "label")) == 50).all()
        n_supp = full.xs("supplemental", level="split").sum() if layout == "dcase2025" else 0
        assert n_supp == (700 if layout == "dcase2025" else 0)
        assert full.sum() == 7 * 1200 + n_supp
    assert synth.plan_counts("dcase2025", "book").query("split == 'supplemental'").clips.sum() == 70


def test_new_layouts_refuse_unknown_types_and_name_their_stand_in(tmp_path: Path) -> None:
    assert synth.SYNTH_TYPES["dcase2026"] == synth.MACHINE_TYPES["dcase2026"] == TYPES_2026
    assert synth.SYNTH_TYPES["dcase2025"] == TYPES
    for layout, bad in (("dcase2024", "pump"), ("dcase2026", "ToyConveyor"), ("dcase2026", "bearing"),
                        ("dcase2025", "bearingEmu")):
        with pytest.raises(ValueError, match="unknown machine type"):
            synth.generate(tmp_path / layout, layout, "tiny", machines=[bad])
    assert synth.default_root("dcase2026", "tiny", 0).name.startswith("dcase2026-tiny-")
    described = synth.describe().groupby("machine_type").layouts.first()
    assert "dcase2026" in described["fan"] and "dcase2026" in described["bearing"]
    assert "dcase2026" not in described["pump"] and not any(t.endswith("Emu") for t in described.index)


def test_emulated_2026_types_sound_as_their_machine_with_draws_of_their_own() -> None:
    assert [synth.sound_model(t) for t in TYPES_2026] == [
        "ToyCar", "ToyCar", "bearing", "fan", "gearbox", "slider", "valve"]
    assert synth.sound_model("fan") == "fan"
    real = synth.unit_params("ToyCar", "section_00", seed=0, layout="dcase2026")
    emu = synth.unit_params("ToyCarEmu", "section_00", seed=0, layout="dcase2026")
    assert emu.machine_type == "ToyCarEmu" and emu.f0 != real.f0
    lo, hi = 60 * 0.8, 120 * 1.6  # the ToyCar model's motor range, widened by unit tolerances and speed
    assert lo < emu.f0 < hi and lo < real.f0 < hi
    assert set(emu.attributes) == set(real.attributes)  # the ToyCar attributes
    y = synth.synth_clip("gearboxEmu", synth.unit_params("gearboxEmu", "section_00", layout="dcase2026"),
                         np.random.default_rng(0), anomaly="gear_wear", duration=1.0)
    assert y.shape == (16000,)
    with pytest.raises(ValueError, match="unknown anomaly kind 'leak' for sliderEmu"):
        synth.synth_clip("sliderEmu", synth.unit_params("sliderEmu", "section_00", layout="dcase2026"),
                         np.random.default_rng(0), anomaly="leak", duration=1.0)
