"""What bad input gets: one table of cases, each with the exception or warning it must raise.

Issue 12 ("no silent failures and no lost data"). Every row of :data:`CASES` makes a bad input
in a fresh temporary folder (``make``), does with it what a user would (``action``) and states
what must come back: an exception or a warning of class ``expect`` whose message matches the
regular expression ``match`` (searched, ``re.DOTALL``), or, with ``expect=None``, a result
that ``check`` accepts. Messages must name the file or setting that is wrong.

To add a case, append a row; ``Env.data()`` gives a copy of a tiny synthetic DCASE 2020 set
(``fan``, 12 training + 12 test clips of 2 s), ``asd(...)`` runs the command line and raises
:class:`CliError` with its stderr when it fails. ``python tests/test_bad_input.py`` prints
every case with the message it gets now.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tempfile
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdlib import data as D
from asdlib.data import AudioError, AudioWarning, DatasetLayoutError, index, load_audio
from asdlib.features import FeatureCache, logmel

SR = 16000


# --------------------------------------------------------------------------- the table's tools


@dataclass
class Env:
    """A fresh temporary folder per case, and a pristine tiny synthetic set to copy from."""

    tmp: Path
    tiny: Path

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

    def data(self, name: str = "d") -> Path:
        """A private copy of the tiny DCASE 2020 set (``fan``, 12 train + 12 test clips)."""
        dest = self.tmp / name
        shutil.copytree(self.tiny, dest)
        return dest


@dataclass(frozen=True)
class Case:
    """One bad input and what it must get."""

    id: str
    make: Callable[[Env], Any]  # build the bad input under env.tmp, return what action needs
    action: Callable[[Any], Any]  # what a user does with it
    expect: type[BaseException] | type[Warning] | None  # None: must succeed (see check)
    match: str = ""  # regex the exception / warning message must match
    check: Callable[[Any, Any], None] | None = None  # (result, made) -> asserts


class CliError(Exception):
    """``asd`` exited with a non-zero status; the message is ``exit N: <stderr>``."""


def asd(*argv: object) -> str:
    """Run ``asd argv...`` in this process; its stdout, or :class:`CliError` with its stderr."""
    from asdlib.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors
            rc = exc.code if isinstance(exc.code, int) else 2
    if rc != 0:
        raise CliError(f"exit {rc}: {err.getvalue().strip()}")
    return out.getvalue()


def run_case(case: Case, env: Env) -> str:
    """Run one case and return the message it got; AssertionError when it got the wrong one."""
    made = case.make(env)
    if case.expect is None or issubclass(case.expect, Warning):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = case.action(made)
        if case.check is not None:
            case.check(result, made)
        if case.expect is None:
            return "(succeeds)"
        hits = [w for w in caught if issubclass(w.category, case.expect)
                and re.search(case.match, str(w.message), re.DOTALL)]
        got = [f"{w.category.__name__}: {w.message}" for w in caught]
        assert hits, f"{case.id}: expected {case.expect.__name__} matching {case.match!r}, got {got}"
        return f"{case.expect.__name__}: {hits[0].message}"
    try:
        with warnings.catch_warnings(record=True):  # an error case: only the error counts
            warnings.simplefilter("always")
            case.action(made)
    except Exception as exc:  # noqa: BLE001 - compared with the expectation below
        if isinstance(exc, case.expect) and re.search(case.match, str(exc), re.DOTALL):
            return f"{type(exc).__name__}: {exc}"
        raise AssertionError(
            f"{case.id}: expected {case.expect.__name__} matching {case.match!r}, "
            f"got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"{case.id}: expected {case.expect.__name__} matching {case.match!r}, nothing raised")


# --------------------------------------------------------------------------- makers


def wav(path: Path, y: np.ndarray, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(y, dtype=np.float32), SR, subtype=subtype)
    return path


def noise(seconds: float = 1.0, seed: int = 0, scale: float = 0.1) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def file_bytes(name: str, blob: bytes) -> Callable[[Env], Path]:
    def make(env: Env) -> Path:
        (env.tmp / name).write_bytes(blob)
        return env.tmp / name
    return make


def truncated_wav(env: Env) -> Path:
    """The first half of a 1 s WAV (its header still declares the full length)."""
    blob = wav(env.tmp / "full.wav", noise(1.0)).read_bytes()
    return file_bytes("cut.wav", blob[: len(blob) // 2])(env)


def rows(n: int) -> Callable[[pd.DataFrame, Any], None]:
    """A check: the index has ``n`` rows."""
    def check(df: pd.DataFrame, _made: Any) -> None:
        assert len(df) == n, f"{len(df)} rows, expected {n}"
    return check


def train_clips(root: Path) -> list[Path]:
    return sorted((root / "fan" / "train").glob("*.wav"))


def rewritten_same_size_and_mtime(env: Env) -> tuple[Path, Path, np.ndarray]:
    """A WAV whose features are cached, then rewritten with the same size and its times restored."""
    path = wav(env.tmp / "a.wav", noise(1.0, seed=0))
    old = FeatureCache(env.tmp / "cache").get(path)
    st = path.stat()
    wav(path, noise(1.0, seed=1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # touch -r / rsync -t
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    getattr(D, "_DIGEST_MEMO", {}).clear()  # as a new process would start
    return path, env.tmp / "cache", old


def check_fresh_features(result: np.ndarray, made: tuple[Path, Path, np.ndarray]) -> None:
    path, _, old = made
    np.testing.assert_array_equal(result, logmel(load_audio(path)))
    assert np.abs(result - old).max() > 1.0


def broken_link(env: Env) -> Path:
    root = env.data()
    os.symlink(env.tmp / "gone.wav", root / "fan" / "train" / "normal_id_00_00000099.wav")
    return root


def macos_metadata(env: Env) -> Path:
    """AppleDouble ``._*.wav`` files, ``.DS_Store`` files and a ``__MACOSX`` folder."""
    root = env.data()
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(4000)
    (root / "fan" / "train" / "._normal_id_00_00000000.wav").write_bytes(apple_double)
    (root / "fan" / "test" / "._anomaly_id_00_00000000.wav").write_bytes(apple_double)
    for folder in (root, root / "fan", root / "fan" / "train"):
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    macosx = root / "__MACOSX" / "fan" / "train"
    macosx.mkdir(parents=True)
    (macosx / "._normal_id_00_00000001.wav").write_bytes(apple_double)
    return root


def unknown_name(env: Env) -> Path:
    root = env.data()
    wav(root / "fan" / "train" / "recording 1.wav", noise(0.1))
    return root


def silent_training_clips(env: Env) -> list[Path]:
    root = env.data()
    paths = train_clips(root)
    for p in (paths[2], paths[5]):
        wav(p, np.zeros(sf.info(p).frames, np.float32))
    return paths


def features_then_check(paths: list[Path]) -> None:
    """What training does: features through the cache, then the silent-clip check."""
    feats = FeatureCache(Path(os.environ["ASD_CACHE"]) / "features").features(paths)
    D.check_training_clips(paths, feats)


GOOD_SCORES = pd.DataFrame({
    "path": ["fan/test/normal_id_00_00000000.wav", "fan/test/normal_id_00_00000001.wav",
             "fan/test/anomaly_id_00_00000000.wav", "fan/test/anomaly_id_00_00000001.wav"],
    "layout": "dcase2020", "machine_type": "fan", "unit": "id_00", "domain": "source",
    "label": ["normal", "normal", "anomaly", "anomaly"], "score": [0.1, 0.2, 0.8, 0.9],
})


def scores_file(text: str | bytes, name: str = "scores.csv") -> Callable[[Env], Path]:
    return file_bytes(name, text if isinstance(text, bytes) else text.encode())


def scores_edit(edit: Callable[[pd.DataFrame], pd.DataFrame], name: str = "scores.csv") -> Callable[[Env], Path]:
    def make(env: Env) -> Path:
        p = env.tmp / name
        edit(GOOD_SCORES.copy()).to_csv(p, index=False)
        return p
    return make


def set_score(row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df["score"] = df["score"].astype(object)
        df.loc[row, "score"] = value
        return df
    return edit


def read_scores(p: Path) -> pd.DataFrame:
    from asdlib.metrics import read_scores as _read

    return _read(p)


# --------------------------------------------------------------------------- the table

# --- training, run directories and settings (asd train / run / score)
FAST = ("--set", "batch_size=16", "--set", "segments_per_clip=2", "--set", "width=8", "--set", "depth=2")


def data_and_out(env: Env) -> tuple[Path, Path]:
    return env.data(), env.tmp / "run"


def train_leaving_nothing(*args: object) -> Callable[[tuple[Path, Path]], str]:
    """``asd train`` with ``args``; a refused or failed start must leave no --out folder behind."""
    def action(made: tuple[Path, Path]) -> str:
        root, out = made
        try:
            return asd("train", "--data", root, "--machine", "fan", "--out", out, "--quiet", *args)
        finally:
            assert not out.exists(), f"{out} was left behind"
    return action


def keeps_files(paths_of: Callable[[Any], list[Path]], action: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run ``action``; whatever happens, the files ``paths_of(made)`` are still there, unchanged."""
    def run(made: Any) -> Any:
        before = {p: p.read_bytes() for p in paths_of(made)}
        try:
            return action(made)
        finally:
            for p, blob in before.items():
                assert p.exists() and p.read_bytes() == blob, f"{p} was deleted or changed"
    return run


def force_into_data(where: Callable[[Path], Path]) -> Callable[[Path], str]:
    return keeps_files(lambda root: sorted(root.rglob("*.wav")),
                       lambda root: asd("train", "--data", root, "--machine", "fan", "--method", "ae", "--epochs", "1",
                                        "--out", where(root), "--force", "--quiet"))


def folder_with_a_users_file(env: Env) -> tuple[Path, Path]:
    out = env.tmp / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    return env.data(), out


def finished_run_with_a_users_file(env: Env) -> tuple[Path, Path]:
    root, out = env.data(), env.tmp / "run"
    asd("train", "--data", root, "--machine", "fan", "--method", "ae", "--epochs", "1", "--out", out, "--quiet")
    (out / "notes.txt").write_text("keep")
    return root, out


def force_train(epochs: str) -> Callable[[tuple[Path, Path]], Any]:
    return keeps_files(lambda made: [p for p in made[1].iterdir() if p.suffix in (".tex", ".txt")],
                       lambda made: asd("train", "--data", made[0], "--machine", "fan", "--method", "ae",
                                        "--epochs", epochs, "--out", made[1], "--force", "--quiet"))


def broken_then_fixed_training_clip(env: Env) -> tuple[Path, Path, Path, bytes]:
    root = env.data()
    victim = train_clips(root)[0]
    good = victim.read_bytes()
    victim.write_bytes(b"RIFF\x00\x00not a wav")
    return root, env.tmp / "run", victim, good


def fail_then_rerun(made: tuple[Path, Path, Path, bytes]) -> str:
    root, out, victim, good = made
    args = ("train", "--data", root, "--machine", "fan", "--method", "ae", "--epochs", "1", "--out", out, "--quiet")
    try:
        asd(*args)
    except CliError as err:
        assert victim.name in str(err) and not out.exists(), err
    else:
        raise AssertionError("training on a broken clip did not fail")
    victim.write_bytes(good)
    return asd(*args)  # the corrected rerun needs no --force


def truncated_model(env: Env) -> tuple[Path, Path]:
    root, out = env.data(), env.tmp / "run"
    asd("train", "--data", root, "--machine", "fan", "--method", "ae", "--epochs", "1", "--out", out, "--quiet")
    model = out / "model.pt"
    model.write_bytes(model.read_bytes()[:100])
    return root, out


def retrain_after_truncation(made: tuple[Path, Path]) -> str:
    root, out = made
    return asd("train", "--data", root, "--machine", "fan", "--method", "ae", "--epochs", "1", "--out", out, "--quiet")


def mixed_layouts(env: Env) -> Path:
    from asdlib.synth import generate

    root = env.tmp / "mixed"
    root.mkdir()
    shutil.copytree(env.tiny / "fan", root / "fan")
    generate(env.tmp / "b", layout="dcase2022", scale="tiny", machines=["bearing"], seed=1, progress=False)
    shutil.move(str(env.tmp / "b" / "bearing"), root / "bearing")
    return root


def ae_run_and_a_short_test_clip(env: Env) -> tuple[Path, Path, Path]:
    root, out = env.data(), env.tmp / "run"
    asd("train", "--data", root, "--machine", "fan", "--method", "ae", "--epochs", "1", "--out", out, "--quiet")
    short = sorted((root / "fan" / "test").glob("*.wav"))[0]
    wav(short, 0.01 + np.zeros(SR // 10))  # 0.1 s
    return root, out, short


def help_text(*argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        try:
            from asdlib.cli import main

            main(list(argv))
        except SystemExit:
            pass
    return out.getvalue()


def check_help(*needles: str) -> Callable[[str, Any], None]:
    def check(result: str, made: Any) -> None:
        missing = [n for n in needles if n not in result]
        assert not missing, f"help text lacks {missing}"
    return check


def check_trained(result: str, made: Any) -> None:
    assert result.startswith("trained"), f"expected a new training, got {result!r}"



CASES: list[Case] = [
    # --- feature cache: keyed on the content of the file
    Case("cache/wav-rewritten-same-size-mtime-restored", rewritten_same_size_and_mtime,
         lambda made: FeatureCache(made[1]).get(made[0]), None, check=check_fresh_features),
    # --- index: data roots
    Case("index/broken-symlink", broken_link, index, DatasetLayoutError,
         r"1 symbolic link\(s\) .*normal_id_00_00000099\.wav: broken symbolic link to .*gone\.wav"
         r", which does not exist\n.*`--skip-unknown` on the command line, on_unknown='warn' in Python"),
    Case("index/broken-symlink-skipped-on-request", broken_link, lambda r: index(r, on_unknown="warn"),
         UserWarning, r"normal_id_00_00000099\.wav: broken symbolic link.*1 row\(s\) skipped",
         check=rows(24)),
    Case("index/macos-metadata-skipped", macos_metadata, index, UserWarning,
         r"skipped macOS metadata under .*: 2 AppleDouble file\(s\) '\._\*\.wav' \(Finder metadata, not "
         r"audio\), e\.g\. .*/fan/train/\._normal_id_00_00000000\.wav and the folder\(s\) .*/__MACOSX",
         check=rows(24)),
    Case("index/unknown-file-name", unknown_name, index, DatasetLayoutError,
         r"recording 1\.wav: file name .* matches no DCASE naming scheme.*"
         r"`--skip-unknown` on the command line, on_unknown='warn' in Python"),
    Case("cli/index-unknown-file-name", unknown_name, lambda r: asd("index", r), CliError,
         r"exit 2: asd index: error: .*recording 1\.wav.*`--skip-unknown` on the command line"),
    Case("index/missing-root", lambda env: env.tmp / "nowhere", index, DatasetLayoutError,
         r"dataset root .*nowhere does not exist"),  # handled before issue 12
    # --- audio files
    Case("audio/silent-clip", lambda env: wav(env.tmp / "silent.wav", np.zeros(SR)), load_audio,
         AudioWarning, r"silent\.wav: silent clip, every sample is 0"),
    Case("audio/float-samples-beyond-1", lambda env: wav(env.tmp / "loud.wav", 1.5 * np.sin(np.arange(SR) / 5), "FLOAT"),
         load_audio, AudioWarning, r"loud\.wav: float samples reach 1\.5, beyond the \[-1, 1\] range"),
    Case("audio/missing-file", lambda env: env.tmp / "missing.wav", load_audio, AudioError,
         r"missing\.wav: no such audio file"),  # handled before issue 12
    Case("audio/empty-file", file_bytes("empty.wav", b""),
         load_audio, AudioError, r"empty\.wav: empty file \(0 bytes\)"),  # handled before issue 12
    Case("audio/truncated-wav", truncated_wav,
         load_audio, AudioError, r"cut\.wav: truncated WAV"),  # handled before issue 12
    Case("audio/nan-samples", lambda env: wav(env.tmp / "nan.wav", np.r_[np.zeros(10), np.nan], "FLOAT"),
         load_audio, AudioError, r"nan\.wav: the audio holds non-finite samples"),  # handled before issue 12
    # --- training clips
    Case("train/silent-training-clips-features", silent_training_clips, features_then_check, AudioError,
         r"2 of the 12 training clip\(s\) are silent.*normal_id_\d\d_\d+\.wav\n  .*normal_id_\d\d_\d+\.wav\n"
         r"Move these files out of the train/ folder"),
    Case("train/silent-training-clips-waves", silent_training_clips, lambda paths: D.check_training_clips(paths), AudioError,
         r"2 of the 12 training clip\(s\) are silent"),
    # --- scores files (asd evaluate)
    Case("scores/missing-file", lambda env: env.tmp / "nope.csv", read_scores, FileNotFoundError,
         r"scores file not found: .*nope\.csv"),
    Case("scores/empty-0-bytes", scores_file(b"", "empty.csv"), read_scores, ValueError,
         r"empty\.csv: empty file \(0 bytes\); expected a CSV with the columns \['path', 'layout'"),
    Case("scores/blank-lines-only", scores_file("\n\n  \n", "blank.csv"), read_scores, ValueError,
         r"blank\.csv: not a readable CSV file \(No columns to parse from file\)"),
    Case("scores/binary-garbage", scores_file(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "plot.csv"),
         read_scores, ValueError, r"plot\.csv: not a readable CSV file \('utf-8' codec can't decode"),
    Case("scores/json-not-csv", scores_file('{"path": "a.wav", "score": 1}\n', "scores.json"), read_scores,
         ValueError, r"scores\.json: missing column\(s\) \['path', 'machine_type', 'unit', 'label', 'score'\]"),
    Case("scores/missing-columns", scores_edit(lambda df: df.drop(columns=["label", "score"])), read_scores,
         ValueError, r"scores\.csv: missing column\(s\) \['label', 'score'\] \(found \['path', 'layout', "
                     r"'machine_type', 'unit', 'domain'\]\); a scores file needs .*`asd score` writes "
                     r"\['path', 'layout', 'machine_type', 'unit', 'domain', 'label', 'score'\]"),
    Case("scores/header-only", scores_edit(lambda df: df.iloc[:0]), read_scores, ValueError,
         r"scores\.csv: no rows \(only a header\)"),
    Case("scores/non-numeric-score", scores_edit(set_score(1, "abc")), read_scores, ValueError,
         r"scores\.csv: 1 non-numeric, missing or non-finite score\(s\) \(values \['abc'\]\), "
         r"at line 3 \('fan/test/normal_id_00_00000001\.wav'\)"),
    Case("scores/infinite-score", scores_edit(set_score(2, np.inf)), read_scores, ValueError,
         r"scores\.csv: 1 non-numeric, missing or non-finite score\(s\) \(values \['inf'\]\), at line 4 "),
    Case("scores/missing-score", scores_edit(set_score(0, None)), read_scores, ValueError,
         r"scores\.csv: 1 non-numeric, missing or non-finite score\(s\) \(values \['\(empty\)'\]\), at line 2 "),
    Case("scores/duplicated-row", scores_edit(lambda df: pd.concat([df, df.iloc[[1]]], ignore_index=True)),
         read_scores, ValueError,
         r"scores\.csv: 1 row\(s\) repeat an earlier row exactly, at line 6 \('fan/test/normal_id_00_00000001\.wav'\)"),
    Case("scores/duplicated-path",
         scores_edit(lambda df: df.assign(path=df["path"].where(df.index != 3, df["path"][2]))),
         read_scores, ValueError,
         r"scores\.csv: 1 path\(s\) scored more than once with different values: "
         r"'fan/test/anomaly_id_00_00000000\.wav' at lines 4, 5"),
    Case("scores/empty-path", scores_edit(lambda df: df.assign(path=df["path"].where(df.index != 0, ""))),
         read_scores, ValueError, r"scores\.csv: 1 row\(s\) without a path, at line 2$"),
    Case("cli/evaluate-empty-scores", scores_file(b"", "empty.csv"), lambda p: asd("evaluate", "--scores", p),
         CliError, r"exit 2: asd evaluate: error: .*empty\.csv: empty file \(0 bytes\)"),
    Case("cli/evaluate-binary-scores", scores_file(bytes(range(256)) * 4, "scores.bin"),
         lambda p: asd("evaluate", "--scores", p), CliError,
         r"exit 2: asd evaluate: error: .*scores\.bin: not a readable CSV file"),
    Case("cli/evaluate-duplicated-rows", scores_edit(lambda df: pd.concat([df, df], ignore_index=True)),
         lambda p: asd("evaluate", "--scores", p), CliError,
         r"exit 2: asd evaluate: error: .*scores\.csv: 4 row\(s\) repeat an earlier row exactly, at line 6 "),
    # --- training: settings are checked before any work starts, and a refused start leaves nothing
    Case("train/zero-optimisation-steps", data_and_out, train_leaving_nothing("--method", "contrastive-hf", "--epochs", "2"),
         CliError, r"48 training segments \(12 clips x segments_per_clip=4\) give no full batch of batch_size=64: "
                   r"training would run zero optimisation steps\. Lower the batch size"),
    Case("train/epochs-0", data_and_out, train_leaving_nothing("--method", "ae", "--epochs", "0"), CliError,
         r"setting epochs must be an integer >= 1, got 0"),
    Case("train/set-epochs-0", data_and_out, train_leaving_nothing("--method", "ae", "--set", "epochs=0"), CliError,
         r"setting epochs must be an integer >= 1, got 0"),
    Case("train/epochs-given-twice", data_and_out, train_leaving_nothing("--method", "ae", "--epochs", "2", "--set", "epochs=3"),
         CliError, r"give the number of epochs once"),
    Case("train/epochs-not-an-integer", data_and_out, train_leaving_nothing("--method", "ae", "--set", "epochs=1.5"),
         CliError, r"setting epochs must be an integer >= 1, got 1\.5"),
    Case("train/lr-not-a-number", data_and_out, train_leaving_nothing("--method", "ae", "--set", "lr=abc"), CliError,
         r"setting lr must be a positive finite number, got 'abc'"),
    Case("train/seed-negative", data_and_out, train_leaving_nothing("--method", "ae", "--set", "seed=-1"), CliError,
         r"setting seed must be an integer >= 0, got -1"),
    Case("train/width-0", data_and_out, train_leaving_nothing("--method", "contrastive", "--set", "width=0"), CliError,
         r"setting width must be an integer >= 1, got 0"),
    Case("train/batch-size-0", data_and_out, train_leaving_nothing("--method", "contrastive", "--set", "batch_size=0"),
         CliError, r"setting batch_size must be an integer >= 2, got 0"),
    Case("train/scorer-unknown", data_and_out, train_leaving_nothing("--method", "contrastive", "--set", "scorer=bogus"),
         CliError, r"unknown scorer 'bogus'; choose one of"),
    Case("train/k-0", data_and_out, train_leaving_nothing("--method", "contrastive", "--set", "k=0"), CliError,
         r"setting k must be an integer >= 1, got 0"),
    Case("train/hf-band-unknown", data_and_out, train_leaving_nothing("--method", "contrastive-hf", "--set", "hf_band=mid"),
         CliError, r"unknown hf_band 'mid'; choose one of high, low"),
    Case("train/setting-unknown", data_and_out, train_leaving_nothing("--method", "ae", "--set", "learning_rate=1"),
         CliError, r"unknown setting\(s\) \['learning_rate'\]"),
    Case("train/failed-start-does-not-block-the-rerun", broken_then_fixed_training_clip, fail_then_rerun, None,
         check=check_trained),
    Case("train/truncated-model-is-retrained", truncated_model, retrain_after_truncation, None, check=check_trained),
    # --- --force replaces asdlib run directories only, never data or a user's files
    Case("force/out-is-the-data", lambda env: env.data(), force_into_data(lambda root: root), CliError,
         r"--out .* is inside the data folder"),
    Case("force/out-inside-the-data", lambda env: env.data(), force_into_data(lambda root: root / "fan"), CliError,
         r"--out .*fan is inside the data folder"),
    Case("force/out-contains-the-data", lambda env: env.data(), force_into_data(lambda root: root.parent), CliError,
         r"--out .* contains the data folder"),
    Case("force/folder-with-a-users-file", folder_with_a_users_file, force_train("1"), CliError,
         r"mine is not empty and is not an asdlib run directory.*--force replaces run directories only"),
    Case("force/run-with-a-users-file", finished_run_with_a_users_file, force_train("2"), CliError,
         r"holds files that are not part of a run \(notes\.txt\); --force replaces run directories only"),
    # --- scoring and whole runs
    Case("score/truncated-model-file", truncated_model,
         lambda made: asd("score", "--run", made[1], "--data", made[0], "--out", made[1].parent / "s.csv"), CliError,
         r"model\.pt cannot be read \(.*\); the file is truncated or corrupt: train the run again"),
    Case("score/ae-clip-too-short", ae_run_and_a_short_test_clip,
         lambda made: asd("score", "--run", made[1], "--data", made[0], "--out", made[1].parent / "s.csv"), CliError,
         r"anomaly_id_00_00000000\.wav: the clip has 4 log-mel frames, fewer than the 5 frames \(ae_frames\)"),
    Case("run/mixed-layouts", mixed_layouts,
         lambda root: asd("run", "--data", root, "--method", "ae", "--epochs", "1", "--out", root.parent / "r", "--quiet"),
         CliError, r"the data mixes layouts \(dcase2020: fan; dcase2022: bearing\)"),
    Case("help/settings-and-variables", lambda env: None,
         lambda made: help_text("--help") + help_text("download", "--help") + help_text("train", "--help"), None,
         check=check_help("ASD_DATA", "ASD_DATA_DIR", "ASD_CACHE", "ASD_SYNTH_SCALE", "ASD_SAMPLES", "ASD_ZENODO_URL",
                          "--skip-unknown", "hf_cutoff_hz")),
]


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from asdlib.synth import generate

    root = tmp_path_factory.mktemp("tiny") / "d"
    generate(root, layout="dcase2020", scale="tiny", machines=["fan"], seed=1, progress=False)
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_CACHE", str(tmp_path / "asd-cache"))


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, tiny: Path) -> None:
    run_case(case, Env(tmp_path / "case", tiny))


def main() -> None:
    """Print every case with the message it gets now (``python tests/test_bad_input.py``)."""
    from asdlib.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ASD_CACHE"] = str(Path(tmp) / "asd-cache")
        tiny_root = Path(tmp) / "tiny"
        generate(tiny_root, layout="dcase2020", scale="tiny", machines=["fan"], seed=1, progress=False)
        for i, case in enumerate(CASES):
            env = Env(Path(tmp) / f"case{i}", tiny_root)
            try:
                msg = run_case(case, env)
            except AssertionError as exc:
                msg = f"FAILS: {exc}"
            print(f"## {case.id}\n{msg.replace(tmp, '<tmp>')}\n")


if __name__ == "__main__":
    sys.exit(main())
