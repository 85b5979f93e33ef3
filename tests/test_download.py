"""Tests for asdlib.download against a local fake Zenodo (tests/http_fixtures.py)."""
from __future__ import annotations

import re

import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import asdlib.download as dl
from http_fixtures import Route, serve

DEV = dl.RECORDS["dcase2020"]["dev"].record  # 3678171
ADD = dl.RECORDS["dcase2020"]["additional"].record
EVAL = dl.RECORDS["dcase2020"]["eval"].record
FAST = dict(progress=False, backoff=0.01, timeout=5)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def wav_bytes(seed: int, n: int = 1600) -> bytes:
    """0.1 s of 16 kHz 16-bit noise as WAV bytes."""
    buf = io.BytesIO()
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, n).astype(np.float32)
    sf.write(buf, x, 16000, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def make_zip(members: dict[str, bytes], stored: bool = False) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def dcase2020_members(machine: str, prefix: str = "", splits=("train", "test")) -> dict[str, bytes]:
    """A tiny zip body in the DCASE 2020 layout: <prefix><machine>/{train,test}/*.wav."""
    names = {"train": ["normal_id_00_00000000.wav", "normal_id_00_00000001.wav"],
             "test": ["normal_id_00_00000000.wav", "anomaly_id_00_00000000.wav"]}
    return {f"{prefix}{machine}/{s}/{n}": wav_bytes(i + 10 * j)
            for j, s in enumerate(splits) for i, n in enumerate(names[s])}


@pytest.fixture
def zenodo(monkeypatch):
    """A running fake Zenodo; KNOWN_MD5 emptied so checksums come from its records API."""
    monkeypatch.setattr(dl, "KNOWN_MD5", {})
    monkeypatch.delenv("ASD_ZENODO_URL", raising=False)
    with serve(max_s=60) as state:
        yield state


def serve_zip(z, record: int, name: str, data: bytes, md5_value: str | None = None, **kw) -> str:
    z.add_file(record, name, data, **kw)
    z.add_record(record, {name: md5_value or md5(data)})
    return f"/records/{record}/files/{name}"


# ------------------------------------------------------------------ tables, validation


def test_urls_and_names_follow_the_zenodo_records():
    assert dl.file_url("dcase2020", "dev", "fan") == \
        "https://zenodo.org/records/3678171/files/dev_data_fan.zip?download=1"
    assert dl.file_name("dcase2020", "additional", "ToyCar") == "eval_data_train_ToyCar.zip"
    assert dl.file_name("dcase2020", "eval", "valve") == "eval_data_test_valve.zip"
    assert dl.file_url("dcase2022", "eval", "bearing", base_url="http://h/") == \
        "http://h/records/6586456/files/eval_data_bearing_test.zip?download=1"
    assert dl.file_name("dcase2022", "additional", "ToyTrain") == "eval_data_ToyTrain_train.zip"
    assert dl.file_name("dcase2022", "dev", "gearbox") == "dev_gearbox.zip"
    assert dl.record_page("dcase2022", "dev") == "https://zenodo.org/records/6355122"
    assert len(dl.RECORDS["dcase2020"]["dev"].machines) == 6
    assert len(dl.RECORDS["dcase2022"]["dev"].machines) == 7
    every_name = {p.pattern.format(machine=m) for parts in dl.RECORDS.values()
                  for p in parts.values() for m in p.machines}
    for name, value in dl.KNOWN_MD5.items():
        assert name in every_name and re.fullmatch(r"[0-9a-f]{32}", value), (name, value)


def test_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("ASD_ZENODO_URL", "http://127.0.0.1:1/")
    assert dl.file_url("dcase2020", "dev", "pump").startswith("http://127.0.0.1:1/records/3678171/")


@pytest.mark.parametrize("kwargs, words", [
    (dict(dataset="dcase2019"), ["dcase2019", "dcase2020", "dcase2022"]),
    (dict(dataset="dcase2020", part="test"), ["test", "dev", "additional", "eval"]),
    (dict(dataset="dcase2020", machines="fan,bearing"), ["bearing", "ToyConveyor"]),
    (dict(dataset="dcase2022", machines=["pump"]), ["pump", "gearbox"]),
    (dict(dataset="dcase2020", machines=""), ["empty"]),
])
def test_bad_arguments_list_the_choices(tmp_path, kwargs, words):
    with pytest.raises(ValueError) as err:
        dl.download(out=tmp_path, **kwargs, progress=False)
    for w in words:
        assert w in str(err.value)
    assert not (tmp_path / ".downloads").exists()


# ------------------------------------------------------------------ happy path


def test_download_extracts_layout_and_is_idempotent(zenodo, tmp_path):
    fan, valve = dcase2020_members("fan"), dcase2020_members("valve", prefix="dev_data/")
    z = zenodo
    z.add_file(DEV, "dev_data_fan.zip", make_zip(fan))
    z.add_file(DEV, "dev_data_valve.zip", make_zip(valve))
    z.add_record(DEV, {"dev_data_fan.zip": md5(make_zip(fan)),
                       "dev_data_valve.zip": md5(make_zip(valve))})
    got = dl.download("dcase2020", "dev", "fan,valve", tmp_path, base_url=z.url, **FAST)
    root = tmp_path / "dcase2020"
    assert got == [root / "fan", root / "valve"]
    assert dl.dataset_dir(tmp_path, "dcase2020") == root
    for machine, members in (("fan", fan), ("valve", valve)):
        assert (root / machine / ".complete").is_file()
        assert dl.is_complete(tmp_path, "dcase2020", machine)
        files = sorted(p.relative_to(root).as_posix() for p in (root / machine).rglob("*.wav"))
        assert files == sorted(k.removeprefix("dev_data/") for k in members)
        for key, data in members.items():  # same audio as what was zipped
            x, sr = sf.read(root / key.removeprefix("dev_data/"))
            y, _ = sf.read(io.BytesIO(data))
            assert sr == 16000 and np.array_equal(x, y)
    # no zip, part, lock or temporary folder is left behind
    assert list((tmp_path / ".downloads").iterdir()) == []
    assert sorted(p.name for p in root.iterdir()) == ["fan", "valve"]
    assert len(z.hits("/records/")) == 2 and len(z.hits("/api/")) == 2
    n = len(z.requests)
    again = dl.download("dcase2020", "dev", ["valve", "fan"], tmp_path, base_url=z.url, **FAST)
    assert again == [root / "valve", root / "fan"] and len(z.requests) == n


def test_known_md5_skips_the_api(zenodo, tmp_path, monkeypatch):
    data = make_zip(dcase2020_members("pump"))
    zenodo.add_file(DEV, "dev_data_pump.zip", data)
    monkeypatch.setattr(dl, "KNOWN_MD5", {"dev_data_pump.zip": md5(data)})
    dl.download("dcase2020", "dev", "pump", tmp_path, base_url=zenodo.url, **FAST)
    assert dl.is_complete(tmp_path, "dcase2020", "pump")
    assert zenodo.hits("/api/") == []


def test_additional_and_eval_share_the_eval_root(zenodo, tmp_path):
    train = make_zip(dcase2020_members("fan", splits=("train",)))
    test = make_zip(dcase2020_members("fan", splits=("test",)))
    serve_zip(zenodo, ADD, "eval_data_train_fan.zip", train)
    serve_zip(zenodo, EVAL, "eval_data_test_fan.zip", test)
    (a,) = dl.download("dcase2020", "additional", "fan", tmp_path, base_url=zenodo.url, **FAST)
    assert not dl.is_complete(tmp_path, "dcase2020", "fan", part="eval")
    (b,) = dl.download("dcase2020", "eval", "fan", tmp_path, base_url=zenodo.url, **FAST)
    assert a == b == tmp_path / "dcase2020-eval" / "fan"
    assert sorted(p.name for p in a.iterdir()) == [".complete-additional", ".complete-eval", "test", "train"]
    assert len(list((a / "train").glob("*.wav"))) == 2 and len(list((a / "test").glob("*.wav"))) == 2
    assert not (tmp_path / "dcase2020").exists()


def test_keep_zip_is_reused_without_downloading(zenodo, tmp_path):
    data = make_zip(dcase2020_members("slider"))
    serve_zip(zenodo, DEV, "dev_data_slider.zip", data)
    dl.download("dcase2020", "dev", "slider", tmp_path, base_url=zenodo.url, keep_zip=True, **FAST)
    assert (tmp_path / ".downloads" / "dev_data_slider.zip").read_bytes() == data
    (tmp_path / "dcase2020" / "slider" / ".complete").unlink()  # looks half-extracted now
    n = len(zenodo.requests)
    dl.download("dcase2020", "dev", "slider", tmp_path, base_url=zenodo.url, **FAST)
    assert len(zenodo.requests) == n and dl.is_complete(tmp_path, "dcase2020", "slider")
    assert not (tmp_path / ".downloads" / "dev_data_slider.zip").exists()


def test_half_extracted_tree_is_replaced(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    serve_zip(zenodo, DEV, "dev_data_fan.zip", data)
    stale = tmp_path / "dcase2020" / "fan" / "train"
    stale.mkdir(parents=True)
    (stale / "junk.wav").write_bytes(b"half")
    assert not dl.is_complete(tmp_path, "dcase2020", "fan")
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, **FAST)
    assert not (stale / "junk.wav").exists()
    assert len(list(stale.glob("*.wav"))) == 2 and dl.is_complete(tmp_path, "dcase2020", "fan")


# ------------------------------------------------------------------ failures


def test_checksum_mismatch_deletes_the_file(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    serve_zip(zenodo, DEV, "dev_data_fan.zip", data, md5_value="0" * 32)
    with pytest.raises(dl.ChecksumError) as err:
        dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, **FAST)
    msg = str(err.value)
    assert f"{zenodo.url}/records/{DEV}/files/dev_data_fan.zip" in msg
    assert "0" * 32 in msg and md5(data) in msg
    assert list((tmp_path / ".downloads").iterdir()) == []
    assert not dl.is_complete(tmp_path, "dcase2020", "fan")


def _corrupt_crc(data: bytes) -> bytes:
    """Flip one byte inside the first (stored) member's data, keeping the zip readable."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
    pos = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 100
    return data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1:]


@pytest.mark.parametrize("kind", ["garbage", "truncated", "bad_crc", "traversal", "no_splits"])
def test_bad_zip_leaves_nothing_complete(zenodo, tmp_path, kind):
    good = make_zip(dcase2020_members("fan"), stored=True)
    data = {
        "garbage": os.urandom(4000),
        "truncated": good[: len(good) // 2],
        "bad_crc": _corrupt_crc(good),
        "traversal": make_zip({**dcase2020_members("fan"), "../evil.txt": b"x"}),
        "no_splits": make_zip({"fan/readme.txt": b"nothing here"}),
    }[kind]
    serve_zip(zenodo, DEV, "dev_data_fan.zip", data)  # the md5 matches: the zip itself is bad
    with pytest.raises(dl.ArchiveError) as err:
        dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, **FAST)
    assert "dev_data_fan.zip" in str(err.value)
    assert not dl.is_complete(tmp_path, "dcase2020", "fan")
    assert not (tmp_path / "dcase2020" / "fan").exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "dcase2020" / "evil.txt").exists()
    assert list((tmp_path / ".downloads").iterdir()) == []  # bad zip deleted, lock released
    root = tmp_path / "dcase2020"
    assert not root.exists() or list(root.iterdir()) == []  # no temporary folder left


@pytest.mark.parametrize("code", [404, 410])
def test_dead_link_names_url_and_record_page(zenodo, tmp_path, code):
    zenodo.add_file(DEV, "dev_data_fan.zip", b"", mode="status", status=code)
    with pytest.raises(dl.DownloadError) as err:
        dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, **FAST)
    msg = str(err.value)
    assert isinstance(err.value, dl.DeadLinkError)
    assert f"{zenodo.url}/records/{DEV}/files/dev_data_fan.zip?download=1" in msg
    assert "moved" in msg and f"{zenodo.url}/records/{DEV} " in msg and str(code) in msg
    assert len(zenodo.hits("/records/")) == 1  # a dead link is not retried


def test_flaky_server_is_retried(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    path = serve_zip(zenodo, DEV, "dev_data_fan.zip", data, mode="flaky", status=500, fail_times=2)
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, retries=2, **FAST)
    assert dl.is_complete(tmp_path, "dcase2020", "fan")
    assert len(zenodo.hits(path)) == 3


def test_retries_are_bounded(zenodo, tmp_path):
    path = serve_zip(zenodo, DEV, "dev_data_fan.zip", b"", mode="status", status=503)
    with pytest.raises(dl.DownloadError) as err:
        dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, retries=1, **FAST)
    assert "2 attempt" in str(err.value) and "503" in str(err.value)
    assert len(zenodo.hits(path)) == 2


# ------------------------------------------------------------------ resume


def test_resume_sends_range_and_appends(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    path = serve_zip(zenodo, DEV, "dev_data_fan.zip", data)
    k = len(data) // 3
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "dev_data_fan.zip.part").write_bytes(data[:k])
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, keep_zip=True, **FAST)
    (req,) = zenodo.hits(path)
    assert req[1]["Range"] == f"bytes={k}-"
    assert (tmp_path / ".downloads" / "dev_data_fan.zip").read_bytes() == data
    assert dl.is_complete(tmp_path, "dcase2020", "fan")


def test_server_ignoring_range_restarts_cleanly(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    path = serve_zip(zenodo, DEV, "dev_data_fan.zip", data, mode="norange")
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "dev_data_fan.zip.part").write_bytes(b"\xff" * 500)  # not a prefix
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, keep_zip=True, **FAST)
    (req,) = zenodo.hits(path)
    assert req[1]["Range"] == "bytes=500-"
    assert (tmp_path / ".downloads" / "dev_data_fan.zip").read_bytes() == data


def test_cut_connection_leaves_part_then_resumes(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    k = len(data) // 2
    path = serve_zip(zenodo, DEV, "dev_data_fan.zip", data, mode="cut", fail_times=1, cut_at=k)
    with pytest.raises(dl.DownloadError, match="short read|connection broke"):
        dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, retries=0, **FAST)
    part = tmp_path / ".downloads" / "dev_data_fan.zip.part"
    assert part.read_bytes() == data[:k]
    assert not (tmp_path / ".downloads" / "dev_data_fan.zip.lock").exists()
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, keep_zip=True, **FAST)
    first, second = zenodo.hits(path)
    assert "Range" not in first[1] and second[1]["Range"] == f"bytes={k}-"
    assert (tmp_path / ".downloads" / "dev_data_fan.zip").read_bytes() == data
    assert not part.exists()


def test_stalled_server_times_out_then_resumes(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    path = serve_zip(zenodo, DEV, "dev_data_fan.zip", data, mode="stall", fail_times=1,
                     cut_at=1000, stall_s=1.0)
    fast = {**FAST, "timeout": 0.3}
    with pytest.raises(dl.DownloadError, match="timed out|connection broke"):
        dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, retries=0, **fast)
    assert (tmp_path / ".downloads" / "dev_data_fan.zip.part").read_bytes() == data[:1000]
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, **fast)
    assert zenodo.hits(path)[-1][1]["Range"] == "bytes=1000-"
    assert dl.is_complete(tmp_path, "dcase2020", "fan")


def test_redirect_keeps_the_range_header(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    serve_zip(zenodo, DEV, "dev_data_fan.zip", b"", mode="redirect", location="/content/fan")
    zenodo.routes["/content/fan"] = Route(data=data)
    zenodo.add_record(DEV, {"dev_data_fan.zip": md5(data)})
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "dev_data_fan.zip.part").write_bytes(data[:64])
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, **FAST)
    (req,) = zenodo.hits("/content/fan")
    assert req[1]["Range"] == "bytes=64-" and dl.is_complete(tmp_path, "dcase2020", "fan")


def test_missing_api_checksum_warns_and_relies_on_zip_crcs(zenodo, tmp_path):
    zenodo.add_file(DEV, "dev_data_fan.zip", make_zip(dcase2020_members("fan")))  # no API route
    with pytest.warns(UserWarning, match="no checksum for dev_data_fan.zip"):
        dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, retries=0, **FAST)
    assert dl.is_complete(tmp_path, "dcase2020", "fan")
    assert len(zenodo.hits("/api/records/")) == 1


def test_cut_connection_resumes_within_one_call(zenodo, tmp_path):
    data = make_zip(dcase2020_members("fan"))
    path = serve_zip(zenodo, DEV, "dev_data_fan.zip", data, mode="cut", fail_times=1, cut_at=777)
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, retries=1, **FAST)
    assert [r[1].get("Range") for r in zenodo.hits(path)] == [None, "bytes=777-"]
    assert dl.is_complete(tmp_path, "dcase2020", "fan")


# ------------------------------------------------------------------ lock


def test_live_lock_blocks_a_second_download(zenodo, tmp_path):
    serve_zip(zenodo, DEV, "dev_data_fan.zip", make_zip(dcase2020_members("fan")))
    lock = tmp_path / ".downloads" / "dev_data_fan.zip.lock"
    with dl.file_lock(lock):  # held by this test process (an OS lock on its own descriptor)
        with pytest.raises(dl.DownloadLockedError) as err:
            dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url,
                        lock_timeout=0.3, **FAST)
        assert str(lock) in str(err.value) and f"pid {os.getpid()}" in str(err.value)
        assert zenodo.requests == [] and lock.exists()  # someone else's lock is left alone


def test_stale_lock_of_dead_pid_is_taken_over(zenodo, tmp_path):
    serve_zip(zenodo, DEV, "dev_data_fan.zip", make_zip(dcase2020_members("fan")))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid is now dead
    lock = tmp_path / ".downloads" / "dev_data_fan.zip.lock"
    lock.parent.mkdir()
    lock.write_text(f"{child.pid}\n")
    dl.download("dcase2020", "dev", "fan", tmp_path, base_url=zenodo.url, **FAST)
    assert dl.is_complete(tmp_path, "dcase2020", "fan") and not lock.exists()


def test_file_lock_is_exclusive_and_released(tmp_path):
    lock = tmp_path / "x.lock"
    with dl.file_lock(lock) as held:
        assert held.read_text().split()[0] == str(os.getpid())
        with pytest.raises(dl.DownloadLockedError):
            with dl.file_lock(lock):
                pass
    assert not lock.exists()
