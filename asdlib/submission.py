"""DCASE submission files: write, read and evaluate them; a hidden-label test set for a course.

Explained in chapter 8, ``book/08_dcase2022_results.ipynb`` (DCASE 2022, one threshold for both
domains); the course's capstone, ``book/course/capstone.md``, uses it for a challenge on hidden
synthetic test labels. Where the formats and the threshold rule come from: ``docs/design.md``.

The files, one per machine type and unit, in one folder; each row is ``<file base name>,<value>``,
comma-separated, no header row, one row per test clip:

* DCASE 2021-2026: ``anomaly_score_<type>_section_<XX>_test.csv`` (score, higher = more
  anomalous) and ``decision_result_<type>_section_<XX>_test.csv`` (1 = anomalous, 0 = normal);
* DCASE 2020: ``anomaly_score_<type>_id_<XX>.csv`` only (the 2020 challenge had no decisions).
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .dcase import FIRST_SHOT_LAYOUTS, SECTION_LAYOUTS, check_layout
from .files import atomic_path, replace_tree

__all__ = [
    "SubmissionError",
    "GROUND_TRUTH_COLUMNS",
    "submission_file_names",
    "fit_decision_threshold",
    "decision_thresholds",
    "write_submission",
    "read_submission",
    "read_ground_truth",
    "read_evaluator_ground_truth",
    "decision_metrics",
    "evaluate_submission",
    "hide_labels",
]

GROUND_TRUTH_COLUMNS = ["machine_type", "file", "unit", "domain", "label"]
DEFAULT_QUANTILE = 0.9

_RE_SCORE_2022 = re.compile(r"^anomaly_score_(?P<type>.+)_section_(?P<num>\d{2})_test\.csv$")
_RE_DECISION_2022 = re.compile(r"^decision_result_(?P<type>.+)_section_(?P<num>\d{2})_test\.csv$")
_RE_SCORE_2020 = re.compile(r"^anomaly_score_(?P<type>.+)_id_(?P<num>\d{2})\.csv$")
_EXPECTED_NAMES = ("anomaly_score_<type>_section_<XX>_test.csv + decision_result_<type>_section_<XX>_test.csv "
                   "(DCASE 2021-2026) or anomaly_score_<type>_id_<XX>.csv (DCASE 2020)")


class SubmissionError(ValueError):
    """A submission folder, submission file or ground truth that cannot be evaluated."""


# --------------------------------------------------------------------------- names
def _layout_of_unit(unit: str) -> str:
    if re.fullmatch(r"section_\d{2}", unit):
        return "dcase2022"
    if re.fullmatch(r"id_\d{2}", unit):
        return "dcase2020"
    raise SubmissionError(f"unit {unit!r} is neither 'section_XX' (DCASE 2021-2026) nor 'id_XX' (DCASE 2020)")


def submission_file_names(machine_type: str, unit: str) -> tuple[str, str | None]:
    """The submission file names of one machine type and unit.

    Args:
        machine_type: e.g. ``"fan"``.
        unit: ``section_XX`` (DCASE 2021-2026) or ``id_XX`` (DCASE 2020).

    Returns:
        names: ``(anomaly-score file name, decision file name or None)``, e.g.
            ``("anomaly_score_fan_section_00_test.csv", "decision_result_fan_section_00_test.csv")``
            or ``("anomaly_score_fan_id_00.csv", None)``.
    """
    if not machine_type or "/" in machine_type or "\\" in machine_type:
        raise SubmissionError(f"machine type {machine_type!r} cannot be part of a file name")
    if _layout_of_unit(unit) == "dcase2022":
        return f"anomaly_score_{machine_type}_{unit}_test.csv", f"decision_result_{machine_type}_{unit}_test.csv"
    return f"anomaly_score_{machine_type}_{unit}.csv", None


# --------------------------------------------------------------------------- threshold
def fit_decision_threshold(train_scores: Iterable[float], quantile: float = DEFAULT_QUANTILE) -> float:
    """The ``quantile`` point of a gamma distribution fitted to *training* clips' scores.

    As the official DCASE 2021-2023 baselines: ``scipy.stats.gamma.fit`` (shape, location, scale),
    then ``gamma.ppf(quantile)``. Falls back to ``numpy.quantile`` with a warning when the fit fails
    or gives a non-finite threshold. Never pass test clips' scores here.

    Args:
        train_scores: anomaly scores of normal training clips (at least 2, all finite).
        quantile: the quantile in (0, 1).

    Returns:
        threshold: a clip is anomalous when its score is above it.
    """
    from scipy import stats

    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    x = np.asarray(list(train_scores), dtype=np.float64)
    if x.size < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"fit_decision_threshold: need at least 2 finite training scores, got {x.size} "
                         f"({int((~np.isfinite(x)).sum())} non-finite)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            shape, loc, scale = stats.gamma.fit(x)
            thr = float(stats.gamma.ppf(quantile, shape, loc=loc, scale=scale))
        if not math.isfinite(thr):
            raise ValueError("non-finite threshold")
    except Exception as exc:  # noqa: BLE001 - any fit failure falls back to the empirical quantile
        thr = float(np.quantile(x, quantile))
        warnings.warn(f"gamma fit to {x.size} training scores failed ({exc}); using their empirical "
                      f"{quantile:g} quantile {thr:.6g} as the decision threshold", UserWarning, stacklevel=2)
    return thr


def decision_thresholds(train_scores: pd.DataFrame, quantile: float = DEFAULT_QUANTILE) -> dict[str, float]:
    """One decision threshold per machine type (:func:`fit_decision_threshold`).

    Args:
        train_scores: training-clip scores with columns ``machine_type``, ``score``.
        quantile: the quantile in (0, 1).

    Returns:
        thresholds: machine type -> threshold.
    """
    missing = [c for c in ("machine_type", "score") if c not in train_scores.columns]
    if missing:
        raise ValueError(f"train_scores: missing column(s) {missing}")
    return {str(mt): fit_decision_threshold(g["score"], quantile)
            for mt, g in train_scores.groupby("machine_type", sort=True)}


# --------------------------------------------------------------------------- writing
def _clip_names(df: pd.DataFrame) -> pd.Series:
    col = "file" if "file" in df.columns else "path"
    return df[col].astype(str).map(lambda p: Path(p.replace("\\", "/")).name)


def _fmt(x: float) -> str:
    return repr(float(x))


def _write_rows_atomic(path: Path, rows: list[tuple[str, str]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def write_submission(scores: pd.DataFrame, out_dir: str | os.PathLike[str],
                     decision_threshold: float | Mapping[str, float] | None = None,
                     overwrite: bool = False) -> list[Path]:
    """Write the DCASE submission files of a test-clip scores table into ``out_dir``.

    One file per (machine type, unit), rows sorted by file name; decision = 1 where
    ``score > threshold``. Other files in ``out_dir`` (e.g. of other machine types) stay.

    Args:
        scores: columns ``path`` (or ``file``), ``machine_type``, ``unit``, ``score`` (the table of
            ``asd score`` / :func:`asdlib.pipeline.score`).
        out_dir: the submission folder (created if missing).
        decision_threshold: one float, or machine type -> float; required for DCASE 2021-2026
            (``section_XX``) units, refused for DCASE 2020 (``id_XX``), which has no decision files.
        overwrite: replace existing files (else they are refused).

    Returns:
        paths: the written files.
    """
    missing = [c for c in ("machine_type", "unit", "score") if c not in scores.columns]
    if "path" not in scores.columns and "file" not in scores.columns:
        missing.insert(0, "path")
    if missing:
        raise ValueError(f"scores: missing column(s) {missing}; expected path (or file), machine_type, unit, score")
    if scores.empty:
        raise ValueError("scores: no rows, nothing to write")
    df = scores.assign(file=_clip_names(scores), machine_type=scores["machine_type"].astype(str),
                       unit=scores["unit"].astype(str))
    s = pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(s)):
        bad = df.loc[~np.isfinite(s), "file"].head(5).tolist()
        raise ValueError(f"scores: non-finite or non-numeric score(s) for {bad}")
    df = df.assign(score=s)
    layouts = {_layout_of_unit(u) for u in df["unit"].unique()}
    if len(layouts) != 1:
        raise ValueError("scores: units mix 'id_XX' (2020) and 'section_XX' (2021-2026); write each layout separately")
    layout = layouts.pop()
    dup = df[df.duplicated(["machine_type", "file"], keep=False)]
    if len(dup):
        raise ValueError(f"scores: duplicate clip name(s) within a machine type: {sorted(set(dup['file']))[:5]}")
    if layout == "dcase2020" and decision_threshold is not None:
        raise ValueError("the DCASE 2020 submission format has no decision files; pass decision_threshold=None")
    if layout == "dcase2022" and decision_threshold is None:
        raise ValueError("the DCASE 2021-2026 format needs decision_result files: pass decision_threshold "
                         "(fit it on the training clips' scores with fit_decision_threshold)")

    def threshold_of(mt: str) -> float:
        if isinstance(decision_threshold, Mapping):
            if mt not in decision_threshold:
                raise ValueError(f"decision_threshold has no entry for machine type {mt!r} "
                                 f"(has {sorted(decision_threshold)})")
            value = decision_threshold[mt]
        else:
            value = decision_threshold
        if value is None or not math.isfinite(float(value)):
            raise ValueError(f"decision threshold of {mt!r} must be a finite number, got {value!r}")
        return float(value)

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    plan: list[tuple[Path, list[tuple[str, str]]]] = []
    for (mt, unit), g in df.groupby(["machine_type", "unit"], sort=True):
        g = g.sort_values("file", kind="stable")
        score_name, decision_name = submission_file_names(mt, unit)
        plan.append((out / score_name, list(zip(g["file"], map(_fmt, g["score"])))))
        if decision_name is not None:
            thr = threshold_of(mt)
            plan.append((out / decision_name, [(f, "1" if v > thr else "0") for f, v in zip(g["file"], g["score"])]))
    existing = [str(p) for p, _ in plan if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} submission file(s) exist, e.g. {existing[0]}; "
                              "use --force (overwrite=True) to replace them")
    out.mkdir(parents=True, exist_ok=True)
    for path, rows in plan:
        _write_rows_atomic(path, rows)
    return [p for p, _ in plan]


# --------------------------------------------------------------------------- reading
_BINARY_KINDS = {"decision": "decisions must be 0 or 1", "label": "labels must be 0 (normal) or 1 (anomaly)",
                 "domain": "domains must be 0 (source) or 1 (target)"}


def _read_rows(path: Path, kind: str) -> list[tuple[str, float]]:
    """Parse one submission file: ``(file name, value)`` rows, checked."""
    try:
        with open(path, newline="") as fh:
            raw = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SubmissionError(f"{path}: cannot be read as CSV ({exc})") from None
    rows: list[tuple[str, float]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(raw, start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise SubmissionError(f"{path}, line {line}: expected 2 columns (file name, {kind}), got {len(row)}: {row!r}")
        name, text = row[0].strip(), row[1].strip()
        if not name or "/" in name or "\\" in name:
            raise SubmissionError(f"{path}, line {line}: column 1 must be the clip's file base name, got {name!r}")
        try:
            value = float(text)
        except ValueError:
            hint = " (the format has no header row)" if line == 1 else ""
            raise SubmissionError(f"{path}, line {line}: {kind} {text!r} of {name} is not a number{hint}") from None
        if not math.isfinite(value):
            raise SubmissionError(f"{path}, line {line}: {kind} of {name} is {text!r}, not a finite number")
        if kind in _BINARY_KINDS and value not in (0.0, 1.0):
            raise SubmissionError(f"{path}, line {line}: {kind} of {name} is {text!r}; {_BINARY_KINDS[kind]}")
        if name in seen:
            raise SubmissionError(f"{path}: duplicate file name {name} on lines {seen[name]} and {line}")
        seen[name] = line
        rows.append((name, value))
    if not rows:
        raise SubmissionError(f"{path}: no rows (expected one '<file name>,<{kind}>' row per test clip)")
    return rows


def read_submission(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check a submission folder; files that do not end in ``.csv`` are ignored.

    Args:
        folder: the submission folder.

    Returns:
        rows: one per clip: ``layout, machine_type, unit, file, score, decision`` (decision NaN for
            2020) and ``score_file`` (the file it came from).

    Raises:
        SubmissionError: naming the file, for an unexpected ``.csv`` name, mixed 2020 / 2022 names,
            a score file without its decision file (or the reverse), rows that are not
            ``name,value``, non-numeric scores, decisions other than 0/1, a file name twice (in one
            file or in two), and decision files that list other clips than their score files.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SubmissionError(f"submission folder {root} does not exist or is not a folder")
    scores: dict[tuple[str, str], Path] = {}
    decisions: dict[tuple[str, str], Path] = {}
    layouts: dict[str, list[str]] = {"dcase2020": [], "dcase2022": []}
    for p in sorted(root.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() != ".csv" or not p.is_file():
            continue
        m = _RE_SCORE_2022.match(p.name)
        if m:
            scores[(m["type"], f"section_{m['num']}")] = p
            layouts["dcase2022"].append(p.name)
            continue
        m = _RE_DECISION_2022.match(p.name)
        if m:
            decisions[(m["type"], f"section_{m['num']}")] = p
            layouts["dcase2022"].append(p.name)
            continue
        m = _RE_SCORE_2020.match(p.name)
        if m:
            scores[(m["type"], f"id_{m['num']}")] = p
            layouts["dcase2020"].append(p.name)
            continue
        extra = " (the DCASE 2020 format has no decision files)" if p.name.startswith("decision_result_") else ""
        raise SubmissionError(f"{p}: unexpected file in the submission folder{extra}; expected {_EXPECTED_NAMES}")
    if layouts["dcase2020"] and layouts["dcase2022"]:
        raise SubmissionError(f"submission folder {root} mixes DCASE 2020 names ({layouts['dcase2020'][0]}) and "
                              f"DCASE 2021-2026 names ({layouts['dcase2022'][0]}); keep one layout per folder")
    if not scores and not decisions:
        raise SubmissionError(f"submission folder {root} holds no submission files; expected {_EXPECTED_NAMES}")
    layout = "dcase2022" if layouts["dcase2022"] else "dcase2020"
    for key, p in sorted(decisions.items()):
        if key not in scores:
            raise SubmissionError(f"{p} has no anomaly score file: {root / submission_file_names(*key)[0]} is missing")
    frames = []
    where: dict[tuple[str, str], str] = {}
    for (mt, unit), p in sorted(scores.items()):
        rows = _read_rows(p, "score")
        df = pd.DataFrame(rows, columns=["file", "score"])
        if layout == "dcase2022":
            if (mt, unit) not in decisions:
                raise SubmissionError(f"{p} has no decision file: {root / submission_file_names(mt, unit)[1]} is missing")
            dp = decisions[(mt, unit)]
            dec = dict(_read_rows(dp, "decision"))
            only_s = sorted(set(df["file"]) - set(dec))
            only_d = sorted(set(dec) - set(df["file"]))
            if only_s or only_d:
                raise SubmissionError(f"{dp} and {p.name} list different clips: only in the scores "
                                      f"{only_s[:5]}, only in the decisions {only_d[:5]}")
            df["decision"] = df["file"].map(dec).astype(int)
        else:
            df["decision"] = np.nan
        for name in df["file"]:
            if (mt, name) in where:
                raise SubmissionError(f"{p}: file name {name} is also in {where[(mt, name)]}")
            where[(mt, name)] = p.name
        frames.append(df.assign(layout=layout, machine_type=mt, unit=unit, score_file=p.name))
    out = pd.concat(frames, ignore_index=True)
    return out[["layout", "machine_type", "unit", "file", "score", "decision", "score_file"]]


def read_ground_truth(src: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Read a ground-truth table into the columns ``machine_type, file, unit, domain, label``.

    A folder is read as the official DCASE 2021-2025 evaluators lay out their ground truth
    (:func:`read_evaluator_ground_truth`). A table has these columns, one row per test clip: ``machine_type``; ``file`` (the clip's base name as in
    the submission; a ``path`` column may replace it, its base name is used); ``unit`` (``id_XX`` or
    ``section_XX``; ``section`` / ``machine_id`` columns are accepted instead); ``domain``
    (``source`` / ``target``; may be omitted for 2020); ``label`` (``normal`` / ``anomaly`` or 0/1).
    With a ``split`` column only ``test`` rows are used, so the CSV of ``asd index`` on a
    development set is a ground truth as it is. :func:`hide_labels` writes one for a synthetic set.
    A ``layout`` column holding one year is kept as ``truth.attrs["layout"]``.

    Args:
        src: a CSV path (with a header row), a DataFrame or an evaluator's ground-truth folder.

    Returns:
        truth: one row per test clip, columns :data:`GROUND_TRUTH_COLUMNS`.

    Raises:
        SubmissionError: naming the table, for missing columns, missing / unknown labels or domains
            and duplicate clips.
    """
    if not isinstance(src, pd.DataFrame) and Path(src).is_dir():
        return read_evaluator_ground_truth(src)
    name = "ground truth" if isinstance(src, pd.DataFrame) else f"ground truth {src}"
    raw = _read_table(src, name)
    years = [y for y in raw["layout"].astype(str).str.strip().unique() if y and y.lower() != "nan"] \
        if "layout" in raw.columns else []
    gt = _ground_truth_columns(raw, name)
    layout = _one_layout(gt, name)
    out = pd.DataFrame({"machine_type": gt["machine_type"].to_numpy(), "file": gt["file"].to_numpy(),
                        "unit": gt["unit"].to_numpy(), "domain": _domains(gt, layout, name).to_numpy(),
                        "label": np.where(_binary_labels(gt, name) == 1, "anomaly", "normal")})
    dup = out[out.duplicated(["machine_type", "file"], keep=False)]
    if len(dup):
        raise SubmissionError(f"{name}: clip(s) listed twice: {sorted(set(dup['file']))[:5]}")
    out = out.reset_index(drop=True)
    if len(years) == 1:
        out.attrs["layout"] = _checked_year(years[0], layout, name)
    return out


def _checked_year(year: str, names: str, what: str) -> str:
    """``year`` if it is a layout whose unit names are ``names`` (``dcase2020`` / ``dcase2022``)."""
    try:
        check_layout(year)
    except ValueError as exc:
        raise SubmissionError(f"{what}: {exc}") from None
    if (year == "dcase2020") != (names == "dcase2020"):
        raise SubmissionError(f"{what}: layout {year} does not fit its {'id_XX' if names == 'dcase2020' else 'section_XX'} units")
    return year


_RE_EVALUATOR_FILE = re.compile(r"^ground_truth_(?P<type>.+)_(?P<unit>section_\d{2})_test\.csv$")


def read_evaluator_ground_truth(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the ground truth in the layout of the official DCASE 2021-2025 evaluators.

    ``<folder>/ground_truth_data/ground_truth_<type>_section_<XX>_test.csv`` holds
    ``<file name>,<0 normal | 1 anomaly>`` rows (no header) and ``ground_truth_domain/`` the same
    names with ``0`` source / ``1`` target; other folders (``ground_truth_attributes/``) are ignored.

    Args:
        folder: the folder holding ``ground_truth_data/`` and ``ground_truth_domain/``.

    Returns:
        truth: as :func:`read_ground_truth`.
    """
    root = Path(folder)
    data_dir, domain_dir = root / "ground_truth_data", root / "ground_truth_domain"
    for d in (data_dir, domain_dir):
        if not d.is_dir():
            raise SubmissionError(f"ground truth {root}: no {d.name}/ folder (expected ground_truth_data/ and "
                                  "ground_truth_domain/, as the official evaluators ship them)")
    files = sorted(p for p in data_dir.glob("*.csv") if not p.name.startswith("."))
    if not files:
        raise SubmissionError(f"ground truth {data_dir}: no ground_truth_<type>_section_<XX>_test.csv files")
    frames = []
    for p in files:
        m = _RE_EVALUATOR_FILE.match(p.name)
        if not m:
            raise SubmissionError(f"{p}: unexpected name; expected ground_truth_<type>_section_<XX>_test.csv")
        dp = domain_dir / p.name
        if not dp.is_file():
            raise SubmissionError(f"{p} has no domain list: {dp} is missing")
        labels, domains = dict(_read_rows(p, "label")), dict(_read_rows(dp, "domain"))
        if set(labels) != set(domains):
            raise SubmissionError(f"{p} and {dp} list different clips: only in the labels "
                                  f"{sorted(set(labels) - set(domains))[:3]}, only in the domains "
                                  f"{sorted(set(domains) - set(labels))[:3]}")
        frames.append(pd.DataFrame({"machine_type": m["type"], "file": sorted(labels), "unit": m["unit"],
                                    "domain": [("source", "target")[int(domains[f])] for f in sorted(labels)],
                                    "label": [int(labels[f]) for f in sorted(labels)]}))
    return read_ground_truth(pd.concat(frames, ignore_index=True))


def _read_table(src: str | os.PathLike[str] | pd.DataFrame, name: str) -> pd.DataFrame:
    if isinstance(src, pd.DataFrame):
        return src.copy()
    if not Path(src).is_file():
        raise SubmissionError(f"{name}: file not found")
    try:
        return pd.read_csv(src, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001
        raise SubmissionError(f"{name}: cannot be read as CSV ({exc})") from None


def _ground_truth_columns(gt: pd.DataFrame, name: str) -> pd.DataFrame:
    """The test rows with ``machine_type``, ``file`` and ``unit`` filled from the accepted alternatives."""
    gt.columns = [str(c).strip() for c in gt.columns]
    if "split" in gt.columns:
        gt = gt[gt["split"].astype(str).str.strip().str.lower() == "test"]
    if "file" not in gt.columns:
        if "path" not in gt.columns:
            raise SubmissionError(f"{name}: needs a 'file' (clip base name) or 'path' column; has {list(gt.columns)}")
        gt = gt.assign(file=_clip_names(gt))
    if "machine_type" not in gt.columns and "path" in gt.columns:
        gt = gt.assign(machine_type=gt["path"].astype(str).map(lambda p: Path(p.replace("\\", "/")).parent.parent.name))
    if "unit" not in gt.columns or (gt["unit"].astype(str).str.strip() == "").all():
        for alt in ("section", "machine_id"):
            if alt in gt.columns and (gt[alt].astype(str).str.strip() != "").any():
                gt = gt.assign(unit=gt[alt])
                break
    missing = [c for c in ("machine_type", "unit", "label") if c not in gt.columns]
    if missing:
        raise SubmissionError(f"{name}: missing column(s) {missing}; expected {GROUND_TRUTH_COLUMNS}")
    if gt.empty:
        raise SubmissionError(f"{name}: no test clips")
    return gt.assign(machine_type=gt["machine_type"].astype(str).str.strip(), file=gt["file"].astype(str).str.strip(),
                     unit=gt["unit"].astype(str).str.strip())


def _one_layout(gt: pd.DataFrame, name: str) -> str:
    for unit in gt["unit"].unique():
        try:
            _layout_of_unit(unit)
        except SubmissionError as exc:
            raise SubmissionError(f"{name}: {exc}") from None
    layouts = {_layout_of_unit(u) for u in gt["unit"].unique()}
    if len(layouts) != 1:
        raise SubmissionError(f"{name}: units mix 'id_XX' and 'section_XX'; one layout per ground truth")
    return layouts.pop()


def _binary_labels(gt: pd.DataFrame, name: str) -> np.ndarray:
    from .metrics import labels_to_binary

    labels = gt["label"].map(lambda v: v.strip() if isinstance(v, str) else v)
    empty = labels.isna() | (labels.astype(str) == "")
    if empty.any():
        raise SubmissionError(f"{name}: clip(s) without a label: {gt.loc[empty, 'file'].head(5).tolist()}")
    try:
        return labels_to_binary(labels.map(lambda v: int(v) if isinstance(v, str) and v in ("0", "1") else v))
    except ValueError as exc:
        raise SubmissionError(f"{name}: column 'label': {exc}") from None


def _domains(gt: pd.DataFrame, layout: str, name: str) -> pd.Series:
    if "domain" in gt.columns:
        dom = gt["domain"].astype(str).str.strip().str.lower()
    elif layout == "dcase2020":
        dom = pd.Series("source", index=gt.index)
    else:
        raise SubmissionError(f"{name}: DCASE 2021-2026 ground truth needs a 'domain' column (source / target)")
    if layout == "dcase2020":
        dom = dom.where(dom.isin(["source", "target"]), "source")
    bad = ~dom.isin(["source", "target"])
    if bad.any():
        raise SubmissionError(f"{name}: domain must be 'source' or 'target', got "
                              f"{sorted(set(dom[bad]))[:5]} for {gt.loc[bad, 'file'].head(3).tolist()}")
    return dom


# --------------------------------------------------------------------------- evaluation
def decision_metrics(y_true: Iterable[object], decision: Iterable[float]) -> tuple[float, float, float]:
    """Precision, recall and F1 of 0/1 decisions, anomaly = positive, as the official evaluator.

    ``precision = tp / max(tp + fp, eps)``, ``recall = tp / max(tp + fn, eps)``,
    ``F1 = 2 P R / max(P + R, eps)`` (0 instead of a division by zero), which equals
    ``sklearn.metrics.precision_recall_fscore_support(..., average="binary", zero_division=0)``.

    Args:
        y_true: labels (``normal`` / ``anomaly`` or 0/1).
        decision: 0/1 decisions, one per label.

    Returns:
        prf: ``(precision, recall, F1)``.
    """
    from sklearn.metrics import precision_recall_fscore_support

    from .metrics import labels_to_binary

    y = labels_to_binary(y_true)
    d = np.asarray(list(decision), dtype=np.float64)
    if d.shape != y.shape or not np.all(np.isin(d, (0.0, 1.0))):
        raise ValueError("decision_metrics: decisions must be 0/1, one per label")
    p, r, f, _ = precision_recall_fscore_support(y, d.astype(int), average="binary", pos_label=1,
                                                 zero_division=0)
    return float(p), float(r), float(f)


def _hmean(values: list[float]) -> float:
    from .metrics import harmonic_mean

    return harmonic_mean(values) if values else np.nan


def _add_decision_metrics(res: pd.DataFrame, merged: pd.DataFrame) -> pd.DataFrame:
    """precision / recall / f1 columns on the 2022 section rows and their harmonic-mean rows."""
    res = res.assign(precision=np.nan, recall=np.nan, f1=np.nan)
    per: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for (mt, unit), g in merged.groupby(["machine_type", "unit"], sort=True):
        for domain in ("source", "target", "all"):
            part = g if domain == "all" else g[g["domain"] == domain]
            if part.empty:
                continue
            prf = decision_metrics(part["label"], part["decision"])
            sel = (res["machine_type"] == mt) & (res["unit"] == unit) & (res["domain"] == domain)
            res.loc[sel, ["precision", "recall", "f1"]] = prf
            if domain != "all":
                per.setdefault((mt, domain), []).append(prf)
                per.setdefault(("all", domain), []).append(prf)
    for (mt, domain), values in per.items():
        sel = (res["machine_type"] == mt) & (res["unit"] == "mean") & (res["domain"] == domain)
        res.loc[sel, ["precision", "recall", "f1"]] = [_hmean([v[i] for v in values]) for i in range(3)]
    for mt in {k[0] for k in per}:  # "all" domain: harmonic mean over sections and both domains
        values = per.get((mt, "source"), []) + per.get((mt, "target"), [])
        sel = (res["machine_type"] == mt) & (res["unit"] == "mean") & (res["domain"] == "all")
        res.loc[sel, ["precision", "recall", "f1"]] = [_hmean([v[i] for v in values]) for i in range(3)]
    return res


def evaluate_submission(folder: str | os.PathLike[str], ground_truth: str | os.PathLike[str] | pd.DataFrame,
                        method: str | None = None, layout: str | None = None) -> pd.DataFrame:
    """Official metrics of a submission folder against a ground truth.

    The rows and columns of :func:`asdlib.metrics.evaluate` (AUC per section and domain, pAUC,
    harmonic means, the official score), plus ``precision``, ``recall``, ``f1`` of the
    decisions (2021-2026 only), as the official 2022-2025 evaluators compute them: on each section's
    ``source`` / ``target`` row over that domain's clips, on its ``all`` row over all its clips, and
    on the ``mean`` rows the harmonic means over sections (``all``: over sections and both domains).

    Args:
        folder: the submission folder (:func:`read_submission`).
        ground_truth: CSV path or DataFrame (:func:`read_ground_truth`).
        method: the rows' ``method`` (default: the folder name).
        layout: the year the rows are labelled with (:data:`asdlib.dcase.LAYOUTS`); None: the
            ground truth's ``layout`` column, else ``dcase2020`` / ``dcase2022`` by the unit names.
            In ``dcase2023`` to ``dcase2025`` every unit must be ``section_00``.

    Returns:
        results: the results table.

    Raises:
        SubmissionError: naming the file, for a missing or extra machine type / section, clips not
            in the ground truth, ground-truth clips missing from the submission, a clip filed under
            another section than the ground truth's, and every problem :func:`read_submission` finds.
    """
    from .metrics import evaluate

    root = Path(folder)
    sub = read_submission(root)
    gt = read_ground_truth(ground_truth)
    names = sub["layout"].iloc[0]
    gt_names = _layout_of_unit(gt["unit"].iloc[0])
    if gt_names != names:
        raise SubmissionError(f"submission {root} uses {names} names but the ground truth has "
                              f"{gt_names} units ({gt['unit'].iloc[0]})")
    year = _checked_year(layout, names, "evaluate_submission") if layout is not None \
        else gt.attrs.get("layout", names)
    if year in FIRST_SHOT_LAYOUTS and set(gt["unit"]) != {"section_00"}:
        raise SubmissionError(f"{year} has one section, section_00, per machine type; the ground truth has "
                              f"{sorted(set(gt['unit']))}")

    sub_keys = set(zip(sub["machine_type"], sub["unit"]))
    gt_keys = set(zip(gt["machine_type"], gt["unit"]))
    for mt, unit in sorted(gt_keys - sub_keys):
        raise SubmissionError(f"submission {root} has no file for {mt} {unit}: "
                              f"{submission_file_names(mt, unit)[0]} is missing")
    for mt, unit in sorted(sub_keys - gt_keys):
        raise SubmissionError(f"{root / submission_file_names(mt, unit)[0]}: {mt} {unit} is not in the ground truth "
                              f"(which has {', '.join(f'{a} {b}' for a, b in sorted(gt_keys))})")
    merged = sub.merge(gt, on=["machine_type", "file"], how="outer", suffixes=("", "_gt"), indicator=True)
    extra = merged[merged["_merge"] == "left_only"]
    if len(extra):
        f = extra["score_file"].iloc[0]
        raise SubmissionError(f"{root / f}: {len(extra[extra['score_file'] == f])} clip(s) not in the ground truth, "
                              f"e.g. {extra.loc[extra['score_file'] == f, 'file'].head(3).tolist()}")
    absent = merged[merged["_merge"] == "right_only"]
    if len(absent):
        mt, unit = absent["machine_type"].iloc[0], absent["unit_gt"].iloc[0]
        names = absent.loc[(absent["machine_type"] == mt) & (absent["unit_gt"] == unit), "file"]
        raise SubmissionError(f"{root / submission_file_names(mt, unit)[0]}: {len(names)} ground-truth clip(s) "
                              f"missing, e.g. {names.head(3).tolist()}")
    moved = merged[merged["unit"] != merged["unit_gt"]]
    if len(moved):
        r = moved.iloc[0]
        raise SubmissionError(f"{root / r['score_file']}: clip {r['file']} belongs to {r['unit_gt']} in the ground "
                              f"truth, not {r['unit']}")
    merged = merged.drop(columns=["unit_gt", "_merge"])
    scores = pd.DataFrame({"path": merged["file"], "layout": year, "machine_type": merged["machine_type"],
                           "unit": merged["unit"], "domain": merged["domain"], "label": merged["label"],
                           "score": merged["score"]})
    res = evaluate(scores, method=method if method is not None else root.name)
    if year in SECTION_LAYOUTS:
        res = _add_decision_metrics(res, merged)
    else:
        res = res.assign(precision=np.nan, recall=np.nan, f1=np.nan)
    return res


# --------------------------------------------------------------------------- a hidden-label test set
def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _evaluation_name(layout: str, unit: str, n: int) -> str:
    """The evaluation-set name of the ``n``-th hidden test clip of ``unit``."""
    if layout == "dcase2020":
        return f"{unit}_{n:08d}.wav"
    return f"{unit}_test_{n:04d}.wav" if layout == "dcase2022" else f"{unit}_{n:04d}.wav"


def _hide_type(mt: str, g: pd.DataFrame, src: Path, dst: Path, rng: np.random.Generator) -> list[dict]:
    """Copy one machine type for :func:`hide_labels`; its ground-truth rows."""
    (dst / "train").mkdir(parents=True)
    (dst / "test").mkdir(parents=True)
    train = g[g["split"] == "train"]
    for p, extra in zip(train["path"], train["supplemental"]):
        folder = dst / ("supplemental" if extra else "train")
        folder.mkdir(exist_ok=True)
        _link_or_copy(Path(p), folder / Path(p).name)
    train_names = {Path(p).name for p in train["path"]}
    rows = []
    for unit, t in g[g["split"] == "test"].groupby("unit", sort=True):
        t = t.iloc[rng.permutation(len(t))]
        for n, (_, r) in enumerate(t.iterrows()):
            name = _evaluation_name(r["layout"], unit, n)
            shutil.copyfile(r["path"], dst / "test" / name)
            rows.append({"machine_type": mt, "file": name, "unit": unit, "domain": r["domain"], "label": r["label"],
                         "original": f"{mt}/test/{Path(r['path']).name}", "layout": r["layout"]})
    for table in sorted(src.glob("attributes_*.csv")):
        attrs = pd.read_csv(table, dtype=str, keep_default_na=False)
        col = next((c for c in attrs.columns if c.strip().lower() in ("file_name", "filename")), None)
        if col is not None:
            keep = attrs[col].map(lambda s: Path(s.replace("\\", "/")).name in train_names)
            attrs[keep].to_csv(dst / table.name, index=False)
    return rows


def hide_labels(root: str | os.PathLike[str], out_root: str | os.PathLike[str],
                ground_truth: str | os.PathLike[str] | None = None, seed: int = 0,
                overwrite: bool = False, layout: str | None = None) -> Path:
    """Make an evaluation-style copy of a labelled DCASE data set and write its ground truth apart.

    For a small challenge in a course (``book/course/capstone.md``): students get ``out_root``, the
    teacher keeps the ground truth and runs :func:`evaluate_submission`. Training clips keep their
    names (hard-linked where possible, else copied). Test clips are copied under evaluation-set names
    without domain or label (``id_XX_NNNNNNNN.wav``; ``section_XX_test_NNNN.wav`` for 2021 / 2022,
    ``section_XX_NNNN.wav`` for 2023+; ``supplemental/`` clips stay as they are), numbered and
    copied in a seeded random order per machine type and unit. ``attributes_XX.csv`` tables keep
    their training rows only; ``manifest.csv`` and ``SYNTH_INFO.json`` are not copied. The tree is
    built in a temporary sibling folder and renamed into place.

    Args:
        root: a labelled data set (``<root>/<type>/{train,test}``).
        out_root: the copy for the students; refused when non-empty unless ``overwrite``.
        ground_truth: where the ground truth goes (default ``<out_root>_ground_truth.csv``, next to,
            not inside, ``out_root``); columns ``machine_type, file, unit, domain, label, original``
            (``original`` = ``<type>/test/<original name>``) and ``layout``.
        seed: seed of the test clips' order.
        overwrite: replace a non-empty ``out_root`` and an existing ground-truth file.
        layout: the year, passed to :func:`asdlib.data.index` (None: told from the data).

    Returns:
        path: the ground-truth file.
    """
    from .data import index

    src_root = Path(root)
    out = Path(out_root)
    gt_path = Path(ground_truth) if ground_truth is not None else out.parent / f"{out.name}_ground_truth.csv"
    if gt_path.resolve().is_relative_to(out.resolve()):
        raise ValueError(f"ground truth {gt_path} would lie inside the student folder {out}; put it elsewhere")
    if src_root.resolve() == out.resolve():
        raise ValueError(f"out_root {out} is the source data set itself")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    if gt_path.exists() and not overwrite:
        raise FileExistsError(f"{gt_path} exists; pass overwrite=True to replace it")
    df = index(src_root, layout=layout)
    unlabelled = df[(df["split"] == "test") & df["label"].isna()]
    if len(unlabelled):
        raise ValueError(f"{src_root} already has test clips without labels (e.g. {unlabelled['path'].iloc[0]}); "
                         "hide_labels needs a labelled (development-style) set")
    rng = np.random.default_rng(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    gt_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    rows = []
    try:
        for mt, g in df.groupby("machine_type", sort=True):
            rows.extend(_hide_type(mt, g, src_root / mt, tmp / mt, rng))
        gt = pd.DataFrame(rows, columns=GROUND_TRUTH_COLUMNS + ["original", "layout"]).sort_values(
            ["machine_type", "unit", "file"], kind="stable")
        with atomic_path(gt_path) as gt_tmp:  # the list replaces the old one only once the folder is in place
            gt.to_csv(gt_tmp, index=False)
            replace_tree(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return gt_path
