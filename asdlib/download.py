"""Zenodo downloaders for the DCASE 2020 and 2022 to 2026 Task 2 data, and the 2022 evaluation ground truth.

Explained in chapter 0 (``book/index.md``, "how to use this book"); used for the real-data runs
of chapter 7, `book/07_dcase2020_results.ipynb`, and chapter 8, `book/08_dcase2022_results.ipynb`.
The data it knows: `RECORDS` (dataset -> part -> Zenodo record, file names, machine types),
`KNOWN_MD5` (else the Zenodo records API), `GROUND_TRUTH` (:func:`ground_truth`). A type is
present only when its marker file exists (written after its tree is in place). On disk (``out``:
``$ASD_DATA_DIR``, else ``~/asd-data``; ``<zip>`` gains a ``<dataset>-`` prefix where years share it)::

    <out>/.downloads/<zip>.part, <zip>.lock       partial download (resumed) and its lock
    <out>/<dataset>/<type>/{train,test} + .complete               part "dev"
    <out>/<dataset>-eval/<type>/train   + .complete-additional    part "additional"
    <out>/<dataset>-eval/<type>/test    + .complete-eval          part "eval"
    <out>/<dataset>-eval/ground_truth.csv                         :func:`ground_truth`
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import importlib.resources
import json
import os
import re
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from tqdm.auto import tqdm

from .dcase import EVAL_MACHINE_TYPES, MACHINE_TYPES
from .files import atomic_path, locked, write_text_atomic
from .settings import DEFAULT_ZENODO_URL, data_dir, github_raw_url, zenodo_url

__all__ = [
    "RECORDS",
    "KNOWN_MD5",
    "ZenodoPart",
    "DownloadError",
    "DeadLinkError",
    "ChecksumError",
    "ArchiveError",
    "DownloadLockedError",
    "default_data_dir",
    "dataset_dir",
    "is_complete",
    "file_name",
    "file_url",
    "record_page",
    "fetch_md5",
    "file_lock",
    "download",
    "GROUND_TRUTH",
    "GroundTruthSource",
    "GroundTruthError",
    "ground_truth_url",
    "ground_truth",
]

DEFAULT_BASE_URL = DEFAULT_ZENODO_URL
USER_AGENT = "asdlib-downloader/0.1 (+python urllib)"
CHUNK = 1 << 20

_MIMII_TOY_2020 = MACHINE_TYPES["dcase2020"]
_TYPES_2022 = MACHINE_TYPES["dcase2022"]
_EVAL = EVAL_MACHINE_TYPES  # the evaluation sets' machine types


@dataclass(frozen=True)
class ZenodoPart:
    """One downloadable part of a dataset: a Zenodo record holding one zip per machine type."""

    record: int
    pattern: str  # file name, "{machine}" is replaced by the machine type
    machines: tuple[str, ...]
    splits: tuple[str, ...]  # sub-folders each zip must provide under <type>/
    renamed: tuple[tuple[str, str], ...] = ()  # (machine, file name) where a zip was re-issued

    def file(self, machine: str) -> str:
        """The zip's file name on Zenodo for ``machine``."""
        return dict(self.renamed).get(machine) or self.pattern.format(machine=machine)


_FIRST_SHOT = ("train", "test")
# Where each fact was checked (records, file names, machine types):
# - 2020, 2022: the official baseline's download lists (nttcslab/dcase2023_task2_baseline_ae,
#   datasets/download_path_legacy.yaml, tools/data_download_2020.sh) and the DCASE 2022 download
#   script of TakuyaFujimura/dcase-asd-toolkit (jobs/download/base/dcase2022.sh).
# - 2023, 2024: datasets/download_path_2023.yaml / _2024.yaml and datasets/machine_type_*_{dev,eval}.yaml
#   of the official baseline, the same records in ASDKit's jobs/download/base/dcase2023.sh /
#   dcase2024.sh and data/machines.json, and the evaluation records named in the READMEs of
#   nttcslab/dcase2023_task2_evaluator (7860847) and nttcslab/dcase2024_task2_evaluator (11363076),
#   whose ground_truth_data/ lists the evaluation types. 2024: 3DPrinter and RoboticArm were
#   re-issued as *_train_r2.zip (baseline README; record 11259435 replaced 11183284).
# - 2025: datasets/download_path_2025.yaml / machine_type_2025_*.yaml of the official baseline, its
#   README (supplemental/ in the additional training zips; public loaders find one in the
#   development zips too: it is kept, not required) and the README of
#   nttcslab/dcase2025_task2_evaluator (evaluation record 15519362).
# - 2026: datasets/download_path_2026.yaml / machine_type_2026_*.yaml of the official baseline
#   (dev_ToyCar.zip re-issued as dev_ToyCar_r2.zip) and the Zenodo page of record 20437238 ("DCASE
#   2026 Challenge Task 2 Evaluation Dataset", its five types); the evaluation zip names
#   eval_data_<type>_test.zip come from public download scripts only (not yet the baseline's).
RECORDS: dict[str, dict[str, ZenodoPart]] = {
    "dcase2020": {
        "dev": ZenodoPart(3678171, "dev_data_{machine}.zip", _MIMII_TOY_2020, ("train", "test")),
        "additional": ZenodoPart(3727685, "eval_data_train_{machine}.zip", _MIMII_TOY_2020, ("train",)),
        "eval": ZenodoPart(3841772, "eval_data_test_{machine}.zip", _MIMII_TOY_2020, ("test",)),
    },
    "dcase2022": {
        "dev": ZenodoPart(6355122, "dev_{machine}.zip", _TYPES_2022, ("train", "test")),
        "additional": ZenodoPart(6462969, "eval_data_{machine}_train.zip", _TYPES_2022, ("train",)),
        "eval": ZenodoPart(6586456, "eval_data_{machine}_test.zip", _TYPES_2022, ("test",)),
    },
    "dcase2023": {
        "dev": ZenodoPart(7882613, "dev_{machine}.zip", MACHINE_TYPES["dcase2023"], _FIRST_SHOT),
        "additional": ZenodoPart(7830345, "eval_data_{machine}_train.zip", _EVAL["dcase2023"], ("train",)),
        "eval": ZenodoPart(7860847, "eval_data_{machine}_test.zip", _EVAL["dcase2023"], ("test",)),
    },
    "dcase2024": {
        "dev": ZenodoPart(10902294, "dev_{machine}.zip", MACHINE_TYPES["dcase2024"], _FIRST_SHOT),
        "additional": ZenodoPart(11259435, "eval_data_{machine}_train.zip", _EVAL["dcase2024"], ("train",),
                                 (("3DPrinter", "eval_data_3DPrinter_train_r2.zip"),
                                  ("RoboticArm", "eval_data_RoboticArm_train_r2.zip"))),
        "eval": ZenodoPart(11363076, "eval_data_{machine}_test.zip", _EVAL["dcase2024"], ("test",)),
    },
    "dcase2025": {
        "dev": ZenodoPart(15097779, "dev_{machine}.zip", MACHINE_TYPES["dcase2025"], _FIRST_SHOT),
        "additional": ZenodoPart(15392814, "eval_data_{machine}_train.zip", _EVAL["dcase2025"], ("train",)),
        "eval": ZenodoPart(15519362, "eval_data_{machine}_test.zip", _EVAL["dcase2025"], ("test",)),
    },
    "dcase2026": {
        "dev": ZenodoPart(19336329, "dev_{machine}.zip", MACHINE_TYPES["dcase2026"], _FIRST_SHOT,
                          (("ToyCar", "dev_ToyCar_r2.zip"),)),
        "additional": ZenodoPart(20151556, "eval_data_{machine}_train.zip", _EVAL["dcase2026"], ("train",)),
        "eval": ZenodoPart(20437238, "eval_data_{machine}_test.zip", _EVAL["dcase2026"], ("test",)),
    },
}

# MD5 checksums from public material, by the zip's name in <out>/.downloads: the DCASE 2020 Task 2
# loader of the soundata library (all 18 files); fan / pump / slider of the development set also
# match the values that other public projects report from the Zenodo API. No value was found for
# 2022 and later; those are read from the Zenodo records API at download time.
KNOWN_MD5: dict[str, str] = {
    "dev_data_fan.zip": "649bdfc06263ae7a838963f43b6641e6",
    "dev_data_pump.zip": "90e7091ef722b7238a7f1009365779cd",
    "dev_data_slider.zip": "da24a757719f0d94d5aa2d646bbfdc86",
    "dev_data_valve.zip": "34d2672f55bb041589ef79c10dc89934",
    "dev_data_ToyCar.zip": "4dec75ca8d9f666aa9e4c1894a740501",
    "dev_data_ToyConveyor.zip": "03b6aa1bfd09a39d53af0ba39f71fa91",
    "eval_data_train_fan.zip": "567798854130c8019df8b664c095ed1e",
    "eval_data_train_pump.zip": "4e33ae9c0db5cc88437675f5e317caee",
    "eval_data_train_slider.zip": "f84f186f4295fc23754abcdd1b0580a7",
    "eval_data_train_valve.zip": "057cdd560caffb8305449541afd28c6d",
    "eval_data_train_ToyCar.zip": "a5d4ccd498af70b04dd74b644b820006",
    "eval_data_train_ToyConveyor.zip": "0e808ac0b761e9fb13d5e0c65caff00d",
    "eval_data_test_fan.zip": "1eb9356a768cadfd0f2e59a5c57e578b",
    "eval_data_test_pump.zip": "23a8f8f924be218c69df67fe07360348",
    "eval_data_test_slider.zip": "0193c769073840332ce3aad84b1ccaa2",
    "eval_data_test_valve.zip": "f69c551d2088691050d20cccca9d631c",
    "eval_data_test_ToyCar.zip": "bea2bdd612f616be8f2b8eb087b32c7c",
    "eval_data_test_ToyConveyor.zip": "ccfcc9847c7d3404d7ee9d6d9e0b2ba2",
}

_MARKERS = {"dev": ".complete", "additional": ".complete-additional", "eval": ".complete-eval"}


class DownloadError(RuntimeError):
    """A file could not be downloaded or installed."""


class DeadLinkError(DownloadError):
    """The server answered 404 / 410: the file or record has moved."""


class ChecksumError(DownloadError):
    """The MD5 of a downloaded file differs from the expected one."""


class ArchiveError(DownloadError):
    """A downloaded zip is corrupt, truncated, unsafe or lacks the expected folders."""


class DownloadLockedError(DownloadError):
    """Another live process holds the lock for this download."""


class _TransientError(Exception):
    """A failure worth retrying (connection problem, 5xx, short read)."""


# --------------------------------------------------------------------------- tables


def _part(dataset: str, part: str) -> ZenodoPart:
    """Look up `RECORDS[dataset][part]`, with a ValueError listing the choices."""
    if dataset not in RECORDS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(RECORDS)}")
    parts = RECORDS[dataset]
    if part not in parts:
        raise ValueError(f"unknown part {part!r} for {dataset}; choose one of {list(parts)}")
    return parts[part]


def _machines(spec: ZenodoPart, dataset: str, machines: str | Iterable[str] | None) -> list[str]:
    """Normalise the `machines` argument ("fan,valve", a list, or None for all)."""
    if machines is None:
        return list(spec.machines)
    items = machines.split(",") if isinstance(machines, str) else list(machines)
    chosen = [str(m).strip() for m in items if str(m).strip()]
    if not chosen:
        raise ValueError(f"machines is empty; choose from {list(spec.machines)}")
    unknown = [m for m in chosen if m not in spec.machines]
    if unknown:
        raise ValueError(
            f"unknown machine type(s) {unknown} for {dataset}; choose from {list(spec.machines)}"
        )
    return list(dict.fromkeys(chosen))


def _base(base_url: str | None) -> str:
    """The Zenodo base URL: argument, else `$ASD_ZENODO_URL`, else https://zenodo.org."""
    return (base_url or zenodo_url()).rstrip("/")


def default_data_dir() -> Path:
    """`$ASD_DATA_DIR`, else ``~/asd-data``."""
    return data_dir()


def dataset_dir(out: str | Path, dataset: str, part: str = "dev") -> Path:
    """Root that holds ``<type>/{train,test}`` of a dataset part (the layout of the module docstring)."""
    _part(dataset, part)
    return Path(out) / (dataset if part == "dev" else f"{dataset}-eval")


def is_complete(out: str | Path, dataset: str, machine: str, part: str = "dev") -> bool:
    """True when ``machine`` of ``dataset``/``part`` is fully extracted under ``out``."""
    spec = _part(dataset, part)
    _machines(spec, dataset, [machine])
    return (dataset_dir(out, dataset, part) / machine / _MARKERS[part]).is_file()


def file_name(dataset: str, part: str, machine: str) -> str:
    """Zip file name on Zenodo, e.g. ``dev_data_fan.zip``."""
    spec = _part(dataset, part)
    _machines(spec, dataset, [machine])
    return spec.file(machine)


def _local_name(dataset: str, name: str) -> str:
    """The zip's name in ``<out>/.downloads``: ``name``, or ``<dataset>-name`` where another year has a zip of that name."""
    shared = any(other != dataset and name in {p.file(m) for p in parts.values() for m in p.machines}
                 for other, parts in RECORDS.items())
    return f"{dataset}-{name}" if shared else name


def file_url(dataset: str, part: str, machine: str, base_url: str | None = None) -> str:
    """Download URL ``{base}/records/{id}/files/{name}?download=1``."""
    spec = _part(dataset, part)
    return f"{_base(base_url)}/records/{spec.record}/files/{file_name(dataset, part, machine)}?download=1"


def record_page(dataset: str, part: str, base_url: str | None = None) -> str:
    """Human-readable Zenodo page of the record, ``{base}/records/{id}``."""
    return f"{_base(base_url)}/records/{_part(dataset, part).record}"


# --------------------------------------------------------------------------- HTTP

T = TypeVar("T")


def _request(url: str, timeout: float, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """Open ``url``; 404/410 -> DeadLinkError, 5xx/408/429 and network errors -> transient."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code in (404, 410):
            raise DeadLinkError(f"HTTP {err.code} for {url}") from err
        if err.code >= 500 or err.code in (408, 429):
            raise _TransientError(f"HTTP {err.code} for {url}") from err
        if err.code == 416:
            raise
        raise DownloadError(f"HTTP {err.code} {err.reason} for {url}") from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise _TransientError(f"{type(err).__name__}: {err} for {url}") from err


def _with_retries(fn: Callable[[], T], what: str, retries: int, backoff: float) -> T:
    """Call ``fn``, retrying transient errors ``retries`` times with exponential backoff."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except _TransientError as err:
            if attempt == retries:
                raise DownloadError(f"{what}: gave up after {retries + 1} attempt(s): {err}") from err
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def _record_md5s(record_json: dict) -> dict[str, str]:
    """Map file key -> md5 from a Zenodo record JSON (list or ``{"entries": ...}`` forms)."""
    files = record_json.get("files", [])
    if isinstance(files, dict):
        files = files.get("entries", [])
    if isinstance(files, dict):
        files = [{"key": k, **v} for k, v in files.items()]
    out: dict[str, str] = {}
    for entry in files:
        key, checksum = entry.get("key") or entry.get("filename"), entry.get("checksum", "")
        if key and isinstance(checksum, str) and checksum.startswith("md5:"):
            out[key] = checksum[4:].lower()
    return out


def fetch_md5(
    dataset: str,
    part: str,
    name: str,
    base_url: str | None = None,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 1.0,
) -> str | None:
    """The MD5 of one file, from the Zenodo records API (``{base}/api/records/{id}``).

    Args:
        dataset: a key of :data:`RECORDS`.
        part: ``dev``, ``additional`` or ``eval``.
        name: the zip's file name.
        base_url: Zenodo server (default ``$ASD_ZENODO_URL``, else https://zenodo.org).
        timeout: seconds per request.
        retries: retries of transient errors.
        backoff: first retry delay in seconds (doubled each time).

    Returns:
        md5: hex digest, or None (with a warning: only the zip CRCs are then checked).
    """
    url = f"{_base(base_url)}/api/records/{_part(dataset, part).record}"

    def get() -> dict:
        with _request(url, timeout, {"Accept": "application/json"}) as resp:
            return json.loads(resp.read().decode("utf-8"))

    try:
        md5s = _record_md5s(_with_retries(get, url, retries, backoff))
    except (DownloadError, ValueError, AttributeError) as err:
        warnings.warn(f"no checksum for {name}: {url} failed ({err}); relying on the zip CRCs only")
        return None
    if name not in md5s:
        warnings.warn(f"no checksum for {name}: {url} does not list it; relying on the zip CRCs only")
        return None
    return md5s[name]


def _stream(url: str, part_path: Path, timeout: float, progress: bool) -> None:
    """Download ``url`` into ``part_path``, resuming an existing partial file with Range."""
    start = part_path.stat().st_size if part_path.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        resp = _request(url, timeout, headers)
    except urllib.error.HTTPError as err:  # 416: the partial file is not a prefix we can extend
        part_path.unlink(missing_ok=True)
        raise _TransientError(f"HTTP 416 for {url} with {start} bytes on disk; restarting") from err
    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length is not None else None
        if resp.status == 206:
            content_range = resp.headers.get("Content-Range", "")
            first = content_range.split(" ")[-1].split("-")[0]
            if not first.isdigit() or int(first) != start:
                part_path.unlink(missing_ok=True)
                raise _TransientError(f"bad Content-Range {content_range!r} from {url}; restarting")
            mode = "ab"
        else:  # 200: the server ignored (or never got) a Range request; start from scratch
            start, mode = 0, "wb"
        total = start + length if length is not None else None
        with open(part_path, mode) as fh, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part_path.name[: -len(".part")], disable=not progress, leave=False,
        ) as bar:
            try:
                while chunk := resp.read1(CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
            except (http.client.HTTPException, OSError, socket.timeout) as err:
                raise _TransientError(f"connection broke while reading {url}: {err}") from err
    size = part_path.stat().st_size
    if total is not None and size != total:
        raise _TransientError(f"short read from {url}: {size} of {total} bytes")


def _md5(path: Path) -> str:
    """Hex MD5 of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- lock


def file_lock(path: str | Path, timeout: float = 0.0):
    """The download lock of one file (:func:`asdlib.files.locked`).

    Args:
        path: the lock file.
        timeout: seconds to wait for a live holder (a lock left by a dead process does not block).

    Raises:
        DownloadLockedError: another live process holds it after ``timeout``.
    """
    return locked(path, timeout=timeout, what="a download of this file", error=DownloadLockedError)


# --------------------------------------------------------------------------- zips


def _check_zip(zip_path: Path) -> None:
    """Raise ArchiveError unless every member's CRC is right and no path leaves the target."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                name = info.filename.replace("\\", "/")
                parts = PurePosixPath(name).parts
                if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                    raise ArchiveError(f"{zip_path}: member {info.filename!r} would be extracted "
                                       "outside the target folder")
            bad = zf.testzip()
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as err:
        raise ArchiveError(f"{zip_path} is not a valid zip file ({type(err).__name__}: {err})") from err
    except Exception as err:  # zlib.error and friends on corrupt data
        raise ArchiveError(f"{zip_path}: corrupt data ({type(err).__name__}: {err})") from err
    if bad is not None:
        raise ArchiveError(f"{zip_path}: member {bad!r} fails its CRC check (corrupt download)")


def _find_type_dir(tmp: Path, machine: str, splits: tuple[str, ...], zip_name: str) -> Path:
    """Folder inside the extracted tree that holds ``splits``: ``<type>/``, ``<top>/<type>/`` or the top."""
    def has_splits(p: Path) -> bool:
        return any((p / s).is_dir() for s in splits)

    candidates = [tmp / machine]
    tops = [p for p in tmp.iterdir() if p.is_dir() and p.name != "__MACOSX"]
    if len(tops) == 1:
        candidates += [tops[0] / machine, tops[0]]
    candidates.append(tmp)
    for cand in candidates:
        if cand.is_dir() and has_splits(cand):
            return cand
    for cand in [p for top in tops for p in (top, *top.iterdir()) if p.is_dir()]:
        if cand.name.lower() == machine.lower() and has_splits(cand):
            return cand
    found = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_dir())[:10]
    raise ArchiveError(f"{zip_name}: no {machine}/{{{','.join(splits)}}} folder in the zip; "
                       f"found folders {found}")


def _carry_loose_files(tmp: Path, src: Path) -> None:
    """Move the files that lie beside the type folder in the zip (e.g. ``attributes_00.csv``) into it."""
    level = src
    while level != tmp:
        level = level.parent
        for f in level.iterdir():
            if f.is_file() and not f.name.startswith(".") and not (src / f.name).exists():
                os.replace(f, src / f.name)


def _install(zip_path: Path, root: Path, machine: str, part: str, splits: tuple[str, ...]) -> Path:
    """Extract into a temporary folder beside ``root/machine``, move it into place, write the marker."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / machine
    prefix = f".tmp-{zip_path.name}-"
    for stale in root.glob(prefix + "*"):  # left by a crashed run; we hold this file's lock
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        src = _find_type_dir(tmp, machine, splits, zip_path.name)
        _carry_loose_files(tmp, src)  # every other folder and file under <type>/ moves with it
        missing = [s for s in splits if not (src / s).is_dir()]
        if missing:
            raise ArchiveError(f"{zip_path}: no {missing} folder under {machine}/")
        others = [m for p, m in _MARKERS.items() if p != part and (target / m).exists()]
        if target.exists() and not others:  # a stale, incomplete tree of this part only
            shutil.rmtree(target)
        if not target.exists():
            os.replace(src, target)
        else:  # merge into a folder another part has completed (additional + eval)
            for child in src.iterdir():
                dest = target / child.name
                if dest.is_dir():
                    shutil.rmtree(dest)
                elif dest.exists():
                    dest.unlink()
                os.replace(child, dest)
        write_text_atomic(target / _MARKERS[part], json.dumps({"zip": zip_path.name, "time": time.time()}) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- download


def _fetch_zip(
    url: str, zip_path: Path, expected: Callable[[], str | None], retries: int,
    backoff: float, timeout: float, progress: bool, page: str,
) -> None:
    """Download ``url`` to ``zip_path`` (via ``.part``), verify the MD5, then rename."""
    part_path = zip_path.with_name(zip_path.name + ".part")
    try:
        _with_retries(lambda: _stream(url, part_path, timeout, progress), url, retries, backoff)
    except DeadLinkError as err:
        part_path.unlink(missing_ok=True)
        raise DeadLinkError(
            f"{url} answered {err}. The Zenodo record may have moved or the file been renamed; "
            f"check {page} and update asdlib.download.RECORDS."
        ) from err
    md5 = expected()
    if md5 is not None:
        actual = _md5(part_path)
        if actual != md5.lower():
            part_path.unlink(missing_ok=True)
            raise ChecksumError(f"checksum mismatch for {url}: expected md5 {md5}, got {actual}; "
                                "the file was deleted, run the download again")
    os.replace(part_path, zip_path)


def download(
    dataset: str,
    part: str = "dev",
    machines: str | Iterable[str] | None = None,
    out: str | Path | None = None,
    base_url: str | None = None,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
    keep_zip: bool = False,
    backoff: float = 2.0,
    lock_timeout: float = 0.0,
) -> list[Path]:
    """Download and extract DCASE Task 2 data from Zenodo (checksum, resume, retries, lock, safe unzip).

    Types already complete are skipped without any network access.

    Args:
        dataset: a key of :data:`RECORDS` (``dcase2020``, ``dcase2022`` ... ``dcase2026``).
        part: ``dev``, ``additional`` or ``eval``.
        machines: machine types, a list or comma-separated string (None: all types).
        out: data folder (default ``$ASD_DATA_DIR``, else ``~/asd-data``).
        base_url: Zenodo server (default ``$ASD_ZENODO_URL``, else https://zenodo.org).
        retries: retries of connection errors and 5xx answers.
        timeout: seconds per request.
        progress: show progress bars.
        keep_zip: keep the downloaded zip in ``<out>/.downloads`` (named as in the module docstring).
        backoff: retry delay ``backoff * 2**attempt`` seconds.
        lock_timeout: seconds to wait for another process downloading the same file.

    Returns:
        folders: the ``<root>/<type>`` folder of every chosen type.

    Raises:
        DownloadError: a file cannot be downloaded or installed (subclasses: DeadLinkError,
            ChecksumError, ArchiveError, DownloadLockedError).
    """
    spec = _part(dataset, part)
    chosen = _machines(spec, dataset, machines)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if timeout <= 0 or backoff < 0 or lock_timeout < 0:
        raise ValueError(f"timeout must be > 0 and backoff, lock_timeout >= 0; got "
                         f"{timeout!r}, {backoff!r}, {lock_timeout!r}")
    out = Path(out).expanduser() if out is not None else default_data_dir()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} exists and is not a folder")
    root = dataset_dir(out, dataset, part)
    downloads = out / ".downloads"
    page = record_page(dataset, part, base_url)
    results: list[Path] = []
    for machine in chosen:
        if is_complete(out, dataset, machine, part):
            results.append(root / machine)
            continue
        name = file_name(dataset, part, machine)
        local = _local_name(dataset, name)
        url = file_url(dataset, part, machine, base_url)
        downloads.mkdir(parents=True, exist_ok=True)
        with file_lock(downloads / f"{local}.lock", timeout=lock_timeout):
            if is_complete(out, dataset, machine, part):  # finished while we waited
                results.append(root / machine)
                continue
            zip_path = downloads / local
            if not zip_path.exists():
                def expected(name: str = name, local: str = local) -> str | None:
                    return KNOWN_MD5.get(local) or fetch_md5(
                        dataset, part, name, base_url, timeout, retries, backoff)
                _fetch_zip(url, zip_path, expected, retries, backoff, timeout, progress, page)
            try:
                _check_zip(zip_path)
                results.append(_install(zip_path, root, machine, part, spec.splits))
            except ArchiveError as err:
                zip_path.unlink(missing_ok=True)
                raise ArchiveError(f"{err} (downloaded from {url}; the zip was deleted)") from err
            if not keep_zip:
                zip_path.unlink(missing_ok=True)
    return results


# --------------------------------------------------------------------------- ground truth


class GroundTruthError(DownloadError):
    """A downloaded ground-truth list is corrupt or incomplete, or fails the task's counts."""


@dataclass(frozen=True)
class GroundTruthSource:
    """Where an official evaluator keeps one year's evaluation ground truth (raw GitHub files)."""

    repo: str  # owner/name on GitHub
    commit: str  # pinned, so the lists cannot change under the checks
    machines: tuple[str, ...]
    sections: tuple[str, ...]
    per_cell: int  # clips per section, domain and label
    fixes: str = ""  # package data file (or absolute path): the clips the circulating file-name list gets wrong


# DCASE 2022: the lists that scored the challenge, ground_truth_data/ (0/1 = normal/anomaly) and
# ground_truth_domain/ (0/1 = source/target) of github.com/Kota-Dohi/dcase2022_evaluator (MIT
# licence), named as the official 2022 evaluator in README_legacy.md of
# nttcslab/dcase2023_task2_baseline_ae; its README names the evaluation record 6586456. Commit
# 9785ae5 (2022-07-12) holds both folders; the one later commit adds ground_truth_attributes/ only.
# 50 clips per section, domain and label: counted on those 42 lists (21 x 200 clips).
GROUND_TRUTH: dict[str, GroundTruthSource] = {
    "dcase2022": GroundTruthSource("Kota-Dohi/dcase2022_evaluator", "9785ae5c63f6308c699b8b82cff3bfcd08667df3",
                                   _TYPES_2022, ("03", "04", "05"), 50, "dcase2022_eval_fixes.csv"),
}
GROUND_TRUTH_COLUMNS = ("machine_type", "file", "unit", "domain", "label")
_GT_NAME = re.compile(r"section_(\d{2})_(\d{4})\.wav")
_FLIP = {"source": "target", "target": "source", "normal": "anomaly", "anomaly": "normal"}


def _gt_source(dataset: str) -> GroundTruthSource:
    if dataset not in GROUND_TRUTH:
        raise ValueError(f"no ground truth known for {dataset!r}; choose one of {sorted(GROUND_TRUTH)}")
    return GROUND_TRUTH[dataset]


def ground_truth_url(dataset: str, kind: str, machine: str, section: str, base_url: str | None = None) -> str:
    """Raw URL of one list of the official evaluator.

    Args:
        dataset: a key of :data:`GROUND_TRUTH`.
        kind: ``data`` (the labels) or ``domain``.
        machine: an evaluation machine type.
        section: e.g. ``"03"``.
        base_url: raw GitHub server (default ``$ASD_GITHUB_RAW_URL``, else https://raw.githubusercontent.com).

    Returns:
        url: ``{base}/{repo}/{commit}/ground_truth_{kind}/ground_truth_{machine}_section_{section}_test.csv``.
    """
    spec = _gt_source(dataset)
    if kind not in ("data", "domain") or machine not in spec.machines or section not in spec.sections:
        raise ValueError(f"kind must be data or domain, machine one of {list(spec.machines)}, section one of "
                         f"{list(spec.sections)}; got {kind!r}, {machine!r}, {section!r}")
    base = (base_url or github_raw_url()).rstrip("/")
    return f"{base}/{spec.repo}/{spec.commit}/ground_truth_{kind}/ground_truth_{machine}_section_{section}_test.csv"


def _fetch_text(url: str, timeout: float, retries: int, backoff: float) -> str:
    """The body of a small text file; a short or broken read is retried, then a DownloadError naming ``url``."""
    def get() -> bytes:
        with _request(url, timeout) as resp:
            length = resp.headers.get("Content-Length")
            try:
                body = resp.read()
            except (http.client.HTTPException, OSError, socket.timeout) as err:
                raise _TransientError(f"connection broke while reading {url}: {err}") from err
        if length is not None and length.isdigit() and len(body) != int(length):
            raise _TransientError(f"short read from {url}: {len(body)} of {length} bytes")
        return body

    body = _with_retries(get, url, retries, backoff)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise GroundTruthError(f"{url} is not a text list (corrupt download?): {err}") from err


def _read_list(text: str, url: str, section: str, n: int) -> dict[int, int]:
    """``{clip number: 0 or 1}`` of one evaluator list: every clip ``0 .. n-1`` of ``section`` once."""
    values: dict[int, int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [x.strip() for x in line.split(",")]
        m = _GT_NAME.fullmatch(parts[0]) if len(parts) == 2 else None
        if m is None or parts[1] not in ("0", "1") or m.group(1) != section:
            raise GroundTruthError(f"{url} line {i}: expected 'section_{section}_NNNN.wav,0' or ',1', "
                                   f"got {line[:60]!r} (corrupt download?)")
        k = int(m.group(2))
        if k in values:
            raise GroundTruthError(f"{url} line {i}: {parts[0]} is listed twice")
        values[k] = int(parts[1])
    missing, extra = sorted(set(range(n)) - set(values)), sorted(set(values) - set(range(n)))
    if missing or extra:
        raise GroundTruthError(f"{url}: {len(values)} clips, expected {n} (section_{section}_0000 to "
                               f"_{n - 1:04d}); missing {missing[:5]}, unexpected {extra[:5]} (incomplete download?)")
    return values


def _read_fixes(name: str) -> dict[tuple[str, str], tuple[str, str, str]]:
    """``(machine_type, file) -> (domain, label, wrong)`` from a package data file or a path (``#`` lines are notes)."""
    src = Path(name) if Path(name).is_absolute() else importlib.resources.files("asdlib").joinpath(name)
    text = src.read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {(r["machine_type"], r["file"]): (r["domain"], r["label"], r["wrong"]) for r in rows}


def _apply_fixes(rows: dict[tuple[str, str], tuple[str, str]], fixes: dict, where: str) -> int:
    """Check the listed clips: each has its right value or the known error (then corrected); the count corrected."""
    changed, types = 0, {k[0] for k in rows}
    for key, (domain, label, wrong) in fixes.items():
        if key[0] not in types:
            continue
        if key not in rows:
            raise GroundTruthError(f"{where}: no clip {key[0]} {key[1]}, which the fixes table lists")
        known = (_FLIP[domain] if wrong in ("domain", "both") else domain,
                 _FLIP[label] if wrong in ("label", "both") else label)
        if rows[key] == (domain, label):
            continue
        if rows[key] != known:
            raise GroundTruthError(f"{where}: {key[0]} {key[1]} is {rows[key]}, neither the official "
                                   f"{(domain, label)} nor the known error {known}")
        rows[key] = (domain, label)
        changed += 1
    return changed


def _check_counts(rows: dict[tuple[str, str], tuple[str, str]], spec: GroundTruthSource, where: str) -> None:
    """Every section of every type holds ``spec.per_cell`` clips of each domain and label."""
    counts = Counter((mt, f[: len("section_00")], d, lab) for (mt, f), (d, lab) in rows.items())
    bad = [f"{mt} section_{s} {d} {lab}: {counts[(mt, f'section_{s}', d, lab)]}"
           for mt in spec.machines for s in spec.sections for d in ("source", "target")
           for lab in ("normal", "anomaly") if counts[(mt, f"section_{s}", d, lab)] != spec.per_cell]
    if bad:
        raise GroundTruthError(f"{where}: expected {spec.per_cell} clips per section, domain and label; "
                               f"{len(bad)} differ: {', '.join(bad[:4])}")


def ground_truth(
    dataset: str = "dcase2022",
    out: str | Path | None = None,
    base_url: str | None = None,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 1.0,
) -> Path:
    """Download the official evaluator's ground truth of an evaluation set, check it, write one CSV.

    The official lists need no correction. The clips that the circulating file-name list gets
    wrong (``asdlib/dcase2022_eval_fixes.csv``, with its sources) must carry their right values; a
    copy that carries that list's known errors instead is corrected, with a warning.

    Args:
        dataset: a key of :data:`GROUND_TRUTH` (``dcase2022``).
        out: data folder (default ``$ASD_DATA_DIR``, else ``~/asd-data``).
        base_url: raw GitHub server (default ``$ASD_GITHUB_RAW_URL``, else https://raw.githubusercontent.com).
        timeout: seconds per request.
        retries: retries of connection errors, short reads and 5xx answers.
        backoff: first retry delay in seconds (doubled each time).

    Returns:
        path: ``<out>/<dataset>-eval/ground_truth.csv``, columns ``machine_type, file, unit, domain,
            label`` (``file`` as in the evaluation zips, e.g. ``section_03_test_0000.wav``).

    Raises:
        DownloadError: a list cannot be downloaded (DeadLinkError: 404 / 410), or is corrupt,
            incomplete or off the task's counts (GroundTruthError); each names its URL.
    """
    spec = _gt_source(dataset)
    if not isinstance(retries, int) or retries < 0 or timeout <= 0 or backoff < 0:
        raise ValueError(f"retries must be an integer >= 0, timeout > 0, backoff >= 0; got "
                         f"{retries!r}, {timeout!r}, {backoff!r}")
    out = Path(out).expanduser() if out is not None else default_data_dir()
    n = 4 * spec.per_cell
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    for mt in spec.machines:
        for s in spec.sections:
            got = {}
            for kind in ("data", "domain"):
                url = ground_truth_url(dataset, kind, mt, s, base_url)
                got[kind] = _read_list(_fetch_text(url, timeout, retries, backoff), url, s, n)
            for k in range(n):
                rows[(mt, f"section_{s}_test_{k:04d}.wav")] = (("source", "target")[got["domain"][k]],
                                                               ("normal", "anomaly")[got["data"][k]])
    where = f"the {dataset} ground truth at {(base_url or github_raw_url()).rstrip('/')}/{spec.repo}/{spec.commit}"
    if spec.fixes and (changed := _apply_fixes(rows, _read_fixes(spec.fixes), where)):
        warnings.warn(f"{where}: {changed} clip(s) carried the known errors of the circulating file-name "
                      f"list; corrected from {spec.fixes}")
    _check_counts(rows, spec, where)
    path = dataset_dir(out, dataset, "eval") / "ground_truth.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(GROUND_TRUTH_COLUMNS)
        writer.writerows([mt, f, f[: len("section_00")], d, lab] for (mt, f), (d, lab) in rows.items())
    return path

