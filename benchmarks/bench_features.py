"""Benchmark: log-mel time per 10 s clip, asdlib's LogMel vs librosa, on ONE CPU thread.

Explained in chapter 3, `book/03_features_and_metrics.ipynb`.

Run: ``python benchmarks/bench_features.py [--clips 64] [--repeats 15] [--hash-clips 4000]``. Both are warmed up
first (numba compilation excluded); BLAS / OpenMP / torch are limited to one thread for both.

The two are timed in alternating rounds (20 calls of librosa, 20 of asdlib, 20 of librosa, ...),
so a busy spell of the machine slows both alike; the table gives the median time per clip of
each, their ratio, and the lowest and highest ratio of the medians of one round.

It also times a FeatureCache hit (loading a cached ``.npy``) in alternating rounds with three
keys: the old key (path, size and mtime: no hashing, but stale after a rewrite that keeps size
and mtime), the content key (SHA-1 of the WAV, :func:`asdlib.data.file_digest`, as now) and the
content key remembered in-process (a second use of the same file in one process), next to no
cache at all (decode the WAV and compute the log-mel); and the time
to hash ``--hash-clips`` distinct 10 s WAVs (default 4000, about a book build's feature loads),
read from the page cache (a cold disk adds the time to read 320 kB per clip).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from asdlib import data as asd_data  # noqa: E402
from asdlib.features import EPS, FeatureCache, FrontEndConfig, LogMel  # noqa: E402


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


class StatKeyCache(FeatureCache):
    """The cache key before issue 12: path, size and mtime (no hashing; misses a same-size rewrite)."""

    def cache_file(self, path):  # type: ignore[override]
        p = Path(path).absolute()
        st = p.stat()
        text = f"{self.config.key()}|{p}|{st.st_size}|{st.st_mtime_ns}"
        return self.folder / f"{hashlib.sha1(text.encode()).hexdigest()[:24]}.npy"


def cache_hits(wave: np.ndarray, config: FrontEndConfig, rounds: int, calls: int) -> dict[str, np.ndarray]:
    """Wall times (s) of cache hits with the old stat key, the content key, and the remembered content key."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        sf.write(wav, wave, config.sr, subtype="PCM_16")
        old, new = StatKeyCache(Path(tmp) / "old", config), FeatureCache(Path(tmp) / "new", config)
        old.get(wav), new.get(wav)  # misses: compute and store

        def hashed() -> None:  # hash on every call, as in a new process
            asd_data._RACY_NS = 1 << 62
            new.get(wav)

        def remembered() -> None:  # the digest memo answers (same file again in this process)
            asd_data._RACY_NS = -(1 << 62)
            new.get(wav)

        off = FeatureCache(None, config)
        t_old, t_new = alternating(lambda: old.get(wav), hashed, rounds, calls)
        _, t_mem = alternating(lambda: old.get(wav), remembered, rounds, calls)
        _, t_off = alternating(lambda: old.get(wav), lambda: off.get(wav), rounds, calls)
        asd_data._RACY_NS = 2_000_000_000
        asd_data._DIGEST_MEMO.clear()
        return {"path + size + mtime (before)": t_old, "content SHA-1 (now)": t_new,
                "content SHA-1, remembered in-process": t_mem, "no cache: decode + log-mel": t_off}


def hash_many(n: int, config: FrontEndConfig) -> tuple[float, float]:
    """Seconds to ``file_digest`` ``n`` distinct 10 s 16-bit WAVs (page cache warm), and their MB."""
    rng = np.random.default_rng(1)
    base = (0.1 * rng.standard_normal(10 * config.sr)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(n):
            base[i % base.size] += 1e-3  # every file differs
            paths.append(Path(tmp) / f"normal_id_00_{i:08d}.wav")
            sf.write(paths[-1], base, config.sr, subtype="PCM_16")
        size = sum(p.stat().st_size for p in paths) / 1e6
        asd_data._RACY_NS = 1 << 62  # no memo: every file is read and hashed
        t0 = time.perf_counter()
        digests = {asd_data.file_digest(p) for p in paths}
        seconds = time.perf_counter() - t0
        asd_data._RACY_NS = 2_000_000_000
        assert len(digests) == n
    return seconds, size


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--hash-clips", type=int, default=4000, help="distinct 10 s WAVs to hash (0: skip)")
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
    hits = cache_hits(waves[0], config, args.repeats, 20)
    hashed = hash_many(args.hash_clips, config) if args.hash_clips > 0 else None

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
    base = np.median(hits["path + size + mtime (before)"])
    print(f"\nFeatureCache hit of a 10 s clip (16-bit WAV, 320 kB; cached .npy 160 kB), "
          f"{args.repeats} x 20 calls in alternating rounds:")
    print(f"| {'cache key':<38} | {'median ms/clip':>14} | {'min ms':>7} | {'vs before':>9} |")
    print(f"|{'-' * 40}|{'-' * 16}|{'-' * 9}|{'-' * 11}|")
    for name, t in hits.items():
        print(f"| {name:<38} | {np.median(t) * 1e3:14.3f} | {t.min() * 1e3:7.3f} | {np.median(t) / base:8.2f}x |")
    if hashed is not None:
        seconds, mb = hashed
        print(f"file_digest of {args.hash_clips} distinct 10 s WAVs ({mb:.0f} MB, page cache warm): "
              f"{seconds:.2f} s, {seconds / args.hash_clips * 1e3:.3f} ms per clip")


if __name__ == "__main__":
    main()
