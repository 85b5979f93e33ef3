"""How many epochs until the held-out-normal validation curve flattens? (The store's training lengths.)

Explained in chapter 7 ("Where the numbers come from"). The experiment store
(:mod:`asdlib.store`) trains every method for a fixed number of epochs, chosen before any test
clip is read. This script decides that number on *normal* clips only. It trains one run per
method and seed on a store data set, at the store's training size, for ``--epochs`` epochs, and
records a validation curve on normal training clips held out of the fit:

* the contrastive methods: ``val_margin`` (:func:`asdlib.selection.validation_criterion`), which the
  trainer records after every epoch;
* ``ae``: the mean reconstruction error of the held-out clips (the same 10 % per unit,
  :func:`asdlib.selection.validation_split`), computed from each epoch's checkpoint. The
  autoencoder trains on the other 90 % here only; the store's runs keep all clips.

:func:`asdlib.store.flattening_epoch` then says where each curve reaches its plateau (a
5-epoch trailing mean within 10 % of its whole gain of its best) and whether it flattened (5 more
epochs follow). Test clips are never read.

Usage::

    python benchmarks/bench_training_length.py                                 # synth-dcase2020, n=128, 40 epochs
    python benchmarks/bench_training_length.py --methods ae --epochs 30 --seeds 0 1

It trains into a temporary folder (nothing cached), at 2 torch threads about 2-3 min per contrastive
run and 4 min per autoencoder run (all six machine types) at 40 epochs.

Measured 2026-12-07 on the 2-core CPU, seed 0 (``--epochs 40`` on ``synth-dcase2020`` at 128 clips
per ID; ``--dataset synth-dcase2022 --n-train 0 --methods ae --epochs 30``), curve every 5th epoch:

===============  ==============  ======  =========  =====  ===============================================
data set         method          epochs  plateau    flat   curve (epochs 0, 5, 10, ..., 35)
===============  ==============  ======  =========  =====  ===============================================
synth-dcase2020  ae              40      epoch 10   yes    error 56.4 9.18 6.48 6.04 5.96 5.81 5.83 5.68
synth-dcase2020  contrastive     40      epoch 39   no     margin .0005 .0016 .0027 .0037 .0040 .0088 .024 .034
synth-dcase2020  contrastive-hf  40      epoch 39   no     margin .0003 .0008 .0019 .0023 .0016 .0027 .0038 .0041
synth-dcase2022  ae              30      epoch 10   yes    error 55.5 8.55 6.63 6.14 5.93 5.93
===============  ==============  ======  =========  =====  ===============================================

The autoencoder reaches its plateau at epoch 10 by this rule (its error still falls slowly, 6.5
to 5.7 from epoch 10 to 39); the store trains it for 11 epochs (0-10), up to its plateau. The
contrastive encoders' margin is still rising, faster at the end than at the start (0.054 at
epoch 39 for ``contrastive``): on the synthetic data the store's 10-epoch encoders are far from
trained. Training every synthetic experiment's encoders past 40 epochs would take over 2 h of
runs on this CPU (about 190 s per epoch over all of them, from the store's ``wall_s``), against
the store's 90-minute budget.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' own helpers (_cli)
from asdlib import data, embedding, features, methods, runs, selection, store, train  # noqa: E402
from _cli import positive_int, seed_int  # noqa: E402

METHODS = ["ae", "contrastive", "contrastive-hf"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="synth-dcase2020", choices=sorted(store.DATASETS),
                   help="a store data set (default: synth-dcase2020)")
    p.add_argument("--n-train", type=seed_int, default=128,
                   help="normal training clips per unit (default: 128, the store's comparison; 0 = all)")
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS, help="methods (default: all three)")
    p.add_argument("--seeds", type=seed_int, nargs="+", default=[0], help="training seeds (default: 0)")
    p.add_argument("--epochs", type=positive_int, default=40, help="epochs of the long schedule (default: 40)")
    p.add_argument("--threads", type=positive_int, default=2, help="torch threads (default: 2)")
    p.add_argument("--curves", type=Path, default=None, help="also write every curve to this CSV file")
    return p.parse_args(argv)


def contrastive_curve(df: pd.DataFrame, cfg: methods.MethodConfig, out: Path) -> np.ndarray:
    """``val_margin`` per epoch of one shared-encoder run."""
    train.train(df, "all", cfg, out, force=True, progress=False)
    return pd.read_csv(out / "history.csv")["val_margin"].to_numpy()


def ae_curve(df: pd.DataFrame, cfg: methods.MethodConfig, out: Path) -> np.ndarray:
    """Mean reconstruction error of the held-out normal clips per epoch, over every machine type."""
    train_df = df[df["split"] == "train"].reset_index(drop=True)
    held = selection.validation_split(train_df, 0.1, cfg.seed)
    val_feats = features.load_features(train_df["path"][held], cfg.frontend, progress=False)
    per_type: dict[str, list[float]] = {}
    for mt in sorted(train_df["machine_type"].unique()):
        fit = train_df[~held & (train_df["machine_type"] == mt).to_numpy()]
        val = [f for f, m in zip(val_feats, train_df["machine_type"][held]) if m == mt]
        run_dir, errors = out / mt, per_type.setdefault(mt, [])

        def after_epoch(epoch: int, row: dict, run_dir=run_dir, val=val, errors=errors) -> None:
            ck = runs.load_checkpoint(run_dir / "checkpoint.pt", {"config_key": cfg.key()})
            model = methods.method_for(cfg).build(1).models["ae"]
            model.load_state_dict(ck["models"]["ae"])
            model.eval()
            errors.append(float(np.mean(embedding.reconstruction_scores(model, val, cfg.ae_frames))))

        train.train(fit, mt, cfg, run_dir, force=True, progress=False, on_epoch_end=after_epoch)
    return np.mean([per_type[mt] for mt in per_type], axis=0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    df = store.dataset_index(args.dataset)
    if args.n_train:
        df = data.first_training_clips(df, args.n_train)
    df = df[df["split"] == "train"]  # normal training clips only: no test clip is read
    rows, curves = [], []
    with tempfile.TemporaryDirectory(prefix="asd-bench-length-") as tmp:
        for m in args.methods:
            stored = store.DATASETS[args.dataset]["settings"].get(m, {}).get("epochs")
            for s in args.seeds:
                t0 = time.perf_counter()
                cfg = methods.method_config(m, seed=s, epochs=args.epochs)
                out = Path(tmp) / f"{m}-{s}"
                curve = ae_curve(df, cfg, out) if m == "ae" else contrastive_curve(df, cfg, out)
                flat = store.flattening_epoch(curve, higher_is_better=m != "ae")
                curves.append(pd.DataFrame({"method": m, "seed": s, "epoch": range(len(curve)), "value": curve}))
                rows.append({"method": m, "seed": s, "epochs run": len(curve), "plateau epoch": flat["epoch"],
                             "flattened": flat["flattened"], "gain": f"{flat['gain']:.3g}",
                             "store epochs": stored or methods.family_of(m).default_epochs,
                             "curve (every 5th epoch)": " ".join(f"{v:.3g}" for v in curve[::5]),
                             "seconds": round(time.perf_counter() - t0)})
                print(f"  {m} seed {s}: plateau at epoch {flat['epoch']} ({rows[-1]['seconds']} s)", flush=True)
    n = f"{args.n_train} normal training clips per unit" if args.n_train else "all normal training clips"
    print(f"\n{args.dataset}, {n}: where the held-out-normal validation curve flattens "
          f"(window {store.FLAT_WINDOW}, tolerance {store.FLAT_TOLERANCE:.0%} of the gain)")
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 120):
        print(pd.DataFrame(rows).to_string(index=False))
    if args.curves is not None:
        pd.concat(curves).to_csv(args.curves, index=False)


if __name__ == "__main__":
    main()
