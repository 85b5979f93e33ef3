"""Benchmark: log-mel time per 10 s clip, asdlib's LogMel vs librosa, on ONE CPU thread.

Explained in chapter 3, `book/03_features_and_metrics.ipynb`.

Run: ``python benchmarks/bench_features.py [--clips 64] [--repeats 15]``. Both are warmed up
first (numba compilation excluded); BLAS / OpenMP / torch are limited to one thread for both.

The two are timed in alternating rounds (20 calls of librosa, 20 of asdlib, 20 of librosa, ...),
so a busy spell of the machine slows both alike; the table gives the median time per clip of
each, their ratio, and the lowest and highest ratio of the medians of one round. Also reports the time of a FeatureCache hit (loading a cached
``.npy``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from asdlib.features import EPS, FeatureCache, FrontEndConfig, LogMel  # noqa: E402


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def alternating(
    ref: Callable[[], object], ours: Callable[[], object], rounds: int, calls: int
) -> tuple[np.ndarray, np.ndarray]:
    """Wall times (s) ``[rounds, calls]`` of ``ref`` and ``ours``, timed in alternating rounds.

    Each round times ``calls`` calls of ``ref`` then ``calls`` calls of ``ours``, so both run
    warm (as in a loop over many clips) and a busy spell of the machine hits both alike.
    """
    ref(), ours()
    t_ref, t_ours = np.empty((rounds, calls)), np.empty((rounds, calls))
    for r in range(rounds):
        for times, fn in ((t_ref, ref), (t_ours, ours)):
            for j in range(calls):
                t0 = time.perf_counter()
                fn()
                times[r, j] = time.perf_counter() - t0
    return t_ref, t_ours


def librosa_logmel(y: np.ndarray, config: FrontEndConfig) -> np.ndarray:
    """The reference: librosa mel spectrogram + the DCASE log."""
    mel = librosa.feature.melspectrogram(
        y=y, sr=config.sr, n_fft=config.n_fft, hop_length=config.hop_length,
        n_mels=config.n_mels, power=config.power,
    )
    return 10.0 * np.log10(mel + EPS)


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = FrontEndConfig()
    rng = np.random.default_rng(0)
    waves = (0.1 * rng.standard_normal((args.clips, 10 * config.sr))).astype(np.float32)
    batch = torch.from_numpy(waves)
    module = LogMel(config).eval()

    def ours_batched() -> None:
        with torch.inference_mode():
            module(batch)

    def ours_single() -> None:
        with torch.inference_mode():
            module(batch[0])

    def ref_single() -> None:
        librosa_logmel(waves[0], config)

    def ref_all() -> None:
        for y in waves:
            librosa_logmel(y, config)

    ref_single()  # numba / FFT plan warm-up
    single = alternating(ref_single, ours_single, args.repeats, 20)
    batched = alternating(ref_all, ours_batched, args.repeats, 1)
    batched = (batched[0] / args.clips, batched[1] / args.clips)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        sf.write(wav, waves[0], config.sr, subtype="PCM_16")
        cache = FeatureCache(Path(tmp) / "cache", config)
        cache.get(wav)  # miss: compute and store
        hit = best_of(lambda: cache.get(wav), args.repeats * 4)

    print(f"log-mel of a 10 s clip at 16 kHz, 128 mels, 313 frames; 1 thread; torch {torch.__version__}, "
          f"librosa {librosa.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"| {'case':<40} | {'calls':>11} | {'librosa ms/clip':>15} | {'asdlib ms/clip':>14} "
          f"| {'speed-up':>8} | {'per round (min-max)':>19} |")
    print(f"|{'-' * 42}|{'-' * 13}|{'-' * 17}|{'-' * 16}|{'-' * 10}|{'-' * 21}|")
    for name, (ref, ours) in [
        ("one clip", single),
        (f"{args.clips} clips (librosa loop, LogMel batch)", batched),
    ]:
        per_round = np.median(ref, axis=1) / np.median(ours, axis=1)
        calls = f"{ref.shape[0]} x {ref.shape[1]}"
        print(f"| {name:<40} | {calls:>11} | {np.median(ref) * 1e3:15.3f} | {np.median(ours) * 1e3:14.3f} "
              f"| {np.median(ref) / np.median(ours):7.1f}x | {per_round.min():8.1f}x - {per_round.max():5.1f}x |")
    print(f"FeatureCache hit (load the .npy, best of {args.repeats * 4}): {hit * 1e3:.3f} ms per clip")


if __name__ == "__main__":
    main()
