"""Training throughput (segments/s, AE vectors/s) and scoring latency per 10 s clip, on the CPU.

One *training step* here is what the trainer's epoch loop does (``asdlib.train._epoch`` over a
method's ``batch_losses``), written with the public API so that this file also runs against older
checkouts: a batch from a ``DataLoader`` over a :class:`asdlib.data.SegmentDataset` (64 clips of
313 frames, 4 segments each), the method's view pipeline (``Method.views``), encoder and
projection head (``Method.build``) on both views, SupCon, backward, AdamW step. For
``ae``: a shuffled batch of 512 stacked-frame vectors, MSE, backward, Adam step. Segments/s
counts the batch's segments (64 per step, each seen in two views), as the trainer's epochs do.

Timings on a shared machine are noisy: every figure is the median over ``--rounds`` rounds (one
synthetic epoch each), both per second of wall-clock time and per second of this process's CPU
time (``time.process_time``; with ``--threads 1`` the latter is what another load on the machine
disturbs least, and what a quiet machine's wall clock would show). ``--compare DIR`` times a second checkout's ``asdlib`` (e.g. the commit
before a speed change, ``git worktree add ../asd-base <commit>``) in the same process, in
alternating rounds, and prints the ratio ``this / DIR`` (> 1: this checkout is faster).
Issue 9 asks for >= 2x the training throughput of commit ``aec4820`` on the same machine.

The optimiser is each checkout's own trainer's (``Method.optimizer``: fused AdamW; checkouts from
before it existed: plain AdamW, as their trainer). ``--precision bfloat16`` times this checkout's
encoders in bfloat16 mixed precision (``methods.PRECISIONS``, ``torch.autocast``).

Measured 2026-11-29 on the 2-core machine against a checkout of ``aec4820`` (``--rounds 15 --compare``),
wall-clock segments/s of ``contrastive`` / ``contrastive-hf``: one thread, five runs: this checkout
1781-2035, the reference 866-1152, ratios 1.71x-2.28x (1.71, 1.89, 1.91, 1.98, 2.24 for
``contrastive``); two threads, four runs: this checkout 2873-3169, the reference 1449-1871,
ratios 1.60x-2.09x. The reference's own rate moves between runs far more than this checkout's,
so the ratio is about 2x but these runs do not put it reliably above 2x. With ``--precision
bfloat16`` (one thread, 9 rounds, one run): 2.21x / 2.23x. The gain comes from the patch stem
(:class:`asdlib.models.Encoder`), the vectorised log-mixup-exp (``augment._logaddexp``), one
random draw per epoch for the segment offsets (``data.SegmentDataset``), the fused optimiser,
channels-last layout and the crops of earlier commits.

Run: ``python benchmarks/bench_train.py [--threads 1] [--rounds 7] [--compare DIR] [--no-scoring] [--precision P]``.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

CLIPS, FRAMES, SEGMENTS_PER_CLIP = 64, 313, 4  # one synthetic "epoch": 256 segments = 4 batches of 64


def load_library(root: str | None) -> ModuleType:
    """``asdlib`` from this checkout (``None``) or the ``asdlib`` folder under ``root``, as its own package."""
    if root is None:
        import asdlib

        return asdlib
    init = Path(root) / "asdlib" / "__init__.py"
    if not init.is_file():
        raise SystemExit(f"--compare: {root} holds no asdlib/__init__.py (give the root of an asd-book checkout)")
    name = "asdlib_ref"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _sub(lib: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{lib.__name__}.{name}")


def optimizer(methods: ModuleType, cfg, params: list) -> torch.optim.Optimizer:
    """The checkout's own trainer optimiser (``methods.build_optimizer``); checkouts from before it
    existed built plain (unfused) Adam for ``ae`` and AdamW otherwise, which is what they get here."""
    if hasattr(methods, "build_optimizer"):
        return methods.build_optimizer(cfg, params, "cpu")
    if cfg.method == "ae":
        return torch.optim.Adam(params, lr=cfg.lr)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


class ContrastiveBench:
    """One method's training steps with one library's code (state kept across rounds)."""

    def __init__(self, lib: ModuleType, method: str, n_classes: int = 3, precision: str | None = None) -> None:
        methods, data, losses = _sub(lib, "methods"), _sub(lib, "data"), _sub(lib, "losses")
        self.cfg = cfg = methods.method_config(method, **({"precision": precision} if precision else {}))
        train = _sub(lib, "train")  # the trainer's precision context, where the checkout has one
        if hasattr(methods, "method_for"):
            self.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bfloat16")
        elif hasattr(train, "autocast"):
            self.autocast = lambda: train.autocast(cfg, torch.device("cpu"))
        else:
            self.autocast = contextlib.nullcontext
        self.losses = losses
        rng = np.random.default_rng(0)
        feats = [(rng.standard_normal((cfg.frontend.n_mels, FRAMES)) * 12 - 45).astype(np.float32)
                 for _ in range(CLIPS)]
        labels = [k % n_classes for k in range(CLIPS)]
        self.data = data.SegmentDataset(feats, labels, segment_frames=cfg.segment_frames,
                                        segments_per_clip=SEGMENTS_PER_CLIP, seed=0)
        torch.manual_seed(0)
        if hasattr(methods, "method_for"):  # the method object builds its models, optimiser and views
            method = methods.method_for(cfg).build(n_classes)
            self.models, self.opt, self.views = method.models, method.optimizer("cpu"), method.views((-45.0, 12.0))
        else:
            self.models = methods.build_models(cfg, n_classes)
            params = [p for m in self.models.values() for p in m.parameters()]
            self.opt = optimizer(methods, cfg, params)
            self.views = methods.build_views(cfg, (-45.0, 12.0))
        self.epoch = 0

    def epoch_time(self) -> tuple[float, float, int]:
        """Wall and CPU seconds for one pass over the data set, and the segments it trained on."""
        cfg, enc, proj = self.cfg, self.models["encoder"], self.models["projector"]
        for m in self.models.values():
            m.train()
        self.views.manual_seed(self.epoch)
        self.data.set_epoch(self.epoch)
        loader = torch.utils.data.DataLoader(self.data, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                             generator=torch.Generator().manual_seed(self.epoch), num_workers=0)
        self.epoch += 1
        n = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for x, y in loader:
            v1, v2, _ = self.views.draw(x)
            with self.autocast():
                z = proj(enc(torch.cat([v1, v2])))
            z = z.float()
            loss = self.losses.supcon(torch.stack([z[: len(x)], z[len(x):]], dim=1), y, temperature=cfg.temperature)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            loss.item()
            n += len(x)
        return time.perf_counter() - t0, time.process_time() - c0, n


class AEBench:
    """The autoencoder baseline's training steps (batch 512) with one library's code."""

    def __init__(self, lib: ModuleType, steps: int = 8) -> None:
        models = _sub(lib, "models")
        torch.manual_seed(0)
        self.ae = models.AutoEncoder()
        methods = _sub(lib, "methods")
        self.opt = optimizer(methods, methods.method_config("ae"), list(self.ae.parameters()))
        self.data = torch.randn(512 * steps, 320)
        self.batch = 512
        self.epoch = 0

    def epoch_time(self) -> tuple[float, float, int]:
        self.ae.train()
        order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.epoch))
        self.epoch += 1
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(self.data), self.batch):
            xb = self.data[order[i:i + self.batch]]
            loss = torch.nn.functional.mse_loss(self.ae(xb), xb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            loss.item()
        return time.perf_counter() - t0, time.process_time() - c0, len(self.data)


def throughput(benches: dict, rounds: int) -> dict[str, dict]:
    """Items per wall second and per CPU second, per round, for each bench; the benches alternate
    within every round (after one warm-up round)."""
    for b in benches.values():
        b.epoch_time()  # warm-up: allocations, oneDNN primitive caches, the mixup bank
    rates: dict = {k: {"wall": [], "cpu": []} for k in benches}
    for _ in range(rounds):
        for k, b in benches.items():
            wall, cpu, n = b.epoch_time()
            rates[k]["wall"].append(n / wall)
            rates[k]["cpu"].append(n / cpu)
    return rates


def scoring_rows(lib: ModuleType, repeat: int) -> list[tuple[str, str, str]]:
    """Scoring latency per 10 s clip: wave -> log-mel -> embedding -> 1-NN, and the AE's error."""
    features, models, scoring, methods = (_sub(lib, n) for n in ("features", "models", "scoring", "methods"))
    embed_clips = (scoring.clip_embeddings if hasattr(scoring, "clip_embeddings")  # older checkouts
                   else _sub(lib, "embedding").clip_embeddings)

    def timed(fn) -> float:
        fn()
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    rng = np.random.default_rng(0)
    wave = torch.from_numpy(rng.standard_normal(160000).astype(np.float32) * 0.1)
    cfg = methods.method_config("contrastive-hf")
    fe = features.LogMel(features.FrontEndConfig(n_mels=cfg.frontend.n_mels))
    enc = models.Encoder(n_mels=cfg.frontend.n_mels, width=cfg.width, depth=cfg.depth, emb_dim=cfg.emb_dim).eval()
    knn = scoring.KNNScorer(k=1).fit(rng.standard_normal((300, cfg.emb_dim)), ["id_00"] * 300)

    def score_clip():
        feat = fe(wave).numpy()
        emb = embed_clips(enc, [feat], segment_frames=cfg.segment_frames, hop_frames=cfg.test_hop_frames)
        knn.score(emb, ["id_00"])

    ae = models.AutoEncoder().eval()
    fe64 = features.LogMel(features.FrontEndConfig(n_mels=64))

    def score_ae():
        vec = torch.from_numpy(models.stack_frames(fe64(wave).numpy(), 5).astype(np.float32))
        with torch.no_grad():
            models.reconstruction_error(ae, vec)

    return [("score contrastive (log-mel + embedding + 1-NN)", f"{1000 * timed(score_clip):.1f} ms/clip",
             "target <= 20 ms"),
            ("score ae (log-mel + reconstruction error)", f"{1000 * timed(score_ae):.1f} ms/clip", "target <= 20 ms")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds (one synthetic epoch each)")
    ap.add_argument("--compare", metavar="DIR", default=None,
                    help="root of another asd-book checkout whose asdlib is timed in alternating rounds")
    ap.add_argument("--no-scoring", action="store_true", help="skip the scoring-latency rows")
    ap.add_argument("--precision", default=None, choices=("float32", "bfloat16"),
                    help="this checkout's training precision (methods.PRECISIONS; default: its default, float32); "
                         "the --compare checkout always trains at its own default")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    libs = {"this": load_library(None)}
    if a.compare:
        libs["ref"] = load_library(a.compare)
    what = {"contrastive": "segments/s", "contrastive-hf": "segments/s", "ae": "vectors/s"}
    benches: dict[tuple[str, str], object] = {}
    for task in what:
        for tag, lib in libs.items():
            benches[(task, tag)] = (AEBench(lib) if task == "ae" else
                                    ContrastiveBench(lib, task, precision=a.precision if tag == "this" else None))
    rates = throughput(benches, a.rounds)

    print(f"threads: {a.threads}, torch {torch.__version__}, {a.rounds} rounds (medians)"
          + (f", this checkout's encoders in {a.precision}" if a.precision else "")
          + (f"; ref = {a.compare}" if a.compare else ""))
    head = f"{'train':<15} {'clock':<5} {'this':>9}" + (f" {'ref':>9} {'this/ref':>9}" if a.compare else "")
    print(head)
    for task, unit in what.items():
        for clock in ("cpu", "wall"):
            this = rates[(task, "this")][clock]
            line = f"{task:<15} {clock:<5} {statistics.median(this):>9.0f}"
            if a.compare:
                ref = rates[(task, "ref")][clock]
                ratios = [x / y for x, y in zip(this, ref)]
                line += f" {statistics.median(ref):>9.0f} {statistics.median(ratios):>8.2f}x"
            print(f"{line}  {unit} per {clock} second")
    if not a.no_scoring:
        for tag, lib in libs.items():
            for row in scoring_rows(lib, 20):
                print(f"{row[0] + (' [ref]' if tag == 'ref' else ''):<56} {row[1]:>14}  {row[2]}")


if __name__ == "__main__":
    main()
