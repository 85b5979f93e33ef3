"""Quality of `ae`, `contrastive` and `contrastive-hf`, side by side, on the book-scale synthetic sets.

Prints, for DCASE 2020 and DCASE 2022 layouts (synthetic, seed 0, book scale):
  * wall time of the whole `asd run` pipeline per method (train + score + evaluate, all types),
  * AUC / pAUC per machine type (2020) and AUC_source / AUC_target / pAUC + official score (2022),
  * the same split by anomaly band (low- vs high-frequency kinds, from the synthetic manifest).
The settings are the book's (``asdlib.book.BOOK_SETTINGS``); nothing here is tuned on test clips.
Run: ``python benchmarks/bench_quality.py [--layouts dcase2020,dcase2022] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

METHODS = ("ae", "contrastive", "contrastive-hf")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layouts", default="dcase2020,dcase2022")
    ap.add_argument("--out", help="run folder (default: a temporary folder, so every run trains afresh; "
                                  "an existing folder reuses its finished runs)")
    a = ap.parse_args()

    from asdlib import metrics, synth
    from asdlib.book import BOOK_SETTINGS
    from asdlib.data import index
    from asdlib.pipeline import run_pipeline

    base = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="asd-bench-"))
    pd.set_option("display.width", 200)
    for layout in a.layouts.split(","):
        root = synth.ensure(layout, scale="book")
        df = index(root)
        all_res, all_band, times = [], [], []
        for method in METHODS:
            t0 = time.perf_counter()
            res = run_pipeline(df, method, base / layout / method, progress=False, **BOOK_SETTINGS[method])
            times.append((method, time.perf_counter() - t0, BOOK_SETTINGS[method] or "defaults"))
            all_res.append(res)
            scores = metrics.attach_manifest(pd.read_csv(base / layout / method / "scores.csv"), root / "manifest.csv")
            all_band.append(metrics.evaluate_by(scores, "anomaly_band", method=method))
        res = pd.concat(all_res, ignore_index=True)
        band = pd.concat(all_band, ignore_index=True)
        print(f"\n=== {layout} (synthetic, book scale, seed 0): {df['machine_type'].nunique()} types, {len(df)} clips")
        print("wall time of the pipeline (train + score + evaluate, all types):")
        for m, t, s in times:
            print(f"  {m:<15} {t:7.1f} s   settings: {s}")
        print("\nAUC / pAUC (%) per machine type:")
        print(metrics.summary_table(res, percent=True, include_mauc=(layout == "dcase2020")).round(2).to_string())
        if layout == "dcase2022":
            off = pd.DataFrame({"method": METHODS,
                                "official score": [round(100 * metrics.official_score(res, m), 2) for m in METHODS]})
            print("\nofficial score (harmonic mean of AUC_source, AUC_target, pAUC), %:")
            print(off.to_string(index=False))
            dom = res[(res["unit"] == "mean") & (res["machine_type"] == "all")][["method", "domain", "auc", "pauc"]]
            print("\nharmonic means over all sections by domain, %:")
            print((dom.set_index(["method", "domain"]) * 100).round(2).to_string())
        if layout == "dcase2022":  # the official score per band
            piv = pd.DataFrame({b: {m: metrics.official_score(g, m) for m in METHODS}
                                for b, g in band.groupby("anomaly_band")})
            what = "official score"
        else:  # the mean over machine types
            overall = band[(band["machine_type"] == "all") & (band["unit"] == "mean")]
            piv = overall.pivot_table(index="method", columns="anomaly_band", values=["auc", "pauc"])
            what = "AUC / pAUC, mean over types"
        print(f"\nsplit by anomaly band ({what}; all normals vs the anomalies of one band), %:")
        print((100 * piv).round(2).to_string())


if __name__ == "__main__":
    main()
