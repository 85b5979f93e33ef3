"""Tests for asdlib.realdata: the clip list, the official-download builder (against the local fake
Zenodo of tests/http_fixtures.py) and the real-data folder check."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import asdlib.download as dl
from asdlib import realdata as rd
from asdlib.cli import main
from http_fixtures import make_zip, serve

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "real-toycar"
DEV = dl.RECORDS["dcase2020"]["dev"].record
ZIP = "dev_data_ToyCar.zip"
FAST = dict(progress=False, backoff=0.01, timeout=5)
N = rd.N_SAMPLES


def wav_bytes(seed: int, n: int, sr: int = 16000, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, (n, channels)).astype(np.float32)
    sf.write(buf, x, sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def write_wav(path: Path, seed: int = 0, n: int = 1600, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(seed, n, sr, channels))
    return path


def small_list() -> pd.DataFrame:
    return pd.DataFrame([
        ("normal_id_01_00000000.wav", "id_01", "normal", "train"),
        ("normal_id_01_00000001.wav", "id_01", "normal", "train"),
        ("normal_id_01_00000002.wav", "id_01", "normal", "test"),
        ("anomaly_id_01_00000000.wav", "id_01", "anomaly", "test"),
        ("normal_id_02_00000000.wav", "id_02", "normal", "train"),
        ("anomaly_id_02_00000003.wav", "id_02", "anomaly", "test"),
    ], columns=["file", "unit", "label", "split"])


def dev_members(clips: pd.DataFrame, skip: str = "", bad: dict[str, dict] | None = None) -> dict[str, bytes]:
    """A fake dev_data_ToyCar.zip: the listed names (and unlisted ones) in ToyCar/test, 7 s long;
    ToyCar/train holds other clips under the same names (the builder must not take those)."""
    bad = bad or {}
    names = [f for f in clips["file"] if f != skip] + ["normal_id_01_00000099.wav", "anomaly_id_03_00000000.wav"]
    members = {f"ToyCar/test/{n}": wav_bytes(i, **{"n": N + 10_000, **bad.get(n, {})}) for i, n in enumerate(names)}
    members |= {f"ToyCar/train/{n}": wav_bytes(100 + i, 2000) for i, n in enumerate(clips["file"][:3])}
    return members


@pytest.fixture
def zenodo(monkeypatch):
    monkeypatch.setattr(dl, "KNOWN_MD5", {})
    monkeypatch.delenv("ASD_ZENODO_URL", raising=False)
    with serve(max_s=60) as state:
        yield state


def serve_dev(z, members: dict[str, bytes], **kw) -> tuple[str, bytes]:
    data = make_zip(members, zipfile.ZIP_STORED)
    z.add_file(DEV, ZIP, data, **kw)
    z.add_record(DEV, {ZIP: hashlib.md5(data).hexdigest()})
    return f"/records/{DEV}/files/{ZIP}", data


def tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


# ------------------------------------------------------------------ the clip list


def test_clip_list_is_the_books_821_clips():
    clips = rd.clip_list()
    assert list(clips.columns) == ["file", "unit", "label", "split"] and len(clips) == 821
    assert clips["file"].is_unique and not clips["file"].str.contains("/").any()
    counts = clips.groupby(["unit", "split"]).size().to_dict()
    assert counts == {("id_01", "test"): 55, ("id_01", "train"): 27, ("id_02", "test"): 41, ("id_02", "train"): 21,
                      ("id_03", "test"): 41, ("id_03", "train"): 21, ("id_04", "test"): 405, ("id_04", "train"): 210}
    assert (clips["file"].str.split("_").str[0] == clips["label"]).all()
    assert (clips.loc[clips["split"] == "train", "label"] == "normal").all()
    rd._checked_clips(clips)  # consistent with its own names
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "real_toycar_clips.csv" in meta["tool"]["setuptools"]["package-data"]["asdlib"]


def test_clip_list_matches_the_shared_manifest():
    if not (SHARED / "manifest.csv").is_file():
        pytest.skip("shared/data/real-toycar is not beside the checkout")
    man = pd.read_csv(SHARED / "manifest.csv", dtype=str)
    man["file"] = man["file"].str.rsplit("/", n=1).str[-1]
    key = ["file", "unit", "label", "split"]
    a = man[key].sort_values("file").reset_index(drop=True)
    b = rd.clip_list()[key].sort_values("file").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------------ fetch_real_toycar


def test_fetch_writes_the_listed_clips_cut_and_second_call_does_nothing(zenodo, tmp_path):
    clips = small_list()
    members = dev_members(clips)
    serve_dev(zenodo, members)
    root = rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=clips, **FAST)
    assert root == tmp_path / "real-toycar" / "dcase2020"
    for split in ("train", "test"):
        want = sorted(clips.loc[clips["split"] == split, "file"])
        assert sorted(p.name for p in (root / "ToyCar" / split).iterdir()) == want
    for row in clips.itertuples():
        out = root / "ToyCar" / row.split / row.file
        info = sf.info(out)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, N, "PCM_16")
        got, _ = sf.read(out, dtype="int16")
        src, _ = sf.read(io.BytesIO(members[f"ToyCar/test/{row.file}"]), dtype="int16")
        assert np.array_equal(got, src[:N])  # from test/, never from the dev set's train/
    assert (tmp_path / "real-toycar" / rd.MARKER).is_file()
    assert tree(tmp_path / "real-toycar") == sorted(
        [".complete", "dcase2020", "dcase2020/ToyCar", "dcase2020/ToyCar/train", "dcase2020/ToyCar/test"]
        + [f"dcase2020/ToyCar/{r.split}/{r.file}" for r in clips.itertuples()])
    rd.check_real_folder(root, expected_units=("id_01", "id_02"), manifest=clips)
    from asdlib.data import index

    assert len(index(root)) == len(clips)
    # a second call: no request, nothing rewritten (even with the dev set gone)
    n, mtime = len(zenodo.requests), (root / "ToyCar" / "train" / clips["file"][0]).stat().st_mtime_ns
    import shutil

    shutil.rmtree(tmp_path / "dcase2020")
    assert rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=clips, **FAST) == root
    assert len(zenodo.requests) == n
    assert (root / "ToyCar" / "train" / clips["file"][0]).stat().st_mtime_ns == mtime


def test_fetch_resumes_a_cut_download_and_reuses_a_finished_one(zenodo, tmp_path):
    clips = small_list()
    path, data = serve_dev(zenodo, dev_members(clips), mode="cut", fail_times=1, cut_at=5000)
    root = rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=clips, retries=1, **FAST)
    assert [r[1].get("Range") for r in zenodo.hits(path)] == [None, "bytes=5000-"]
    assert dl.is_complete(tmp_path, "dcase2020", "ToyCar")
    # the marker gone (an interrupted build): rebuilt from the extracted dev set, no network
    (tmp_path / "real-toycar" / rd.MARKER).unlink()
    n = len(zenodo.requests)
    assert rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=clips, **FAST) == root
    assert len(zenodo.requests) == n and (tmp_path / "real-toycar" / rd.MARKER).is_file()
    assert len(list(root.rglob("*.wav"))) == len(clips)


def test_listed_clip_absent_from_the_zip_is_an_error_and_leaves_nothing(zenodo, tmp_path):
    clips = small_list()
    serve_dev(zenodo, dev_members(clips, skip="anomaly_id_02_00000003.wav"))
    with pytest.raises(rd.RealDataError, match="anomaly_id_02_00000003.wav"):
        rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=clips, **FAST)
    assert tree(tmp_path / "real-toycar") == []
    assert list((tmp_path / ".downloads").iterdir()) == []  # lock released


@pytest.mark.parametrize("bad, words", [
    (dict(sr=8000), ["8000 Hz", "16000"]),
    (dict(n=N - 1), [f"{N - 1} samples", "shorter"]),
    (dict(channels=2), ["2 channels"]),
])
def test_bad_source_clip_is_an_error_naming_it(zenodo, tmp_path, bad, words):
    clips = small_list()
    name = "normal_id_01_00000002.wav"
    serve_dev(zenodo, dev_members(clips, bad={name: bad}))
    with pytest.raises(rd.RealDataError) as err:
        rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=clips, **FAST)
    msg = str(err.value)
    assert f"ToyCar/test/{name}" in msg and all(w in msg for w in words), msg
    assert tree(tmp_path / "real-toycar") == []  # no temporary folder, no marker, no half tree


def test_bad_clip_list_is_refused_before_any_download(zenodo, tmp_path):
    clips = small_list()
    clips.loc[3, "label"] = "normal"  # anomaly_id_01_00000000.wav listed as normal
    with pytest.raises(rd.RealDataError, match="anomaly_id_01_00000000.wav"):
        rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=clips, **FAST)
    with pytest.raises(rd.RealDataError, match="split"):
        rd.fetch_real_toycar(tmp_path, base_url=zenodo.url, clips=small_list().drop(columns="split"), **FAST)
    assert zenodo.requests == [] and not tmp_path.joinpath("real-toycar").exists()


def test_cli_real_toycar(zenodo, tmp_path, monkeypatch, capsys):
    clips = small_list()
    serve_dev(zenodo, dev_members(clips))
    monkeypatch.setattr(rd, "clip_list", lambda: clips)
    monkeypatch.setenv("ASD_ZENODO_URL", zenodo.url)
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path / "elsewhere"))
    assert main(["real-toycar", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "real-toycar" / "dcase2020") in out and "ASD_REAL_TOYCAR" in out
    assert len(list((tmp_path / "real-toycar").rglob("*.wav"))) == len(clips)


# ------------------------------------------------------------------ check_real_folder

UNITS = ("id_01", "id_02")


def good_folder(root: Path) -> Path:
    """A tiny valid DCASE 2020 folder: ToyCar, 2 IDs, 0.1 s clips."""
    for u, unit in enumerate(UNITS):
        write_wav(root / "ToyCar" / "train" / f"normal_{unit}_00000000.wav", seed=u)
        write_wav(root / "ToyCar" / "test" / f"normal_{unit}_00000001.wav", seed=10 + u)
        write_wav(root / "ToyCar" / "test" / f"anomaly_{unit}_00000000.wav", seed=20 + u)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {p.as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_good_folder_passes_and_nothing_is_written(tmp_path):
    root = good_folder(tmp_path / "d")
    before = snapshot(tmp_path)
    df = rd.check_real_folder(root, expected_units=UNITS)
    assert len(df) == 6 and set(df["unit"]) == set(UNITS) and (df["frames"] == 1600).all()
    assert len(rd.check_real_folder(root / "ToyCar", expected_units=UNITS)) == 6  # a type folder also works
    assert snapshot(tmp_path) == before


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-700])


def _garbage(p: Path) -> None:
    p.write_bytes(b"RIFF\x00\x10\x00\x00WAVEjunk" + bytes(50))


@pytest.mark.parametrize("damage, file, words", [
    (lambda r: (r / "ToyCar/test/normal_id_02_00000001.wav").unlink()
     or (r / "ToyCar/test/anomaly_id_02_00000000.wav").unlink(), None, ["missing ID id_02", "test"]),
    (lambda r: _truncate(r / "ToyCar/test/anomaly_id_01_00000000.wav"), "anomaly_id_01_00000000.wav", ["cut short"]),
    (lambda r: _garbage(r / "ToyCar/train/normal_id_01_00000000.wav"), "normal_id_01_00000000.wav", ["cut short"]),
    (lambda r: (r / "ToyCar/test/normal_id_01_00000001.wav").write_bytes(b"not audio"),
     "normal_id_01_00000001.wav", ["unreadable"]),
    (lambda r: write_wav(r / "ToyCar/test/normal_id_02_00000001.wav", sr=22050), "normal_id_02_00000001.wav",
     ["22050 Hz"]),
    (lambda r: write_wav(r / "ToyCar/test/normal_id_02_00000001.wav", channels=2), "normal_id_02_00000001.wav",
     ["2 channels"]),
    (lambda r: write_wav(r / "ToyCar/train/normal_id_02_00000000.wav", n=1500), "normal_id_02_00000000.wav",
     ["1500 samples", "expected 1600"]),
    (lambda r: write_wav(r / "ToyCar/train/anomaly_id_02_00000007.wav"), "anomaly_id_02_00000007.wav",
     ["anomaly in train"]),
    (lambda r: write_wav(r / "ToyCar/test/clip_07.wav"), "clip_07.wav", ["matches no DCASE naming scheme"]),
])
def test_bad_folder_names_the_problem(tmp_path, damage, file, words):
    root = good_folder(tmp_path / "d")
    damage(root)
    with pytest.raises(rd.RealDataError) as err:
        rd.check_real_folder(root, expected_units=UNITS)
    msg = str(err.value)
    assert isinstance(err.value, ValueError)
    assert (file is None or file in msg) and all(w in msg for w in words), msg


def test_expected_units_and_length_settings(tmp_path):
    root = good_folder(tmp_path / "d")
    with pytest.raises(rd.RealDataError, match="missing ID id_03: no train clips"):
        rd.check_real_folder(root, expected_units=("id_01", "id_03"))
    with pytest.raises(rd.RealDataError, match="1600 samples, expected 2000"):
        rd.check_real_folder(root, expected_units=UNITS, n_samples=2000)
    with pytest.raises(rd.RealDataError, match="16000 Hz, expected 8000 Hz"):
        rd.check_real_folder(root, expected_units=UNITS, sample_rate=8000)
    with pytest.raises(rd.RealDataError, match="does not exist"):
        rd.check_real_folder(tmp_path / "nowhere")


def test_label_file_must_agree_with_the_names(tmp_path):
    root = good_folder(tmp_path / "d")
    rows = [(f"dcase2020/ToyCar/{p.parent.name}/{p.name}", p.name.split("_")[0], p.parent.name)
            for p in sorted(root.rglob("*.wav"))]
    man = pd.DataFrame(rows, columns=["file", "label", "split"])
    good = tmp_path / "manifest.csv"
    man.to_csv(good, index=False)
    assert len(rd.check_real_folder(root, expected_units=UNITS, manifest=good)) == 6
    flipped = man.copy()
    i = flipped.index[flipped["file"].str.endswith("anomaly_id_02_00000000.wav")][0]
    flipped.loc[i, "label"] = "normal"
    flipped.to_csv(tmp_path / "flipped.csv", index=False)
    with pytest.raises(rd.RealDataError) as err:
        rd.check_real_folder(root, expected_units=UNITS, manifest=tmp_path / "flipped.csv")
    assert "anomaly_id_02_00000000.wav" in str(err.value) and "'normal'" in str(err.value)
    man.iloc[1:].to_csv(tmp_path / "short.csv", index=False)  # one clip not listed
    with pytest.raises(rd.RealDataError, match="not listed in"):
        rd.check_real_folder(root, expected_units=UNITS, manifest=tmp_path / "short.csv")
    extra = pd.concat([man, pd.DataFrame([("dcase2020/ToyCar/test/normal_id_01_00000042.wav", "normal", "test")],
                                         columns=man.columns)])
    with pytest.raises(rd.RealDataError, match="normal_id_01_00000042.wav.*not in the folder"):
        rd.check_real_folder(root, expected_units=UNITS, manifest=extra)
    man.drop(columns="label").to_csv(tmp_path / "nolabel.csv", index=False)
    with pytest.raises(rd.RealDataError, match=r"nolabel.csv lacks the column\(s\) \['label'\]"):
        rd.check_real_folder(root, expected_units=UNITS, manifest=tmp_path / "nolabel.csv")


def test_the_shared_real_folder_passes_with_its_manifest():
    if not (SHARED / "dcase2020").is_dir():
        pytest.skip("shared/data/real-toycar is not beside the checkout")
    df = rd.check_real_folder(SHARED / "dcase2020", manifest=SHARED / "manifest.csv", n_samples=N)
    assert len(df) == 821 and set(df["unit"]) == {"id_01", "id_02", "id_03", "id_04"}
    assert len(rd.check_real_folder(SHARED / "dcase2020", manifest=rd.clip_list())) == 821
