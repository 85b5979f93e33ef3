"""Training throughput (segments/s) and scoring latency per 10 s clip, on the CPU.

Prints a table. Targets (issue: the method): scoring <= 20 ms per 10 s clip on CPU.
Run: ``python benchmarks/bench_train.py [--threads 2]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _time(fn, repeat: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    from asdlib import augment, losses
    from asdlib.features import FrontEndConfig, LogMel
    from asdlib.models import AutoEncoder, Encoder, ProjectionHead, reconstruction_error, stack_frames
    from asdlib.scoring import KNNScorer, clip_embeddings
    from asdlib.methods import build_views, method_config

    rows = []
    for method in ("contrastive", "contrastive-hf"):
        cfg = method_config(method)
        views = build_views(cfg, norm=(-40.0, 15.0))
        views.manual_seed(0)
        enc = Encoder(n_mels=cfg.frontend.n_mels, width=cfg.width, depth=cfg.depth, emb_dim=cfg.emb_dim)
        proj = ProjectionHead(cfg.emb_dim, hidden_dim=2 * cfg.proj_dim, out_dim=cfg.proj_dim)
        opt = torch.optim.AdamW(list(enc.parameters()) + list(proj.parameters()), lr=1e-3)
        x = torch.randn(cfg.batch_size, 1, cfg.frontend.n_mels, cfg.segment_frames) * 15 - 40
        y = torch.randint(0, 3, (cfg.batch_size,))

        def step():
            v1, v2, _ = views.draw(x)
            z = proj(enc(torch.cat([v1, v2])))
            loss = losses.supcon(torch.stack([z[: len(x)], z[len(x):]], 1), y, cfg.temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()

        t = _time(step, a.repeat)
        rows.append((f"train {method} (width {cfg.width}, batch {cfg.batch_size}, 2 views)",
                     f"{cfg.batch_size / t:.0f} segments/s", f"{1000 * t:.0f} ms/step"))

    ae = AutoEncoder()
    opt = torch.optim.Adam(ae.parameters(), lr=1e-3)
    xb = torch.randn(512, 320)

    def ae_step():
        loss = torch.nn.functional.mse_loss(ae(xb), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    t = _time(ae_step, a.repeat * 4)
    rows.append(("train ae (batch 512 vectors)", f"{512 / t:.0f} vectors/s", f"{1000 * t:.1f} ms/step"))

    # scoring latency per 10 s clip: wave -> log-mel -> embedding -> k-NN against 300 train clips
    rng = np.random.default_rng(0)
    wave = torch.from_numpy(rng.standard_normal(160000).astype(np.float32) * 0.1)
    cfg = method_config("contrastive-hf")
    fe = LogMel(FrontEndConfig(n_mels=cfg.frontend.n_mels))
    enc = Encoder(n_mels=cfg.frontend.n_mels, width=cfg.width, depth=cfg.depth, emb_dim=cfg.emb_dim).eval()
    knn = KNNScorer(k=1).fit(rng.standard_normal((300, cfg.emb_dim)), ["id_00"] * 300)

    def score_clip():
        feat = fe(wave).numpy()
        emb = clip_embeddings(enc, [feat], segment_frames=cfg.segment_frames, hop_frames=cfg.test_hop_frames)
        knn.score(emb, ["id_00"])

    t = _time(score_clip, a.repeat * 4)
    rows.append(("score contrastive (log-mel + embedding + 1-NN)", f"{1000 * t:.1f} ms/clip", "target <= 20 ms"))

    fe64 = LogMel(FrontEndConfig(n_mels=64))
    ae.eval()

    def score_ae():
        vec = torch.from_numpy(stack_frames(fe64(wave).numpy(), 5).astype(np.float32))
        with torch.no_grad():
            reconstruction_error(ae, vec)

    t = _time(score_ae, a.repeat * 4)
    rows.append(("score ae (log-mel + reconstruction error)", f"{1000 * t:.1f} ms/clip", "target <= 20 ms"))

    print(f"threads: {a.threads}, torch {torch.__version__}")
    w = max(len(r[0]) for r in rows)
    print(f"{'what':<{w}}  {'throughput':>20}  {'time':>16}")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>20}  {r[2]:>16}")


if __name__ == "__main__":
    main()
