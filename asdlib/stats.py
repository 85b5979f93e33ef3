"""How sure are the results? Standard errors, bootstrap intervals, paired differences, verdicts.

Explained in chapter 7 (`book/07_dcase2020_results.ipynb`: intervals, paired differences),
chapter 9 (`book/09_ablations.ipynb`: is an ablation's effect resolved?) and chapter 10
(`book/10_learning_curve.ipynb`: learning curves). The metrics are :mod:`asdlib.metrics`';
this module resamples them: :func:`bootstrap` (test clips within each unit, and seeds) gives a
:class:`Bootstrap` of intervals, cells and paired differences; :func:`verdict` is the one
verdict function ("higher", "lower", "not resolved") and :func:`describe_difference` the
sentence built on it; :func:`interval_grid` / :func:`select` / :func:`cell` read the tables;
:func:`learning_curve` the intervals per training size. How the bootstrap is computed:
``docs/design.md``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from . import metrics

__all__ = [
    "INTERVAL_COLUMNS",
    "auc_standard_error",
    "weighted_auc_pauc",
    "Bootstrap",
    "bootstrap",
    "bootstrap_by",
    "verdict",
    "describe_difference",
    "format_interval",
    "interval_table",
    "interval_grid",
    "select",
    "cell",
    "bootstrap_bands",
    "intervals_by",
    "against_chance",
    "describe_against_chance",
    "CHANCE_WORDS",
    "learning_curve",
    "learning_curve_bootstraps",
    "learning_curve_differences",
    "summarize_seeds",
]

VERDICTS = ("higher", "lower", "not resolved")
INTERVAL_COLUMNS = ["method", "layout", "machine_type", "unit", "domain", "metric", "estimate", "lo", "hi",
                    "n_seeds", "n_boot"]
"""Columns of :meth:`Bootstrap.intervals` (``method`` reads ``"A - B"`` in :meth:`Bootstrap.difference`).
``metric`` is ``auc``, ``pauc`` or ``official``; values are fractions (AUC points / 100)."""


# --------------------------------------------------------------------------------------------
# one AUC
# --------------------------------------------------------------------------------------------
def auc_standard_error(auc: float | np.ndarray, n_normal: int | np.ndarray,
                       n_anomaly: int | np.ndarray) -> float | np.ndarray:
    """Standard error of an AUC from ``n_normal`` normal and ``n_anomaly`` anomalous clips.

    Hanley & McNeil (1982), eq. 2, with ``Q1 = A / (2 - A)`` and ``Q2 = 2 A^2 / (1 + A)``:
    ``SE = sqrt((A (1 - A) + (n_a - 1)(Q1 - A^2) + (n_n - 1)(Q2 - A^2)) / (n_a n_n))``.
    ``auc`` is a fraction; arrays broadcast.
    """
    a = np.asarray(auc, dtype=np.float64)
    n_n = np.asarray(n_normal, dtype=np.float64)
    n_a = np.asarray(n_anomaly, dtype=np.float64)
    if np.any(~np.isfinite(a)) or np.any((a < 0) | (a > 1)):
        raise ValueError(f"auc: expected fraction(s) in [0, 1], got {auc!r}")
    if np.any(n_n < 1) or np.any(n_a < 1):
        raise ValueError(f"n_normal, n_anomaly: need at least 1 clip each, got {n_normal!r}, {n_anomaly!r}")
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_a - 1) * (q1 - a * a) + (n_n - 1) * (q2 - a * a)) / (n_a * n_n)
    se = np.sqrt(np.maximum(var, 0.0))
    return float(se) if se.ndim == 0 else se


# --------------------------------------------------------------------------------------------
# AUC and pAUC of resampled data, vectorised over replicates
# --------------------------------------------------------------------------------------------
def weighted_auc_pauc(y: np.ndarray, score: np.ndarray, weights: np.ndarray,
                      max_fpr: float = metrics.MAX_FPR) -> tuple[np.ndarray, np.ndarray]:
    """AUC and McClish pAUC of clips repeated ``weights[b, i]`` times, for every row ``b``.

    ``y`` (0/1, anomaly = 1) and ``score`` have one value per clip, ``weights`` is ``[B, n]``
    (bootstrap counts). Row ``b`` gives what :func:`asdlib.metrics.auc` and
    :func:`asdlib.metrics.pauc` return on the data with clip ``i`` repeated ``weights[b, i]``
    times: the trapezoid area under the ROC curve (ties = diagonal steps), the pAUC
    interpolated at ``max_fpr`` and standardised as scikit-learn does.
    """
    y = np.asarray(y).reshape(-1)
    s = np.asarray(score, dtype=np.float64).reshape(-1)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if w.shape[1] != s.size or y.size != s.size:
        raise ValueError(f"weights: expected [B, {s.size}] for {s.size} clips, got {w.shape} (labels {y.size})")
    # clips from the highest score down; cumulative normal / anomalous weight at the last clip of
    # every run of equal scores = one ROC point per distinct score (ties = one diagonal step)
    order = np.argsort(-s, kind="stable")
    s_sorted, pos = s[order], (y[order] == 1)
    ws = w[:, order]
    ends = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    cum_a = np.cumsum(np.where(pos, 0.0, ws), axis=1)[:, ends]
    cum_b = np.cumsum(np.where(pos, ws, 0.0), axis=1)[:, ends]
    n0, n1 = cum_a[:, -1:], cum_b[:, -1:]
    if np.any(n0 == 0) or np.any(n1 == 0):
        raise ValueError("weights: every row needs normal and anomalous clips with positive weight")
    zeros = np.zeros((w.shape[0], 1))
    fpr = np.concatenate([zeros, cum_a / n0], axis=1)
    tpr = np.concatenate([zeros, cum_b / n1], axis=1)
    x0, x1, y0, y1 = fpr[:, :-1], fpr[:, 1:], tpr[:, :-1], tpr[:, 1:]
    auc = np.sum((x1 - x0) * (y0 + y1), axis=1) / 2
    xe = np.minimum(x1, max_fpr)
    width = np.maximum(xe - x0, 0.0)
    dx = np.where(x1 > x0, x1 - x0, 1.0)
    ye = y0 + (y1 - y0) * np.where(width > 0, (xe - x0) / dx, 0.0)
    part = np.sum(width * (y0 + ye), axis=1) / 2
    min_area, max_area = 0.5 * max_fpr**2, max_fpr
    pauc = 0.5 * (1 + (part - min_area) / (max_area - min_area))
    return auc, pauc


# --------------------------------------------------------------------------------------------
# the bootstrap
# --------------------------------------------------------------------------------------------
@dataclass
class _Unit:
    """One (machine type, unit): its clips in a fixed order, labels, domains and strata."""

    machine_type: str
    unit: str
    paths: np.ndarray
    y: np.ndarray
    domain: np.ndarray
    strata: list[np.ndarray] = field(default_factory=list)


def _check_scores(scores: pd.DataFrame, name: str) -> pd.DataFrame:
    """Columns present, unlabelled rows dropped, one row per (path, seed)."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores of {name!r}: expected a pandas DataFrame, got {type(scores).__name__}")
    need = ["path", "machine_type", "unit", "label", "score"]
    missing = [c for c in need if c not in scores.columns]
    if missing:
        raise ValueError(f"scores of {name!r}: missing column(s) {missing}; expected {metrics.SCORE_COLUMNS} "
                         "(+ 'seed')")
    df = scores.copy()
    if "seed" not in df.columns:
        df["seed"] = 0
    if df["seed"].isna().any():
        raise ValueError(f"scores of {name!r}: column 'seed' has {int(df['seed'].isna().sum())} empty value(s)")
    unlabeled = df["label"].isna()
    if unlabeled.any():
        warnings.warn(f"bootstrap: {name!r}: dropped {int(unlabeled.sum())} row(s) without a label", UserWarning,
                      stacklevel=3)
        df = df.loc[~unlabeled]
    dup = df.duplicated(["path", "seed"])
    if dup.any():
        raise ValueError(f"scores of {name!r}: {int(dup.sum())} duplicate (path, seed) row(s), e.g. "
                         f"{df.loc[dup, 'path'].iloc[0]!r} (seed {df.loc[dup, 'seed'].iloc[0]})")
    df["y"] = metrics.labels_to_binary(df["label"])
    if "domain" not in df.columns:
        df["domain"] = "source"
    return df


def _units(df: pd.DataFrame, layout: str) -> list[_Unit]:
    """The units of one method's first seed, with strata (label, and domain for 2022)."""
    first = df[df["seed"] == df["seed"].iloc[0]]
    out = []
    for (mt, unit), g in first.groupby(["machine_type", "unit"], sort=True):
        g = g.sort_values("path")
        u = _Unit(str(mt), str(unit), g["path"].to_numpy(object), g["y"].to_numpy(), g["domain"].to_numpy(object))
        keys = (["domain", "y"] if layout == "dcase2022" else ["y"])
        for _, idx in g.reset_index(drop=True).groupby(keys, sort=True).groups.items():
            u.strata.append(np.asarray(idx))
        out.append(u)
    return out


def _score_matrix(df: pd.DataFrame, unit: _Unit, seeds: list, name: str) -> np.ndarray:
    """Scores [n_seeds, n_clips] of one unit in the unit's clip order; checks that every seed scored the same clips."""
    g = df[(df["machine_type"] == unit.machine_type) & (df["unit"] == unit.unit)]
    wide = g.pivot(index="path", columns="seed", values="score")
    missing = [p for p in unit.paths if p not in wide.index]
    extra = [p for p in wide.index if p not in set(unit.paths)]
    if missing or extra:
        raise ValueError(f"scores of {name!r}, {unit.machine_type} {unit.unit}: not the same test clips as the "
                         f"others: missing {missing[:3]!r}, extra {extra[:3]!r} ({len(missing)} / {len(extra)})")
    lab = g.drop_duplicates("path").set_index("path")["y"].reindex(unit.paths).to_numpy()
    if np.any(lab != unit.y):
        bad = unit.paths[lab != unit.y][:3].tolist()
        raise ValueError(f"scores of {name!r}, {unit.machine_type} {unit.unit}: labels differ from the other "
                         f"scores at {bad!r}")
    mat = wide.reindex(index=unit.paths, columns=seeds).to_numpy(dtype=np.float64).T
    if np.isnan(mat).any():
        s_bad = [seeds[i] for i in np.flatnonzero(np.isnan(mat).any(axis=1))]
        raise ValueError(f"scores of {name!r}, {unit.machine_type} {unit.unit}: seed(s) {s_bad!r} miss some clips "
                         "(every seed must score the same test clips) or have non-numeric scores")
    return mat


def _cells(units: list[_Unit], mats: list[np.ndarray], weights: list[np.ndarray], layout: str
           ) -> dict[tuple[str, str, str, str], np.ndarray]:
    """Every metric cell (machine_type, unit, domain, metric) -> array [B, n_seeds] for given clip weights."""
    per_unit: dict[tuple, np.ndarray] = {}
    for u, mat, w in zip(units, mats, weights):
        if layout == "dcase2020":
            res = [weighted_auc_pauc(u.y, mat[s], w) for s in range(mat.shape[0])]
            per_unit[(u.machine_type, u.unit, "all", "auc")] = np.stack([r[0] for r in res], axis=1)
            per_unit[(u.machine_type, u.unit, "all", "pauc")] = np.stack([r[1] for r in res], axis=1)
        else:
            for domain in ("source", "target"):
                keep = (u.domain == domain) | (u.y == 1)
                res = [weighted_auc_pauc(u.y[keep], mat[s, keep], w[:, keep])[0] for s in range(mat.shape[0])]
                per_unit[(u.machine_type, u.unit, domain, "auc")] = np.stack(res, axis=1)
            res = [weighted_auc_pauc(u.y, mat[s], w)[1] for s in range(mat.shape[0])]
            per_unit[(u.machine_type, u.unit, "all", "pauc")] = np.stack(res, axis=1)
    out = dict(per_unit)
    types = list(dict.fromkeys(u.machine_type for u in units))
    keys = [("all", "auc"), ("all", "pauc")] if layout == "dcase2020" else \
        [("source", "auc"), ("target", "auc"), ("all", "pauc")]
    for domain, metric in keys:
        by_type = {}
        for mt in types:
            stack = np.stack([v for (t, _, d, m), v in per_unit.items() if t == mt and d == domain and m == metric])
            by_type[mt] = metrics.unit_average(stack, layout)
            out[(mt, "mean", domain, metric)] = by_type[mt]
        if layout == "dcase2020":  # 2020: the mean of the types' means; 2022: over every section
            out[("all", "mean", domain, metric)] = metrics.unit_average(np.stack(list(by_type.values())), layout)
        else:
            stack = np.stack([v for (_, _, d, m), v in per_unit.items() if d == domain and m == metric])
            out[("all", "mean", domain, metric)] = metrics.unit_average(stack, layout)
    if layout == "dcase2022":
        stack = np.stack([v for (_, _, d, m), v in per_unit.items()
                          if (d, m) in (("source", "auc"), ("target", "auc"), ("all", "pauc"))])
        out[("all", "official", "all", "official")] = metrics.harmonic_mean(stack, axis=0)
    return out


def _points(df: pd.DataFrame, seeds: list, name: str) -> tuple[dict[tuple, float], str]:
    """(cell -> metrics.evaluate value on all clips averaged over seeds, layout)."""
    per_seed = []
    for s in seeds:
        part = df[df["seed"] == s]
        res = metrics.evaluate(part[[c for c in metrics.SCORE_COLUMNS if c in part.columns]], method=name)
        layout = str(res["layout"].iloc[0])
        cells = {}
        for r in res.itertuples(index=False):
            if r.unit == "official":
                cells[("all", "official", "all", "official")] = r.auc
            elif layout == "dcase2020":
                cells[(r.machine_type, r.unit, "all", "auc")] = r.auc
                cells[(r.machine_type, r.unit, "all", "pauc")] = r.pauc
            elif r.domain in ("source", "target"):
                cells[(r.machine_type, r.unit, r.domain, "auc")] = r.auc
            else:
                cells[(r.machine_type, r.unit, "all", "pauc")] = r.pauc
        per_seed.append(cells)
    keys = set(per_seed[0])
    for s, cells in zip(seeds, per_seed):
        if set(cells) != keys:
            raise ValueError(f"scores of {name!r}: seed {s!r} covers other machine types or units than seed "
                             f"{seeds[0]!r}")
    return {k: float(np.mean([c[k] for c in per_seed])) for k in per_seed[0]}, layout


class Bootstrap:
    """Bootstrap replicates of the DCASE metrics of one or more methods on the same test clips.

    Made by :func:`bootstrap`. ``replicates[method][cell]`` is an array ``[n_boot]``;
    ``points[method][cell]`` the point estimate; a cell is ``(machine_type, unit, domain, metric)``.
    """

    def __init__(self, layout: str, points: dict, replicates: dict, n_seeds: dict, n_boot: int, level: float):
        self.layout, self.points, self.replicates = layout, points, replicates
        self.n_seeds, self.n_boot, self.level = n_seeds, n_boot, level

    @property
    def methods(self) -> list[str]:
        """The method names, in input order."""
        return list(self.points)

    def _check_method(self, name: str) -> None:
        if name not in self.points:
            raise ValueError(f"method {name!r} not in this bootstrap; it has {self.methods}")

    def _table(self, method: str, point: dict, reps: dict, n_seeds: int) -> pd.DataFrame:
        rows = []
        for key, est in point.items():
            mt, unit, domain, metric = key
            cell = self._interval(est, reps[key])
            rows.append(dict(method=method, layout=self.layout, machine_type=mt, unit=unit, domain=domain,
                             metric=metric, estimate=est, lo=cell["lo"], hi=cell["hi"], n_seeds=n_seeds,
                             n_boot=self.n_boot))
        return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)

    def intervals(self, method: str | None = None) -> pd.DataFrame:
        """Point estimate and percentile interval of every cell (columns :data:`INTERVAL_COLUMNS`).

        Rows: every unit, every type's ``mean`` (arithmetic for 2020, harmonic for 2022), the
        ``machine_type="all"`` mean and, for 2022, the ``unit="official"`` row (``metric="official"``).
        """
        names = self.methods if method is None else [method]
        for m in names:
            self._check_method(m)
        return pd.concat([self._table(m, self.points[m], self.replicates[m], self.n_seeds[m]) for m in names],
                         ignore_index=True)

    def difference(self, a: str, b: str) -> pd.DataFrame:
        """Paired difference ``a - b`` per cell: point difference and percentile interval of the
        replicate differences (both methods evaluated on the same resampled clips).
        Column ``method`` reads ``"a - b"``; ``n_seeds`` is ``a``'s."""
        self._check_method(a)
        self._check_method(b)
        if a == b:
            raise ValueError(f"difference: a and b are the same method {a!r}")
        point = {k: self.points[a][k] - self.points[b][k] for k in self.points[a]}
        reps = {k: self.replicates[a][k] - self.replicates[b][k] for k in self.points[a]}
        return self._table(f"{a} - {b}", point, reps, self.n_seeds[a])

    def describe(self, a: str, b: str, machine_type: str = "all", metric: str = "auc", domain: str | None = None,
                 unit: str = "mean", scale: float = 100.0, unit_label: str | None = None) -> str:
        """The sentence of :func:`describe_difference` for one cell of :meth:`difference` (default: the
        mean over types; ``metric="official"`` for the 2022 official score). Values times ``scale``."""
        key = self._key(machine_type, metric, domain, unit)
        self._check_method(a)
        if key not in self.points[a]:
            raise ValueError(f"describe: no cell {key}; cells look like {next(iter(self.points[a]))}")
        row = self.difference_cell(a, b, machine_type, metric, domain, unit)
        label = unit_label or {"auc": "AUC points", "pauc": "pAUC points", "official": "points"}.get(metric, "points")
        return describe_difference(a, b, scale * row["estimate"], scale * row["lo"], scale * row["hi"],
                                   unit=label, level=self.level)

    def _key(self, machine_type: str, metric: str, domain: str | None, unit: str) -> tuple:
        if domain is None:
            domain = "source" if (self.layout == "dcase2022" and metric == "auc") else "all"
        if metric == "official":
            machine_type, unit, domain = "all", "official", "all"
        return (machine_type, unit, domain, metric)

    def _interval(self, point: float, reps: np.ndarray) -> pd.Series:
        q = 100 * (1 - self.level) / 2
        lo, hi = np.percentile(reps, [q, 100 - q])
        return pd.Series({"estimate": point, "lo": float(lo), "hi": float(hi)})

    def cell(self, method: str, machine_type: str = "all", metric: str = "auc", domain: str | None = None,
             unit: str = "mean") -> pd.Series:
        """One cell of :meth:`intervals`.

        Args:
            method: a method of this bootstrap.
            machine_type, metric, unit: the cell (default: the mean AUC over types).
            domain: ``None`` is ``"source"`` for a DCASE 2022 AUC, else ``"all"`` (as :meth:`describe`).

        Returns:
            ``estimate``, ``lo``, ``hi`` (fractions).
        """
        self._check_method(method)
        key = self._key(machine_type, metric, domain, unit)
        if key not in self.points[method]:
            raise ValueError(f"cell: no cell {key}; cells look like {next(iter(self.points[method]))}")
        return self._interval(self.points[method][key], self.replicates[method][key])

    def difference_cell(self, a: str, b: str, machine_type: str = "all", metric: str = "auc",
                        domain: str | None = None, unit: str = "mean") -> pd.Series:
        """One cell of :meth:`difference` ``a - b``, with its :func:`verdict`.

        Args:
            a, b: two methods of this bootstrap.
            machine_type, metric, domain, unit: the cell, as in :meth:`cell`.

        Returns:
            ``estimate``, ``lo``, ``hi`` (fractions) and ``verdict``.
        """
        self._check_method(a)
        self._check_method(b)
        if a == b:
            raise ValueError(f"difference_cell: a and b are the same method {a!r}")
        key = self._key(machine_type, metric, domain, unit)
        if key not in self.points[a]:
            raise ValueError(f"difference_cell: no cell {key}; cells look like {next(iter(self.points[a]))}")
        row = self._interval(self.points[a][key] - self.points[b][key],
                             self.replicates[a][key] - self.replicates[b][key])
        row["verdict"] = verdict(row["lo"], row["hi"])
        return row

    def domain_gap(self, method: str | None = None) -> pd.DataFrame:
        """DCASE 2022: AUC (source) minus AUC (target) per section, type and over all types, with
        intervals (both AUCs from the same resampled clips). ``domain`` reads ``"source - target"``."""
        if self.layout != "dcase2022":
            raise ValueError(f"domain_gap: only dcase2022 results have domains, this is {self.layout}")
        names = self.methods if method is None else [method]
        parts = []
        for m in names:
            self._check_method(m)
            point, reps = {}, {}
            for (mt, unit, domain, metric), value in self.points[m].items():
                if domain == "source" and metric == "auc":
                    target = (mt, unit, "target", "auc")
                    key = (mt, unit, "source - target", "auc")
                    point[key] = value - self.points[m][target]
                    reps[key] = self.replicates[m][(mt, unit, domain, metric)] - self.replicates[m][target]
            parts.append(self._table(m, point, reps, self.n_seeds[m]))
        return pd.concat(parts, ignore_index=True)


def bootstrap(scores: pd.DataFrame | Mapping[str, pd.DataFrame], n_boot: int = 1000, level: float = 0.95,
              random_state: int = 0) -> Bootstrap:
    """Resample test clips and training seeds; see :class:`Bootstrap` for what comes back.

    ``scores``: a scores table (columns :data:`asdlib.metrics.SCORE_COLUMNS`, optional ``seed``
    and ``method``) or a dict ``{method: scores table}``. Without ``seed`` a method has one seed;
    without ``method`` the table is one method, ``"unnamed"``. Every seed of every method must
    score the same labelled test clips (matched on ``path``).

    Each replicate draws, within every (machine type, unit) and separately per label (and per
    domain for DCASE 2022), as many clips as there are, with replacement, the same draw for all
    methods and seeds; and draws the seeds of each method with replacement (methods with the
    same seed labels share that draw, so a difference of two methods pairs their seeds). It
    then computes every metric per seed as :func:`asdlib.metrics.evaluate` does and averages
    over the drawn seeds. pAUC uses ``max_fpr = 0.1``, as :func:`asdlib.metrics.evaluate`.
    """
    if not 0 < level < 1:
        raise ValueError(f"level: expected a fraction in (0, 1), got {level!r}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot: expected at least 1, got {n_boot!r}")
    if isinstance(scores, Mapping):
        tables = {str(k): v for k, v in scores.items()}
    elif isinstance(scores, pd.DataFrame) and "method" in scores.columns:
        if scores["method"].isna().any():
            raise ValueError(f"scores: column 'method' has {int(scores['method'].isna().sum())} empty value(s)")
        tables = {str(m): g.drop(columns="method") for m, g in scores.groupby("method", sort=False)}
    else:
        tables = {"unnamed": scores}
    if not tables:
        raise ValueError("scores: no methods given")
    dfs = {m: _check_scores(t, m) for m, t in tables.items()}
    seeds = {m: sorted(d["seed"].unique().tolist()) for m, d in dfs.items()}
    first = next(iter(dfs))
    # layout and point estimates come from metrics.evaluate (which also validates the tables)
    points, layout = {}, None
    for m, d in dfs.items():
        points[m], lay = _points(d, seeds[m], m)
        if layout is not None and lay != layout:
            raise ValueError(f"scores: method {m!r} is {lay} but {first!r} is {layout}; bootstrap one layout at a time")
        layout = lay
    units = _units(dfs[first], layout)
    rng = np.random.default_rng(random_state)
    weights = []
    for u in units:
        w = np.zeros((int(n_boot), u.paths.size))
        for idx in u.strata:
            w[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=int(n_boot))
        weights.append(w)
    seed_draws: dict[tuple, np.ndarray] = {}
    replicates = {}
    for m, d in dfs.items():
        key = tuple(seeds[m])
        if key not in seed_draws:
            seed_draws[key] = rng.integers(0, len(key), size=(int(n_boot), len(key)))
        draw = seed_draws[key]
        mats = [_score_matrix(d, u, seeds[m], m) for u in units]
        n_clips = sum(u.paths.size for u in units)
        if d["path"].nunique() != n_clips:
            extra = sorted(set(d["path"]) - {p for u in units for p in u.paths})[:3]
            raise ValueError(f"scores of {m!r}: clips outside the units of {first!r}, e.g. {extra!r}")
        cells = _cells(units, mats, weights, layout)
        replicates[m] = {k: np.take_along_axis(v, draw, axis=1).mean(axis=1) for k, v in cells.items()}
    return Bootstrap(layout, points, replicates, {m: len(s) for m, s in seeds.items()}, int(n_boot), level)


def bootstrap_by(scores: pd.DataFrame | Mapping[str, pd.DataFrame], column: str = "anomaly_band",
                 **kwargs) -> dict[object, Bootstrap]:
    """One :func:`bootstrap` per value of ``column`` of the anomalies, as :func:`asdlib.metrics.evaluate_by`.

    For each value ``v`` (e.g. ``low`` / ``high`` of ``anomaly_band``, after
    :func:`asdlib.metrics.attach_manifest`) the normal clips of the machine types that have
    anomalies with ``v`` are kept with those anomalies. ``kwargs`` go to :func:`bootstrap`.
    """
    if isinstance(scores, Mapping):
        scores = pd.concat([t.assign(method=str(m)) for m, t in scores.items()], ignore_index=True)
    if column not in scores.columns:
        raise ValueError(f"scores: no column {column!r}; attach the synthetic manifest first "
                         "(metrics.attach_manifest)")
    anomalous = scores["label"].astype(str) == "anomaly"
    values = sorted(scores.loc[anomalous, column].dropna().unique())
    if not values:
        raise ValueError(f"scores: no anomalous clip has a value in column {column!r}")
    out = {}
    for v in values:
        anomalies = scores[anomalous & (scores[column] == v)]
        normals = scores[(scores["label"].astype(str) == "normal")
                         & scores["machine_type"].isin(anomalies["machine_type"].unique())]
        out[v] = bootstrap(pd.concat([normals, anomalies], ignore_index=True), **kwargs)
    return out


def bootstrap_bands(scores: pd.DataFrame, manifest: pd.DataFrame | str | Path | None = None,
                    column: str = "anomaly_band", **kwargs) -> dict[object, Bootstrap]:
    """Bootstraps of all anomalies and of each band of anomalies.

    Args:
        scores: a scores table for :func:`bootstrap` (columns outside
            :data:`asdlib.metrics.SCORE_COLUMNS`, ``method`` and ``seed`` are ignored).
        manifest: the synthetic ``manifest.csv`` (or its path); ``None`` (real data): no bands.
        column: the manifest column to split the anomalies by.
        **kwargs: passed to :func:`bootstrap`.

    Returns:
        ``{"all": Bootstrap of every anomaly, value: Bootstrap of :func:`bootstrap_by`, ...}``.
    """
    keep = metrics.SCORE_COLUMNS + ["method", "seed"]
    boots: dict[object, Bootstrap] = {"all": bootstrap(scores[[c for c in scores if c in keep]], **kwargs)}
    if manifest is not None:
        boots.update(bootstrap_by(metrics.attach_manifest(scores, manifest), column, **kwargs))
    return boots


def intervals_by(boots: Mapping[object, Bootstrap], column: str = "band") -> pd.DataFrame:
    """The :meth:`Bootstrap.intervals` of several bootstraps in one long table.

    Args:
        boots: ``{key: Bootstrap}``, e.g. from :func:`bootstrap_bands`.
        column: name of the column that holds each row's key.

    Returns:
        The rows of every bootstrap, in ``boots`` order, with ``column`` added.
    """
    return pd.concat([b.intervals().assign(**{column: key}) for key, b in boots.items()], ignore_index=True)


# --------------------------------------------------------------------------------------------
# verdicts and sentences
# --------------------------------------------------------------------------------------------
def verdict(lo: float, hi: float) -> str:
    """The verdict on a difference A - B from its interval [lo, hi].

    ``"higher"`` when the whole interval is above zero, ``"lower"`` when it is below zero,
    otherwise (zero inside or on an edge) ``"not resolved"``.
    """
    lo_f, hi_f = float(lo), float(hi)
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        raise ValueError(f"verdict: interval bounds must be finite, got [{lo!r}, {hi!r}]")
    if lo_f > hi_f:
        raise ValueError(f"verdict: lower bound {lo!r} exceeds upper bound {hi!r}")
    if lo_f > 0:
        return "higher"
    if hi_f < 0:
        return "lower"
    return "not resolved"


def describe_difference(name_a: str, name_b: str, estimate: float, lo: float, hi: float,
                        unit: str = "AUC points", level: float = 0.95, digits: int = 1) -> str:
    """One sentence about a difference A - B and its interval; the direction comes from :func:`verdict` only.

    Values are given in ``unit`` already (e.g. AUC points = 100 x the fraction).
    """
    v = verdict(lo, hi)
    pct = f"{100 * level:g} %"
    span = f"{pct} interval {lo:+.{digits}f} to {hi:+.{digits}f} {unit}"
    if v == "not resolved":
        return (f"The data do not resolve a difference between {name_a} and {name_b}: "
                f"{name_a} minus {name_b} is {estimate:+.{digits}f} {unit} ({span}, which includes zero).")
    return f"{name_a} is {v} than {name_b}: {name_a} minus {name_b} is {estimate:+.{digits}f} {unit} ({span})."


def format_interval(estimate: float, lo: float, hi: float, scale: float = 100.0, digits: int = 1) -> str:
    """``"66.8 [62.1, 70.3]"``: estimate and interval, multiplied by ``scale`` (100: fractions -> %)."""
    return f"{estimate * scale:.{digits}f} [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def interval_table(intervals: pd.DataFrame, metric: str = "auc", domain: str = "all",
                   scale: float = 100.0, digits: int = 1, order: list[str] | None = None) -> pd.DataFrame:
    """Wide table of formatted intervals: rows machine type (``all`` last, or ``order``), columns method.

    Takes the per-type ``mean`` rows (and the ``official`` row for ``metric="official"``) of
    :meth:`Bootstrap.intervals`, :meth:`Bootstrap.difference` or :meth:`Bootstrap.domain_gap`.
    """
    sel = intervals[(intervals["metric"] == metric) & (intervals["domain"] == domain)
                    & intervals["unit"].isin(["mean", "official"])]
    if sel.empty:
        raise ValueError(f"intervals: no mean rows with metric={metric!r}, domain={domain!r}; "
                         f"metrics present: {sorted(intervals['metric'].unique())}")
    text = sel.assign(text=[format_interval(e, lo, hi, scale, digits)
                            for e, lo, hi in zip(sel["estimate"], sel["lo"], sel["hi"])])
    wide = text.pivot(index="machine_type", columns="method", values="text")
    if order is None:
        order = [t for t in dict.fromkeys(sel["machine_type"]) if t != "all"] + (["all"] if "all" in wide.index else [])
    return wide.reindex(index=order, columns=list(dict.fromkeys(sel["method"])))


def select(table: pd.DataFrame, **where) -> pd.DataFrame:
    """The rows of a long table whose columns have the given values.

    Args:
        table: e.g. :meth:`Bootstrap.intervals` or :meth:`Bootstrap.difference`.
        **where: ``column=value``; a list, tuple or set as value keeps rows with any of its values.

    Returns:
        The matching rows, in table order.
    """
    missing = [c for c in where if c not in table.columns]
    if missing:
        raise ValueError(f"select: no column(s) {missing}; has {list(table.columns)}")
    keep = np.ones(len(table), dtype=bool)
    for col, value in where.items():
        if isinstance(value, (list, tuple, set)):
            keep &= table[col].isin(list(value)).to_numpy()
        else:
            keep &= (table[col] == value).to_numpy()
    return table[keep]


def cell(table: pd.DataFrame, **where) -> pd.Series:
    """The one row of a long table whose columns have the given values (see :func:`select`).

    Args:
        table: a long table.
        **where: ``column=value``.

    Returns:
        That row; a ValueError when no row or several rows match.
    """
    rows = select(table, **where)
    if len(rows) != 1:
        raise ValueError(f"cell: {len(rows)} rows match {where}; expected exactly one")
    return rows.iloc[0]


def interval_grid(table: pd.DataFrame, index: str, columns: str | list[str], index_order: list | None = None,
                  column_order: list | None = None, scale: float = 100.0, digits: int = 1) -> pd.DataFrame:
    """Wide table of formatted intervals (:func:`format_interval`) with any row and column dimensions.

    Args:
        table: long table with ``estimate``, ``lo``, ``hi`` and one row per (index, columns) value.
        index: the column whose values become the rows.
        columns: the column (or list of columns) whose values become the table's columns.
        index_order: the rows, in order (default: sorted).
        column_order: the columns in order: values, or tuples of values when ``columns`` is a list
            (then the table's columns are an unnamed MultiIndex of these tuples).
        scale, digits: as :func:`format_interval`.

    Returns:
        The wide table of ``"estimate [lo, hi]"`` strings (empty where the long table has no row).
    """
    _check_interval_columns(table)
    text = table.assign(_cell=[format_interval(e, lo, hi, scale, digits)
                               for e, lo, hi in zip(table["estimate"], table["lo"], table["hi"])])
    wide = text.pivot(index=index, columns=columns, values="_cell")
    if index_order is not None:
        wide = wide.reindex(index=list(index_order))
    if column_order is not None:
        order = list(column_order) if isinstance(columns, str) else pd.MultiIndex.from_tuples(list(column_order))
        wide = wide.reindex(columns=order)
    return wide


def _check_interval_columns(table: pd.DataFrame, needed: tuple = ("estimate", "lo", "hi")) -> pd.DataFrame:
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"table: missing column(s) {missing}; has {list(table.columns)}")
    return table


CHANCE_WORDS = {"higher": "above chance", "lower": "below chance", "not resolved": "not resolved against chance"}
"""How :func:`describe_against_chance` words each :func:`verdict` against chance."""


def against_chance(table: pd.DataFrame, chance: float = 0.5) -> pd.Series:
    """The :func:`verdict` of each row's interval against chance (the interval minus ``chance``).

    Args:
        table: rows with ``lo`` and ``hi`` (fractions), e.g. mean AUCs of :meth:`Bootstrap.intervals`.
        chance: the chance level (0.5 for AUC).

    Returns:
        ``"higher"``, ``"lower"`` or ``"not resolved"`` per row, on the table's index.
    """
    _check_interval_columns(table, ("lo", "hi"))
    return pd.Series([verdict(lo - chance, hi - chance) for lo, hi in zip(table["lo"], table["hi"])],
                     index=table.index, dtype=object)


def describe_against_chance(table: pd.DataFrame, name: str = "method", chance: float = 0.5) -> str:
    """``"`a` above chance; `b` not resolved against chance"``: :func:`against_chance` in words.

    Args:
        table: rows with ``name``, ``lo`` and ``hi``, one row per name.
        name: the column naming each row.
        chance: the chance level.

    Returns:
        One phrase per row (:data:`CHANCE_WORDS`), joined by ``"; "``.
    """
    words = against_chance(table, chance)
    return "; ".join(f"`{n}` {CHANCE_WORDS[v]}" for n, v in zip(table[name], words))


# --------------------------------------------------------------------------------------------
# learning curve
# --------------------------------------------------------------------------------------------
def learning_curve_bootstraps(scores: pd.DataFrame, by: str = "n_train", n_boot: int = 1000, level: float = 0.95,
                              random_state: int = 0) -> dict[object, Bootstrap]:
    """One :func:`bootstrap` per value of ``by`` (e.g. normal training clips per ID), in sorted order.

    ``scores`` holds columns ``method``, ``by`` and ``seed`` besides the scores columns; every
    value of ``by`` must score the same test clips with every method (the bootstrap checks it).
    Use the result for :func:`learning_curve` and :func:`learning_curve_differences` without
    resampling twice, or call :meth:`Bootstrap.describe` at one size.
    """
    if by not in scores.columns:
        raise ValueError(f"scores: no column {by!r} (the training-set size of each run)")
    if scores[by].isna().any():
        raise ValueError(f"scores: column {by!r} has {int(scores[by].isna().sum())} empty value(s)")
    return {value: bootstrap(g.drop(columns=by), n_boot=n_boot, level=level, random_state=random_state)
            for value, g in scores.groupby(by, sort=True)}


def learning_curve(scores: pd.DataFrame | Mapping[object, Bootstrap], by: str = "n_train", n_boot: int = 1000,
                   level: float = 0.95, random_state: int = 0) -> pd.DataFrame:
    """Mean over types with its interval at every value of ``by`` (e.g. normal training clips per ID).

    ``scores`` holds columns ``method``, ``by`` and ``seed`` besides the scores columns (or is the
    dict of :func:`learning_curve_bootstraps`). Returns the ``machine_type="all"`` rows of
    :meth:`Bootstrap.intervals` (2020: mean AUC and pAUC; 2022: the harmonic means and the
    official score) with a column ``by``, sorted by method and ``by``.
    """
    boots = scores if isinstance(scores, Mapping) else learning_curve_bootstraps(
        scores, by=by, n_boot=n_boot, level=level, random_state=random_state)
    parts = []
    for value, b in boots.items():
        table = b.intervals()
        parts.append(table[table["machine_type"] == "all"].assign(**{by: value}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["method", by], kind="stable").reset_index(drop=True)


def learning_curve_differences(boots: Mapping[object, Bootstrap], pairs: list[tuple[str, str]],
                               by: str = "n_train", metric: str = "auc") -> pd.DataFrame:
    """Paired differences A - B of the mean over types at every training-set size, with their verdicts.

    ``boots`` is :func:`learning_curve_bootstraps`' dict; ``pairs`` lists ``(A, B)``. One row per
    pair and size: ``a``, ``b``, ``by``, ``estimate``, ``lo``, ``hi`` (fractions) and ``verdict``
    (:func:`verdict` of the interval). ``metric``: ``auc`` or ``pauc`` (2020), ``official`` (2022;
    ``auc`` there means the source-domain harmonic mean, as :meth:`Bootstrap.describe`).
    """
    if not pairs:
        raise ValueError("pairs: give at least one (A, B) pair of methods")
    rows = []
    for value, b in boots.items():
        for a, other in pairs:
            diff = b.difference(a, other)
            if metric == "official":
                sel = diff[diff["unit"] == "official"]
            else:
                domain = "source" if (b.layout == "dcase2022" and metric == "auc") else "all"
                sel = diff[(diff["machine_type"] == "all") & (diff["unit"] == "mean") & (diff["metric"] == metric)
                           & (diff["domain"] == domain)]
            if sel.empty:
                raise ValueError(f"learning_curve_differences: no {metric!r} mean over types at {by}={value!r}")
            r = sel.iloc[0]
            rows.append({"a": a, "b": other, by: value, "estimate": float(r["estimate"]), "lo": float(r["lo"]),
                         "hi": float(r["hi"]), "verdict": verdict(r["lo"], r["hi"])})
    return pd.DataFrame(rows, columns=["a", "b", by, "estimate", "lo", "hi", "verdict"])


def describe_over_sizes(diffs: pd.DataFrame, a: str, b: str, by: str = "n_train", unit: str = "clips per ID") -> str:
    """One paragraph on A - B at every size of :func:`learning_curve_differences`, from the verdicts only.

    Names the sizes where A is resolved above or below B and where the difference is not
    resolved; says A "overtakes" B only when A is resolved ahead at every size from some size
    on and at none below it (likewise for B).
    """
    rows = diffs[(diffs["a"] == a) & (diffs["b"] == b)].sort_values(by)
    if rows.empty:
        raise ValueError(f"describe_over_sizes: no rows of {a} - {b}")
    sizes = list(rows[by])
    v = dict(zip(sizes, rows["verdict"]))
    listed = lambda ns: ", ".join(str(n) for n in ns)  # noqa: E731
    higher, lower = [n for n in sizes if v[n] == "higher"], [n for n in sizes if v[n] == "lower"]
    unresolved = [n for n in sizes if v[n] == "not resolved"]
    parts = ([f"`{a}` is resolved above `{b}` at N = {listed(higher)}"] if higher else []) + \
            ([f"`{a}` is resolved below `{b}` at N = {listed(lower)}"] if lower else []) + \
            ([f"the data do not resolve the difference at N = {listed(unresolved)}"] if unresolved else [])
    text = "; ".join(parts) + "."
    for won, ahead, behind in ((higher, a, b), (lower, b, a)):
        if won and sizes.index(won[0]) > 0 and won == sizes[sizes.index(won[0]):]:
            text += (f" So `{ahead}` overtakes `{behind}` on this data: resolved ahead from N = {won[0]} "
                     f"{unit} on, not at the smaller sizes.")
    if not higher:
        text += f" At none of the measured sizes is `{a}` resolved above `{b}`."
    return text[0].upper() + text[1:]


def summarize_seeds(results: pd.DataFrame, by: list[str], value: str = "auc", level: float = 0.95) -> pd.DataFrame:
    """Mean over training seeds with a Student-t interval, for results without the clip scores.

    ``results`` has one row per seed within each group of ``by`` (e.g. ``["method", "n_train"]``
    on the ``machine_type == "all"`` rows of stored results tables). The interval covers seed
    variation only (``mean +- t * sd / sqrt(n)``, NaN for one seed); prefer :func:`bootstrap`
    on the scores, which also resamples the test clips. Columns: ``by``, ``estimate``, ``lo``,
    ``hi``, ``n_seeds``.
    """
    missing = [c for c in [*by, value] if c not in results.columns]
    if missing:
        raise ValueError(f"results: missing column(s) {missing}; has {list(results.columns)}")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a fraction in (0, 1), got {level!r}")
    g = results.groupby(by, sort=True)[value]
    out = g.agg(estimate="mean", sd="std", n_seeds="count").reset_index()
    half = student_t.ppf(0.5 + level / 2, out["n_seeds"] - 1) * out["sd"] / np.sqrt(out["n_seeds"])
    half = half.where(out["n_seeds"] > 1)
    return out.assign(lo=out["estimate"] - half, hi=out["estimate"] + half)[[*by, "estimate", "lo", "hi", "n_seeds"]]
