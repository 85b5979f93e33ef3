"""Frequency analysis: where in frequency do anomalous clips differ from normal ones?

Explained in chapter 2 (`book/02_where_anomalies_live.ipynb`), which *tests* the method's premise
("anomalous audio has higher frequencies") per machine type instead of assuming it. Inputs are dB
log-mels: a list of ``[M, T]`` arrays or an ``[N, M]`` array of per-clip profiles (the log-mel
averaged over time, :func:`clip_profiles`); frequencies are the front end's mel-band centres.
:func:`mean_logmel_difference` and :func:`band_energy_ratios` compare anomalous with normal clips
within each unit, with bootstrap bands; :func:`evidence_band` / :func:`evidence_per_unit` find the
band where a clip deviates most from its unit's normal training clips; :func:`sample_per_group`
keeps the analysis cheap on full DCASE sets.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .augment import DEFAULT_CUTOFF_HZ
from .features import FrontEndConfig, hz_to_mel_bin, mel_frequencies

__all__ = [
    "clip_profiles",
    "mean_logmel_difference",
    "band_energy_ratios",
    "evidence_band",
    "evidence_per_unit",
    "sample_per_group",
]

Feats = Sequence[np.ndarray] | np.ndarray


def clip_profiles(feats: Feats, n_mels: int | None = None) -> np.ndarray:
    """Per-clip profiles ``[N, M]``: each ``[M, T]`` log-mel averaged over time (dB per band).

    An ``[N, M]`` array is taken as profiles already and returned as float64. ``n_mels``,
    when given, is checked against ``M``.
    """
    if isinstance(feats, np.ndarray) and feats.ndim == 2:
        prof = np.asarray(feats, dtype=np.float64)
    else:
        items = list(feats)
        if not items:
            raise ValueError("clip_profiles: no clips given")
        rows = []
        for i, f in enumerate(items):
            a = np.asarray(f, dtype=np.float64)
            if a.ndim != 2 or min(a.shape) == 0:
                raise ValueError(f"clip_profiles: clip {i} is not a non-empty [M, T] log-mel (shape {a.shape})")
            rows.append(a.mean(axis=1))
        if len({r.size for r in rows}) != 1:
            raise ValueError("clip_profiles: clips have different numbers of mel bands")
        prof = np.stack(rows)
    if prof.shape[0] == 0:
        raise ValueError("clip_profiles: no clips given")
    if not np.all(np.isfinite(prof)):
        raise ValueError("clip_profiles: features contain NaN or inf")
    if n_mels is not None and prof.shape[1] != n_mels:
        raise ValueError(f"clip_profiles: expected {n_mels} mel bands, got {prof.shape[1]}")
    return prof


def _power_profiles(feats: Feats) -> np.ndarray:
    """Per-clip mean mel *power* ``[N, M]`` (linear), from dB log-mels averaged over time in power."""
    if isinstance(feats, np.ndarray) and feats.ndim == 2:
        return 10.0 ** (np.asarray(feats, dtype=np.float64) / 10.0)
    return np.stack([(10.0 ** (np.asarray(f, dtype=np.float64) / 10.0)).mean(axis=1) for f in feats])


def _groups(groups: Sequence | None, n: int, name: str) -> np.ndarray:
    if groups is None:
        return np.zeros(n, dtype=object)
    g = np.asarray(list(groups), dtype=object)
    if g.shape != (n,):
        raise ValueError(f"{name}: expected {n} group labels (one per clip), got {g.shape[0]}")
    return g


def _paired_groups(g_norm: np.ndarray, g_anom: np.ndarray) -> list:
    common = [g for g in pd.unique(g_anom) if g in set(g_norm.tolist())]
    if not common:
        raise ValueError("no group (unit) has both normal and anomalous clips")
    return common


def _bootstrap(stat, norm: np.ndarray, anom: np.ndarray, g_norm: np.ndarray, g_anom: np.ndarray,
               n_boot: int, seed: int, ci: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``stat(norm_rows, anom_rows)`` averaged over groups, and its percentile bootstrap band.

    Clips are resampled with replacement *within* each group and each label, so the band
    reflects the spread of clips, not of the mix of units.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    groups = _paired_groups(g_norm, g_anom)
    idx = [(np.flatnonzero(g_norm == g), np.flatnonzero(g_anom == g)) for g in groups]
    point = np.mean([stat(norm[i], anom[j]) for i, j in idx], axis=0)
    if n_boot <= 0:
        return point, np.full_like(point, np.nan), np.full_like(point, np.nan)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, *np.shape(point)))
    for b in range(n_boot):
        boots[b] = np.mean([stat(norm[rng.choice(i, i.size)], anom[rng.choice(j, j.size)]) for i, j in idx],
                           axis=0)
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(boots, [alpha, 1.0 - alpha], axis=0)
    return point, np.minimum(lo, point), np.maximum(hi, point)


def mean_logmel_difference(normal_feats: Feats, anomaly_feats: Feats, n_boot: int = 500, seed: int = 0,
                           config: FrontEndConfig | None = None, normal_groups: Sequence | None = None,
                           anomaly_groups: Sequence | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Mean log-mel of anomalous minus normal clips, per mel band, with a bootstrap band.

    Profiles (time-averaged dB log-mels) are averaged over the clips of each label; the
    difference anomalous - normal is taken *within* each group (pass the clips' units as
    ``normal_groups`` / ``anomaly_groups``; groups without both labels are skipped) and
    averaged over groups with equal weight. ``lo`` / ``hi`` are the ``ci`` percentile band of
    ``n_boot`` bootstrap resamples of clips (within group and label); ``n_boot=0`` gives NaN.

    Returns a DataFrame with one row per mel band: ``freq_hz, diff_db, lo, hi``.
    """
    config = config or FrontEndConfig()
    norm = clip_profiles(normal_feats, config.n_mels)
    anom = clip_profiles(anomaly_feats, config.n_mels)
    g_n = _groups(normal_groups, norm.shape[0], "normal_groups")
    g_a = _groups(anomaly_groups, anom.shape[0], "anomaly_groups")
    stat = lambda n, a: a.mean(axis=0) - n.mean(axis=0)  # noqa: E731
    diff, lo, hi = _bootstrap(stat, norm, anom, g_n, g_a, n_boot, seed, ci)
    return pd.DataFrame({"freq_hz": mel_frequencies(config), "diff_db": diff, "lo": lo, "hi": hi})


def _band_masks(edges_hz: Sequence[float | None], config: FrontEndConfig) -> tuple[list[tuple[float, float]], list[np.ndarray]]:
    freqs = mel_frequencies(config)
    edges = [0.0 if e is None and i == 0 else (config.f_max if e is None else float(e))
             for i, e in enumerate(edges_hz)]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"edges_hz: need at least two increasing edges, got {list(edges_hz)}")
    pairs = list(zip(edges, edges[1:]))
    masks = [(freqs >= a) & ((freqs < b) if k < len(pairs) - 1 else (freqs <= b)) for k, (a, b) in enumerate(pairs)]
    for (a, b), m in zip(pairs, masks):
        if not m.any():
            raise ValueError(f"edges_hz: the band {a:g}-{b:g} Hz holds no mel band centre")
    return pairs, masks


def _band_label(a: float, b: float, last: bool) -> str:
    fmt = lambda hz: f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz"  # noqa: E731
    if a == 0:
        return f"< {fmt(b)}"
    if last:
        return f"> {fmt(a)}"
    return f"{fmt(a)} - {fmt(b)}"


def band_energy_ratios(normal_feats: Feats, anomaly_feats: Feats, edges_hz: Sequence[float | None] = (0, 1000, 4000, None),
                       config: FrontEndConfig | None = None, normal_groups: Sequence | None = None,
                       anomaly_groups: Sequence | None = None, n_boot: int = 500, seed: int = 0,
                       ci: float = 0.95) -> pd.DataFrame:
    """Energy of anomalous over normal clips in wide frequency bands, in dB.

    A clip's energy in a band is the sum over the mel bands whose centre lies in
    ``[lo_hz, hi_hz)`` of its mel power averaged over time (power = ``10 ** (dB / 10)``).
    Per group (unit), the ratio is ``10 log10(mean anomalous energy / mean normal energy)``;
    the result averages the groups' ratios in dB with equal weight. ``edges_hz`` are the band
    edges (``None`` as the last edge = the top of the front end); ``lo`` / ``hi`` are a
    bootstrap band as in :func:`mean_logmel_difference`.

    Returns one row per band: ``band, lo_hz, hi_hz, ratio_db, lo, hi``.
    """
    config = config or FrontEndConfig()
    clip_profiles(normal_feats, config.n_mels)  # shape checks
    clip_profiles(anomaly_feats, config.n_mels)
    pairs, masks = _band_masks(edges_hz, config)
    pn = _power_profiles(normal_feats)
    pa = _power_profiles(anomaly_feats)
    en = np.stack([pn[:, m].sum(axis=1) for m in masks], axis=1)
    ea = np.stack([pa[:, m].sum(axis=1) for m in masks], axis=1)
    g_n = _groups(normal_groups, en.shape[0], "normal_groups")
    g_a = _groups(anomaly_groups, ea.shape[0], "anomaly_groups")
    stat = lambda n, a: 10.0 * np.log10(a.mean(axis=0) / n.mean(axis=0))  # noqa: E731
    ratio, lo, hi = _bootstrap(stat, en, ea, g_n, g_a, n_boot, seed, ci)
    return pd.DataFrame({
        "band": [_band_label(a, b, k == len(pairs) - 1) for k, (a, b) in enumerate(pairs)],
        "lo_hz": [a for a, _ in pairs], "hi_hz": [b for _, b in pairs],
        "ratio_db": ratio, "lo": lo, "hi": hi,
    })


def evidence_band(feats: Feats, reference_feats: Feats, config: FrontEndConfig | None = None,
                  cutoff_hz: float = DEFAULT_CUTOFF_HZ, sd_floor_db: float = 0.5) -> pd.DataFrame:
    """Where does each clip deviate most from a normal reference? One row per clip.

    The rule: take the clip's profile ``p`` (time-averaged log-mel, dB per mel band) and the
    profiles of the reference clips (normal *training* clips of the same unit), with their
    per-band mean ``mu`` and standard deviation ``sd`` (ddof 1, at least ``sd_floor_db``).
    The deviation of band ``m`` is ``z[m] = (p[m] - mu[m]) / sd[m]``. The clip's *evidence
    band* is the mel band with the largest ``|z|``; its evidence is ``high`` when that band's
    centre frequency is ``>= cutoff_hz``, else ``low``.

    Note that a clip that does not deviate at all still gets a band (the largest of its
    chance deviations), so compare the share of ``high`` among anomalies with the share among
    normal clips analysed the same way.

    Returns columns ``peak_hz, peak_z`` (signed z of the evidence band), ``z_low``, ``z_high``
    (largest ``|z|`` below / above the cutoff) and ``evidence`` (``low`` / ``high``).
    """
    config = config or FrontEndConfig()
    prof = clip_profiles(feats, config.n_mels)
    ref = clip_profiles(reference_feats, config.n_mels)
    if ref.shape[0] < 2:
        raise ValueError(f"evidence_band: need at least 2 reference clips for a spread, got {ref.shape[0]}")
    if sd_floor_db <= 0:
        raise ValueError(f"sd_floor_db must be > 0, got {sd_floor_db}")
    freqs = mel_frequencies(config)
    high = np.arange(len(freqs)) >= hz_to_mel_bin(cutoff_hz, config)  # the bands whose centre is >= cutoff_hz
    if high.all() or not high.any():
        raise ValueError(f"cutoff_hz={cutoff_hz} leaves no mel band on one side "
                         f"(band centres {freqs[0]:.0f}-{freqs[-1]:.0f} Hz)")
    mu = ref.mean(axis=0)
    sd = np.maximum(ref.std(axis=0, ddof=1), sd_floor_db)
    z = (prof - mu) / sd
    az = np.abs(z)
    peak = az.argmax(axis=1)
    rows = np.arange(z.shape[0])
    return pd.DataFrame({
        "peak_hz": freqs[peak], "peak_z": z[rows, peak],
        "z_low": az[:, ~high].max(axis=1), "z_high": az[:, high].max(axis=1),
        "evidence": np.where(high[peak], "high", "low"),
    })


def evidence_per_unit(clips: pd.DataFrame, profiles: np.ndarray, config: FrontEndConfig | None = None,
                      cutoff_hz: float = DEFAULT_CUTOFF_HZ) -> pd.DataFrame:
    """:func:`evidence_band` of every test clip against the normal training clips of its unit.

    Args:
        clips: an index table (columns ``machine_type``, ``unit``, ``split``, ``label``) with a
            0..N-1 index: row ``i`` is the clip of ``profiles[i]``.
        profiles: ``[N, M]`` clip profiles (:func:`clip_profiles`) of those clips.
        config: the front end of the profiles.
        cutoff_hz: as :func:`evidence_band`.

    Returns:
        The test rows of ``clips`` (grouped by machine type and unit, sorted) with the columns of
        :func:`evidence_band`, on a new 0..n-1 index.
    """
    profiles = np.asarray(profiles)
    if len(clips) != profiles.shape[0]:
        raise ValueError(f"profiles: expected {len(clips)} rows (one per clip), got {profiles.shape[0]}")
    test = clips[clips["split"] == "test"]
    normal = clips[(clips["split"] == "train") & (clips["label"] == "normal")]
    parts = []
    for (mt, unit), rows in test.groupby(["machine_type", "unit"]):
        ref = normal[(normal["machine_type"] == mt) & (normal["unit"] == unit)]
        ev = evidence_band(profiles[rows.index], profiles[ref.index], config=config, cutoff_hz=cutoff_hz)
        parts.append(pd.concat([rows.reset_index(drop=True), ev], axis=1))
    if not parts:
        raise ValueError("clips: no test clips")
    return pd.concat(parts, ignore_index=True)


def sample_per_group(df: pd.DataFrame, n: int, by: Sequence[str] = ("machine_type", "unit", "split", "label"),
                     seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows per group of ``by`` (seeded random sample; small groups are kept whole).

    Keeps the frequency analysis cheap on the full DCASE sets (about a thousand training clips
    per machine ID); rows keep their original order.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    by = list(by)
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise ValueError(f"sample_per_group: the index lacks columns {missing}")
    keys = df[by].astype(str).agg("|".join, axis=1)
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(df), dtype=bool)
    for _, pos in pd.Series(np.arange(len(df))).groupby(keys.to_numpy()):
        p = pos.to_numpy()
        keep[p if p.size <= n else rng.choice(p, n, replace=False)] = True
    return df[keep]
