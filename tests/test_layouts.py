"""Tests of the DCASE 2023-2026 Task 2 layouts in asdlib.data: index(layout=), channels, supplemental, errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdlib.data import (
    DATA_LAYOUTS,
    INDEX_COLUMNS,
    AudioError,
    DatasetLayoutError,
    FilenameError,
    first_training_clips,
    index,
    index_to_csv,
    load_audio,
    parse_filename,
    read_index,
    select,
)

SR = 16000
N = 1600  # 0.1 s


def wav(path: Path, channels: int = 1) -> Path:
    """A 0.1 s, 16 kHz, 16-bit clip of low noise; channel c is scaled by (c + 1) so channels differ."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    data = 0.01 * rng.standard_normal((N, channels)) * np.arange(1, channels + 1)
    sf.write(path, data.astype(np.float32), SR, subtype="PCM_16")
    return path


def row(root: Path, rel: str, layout: str, section: str = "section_00", domain: str | None = "source",
        split: str = "train", label: str | None = "normal", attributes: dict | None = None,
        channels: int = 1, supplemental: bool = False) -> dict:
    """One expected index row, built by hand."""
    return {"path": str(root / rel), "layout": layout, "machine_type": rel.split("/")[0], "machine_id": None,
            "section": section, "domain": domain, "split": split, "label": label,
            "attributes": attributes or {}, "unit": section, "channels": channels, "supplemental": supplemental}


def records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is pd.NA else v) for k, v in r.items()} for r in df.to_dict("records")]


def first_shot_root(root: Path, channels: int = 1) -> Path:
    """A 2023/2024-style root: fan with attributes and attributes_00.csv, bearing with noAttribute, one eval clip."""
    wav(root / "fan" / "train" / "section_00_source_train_normal_0000_m-n_W.wav", channels)
    wav(root / "fan" / "train" / "section_00_target_train_normal_0000_m-n_X.wav", channels)
    wav(root / "fan" / "test" / "section_00_source_test_anomaly_0000_m-n_W.wav", channels)
    (root / "fan" / "attributes_00.csv").write_text(
        "file_name,d1p,d1v\n"
        "fan/train/section_00_source_train_normal_0000_m-n_W.wav,m-n,W\n"
        "fan/train/section_00_target_train_normal_0000_m-n_X.wav,m-n,X\n"
        "fan/test/section_00_source_test_anomaly_0000_m-n_W.wav,m-n,W\n"
    )
    wav(root / "bearing" / "train" / "section_00_source_train_normal_0000_noAttribute.wav", channels)
    wav(root / "bearing" / "test" / "section_00_target_test_normal_0001_noAttribute.wav", channels)
    wav(root / "slider" / "test" / "section_00_test_0000.wav", channels)
    return root


def first_shot_rows(root: Path, layout: str, channels: int = 1) -> list[dict]:
    return [
        row(root, "bearing/test/section_00_target_test_normal_0001_noAttribute.wav", layout, domain="target",
            split="test", channels=channels),
        row(root, "bearing/train/section_00_source_train_normal_0000_noAttribute.wav", layout, channels=channels),
        row(root, "fan/test/section_00_source_test_anomaly_0000_m-n_W.wav", layout, split="test",
            label="anomaly", attributes={"m-n": "W"}, channels=channels),
        row(root, "fan/train/section_00_source_train_normal_0000_m-n_W.wav", layout, attributes={"m-n": "W"},
            channels=channels),
        row(root, "fan/train/section_00_target_train_normal_0000_m-n_X.wav", layout, domain="target",
            attributes={"m-n": "X"}, channels=channels),
        row(root, "slider/test/section_00_test_0000.wav", layout, domain=None, split="test", label=None,
            channels=channels),
    ]


# --------------------------------------------------------------------------- 2020 / 2022 unchanged

#: sha1 of the index CSV (the ten columns of before, paths relative to the root) of
#: ``synth.generate(tmp, layout, scale="tiny")``, taken with the code before the 2023+ layouts existed.
GOLDEN = {"dcase2020": ("0a045d8ae9505059e028ebe8f95c93d664ae3748", 144),
          "dcase2022": ("1e815643b8fdb932649165440e730400521e7d2b", 315)}
OLD_COLUMNS = INDEX_COLUMNS[:10]


@pytest.mark.parametrize("layout", ["dcase2020", "dcase2022"])
def test_index_of_2020_and_2022_roots_is_unchanged(tmp_path, layout):
    from asdlib.synth import generate

    root = tmp_path / layout
    generate(root, layout=layout, scale="tiny")
    df = index(root)
    assert list(df.columns) == OLD_COLUMNS + ["channels", "supplemental"]
    assert (df.channels == 1).all() and not df.supplemental.any()
    old = df[OLD_COLUMNS].copy()
    old["path"] = [p[len(str(root)) + 1:] for p in old.path]
    old["attributes"] = [json.dumps(a, sort_keys=True) for a in old.attributes]
    out = tmp_path / "old.csv"
    old.to_csv(out, index=False)
    digest, n = GOLDEN[layout]
    assert len(df) == n
    assert hashlib.sha1(out.read_bytes()).hexdigest() == digest
    assert index(root, layout=layout).equals(df)  # naming the year gives the same index


def test_section_names_without_evidence_stay_dcase2022(tmp_path):
    first_shot_root(tmp_path)
    df = index(tmp_path)
    assert (df.layout == "dcase2022").all()
    # as before: 'noAttribute' is kept raw under dcase2022, and no attributes_00.csv is asked for
    bearing = df[df.machine_type == "bearing"]
    assert bearing.attributes.tolist() == [{"raw": "noAttribute"}] * 2


# --------------------------------------------------------------------------- 2023 / 2024


@pytest.mark.parametrize("layout", ["dcase2023", "dcase2024"])
def test_index_first_shot_2023_2024(tmp_path, layout):
    root = first_shot_root(tmp_path / "dev")
    df = index(root, layout=layout)
    assert list(df.columns) == INDEX_COLUMNS
    assert records(df) == first_shot_rows(root, layout)
    assert str(df.channels.dtype) == "Int64" and df.supplemental.dtype == bool


def test_first_shot_csv_roundtrip_and_old_index_files(tmp_path):
    root = first_shot_root(tmp_path / "dev")
    df = index(root, layout="dcase2023")
    out = tmp_path / "index.csv"
    index_to_csv(df, out)
    assert records(read_index(out)) == records(df)
    old = pd.read_csv(out, dtype=str, keep_default_na=False).drop(columns=["channels", "supplemental"])
    old.to_csv(tmp_path / "old.csv", index=False)
    back = read_index(tmp_path / "old.csv")
    assert list(back.columns) == INDEX_COLUMNS
    assert back.channels.isna().all() and not back.supplemental.any()


# --------------------------------------------------------------------------- 2025


def root_2025(root: Path) -> Path:
    wav(root / "ToyCar" / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    wav(root / "ToyCar" / "test" / "section_00_source_test_normal_0000_noAttribute.wav")
    wav(root / "ToyCar" / "supplemental" / "section_00_source_supplemental_0000.wav")
    wav(root / "ToyCar" / "supplemental" / "section_00_noise_0001.wav")
    return root


def test_index_2025_told_by_supplemental_folder(tmp_path):
    root = root_2025(tmp_path)
    df = index(root)
    assert records(df) == [
        row(root, "ToyCar/supplemental/section_00_noise_0001.wav", "dcase2025", domain=None, label=None,
            supplemental=True),
        row(root, "ToyCar/supplemental/section_00_source_supplemental_0000.wav", "dcase2025", label=None,
            supplemental=True),
        row(root, "ToyCar/test/section_00_source_test_normal_0000_noAttribute.wav", "dcase2025", split="test"),
        row(root, "ToyCar/train/section_00_source_train_normal_0000_noAttribute.wav", "dcase2025"),
    ]
    assert index(root, layout="dcase2025").equals(df)
    # supplemental clips are offered for training but never enter it unasked
    assert [Path(p).name for p in select(df, "ToyCar", "train").path] == [
        "section_00_source_train_normal_0000_noAttribute.wav"]
    assert first_training_clips(df, 1).supplemental.sum() == 0


def test_2025_evaluation_names_and_parse_of_supplemental(tmp_path):
    wav(tmp_path / "AutoTrash" / "test" / "section_00_test_0000.wav")
    df = index(tmp_path, layout="dcase2025")
    assert records(df) == [row(tmp_path, "AutoTrash/test/section_00_test_0000.wav", "dcase2025", domain=None,
                               split="test", label=None)]
    f = parse_filename("fan/supplemental/section_00_target_0003.wav")
    assert (f["machine_type"], f["split"], f["domain"], f["label"], f["layout"]) == (
        "fan", "train", "target", None, "dcase2025")


# --------------------------------------------------------------------------- 2026


def test_index_2026_told_by_two_channels(tmp_path):
    root = first_shot_root(tmp_path / "dev", channels=2)
    df = index(root)
    assert records(df) == first_shot_rows(root, "dcase2026", channels=2)
    assert index(root, layout="dcase2026").equals(df)


def test_index_2026_told_by_emu_machine_type(tmp_path):
    # DCASE 2026 names its emulated types bearingEmu, sliderEmu, ...: a mono clip of one is still 2026
    wav(tmp_path / "bearingEmu" / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    df = index(tmp_path)
    assert records(df) == [row(tmp_path, "bearingEmu/train/section_00_source_train_normal_0000_noAttribute.wav",
                               "dcase2026")]
    # a type that merely starts with "Emu" is no 2026 evidence
    other = tmp_path / "other"
    wav(other / "Emulsifier" / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    assert index(other)["layout"].tolist() == ["dcase2022"]


def test_attribute_table_noattribute_pair_is_no_attribute(tmp_path):
    # 2024+ tables of hidden-attribute types write the parameter name 'noAttribute' with no value
    root = tmp_path / "dev"
    wav(root / "gearbox" / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    wav(root / "fan" / "train" / "section_00_source_train_normal_0000_m-n_W.wav")
    (root / "gearbox" / "attributes_00.csv").write_text(
        "file_name,d1p,d1v\ngearbox/train/section_00_source_train_normal_0000_noAttribute.wav,noAttribute,\n")
    (root / "fan" / "attributes_00.csv").write_text(
        "file_name,d1p,d1v\nfan/train/section_00_source_train_normal_0000_m-n_W.wav,m-n,W\n")
    df = index(root, layout="dcase2024").set_index("machine_type")
    assert df.loc["gearbox", "attributes"] == {}
    assert df.loc["fan", "attributes"] == {"m-n": "W"}


# --------------------------------------------------------------------------- errors


def test_unknown_layout_value():
    with pytest.raises(ValueError, match=r"layout must be None or one of dcase2020, .*dcase2026, got 'dcase2027'"):
        index("/nonexistent", layout="dcase2027")
    assert DATA_LAYOUTS[-1] == "dcase2026"


def test_unknown_years_names_are_listed(tmp_path):
    wav(tmp_path / "fan" / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    wav(tmp_path / "fan" / "train" / "section_00_near_train_normal_0000.wav")
    with pytest.raises(DatasetLayoutError, match=r"1 file name\(s\) .* match no DCASE scheme:\n  .*"
                                                 r"section_00_near_train_normal_0000\.wav"):
        index(tmp_path, layout="dcase2024")


@pytest.mark.parametrize("layout", [None, "dcase2020"])
def test_stereo_clip_in_2020_is_an_error(tmp_path, layout):
    wav(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    st = wav(tmp_path / "fan" / "train" / "normal_id_00_00000001.wav", channels=2)
    msg = rf"1 clip\(s\) have more than one channel, .*mono.*\n  {st}: 2 channels"
    with pytest.raises(DatasetLayoutError, match=msg):
        index(tmp_path, layout=layout)


@pytest.mark.parametrize("layout", ["dcase2022", "dcase2023", "dcase2025"])
def test_stereo_clip_in_mono_section_years_is_an_error(tmp_path, layout):
    st = wav(tmp_path / "fan" / "train" / "section_00_source_train_normal_0000_noAttribute.wav", channels=2)
    with pytest.raises(DatasetLayoutError, match=rf"{st}: 2 channels"):
        index(tmp_path, layout=layout)


def test_missing_attributes_csv_for_a_type_with_attributes(tmp_path):
    root = first_shot_root(tmp_path)
    (root / "fan" / "attributes_00.csv").unlink()
    with pytest.raises(DatasetLayoutError, match=rf"dcase2024: the machine-type folder\(s\) {root / 'fan'} "
                                                 r"have file names with attributes but no attributes_00.csv"):
        index(root, layout="dcase2024")
    shutil.rmtree(root / "fan")  # only noAttribute types and eval clips left: no table needed
    assert len(index(root, layout="dcase2024")) == 3


def test_first_shot_has_only_section_00(tmp_path):
    wav(tmp_path / "fan" / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    other = wav(tmp_path / "fan" / "test" / "section_01_test_0000.wav")
    with pytest.raises(DatasetLayoutError, match=rf"dcase2023 has one section, section_00, .*\n  {other}"):
        index(tmp_path, layout="dcase2023")


def test_supplemental_folder_before_2025_and_scheme_misfit(tmp_path):
    root = root_2025(tmp_path)
    with pytest.raises(DatasetLayoutError, match="supplemental/ folders belong to DCASE 2025, not layout 'dcase2024'"):
        index(root, layout="dcase2024")
    with pytest.raises(DatasetLayoutError, match="supplemental/ folders belong to DCASE 2025, not layout 'dcase2020'"):
        index(root, layout="dcase2020")
    other = tmp_path / "other"
    wav(other / "fan" / "train" / "normal_id_00_00000000.wav")
    with pytest.raises(DatasetLayoutError, match=r"layout='dcase2023' expects section_XX file names, but 1 file"):
        index(other, layout="dcase2023")


def test_bad_supplemental_name(tmp_path):
    root = root_2025(tmp_path)
    wav(root / "ToyCar" / "supplemental" / "clean_0000.wav")
    msg = r"clean_0000\.wav' in a supplemental/ folder does not start with 'section_XX_'"
    with pytest.raises(DatasetLayoutError, match=msg):
        index(root)


# --------------------------------------------------------------------------- load_audio channels


def test_load_audio_channel_choices(tmp_path):
    st = wav(tmp_path / "st.wav", channels=2)
    data, _ = sf.read(st, dtype="float32", always_2d=True)
    both = load_audio(st, channel="all")
    assert both.dtype == np.float32 and both.shape == (2, N) and both.flags.c_contiguous
    np.testing.assert_array_equal(both, data.T)
    np.testing.assert_array_equal(load_audio(st, channel=0), data[:, 0])
    np.testing.assert_array_equal(load_audio(st, channel=1), data[:, 1])
    np.testing.assert_allclose(load_audio(st), data.mean(axis=1))  # the default still averages
    with pytest.raises(AudioError, match=r"st\.wav: channel 2 requested but the file has 2 channel\(s\)"):
        load_audio(st, channel=2)
    with pytest.raises(ValueError, match="channel must be 'mean', 'all' or an int, got 'near'"):
        load_audio(st, channel="near")
    mono = wav(tmp_path / "mono.wav")
    m, _ = sf.read(mono, dtype="float32")
    np.testing.assert_array_equal(load_audio(mono), m)
    assert load_audio(mono, channel="all").shape == (1, N)


def test_load_audio_all_channels_resampled(tmp_path):
    st = wav(tmp_path / "st.wav", channels=2)
    with pytest.warns(UserWarning, match="16000 Hz to 8000 Hz"):
        y = load_audio(st, sr=8000, channel="all")
    assert y.shape == (2, N // 2) and y.dtype == np.float32


def test_the_front_end_reads_the_channel_it_is_set_to(tmp_path) -> None:
    """FrontEndConfig(channel=...): a DCASE 2026 clip's near or far microphone, or their mean."""
    import soundfile as sf

    from asdlib.features import FrontEndConfig, load_features

    t = np.arange(16000) / 16000
    near, far = 0.5 * np.sin(2 * np.pi * 440 * t), 0.05 * np.sin(2 * np.pi * 3000 * t)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([near, far], axis=1), 16000, subtype="FLOAT")
    got = {ch: load_features([str(path)], FrontEndConfig(n_mels=64, channel=ch), use_cache=False,
                             progress=False)[0] for ch in ("mean", 0, 1)}
    one = {ch: load_features([str(tmp_path / f"{ch}.wav")], FrontEndConfig(n_mels=64), use_cache=False,
                             progress=False)[0]
           for ch, wave in (("near", near), ("far", far), ("both", (near + far) / 2))
           if sf.write(tmp_path / f"{ch}.wav", wave, 16000, subtype="FLOAT") is None}
    np.testing.assert_allclose(got[0], one["near"], atol=1e-4)
    np.testing.assert_allclose(got[1], one["far"], atol=1e-4)
    loud = one["both"] > one["both"].max() - 40  # below that, float32 rounding noise of the near-empty bins
    np.testing.assert_allclose(got["mean"][loud], one["both"][loud], atol=1e-3)
    assert not np.allclose(got[0][loud], got[1][loud], atol=1.0)
    assert FrontEndConfig().key() == FrontEndConfig(channel="mean").key() != FrontEndConfig(channel=1).key()
    for bad in ("left", -1, True, 1.5):
        with pytest.raises(ValueError, match="FrontEndConfig.channel"):
            FrontEndConfig(channel=bad)


def test_first_shot_evaluation_names_take_their_split_from_the_folder(tmp_path):
    # 2023+ evaluation clips are named section_00_0000.wav (the official 2023 / 2024 evaluators'
    # ground-truth lists); 2021 / 2022 ones section_03_test_0000.wav
    f = parse_filename(tmp_path / "ToyDrone" / "test" / "section_00_0000.wav")
    assert (f["section"], f["split"], f["domain"], f["label"]) == ("section_00", "test", None, None)
    assert parse_filename(tmp_path / "fan" / "test" / "section_03_test_0007.wav")["split"] == "test"
    with pytest.raises(FilenameError, match="must lie in a train/ or test/ folder"):
        parse_filename(tmp_path / "section_00_0000.wav")
    with pytest.raises(FilenameError, match="split 'test'"):
        parse_filename(tmp_path / "fan" / "train" / "section_00_test_0000.wav")
