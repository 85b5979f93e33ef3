"""Learning curve benchmark: mean AUC with 95 % intervals against normal training clips per machine ID.

Explained in chapter 10 (`book/10_learning_curve.ipynb`), which shows the curve at 16, 32 and
64 clips per ID on the book-scale set; this script goes further (128, 256, ...) on a larger
synthetic DCASE 2020 set, where the CPU budget of a chapter does not apply.

For every size N it keeps the first N normal training clips of every machine ID in file-name
order (:func:`asdlib.data.first_training_clips`; the test clips stay the same), trains and scores
every method with the book's settings (:data:`asdlib.book.BOOK_SETTINGS`) and every seed into a
temporary folder (nothing is reused from the book's run cache; the feature cache is used, so the
first run also pays for the log-mels), and prints

1. the mean AUC over machine types (%) with its 95 % bootstrap interval over test clips and seeds
   (:func:`asdlib.stats.learning_curve`), one row per N, one column per method;
2. paired differences of the mean AUC at each N with the verdict of :func:`asdlib.stats.verdict`;
3. the seconds per run (mean over seeds) and the total wall time.

A method whose settings have no seed (``knn-stats``) runs once per N; its scores stand for every
seed, so its interval covers the test clips only.

Usage::

    python benchmarks/bench_learning_curve.py                       # N = 16 ... 256, all types, seeds 0 1 2
    python benchmarks/bench_learning_curve.py --types fan valve --sizes 16 32 64 128 --seeds 0 1

``--scale auto`` (default) picks the smallest synthetic scale with enough training clips per ID
(``book`` 64, ``study`` 128, ``full`` 1000) and generates it on first use (:func:`asdlib.synth.ensure`,
under ``$ASD_CACHE/synth``; the full scale takes a long time to generate on a CPU).

Measured 2026-11-29 on the 2-core CPU, ``--sizes 32 64 128 --threads 2`` (all six types, seeds
0 1 2, the ``study`` scale; 823 s of wall time), with asdlib 0.3.0's epoch rule (the margin's best
epoch only when it is reliable, :func:`asdlib.selection.criterion_reliability`). Every synthetic clip
is seeded by its own index, so the ``study`` set's first 64 training clips per ID and its test
clips are the book-scale set's: the rows at 32 and 64 equal chapter 10's. Mean AUC over types
(%), 95 % interval over test clips and seeds:

====  =================  =================  =================  =================
N     ae                 contrastive        contrastive-hf     knn-stats
====  =================  =================  =================  =================
32    63.3 [61.4, 65.2]  62.0 [60.1, 63.9]  59.6 [57.5, 61.5]  66.4 [64.6, 68.1]
64    66.0 [64.1, 67.7]  64.1 [62.3, 65.8]  61.3 [59.4, 63.1]  67.7 [65.9, 69.3]
128   68.9 [67.2, 70.5]  65.3 [63.1, 67.4]  63.2 [61.4, 65.0]  69.1 [67.4, 70.8]
====  =================  =================  =================  =================

Paired differences at 128 (points): contrastive - ae -3.6 [-6.0, -1.5] lower; contrastive -
knn-stats -3.8 [-6.0, -1.6] lower; ae - knn-stats -0.2 [-1.9, +1.7] not resolved;
contrastive-hf - contrastive -2.2 [-4.3, +0.3] not resolved (at 64: -1.8 [-3.7, +0.0], -3.5
[-5.4, -1.9], -1.7 [-3.5, +0.1], -2.8 [-4.3, -1.4]). So on this synthetic data, with the book's
short schedules (10 epochs), outlier exposure is resolved below the autoencoder at 128 clips per
ID, where at 32 and 64 the two were not resolved. Seconds per run (training + scoring, mean over
seeds) at 128: ae 75.0, contrastive 35.6, contrastive-hf 37.3, knn-stats 1.8; at 64: 34.6, 19.4,
18.6, 1.1.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' own helpers (_cli)
from asdlib import book, data, methods, pipeline, stats, synth  # noqa: E402
from _cli import positive_int, seed_int  # noqa: E402
from asdlib.dcase import MACHINE_TYPES  # noqa: E402

DEFAULT_METHODS = ["ae", "contrastive", "contrastive-hf", "knn-stats"]  # chapter 7's and chapter 10's list
DEFAULT_PAIRS = [("contrastive", "ae"), ("contrastive", "knn-stats"), ("ae", "knn-stats"),
                 ("contrastive-hf", "contrastive")]
SCALE_ORDER = ["book", "study", "full"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=positive_int, nargs="+", default=[16, 32, 64, 128, 256],
                   help="normal training clips per machine ID (default: 16 32 64 128 256)")
    p.add_argument("--seeds", type=seed_int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    p.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(book.BOOK_SETTINGS),
                   help=f"methods (default: {' '.join(DEFAULT_METHODS)})")
    p.add_argument("--types", nargs="+", default=None, choices=list(MACHINE_TYPES["dcase2020"]),
                   help="machine types (default: all six of DCASE 2020)")
    p.add_argument("--scale", default="auto", choices=["auto", *SCALE_ORDER],
                   help="synthetic scale (default: the smallest with max(--sizes) training clips per ID)")
    p.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap replicates (default: 1000)")
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads (default: 1)")
    args = p.parse_args(argv)
    args.sizes = sorted(set(args.sizes))
    args.seeds = sorted(set(args.seeds))
    return args


def train_clips_per_id(scale: str) -> int:
    """The fewest normal training clips of any machine ID at a synthetic scale (from the generation plan)."""
    counts = synth.plan_counts("dcase2020", scale)
    return int(counts[counts["split"] == "train"]["clips"].min())


def pick_scale(scale: str, largest: int) -> str:
    """``scale``, or for ``auto`` the smallest scale with ``largest`` training clips per ID."""
    if scale != "auto":
        if train_clips_per_id(scale) < largest:
            raise SystemExit(f"--scale {scale} has {train_clips_per_id(scale)} training clips per ID, "
                             f"fewer than --sizes {largest}")
        return scale
    for name in SCALE_ORDER:
        if train_clips_per_id(name) >= largest:
            return name
    raise SystemExit(f"--sizes {largest}: no synthetic scale has that many training clips per ID "
                     f"(full has {train_clips_per_id('full')})")


def run_all(df: pd.DataFrame, args: argparse.Namespace, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores of every method, size and seed; seconds per run)."""
    parts, times = [], []
    for n in args.sizes:
        sub = data.first_training_clips(df, n)
        for m in args.methods:
            seeded = "seed" in methods.method_config(m, **book.BOOK_SETTINGS[m]).relevant()
            for s in (args.seeds if seeded else args.seeds[:1]):
                t0 = time.perf_counter()
                run_dir = out / f"{m}-n{n}-seed{s}"
                pipeline.run_pipeline(sub, m, run_dir, progress=False, **{**book.BOOK_SETTINGS[m], "seed": s})
                seconds = time.perf_counter() - t0
                sc = pipeline.collect_scores({m: run_dir}).assign(n_train=n)
                for label in (args.seeds if not seeded else [s]):  # a seedless method stands for every seed
                    parts.append(sc.assign(seed=label))
                times.append({"method": m, "n_train": n, "seed": s, "seconds": seconds})
                print(f"  {m:15s} N={n:4d} seed {s}: {seconds:6.1f} s", flush=True)
    return pd.concat(parts, ignore_index=True), pd.DataFrame(times)


def curve_table(boots: dict, methods_: list[str], metric: str = "auc") -> pd.DataFrame:
    """Rows N, columns method: ``"66.8 [62.1, 70.3]"`` (mean over types, %, 95 % interval)."""
    lc = stats.learning_curve(boots)
    lc = lc[lc["metric"] == metric]
    lc = lc.assign(text=[stats.format_interval(e, lo, hi) for e, lo, hi in lc[["estimate", "lo", "hi"]].to_numpy()])
    return lc.pivot(index="n_train", columns="method", values="text").reindex(columns=methods_)


def difference_table(boots: dict, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows N, columns ``"A - B"``: ``"+3.1 [+1.0, +5.2] higher"`` (AUC points and the verdict)."""
    diff = stats.learning_curve_differences(boots, pairs)
    diff = diff.assign(pair=diff["a"] + " - " + diff["b"],
                       text=[f"{100 * e:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] {v}"
                             for e, lo, hi, v in diff[["estimate", "lo", "hi", "verdict"]].to_numpy()])
    return diff.pivot(index="n_train", columns="pair", values="text").reindex(columns=[f"{a} - {b}" for a, b in pairs])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    scale = pick_scale(args.scale, max(args.sizes))
    t_start = time.perf_counter()
    root = synth.ensure("dcase2020", scale=scale)
    df = data.index(root)
    if args.types:
        df = df[df["machine_type"].isin(args.types)].reset_index(drop=True)
    types = sorted(df["machine_type"].unique())
    print(f"synthetic DCASE 2020, scale {scale} ({train_clips_per_id(scale)} training clips per ID), types "
          f"{', '.join(types)}; N = {args.sizes}; seeds {args.seeds}; methods {args.methods}; "
          f"{torch.get_num_threads()} torch thread(s)", flush=True)
    t_runs = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="asd-bench-lc-") as tmp:
        scores, times = run_all(df, args, Path(tmp))
    t_boot = time.perf_counter()
    boots = stats.learning_curve_bootstraps(scores, n_boot=args.n_boot)
    pairs = [(a, b) for a, b in DEFAULT_PAIRS if a in args.methods and b in args.methods]
    t_end = time.perf_counter()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"\nMean AUC over {len(types)} machine type(s) (%), 95 % bootstrap interval over test clips and "
              f"seeds ({args.n_boot} replicates), against normal training clips per ID:")
        print(curve_table(boots, args.methods).to_string())
        if pairs:
            print("\nPaired differences of the mean AUC (points), 95 % interval, verdict (asdlib.stats.verdict):")
            print(difference_table(boots, pairs).to_string())
        print("\nSeconds per run (mean over seeds; training + scoring of every test clip):")
        print(times.groupby(["n_train", "method"])["seconds"].mean().unstack("method")
              .reindex(columns=args.methods).round(1).to_string())
    print(f"\nwall time: {t_end - t_start:.0f} s in all (data {t_runs - t_start:.0f} s, runs {t_boot - t_runs:.0f} s, "
          f"bootstrap {t_end - t_boot:.0f} s)")


if __name__ == "__main__":
    main()
