"""How much more the two views differ above the spectrum augmentation's cutoff than below it.

For every method, reading (``hf_role``) and band operation (``hf_mode``), the trainer's own view
pipeline (``Method.views``: log-mixup-exp -> band augmentation -> random resize crop ->
pre-normalisation) is run on batches of 64-frame segments, and the mean absolute difference
between the paired views is compared above and below the cutoff (``augment.difference_ratio``,
averaged over draws). Pairs: the positive pair ``first``/``second`` for every reading, and for
``pseudo-anomaly`` also ``second``/``outlier`` (a view and its altered copy, which share every
other random draw) and ``first``/``outlier`` (the other positive and the altered copy). Target (issue 10):
>= 2 for every reading that alters views, about 1 for ``contrastive``.

Clips: the real normal *training* clips of the shared DCASE samples when present
(``asdlib.book.shared_samples()``, folder ``dcase2020_dev_unknown_type/unknown/train``), and always
synthetic clips of four machine types (``asdlib.synth``), so it also runs without the samples.
Run: ``python benchmarks/bench_views.py [--draws 8] [--clips 32]``.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch


def synthetic_features(fe, n_per_unit: int = 4, seconds: float = 3.0) -> list[np.ndarray]:
    """Log-mels of short synthetic normal clips: 4 machine types x 2 IDs x ``n_per_unit``."""
    from asdlib import features, synth

    feats = []
    for mt in ("fan", "pump", "slider", "valve"):
        for unit in ("id_00", "id_02"):
            params = synth.unit_params(mt, unit, seed=0)
            for k in range(n_per_unit):
                wave = synth.synth_clip(mt, params, np.random.default_rng(k), duration=seconds)
                feats.append(features.logmel(wave, fe))
    return feats


def segment_batches(feats: list[np.ndarray], segment_frames: int, batch: int, seed: int = 0):
    """Two batches of random segments ``[batch, 1, M, segment_frames]``: one to fill the mixup bank, one to measure."""
    from asdlib.data import SegmentDataset

    ds = SegmentDataset(feats, [0] * len(feats), segment_frames=segment_frames,
                        segments_per_clip=max(1, -(-2 * batch // len(feats))), seed=seed)
    order = np.random.default_rng(seed).permutation(len(ds))[: 2 * batch]
    segs = torch.stack([ds[int(i)][0] for i in order])
    return segs[:batch], segs[batch:]


def view_ratios(cfg, feats: list[np.ndarray], draws: int = 8, batch: int = 64) -> dict[str, tuple[float, float]]:
    """Per view pair of ``cfg``'s trainer pipeline: (mean high/low difference ratio, mean |difference|
    above the cutoff in units of the training std)."""
    from asdlib import augment, methods
    from asdlib.features import hz_to_mel_bin

    norm = augment.fit_normalizer(feats)
    warm, xb = segment_batches(feats, cfg.segment_frames, batch)
    cutoff_bin = hz_to_mel_bin(cfg.hf_cutoff_hz, cfg.frontend)
    out: dict[str, list[tuple[float, float]]] = {}
    for d in range(draws):
        pipe = (methods.method_for(cfg).views(norm) if hasattr(methods, "method_for")
                else methods.build_views(cfg, norm)).manual_seed(d)
        pipe(warm)  # an earlier batch fills the log-mixup-exp bank, as in training
        views = pipe.draw(xb)
        pairs = {"first/second": (views.first, views.second)}
        if views.outlier is not None:
            pairs["second/outlier"] = (views.second, views.outlier)
            pairs["first/outlier"] = (views.first, views.outlier)
        for name, (a, b) in pairs.items():
            above = float(augment.band_difference(a, b)[cutoff_bin:].mean())
            out.setdefault(name, []).append((augment.difference_ratio(a, b, cutoff_bin), above))
    return {k: tuple(float(m) for m in np.mean(v, axis=0)) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--clips", type=int, default=32, help="real training clips used (when present)")
    a = ap.parse_args()
    torch.set_num_threads(1)

    import pandas as pd

    from asdlib import augment, features, methods
    from asdlib.book import shared_samples

    fe = methods.method_config("contrastive").frontend
    sets = {"synthetic (4 types x 2 IDs)": synthetic_features(fe)}
    samples = shared_samples()
    real_dir = samples / "dcase2020_dev_unknown_type" / "unknown" / "train" if samples else None
    if real_dir is not None and real_dir.is_dir():
        paths = sorted(str(p) for p in real_dir.glob("*.wav"))[: a.clips]
        sets[f"real normal training clips ({len(paths)})"] = features.load_features(paths, fe)
    else:
        print("(no shared real sample clips here: synthetic clips only)")

    configs = [("contrastive", "-", "-", methods.method_config("contrastive"))]
    for role in augment.HF_ROLES:
        modes = ["-"] if role == "suppression" else list(augment.BAND_MODES)
        for mode in modes:
            kw = {"hf_role": role} if mode == "-" else {"hf_role": role, "hf_mode": mode}
            configs.append(("contrastive-hf", role, mode, methods.method_config("contrastive-hf", **kw)))
    default = methods.method_config("contrastive-hf")
    rows = []
    for method, role, mode, cfg in configs:
        for name, feats in sets.items():
            for pair, (r, above) in view_ratios(cfg, feats, draws=a.draws).items():
                star = " (default)" if (method == "contrastive-hf" and role == default.hf_role
                                        and mode == default.hf_mode) else ""
                rows.append({"method": method, "hf_role": role + star, "hf_mode": mode, "pair": pair,
                             "clips": name, "ratio": r, "above (std)": above})
    table = pd.DataFrame(rows).pivot_table(index=["method", "hf_role", "hf_mode", "pair"], columns="clips",
                                           values=["ratio", "above (std)"], sort=False)
    print(f"ratio: mean |view difference| above {default.hf_cutoff_hz:g} Hz / below; above (std): the mean "
          f"|difference| above it, in training-std units; {a.draws} draws, batch 64 x {default.segment_frames} "
          f"frames, {default.frontend.n_mels} mels")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
