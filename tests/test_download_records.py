"""Tests for the DCASE 2023-2026 records of asdlib.download and for ground_truth(), against the local
fake servers of tests/http_fixtures.py (fabricated zips and ground-truth lists, hand-made expectations)."""
from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import pytest

import asdlib.download as dl
from asdlib.dcase import EVAL_MACHINE_TYPES, MACHINE_TYPES
from http_fixtures import Route, make_zip, serve

FAST = dict(progress=False, backoff=0.01, timeout=5)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(dl, "KNOWN_MD5", {})
    monkeypatch.delenv("ASD_ZENODO_URL", raising=False)
    monkeypatch.delenv("ASD_GITHUB_RAW_URL", raising=False)
    with serve(max_s=60) as state:
        yield state


def serve_zip(z, dataset: str, part: str, machine: str, members: dict[str, bytes]) -> str:
    spec = dl.RECORDS[dataset][part]
    name, data = spec.file(machine), make_zip(members)
    z.add_file(spec.record, name, data)
    listed = z.__dict__.setdefault("md5s", {}).setdefault(spec.record, {})
    listed[name] = md5(data)  # the record lists every file served so far
    z.add_record(spec.record, listed)
    return f"/records/{spec.record}/files/{name}"


# ------------------------------------------------------------------ the records table


def test_first_shot_records_and_names():
    ids = {(d, p): s.record for d, parts in dl.RECORDS.items() for p, s in parts.items()}
    assert ids[("dcase2023", "dev")] == 7882613 and ids[("dcase2023", "additional")] == 7830345
    assert ids[("dcase2023", "eval")] == 7860847 and ids[("dcase2024", "dev")] == 10902294
    assert ids[("dcase2024", "additional")] == 11259435 and ids[("dcase2024", "eval")] == 11363076
    assert ids[("dcase2025", "dev")] == 15097779 and ids[("dcase2025", "additional")] == 15392814
    assert ids[("dcase2025", "eval")] == 15519362 and ids[("dcase2026", "dev")] == 19336329
    assert ids[("dcase2026", "additional")] == 20151556 and ids[("dcase2026", "eval")] == 20437238
    assert dl.file_name("dcase2023", "dev", "ToyTrain") == "dev_ToyTrain.zip"
    assert dl.file_name("dcase2023", "additional", "Vacuum") == "eval_data_Vacuum_train.zip"
    assert dl.file_name("dcase2024", "additional", "3DPrinter") == "eval_data_3DPrinter_train_r2.zip"
    assert dl.file_name("dcase2024", "additional", "RoboticArm") == "eval_data_RoboticArm_train_r2.zip"
    assert dl.file_name("dcase2024", "additional", "Scanner") == "eval_data_Scanner_train.zip"
    assert dl.file_name("dcase2025", "eval", "CoffeeGrinder") == "eval_data_CoffeeGrinder_test.zip"
    assert dl.file_name("dcase2026", "dev", "ToyCar") == "dev_ToyCar_r2.zip"
    assert dl.file_name("dcase2026", "dev", "bearingEmu") == "dev_bearingEmu.zip"
    assert dl.file_url("dcase2025", "dev", "valve", base_url="http://h") == \
        "http://h/records/15097779/files/dev_valve.zip?download=1"
    assert len(dl.RECORDS["dcase2024"]["eval"].machines) == 9
    assert len(dl.RECORDS["dcase2025"]["eval"].machines) == 8
    assert set(dl.RECORDS["dcase2026"]["eval"].machines) == {
        "ToyDrone", "ToothBrush", "SewingMachine", "BlowerDustCollector", "Sander"}
    with pytest.raises(ValueError, match="bandsaw"):
        dl.file_name("dcase2023", "dev", "bandsaw")  # an evaluation type is not in the dev part


def test_development_types_are_the_vocabulary_s_and_parts_agree():
    for dataset, parts in dl.RECORDS.items():
        assert parts["dev"].machines == MACHINE_TYPES[dataset], dataset
        if "eval" in parts:
            assert parts["eval"].machines == EVAL_MACHINE_TYPES[dataset], dataset
        assert parts["additional"].machines == parts["eval"].machines, dataset
        for spec in parts.values():
            assert dict(spec.renamed).keys() <= set(spec.machines)
            assert len(set(spec.machines)) == len(spec.machines)


def test_local_zip_names_never_collide_and_known_md5_keys_are_local_names():
    local = [dl._local_name(d, p.file(m)) for d, parts in dl.RECORDS.items()
             for p in parts.values() for m in p.machines]
    assert len(local) == len(set(local))
    assert dl._local_name("dcase2020", "dev_data_fan.zip") == "dev_data_fan.zip"  # unchanged
    assert dl._local_name("dcase2022", "dev_fan.zip") == "dcase2022-dev_fan.zip"
    assert dl._local_name("dcase2025", "dev_fan.zip") == "dcase2025-dev_fan.zip"
    assert set(dl.KNOWN_MD5) <= set(local)


# ------------------------------------------------------------------ first-shot zips


def first_shot_members(machine: str, prefix: str = "", supplemental: bool = True) -> dict[str, bytes]:
    base = f"{prefix}{machine}/"
    members = {base + "train/section_00_source_train_normal_0000_noAttribute.wav": b"a",
               base + "test/section_00_source_test_anomaly_0000_noAttribute.wav": b"b",
               base + "attributes_00.csv": b"file_name,d1p,d1v\n"}
    if supplemental:
        members[base + "supplemental/section_00_source_supplemental_machine_0000.wav"] = b"c"
    return members


def test_2025_dev_keeps_supplemental_and_attributes(server, tmp_path):
    serve_zip(server, "dcase2025", "dev", "fan", first_shot_members("fan"))
    serve_zip(server, "dcase2025", "dev", "valve", first_shot_members("valve", "dev_data/", supplemental=False))
    got = dl.download("dcase2025", "dev", "fan,valve", tmp_path, base_url=server.url, **FAST)
    fan, valve = tmp_path / "dcase2025" / "fan", tmp_path / "dcase2025" / "valve"
    assert got == [fan, valve]
    assert sorted(p.name for p in fan.iterdir()) == [".complete", "attributes_00.csv", "supplemental", "test", "train"]
    assert (fan / "supplemental" / "section_00_source_supplemental_machine_0000.wav").read_bytes() == b"c"
    assert (fan / "attributes_00.csv").read_text() == "file_name,d1p,d1v\n"
    assert sorted(p.name for p in valve.iterdir()) == [".complete", "attributes_00.csv", "test", "train"]
    assert list((tmp_path / ".downloads").iterdir()) == []


def test_attributes_beside_the_type_folder_move_into_it(server, tmp_path):
    members = {"gearbox/train/section_00_source_train_normal_0000_a.wav": b"a",
               "gearbox/test/section_00_source_test_normal_0000_a.wav": b"b",
               "attributes_00.csv": b"file_name\n"}  # at the zip's top, beside gearbox/
    serve_zip(server, "dcase2023", "dev", "gearbox", members)
    (root,) = dl.download("dcase2023", "dev", "gearbox", tmp_path, base_url=server.url, **FAST)
    assert (root / "attributes_00.csv").read_text() == "file_name\n"
    assert sorted(p.name for p in (tmp_path / "dcase2023").iterdir()) == ["gearbox"]


def test_2025_additional_and_eval_merge_keeps_supplemental(server, tmp_path):
    train = {k: v for k, v in first_shot_members("ToyPet").items() if "/test/" not in k}
    test = {"ToyPet/test/section_00_0000.wav": b"t"}
    serve_zip(server, "dcase2025", "additional", "ToyPet", train)
    serve_zip(server, "dcase2025", "eval", "ToyPet", test)
    dl.download("dcase2025", "additional", "ToyPet", tmp_path, base_url=server.url, **FAST)
    (root,) = dl.download("dcase2025", "eval", "ToyPet", tmp_path, base_url=server.url, **FAST)
    assert root == tmp_path / "dcase2025-eval" / "ToyPet"
    assert sorted(p.name for p in root.iterdir()) == [
        ".complete-additional", ".complete-eval", "attributes_00.csv", "supplemental", "test", "train"]


def test_re_issued_zip_is_fetched_under_its_new_name(server, tmp_path):
    path = serve_zip(server, "dcase2024", "additional", "RoboticArm",
                     {k: v for k, v in first_shot_members("RoboticArm").items() if "/test/" not in k})
    dl.download("dcase2024", "additional", "RoboticArm", tmp_path, base_url=server.url, **FAST)
    assert [r[0] for r in server.hits("/records/")] == [path]
    assert path.endswith("eval_data_RoboticArm_train_r2.zip")
    assert dl.is_complete(tmp_path, "dcase2024", "RoboticArm", part="additional")


def test_same_zip_name_of_two_years_does_not_mix(server, tmp_path):
    a = {**first_shot_members("fan", supplemental=False), "fan/train/y2022.wav": b"2022"}
    b = {**first_shot_members("fan", supplemental=False), "fan/train/y2023.wav": b"2023"}
    serve_zip(server, "dcase2022", "dev", "fan", a)
    serve_zip(server, "dcase2023", "dev", "fan", b)
    dl.download("dcase2022", "dev", "fan", tmp_path, base_url=server.url, keep_zip=True, **FAST)
    dl.download("dcase2023", "dev", "fan", tmp_path, base_url=server.url, keep_zip=True, **FAST)
    assert sorted(p.name for p in (tmp_path / ".downloads").iterdir()) == [
        "dcase2022-dev_fan.zip", "dcase2023-dev_fan.zip"]
    assert (tmp_path / "dcase2023" / "fan" / "train" / "y2023.wav").exists()
    assert not (tmp_path / "dcase2023" / "fan" / "train" / "y2022.wav").exists()


# ------------------------------------------------------------------ ground truth

# A fabricated evaluation set: two types, one section "03", 2 clips per domain and label (8 per list).
# Official values, clip 0 .. 7: (domain, label)
OFFICIAL = {
    "ToyCar": ["sn", "sa", "tn", "ta", "sn", "sa", "tn", "ta"],
    "fan": ["ta", "tn", "sa", "sn", "ta", "tn", "sa", "sn"],
}
# The circulating list gets ToyCar clip 0 (label), clip 2 (domain) and clip 5 (both) wrong.
FIXES = ("# notes of the fabricated table\nmachine_type,file,domain,label,wrong\n"
         "ToyCar,section_03_test_0000.wav,source,normal,label\n"
         "ToyCar,section_03_test_0002.wav,target,normal,domain\n"
         "ToyCar,section_03_test_0005.wav,source,anomaly,both\n")
CIRCULATING = {"ToyCar": ["sa", "sa", "sn", "ta", "sn", "tn", "tn", "ta"], "fan": OFFICIAL["fan"]}
EXPECTED = ("machine_type,file,unit,domain,label\n"
            "ToyCar,section_03_test_0000.wav,section_03,source,normal\n"
            "ToyCar,section_03_test_0001.wav,section_03,source,anomaly\n"
            "ToyCar,section_03_test_0002.wav,section_03,target,normal\n"
            "ToyCar,section_03_test_0003.wav,section_03,target,anomaly\n"
            "ToyCar,section_03_test_0004.wav,section_03,source,normal\n"
            "ToyCar,section_03_test_0005.wav,section_03,source,anomaly\n"
            "ToyCar,section_03_test_0006.wav,section_03,target,normal\n"
            "ToyCar,section_03_test_0007.wav,section_03,target,anomaly\n"
            "fan,section_03_test_0000.wav,section_03,target,anomaly\n"
            "fan,section_03_test_0001.wav,section_03,target,normal\n"
            "fan,section_03_test_0002.wav,section_03,source,anomaly\n"
            "fan,section_03_test_0003.wav,section_03,source,normal\n"
            "fan,section_03_test_0004.wav,section_03,target,anomaly\n"
            "fan,section_03_test_0005.wav,section_03,target,normal\n"
            "fan,section_03_test_0006.wav,section_03,source,anomaly\n"
            "fan,section_03_test_0007.wav,section_03,source,normal\n")


@pytest.fixture
def tiny_truth(monkeypatch, tmp_path):
    fixes = tmp_path / "fixes.csv"
    fixes.write_text(FIXES)
    spec = dl.GroundTruthSource("someone/evaluator", "abc123", ("ToyCar", "fan"), ("03",), 2, str(fixes))
    monkeypatch.setattr(dl, "GROUND_TRUTH", {"dcase2022": spec})
    return spec


def lists(codes: list[str]) -> tuple[bytes, bytes]:
    """The evaluator's two files of one section: labels (anomaly = 1) and domains (target = 1)."""
    label = "".join(f"section_03_{i:04d}.wav,{int(c[1] == 'a')}\n" for i, c in enumerate(codes))
    domain = "".join(f"section_03_{i:04d}.wav,{int(c[0] == 't')}\n" for i, c in enumerate(codes))
    return label.encode(), domain.encode()


def serve_truth(z, codes_by_type: dict[str, list[str]], **route) -> None:
    for mt, codes in codes_by_type.items():
        for kind, data in zip(("data", "domain"), lists(codes)):
            path = f"/someone/evaluator/abc123/ground_truth_{kind}/ground_truth_{mt}_section_03_test.csv"
            z.routes[path] = Route(data=data, **route)


def test_ground_truth_url_of_the_official_2022_evaluator(monkeypatch):
    monkeypatch.delenv("ASD_GITHUB_RAW_URL", raising=False)
    assert dl.ground_truth_url("dcase2022", "data", "ToyCar", "03") == (
        "https://raw.githubusercontent.com/Kota-Dohi/dcase2022_evaluator/"
        "9785ae5c63f6308c699b8b82cff3bfcd08667df3/ground_truth_data/ground_truth_ToyCar_section_03_test.csv")
    monkeypatch.setenv("ASD_GITHUB_RAW_URL", "http://127.0.0.1:9/")
    assert dl.ground_truth_url("dcase2022", "domain", "valve", "05").startswith(
        "http://127.0.0.1:9/Kota-Dohi/dcase2022_evaluator/9785ae5c")
    with pytest.raises(ValueError, match="dcase2022"):
        dl.ground_truth_url("dcase2019", "data", "fan", "03")
    with pytest.raises(ValueError, match="section"):
        dl.ground_truth_url("dcase2022", "data", "fan", "00")


def test_official_lists_need_no_correction(server, tiny_truth, tmp_path, recwarn):
    serve_truth(server, OFFICIAL)
    path = dl.ground_truth("dcase2022", tmp_path, base_url=server.url, backoff=0.01, timeout=5)
    assert path == tmp_path / "dcase2022-eval" / "ground_truth.csv"
    assert path.read_text() == EXPECTED
    assert not [w for w in recwarn if "known errors" in str(w.message)]
    assert len(server.requests) == 4 and sorted(p.name for p in path.parent.iterdir()) == ["ground_truth.csv"]
    from asdlib.submission import read_ground_truth
    assert len(read_ground_truth(path)) == 16


def test_known_errors_are_corrected_with_a_warning(server, tiny_truth, tmp_path):
    serve_truth(server, CIRCULATING)
    with pytest.warns(UserWarning, match="3 clip"):
        path = dl.ground_truth("dcase2022", tmp_path, base_url=server.url, backoff=0.01)
    assert path.read_text() == EXPECTED


@pytest.mark.parametrize("case, words", [
    ("unknown_disagreement", ["ToyCar section_03_test_0000.wav", "neither"]),
    ("unbalanced", ["fan section_03 target anomaly: 3", "expected 2"]),
    ("missing_clip", ["ground_truth_fan_section_03_test.csv", "7 clips, expected 8", "missing [7]"]),
    ("garbage", ["ground_truth_ToyCar_section_03_test.csv line 2", "corrupt"]),
    ("wrong_section", ["line 1", "section_03"]),
    ("twice", ["listed twice"]),
])
def test_bad_lists_are_clear_errors_and_write_nothing(server, tiny_truth, tmp_path, case, words):
    official = {mt: list(c) for mt, c in OFFICIAL.items()}
    if case == "unknown_disagreement":
        official["ToyCar"][0] = "ta"  # neither sn (official) nor sa (the known error); counts still off too
    if case == "unbalanced":
        official["fan"][1] = "ta"  # a clip the fixes table does not list
    serve_truth(server, official)
    data_path = "/someone/evaluator/abc123/ground_truth_data/ground_truth_{}_section_03_test.csv"
    if case == "missing_clip":
        route = server.routes[data_path.format("fan")]
        route.data = b"".join(route.data.splitlines(keepends=True)[:7])
    if case == "garbage":
        route = server.routes[data_path.format("ToyCar")]
        route.data = route.data.replace(b"section_03_0001.wav,1", b"\x00\x13garbage")
    if case == "wrong_section":
        route = server.routes[data_path.format("ToyCar")]
        route.data = route.data.replace(b"section_03_0000", b"section_04_0000")
    if case == "twice":
        route = server.routes[data_path.format("fan")]
        route.data = route.data.replace(b"section_03_0007", b"section_03_0006")
    out = tmp_path / "dcase2022-eval" / "ground_truth.csv"
    out.parent.mkdir(parents=True)
    out.write_text("old\n")
    with pytest.raises(dl.GroundTruthError) as err:
        dl.ground_truth("dcase2022", tmp_path, base_url=server.url, backoff=0.01)
    for w in words:
        assert w in str(err.value), (w, str(err.value))
    assert out.read_text() == "old\n"  # left as it was
    assert sorted(p.name for p in out.parent.iterdir()) == ["ground_truth.csv"]


def test_dead_link_and_broken_connection(server, tiny_truth, tmp_path):
    with pytest.raises(dl.DeadLinkError, match="ground_truth_data/ground_truth_ToyCar_section_03_test.csv"):
        dl.ground_truth("dcase2022", tmp_path, base_url=server.url, backoff=0.01)
    serve_truth(server, OFFICIAL, mode="cut", fail_times=1, cut_at=10)
    with pytest.raises(dl.DownloadError, match="short read|connection broke|IncompleteRead"):
        dl.ground_truth("dcase2022", tmp_path, base_url=server.url, retries=0, backoff=0.01)
    path = dl.ground_truth("dcase2022", tmp_path, base_url=server.url, retries=1, backoff=0.01)
    assert path.read_text() == EXPECTED


def test_the_2022_fixes_table_is_consistent():
    """The package table: 608 wrong labels and 592 wrong domains, ToyCar / ToyTrain only, and moving
    each clip from its right cell to its wrong one leaves every cell's count unchanged, as it must
    (both lists hold 50 clips per section, domain and label)."""
    fixes = dl._read_fixes(dl.GROUND_TRUTH["dcase2022"].fixes)
    assert len(fixes) == 881
    wrong = Counter((mt, w) for (mt, _), (_, _, w) in fixes.items())
    labels = {mt: wrong[(mt, "label")] + wrong[(mt, "both")] for mt in ("ToyCar", "ToyTrain")}
    domains = {mt: wrong[(mt, "domain")] + wrong[(mt, "both")] for mt in ("ToyCar", "ToyTrain")}
    assert labels == {"ToyCar": 296, "ToyTrain": 312} and domains == {"ToyCar": 292, "ToyTrain": 300}
    flow: Counter = Counter()
    flip = {"source": "target", "target": "source", "normal": "anomaly", "anomaly": "normal"}
    for (mt, f), (d, lab, w) in fixes.items():
        assert f.startswith(("section_03_test_", "section_04_test_", "section_05_test_")) and int(f[-8:-4]) < 200
        flow[(mt, f[:10], d, lab)] -= 1
        flow[(mt, f[:10], flip[d] if w != "label" else d, flip[lab] if w != "domain" else lab)] += 1
    assert set(flow.values()) == {0}


def test_ground_truth_header_matches_what_submission_reads():
    from asdlib.submission import GROUND_TRUTH_COLUMNS
    assert list(dl.GROUND_TRUTH_COLUMNS) == GROUND_TRUTH_COLUMNS
    with open(Path(dl.__file__).with_name("dcase2022_eval_fixes.csv")) as fh:
        header = next(csv.reader(line for line in fh if not line.startswith("#")))
    assert header == ["machine_type", "file", "domain", "label", "wrong"]
