"""How separable are the machine IDs of one type? (explained in chapter 1 and `docs/synthetic_data.md`).

A linear classifier on the per-clip mean log-mel (DCASE front end of `asdlib.features`:
128 mels, n_fft 1024, hop 512, power 2) predicts the machine ID (2020) or section (2022) of
the normal training clips of one machine type: scikit-learn ``StandardScaler`` +
``LogisticRegression(C=0.1)``, 5-fold stratified cross-validation (shuffled, seed 0),
balanced accuracy. Real units of one model are hard to tell apart this way (DCASE 2020
ToyCar, 4 IDs: about 0.89-0.94); if synthetic IDs reach 1.0, the ID-classification task
that outlier exposure relies on is trivial on them.

The table also gives the within-unit spread (clip-to-clip standard deviation of the mean
log-mel, median over mel bands, dB) and the between-unit spread (standard deviation of the
unit means, median over mel bands, dB), the two quantities whose ratio makes IDs separable.

Usage::

    python benchmarks/bench_id_separability.py                    # book scale, both layouts, seed 0
    python benchmarks/bench_id_separability.py --train 40         # 40 train clips per ID / section
    python benchmarks/bench_id_separability.py --root DIR         # an existing DCASE-layout folder
    python benchmarks/bench_id_separability.py --real DIR         # real sample clips (as many as there are)

Training clips only; no test clip and no label other than the machine ID is used.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from asdlib import features, synth  # noqa: E402
from asdlib.data import load_audio  # noqa: E402

RE_2020 = re.compile(r"^normal_(id_\d{2})_\d+\.wav$")
RE_2022 = re.compile(r"^(section_\d{2})_(source|target)_(train|test)_normal_")


def mean_logmels(paths: list[Path], batch_size: int = 32) -> np.ndarray:
    """Per-clip mean over frames of the DCASE log-mel, ``[n_clips, 128]``."""
    out = []
    for s in range(0, len(paths), batch_size):
        waves = [load_audio(p) for p in paths[s:s + batch_size]]
        out += [m.mean(axis=1) for m in features.logmel_batch(waves)]
    return np.stack(out)


def separability(x: np.ndarray, units: np.ndarray, n_splits: int = 5, seed: int = 0) -> float:
    """Mean balanced accuracy of the linear ID classifier, stratified k-fold CV."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, x, units, cv=cv, scoring="balanced_accuracy").mean())


def spreads(x: np.ndarray, units: np.ndarray) -> tuple[float, float]:
    """(within-unit, between-unit) spread in dB, medians over mel bands."""
    labs = sorted(set(units))
    within = np.median(np.mean([x[units == u].std(axis=0, ddof=1) for u in labs], axis=0))
    between = np.median(np.std([x[units == u].mean(axis=0) for u in labs], axis=0, ddof=1)) if len(labs) > 1 else np.nan
    return float(within), float(between)


def normal_train_clips(root: Path) -> pd.DataFrame:
    """Normal clips of a DCASE-layout folder: path, machine_type, unit (ID or section), split."""
    rows = []
    for p in sorted(root.rglob("*.wav")):
        m20, m22 = RE_2020.match(p.name), RE_2022.match(p.name)
        if m20:
            rows.append({"path": p, "machine_type": p.parent.parent.name, "unit": m20.group(1), "split": p.parent.name})
        elif m22:
            rows.append({"path": p, "machine_type": p.parent.parent.name, "unit": m22.group(1), "split": m22.group(3)})
    return pd.DataFrame(rows, columns=["path", "machine_type", "unit", "split"])


def table(clips: pd.DataFrame, min_per_unit: int = 5) -> pd.DataFrame:
    """Per machine type: IDs, clips, balanced accuracy (or why none) and spreads."""
    rows = []
    for mt, g in clips.groupby("machine_type", sort=True):
        counts = g.unit.value_counts()
        x = mean_logmels(list(g.path))
        units = g.unit.to_numpy()
        row = {"machine_type": mt, "units": len(counts), "clips": len(g), "min_per_unit": int(counts.min())}
        ok = len(counts) >= 2 and counts.min() >= min_per_unit
        row["balanced_acc"] = separability(x, units, n_splits=min(5, int(counts.min()))) if ok else np.nan
        row["chance"] = 1.0 / len(counts)
        big = counts[counts >= 3].index
        sel = g.unit.isin(big).to_numpy()
        row["within_db"], row["between_db"] = spreads(x[sel], units[sel]) if sel.any() else (np.nan, np.nan)
        if not ok:
            row["note"] = f"needs >= 2 units with >= {min_per_unit} clips each"
        rows.append(row)
    return pd.DataFrame(rows)


def synthetic_clips(layout: str, scale: str, seed: int, train: int | None, workdir: Path) -> pd.DataFrame:
    """Generate only the normal training clips of a scale and list them."""
    spec = synth._SCALES[scale]
    if layout == "dcase2020":
        spec = replace(spec, test_normal_2020=0, test_anomaly_2020=0, **({"train_2020": train} if train else {}))
    else:
        spec = replace(spec, test_normal_2022=0, test_anomaly_2022=0, **({"train_source_2022": train} if train else {}))
    root = workdir / layout
    synth.generate(root, layout=layout, scale=spec, seed=seed, workers=2, overwrite=True)
    return normal_train_clips(root)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layouts", default="dcase2020,dcase2022")
    ap.add_argument("--scale", default="study", choices=synth.SCALES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, default=None, help="train clips per ID / source train clips per section")
    ap.add_argument("--root", type=Path, default=None, help="measure an existing DCASE-layout folder instead")
    ap.add_argument("--real", type=Path, default=None, help="measure real clips (train and test normals)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    pd.set_option("display.width", 200)
    if args.root or args.real:
        root = args.root or args.real
        clips = normal_train_clips(root)
        if args.root:
            clips = clips[clips.split == "train"]
        print(f"## {root.name}: normal {'training ' if args.root else ''}clips\n")
        print(table(clips).round(3).to_string(index=False))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for layout in args.layouts.split(","):
            t = time.time()
            clips = synthetic_clips(layout, args.scale, args.seed, args.train, Path(tmp))
            tab = table(clips)
            print(f"\n## {layout}, {args.scale} scale, seed {args.seed}, generator v{synth.GENERATOR_VERSION}: "
                  f"ID classifier on normal training clips ({time.time() - t:.0f} s)\n")
            print(tab.round(3).to_string(index=False), flush=True)
            print(f"mean balanced accuracy over types: {tab.balanced_acc.mean():.3f}")


if __name__ == "__main__":
    main()
