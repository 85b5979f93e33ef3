"""AUC, pAUC, per-ID / per-section result tables and the official scores of DCASE 2021-2026.

Explained in chapter 3 (`book/03_features_and_metrics.ipynb`: what AUC and pAUC measure); used
for the results tables of chapters 7 and 8 (`book/07_dcase2020_results.ipynb`,
`book/08_dcase2022_results.ipynb`). The definitions follow the official DCASE code:

* AUC = ``sklearn.metrics.roc_auc_score(y_true, score)``, anomaly = 1 = positive class, higher
  score = more anomalous; pAUC = ``roc_auc_score(y_true, score, max_fpr=0.1)`` (McClish-standardised).
* DCASE 2020: AUC and pAUC per machine ID, arithmetic mean per machine type.
* DCASE 2022 (``dcase2022_task2_evaluator.py``), per (type, section): AUC_source = source normals +
  *all* anomalies, AUC_target = target normals + all anomalies, pAUC over all clips. Harmonic
  means: ``scipy.stats.hmean`` after clipping at ``sys.float_info.epsilon``. The official score
  is the harmonic mean of all AUC_source, AUC_target and pAUC values (each pAUC once).
* DCASE 2023-2025 (first shot, one ``section_00`` per type): the same rule (their evaluators define
  it so); DCASE 2026 is scored by it too, an assumption its evaluator could not confirm here.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from scipy.stats import hmean
from sklearn.metrics import auc as _trapezoid_area
from sklearn.metrics import roc_auc_score, roc_curve

from .dcase import EPS, LAYOUTS, MACHINE_TYPES, SECTION_LAYOUTS, UNIT_PREFIX

__all__ = [
    "RESULT_COLUMNS",
    "SCORE_COLUMNS",
    "PUBLISHED",
    "auc",
    "pauc",
    "pauc_raw",
    "labels_to_binary",
    "harmonic_mean",
    "unit_average",
    "evaluate",
    "read_scores",
    "summary_table",
    "official_score",
    "official_score_parts",
    "share_of_normals_above",
    "evaluate_bands",
    "results_to_csv",
    "read_results",
    "published_table",
]

MAX_FPR = 0.1

SCORE_COLUMNS = ["path", "layout", "machine_type", "unit", "domain", "label", "score"]
#: the columns :func:`evaluate` cannot do without (``layout`` is inferred, ``domain`` is 2021+ only)
SCORE_REQUIRED = ["path", "machine_type", "unit", "label", "score"]
RESULT_COLUMNS = [
    "method",
    "layout",
    "machine_type",
    "unit",
    "domain",
    "auc",
    "pauc",
    "n_normal",
    "n_anomaly",
    "mauc",
]
_LABEL_STRINGS = {"normal": 0, "anomaly": 1}


# --------------------------------------------------------------------------------------------
# labels and the two basic metrics
# --------------------------------------------------------------------------------------------
def _label_value(value: object) -> int | None:
    """Map one label to 0/1, or None when it is not a recognised label."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, str):
        return _LABEL_STRINGS.get(value.strip().lower())
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return int(value)
    return None


def labels_to_binary(labels: Iterable[object]) -> np.ndarray:
    """Labels as an int array, anomaly = 1.

    Args:
        labels: ``"normal"`` / ``"anomaly"``, 0/1 or booleans.

    Returns:
        y: int array of 0/1.

    Raises:
        ValueError: naming the unrecognised values (``None`` and NaN included).
    """
    values = list(labels.tolist() if isinstance(labels, (np.ndarray, pd.Series)) else labels)
    out = np.empty(len(values), dtype=np.int64)
    bad: list[object] = []
    for i, value in enumerate(values):
        mapped = _label_value(value)
        if mapped is None:
            if len(bad) < 5 and not any(repr(b) == repr(value) for b in bad):
                bad.append(value)
            out[i] = -1
        else:
            out[i] = mapped
    if bad:
        raise ValueError(
            f"labels: unrecognised label value(s) {bad!r}; expected 'normal'/'anomaly', 0/1 or "
            "booleans (anomaly = 1)"
        )
    return out


def _check_inputs(y_true: Iterable[object], score: Iterable[float], group: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse labels and scores and check that both classes are present."""
    y = labels_to_binary(y_true)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"{group}: {y.shape[0]} labels but {s.shape[0]} scores")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{group}: {int((~np.isfinite(s)).sum())} non-finite score(s)")
    n_anomaly = int(y.sum())
    n_normal = int(y.shape[0] - n_anomaly)
    if n_anomaly == 0 or n_normal == 0:
        raise ValueError(
            f"{group}: AUC needs both classes, got {n_normal} normal and {n_anomaly} anomalous clips"
        )
    return y, s


def auc(y_true: Iterable[object], score: Iterable[float], group: str = "auc") -> float:
    """Area under the ROC curve, ``sklearn.metrics.roc_auc_score``; anomaly = positive class.

    Args:
        y_true: labels (:func:`labels_to_binary`); both classes must be present.
        score: anomaly scores, higher = more anomalous.
        group: names the data in error messages (e.g. ``"fan id_00"``).

    Returns:
        auc: a fraction in [0, 1].
    """
    y, s = _check_inputs(y_true, score, group)
    return float(roc_auc_score(y, s))


def pauc(y_true: Iterable[object], score: Iterable[float], max_fpr: float = MAX_FPR, group: str = "pauc") -> float:
    """Partial AUC over FPR in [0, max_fpr], McClish-standardised (as DCASE publishes it).

    This is ``roc_auc_score(y_true, score, max_fpr=max_fpr)``. With ``A`` the raw area under the ROC
    curve up to ``max_fpr``, it is ``0.5 * (1 + (A - min_area) / (max_area - min_area))`` with
    ``min_area = max_fpr**2 / 2`` (chance) and ``max_area = max_fpr`` (a perfect detector): chance
    gives 0.5 and a perfect detector 1, like the full AUC. Compare :func:`pauc_raw`.

    Args:
        y_true: labels; both classes must be present.
        score: anomaly scores, higher = more anomalous.
        max_fpr: upper end of the FPR range, in (0, 1].
        group: names the data in error messages.

    Returns:
        pauc: a fraction in [0, 1].
    """
    _check_max_fpr(max_fpr)
    y, s = _check_inputs(y_true, score, group)
    return float(roc_auc_score(y, s, max_fpr=max_fpr))


def pauc_raw(y_true: Iterable[object], score: Iterable[float], max_fpr: float = MAX_FPR, group: str = "pauc_raw") -> float:
    """Unstandardised partial AUC: the area under the ROC curve up to ``max_fpr``, divided by ``max_fpr``.

    The plain reading of the DCASE definition (mean TPR over FPR in [0, max_fpr]): a perfect detector
    gets 1, a chance detector ``max_fpr / 2`` (0.05 for ``max_fpr = 0.1``), not 0.5. The two are
    related by ``pauc = 0.5 * (1 + (pauc_raw - max_fpr / 2) / (1 - max_fpr / 2))``.

    Args:
        y_true, score, max_fpr, group: as :func:`pauc`.

    Returns:
        pauc_raw: a fraction in [0, 1].
    """
    _check_max_fpr(max_fpr)
    y, s = _check_inputs(y_true, score, group)
    fpr, tpr, _ = roc_curve(y, s)
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))  # fpr[stop - 1] <= max_fpr < fpr[stop]
    if stop < len(fpr):  # TPR at max_fpr, linear between the two ROC points around it
        w = (max_fpr - fpr[stop - 1]) / (fpr[stop] - fpr[stop - 1])
        y_end = tpr[stop - 1] + w * (tpr[stop] - tpr[stop - 1])
    else:
        y_end = tpr[-1]
    x = np.concatenate([fpr[:stop], [max_fpr]])
    yy = np.concatenate([tpr[:stop], [y_end]])
    return float(_trapezoid_area(x, yy) / max_fpr)


def _check_max_fpr(max_fpr: float) -> None:
    """Reject a max_fpr outside (0, 1]."""
    if not 0 < max_fpr <= 1:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr!r}")


def harmonic_mean(values: Iterable[float] | np.ndarray, axis: int | None = None) -> float | np.ndarray:
    """Harmonic mean as the official DCASE code computes it: clip at ``sys.float_info.epsilon``, then ``scipy.stats.hmean``.

    Args:
        values: finite values (``axis=None``), or an array.
        axis: with an array: the means along this axis (e.g. over bootstrap cells; NaN stays NaN).

    Returns:
        the mean (a float), or an array of means.
    """
    if axis is not None:
        return hmean(np.maximum(np.asarray(values, dtype=np.float64), EPS), axis=axis)
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"harmonic_mean: need finite values, got {arr.tolist()!r}")
    return float(hmean(np.maximum(arr, EPS)))


def unit_average(values: Iterable[float] | np.ndarray, layout: str, axis: int = 0) -> np.ndarray:
    """The DCASE average over units or machine types: arithmetic for 2020, harmonic for 2021+.

    Args:
        values: AUCs or pAUCs, the units along ``axis``.
        layout: one of :data:`asdlib.dcase.LAYOUTS`.

    Returns:
        the average along ``axis``.
    """
    arr = np.asarray(values, dtype=np.float64)
    return np.mean(arr, axis=axis) if layout == "dcase2020" else harmonic_mean(arr, axis=axis)


# --------------------------------------------------------------------------------------------
# evaluate: scores table -> results table
# --------------------------------------------------------------------------------------------
def _examples(values: Iterable[object], n: int = 5) -> str:
    """A short, readable list of example values for error messages."""
    uniq = list(dict.fromkeys(values))
    more = f" (+{len(uniq) - n} more)" if len(uniq) > n else ""
    return f"{uniq[:n]!r}{more}"


def _infer_layout(df: pd.DataFrame) -> str:
    """The single layout of a scores table: the ``layout`` column, else the unit prefix."""
    units = df["unit"].astype(str)
    is_id = units.str.startswith("id_")
    is_sec = units.str.startswith("section_")
    if "layout" in df.columns and df["layout"].notna().any():
        layouts = df["layout"].dropna().unique().tolist()
        bad = [v for v in layouts if v not in LAYOUTS]
        if bad or len(layouts) != 1:
            raise ValueError(
                f"scores: column 'layout' must hold exactly one of {list(LAYOUTS)}, got {_examples(layouts)}; "
                "evaluate each layout separately"
            )
        layout = layouts[0]
    else:
        neither = units[~(is_id | is_sec)]
        if len(neither):
            raise ValueError(
                "scores: cannot infer the layout, unit values must start with 'id_' (dcase2020) or "
                f"'section_' (dcase2022 to dcase2026); offending units: {_examples(neither)}"
            )
        if is_id.any() and is_sec.any():
            raise ValueError(
                "scores: mixed layouts, units "
                f"{_examples(units[is_id])} (dcase2020) and {_examples(units[is_sec])} (section names); "
                "evaluate each layout separately"
            )
        layout = "dcase2020" if is_id.all() else "dcase2022"  # 2022-2026 are scored alike
    prefix = UNIT_PREFIX[layout]
    wrong = units[~units.str.startswith(prefix)]
    if len(wrong):
        raise ValueError(f"scores: layout {layout} expects units '{prefix}XX', got {_examples(wrong)}")
    return layout


def _prepare(scores: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Check columns, drop unlabeled rows (with a warning), parse labels and scores."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores: expected a pandas DataFrame, got {type(scores).__name__}")
    required = ["path", "machine_type", "unit", "label", "score"]
    missing = [c for c in required if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {missing}; expected columns {SCORE_COLUMNS}")
    df = scores.copy()
    unlabeled = df["label"].isna()
    if unlabeled.any():
        warnings.warn(
            f"evaluate: dropped {int(unlabeled.sum())} row(s) without a label (evaluation files), "
            f"e.g. {_examples(df.loc[unlabeled, 'path'], 3)}",
            UserWarning,
            stacklevel=3,
        )
        df = df.loc[~unlabeled]
    if df.empty:
        raise ValueError("scores: no labelled rows left to evaluate")
    layout = _infer_layout(df)
    s = pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(s)
    if bad.any():
        raise ValueError(
            f"scores: {int(bad.sum())} non-finite or non-numeric score(s) at path(s) "
            f"{_examples(df.loc[bad, 'path'])}"
        )
    try:
        y = labels_to_binary(df["label"])
    except ValueError as err:
        raise ValueError(f"scores: column 'label': {err}") from None
    df = df.assign(score=s, y=y)
    if layout in SECTION_LAYOUTS:
        if "domain" not in df.columns:
            raise ValueError(f"scores: {layout} needs a 'domain' column (source/target)")
        bad_dom = ~df["domain"].isin(["source", "target"])
        if bad_dom.any():
            raise ValueError(
                f"scores: {layout} domain must be 'source' or 'target', got "
                f"{_examples(df.loc[bad_dom, 'domain'])} at path(s) {_examples(df.loc[bad_dom, 'path'], 3)}"
            )
    return df, layout


def _row(method: str, layout: str, machine_type: str, unit: str, domain: str, auc_v: float,
         pauc_v: float, n_normal: int, n_anomaly: int, mauc: float = np.nan) -> dict:
    """One results row as a dict with the RESULT_COLUMNS keys."""
    return dict(method=method, layout=layout, machine_type=machine_type, unit=unit, domain=domain,
                auc=auc_v, pauc=pauc_v, n_normal=int(n_normal), n_anomaly=int(n_anomaly), mauc=mauc)


def _counts(y: np.ndarray) -> tuple[int, int]:
    """(n_normal, n_anomaly) of a 0/1 label array."""
    return int((y == 0).sum()), int((y == 1).sum())


def _evaluate_2020(df: pd.DataFrame, method: str) -> list[dict]:
    """Per-ID rows, per-type mean rows and the all-types mean row (``mauc`` = min AUC over the row's IDs)."""
    rows: list[dict] = []
    type_means: list[dict] = []
    for mt, g_type in df.groupby("machine_type", sort=True):
        id_rows = []
        for unit, g in g_type.groupby("unit", sort=True):
            name = f"{mt} {unit}"
            y, s = g["y"].to_numpy(), g["score"].to_numpy()
            n_n, n_a = _counts(y)
            id_rows.append(_row(method, "dcase2020", mt, unit, "all", auc(y, s, group=name),
                                pauc(y, s, group=name), n_n, n_a))
        rows.extend(id_rows)
        aucs = [r["auc"] for r in id_rows]
        mean_row = _row(method, "dcase2020", mt, "mean", "all", float(unit_average(aucs, "dcase2020")),
                        float(unit_average([r["pauc"] for r in id_rows], "dcase2020")),
                        sum(r["n_normal"] for r in id_rows), sum(r["n_anomaly"] for r in id_rows),
                        mauc=float(np.min(aucs)))
        rows.append(mean_row)
        type_means.append(mean_row)
    rows.append(_row(method, "dcase2020", "all", "mean", "all",
                     float(unit_average([r["auc"] for r in type_means], "dcase2020")),
                     float(unit_average([r["pauc"] for r in type_means], "dcase2020")),
                     sum(r["n_normal"] for r in type_means), sum(r["n_anomaly"] for r in type_means),
                     mauc=float(np.min([r["mauc"] for r in type_means]))))
    return rows


def _section_rows(g: pd.DataFrame, method: str, layout: str, mt: str, unit: str) -> list[dict]:
    """The source, target and all rows of one (machine type, section)."""
    y, s, dom = g["y"].to_numpy(), g["score"].to_numpy(), g["domain"].to_numpy()
    rows = []
    for domain in ("source", "target"):
        keep = (dom == domain) | (y == 1)  # this domain's normals + ALL anomalies of the section
        n_n, n_a = _counts(y[keep])
        rows.append(_row(method, layout, mt, unit, domain,
                         auc(y[keep], s[keep], group=f"{mt} {unit} {domain}"), np.nan, n_n, n_a))
    n_n, n_a = _counts(y)
    name = f"{mt} {unit} (both domains)"
    rows.append(_row(method, layout, mt, unit, "all", auc(y, s, group=name),
                     pauc(y, s, group=name), n_n, n_a))
    return rows


def _hmean_rows(section_rows: list[dict], method: str, layout: str, mt: str) -> list[dict]:
    """Harmonic-mean rows (one per domain) over a list of section rows."""
    out = []
    for domain in ("source", "target", "all"):
        sel = [r for r in section_rows if r["domain"] == domain]
        p = harmonic_mean([r["pauc"] for r in sel]) if domain == "all" else np.nan
        out.append(_row(method, layout, mt, "mean", domain, harmonic_mean([r["auc"] for r in sel]), p,
                        sum(r["n_normal"] for r in sel), sum(r["n_anomaly"] for r in sel)))
    return out


def _evaluate_sections(df: pd.DataFrame, method: str, layout: str) -> list[dict]:
    """Per-section rows, per-type harmonic means, the all-types harmonic means and the official row."""
    rows: list[dict] = []
    all_sections: list[dict] = []
    for mt, g_type in df.groupby("machine_type", sort=True):
        sec_rows: list[dict] = []
        for unit, g in g_type.groupby("unit", sort=True):
            sec_rows.extend(_section_rows(g, method, layout, mt, unit))
        rows.extend(sec_rows)
        rows.extend(_hmean_rows(sec_rows, method, layout, mt))
        all_sections.extend(sec_rows)
    rows.extend(_hmean_rows(all_sections, method, layout, "all"))
    values = ([r["auc"] for r in all_sections if r["domain"] == "source"]
              + [r["auc"] for r in all_sections if r["domain"] == "target"]
              + [r["pauc"] for r in all_sections if r["domain"] == "all"])
    n_n = sum(r["n_normal"] for r in all_sections if r["domain"] == "all")
    n_a = sum(r["n_anomaly"] for r in all_sections if r["domain"] == "all")
    rows.append(_row(method, layout, "all", "official", "all", harmonic_mean(values), np.nan, n_n, n_a))
    return rows


def evaluate(scores: pd.DataFrame, method: str | None = None) -> pd.DataFrame:
    """Scores table -> results table, as the official DCASE code.

    DCASE 2020 rows: one per (machine type, ID) with domain ``all``; per type a ``unit="mean"`` row
    (arithmetic means); and a ``machine_type="all"``, ``unit="mean"`` row (mean over the types' mean
    rows). ``mauc`` is, in every row, the minimum AUC over the machine IDs the row covers.

    DCASE 2021-2026 rows (``section_XX`` units, scored alike), per (machine type, section): ``source`` (AUC over source normals + all
    anomalies; pauc NaN), ``target`` (likewise), ``all`` (pAUC over all clips; its auc over all
    clips is informative only). Per type, and over all types (``machine_type="all"``), ``unit="mean"``
    rows hold harmonic means over the sections for each domain. The ``unit="official"`` row
    (``machine_type="all"``, ``domain="all"``) holds the official score in its ``auc`` column.

    Args:
        scores: columns ``path, layout, machine_type, unit, domain, label, score``; ``layout`` (one of
            :data:`asdlib.dcase.LAYOUTS`) may be missing: ``id_`` units read as ``dcase2020``,
            ``section_`` units as ``dcase2022``; rows without a label are dropped
            with a warning.
        method: names the rows; None: a ``method`` column of ``scores`` (one block per method),
            else ``"unnamed"``.

    Returns:
        results: columns :data:`RESULT_COLUMNS`; AUC / pAUC as fractions.
    """
    if method is None and "method" in scores.columns and scores["method"].notna().any():
        parts = [evaluate(g.drop(columns="method"), method=str(m))
                 for m, g in scores.groupby("method", sort=False)]
        return pd.concat(parts, ignore_index=True)
    name = "unnamed" if method is None else str(method)
    df, layout = _prepare(scores)
    rows = _evaluate_2020(df, name) if layout == "dcase2020" else _evaluate_sections(df, name, layout)
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return out.astype({"n_normal": "int64", "n_anomaly": "int64"})


def _lines(mask: np.ndarray | pd.Series, df: pd.DataFrame, n: int = 5, paths: bool = True) -> str:
    """CSV line numbers (header = line 1) and paths of the first ``n`` rows where ``mask`` holds."""
    idx = np.flatnonzero(np.asarray(mask))
    shown = ", ".join(f"line {i + 2}" + (f" ({df['path'].iloc[i]!r})" if paths else "") for i in idx[:n])
    return shown + (f" and {len(idx) - n} more" if len(idx) > n else "")


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read a scores CSV (as written by ``asd score``) and check it, naming the file.

    Args:
        path: the CSV; columns at least :data:`SCORE_REQUIRED` (``asd score`` writes
            :data:`SCORE_COLUMNS`).

    Returns:
        scores: the table.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: an empty (0 bytes) or non-CSV file, missing columns, no rows, empty paths,
            non-numeric or non-finite scores, rows or paths that occur twice (per ``method`` when
            there is a ``method`` column); rows are named by CSV line number (header = line 1) and path.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"scores file not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path}: is a folder, not a scores CSV file")
    expected = f"expected a CSV with the columns {SCORE_COLUMNS} as written by `asd score`"
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes); {expected}")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a readable CSV file ({first}); {expected}") from None
    missing = [c for c in SCORE_REQUIRED if c not in df.columns]
    if missing:
        found = [str(c) for c in df.columns][:10]
        raise ValueError(
            f"{path}: missing column(s) {missing} (found {found}); a scores file needs "
            f"{SCORE_REQUIRED}, and `asd score` writes {SCORE_COLUMNS}"
        )
    if df.empty:
        raise ValueError(f"{path}: no rows (only a header); {expected}")
    no_path = df["path"].isna() | (df["path"].astype(str).str.strip() == "")
    if no_path.any():
        raise ValueError(f"{path}: {int(no_path.sum())} row(s) without a path, at {_lines(no_path, df, paths=False)}")
    df["path"] = df["path"].astype(str)
    s = pd.to_numeric(df["score"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(s)
    if bad.any():
        values = _examples("(empty)" if pd.isna(v) else str(v) for v in df.loc[bad, "score"])
        raise ValueError(
            f"{path}: {int(bad.sum())} non-numeric, missing or non-finite score(s) (values {values}), "
            f"at {_lines(bad, df)}; every score must be a finite number"
        )
    key = ["method", "path"] if "method" in df.columns else ["path"]
    same_row = df.duplicated(keep="first")
    if same_row.any():
        raise ValueError(
            f"{path}: {int(same_row.sum())} row(s) repeat an earlier row exactly, at {_lines(same_row, df)}; "
            "each clip must be scored once"
        )
    same_path = df.duplicated(subset=key, keep=False)
    if same_path.any():
        dup = df.loc[same_path].groupby(key, sort=False).groups
        listed = "; ".join(
            f"{k if isinstance(k, str) else k[-1]!r} at lines {', '.join(str(i + 2) for i in rows)}"
            for k, rows in list(dup.items())[:5]
        )
        more = f"; and {len(dup) - 5} more" if len(dup) > 5 else ""
        per = " (per method)" if len(key) == 2 else ""
        raise ValueError(
            f"{path}: {len(dup)} path(s) scored more than once{per} with different values: {listed}{more}; "
            "each clip must be scored once"
        )
    return df


# --------------------------------------------------------------------------------------------
# tables for the book
# --------------------------------------------------------------------------------------------
def _check_results(results: pd.DataFrame) -> str:
    """Check a results table and return its single layout."""
    missing = [c for c in RESULT_COLUMNS if c not in results.columns and c != "mauc"]
    if missing:
        raise ValueError(f"results: missing column(s) {missing}; expected {RESULT_COLUMNS}")
    layouts = results["layout"].dropna().unique().tolist()
    if len(layouts) != 1 or layouts[0] not in LAYOUTS:
        raise ValueError(f"results: expected one layout of {list(LAYOUTS)}, got {layouts!r}; filter first")
    return layouts[0]


def _type_order(layout: str, types: Iterable[str]) -> list[str]:
    """Machine types in the order of the published tables, unknown ones sorted, 'all' last."""
    present = list(dict.fromkeys(types))
    known = [t for t in MACHINE_TYPES[layout] if t in present]
    rest = sorted(t for t in present if t not in known and t != "all")
    return known + rest + (["all"] if "all" in present else [])


def summary_table(results: pd.DataFrame, percent: bool = True, include_mauc: bool = False) -> pd.DataFrame:
    """Wide table for the book: rows machine type (+ ``all``), columns (method, metric).

    Args:
        results: a results table of :func:`evaluate` (one layout).
        percent: values in % (else fractions).
        include_mauc: add ``mAUC`` (DCASE 2020).

    Returns:
        table: DCASE 2020 metrics ``AUC``, ``pAUC`` (and ``mAUC``) from the mean rows; DCASE 2022
            metrics ``AUC (source)``, ``AUC (target)``, ``pAUC``: harmonic means over sections.
    """
    layout = _check_results(results)
    mean = results[results["unit"] == "mean"]
    if mean.empty:
        raise ValueError("results: no unit='mean' rows; pass the output of evaluate()")
    scale = 100.0 if percent else 1.0
    parts = []
    if layout == "dcase2020":
        metrics = {"AUC": "auc", "pAUC": "pauc"} | ({"mAUC": "mauc"} if include_mauc else {})
        for label, col in metrics.items():
            parts.append(mean.assign(metric=label, value=mean[col] * scale))
    else:
        for label, domain, col in (("AUC (source)", "source", "auc"), ("AUC (target)", "target", "auc"),
                                   ("pAUC", "all", "pauc")):
            sel = mean[mean["domain"] == domain]
            parts.append(sel.assign(metric=label, value=sel[col] * scale))
    long = pd.concat(parts, ignore_index=True)
    wide = long.pivot_table(index="machine_type", columns=["method", "metric"], values="value", sort=False)
    methods = list(dict.fromkeys(long["method"]))
    metric_order = list(dict.fromkeys(long["metric"]))
    cols = pd.MultiIndex.from_tuples([(m, k) for m in methods for k in metric_order if (m, k) in wide.columns],
                                     names=["method", "metric"])
    wide = wide.reindex(index=_type_order(layout, wide.index), columns=cols)
    wide.index.name = "machine_type"
    return wide


def official_score(results: pd.DataFrame, method: str | None = None) -> float:
    """The official score (DCASE 2021-2026) from a results table of :func:`evaluate`.

    Args:
        results: a results table of a section layout (``dcase2022`` to ``dcase2026``).
        method: the method whose score is wanted (needed when there are several).

    Returns:
        score: a fraction in [0, 1].
    """
    rows = results[(results["unit"] == "official") & (results["machine_type"] == "all")]
    if method is not None:
        rows = rows[rows["method"] == method]
    if rows.empty:
        raise ValueError(
            "results: no official row (machine_type='all', unit='official'"
            + (f", method={method!r}" if method is not None else "")
            + "); only results of section layouts (dcase2022 to dcase2026) have one"
        )
    if len(rows) > 1:
        raise ValueError(f"results: {len(rows)} official rows (methods {rows['method'].tolist()}); pass method=")
    return float(rows["auc"].iloc[0])


def official_score_parts(results: pd.DataFrame) -> np.ndarray:
    """The values the official score (DCASE 2021-2026) is the harmonic mean of, in the official order.

    Args:
        results: a results table of :func:`evaluate` of a section layout (one method).

    Returns:
        Every section's AUC (source), then every section's AUC (target), then every section's
        pAUC, each in table order.
    """
    s = results[results["unit"].astype(str).str.startswith("section_")]
    if s.empty:
        raise ValueError("results: no section rows; only results of dcase2022 to dcase2026 have sections")
    return np.r_[s[s["domain"] == "source"]["auc"], s[s["domain"] == "target"]["auc"], s[s["domain"] == "all"]["pauc"]]


def share_of_normals_above(scores: pd.DataFrame) -> pd.DataFrame:
    """For each anomalous clip: the share of normal clips of its unit that score higher.

    Args:
        scores: a scores table (:data:`SCORE_COLUMNS`) of one method and seed.

    Returns:
        The anomalous rows (grouped by machine type and unit, in sorted order, their index kept)
        with a column ``share_above``: 0 means no normal clip of the unit scores above it.
    """
    parts = []
    for _, group in scores.groupby(["machine_type", "unit"]):
        normal = group.loc[group["label"] == "normal", "score"].to_numpy()
        anom = group[group["label"] == "anomaly"]
        parts.append(anom.assign(share_above=[(normal > s).mean() for s in anom["score"]]))
    if not parts:
        raise ValueError("scores: empty table")
    return pd.concat(parts)


def evaluate_bands(scores: pd.DataFrame, manifest: pd.DataFrame | str | Path | None = None,
                   column: str = "anomaly_band") -> pd.DataFrame:
    """Per-type mean results of all anomalies and of each band of anomalies, in one table.

    Args:
        scores: a scores table (optionally with ``method``).
        manifest: the synthetic ``manifest.csv`` (or its path); ``None``: band ``"all"`` only.
        column: the manifest column to split by (:func:`evaluate_by`).

    Returns:
        One row per (method, machine type, band) of the ``unit == "mean"`` rows (not the mean over
        types): columns ``method, machine_type, band, auc, pauc, n_normal, n_anomaly``.
    """
    parts = [evaluate(scores).assign(band="all")]
    if manifest is not None:
        parts.append(evaluate_by(attach_manifest(scores, manifest), column).rename(columns={column: "band"}))
    out = pd.concat(parts, ignore_index=True)
    out = out[(out["unit"] == "mean") & (out["machine_type"] != "all")]
    return out[["method", "machine_type", "band", "auc", "pauc", "n_normal", "n_anomaly"]].reset_index(drop=True)


def results_to_csv(results: pd.DataFrame, path: str | Path) -> Path:
    """Write a results table to CSV (columns :data:`RESULT_COLUMNS`), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = results.reindex(columns=RESULT_COLUMNS)
    out.to_csv(path, index=False)
    return path


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results CSV written by :func:`results_to_csv`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    df = pd.read_csv(path)
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    return df


# --------------------------------------------------------------------------------------------
# published numbers (cite as published, never as results of this project)
# --------------------------------------------------------------------------------------------
def _published() -> pd.DataFrame:
    """Published development-set numbers (fractions) from the papers / challenge pages."""
    rows: list[dict] = []
    types = list(MACHINE_TYPES["dcase2020"])
    d2020 = {
        ("official AE baseline", 2020, "DCASE 2020 Task 2 baseline (challenge page)"): [
            (65.16, 52.59), (72.59, 60.00), (84.99, 66.93), (66.46, 50.60), (80.09, 67.22), (72.68, 60.66),
            (73.66, 59.67)],
        ("STgram-MFN", 2022, "Liu et al., ICASSP 2022; 'all' averages over machine IDs"): [
            (94.04, 88.97), (91.94, 81.75), (99.55, 97.61), (99.64, 98.44), (94.44, 87.68), (74.57, 63.60),
            (92.36, 86.34)],
        ("Noisy-ArcMix", 2023, "Choi et al., 2023"): [
            (98.32, 95.34), (95.44, 85.99), (99.53, 97.50), (99.95, 99.74), (96.76, 90.11), (77.90, 67.15),
            (94.65, 89.31)],
    }
    for (system, year, note), values in d2020.items():
        for mt, (a, p) in zip(types + ["all"], values):
            rows.append(dict(dataset="dcase2020", system=system, year=year, machine_type=mt, domain="all",
                             auc=a / 100, pauc=p / 100, official_score=np.nan, note=note))
    for system, year, a, p, note in (
        ("OS-SCL (log-mel)", 2025, 94.64, 88.42, "ICASSP 2025"),
        ("seed paper (spectrum-augmented contrastive)", 2025, 93.83, 87.60,
         "Meng et al., arXiv:2509.15570; the method this book re-implements"),
    ):
        rows.append(dict(dataset="dcase2020", system=system, year=year, machine_type="all", domain="all",
                         auc=a / 100, pauc=p / 100, official_score=np.nan, note=note))
    for system, score, note in (
        ("official AE baseline", 52.61, "DCASE 2022 Task 2 baseline (challenge page)"),
        ("official MobileNetV2 baseline", 56.01, "DCASE 2022 Task 2 baseline (challenge page)"),
        ("an ensemble system", 86.81, "strong 2022 systems report 81-87 %"),
    ):
        rows.append(dict(dataset="dcase2022", system=system, year=2022, machine_type="all", domain="all",
                         auc=np.nan, pauc=np.nan, official_score=score / 100, note=note))
    twfr = "TWFR-GMM (training-free GMM on time-weighted log-mel); averaged over machine types"
    for domain, a, p in (("source", 84.19, np.nan), ("target", 73.15, np.nan), ("all", np.nan, 63.29)):
        rows.append(dict(dataset="dcase2022", system="TWFR-GMM", year=2023, machine_type="all", domain=domain,
                         auc=a / 100, pauc=p / 100, official_score=np.nan, note=twfr))
    return pd.DataFrame(rows)


PUBLISHED: pd.DataFrame = _published()
"""Published development-set numbers (fractions): columns ``dataset, system, year, machine_type,
domain, auc, pauc, official_score, note``. Cite as published; never as this project's results."""


def published_table(dataset: str = "dcase2020", percent: bool = True) -> pd.DataFrame:
    """Published numbers for one dataset (``"dcase2020"`` or ``"dcase2022"``), in % by default."""
    known = list(dict.fromkeys(PUBLISHED["dataset"]))
    if dataset not in known:
        raise ValueError(f"dataset must be one of {known} (the years with published numbers here), got {dataset!r}")
    out = PUBLISHED[PUBLISHED["dataset"] == dataset].reset_index(drop=True).copy()
    if percent:
        for col in ("auc", "pauc", "official_score"):
            out[col] = out[col] * 100
    return out.dropna(axis=1, how="all")


# --------------------------------------------------------------------------- by anomaly kind
def attach_manifest(scores: pd.DataFrame, manifest: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Add the synthetic ground truth (``anomaly_kind``, ``anomaly_band``, ``severity``) to scores.

    Explained in chapters 2 and 9. Rows are matched on ``<type>/<split>/<file name>``.

    Args:
        scores: a scores table (``path``, ``label``, ...).
        manifest: the ``manifest.csv`` of a set made by :mod:`asdlib.synth`, or its path.

    Returns:
        scores: with the three columns added.
    """
    if not isinstance(manifest, pd.DataFrame):
        manifest = pd.read_csv(manifest)
    key = lambda p: "/".join(Path(str(p)).parts[-3:])  # noqa: E731
    man = manifest.assign(_key=manifest["path"].map(key))[["_key", "anomaly_kind", "anomaly_band", "severity"]]
    out = scores.assign(_key=scores["path"].map(key)).merge(man, on="_key", how="left")
    missing = out["anomaly_kind"].isna() & (out["label"] == "anomaly")
    if missing.any():
        raise ValueError(f"{int(missing.sum())} anomalous clips are not in the manifest, e.g. "
                         f"{out.loc[missing, 'path'].iloc[0]}: is this the manifest of the same data set?")
    return out.drop(columns="_key")


def evaluate_by(scores: pd.DataFrame, column: str = "anomaly_band", method: str | None = None) -> pd.DataFrame:
    """AUC / pAUC of each group of anomalies against *all* normal clips of the same unit.

    For every value ``v`` of ``column`` the normal clips are kept and the anomalies restricted to
    ``column == v``, then :func:`evaluate` runs as usual. Chapter 9 splits results by low- and
    high-frequency anomaly kinds this way.

    Args:
        scores: a scores table with ``column`` (see :func:`attach_manifest`).
        column: e.g. ``anomaly_band`` (``low`` / ``high``) or ``anomaly_kind``.
        method: as in :func:`evaluate`.

    Returns:
        results: the ``unit == "mean"`` (and ``official``) rows per value, for 2022 those of
            ``domain == "all"`` (whose pAUC covers the section), with a column named ``column``.
    """
    if column not in scores:
        raise ValueError(f"scores have no column {column!r}; attach the synthetic manifest first (attach_manifest)")
    normals = scores[scores["label"] == "normal"]
    frames = []
    for value in sorted(scores.loc[scores["label"] == "anomaly", column].dropna().unique()):
        anomalies = scores[(scores["label"] == "anomaly") & (scores[column] == value)]
        # a kind may exist for some machine types only: keep the normals of those types
        part = pd.concat([normals[normals["machine_type"].isin(anomalies["machine_type"].unique())], anomalies])
        res = evaluate(part.drop(columns=[c for c in part.columns if c not in SCORE_COLUMNS + ["method"]]),
                       method=method)
        res = res[(res["unit"] == "mean") | (res["unit"] == "official")]
        if res["layout"].isin(SECTION_LAYOUTS).any():
            res = res[res["domain"] == "all"]
        frames.append(res.assign(**{column: value}))
    if not frames:
        raise ValueError("no anomalous clips with a value in column " + repr(column))
    return pd.concat(frames, ignore_index=True)
