"""Tests of asdlib.data: file names, index, audio loading, datasets (chapter 1)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from asdlib.data import (
    INDEX_COLUMNS,
    AudioError,
    AudioWarning,
    DatasetLayoutError,
    FilenameError,
    SegmentDataset,
    check_training_clips,
    file_digest,
    index,
    index_to_csv,
    load_audio,
    parse_attributes,
    parse_filename,
    read_index,
    sliding_windows,
    unit_labels,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dcase-samples"


def samples(sub: str) -> Path:
    """A folder of the shared real clips, or skip the test when it is absent."""
    folder = SAMPLES / sub
    if not folder.is_dir():
        pytest.skip(f"real DCASE samples not available ({folder})")
    return folder


def touch_wav(path: Path, n: int = 1600, sr: int = 16000, channels: int = 1) -> Path:
    """Write a short float WAV of low noise (16-bit PCM)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    data = 0.01 * rng.standard_normal((n, channels)).astype(np.float32)
    sf.write(path, data, sr, subtype="PCM_16")
    return path


# --------------------------------------------------------------------------- parse_filename


def test_parse_2020_dev_train():
    f = parse_filename("/d/fan/train/normal_id_02_00000123.wav")
    assert f == {
        "layout": "dcase2020",
        "machine_type": "fan",
        "machine_id": "id_02",
        "section": None,
        "domain": "source",
        "split": "train",
        "label": "normal",
        "attributes": {},
        "unit": "id_02",
    }


def test_parse_2020_anomaly_and_eval():
    f = parse_filename("ToyCar/test/anomaly_id_04_00000001.wav")
    assert (f["label"], f["split"], f["machine_id"], f["machine_type"]) == ("anomaly", "test", "id_04", "ToyCar")
    e = parse_filename("valve/test/id_05_00000000.wav")
    assert (e["label"], e["machine_id"], e["unit"], e["domain"]) == (None, "id_05", "id_05", "source")


def test_parse_2020_uppercase_extension_and_no_folder():
    f = parse_filename("normal_id_00_00000000.WAV")
    assert f["machine_id"] == "id_00"
    assert f["split"] is None and f["machine_type"] is None


def test_parse_2022_with_attributes():
    f = parse_filename("bearing/train/section_01_target_train_normal_0007_vel_8_loc_A.wav")
    assert f == {
        "layout": "dcase2022",
        "machine_type": "bearing",
        "machine_id": None,
        "section": "section_01",
        "domain": "target",
        "split": "train",
        "label": "normal",
        "attributes": {"vel": "8", "loc": "A"},
        "unit": "section_01",
    }


def test_parse_2022_values_with_dots_and_dashes():
    f = parse_filename("fan/test/section_00_source_test_anomaly_0012_m-n_W_snr_-6.5dB.wav")
    assert f["attributes"] == {"m-n": "W", "snr": "-6.5dB"}
    assert f["label"] == "anomaly" and f["split"] == "test"


def test_parse_2022_odd_attributes_kept_raw():
    f = parse_filename("ToyCar/train/section_00_source_train_normal_0000_car_A1_spd_28V_mic.wav")
    assert f["attributes"] == {"raw": "car_A1_spd_28V_mic"}


def test_parse_2021_no_attributes_and_2022_eval():
    f = parse_filename("pump/test/section_00_source_test_anomaly_0000.wav")
    assert (f["layout"], f["attributes"], f["domain"], f["label"]) == ("dcase2022", {}, "source", "anomaly")
    e = parse_filename("gearbox/test/section_03_test_0042.wav")
    assert (e["section"], e["domain"], e["label"], e["split"]) == ("section_03", None, None, "test")


def test_parse_2022_split_must_agree_with_folder():
    with pytest.raises(FilenameError, match="split 'test'.*'train' folder"):
        parse_filename("fan/train/section_00_source_test_normal_0000.wav")


@pytest.mark.parametrize(
    "name",
    ["valve_id00_n_00000117.wav", "normal_id_1_00000000.wav", "section_00_train_normal_0000.wav",
     "readme.wav", "normal_id_01_00000000.flac"],
)
def test_parse_unknown_names_raise(name):
    with pytest.raises(FilenameError, match=name.replace(".", r"\.")):
        parse_filename(f"x/test/{name}")
    assert issubclass(FilenameError, ValueError)


def test_parse_attributes_direct():
    assert parse_attributes("a_1_b_2.5") == {"a": "1", "b": "2.5"}
    assert parse_attributes("") == {} and parse_attributes(None) == {}
    assert parse_attributes("noAttribute") == {"raw": "noAttribute"}


# --------------------------------------------------------------------------- index on real clips


def test_index_dcase2020_dev_sample():
    df = index(samples("dcase2020_dev_sample"))
    assert list(df.columns) == INDEX_COLUMNS
    assert len(df) == 26
    assert sorted(df.machine_type.unique()) == ["ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve"]
    assert (df.layout == "dcase2020").all() and (df.split == "test").all()
    assert (df.domain == "source").all() and df.section.isna().all()
    assert df.path.is_monotonic_increasing and all(Path(p).is_absolute() for p in df.path)
    expected = ["anomaly" if Path(p).name.startswith("anomaly") else "normal" for p in df.path]
    assert df.label.tolist() == expected
    assert (df.label == "anomaly").sum() == 10  # fan 2, pump 2, slider 2, valve 2, ToyCar 2
    assert (df.unit == df.machine_id).all()


def test_index_dcase2020_unknown_type():
    df = index(samples("dcase2020_dev_unknown_type"))
    assert len(df) == 76
    assert (df.split == "train").sum() == 75
    assert df.machine_type.unique().tolist() == ["unknown"]
    test = df[df.split == "test"]
    assert test.label.tolist() == ["anomaly"]


def test_index_dcase2021_sample():
    df = index(samples("dcase2021_dev_sample"))
    assert len(df) == 1
    row = df.iloc[0]
    assert (row.layout, row.machine_type, row.section, row.domain, row.label, row.attributes) == (
        "dcase2022", "pump", "section_00", "source", "anomaly", {})


def test_index_csv_roundtrip(tmp_path):
    root = tmp_path / "data"
    touch_wav(root / "fan" / "train" / "section_00_source_train_normal_0000_vel_8_loc_A.wav")
    touch_wav(root / "fan" / "test" / "section_00_test_0001.wav")
    df = index(root)
    out = tmp_path / "index.csv"
    index_to_csv(df, out)
    raw = pd.read_csv(out)
    assert raw.path.tolist() == df.path.tolist()  # sorted: test/ before train/
    assert json.loads(raw.attributes[1]) == {"loc": "A", "vel": "8"}
    back = read_index(out)
    assert back.to_dict("records") == df.to_dict("records")
    assert back.label[0] is None and back.domain[0] is None  # the eval file
    assert back.attributes[1] == {"vel": "8", "loc": "A"}


# --------------------------------------------------------------------------- index on synthetic roots


def test_index_ignores_non_wav_and_merges_attribute_csv(tmp_path):
    root = tmp_path / "dev"
    a = touch_wav(root / "fan" / "train" / "section_00_source_train_normal_0000_x_1_y_2.wav")
    b = touch_wav(root / "fan" / "test" / "section_00_source_test_anomaly_0000_odd.WAV")
    (root / "fan" / "train" / "manifest.csv").write_text("a,b\n")
    (root / "fan" / "README").write_text("not data")
    (root / "fan" / "attributes_00.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v\n"
        f"fan/train/{a.name},x,9,speed,3.5\n"
        f"fan/test/{b.name},m-n,W,,\n"
    )
    df = index(root)
    attrs = {Path(p).name: at for p, at in zip(df.path, df.attributes)}
    assert attrs[a.name] == {"x": "9", "y": "2", "speed": "3.5"}  # csv overrides, name fills
    assert attrs[b.name] == {"m-n": "W"}  # the unpaired raw text is replaced
    assert len(df) == 2


def test_index_attribute_csv_column_form_and_broken_csv(tmp_path):
    root = tmp_path / "dev"
    a = touch_wav(root / "gear" / "train" / "section_00_source_train_normal_0000.wav")
    (root / "gear" / "attributes_00.csv").write_text(f"file_name,volt,wt\n{a.name},6.0,30\n")
    (root / "gear" / "attributes_01.csv").write_text("just,some\ncolumns,here\n")
    with pytest.warns(UserWarning, match="no 'file_name' column"):
        df = index(root)
    assert df.attributes[0] == {"volt": "6.0", "wt": "30"}


def test_index_root_missing_and_file(tmp_path):
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        index(tmp_path / "nope")
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        index(f)


def test_index_empty_root(tmp_path):
    with pytest.raises(DatasetLayoutError, match="is empty"):
        index(tmp_path)


def test_index_root_too_deep(tmp_path):
    touch_wav(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    with pytest.raises(DatasetLayoutError, match=f"point at the parent folder {tmp_path}"):
        index(tmp_path / "fan")


def test_index_root_too_high(tmp_path):
    touch_wav(tmp_path / "dev" / "fan" / "train" / "normal_id_00_00000000.wav")
    touch_wav(tmp_path / "eval" / "pump" / "test" / "id_01_00000000.wav")
    with pytest.raises(DatasetLayoutError, match="one level too high") as err:
        index(tmp_path)
    assert str(tmp_path / "dev") in str(err.value) and str(tmp_path / "eval") in str(err.value)


def test_index_wavs_directly_in_root(tmp_path):
    touch_wav(tmp_path / "normal_id_00_00000000.wav")
    with pytest.raises(DatasetLayoutError, match="no <machine_type>/train"):
        index(tmp_path)


def test_index_type_without_split(tmp_path):
    touch_wav(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    (tmp_path / "pump" / "training").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="pump hold neither a train/ nor a test/"):
        index(tmp_path)


def test_index_unknown_names_error_and_warn(tmp_path):
    touch_wav(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    for i in range(25):
        touch_wav(tmp_path / "fan" / "train" / f"mystery_{i:02d}.wav", n=10)
    with pytest.raises(DatasetLayoutError, match="25 file name") as err:
        index(tmp_path)
    msg = str(err.value)
    assert "mystery_00.wav" in msg and "and 5 more" in msg and "mystery_24.wav" not in msg
    with pytest.warns(UserWarning, match="25 row"):
        df = index(tmp_path, on_unknown="warn")
    assert len(df) == 1
    with pytest.raises(ValueError, match="on_unknown"):
        index(tmp_path, on_unknown="ignore")


def test_index_mixed_layouts_in_one_type(tmp_path):
    touch_wav(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    touch_wav(tmp_path / "fan" / "test" / "section_00_source_test_normal_0000.wav")
    with pytest.raises(DatasetLayoutError, match="mixes DCASE 2020"):
        index(tmp_path)


def test_index_split_mismatch_reported(tmp_path):
    touch_wav(tmp_path / "fan" / "train" / "section_00_source_test_normal_0000.wav")
    with pytest.raises(DatasetLayoutError, match="'train' folder"):
        index(tmp_path)


def test_index_no_wavs(tmp_path):
    (tmp_path / "fan" / "train").mkdir(parents=True)
    (tmp_path / "fan" / "train" / "notes.txt").write_text("x")
    with pytest.raises(DatasetLayoutError, match="no usable .wav"):
        index(tmp_path)


def test_index_reports_broken_symlinks_and_skips_macos_metadata(tmp_path):
    import os

    good = touch_wav(tmp_path / "fan" / "train" / "normal_id_00_00000000.wav")
    os.symlink(good, tmp_path / "fan" / "train" / "normal_id_00_00000001.wav")  # a working link is data
    (tmp_path / "fan" / "train" / "._normal_id_00_00000000.wav").write_bytes(b"\x00\x05\x16\x07" + bytes(80))
    (tmp_path / "fan" / "train" / ".DS_Store").write_bytes(bytes(10))
    with pytest.warns(UserWarning, match=r"skipped macOS metadata under .*: 1 AppleDouble file\(s\)") as rec:
        df = index(tmp_path)
    assert len(rec) == 1 and len(df) == 2  # .DS_Store is not counted: it is no .wav
    (tmp_path / "fan" / "train" / "._normal_id_00_00000000.wav").unlink()
    os.symlink("../test/gone.wav", tmp_path / "fan" / "train" / "normal_id_00_00000002.wav")
    with pytest.raises(DatasetLayoutError) as err:
        index(tmp_path)
    target = tmp_path / "fan" / "test" / "gone.wav"
    assert f"normal_id_00_00000002.wav: broken symbolic link to ../test/gone.wav ({target}), which does not exist" in str(err.value)


# --------------------------------------------------------------------------- file_digest


def test_file_digest_is_sha1_of_the_bytes(tmp_path):
    import hashlib

    p = tmp_path / "blob.bin"
    blob = np.random.default_rng(0).bytes(3 * (1 << 20) + 17)  # more than one 1 MiB block
    p.write_bytes(blob)
    assert file_digest(p) == hashlib.sha1(blob).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_digest(tmp_path / "empty") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    with pytest.raises(FileNotFoundError):
        file_digest(tmp_path / "missing.wav")


def test_file_digest_does_not_remember_just_written_files(tmp_path):
    from asdlib import data as D

    p = tmp_path / "x.bin"
    p.write_bytes(b"one")
    assert file_digest(p) == file_digest(p)
    assert not any(k[0] == str(p.absolute()) for k in D._DIGEST_MEMO)  # changed < 2 s ago
    p.write_bytes(b"two")  # same tick, same size: found because nothing was remembered
    import hashlib

    assert file_digest(p) == hashlib.sha1(b"two").hexdigest()


# --------------------------------------------------------------------------- load_audio


def test_load_real_clip_and_mimii_8ch():
    clip = next(iter(sorted(samples("dcase2020_dev_sample").glob("fan/test/*.wav"))))
    y = load_audio(clip)
    assert y.dtype == np.float32 and y.ndim == 1 and y.shape[0] == 160000
    assert np.abs(y).max() <= 1.0
    raw = samples("mimii_valve_8ch") / "valve_id06_abn_00000008.wav"
    data, sr = sf.read(raw, dtype="float32")
    assert data.shape[1] == 8 and sr == 16000
    mono = load_audio(raw)
    np.testing.assert_allclose(mono, data.mean(axis=1), atol=1e-7)
    np.testing.assert_array_equal(load_audio(raw, channel=3), data[:, 3])
    with pytest.raises(AudioError, match="channel 8 requested but the file has 8"):
        load_audio(raw, channel=8)


def test_load_stereo_and_bad_channel(tmp_path):
    p = tmp_path / "st.wav"
    data = np.stack([np.full(100, 0.5), np.full(100, -0.25)], axis=1).astype(np.float32)
    sf.write(p, data, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(p), np.full(100, 0.125, np.float32))
    np.testing.assert_allclose(load_audio(p, channel=1), np.full(100, -0.25, np.float32))
    with pytest.raises(ValueError, match="channel must be"):
        load_audio(p, channel="left")


def test_load_resamples_with_warning(tmp_path):
    p = tmp_path / "cd.wav"
    t = np.arange(44100) / 44100
    sf.write(p, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100, subtype="FLOAT")
    with pytest.warns(UserWarning, match="cd.wav.*44100 Hz to 16000 Hz"):
        y = load_audio(p)
    assert y.shape == (16000,) and y.dtype == np.float32
    # still a 440 Hz tone: the spectral peak sits at 440 Hz (1 Hz bins)
    assert abs(int(np.argmax(np.abs(np.fft.rfft(y)))) - 440) <= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_audio(p, sr=None).shape == (44100,)


def test_load_bad_files(tmp_path):
    with pytest.raises(AudioError, match="no such audio file"):
        load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(AudioError, match="empty.wav: empty file"):
        load_audio(empty)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="zero.wav: the file holds zero samples"):
        load_audio(zero)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 10)
    with pytest.raises(AudioError, match="notes.wav: cannot read as audio"):
        load_audio(text)


def test_load_truncated_wav(tmp_path):
    full = touch_wav(tmp_path / "full.wav", n=16000)
    blob = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(AudioError, match="cut.wav: truncated WAV.*32000 data bytes"):
        load_audio(cut)
    head = tmp_path / "head.wav"
    head.write_bytes(blob[:30])
    with pytest.raises(AudioError, match="head.wav: cannot read as audio"):
        load_audio(head)
    assert load_audio(full).shape == (16000,)


def test_load_non_finite(tmp_path):
    p = tmp_path / "nan.wav"
    data = np.zeros(100, np.float32)
    data[5] = np.nan
    sf.write(p, data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: .*non-finite"):
        load_audio(p)


def test_load_warns_for_silence_and_float_overload_only(tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(800, np.float32), 16000, subtype="PCM_16")
    with pytest.warns(AudioWarning, match=r"silent\.wav: silent clip, every sample is 0"):
        assert not load_audio(silent).any()
    loud = tmp_path / "loud.wav"
    sf.write(loud, np.array([0.0, -2.5, 1.0], np.float32), 16000, subtype="FLOAT")
    with pytest.warns(AudioWarning, match=r"loud\.wav: float samples reach 2\.5, beyond the \[-1, 1\]"):
        np.testing.assert_array_equal(load_audio(loud), [0.0, -2.5, 1.0])  # used as they are
    edge = tmp_path / "edge.wav"
    sf.write(edge, np.array([0.0, -1.0, 1.0], np.float32), 16000, subtype="FLOAT")
    one = tmp_path / "one.wav"
    y = np.zeros(800, np.float32)
    y[400] = -1.0  # full-scale 16-bit, and one non-zero sample is not silence
    sf.write(one, y, 16000, subtype="PCM_16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(edge), load_audio(one)


def test_check_training_clips(tmp_path):
    a = touch_wav(tmp_path / "a.wav")
    b = tmp_path / "b.wav"
    sf.write(b, np.zeros(1600, np.float32), 16000, subtype="PCM_16")
    check_training_clips([a])  # no error
    with pytest.raises(AudioError, match=r"1 of the 2 training clip\(s\) are silent.*\n  .*b\.wav\nMove") as err:
        check_training_clips([a, b])
    assert "a.wav" not in str(err.value)
    floor = 10 * np.log10(np.finfo(np.float64).eps)
    feats = [np.full((4, 3), floor, np.float32), np.array([[floor, floor], [floor, -20.0]])]
    with pytest.raises(AudioError, match=r"1 of the 2 .*\n  x\.wav\n"):
        check_training_clips(["x.wav", "y.wav"], feats)
    waves = [torch.zeros(10), torch.tensor([0.0, 1e-9])]
    with pytest.raises(AudioError, match=r"1 of the 2 .*\n  x\.wav\n"):
        check_training_clips(["x.wav", "y.wav"], waves)
    with pytest.raises(ValueError, match="2 paths but 1 clips"):
        check_training_clips(["x.wav", "y.wav"], waves[:1])


def test_real_clips_are_not_flagged_truncated():
    folder = samples("dcase2020_dev_sample")
    for clip in sorted(folder.glob("*/test/*.wav")):
        assert load_audio(clip).size >= 160000


# --------------------------------------------------------------------------- datasets


def ramp(m: int, t: int) -> np.ndarray:
    """Feature whose value is its frame index, so offsets are visible."""
    return np.tile(np.arange(t, dtype=np.float32), (m, 1))


def test_segment_dataset_shapes_and_contiguity():
    ds = SegmentDataset([ramp(4, 100), ramp(4, 50)], [0, 1], segment_frames=16, segments_per_clip=3)
    assert len(ds) == 6
    x, y = ds[4]
    assert x.shape == (1, 4, 16) and x.dtype == torch.float32 and y == 1
    row = x[0, 0]
    assert torch.equal(row, row[0] + torch.arange(16, dtype=torch.float32))  # consecutive frames
    assert 0 <= row[0] <= 50 - 16


def test_segment_dataset_pads_short_clip_by_repetition():
    ds = SegmentDataset([ramp(2, 5)], [7], segment_frames=12)
    x, y = ds[0]
    assert x.shape == (1, 2, 12) and y == 7
    row = x[0, 0].long()
    assert torch.equal(row, (row[0] + torch.arange(12)) % 5)


def test_segment_dataset_determinism_and_epochs():
    feats = [ramp(3, 300) for _ in range(20)]
    a = SegmentDataset(feats, list(range(20)), segment_frames=8, seed=1)
    b = SegmentDataset(feats, list(range(20)), segment_frames=8, seed=1)
    starts = lambda ds: [int(ds[i][0][0, 0, 0]) for i in range(len(ds))]  # noqa: E731
    first = starts(a)
    assert first == starts(b)  # reproducible
    a.set_epoch(1)
    second = starts(a)
    assert second != first  # epochs differ
    a.set_epoch(0)
    assert starts(a) == first
    c = SegmentDataset(feats, list(range(20)), segment_frames=8, seed=2)
    assert starts(c) != first


def test_segment_dataset_offsets_are_one_draw_per_epoch():
    # the documented rule: u ~ default_rng([seed, epoch]).random(n_items), offset = floor(u * span)
    ds = SegmentDataset([ramp(2, 100), ramp(2, 10)], [0, 1], segment_frames=16, segments_per_clip=2, seed=5)
    ds.set_epoch(3)
    u = np.random.default_rng([5, 3]).random(4)
    span = np.array([85, 85, 10, 10])  # 100 - 16 + 1 offsets; a clip shorter than the segment: 10 rotations
    want = np.floor(u * span).astype(int)
    assert ds.starts().tolist() == want.tolist()
    assert [int(ds[i][0][0, 0, 0]) for i in range(4)] == want.tolist()  # the ramp's first value is the offset


def test_segment_dataset_errors():
    with pytest.raises(ValueError, match="2 features but 1 labels"):
        SegmentDataset([ramp(2, 5), ramp(2, 5)], [0])
    with pytest.raises(ValueError, match=r"features\[0\].*\[M, T\]"):
        SegmentDataset([np.zeros(5)], [0])
    with pytest.raises(ValueError, match="segment_frames"):
        SegmentDataset([ramp(2, 5)], [0], segment_frames=0)
    with pytest.raises(IndexError):
        SegmentDataset([ramp(2, 5)], [0])[1]


def test_sliding_windows_cover_the_clip():
    w = sliding_windows(ramp(3, 313), 64, 32)
    # starts 0, 32, ..., 224 (8 windows) + one aligned to the end (start 249)
    assert w.shape == (9, 1, 3, 64)
    assert [int(s) for s in w[:, 0, 0, 0]] == [0, 32, 64, 96, 128, 160, 192, 224, 249]
    assert int(w[-1, 0, 0, -1]) == 312
    exact = sliding_windows(ramp(2, 128), 64)  # hop defaults to the segment
    assert exact.shape == (2, 1, 2, 64)
    short = sliding_windows(torch.from_numpy(ramp(2, 10)), 64)
    assert short.shape == (1, 1, 2, 64)
    assert short[0, 0, 0, :12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]  # repeated


def test_sliding_windows_cover_whole_clips():
    feats = [ramp(4, 313), ramp(4, 344)]
    assert sliding_windows(feats[0], 64, 64).shape == (5, 1, 4, 64)  # starts 0..192, then one aligned to the end
    assert sliding_windows(feats[1], 64, 64).shape == (6, 1, 4, 64)
    last = sliding_windows(feats[0], 64, 64)[-1, 0]
    assert np.array_equal(last.numpy(), np.asarray(feats[0])[:, -64:])


def test_unit_labels_sorted_and_stable():
    df = pd.DataFrame({
        "machine_type": ["pump", "fan", "fan", "pump", "ToyCar"],
        "unit": ["id_00", "id_02", "id_00", "id_00", "id_01"],
    })
    labels, classes = unit_labels(df)
    assert classes == ["ToyCar/id_01", "fan/id_00", "fan/id_02", "pump/id_00"]
    assert labels.tolist() == [3, 2, 1, 3, 0]
    again, _ = unit_labels(df.iloc[::-1])
    assert again.tolist() == labels.tolist()[::-1]
    with pytest.raises(ValueError, match="unit"):
        unit_labels(df[["machine_type"]])

