"""How reliable is the epoch-selection criterion? Split-half agreement on held-out normal clips.

Explained in chapter 6 (`book/06_contrastive.ipynb`, "the epoch kept"). The contrastive methods
keep the epoch whose held-out *normal* training clips score best on the validation criterion
(``select_epoch="val"``, :func:`asdlib.selection.validation_criterion`): the mean margin
``val_margin`` first, then the share ``val_acc`` of clips whose nearest training clip is of
their own (machine type, unit). A criterion can only choose an epoch if its differences
between epochs are larger than its sampling noise. This script measures that without any test
clip. It trains each method and seed with the book's settings and reads the per-clip values
behind both averages after every epoch from the run's ``validation.npz``
(:func:`asdlib.selection.validation_per_clip`). It then
splits the held-out clips ``--halves`` times into two random halves, stratified by class, and
reports for each criterion:

* ``rho``: the mean Spearman correlation between the two halves' epoch profiles (1: both halves
  rank the epochs alike; about 0: the profile is noise);
* ``agree``: how often the two halves' best epochs lie within one epoch of each other;
* ``best``: the best epoch on all held-out clips (counted from 0, as ``history.csv``).

Usage::

    python benchmarks/bench_val_criterion.py                               # 2020 book set, both methods, seeds 0 1
    python benchmarks/bench_val_criterion.py --layout dcase2022 --seeds 0 1 2 --epochs 30

It trains into a temporary folder (nothing is cached or reused), about 20-40 s per run on the
2-core CPU at the book scale. Only normal training clips are used.

Measured 2026-11-29 on the 2-core CPU, book-scale synthetic sets, 10 epochs, 200 splits:
``--layout dcase2020 --methods contrastive contrastive-hf --seeds 0 1 2`` (108 held-out clips)
and ``--layout dcase2022 --methods contrastive contrastive-hf --seeds 0 1`` (147):

==========  ==============  ====  ================  ==================  ================
layout      method          seed  rho acc / margin  agree acc / margin  best acc / margin
==========  ==============  ====  ================  ==================  ================
dcase2020   contrastive     0      0.37 /  0.54     0.16 / 0.76          9 / 9
dcase2020   contrastive     1      0.35 /  0.60     0.05 / 0.96          4 / 8
dcase2020   contrastive     2      0.42 /  0.30     0.22 / 0.76          9 / 2
dcase2020   contrastive-hf  0     -0.28 / -0.05     0.20 / 0.56          1 / 2
dcase2020   contrastive-hf  1     -0.14 / -0.12     0.22 / 0.42          7 / 7
dcase2020   contrastive-hf  2      0.19 / -0.15     0.32 / 0.32          1 / 9
dcase2022   contrastive     0     -0.01 /  0.98     0.28 / 1.00          2 / 8
dcase2022   contrastive     1      0.07 /  0.99     0.04 / 1.00          0 / 8
dcase2022   contrastive-hf  0      0.36 /  0.91     0.14 / 1.00          9 / 7
dcase2022   contrastive-hf  1     -0.24 /  0.97     0.22 / 1.00          4 / 7
==========  ==============  ====  ================  ==================  ================

The share's epoch profile is noise on every run: two halves of the held-out clips pick best
epochs within one of each other in 4-32 % of the splits. The margin's profile is reproducible in
2022 (``rho`` 0.91-0.99, the halves agree on the best epoch in every split), partly in 2020 for
``contrastive`` (0.30-0.60) and noise for ``contrastive-hf`` in 2020. Before this measurement the
trainer ranked epochs by the share first. Now it ranks them by the margin first
(:func:`asdlib.selection.better`) and keeps that best epoch only when the margin's split-half
reliability, stepped up to the whole set with the Spearman-Brown formula, is at least 0.7
(:func:`asdlib.selection.criterion_reliability`; ``rho`` above is the half-set correlation before that
step, so about 0.54 or more passes); otherwise it keeps the last epoch. The trainer draws its own
random halves (100, seeded by the run's seed), so the value it records in the run's
``selection`` can differ a little from ``rho`` here.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' own helpers (_cli)
from asdlib import book, data, methods, train  # noqa: E402
from _cli import positive_int, seed_int  # noqa: E402

METHODS = ["contrastive", "contrastive-hf"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", default="dcase2020", choices=["dcase2020", "dcase2022"],
                   help="data set (default: dcase2020; synthetic book scale unless ASD_DATA says otherwise)")
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS, help="contrastive methods")
    p.add_argument("--seeds", type=seed_int, nargs="+", default=[0, 1], help="training seeds (default: 0 1)")
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: the method's)")
    p.add_argument("--halves", type=positive_int, default=200, help="random half splits (default: 200)")
    p.add_argument("--threads", type=positive_int, default=2, help="torch threads (default: 2)")
    return p.parse_args(argv)


def record_epochs(df: pd.DataFrame, cfg: methods.MethodConfig, out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train one run; return per epoch and held-out clip ``correct`` and ``margin`` ``[E, n]``, and the classes
    (from the run's ``validation.npz``, which the trainer writes for every run with held-out clips)."""
    train.train(df, "all", cfg, out, force=True, progress=False)
    path = Path(out) / "validation.npz"
    if not path.exists():
        raise SystemExit(f"{cfg.method}: the run wrote no {path.name}: it held out no clip "
                         f"(val_fraction={cfg.val_fraction:g})")
    with np.load(path) as v:
        return v["correct"].astype(float), v["margin"].astype(float), v["classes"]


def split_half(values: np.ndarray, classes: np.ndarray, halves: int, rng: np.random.Generator) -> tuple[float, float]:
    """Mean Spearman correlation of two random halves' epoch profiles, and how often their best epochs
    lie within one epoch of each other (halves stratified by class)."""
    rhos, agree = [], 0
    for _ in range(halves):
        first = np.zeros(values.shape[1], dtype=bool)
        for c in np.unique(classes):
            idx = np.flatnonzero(classes == c)
            first[rng.permutation(idx)[: len(idx) // 2]] = True
        a, b = values[:, first].mean(axis=1), values[:, ~first].mean(axis=1)
        rhos.append(pd.Series(a).corr(pd.Series(b), method="spearman"))
        agree += abs(int(np.argmax(a)) - int(np.argmax(b))) <= 1
    return float(np.nanmean(rhos)), agree / halves


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    df = data.index(book.data_root(args.layout))
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="asd-bench-val-") as tmp:
        for m in args.methods:
            for s in args.seeds:
                over = {"seed": s, "select_epoch": "val", **({"epochs": args.epochs} if args.epochs else {})}
                cfg = methods.method_config(m, **{**book.BOOK_SETTINGS[m], **over})
                correct, margin, classes = record_epochs(df, cfg, Path(tmp) / f"{m}-{s}")
                rho_a, agree_a = split_half(correct, classes, args.halves, rng)
                rho_m, agree_m = split_half(margin, classes, args.halves, rng)
                rows.append({"method": m, "seed": s, "n_val": correct.shape[1], "epochs": correct.shape[0],
                             "rho acc": rho_a, "rho margin": rho_m, "agree acc": agree_a, "agree margin": agree_m,
                             "best acc": int(np.argmax(correct.mean(axis=1))),
                             "best margin": int(np.argmax(margin.mean(axis=1)))})
                print(f"  {m} seed {s}: done", flush=True)
    print(f"\n{args.layout}: split-half reliability of the validation criteria ({args.halves} random halves of the "
          "held-out normal clips, stratified by class)")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pd.DataFrame(rows).round(2).to_string(index=False))


if __name__ == "__main__":
    main()
