"""The real DCASE 2020 ToyCar clips of the book: the clip list, the official download, the folder check.

Explained in chapter 11, ``book/11_real_toycar.ipynb``. The book's real-data chapter uses 821
ToyCar clips (machine IDs 01-04) of the DCASE 2020 Task 2 development set's ``test/`` folder,
each cut to its first :data:`N_SAMPLES` samples (the first 200 frames of the front end: n_fft
1024, hop 512, 16 kHz). :func:`clip_list` is their list (file names and labels, no audio);
:func:`fetch_real_toycar` builds the same clips from the official Zenodo download
(:mod:`asdlib.download`) into ``<out>/real-toycar/dcase2020/ToyCar/{train,test}``;
:func:`check_real_folder` checks a real-data folder before it is used.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from . import download as dl
from .data import FilenameError, parse_filename
from .files import replace_tree, write_text_atomic
from .settings import data_dir

__all__ = [
    "SAMPLE_RATE",
    "N_SAMPLES",
    "MACHINE",
    "RealDataError",
    "clip_list",
    "fetch_real_toycar",
    "check_real_folder",
]

#: Sample rate of every clip (Hz).
SAMPLE_RATE = 16000
#: Samples kept per clip: the first 200 frames of a centred STFT with n_fft 1024, hop 512 (6.368 s).
N_SAMPLES = 101_888
#: The machine type of the clips.
MACHINE = "ToyCar"
#: Marker written last by :func:`fetch_real_toycar`, in ``<out>/real-toycar/``.
MARKER = ".complete"

_CLIPS_CSV = "real_toycar_clips.csv"
_CLIP_COLUMNS = ("file", "unit", "label", "split")
_SPLITS = ("train", "test")
_MAX_LISTED = 10


class RealDataError(ValueError):
    """A real-data folder, clip or clip list is missing, broken or inconsistent."""


# --------------------------------------------------------------------------- clip list


def clip_list() -> pd.DataFrame:
    """The 821 clips of the book's real ToyCar set (a CSV shipped with asdlib).

    Returns:
        clips: DataFrame with columns ``file`` (e.g. ``anomaly_id_01_00000000.wav``), ``unit``
            (``id_01`` ... ``id_04``), ``label`` (``normal`` / ``anomaly``), ``split``
            (``train`` / ``test``), one row per clip.
    """
    with resources.files("asdlib").joinpath(_CLIPS_CSV).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str)


def _checked_clips(clips: pd.DataFrame | None) -> pd.DataFrame:
    """The clip list (default :func:`clip_list`), checked against its own file names."""
    clips = clip_list() if clips is None else pd.DataFrame(clips)
    missing = [c for c in _CLIP_COLUMNS if c not in clips.columns]
    if missing:
        raise RealDataError(f"clip list lacks the column(s) {missing}; expected {list(_CLIP_COLUMNS)}")
    if clips.empty:
        raise RealDataError("clip list is empty")
    clips = clips[list(_CLIP_COLUMNS)].astype(str).reset_index(drop=True)
    problems = []
    dup = clips["file"][clips["file"].duplicated()].tolist()
    if dup:
        problems.append(f"file name(s) listed twice: {dup[:_MAX_LISTED]}")
    for row in clips.itertuples(index=False):
        if PurePosixPath(row.file).name != row.file or not row.file.lower().endswith(".wav"):
            problems.append(f"{row.file!r}: expected a bare .wav file name")
            continue
        try:
            fields = parse_filename(Path(MACHINE) / "test" / row.file)
        except FilenameError as err:
            problems.append(str(err))
            continue
        if row.split not in _SPLITS:
            problems.append(f"{row.file}: split {row.split!r}, expected train or test")
        if fields["layout"] != "dcase2020" or fields["label"] is None:
            problems.append(f"{row.file}: not a labelled DCASE 2020 name (label_id_XX_NNNNNNNN.wav)")
            continue
        if fields["unit"] != row.unit or fields["label"] != row.label:
            problems.append(f"{row.file}: listed as {row.unit} {row.label}, the name says "
                            f"{fields['unit']} {fields['label']}")
        if row.split == "train" and fields["label"] != "normal":
            problems.append(f"{row.file}: an anomaly listed in train (training clips are normal)")
    if problems:
        raise RealDataError("bad clip list:\n  " + _listed(problems))
    return clips


def _digest(clips: pd.DataFrame) -> str:
    text = clips[list(_CLIP_COLUMNS)].to_csv(index=False, lineterminator="\n")
    return hashlib.sha1(f"{N_SAMPLES}\n{text}".encode()).hexdigest()[:16]


def _listed(items: list[str]) -> str:
    more = f"\n  ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return "\n  ".join(items[:_MAX_LISTED]) + more


# --------------------------------------------------------------------------- WAV checks


def _truncation(path: Path) -> str | None:
    """Why a RIFF/WAVE file is cut short (its ``data`` chunk claims more bytes than it has), else None.

    libsndfile silently shortens such a file, so the header is checked here. Non-RIFF files
    (and streamed headers with an unknown size) are left to soundfile.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # RF64 / other containers: soundfile's reading is all we check
        pos = 12
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return f"no 'data' chunk ({size} bytes; the file is cut short)"
            cid, n = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                if n == 0xFFFFFFFF:
                    return None
                have = size - (pos + 8)
                if have < n:
                    return f"its data chunk holds {have} of the {n} bytes its header declares (the file is cut short)"
                return None
            pos += 8 + n + (n & 1)
            if pos > size:
                return f"its '{cid.decode('latin-1')}' chunk runs past the end of the file (cut short)"
            fh.seek(pos)


def _audio_info(path: Path) -> tuple[object, str | None]:
    """``soundfile.info`` of ``path`` and the reason it is unusable (None when it reads)."""
    try:
        why = _truncation(path)
        if why is not None:
            return None, why
        return sf.info(str(path)), None
    except Exception as err:  # noqa: BLE001 - libsndfile raises several types
        return None, f"unreadable audio ({type(err).__name__}: {err})"


# --------------------------------------------------------------------------- download


def _marker_ok(marker: Path, digest: str, root: Path) -> bool:
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("clips_sha1") == digest and (root / MACHINE).is_dir()


def fetch_real_toycar(
    out: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    progress: bool = True,
    clips: pd.DataFrame | None = None,
    **download_kwargs,
) -> Path:
    """Build the book's real ToyCar set from the official DCASE 2020 Task 2 development set.

    Downloads ``dev_data_ToyCar.zip`` with :func:`asdlib.download.download` (checksum, resume,
    retries, lock, safe extraction; the full set stays in ``<out>/dcase2020/ToyCar``), then
    writes the listed clips of its ``test/`` folder, cut to :data:`N_SAMPLES` samples, as 16 kHz
    mono 16-bit PCM into ``<out>/real-toycar/dcase2020/ToyCar/{train,test}``. The tree is built
    in a temporary folder, checked with :func:`check_real_folder`, moved into place and marked
    complete last; a second call with the same list returns at once.

    Args:
        out: Data folder (default ``$ASD_DATA_DIR``, else ``~/asd-data``).
        base_url: Zenodo server (default ``$ASD_ZENODO_URL``, else https://zenodo.org).
        progress: Show progress bars.
        clips: Clip list like :func:`clip_list` (default: that list).
        **download_kwargs: Passed to :func:`asdlib.download.download` (``retries``, ``timeout``,
            ``backoff``, ``lock_timeout``, ``keep_zip``).

    Returns:
        root: The ``<out>/real-toycar/dcase2020`` folder (a DCASE 2020 root for ``asdlib.data.index``).
    """
    taken = {"dataset", "part", "machines", "out"} & set(download_kwargs)
    if taken:
        raise TypeError(f"fetch_real_toycar: {sorted(taken)} are fixed (DCASE 2020 dev, ToyCar, out)")
    clips = _checked_clips(clips)
    digest = _digest(clips)
    out = Path(out).expanduser() if out is not None else data_dir()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} exists and is not a folder")
    home = out / "real-toycar"
    root, marker = home / "dcase2020", home / MARKER
    if _marker_ok(marker, digest, root):
        return root
    lock = out / ".downloads" / "real-toycar.lock"
    with dl.file_lock(lock, timeout=download_kwargs.get("lock_timeout", 0.0)):
        if _marker_ok(marker, digest, root):  # finished while we waited
            return root
        (src_type,) = dl.download("dcase2020", "dev", [MACHINE], out, base_url=base_url,
                                  progress=progress, **download_kwargs)
        src = src_type / "test"
        missing = [f for f in clips["file"] if not (src / f).is_file()]
        if missing:
            raise RealDataError(
                f"{len(missing)} listed clip(s) are not in the downloaded development set's {src} "
                f"folder: {', '.join(missing[:_MAX_LISTED])}{' ...' if len(missing) > _MAX_LISTED else ''}"
                " (the Zenodo record may have changed; nothing was written)")
        home.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        for stale in home.glob(".tmp-*"):  # left by a crashed run; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=home))
        try:
            for split in _SPLITS:
                (tmp / MACHINE / split).mkdir(parents=True)
            rows = list(clips.itertuples(index=False))
            for row in tqdm(rows, desc="real ToyCar clips", disable=not progress, leave=False):
                _cut_clip(src / row.file, tmp / MACHINE / row.split / row.file)
            units = sorted(set(clips["unit"]))
            check_real_folder(tmp, expected_units=units, manifest=clips, n_samples=N_SAMPLES)
            replace_tree(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        write_text_atomic(marker, json.dumps({
            "clips": len(clips), "clips_sha1": digest, "n_samples": N_SAMPLES,
            "source": dl.file_url("dcase2020", "dev", MACHINE, base_url), "time": time.time(),
        }) + "\n")
    return root


def _cut_clip(src: Path, dest: Path) -> None:
    """Write the first :data:`N_SAMPLES` samples of ``src`` as 16 kHz mono PCM_16 to ``dest``."""
    info, why = _audio_info(src)
    if why is None and info.samplerate != SAMPLE_RATE:
        why = f"sample rate {info.samplerate} Hz, expected {SAMPLE_RATE} Hz"
    if why is None and info.channels != 1:
        why = f"{info.channels} channels, expected mono"
    if why is None and info.frames < N_SAMPLES:
        why = f"{info.frames} samples, shorter than the {N_SAMPLES} to keep"
    if why is None:
        x, _ = sf.read(str(src), frames=N_SAMPLES, dtype="int16", always_2d=False)
        if len(x) != N_SAMPLES:
            why = f"read {len(x)} of {N_SAMPLES} samples (the file is cut short)"
    if why is not None:
        raise RealDataError(f"{src}: {why}; nothing was written")
    sf.write(str(dest), np.ascontiguousarray(x), SAMPLE_RATE, subtype="PCM_16", format="WAV")


# --------------------------------------------------------------------------- folder check


def _type_dirs(root: Path) -> list[Path]:
    if any((root / s).is_dir() for s in _SPLITS):  # root is itself a machine-type folder
        return [root]
    return sorted(d for d in root.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and d.name != "__MACOSX")


def _read_manifest(manifest) -> tuple[pd.DataFrame, str]:
    if isinstance(manifest, pd.DataFrame):
        df, name = manifest, "the label table"
    else:
        path = Path(manifest).expanduser()
        name = str(path)
        if not path.is_file():
            raise RealDataError(f"label file {path} does not exist")
        try:
            df = pd.read_csv(path, dtype=str)
        except (OSError, ValueError, pd.errors.ParserError) as err:
            raise RealDataError(f"label file {path} is not a readable CSV ({err})") from err
    missing = [c for c in ("file", "label") if c not in df.columns]
    if missing:
        raise RealDataError(f"label file {name} lacks the column(s) {missing} (has {list(df.columns)})")
    return df, name


def check_real_folder(
    root: str | os.PathLike[str],
    expected_units: Iterable[str] | None = ("id_01", "id_02", "id_03", "id_04"),
    manifest: str | os.PathLike[str] | pd.DataFrame | None = None,
    sample_rate: int = SAMPLE_RATE,
    n_samples: int | None = None,
) -> pd.DataFrame:
    """Check a real-data folder in the DCASE 2020 layout before it is used; reads only.

    Every ``<root>/<type>/{train,test}/*.wav`` must have a labelled DCASE 2020 name (training
    clips normal), be readable and whole, mono, at ``sample_rate``, and as long as the other
    clips of its machine type (or ``n_samples``); every expected unit needs train and test
    clips of every type; a label file must agree with the labels in the names.

    Args:
        root: DCASE 2020 root holding ``<type>/{train,test}`` (or one ``<type>`` folder).
        expected_units: Machine IDs each type must have in train and test (None: no check).
        manifest: Label file: CSV (or DataFrame) with columns ``file``, ``label`` (optional
            ``split``, ``unit``); ``file`` is a name or a path ending in ``<type>/<split>/<name>``.
        sample_rate: Required sample rate in Hz.
        n_samples: Required samples per clip (None: all clips of a type alike).

    Returns:
        clips: DataFrame, one row per clip: ``path``, ``machine_type``, ``unit``, ``split``,
            ``label``, ``samplerate``, ``frames``.

    Raises:
        RealDataError: naming each bad file or setting.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise RealDataError(f"real-data folder {root} does not exist or is not a folder")
    types = _type_dirs(root)
    if not types:
        raise RealDataError(f"{root} holds no machine-type folder with train/ and test/ (DCASE 2020 layout)")
    problems: list[str] = []
    rows = [row for tdir in types for row in _check_clips(tdir, sample_rate, problems)]
    df = pd.DataFrame(rows, columns=["path", "machine_type", "unit", "split", "label", "samplerate", "frames"])
    if df.empty and not problems:
        raise RealDataError(f"no .wav clips under {root} in {', '.join(t.name for t in types)}/{{train,test}}/")
    problems += _length_problems(df, n_samples)
    if expected_units is not None:
        for tdir in types:
            have = df[df["machine_type"] == tdir.name]
            for unit in expected_units:
                for split in _SPLITS:
                    if not ((have["unit"] == unit) & (have["split"] == split)).any():
                        problems.append(f"missing ID {unit}: no {split} clips of it in {tdir / split}")
    if manifest is not None:
        problems += _manifest_problems(df, manifest)
    if problems:
        raise RealDataError(f"{root}: {len(problems)} problem(s):\n  " + _listed(problems))
    return df


def _check_clips(tdir: Path, sample_rate: int, problems: list[str]) -> list[dict]:
    """The clips of one machine-type folder that have a labelled DCASE 2020 name and readable audio;
    what is wrong with the others is added to ``problems``."""
    rows = []
    for split in _SPLITS:
        sdir = tdir / split
        if not sdir.is_dir():
            continue
        for f in sorted(sdir.iterdir()):
            if f.suffix.lower() != ".wav" or f.name.startswith("._"):
                continue
            try:
                fields = parse_filename(f)
            except FilenameError as err:
                problems.append(str(err))
                continue
            if fields["layout"] != "dcase2020" or fields["label"] is None:
                problems.append(f"{f}: not a labelled DCASE 2020 name (normal|anomaly_id_XX_NNNNNNNN.wav)")
                continue
            if split == "train" and fields["label"] != "normal":
                problems.append(f"{f}: an anomaly in train/ (training clips must be normal)")
            info, why = _audio_info(f)
            if why is not None:
                problems.append(f"{f}: {why}")
                continue
            if info.samplerate != sample_rate:
                problems.append(f"{f}: sample rate {info.samplerate} Hz, expected {sample_rate} Hz")
            if info.channels != 1:
                problems.append(f"{f}: {info.channels} channels, expected mono")
            rows.append({"path": str(f), "machine_type": tdir.name, "unit": fields["unit"], "split": split,
                         "label": fields["label"], "samplerate": info.samplerate, "frames": info.frames})
    return rows


def _length_problems(df: pd.DataFrame, n_samples: int | None) -> list[str]:
    """Clips whose length differs from ``n_samples`` (or from most clips of their machine type)."""
    problems = []
    for mt, g in df.groupby("machine_type"):
        want = n_samples if n_samples is not None else Counter(g["frames"]).most_common(1)[0][0]
        what = "required by n_samples" if n_samples is not None else f"the length of most {mt} clips"
        for r in g[g["frames"] != want].itertuples():
            problems.append(f"{r.path}: {r.frames} samples, expected {want} ({what}; "
                            "all clips of a set must have the same length)")
    return problems


def _manifest_problems(df: pd.DataFrame, manifest) -> list[str]:
    """Where a label file and the folder disagree (labels, splits, units, missing or extra clips)."""
    table, name = _read_manifest(manifest)
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(df["path"]):
        by_name.setdefault(Path(p).name, []).append(i)
    problems, matched = [], set()
    for row in table.to_dict("records"):
        parts = PurePosixPath(str(row["file"]).replace("\\", "/")).parts
        fname = parts[-1] if parts else ""
        split = row.get("split") if isinstance(row.get("split"), str) else None
        if split is None and len(parts) >= 2 and parts[-2] in _SPLITS:
            split = parts[-2]
        mtype = parts[-3] if len(parts) >= 3 and parts[-2] in _SPLITS else None
        cands = [i for i in by_name.get(fname, [])
                 if (split is None or df.at[i, "split"] == split)
                 and (mtype is None or df.at[i, "machine_type"] == mtype)]
        if not cands:
            problems.append(f"{name}: lists {row['file']} ({row['label']}), which is not in the folder")
            continue
        if len(cands) > 1:
            problems.append(f"{name}: {row['file']} matches {len(cands)} clips (give <type>/<split>/<name>)")
            continue
        i = cands[0]
        matched.add(i)
        path, label = df.at[i, "path"], df.at[i, "label"]
        if str(row["label"]).strip().lower() != label:
            problems.append(f"{path}: {name} says label {row['label']!r}, the file name says {label!r}")
        unit = row.get("unit")
        if isinstance(unit, str) and unit.strip() != df.at[i, "unit"]:
            problems.append(f"{path}: {name} says unit {unit!r}, the file name says {df.at[i, 'unit']!r}")
    extra = [df.at[i, "path"] for i in range(len(df)) if i not in matched]
    problems += [f"{p}: not listed in {name}" for p in extra]
    return problems
