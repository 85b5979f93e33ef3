"""Benchmark and calibration of `asdlib.synth` (explained in chapter 1 and `docs/synthetic_data.md`).

Prints
1. synthesis speed: clips/s for 10 s clips with 1 and 2 workers, and seconds for 1000 clips;
2. the calibration table: a simple, training-free detector (1-NN per machine ID / section,
   fitted on the train normals, on the per-clip mean log-mel of the DCASE front end
   `asdlib.features`: 128 mels, n_fft 1024, hop 512, power 2) on the `book` scale, seed 0:
   AUC per machine type, per anomaly band and per anomaly kind, and the seconds it took to
   generate each whole book-scale set with 2 workers.

Usage::

    python benchmarks/bench_synth.py                # speed + book-scale table, seed 0
    python benchmarks/bench_synth.py --skip-speed   # table only
    python benchmarks/bench_synth.py --calibrate    # calibration seed 12345 (book scale)

Severities were tuned with ``--calibrate`` (seed 12345) only; seed 0 is the reported check.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from asdlib import features, metrics, synth  # noqa: E402
from asdlib.data import load_audio  # noqa: E402

CALIBRATION_SEED = 12345


def mean_logmels(paths: list[Path], batch_size: int = 32) -> np.ndarray:
    """Per-clip mean over frames of the DCASE log-mel (128 mels, n_fft 1024, hop 512, power 2)."""
    out = []
    for s in range(0, len(paths), batch_size):
        out += [m.mean(axis=1) for m in features.logmel_batch([load_audio(p) for p in paths[s:s + batch_size]])]
    return np.stack(out)


def knn_scores(root: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """Score every test clip by its distance to the nearest train normal of the same unit."""
    feats = mean_logmels([root / p for p in manifest.path])
    out = manifest.copy()
    out["score"] = np.nan
    for _, g in manifest.groupby(["machine_type", "unit"]):
        tr = g.index[g.split == "train"]
        te = g.index[g.split == "test"]
        nn = NearestNeighbors(n_neighbors=1).fit(feats[tr])
        out.loc[te, "score"] = nn.kneighbors(feats[te])[0][:, 0]
    return out[out.split == "test"]


def _auc(g: pd.DataFrame, mask: pd.Series | None = None) -> float:
    """AUC of normals against (a subset of) anomalies."""
    sel = (g.label == "normal") | ((g.label == "anomaly") & (mask if mask is not None else True))
    h = g[sel]
    if h.label.nunique() < 2:
        return np.nan
    return roc_auc_score(h.label == "anomaly", h.score)


def auc_tables(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per type: AUC all / low / high anomalies, mean over units; per kind: AUC)."""
    rows, krows = [], []
    for (mt, unit), g in scores.groupby(["machine_type", "unit"]):
        row = {"machine_type": mt, "unit": unit, "auc": _auc(g),
               "auc_low": _auc(g, g.anomaly_band == "low"), "auc_high": _auc(g, g.anomaly_band == "high")}
        if g.layout.iloc[0] == "dcase2022":
            for dom in ("source", "target"):
                row[f"auc_{dom}"] = _auc(g[(g.domain == dom) | (g.label == "anomaly")])
        rows.append(row)
        for kind in sorted(set(g.anomaly_kind) - {""}):
            krows.append({"machine_type": mt, "unit": unit, "kind": kind,
                          "band": synth.ANOMALY_KINDS[mt][kind]["band"], "auc": _auc(g, g.anomaly_kind == kind)})
    per_type = pd.DataFrame(rows).groupby("machine_type", sort=False).mean(numeric_only=True)
    per_kind = pd.DataFrame(krows).groupby(["machine_type", "kind", "band"], sort=False).auc.mean().reset_index()
    return per_type, per_kind


def headline(scores: pd.DataFrame) -> float:
    """Mean AUC over types (2020) or the official score (2022), as `asdlib.metrics.evaluate` computes them."""
    res = metrics.evaluate(scores[["path", "layout", "machine_type", "unit", "domain", "label", "score"]], "knn")
    if scores.layout.iloc[0] == "dcase2022":
        return metrics.official_score(res)
    return float(res[(res.machine_type == "all") & (res.unit == "mean")].auc.iloc[0])


def bootstrap_interval(scores: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> tuple[float, float, float]:
    """(headline, 2.5 %, 97.5 %): test clips resampled within each (type, unit, domain, label)."""
    rng = np.random.default_rng(seed)
    groups = [g.index.to_numpy() for _, g in scores.groupby(["machine_type", "unit", "domain", "label"])]
    stats = [headline(scores.loc[np.concatenate([rng.choice(ix, len(ix)) for ix in groups])].reset_index(drop=True))
             for _ in range(n_boot)]
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return headline(scores), float(lo), float(hi)


def calibration_table(layout: str, scale: str | synth.ScaleSpec, seed: int, workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate a set (2 workers, timed) and return the simple detector's AUC tables."""
    root = workdir / f"{layout}-{seed}"
    t = time.time()
    man = synth.generate(root, layout=layout, scale=scale, seed=seed, workers=2, overwrite=True)
    print(f"generated {layout} ({len(man)} clips) in {time.time() - t:.0f} s with 2 workers", flush=True)
    scores = knn_scores(root, man)
    shutil.rmtree(root, ignore_errors=True)
    value, lo, hi = bootstrap_interval(scores)
    what = "official score" if layout == "dcase2022" else "mean AUC over types"
    print(f"1-NN {what}: {value:.3f}, 95 % bootstrap interval over test clips {lo:.3f}-{hi:.3f} "
          f"(+-{(hi - lo) / 2 * 100:.1f} points)", flush=True)
    if layout == "dcase2020":
        for mt, g in scores.groupby("machine_type"):
            v, lo, hi = bootstrap_interval(g.reset_index(drop=True), n_boot=100)
            print(f"  {mt}: mean AUC over IDs {v:.3f}, 95 % interval {lo:.3f}-{hi:.3f} (+-{(hi - lo) / 2 * 100:.1f})",
                  flush=True)
    return auc_tables(scores)


def speed(workdir: Path) -> pd.DataFrame:
    """clips/s for 10 s clips with 1 and 2 workers, and seconds for 1000 clips (2 workers)."""
    rows = []
    base = synth._SCALES["book"]
    small = replace(base, n_units_2020=3, train_2020=10, test_normal_2020=0, test_anomaly_2020=0)
    for workers in (1, 2):
        t = time.time()
        man = synth.generate(workdir / f"speed{workers}", "dcase2020", small, seed=1, workers=workers, overwrite=True)
        dt = time.time() - t
        rows.append({"what": f"{len(man)} clips of 10 s, {workers} worker(s)", "seconds": round(dt, 1),
                     "clips_per_s": round(len(man) / dt, 1)})
    big = replace(base, n_units_2020=None, train_2020=40, test_normal_2020=2, test_anomaly_2020=2)  # 23 IDs * 44
    t = time.time()
    man = synth.generate(workdir / "speed1000", "dcase2020", big, seed=1, workers=2, overwrite=True)
    dt = time.time() - t
    rows.append({"what": f"{len(man)} clips of 10 s, 2 workers (scaled to 1000 clips)",
                 "seconds": round(dt * 1000 / len(man), 1), "clips_per_s": round(len(man) / dt, 1)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", action="store_true", help="calibration seed 12345")
    ap.add_argument("--scale", default="study", choices=synth.SCALES,
                    help="scale of the checked sets (default study: the 128-clip scale the docs report)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--layouts", default="dcase2020,dcase2022")
    args = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_speed and not args.calibrate:
            print("## Synthesis speed\n")
            print(speed(work).to_markdown(index=False) if _has_tabulate() else speed(work))
        seed = CALIBRATION_SEED if args.calibrate else 0
        scale = args.scale
        kinds = []
        for layout in args.layouts.split(","):
            t = time.time()
            per_type, per_kind = calibration_table(layout, scale, seed, work)
            per_kind.insert(0, "layout", layout)
            kinds.append(per_kind)
            print(f"\n## {layout}, {'calibration ' if args.calibrate else ''}seed {seed}: 1-NN on mean log-mel "
                  f"({time.time() - t:.0f} s)\n")
            print(per_type.round(3).to_string())
            print(f"mean over types: AUC {per_type.auc.mean():.3f}, low-band {per_type.auc_low.mean():.3f}, "
                  f"high-band {per_type.auc_high.mean():.3f}"
                  + (f", source {per_type.auc_source.mean():.3f}, target {per_type.auc_target.mean():.3f}"
                     if "auc_source" in per_type else ""), flush=True)
        kinds_df = pd.concat(kinds)
        print("\n## AUC per anomaly kind\n")
        print(kinds_df.round(3).to_string(index=False))
        print("\nmean per band:", kinds_df.groupby("band").auc.mean().round(3).to_dict())


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


if __name__ == "__main__":
    main()
