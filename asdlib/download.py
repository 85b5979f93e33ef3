"""Zenodo downloaders for the DCASE 2020 and 2022 Task 2 data.

Explained in chapter 0 (``book/index.md``, "how to use this book"); used for the real-data runs
of chapter 7, `book/07_dcase2020_results.ipynb`, and chapter 8, `book/08_dcase2022_results.ipynb`.
What it knows of the data is in `RECORDS` (dataset -> part -> Zenodo record, file-name pattern,
machine types) and `KNOWN_MD5` (a checksum missing there is read from the Zenodo records API).

Layout on disk (``out`` defaults to ``$ASD_DATA_DIR`` or ``~/asd-data``)::

    <out>/.downloads/<name>.part, <name>.lock     partial download (resumed) and its lock
    <out>/<dataset>/<type>/{train,test} + .complete               part "dev"
    <out>/<dataset>-eval/<type>/train   + .complete-additional    part "additional"
    <out>/<dataset>-eval/<type>/test    + .complete-eval          part "eval"

A type is present only when its marker file exists (written after its tree is in place).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from tqdm.auto import tqdm

from .dcase import MACHINE_TYPES
from .files import locked, write_text_atomic
from .settings import DEFAULT_ZENODO_URL, data_dir, zenodo_url

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
]

DEFAULT_BASE_URL = DEFAULT_ZENODO_URL
USER_AGENT = "asdlib-downloader/0.1 (+python urllib)"
CHUNK = 1 << 20

_MIMII_TOY_2020 = MACHINE_TYPES["dcase2020"]
_TYPES_2022 = MACHINE_TYPES["dcase2022"]


@dataclass(frozen=True)
class ZenodoPart:
    """One downloadable part of a dataset: a Zenodo record holding one zip per machine type."""

    record: int
    pattern: str  # file name, "{machine}" is replaced by the machine type
    machines: tuple[str, ...]
    splits: tuple[str, ...]  # sub-folders each zip must provide under <type>/


# File names checked against the official download scripts of the DCASE baselines
# (nttcslab/dcase2023_task2_baseline_ae tools/data_download_2020.sh and the DCASE 2022
# download script of TakuyaFujimura/dcase-asd-toolkit).
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
}

# MD5 checksums from public material: the DCASE 2020 Task 2 loader of the soundata
# library (all 18 files); fan / pump / slider of the development set also match the values
# that other public projects report from the Zenodo API. No DCASE 2022 value was found;
# those are read from the Zenodo records API at download time.
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
    return spec.pattern.format(machine=machine)


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
        dataset: ``dcase2020`` or ``dcase2022``.
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
        dataset: ``dcase2020`` or ``dcase2022``.
        part: ``dev``, ``additional`` or ``eval``.
        machines: machine types, a list or comma-separated string (None: all types).
        out: data folder (default ``$ASD_DATA_DIR``, else ``~/asd-data``).
        base_url: Zenodo server (default ``$ASD_ZENODO_URL``, else https://zenodo.org).
        retries: retries of connection errors and 5xx answers.
        timeout: seconds per request.
        progress: show progress bars.
        keep_zip: keep the downloaded zip in ``<out>/.downloads``.
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
        url = file_url(dataset, part, machine, base_url)
        downloads.mkdir(parents=True, exist_ok=True)
        with file_lock(downloads / f"{name}.lock", timeout=lock_timeout):
            if is_complete(out, dataset, machine, part):  # finished while we waited
                results.append(root / machine)
                continue
            zip_path = downloads / name
            if not zip_path.exists():
                def expected(name: str = name) -> str | None:
                    return KNOWN_MD5.get(name) or fetch_md5(
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
