"""Data: DCASE file names, the dataset index, audio loading and PyTorch datasets.

Explained in chapter 1, `book/01_listening.ipynb`. The index is a :class:`pandas.DataFrame`, one row
per audio file, columns :data:`INDEX_COLUMNS` (see ``ARCHITECTURE.md``). Two naming schemes:

* DCASE 2020 Task 2 (``layout="dcase2020"``): ``<type>/{train,test}/normal_id_01_00000000.wav``,
  ``anomaly_id_01_00000000.wav`` and, in the evaluation set, ``id_05_00000000.wav``.
* DCASE 2021 to 2026 Task 2: ``section_00_source_train_normal_0000_vel_8_loc_A.wav`` and, in the
  evaluation set, ``section_03_test_0000.wav`` (domain and label hidden). The index names the year
  (``dcase2022`` for 2021 / 2022, ``dcase2023`` ... ``dcase2026``) by the rule in :func:`index`:
  2023+ have one ``section_00`` per type and ``noAttribute`` names, 2025 a ``supplemental/``
  folder, 2026 two-channel clips (near and far microphone).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from torch.utils.data import Dataset

from .dcase import EMULATED_SUFFIX, FIRST_SHOT_LAYOUTS, LAYOUTS, MONO_LAYOUTS

__all__ = [
    "INDEX_COLUMNS",
    "DATA_LAYOUTS",
    "FilenameError",
    "DatasetLayoutError",
    "AudioError",
    "AudioWarning",
    "file_digest",
    "parse_filename",
    "parse_attributes",
    "index",
    "index_to_csv",
    "read_index",
    "load_audio",
    "check_training_clips",
    "SegmentDataset",
    "sliding_windows",
    "unit_labels",
    "first_training_clips",
]

INDEX_COLUMNS: list[str] = [
    "path",
    "layout",
    "machine_type",
    "machine_id",
    "section",
    "domain",
    "split",
    "label",
    "attributes",
    "unit",
    "channels",
    "supplemental",
]
#: The columns that the DCASE 2023-2026 layouts added; an index file without them still reads.
_ADDED_COLUMNS = ("channels", "supplemental")
SPLITS = ("train", "test")
#: DCASE 2025's folder of extra clips beside ``train/`` and ``test/``.
SUPPLEMENTAL = "supplemental"
#: The ``layout`` values of an index (:data:`asdlib.dcase.LAYOUTS`); :func:`index` takes them as ``layout=``.
DATA_LAYOUTS = LAYOUTS
_MONO_LAYOUTS = MONO_LAYOUTS
#: (2026 is not first-shot here: its section and attribute-table rules could not be confirmed.)
_FIRST_SHOT_LAYOUTS = FIRST_SHOT_LAYOUTS
#: Years with a ``supplemental/`` folder: 2025 (confirmed); 2026 accepted, not confirmed.
_SUPPLEMENTAL_LAYOUTS = ("dcase2025", "dcase2026")
#: The attribute part of a 2023+ file name of a machine type without attributes.
NO_ATTRIBUTE = "noAttribute"
_MAX_LISTED = 20


class FilenameError(ValueError):
    """A file name that matches none of the DCASE naming schemes."""


class DatasetLayoutError(ValueError):
    """A dataset root whose folder layout is not ``<root>/<type>/{train,test}/*.wav``."""


class AudioError(ValueError):
    """An audio file that cannot be used (missing, empty, truncated, corrupt, non-finite)."""


class AudioWarning(UserWarning):
    """An audio file that loads but looks wrong (silent, float samples beyond [-1, 1])."""


# --------------------------------------------------------------------------- file contents

_DIGEST_MEMO: dict[tuple, str] = {}
_DIGEST_LOCK = threading.Lock()
_DIGEST_MEMO_MAX = 100_000  # about 50 MB at most
#: Files whose mtime or ctime is less than this many ns before the hash started are re-read on
#: every call (file time stamps are coarse: a rewrite within the same tick keeps its ctime).
_RACY_NS = 2_000_000_000


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-1 of a file's bytes (read in 1 MiB blocks); the feature cache and run fingerprints key on it.

    The digest depends on the content only (a rewrite with the same size and restored mtime gets a
    new one; a copy or rename keeps it). Within one process the digest of an unchanged file is
    remembered, keyed on path, device, inode, size, ``mtime_ns`` and ``ctime_ns``; files changed less
    than 2 s before hashing are not remembered (see ``docs/design.md``).

    Args:
        path: the file.

    Returns:
        digest: 40 hex characters.

    Raises:
        OSError: the file cannot be read (``FileNotFoundError`` when it is missing).
    """
    p = Path(path)
    st = os.stat(p)
    key = (os.path.abspath(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    known = _DIGEST_MEMO.get(key)
    if known is not None:
        return known
    started = time.time_ns()
    h = hashlib.sha1()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(p, "rb") as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    digest = h.hexdigest()
    if started - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
        with _DIGEST_LOCK:
            if len(_DIGEST_MEMO) >= _DIGEST_MEMO_MAX:
                _DIGEST_MEMO.clear()
            _DIGEST_MEMO[key] = digest
    return digest


# --------------------------------------------------------------------------- file names

_RE_2020 = re.compile(
    r"^(?P<label>normal|anomaly)_id_(?P<id>\d{2})_(?P<num>\d+)\.wav$", re.IGNORECASE
)
_RE_2020_EVAL = re.compile(r"^id_(?P<id>\d{2})_(?P<num>\d+)\.wav$", re.IGNORECASE)
_RE_2022 = re.compile(
    r"^section_(?P<sec>\d{2})_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?P<label>normal|anomaly)_(?P<num>\d+)(?:_(?P<attrs>.+?))?\.wav$",
    re.IGNORECASE,
)
#: evaluation names: ``section_03_test_0000.wav`` (2021 / 2022), ``section_00_0000.wav`` (2023+,
#: as the official 2023 / 2024 evaluators' ground-truth lists name them; the split is the folder's)
_RE_2022_EVAL = re.compile(
    r"^section_(?P<sec>\d{2})_(?:(?P<split>train|test)_)?(?P<num>\d+)\.wav$", re.IGNORECASE
)


def parse_attributes(text: str | None) -> dict[str, str]:
    """Parse the ``_``-joined key-value tail of a 2022 file name.

    Args:
        text: e.g. ``"vel_8_loc_A"``; ``None`` or ``""``.

    Returns:
        attributes: e.g. ``{"vel": "8", "loc": "A"}``; ``{}`` for no text; ``{"raw": text}`` when an
            odd number of parts cannot be paired.
    """
    if not text:
        return {}
    parts = text.split("_")
    if len(parts) % 2:
        return {"raw": text}
    return {parts[i]: parts[i + 1] for i in range(0, len(parts), 2)}


def parse_filename(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a DCASE Task 2 file path into the index fields (all columns but ``path``).

    The split comes from the parent folder (``train`` / ``test``) and the machine type from the
    folder above it; for 2022 names, whose split is also in the name, the two must agree. A clip in a
    DCASE 2025 ``supplemental/`` folder is parsed by :func:`_parse_supplemental`. ``layout`` names
    the scheme (``dcase2020`` / ``dcase2022``; ``dcase2025`` for supplemental clips); :func:`index`
    tells the year apart.

    Args:
        path: ``.../<type>/<split>/<DCASE file name>``.

    Returns:
        fields: dict with ``layout, machine_type, machine_id, section, domain, split, label,
            attributes, unit``.

    Raises:
        FilenameError: naming the file, when no naming scheme matches.
    """
    p = Path(path)
    name = p.name
    folder = p.parent.name
    if folder == SUPPLEMENTAL:
        return _parse_supplemental(p)
    folder_split = folder if folder in SPLITS else None
    machine_type = (p.parent.parent.name or None) if folder_split else None

    m = _RE_2020.match(name) or _RE_2020_EVAL.match(name)
    if m:
        machine_id = f"id_{m['id']}"
        label = m.groupdict().get("label")
        return {
            "layout": "dcase2020",
            "machine_type": machine_type,
            "machine_id": machine_id,
            "section": None,
            "domain": "source",
            "split": folder_split,
            "label": label.lower() if label else None,
            "attributes": {},
            "unit": machine_id,
        }

    m = _RE_2022.match(name) or _RE_2022_EVAL.match(name)
    if m:
        fields = m.groupdict()
        if fields["split"] is None and folder_split is None:
            raise FilenameError(f"{p}: an evaluation name without a split must lie in a train/ or test/ folder")
        name_split = (fields["split"] or folder_split).lower()
        if folder_split is not None and folder_split != name_split:
            raise FilenameError(
                f"{p}: the name says split '{name_split}' but the file lies in the "
                f"'{folder_split}' folder"
            )
        section = f"section_{fields['sec']}"
        domain = fields.get("domain")
        label = fields.get("label")
        return {
            "layout": "dcase2022",
            "machine_type": machine_type,
            "machine_id": None,
            "section": section,
            "domain": domain.lower() if domain else None,
            "split": name_split,
            "label": label.lower() if label else None,
            "attributes": parse_attributes(fields.get("attrs")),
            "unit": section,
        }

    raise FilenameError(
        f"{p}: file name '{name}' matches no DCASE naming scheme; expected "
        "'{normal,anomaly}_id_XX_NNNNNNNN.wav', 'id_XX_NNNNNNNN.wav', "
        "'section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_attributes].wav' "
        "or 'section_XX_test_NNNN.wav' / 'section_XX_NNNN.wav'"
    )


_RE_SUPPLEMENTAL = re.compile(r"^section_(?P<sec>\d{2})_(?P<rest>.+)\.wav$", re.IGNORECASE)


def _parse_supplemental(p: Path) -> dict[str, Any]:
    """Fields of a clip in a DCASE 2025 ``<type>/supplemental/`` folder.

    The task description offers these clips (clean machine sound or noise only, per machine type) as
    extra training material, never as test clips: split ``train``, label ``None`` (they carry no
    normal / anomaly condition). Their exact file names could not be confirmed from a primary
    source, so only ``section_XX_`` is required; a ``source`` / ``target`` word sets the domain.
    """
    m = _RE_SUPPLEMENTAL.match(p.name)
    if not m:
        raise FilenameError(
            f"{p}: file name '{p.name}' in a supplemental/ folder does not start with "
            "'section_XX_'; expected 'section_XX_<...>.wav' (DCASE 2025)"
        )
    words = m["rest"].lower().split("_")
    domain = next((w for w in words if w in ("source", "target")), None)
    section = f"section_{m['sec']}"
    return {
        "layout": "dcase2025",
        "machine_type": p.parent.parent.name or None,
        "machine_id": None,
        "section": section,
        "domain": domain,
        "split": "train",
        "label": None,
        "attributes": {},
        "unit": section,
    }


# --------------------------------------------------------------------------- index


#: Folders that macOS archivers and Finder leave next to data (metadata, never audio).
_MACOS_DIRS = ("__MACOSX",)
_UNKNOWN_ADVICE = "to skip them: `--skip-unknown` on the command line, on_unknown='warn' in Python"


def _is_appledouble(p: Path) -> bool:
    """A macOS AppleDouble file (``._name``): Finder metadata of ``name``, not audio."""
    return p.name.startswith("._")


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(
        d for d in folder.iterdir()
        if d.is_dir() and not d.name.startswith(".") and d.name not in _MACOS_DIRS
    )


def _has_split(folder: Path) -> bool:
    return any((folder / s).is_dir() for s in SPLITS)


def _check_root(root: Path) -> list[Path]:
    """Validate the root folder and return its machine-type folders."""
    if not root.exists():
        raise DatasetLayoutError(
            f"dataset root {root} does not exist; expected a folder laid out as "
            "<root>/<machine_type>/{train,test}/*.wav"
        )
    if not root.is_dir():
        raise DatasetLayoutError(f"dataset root {root} is a file, not a folder")
    entries = [e for e in root.iterdir() if not e.name.startswith(".")]
    if not entries:
        raise DatasetLayoutError(
            f"dataset root {root} is empty; expected <root>/<machine_type>/{{train,test}}/*.wav"
        )
    if _has_split(root):
        raise DatasetLayoutError(
            f"dataset root {root} itself holds a train/ or test/ folder, so it is a "
            f"machine-type folder: point at the parent folder {root.parent} instead"
        )
    subdirs = _visible_dirs(root)
    typed = [d for d in subdirs if _has_split(d)]
    if not typed:
        candidates = sorted(
            {str(sub) for sub in subdirs for t in _visible_dirs(sub) if _has_split(t)}
        )
        if candidates:
            raise DatasetLayoutError(
                f"dataset root {root} is one level too high: no <type>/train or <type>/test "
                f"folder in it, but they exist one level down; use one of these roots: "
                f"{', '.join(candidates)}"
            )
        found = ", ".join(sorted(e.name for e in entries)[:_MAX_LISTED])
        raise DatasetLayoutError(
            f"dataset root {root} has no <machine_type>/train or <machine_type>/test "
            f"folder (found: {found}); expected <root>/<machine_type>/{{train,test}}/*.wav"
        )
    untyped = [d for d in subdirs if d not in typed]
    if untyped:
        names = ", ".join(str(d) for d in untyped)
        raise DatasetLayoutError(
            f"machine-type folder(s) {names} hold neither a train/ nor a test/ folder; "
            "expected <root>/<machine_type>/{train,test}/*.wav"
        )
    return typed


def _read_attribute_csv(csv_path: Path) -> dict[str, dict[str, str]]:
    """Read one DCASE 2022 ``attributes_XX.csv`` into ``{file basename: attributes}``.

    Two forms are understood: ``file_name, d1p, d1v, d2p, d2v, ...`` (parameter-name /
    value pairs; a parameter named ``noAttribute``, as 2024+ tables write it for hidden
    attributes, is no attribute) and ``file_name, <attr1>, <attr2>, ...`` (one column per attribute).
    Problems are reported with a warning; the file is then ignored.
    """
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parse problem becomes a warning
        warnings.warn(f"{csv_path}: cannot read attribute table ({exc}); ignored", stacklevel=3)
        return {}
    table.columns = [str(c).strip() for c in table.columns]
    name_col = next((c for c in table.columns if c.lower() in ("file_name", "filename")), None)
    if name_col is None:
        warnings.warn(
            f"{csv_path}: no 'file_name' column (found {list(table.columns)}); ignored",
            stacklevel=3,
        )
        return {}
    others = [c for c in table.columns if c != name_col]
    pairs = [
        (c, f"{c[:-1]}v")
        for c in others
        if re.fullmatch(r"d\d+p", c, re.IGNORECASE) and f"{c[:-1]}v" in others
    ]
    out: dict[str, dict[str, str]] = {}
    for _, row in table.iterrows():
        base = Path(str(row[name_col]).strip().replace("\\", "/")).name
        if not base:
            continue
        if pairs:
            attrs = {
                str(row[k]).strip(): str(row[v]).strip()
                for k, v in pairs
                if str(row[k]).strip() and str(row[k]).strip().lower() not in ("nan", NO_ATTRIBUTE.lower())
            }
        else:
            attrs = {c: str(row[c]).strip() for c in others if str(row[c]).strip()}
        out[base] = attrs
    return out


def _attribute_tables(type_dir: Path) -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for csv_path in sorted(type_dir.glob("attributes_*.csv")):
        table.update(_read_attribute_csv(csv_path))
    return table


def index(
    root: str | os.PathLike[str], on_unknown: str = "error", layout: str | None = None
) -> pd.DataFrame:
    """Index every ``<root>/<type>/{train,test}/*.wav`` file into a DataFrame. Explained in chapter 1.

    Any folder name is accepted as a machine type; non-wav files are ignored. ``attributes_XX.csv``
    tables next to ``train/`` / ``test/`` (DCASE 2022+) fill / override the attributes parsed from
    the names. Clips in ``<type>/supplemental/`` (DCASE 2025) get ``supplemental=True``, split
    ``train`` and label ``None``; :func:`select` and :func:`first_training_clips` leave them out.
    macOS metadata (AppleDouble ``._*.wav`` files, ``__MACOSX`` folders) is always skipped, with one
    warning that counts it.

    The year rule: 2021 to 2026 share one naming scheme, so ``layout=None`` tells the year from
    evidence in the data: a two-channel clip or a machine type named ``...Emu`` gives ``dcase2026``,
    else a ``supplemental/`` folder gives ``dcase2025``, else ``dcase2022`` (as before; 2023 and 2024
    cannot be told from 2022 by their files, so name them with ``layout=``). ``id_XX`` names are
    always ``dcase2020``. An explicit ``layout`` is checked against the data. In ``dcase2023``+
    layouts the name part ``noAttribute`` means no attributes.

    Args:
        root: the data set's root folder.
        on_unknown: ``"error"``: file names that match no scheme and broken symbolic links raise one
            :class:`DatasetLayoutError` listing them (``asd index/train/run`` without
            ``--skip-unknown``); ``"warn"``: they are skipped with a warning.
        layout: one of :data:`DATA_LAYOUTS`, or None to tell it from the data.

    Returns:
        df: columns :data:`INDEX_COLUMNS`, ``path`` absolute, rows sorted by path; ``channels`` is
            read from each file's header (``<NA>`` when unreadable).

    Raises:
        DatasetLayoutError: naming the files or folders, for data that does not fit the layout (a
            multi-channel clip in a mono year, another section than ``section_00`` in 2023-2025, a
            missing ``attributes_00.csv``, a ``supplemental/`` folder before 2025).
    """
    if on_unknown not in ("error", "warn"):
        raise ValueError(f"on_unknown must be 'error' or 'warn', got {on_unknown!r}")
    if layout is not None and layout not in DATA_LAYOUTS:
        raise ValueError(f"index: layout must be None or one of {', '.join(DATA_LAYOUTS)}, got {layout!r}")
    root = Path(root).expanduser().absolute()
    type_dirs = _check_root(root)
    scan: dict[str, list] = {"rows": [], "bad": [], "broken": [], "apple_double": []}
    for type_dir in type_dirs:
        _scan_type_dir(type_dir, scan)
    _warn_macos_metadata(root, scan["apple_double"], [root / d for d in _MACOS_DIRS if (root / d).is_dir()])
    _report_unknown(root, scan["bad"], scan["broken"], on_unknown)
    if not scan["rows"]:
        raise DatasetLayoutError(
            f"found no usable .wav files under {root} in "
            f"{', '.join(d.name for d in type_dirs)}/{{train,test}}/"
        )
    _apply_layout(scan["rows"], layout if layout is not None else _tell_layout(scan["rows"]), layout)
    df = pd.DataFrame(scan["rows"], columns=INDEX_COLUMNS)
    df["channels"] = df["channels"].astype("Int64")
    df["supplemental"] = df["supplemental"].astype(bool)
    return df.sort_values("path", kind="stable").reset_index(drop=True)


def _tell_layout(rows: list[dict[str, Any]]) -> str:
    """The year of the ``section_XX`` rows by the evidence rule of :func:`index`."""
    section = [r for r in rows if r["layout"] != "dcase2020"]
    if any((r["channels"] or 1) > 1 for r in section) or any(
        str(r["machine_type"]).endswith(EMULATED_SUFFIX) for r in section
    ):
        return "dcase2026"
    if any(r["supplemental"] for r in section):
        return "dcase2025"
    return "dcase2022"


def _apply_layout(rows: list[dict[str, Any]], year: str, explicit: str | None) -> None:
    """Set the year of the ``section_XX`` rows; raise for rows that do not fit (see :func:`index`)."""
    supplemental = [r["path"] for r in rows if r["supplemental"]]
    if supplemental and year not in _SUPPLEMENTAL_LAYOUTS:
        raise DatasetLayoutError(
            f"supplemental/ folders belong to DCASE 2025, not layout {year!r}; found "
            f"{len(supplemental)} clip(s):\n  {_listed(supplemental)}"
        )
    if explicit is not None:
        want = "id_XX" if year == "dcase2020" else "section_XX"
        misfit = [r["path"] for r in rows if (r["layout"] == "dcase2020") != (year == "dcase2020")]
        if misfit:
            raise DatasetLayoutError(
                f"layout={year!r} expects {want} file names, but {len(misfit)} file(s) have the "
                f"other scheme:\n  {_listed(misfit)}"
            )
    for r in rows:
        if r["layout"] != "dcase2020":
            r["layout"] = year
    multi = [f"{r['path']}: {r['channels']} channels" for r in rows
             if r["layout"] in _MONO_LAYOUTS and (r["channels"] or 1) > 1]
    if multi:
        raise DatasetLayoutError(
            f"{len(multi)} clip(s) have more than one channel, but DCASE 2020-2025 clips are mono "
            f"(two-channel clips are DCASE 2026: index(root, layout='dcase2026')):\n  {_listed(multi)}"
        )
    if year in _FIRST_SHOT_LAYOUTS or year == "dcase2026":
        for r in rows:
            if r["attributes"] == {"raw": NO_ATTRIBUTE}:
                r["attributes"] = {}
    if year in _FIRST_SHOT_LAYOUTS:
        _check_first_shot(rows, year)


def _check_first_shot(rows: list[dict[str, Any]], year: str) -> None:
    """2023-2025: one ``section_00`` per type; a type with attributes in its names needs ``attributes_00.csv``."""
    other = [r["path"] for r in rows if r["section"] != "section_00"]
    if other:
        raise DatasetLayoutError(
            f"{year} has one section, section_00, per machine type, but {len(other)} file(s) "
            f"name another:\n  {_listed(other)}"
        )
    lacking = sorted({
        str(Path(r["path"]).parents[1]) for r in rows
        if not r["supplemental"] and _name_has_attributes(r["path"])
        and not (Path(r["path"]).parents[1] / "attributes_00.csv").is_file()
    })
    if lacking:
        raise DatasetLayoutError(
            f"{year}: the machine-type folder(s) {', '.join(lacking)} have file names with attributes "
            "but no attributes_00.csv beside train/ and test/ (a type whose names end in "
            f"'{NO_ATTRIBUTE}' needs none)"
        )


def _name_has_attributes(path: str) -> bool:
    """Whether a file name carries an attribute part other than ``noAttribute``."""
    m = _RE_2022.match(Path(path).name)
    return bool(m and m["attrs"] and m["attrs"] != NO_ATTRIBUTE)


def _channels(f: Path) -> int | None:
    """The channel count in a file's header; None when the header cannot be read."""
    try:
        return int(sf.info(str(f)).channels)
    except Exception:  # noqa: BLE001 - an unreadable file is reported by load_audio
        return None


def _scan_type_dir(type_dir: Path, scan: dict[str, list]) -> None:
    """Add the clips of one machine-type folder to ``scan`` (rows, unparsable names, broken links, AppleDouble)."""
    csv_attrs = _attribute_tables(type_dir)
    schemes: set[str] = set()
    for split in (*SPLITS, SUPPLEMENTAL):
        split_dir = type_dir / split
        if not split_dir.is_dir():
            if split_dir.is_symlink() and not split_dir.exists():
                scan["broken"].append(_broken_link(split_dir))
            continue
        for f in sorted(split_dir.iterdir()):
            if f.suffix.lower() != ".wav":
                continue  # other files (notes, .DS_Store, csv) are not data
            if _is_appledouble(f):
                scan["apple_double"].append(f)
                continue
            if not f.is_file():
                if f.is_symlink() and not f.exists():
                    scan["broken"].append(_broken_link(f))
                continue
            try:
                fields = parse_filename(f)
            except FilenameError as exc:
                scan["bad"].append(str(exc))
                continue
            fields["machine_type"] = type_dir.name
            if f.name in csv_attrs and csv_attrs[f.name]:
                base = {k: v for k, v in fields["attributes"].items() if k != "raw"}
                fields["attributes"] = {**base, **csv_attrs[f.name]}
            schemes.add("id" if fields["layout"] == "dcase2020" else "section")
            scan["rows"].append({"path": str(f), **fields, "channels": _channels(f),
                                 "supplemental": split == SUPPLEMENTAL})
    if len(schemes) > 1:
        raise DatasetLayoutError(
            f"machine-type folder {type_dir} mixes DCASE 2020 (id_XX) and DCASE 2021/2022 "
            "(section_XX) file names; keep each data set under its own root"
        )


def _warn_macos_metadata(root: Path, apple_double: list[Path], macosx: list[Path]) -> None:
    """One warning that counts the skipped macOS metadata and says how to delete it."""
    if not apple_double and not macosx:
        return
    what = []
    if apple_double:
        what.append(f"{len(apple_double)} AppleDouble file(s) '._*.wav' (Finder metadata, not audio), "
                    f"e.g. {apple_double[0]}")
    if macosx:
        what.append(f"the folder(s) {', '.join(str(d) for d in macosx)} (archive metadata)")
    delete = [f"find {root} -name '._*' -delete"] + [f"rm -r {d}" for d in macosx]
    warnings.warn(
        f"index: skipped macOS metadata under {root}: {' and '.join(what)}; "
        f"to delete it: {'; '.join(delete)}",
        UserWarning,
        stacklevel=3,
    )


def _report_unknown(root: Path, bad: list[str], broken: list[str], on_unknown: str) -> None:
    """Unparsable names and broken links: one error (``"error"``) or one warning (``"warn"``)."""
    problems = []
    if bad:
        problems.append(f"{len(bad)} file name(s) under {root} match no DCASE scheme:\n  {_listed(bad)}")
    if broken:
        problems.append(
            f"{len(broken)} symbolic link(s) under {root} point to nothing:\n  {_listed(broken)}"
        )
    if problems:
        msg = "\n".join(problems)
        if on_unknown == "error":
            raise DatasetLayoutError(f"{msg}\n({_UNKNOWN_ADVICE})")
        warnings.warn(msg + f"\n{len(bad) + len(broken)} row(s) skipped", stacklevel=3)


def _listed(items: list[str]) -> str:
    """The first :data:`_MAX_LISTED` items, one per line, and how many more there are."""
    more = f"\n  ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return "\n  ".join(items[:_MAX_LISTED]) + more


def _broken_link(link: Path) -> str:
    """Describe a symbolic link whose target is missing (or a loop)."""
    target = os.readlink(link)
    resolved = os.path.normpath(os.path.join(link.parent, target))
    where = "" if resolved == target else f" ({resolved})"
    return f"{link}: broken symbolic link to {target}{where}, which does not exist"


def index_to_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write an index to CSV; ``attributes`` become JSON strings, ``None`` an empty cell.

    An index without the 2023+ columns (``channels``, ``supplemental``) is written with empty
    ``channels`` and ``supplemental=False``.
    """
    missing = [c for c in INDEX_COLUMNS if c not in df.columns and c not in _ADDED_COLUMNS]
    if missing:
        raise ValueError(f"index_to_csv: the DataFrame lacks the index column(s) {missing}")
    out = _with_added_columns(df.copy())[INDEX_COLUMNS]
    out["attributes"] = [json.dumps(a or {}, sort_keys=True) for a in out["attributes"]]
    out.to_csv(path, index=False)


def _with_added_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``channels`` (nullable int) and ``supplemental`` (bool), added when absent."""
    if "channels" not in df.columns:
        df["channels"] = None
    df["channels"] = pd.array(
        [None if v is None or v is pd.NA or v == "" or (isinstance(v, float) and np.isnan(v)) else int(v)
         for v in df["channels"]], dtype="Int64")
    if "supplemental" not in df.columns:
        df["supplemental"] = False
    df["supplemental"] = [v if isinstance(v, (bool, np.bool_)) else str(v).strip().lower() == "true"
                          for v in df["supplemental"]]
    df["supplemental"] = df["supplemental"].astype(bool)
    return df


def read_index(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an index written by :func:`index_to_csv` (empty cells -> ``None``).

    A file written before the 2023+ columns existed gets ``channels=<NA>``, ``supplemental=False``.
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in INDEX_COLUMNS if c not in df.columns and c not in _ADDED_COLUMNS]
    if missing:
        raise ValueError(f"{path}: not an index file, missing column(s) {missing}")
    df = df[[c for c in INDEX_COLUMNS if c in df.columns]].astype(object)
    for col in INDEX_COLUMNS:
        if col in df.columns and col not in ("attributes", *_ADDED_COLUMNS):
            df[col] = [v if v != "" else None for v in df[col]]
    try:
        df["attributes"] = [json.loads(a) if a else {} for a in df["attributes"]]
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: 'attributes' column is not valid JSON ({exc})") from exc
    try:
        return _with_added_columns(df)[INDEX_COLUMNS]
    except ValueError as exc:
        raise ValueError(f"{path}: 'channels' column is not a whole number ({exc})") from exc


# --------------------------------------------------------------------------- audio

_TRUNCATED = re.compile(r"^data\s*:\s*(\d+)\s*\(should be\s*(\d+)\)", re.MULTILINE)


def load_audio(
    path: str | os.PathLike[str], sr: int | None = 16000, channel: str | int = "mean"
) -> np.ndarray:
    """Load an audio file as a float32 array in [-1, 1]: one channel, or all (DCASE 2026: near, far).

    A file at another sample rate is resampled (``torchaudio.functional.resample``) with a warning.
    Warns (:class:`AudioWarning`, naming the file) for a silent clip (every sample 0) and for float
    samples beyond [-1, 1].

    Args:
        path: the audio file.
        sr: sample rate in Hz to return (None: the file's own).
        channel: ``"mean"`` (default) averages the channels (a 1-channel file as it is), an
            integer picks one (0-based), ``"all"`` keeps every channel. Which DCASE 2026 channel is
            the near and which the far microphone is not confirmed here: check the data's README.

    Returns:
        wave: float32 ``[n_samples]``; ``[channels, n_samples]`` for ``channel="all"`` (also for a
            1-channel file: ``[1, n_samples]``).

    Raises:
        AudioError: naming the file, for missing, empty, truncated, corrupt or non-audio files and
            for non-finite samples.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p}: no such audio file")
    if p.stat().st_size == 0:
        raise AudioError(f"{p}: empty file (0 bytes)")
    try:
        with sf.SoundFile(str(p)) as f:
            info = f.extra_info
            file_sr = f.samplerate
            data = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
        raise AudioError(f"{p}: cannot read as audio ({exc})") from exc
    m = _TRUNCATED.search(info or "")
    if m and int(m.group(2)) < int(m.group(1)):
        raise AudioError(
            f"{p}: truncated WAV, the header declares {m.group(1)} data bytes but only "
            f"{m.group(2)} are present"
        )
    if data.shape[0] == 0:
        raise AudioError(f"{p}: the file holds zero samples")
    wave = _pick_channel(p, data, channel)
    peak = float(np.maximum(wave.max(), -wave.min()))  # NaN and inf propagate; no temporary array
    if not np.isfinite(peak):
        raise AudioError(f"{p}: the audio holds non-finite samples (NaN or inf)")
    if peak == 0.0:
        warnings.warn(f"{p}: silent clip, every sample is 0", AudioWarning, stacklevel=2)
    elif peak > 1.0:
        warnings.warn(
            f"{p}: float samples reach {peak:.4g}, beyond the [-1, 1] range of audio; they are "
            "used as they are (was the file written without scaling?)",
            AudioWarning,
            stacklevel=2,
        )
    if sr is not None and file_sr != sr:
        warnings.warn(f"{p}: resampling from {file_sr} Hz to {sr} Hz", stacklevel=2)
        import torchaudio.functional as taf

        wave = taf.resample(torch.from_numpy(np.ascontiguousarray(wave)), file_sr, sr).numpy()
    return np.ascontiguousarray(wave, dtype=np.float32)


def _pick_channel(p: Path, data: np.ndarray, channel: str | int) -> np.ndarray:
    """``data [n, channels]`` as ``load_audio(channel=...)`` returns it (before resampling)."""
    n_ch = data.shape[1]
    if isinstance(channel, str) and channel in ("mean", "all"):
        return data.mean(axis=1) if channel == "mean" else data.T
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if not 0 <= channel < n_ch:
            raise AudioError(f"{p}: channel {channel} requested but the file has {n_ch} channel(s)")
        return data[:, channel]
    raise ValueError(f"load_audio: channel must be 'mean', 'all' or an int, got {channel!r}")


def _is_silent(clip: np.ndarray | torch.Tensor) -> bool:
    """A wave ``[n]`` whose samples are all 0, or a feature ``[M, T]`` whose values are all equal.

    The log-mel of digital silence is the constant floor ``20 / power * log10(eps)``; no
    sound that has any energy above that floor gives the same value in every bin and frame.
    """
    x = clip.detach().cpu().numpy() if isinstance(clip, torch.Tensor) else np.asarray(clip)
    if x.size == 0:
        return False
    if x.ndim == 1:
        return not np.any(x)
    return bool(np.max(x) == np.min(x))


def check_training_clips(
    paths: Sequence[str | os.PathLike[str]],
    clips: Sequence[np.ndarray | torch.Tensor] | None = None,
) -> None:
    """Refuse silent training clips: raise one :class:`AudioError` that names every one.

    A silent clip holds nothing of the machine's sound, yet it would enter the normalisation and the
    loss.

    Args:
        paths: the clips' files.
        clips: ``clips[i]`` belongs to ``paths[i]``: a wave ``[n_samples]`` (silent when every sample
            is 0) or its log-mel ``[n_mels, n_frames]`` (silent when every value is the same, the
            log-mel floor of digital silence); None loads the audio (slower).

    Raises:
        AudioError: naming every silent clip.
    """
    if clips is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AudioWarning)  # reported together below
            clips = [load_audio(p, sr=None) for p in paths]
    if len(clips) != len(paths):
        raise ValueError(f"check_training_clips: {len(paths)} paths but {len(clips)} clips")
    silent = [str(p) for p, c in zip(paths, clips) if _is_silent(c)]
    if silent:
        listed = "\n  ".join(silent)
        raise AudioError(
            f"{len(silent)} of the {len(paths)} training clip(s) are silent (every sample is 0 "
            f"or below the log-mel floor), so they hold no machine sound:\n  {listed}\n"
            "Move these files out of the train/ folder (or, in Python, drop their rows from "
            "the index: df = df[~df['path'].isin(silent_paths)]) and train again."
        )


# --------------------------------------------------------------------------- datasets


def _as_feature(x: np.ndarray | torch.Tensor, where: str) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=torch.float32)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{where}: expected a non-empty [M, T] feature, got shape {tuple(t.shape)}")
    return t


def _check_frames(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _repeat_to(feat: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Tile a [M, T] feature along time until it has at least ``n_frames`` frames."""
    t = feat.shape[-1]
    if t >= n_frames:
        return feat
    return feat.repeat(1, -(-n_frames // t))


class SegmentDataset(Dataset):
    """Random fixed-length segments of clips, for training.

    Item ``i`` is ``(x, label)`` with ``x`` a float32 ``[1, M, segment_frames]`` tensor cut at a
    random offset from clip ``i // segments_per_clip``; clips shorter than the segment are repeated
    along time. All of an epoch's offsets are drawn at once from one generator seeded with
    ``(seed, epoch)`` (one draw per item, in item order), so runs are reproducible and
    :meth:`set_epoch` draws new offsets for each epoch.

    Args:
        features: log-mel ``[M, T]`` per clip (numpy or torch).
        labels: an integer label per clip.
        segment_frames: frames per segment.
        segments_per_clip: items per clip and epoch.
        seed: seed of the offsets.
    """

    def __init__(
        self,
        features: Sequence[np.ndarray | torch.Tensor],
        labels: Sequence[int],
        segment_frames: int = 64,
        segments_per_clip: int = 1,
        seed: int = 0,
    ) -> None:
        if len(features) != len(labels):
            raise ValueError(
                f"SegmentDataset: {len(features)} features but {len(labels)} labels"
            )
        self.features = [_as_feature(f, f"SegmentDataset features[{i}]") for i, f in enumerate(features)]
        self.labels = [int(v) for v in labels]
        self.segment_frames = _check_frames(segment_frames, "segment_frames")
        self.segments_per_clip = _check_frames(segments_per_clip, "segments_per_clip")
        self.seed = int(seed)
        self.epoch = 0
        self._starts: np.ndarray | None = None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random offsets are drawn."""
        self.epoch = int(epoch)
        self._starts = None

    def starts(self) -> np.ndarray:
        """The current epoch's offset (first frame) of every item, drawn on first use."""
        if self._starts is None:
            seg = self.segment_frames
            lengths = np.repeat([f.shape[-1] for f in self.features], self.segments_per_clip)
            span = np.where(lengths >= seg, lengths - seg + 1, lengths)  # possible offsets per item
            u = np.random.default_rng([self.seed, self.epoch]).random(len(lengths))
            self._starts = np.minimum((u * span).astype(np.int64), span - 1)
        return self._starts

    def __len__(self) -> int:
        return len(self.features) * self.segments_per_clip

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"SegmentDataset index {i} out of range for length {len(self)}")
        i = i % len(self)
        clip = i // self.segments_per_clip
        feat = self.features[clip]
        t, seg = feat.shape[-1], self.segment_frames
        start = int(self.starts()[i])
        if t >= seg:
            x = feat[:, start : start + seg]
        else:
            x = feat[:, (torch.arange(seg) + start) % t]
        return x.unsqueeze(0).contiguous(), self.labels[clip]


def sliding_windows(
    feat: np.ndarray | torch.Tensor, segment_frames: int, hop_frames: int | None = None
) -> torch.Tensor:
    """Cut a ``[M, T]`` feature into windows covering every frame.

    When the last window stops short of the end, one more window aligned to the end is added; a clip
    shorter than a window is repeated along time (one window).

    Args:
        feat: ``[M, T]`` numpy array or tensor.
        segment_frames: frames per window.
        hop_frames: frames between window starts (default: ``segment_frames``).

    Returns:
        windows: float32 tensor ``[n, 1, M, segment_frames]``.
    """
    x = _as_feature(feat, "sliding_windows feat")
    seg = _check_frames(segment_frames, "segment_frames")
    hop = seg if hop_frames is None else _check_frames(hop_frames, "hop_frames")
    if x.shape[-1] < seg:
        x = _repeat_to(x, seg)[:, :seg]
    t = x.shape[-1]
    windows = x.unfold(-1, seg, hop)  # [M, n, seg]
    if (windows.shape[1] - 1) * hop + seg < t:
        windows = torch.cat([windows, x[:, None, t - seg :]], dim=1)
    return windows.permute(1, 0, 2).unsqueeze(1).contiguous()


def unit_labels(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Map each row's (machine_type, unit) to an integer class.

    Args:
        df: an index.

    Returns:
        labels_and_classes: ``(labels [len(df)], classes)``; classes are ``"type/unit"``, sorted.
    """
    missing = [c for c in ("machine_type", "unit") if c not in df.columns]
    if missing:
        raise ValueError(f"unit_labels: the index lacks column(s) {missing}")
    keys = list(zip(df["machine_type"].astype(str), df["unit"].astype(str)))
    ordered = sorted(set(keys))
    lookup = {k: i for i, k in enumerate(ordered)}
    labels = np.array([lookup[k] for k in keys], dtype=np.int64)
    return labels, [f"{t}/{u}" for t, u in ordered]


def select(df: pd.DataFrame, machine_type: str, split: str) -> pd.DataFrame:
    """Rows of one machine type and split; the training split keeps normal clips only (no supplemental ones).

    Args:
        df: an index.
        machine_type: e.g. ``"fan"``.
        split: ``train`` or ``test``.

    Returns:
        rows: the selected rows of ``df``.
    """
    types = sorted(df["machine_type"].unique())
    if machine_type not in types:
        raise ValueError(f"machine type {machine_type!r} is not in the data; found: {', '.join(types)}")
    sub = df[(df["machine_type"] == machine_type) & (df["split"] == split)]
    if split == "train":
        sub = sub[sub["label"].fillna("normal") == "normal"]
        if "supplemental" in sub.columns:
            sub = sub[~sub["supplemental"].astype(bool)]  # DCASE 2025 extras: opt in by hand
    return sub.reset_index(drop=True)


def first_training_clips(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """The index with only the first ``n`` normal training clips of every unit; test rows unchanged.

    Used for learning curves (chapter 10, `book/10_learning_curve.ipynb`). "First" is the order of
    the file names, so the clips of a smaller ``n`` are a subset of those of a larger one. A unit is
    a machine ID (DCASE 2020) or a section and domain (DCASE 2022). Other training rows (not labelled
    normal, or DCASE 2025 supplemental clips) are dropped, as :func:`select` ignores them for
    training. Rows keep their order, so an ``n`` at or above every unit's count returns ``df``'s
    training clips unchanged (same data fingerprint, same cached runs).

    Args:
        df: an index.
        n: normal training clips to keep per unit.

    Returns:
        df: the reduced index.

    Raises:
        ValueError: naming a unit with fewer than ``n`` normal training clips.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a whole number of clips >= 1, got {n!r}")
    missing = [c for c in ("path", "machine_type", "unit", "split", "label") if c not in df.columns]
    if missing:
        raise ValueError(f"first_training_clips: the index lacks column(s) {missing}")
    train = (df["split"] == "train") & (df["label"].fillna("normal") == "normal")
    if "supplemental" in df.columns:
        train &= ~df["supplemental"].astype(bool)
    if not train.any():
        raise ValueError("first_training_clips: the index has no normal training clips")
    keys = ["machine_type", "unit"]
    if "domain" in df.columns and df.loc[train, "domain"].notna().any():
        keys.append("domain")
    rows = df.loc[train, ["path", *keys]].reset_index(drop=True)
    rows["_pos"] = np.flatnonzero(train.to_numpy())  # positions in df (its index need not be unique)
    rows["_name"] = [Path(str(p)).name for p in rows["path"]]
    rows = rows.sort_values([*keys, "_name"], kind="stable")
    counts = rows.groupby(keys, dropna=False, sort=True).size()
    short = counts[counts < n]
    if len(short):
        listed = ", ".join(f"{'/'.join(str(v) for v in (k if isinstance(k, tuple) else (k,)))} ({c})"
                           for k, c in short.items())
        raise ValueError(f"first_training_clips: n={n} normal training clips per unit requested, but "
                         f"{len(short)} unit(s) have fewer: {listed}")
    mask = (df["split"] != "train").to_numpy()
    mask[rows.groupby(keys, dropna=False, sort=False).head(n)["_pos"].to_numpy()] = True
    return df[mask].copy()


def fingerprint(df: pd.DataFrame) -> str:
    """Hash of the files of an index: split folder, name and content (:func:`file_digest`).

    Args:
        df: an index.

    Returns:
        fingerprint: 16 hex characters; changes when the data does.
    """
    import hashlib

    h = hashlib.sha1()
    for p in sorted(df["path"].astype(str)):
        h.update(f"{Path(p).parent.name}/{Path(p).name}:{file_digest(p)}\n".encode())
    return h.hexdigest()[:16]


def data_root_of(df: pd.DataFrame) -> list[Path]:
    """The data root folder(s) of an index: ``<root>/<machine_type>/<split>/<file>``."""
    return sorted({Path(p).resolve().parents[2] for p in df["path"].astype(str)})


def format_attributes(attributes: dict[str, str] | None) -> str:
    """The inverse of :func:`parse_attributes`: ``{"vel": "8", "loc": "A"}`` -> ``"vel_8_loc_A"`` (``""`` if none)."""
    if not attributes:
        return ""
    if set(attributes) == {"raw"}:
        return str(attributes["raw"])
    return "_".join(f"{k}_{v}" for k, v in attributes.items())
