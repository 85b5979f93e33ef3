"""The experiment store: the book's heavy runs, computed once, kept as DCASE score files.

Explained in chapter 7 ("Where the numbers come from"); read by chapters 7-11. Each stored run
is a folder ``results/<experiment>/<run id>/`` with one gzipped DCASE submission file per machine
type and unit (``anomaly_score_<type>_id_XX.csv.gz`` / ``..._section_XX_test.csv.gz``: clip
file name, score) and ``run.json``, its provenance. The plan of every run is :data:`EXPERIMENTS`.

A run is stale when the code that trains and scores (:data:`CODE_MODULES`, compared without
docstrings and comments), the asdlib version or its data no longer match: :func:`check` says
so, :func:`load` refuses it, ``asd experiments`` computes it again.
"""
from __future__ import annotations

import ast
import dataclasses
import gzip
import hashlib
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import __version__

__all__ = ["Run", "EXPERIMENTS", "CODE_MODULES", "RECOMPUTE_SAMPLE", "StoreError", "StaleStoreError", "DataMismatchError",
           "store_dir", "code_fingerprint", "plan", "dataset_index", "compute", "run_all", "check",
           "load", "provenance", "run_record", "recompute", "read_run_files", "train_and_score", "live",
           "flattening_epoch", "FLAT_WINDOW", "FLAT_TOLERANCE"]

#: the modules whose code trains and scores a run: a change in any of them makes the store stale
CODE_MODULES = ("augment", "data", "dcase", "embedding", "features", "losses", "methods", "models", "pipeline",
                "runs", "scoring", "selection", "train")
STORE_FORMAT = 1
DIGITS = 7  # significant digits of a stored score (the embeddings are float32)


class StoreError(ValueError):
    """A stored run that is missing, truncated or does not fit the data."""


class StaleStoreError(StoreError):
    """A stored run computed by other code, another asdlib version or other data."""


class DataMismatchError(StoreError):
    """Stored runs whose test clips are not those of the data they are read against."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One stored run: a method with settings, trained with one seed on (a subset of) a data set.

    Fields (besides experiment, dataset, method and seed): ``n_train``: the first ``n_train``
    normal training clips of each unit (of ``units`` only, when given;
    :func:`asdlib.data.first_training_clips`); ``machines``: the machine types trained and scored
    (all when empty); ``overrides``: settings on top of the experiment's; ``scorer``: score the
    trained run with this scorer instead of its own; ``name``: the configuration's label.
    """

    experiment: str
    dataset: str
    method: str
    seed: int = 0
    n_train: int | None = None
    units: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    overrides: tuple[tuple[str, object], ...] = ()
    scorer: str | None = None
    name: str = ""

    @property
    def label(self) -> str:
        """The configuration's name in tables: ``name``, else the method (and scorer)."""
        return self.name or (f"{self.method} + {self.scorer}" if self.scorer else self.method)

    @property
    def run_id(self) -> str:
        """The run's folder name: label, training size and seed (file-name safe)."""
        slug = "".join(c if c.isalnum() or c in "-." else "-" for c in self.label.replace(" + ", "+")).strip("-")
        while "--" in slug:
            slug = slug.replace("--", "-")
        n = f"-n{self.n_train}" if self.n_train is not None else ""
        return f"{slug}{n}-s{self.seed}"

    def settings(self) -> dict:
        """Training settings: the dataset's schedule for the method, then ``overrides``."""
        return {**DATASETS[self.dataset]["settings"].get(self.method, {}), **dict(self.overrides)}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["units"], d["machines"] = list(self.units), list(self.machines)
        d["overrides"] = dict(self.overrides)
        return d


# --------------------------------------------------------------------------- the plan
# the book's schedule (asdlib.book.BOOK_SETTINGS, 10 epochs), but the autoencoder for 11: its held-out-normal
# curve reaches its plateau at epoch 10 (benchmarks/bench_training_length.py, normal clips only)
_BOOK = {"ae": {"epochs": 11}}
#: data sets of the store; settings per method, fixed before any run (real data: the official
#: 100 autoencoder epochs, 40 epochs for the encoders with the held-out-normal epoch rule)
DATASETS: dict[str, dict] = {
    "synth-dcase2020": {"kind": "synth", "layout": "dcase2020", "scale": "curve", "settings": _BOOK},
    "synth-dcase2022": {"kind": "synth", "layout": "dcase2022", "scale": "study", "settings": _BOOK},
    "real-toycar": {"kind": "real", "layout": "dcase2020", "settings": {
        "ae": {"epochs": 100}, "contrastive": {"epochs": 40}, "contrastive-hf": {"epochs": 40}}},
}
METHODS = ("ae", "contrastive", "contrastive-hf", "knn-stats")
TRAINING_FREE = ("knn-stats", "gmm-stats")


def _grid(experiment: str, dataset: str, seeds: Sequence[int], sizes: Sequence[int | None],
          methods: Sequence[str] = METHODS, **kw) -> list[Run]:
    return [Run(experiment, dataset, m, s, n, **kw) for n in sizes for m in methods
            for s in (seeds[:1] if m in TRAINING_FREE else seeds)]


def _ablations() -> list[Run]:
    on = {"fan", "valve"}
    configs = [("off", "contrastive", {}), ("default", "contrastive-hf", {}),
               ("auto cutoff", "contrastive-hf", {"hf_cutoff_hz": "auto"}),
               ("low-band control", "contrastive-hf", {"hf_band": "low"}),
               ("cutoff 500 Hz", "contrastive-hf", {"hf_cutoff_hz": 500.0}),
               ("cutoff 4000 Hz", "contrastive-hf", {"hf_cutoff_hz": 4000.0}),
               ("mode mask", "contrastive-hf", {"hf_mode": "mask"}),
               ("reading pseudo-anomaly", "contrastive-hf", {"hf_role": "pseudo-anomaly"}),
               ("reading suppression", "contrastive-hf", {"hf_role": "suppression"})]
    return [Run("ablations", "synth-dcase2020", m, s, 128, machines=tuple(sorted(on)),
                overrides=tuple(sorted(o.items())), name=name) for name, m, o in configs for s in (0, 1, 2)]


def _experiments() -> dict[str, list[Run]]:
    scorers = ("knn", "knn-domain", "knn-smote", "knn-zscore", "knn-rescale")
    return {
        # chapter 7 (and 9's all-type on/off, 10's N = 128): the study scale, five seeds
        "dcase2020": _grid("dcase2020", "synth-dcase2020", range(5), [128]),
        # chapter 8: the study scale of 2022, three seeds; every scorer on one encoder
        "dcase2022": _grid("dcase2022", "synth-dcase2022", range(3), [None])
        + [Run("dcase2022", "synth-dcase2022", "contrastive-hf", 0, scorer=sc) for sc in scorers],
        # chapter 9: the spectrum augmentation's settings on fan and valve, three seeds
        "ablations": _ablations(),
        # chapter 11: real ToyCar, three seeds; and its learning curve on id_04
        "real-toycar": _grid("real-toycar", "real-toycar", range(3), [None]),
        "real-toycar-curve": _grid("real-toycar-curve", "real-toycar", range(3), [16, 32, 64, 128],
                                   units=("id_04",)),
        # chapter 10: the learning curve (N = 128 is the dcase2020 experiment)
        "learning-curve": _grid("learning-curve", "synth-dcase2020", range(3), [16, 32, 64, 256]),
    }


#: experiment name -> its runs, in the order ``asd experiments`` computes them
EXPERIMENTS: dict[str, list[Run]] = _experiments()
#: the runs that CI computes again and compares with the store (one training-free, one short contrastive)
RECOMPUTE_SAMPLE = (("real-toycar", "knn-stats-s0"), ("real-toycar-curve", "contrastive-n16-s0"))


def plan(experiments: Iterable[str] | None = None) -> list[Run]:
    """The runs of ``experiments`` (all by default), checked by name."""
    names = list(EXPERIMENTS) if experiments is None else list(experiments)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; the store has {', '.join(EXPERIMENTS)}")
    return [r for n in names for r in EXPERIMENTS[n]]


def find_run(experiment: str, run_id: str) -> Run:
    """The planned run ``run_id`` of ``experiment``."""
    for r in plan([experiment]):
        if r.run_id == run_id:
            return r
    raise ValueError(f"experiment {experiment!r} has no run {run_id!r}")


# --------------------------------------------------------------------------- training length
#: :func:`flattening_epoch`'s defaults, fixed before any curve was read: a 5-epoch trailing mean, and
#: "flat" once it is within 10 % of the curve's whole gain of its best value
FLAT_WINDOW, FLAT_TOLERANCE = 5, 0.10


def flattening_epoch(curve: Sequence[float], higher_is_better: bool = True, window: int = FLAT_WINDOW,
                     tolerance: float = FLAT_TOLERANCE) -> dict:
    """Where a validation curve (one value per epoch, on held-out normal clips) stops improving.

    The curve is smoothed by a trailing mean over ``window`` epochs. Its gain is the smoothed
    best minus the first smoothed value; it has reached its plateau at the first epoch whose
    smoothed value is within ``tolerance`` x gain of the best. It has *flattened* when at least
    ``window`` epochs follow that epoch (and none of them rose further than the tolerance).

    Args:
        curve: the criterion per epoch, from epoch 0.
        higher_is_better: False for an error (e.g. a reconstruction error).
        window, tolerance: the smoothing window (epochs) and the share of the gain.

    Returns:
        ``{"epoch", "flattened", "gain", "epochs"}``: the plateau's first epoch (counted from
        0), whether the curve flattened within its epochs, the smoothed gain and the curve's length.
    """
    v = np.asarray(curve, dtype=np.float64)
    if v.ndim != 1 or not np.isfinite(v).all():
        raise ValueError(f"flattening_epoch: the curve must be one finite value per epoch, got {v!r}")
    if window < 1 or not 0 < tolerance < 1:
        raise ValueError(f"flattening_epoch: window must be >= 1 and tolerance in (0, 1), got {window}, {tolerance}")
    if len(v) < window:
        raise ValueError(f"flattening_epoch: a curve of {len(v)} epochs is shorter than the window of {window}")
    v = v if higher_is_better else -v
    smooth = np.convolve(v, np.ones(window) / window, mode="valid")  # smooth[i]: epochs i .. i + window - 1
    gain = float(smooth.max() - smooth[0])
    reached = int(np.flatnonzero(smooth >= smooth.max() - tolerance * max(gain, 0.0))[0]) + window - 1
    return {"epoch": reached, "flattened": bool(reached + window <= len(v) - 1 or gain <= 0), "gain": gain,
            "epochs": int(len(v))}


# --------------------------------------------------------------------------- fingerprints
def store_dir() -> Path:
    """``ASD_RESULTS``, else ``results/`` of the checkout this package belongs to (or the current one)."""
    from .settings import results_dir

    given = results_dir()
    if given is not None:
        return given
    from .settings import project_root

    here = Path(__file__).resolve().parents[1]
    if (here / "_toc.yml").exists():
        return here / "results"
    root = project_root()
    return (root or Path.cwd()) / "results"


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_fingerprint(modules: Sequence[str] = CODE_MODULES, package: Path | None = None) -> str:
    """Hash of the code of ``modules``, without docstrings and comments (``ast.unparse``)."""
    package = package or Path(__file__).resolve().parent
    h = hashlib.sha1()
    for name in modules:
        tree = _strip_docstrings(ast.parse((package / f"{name}.py").read_text(encoding="utf-8")))
        h.update(f"{name}\n{ast.unparse(tree)}\n".encode())
    return h.hexdigest()[:16]


def clip_fingerprint(names: Iterable[tuple[str, str]]) -> str:
    """Hash of a list of ``(machine type, clip file name)``: which clips a run scored."""
    h = hashlib.sha1()
    for mt, name in sorted(names):
        h.update(f"{mt}/{name}\n".encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- data
def real_toycar_root() -> Path | None:
    """The real ToyCar set: ``ASD_REAL_TOYCAR``, else ``../shared/data/real-toycar/dcase2020`` beside the
    checkout, else the copy ``asd real-toycar`` downloads into ``$ASD_DATA_DIR/real-toycar/dcase2020``."""
    from .settings import real_toycar_dir

    given = real_toycar_dir()
    if given is not None:
        return given if given.is_dir() else None
    from .settings import project_root

    from .settings import data_dir

    for root in filter(None, (project_root(), Path(__file__).resolve().parents[1])):
        p = root.parent / "shared" / "data" / "real-toycar" / "dcase2020"
        if p.is_dir():
            return p
    downloaded = data_dir() / "real-toycar" / "dcase2020"  # asd real-toycar (the official clips, cut alike)
    return downloaded if downloaded.is_dir() else None


def dataset_index(dataset: str) -> pd.DataFrame:
    """The index of a store data set (a synthetic one is generated on first use)."""
    from .data import index

    spec = DATASETS[dataset]
    if spec["kind"] == "synth":
        from .synth import ensure

        return index(ensure(spec["layout"], scale=spec["scale"]))
    root = real_toycar_root()
    if root is None:
        raise StoreError(f"data set {dataset!r}: the real ToyCar folder was not found (set ASD_REAL_TOYCAR, or "
                         "place shared/data/real-toycar beside the checkout)")
    return index(root)


def _subset(df: pd.DataFrame, run: Run) -> pd.DataFrame:
    from .data import first_training_clips

    if run.machines:
        df = df[df["machine_type"].isin(run.machines)]
    if run.n_train is None:
        return df
    if not run.units:
        return first_training_clips(df, run.n_train)
    keep = df["unit"].isin(run.units)
    return pd.concat([df[~keep], first_training_clips(df[keep], run.n_train)]).sort_index()


# --------------------------------------------------------------------------- files
def _score_file(machine_type: str, unit: str) -> str:
    from .submission import submission_file_names

    return submission_file_names(machine_type, unit)[0] + ".gz"


def _gz_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(text.encode())
    return buf.getvalue()


def _score_text(g: pd.DataFrame) -> str:
    g = g.assign(file=[Path(str(p)).name for p in g["path"]]).sort_values("file", kind="stable")
    return "".join(f"{f},{s:.{DIGITS}g}\n" for f, s in zip(g["file"], g["score"]))


def _write_run_folder(folder: Path, scores: pd.DataFrame, record: dict) -> None:
    files = {}
    for (mt, unit), g in scores.groupby(["machine_type", "unit"], sort=True):
        text = _score_text(g)
        name = _score_file(str(mt), str(unit))
        (folder / name).write_bytes(_gz_bytes(text))
        files[name] = {"sha1": hashlib.sha1(text.encode()).hexdigest(), "clips": len(g),
                       "machine_type": str(mt), "unit": str(unit)}
    record["files"] = files
    (folder / "run.json").write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")


def read_run_files(folder: Path) -> tuple[dict, pd.DataFrame]:
    """``(run.json, scores)`` of a stored run folder: ``machine_type, unit, file, score``; every file checked."""
    folder = Path(folder)
    meta_path = folder / "run.json"
    if not meta_path.exists():
        raise StoreError(f"{folder}: no run.json (the run was never stored, or not completely): run make experiments")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise StoreError(f"{meta_path}: not readable JSON ({exc}): run make experiments") from None
    tables = []
    for name, info in sorted(meta.get("files", {}).items()):
        path = folder / name
        if not path.exists():
            raise StoreError(f"{path}: stored score file missing: run make experiments")
        try:
            text = gzip.decompress(path.read_bytes()).decode()
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise StoreError(f"{path}: truncated or corrupt ({exc}): run make experiments") from None
        if hashlib.sha1(text.encode()).hexdigest() != info["sha1"]:
            raise StoreError(f"{path}: its content differs from the digest in run.json (truncated or edited): "
                             "run make experiments")
        rows = [line.split(",") for line in text.splitlines()]
        if len(rows) != info["clips"] or any(len(r) != 2 for r in rows):
            raise StoreError(f"{path}: expected {info['clips']} rows of 'file,score'")
        tables.append(pd.DataFrame({"machine_type": info["machine_type"], "unit": info["unit"],
                                    "file": [r[0] for r in rows], "score": [float(r[1]) for r in rows]}))
    if not tables:
        raise StoreError(f"{folder}: run.json lists no score files")
    return meta, pd.concat(tables, ignore_index=True)


# --------------------------------------------------------------------------- computing
def _machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "threads": torch.get_num_threads()}


def _selection(out: Path) -> dict:
    """Per run directory of a run_pipeline folder: the chosen epoch, why, and the validation curve."""
    sel = {}
    for cfg_path in sorted(out.glob("*/config.json")):
        meta = json.loads(cfg_path.read_text())
        entry = dict(meta.get("selection", {}))
        if meta.get("hf_cutoffs"):
            entry["hf_cutoffs"] = meta["hf_cutoffs"]  # the per-type cutoffs an automatic run trained with
        hist = cfg_path.parent / "history.csv"
        if hist.exists():
            h = pd.read_csv(hist)
            entry["history"] = {c: [round(float(v), 6) for v in h[c]] for c in ("loss", "val_margin", "val_acc")
                                if c in h}
        sel[cfg_path.parent.name] = entry
    return sel


def auto_choices(out: Path) -> dict:
    """knn-auto's choice and domain imbalance per memory of a run (training clips only)."""
    from .runs import load_memory, load_run
    from .scoring import unit_keys

    found = {}
    for mem_path in sorted(out.glob("*/memory.npz")):
        run = load_run(mem_path.parent)
        scorer = run["method"].scorer()
        if not hasattr(scorer, "CANDIDATES"):
            continue
        mem = load_memory(mem_path.parent)
        scorer.fit(mem["emb"], unit_keys(mem["types"], mem["units"]), list(mem["domains"]))
        found[mem_path.parent.name] = {"chosen": scorer.choice_,
                                       "imbalance": {c: round(float(v), 6) for c, v in scorer.imbalance_.items()}}
    return found


# --------------------------------------------------------------------------- cached trainings
def run_key(df: pd.DataFrame, method: str, machines: Iterable[str] | None, **overrides) -> str:
    """Cache key of a run: asdlib, its training code, front-end revision, configuration, machine types, data."""
    from .data import fingerprint
    from .features import FRONTEND_REVISION
    from .methods import method_config

    cfg = method_config(method, **overrides)
    types = sorted(machines) if machines else sorted(df["machine_type"].unique())
    used = df[df["machine_type"].isin(types)]
    payload = {"asdlib": __version__, "code": code_fingerprint(), "frontend": FRONTEND_REVISION, "config": cfg.relevant(),
               "types": types, "data": fingerprint(used)}
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cached_run(df: pd.DataFrame, method: str, machines: Iterable[str] | None = None, progress: bool = False,
               **overrides) -> tuple[pd.DataFrame, Path]:
    """Results of ``method`` on ``df`` (an index), trained once and reused while nothing changed.

    Returns ``(results, run_dir)``; ``run_dir/scores.csv`` holds the per-clip scores.
    """
    from .files import locked
    from .pipeline import run_pipeline
    from .settings import cache_dir

    machines = list(machines) if machines else None
    key = run_key(df, method, machines, **overrides)
    out = cache_dir() / "runs" / f"{method}-{key}"
    done = out / "results.csv"
    if done.exists():
        return pd.read_csv(done), out
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out.parent / f"{out.name}.lock", what=f"the cached run {out.name}"):  # two notebooks computing the same run wait for each other
        if done.exists():
            return pd.read_csv(done), out
        results = run_pipeline(df, method, out, machines=machines, progress=progress, **overrides)
    return results, out


def train_and_score(run: Run, df: pd.DataFrame, progress: bool = False) -> tuple[pd.DataFrame, Path, pd.DataFrame]:
    """Train ``run`` on the index ``df`` (or reuse a cached training) and score its test clips.

    Returns ``(subset of df it used, run_pipeline folder, scores)``.
    """
    from .pipeline import run_dir_for, score

    sub = _subset(df, run)
    machines = sorted(run.machines) if run.machines else None
    _, out = cached_run(sub, run.method, machines, progress=progress, seed=run.seed, **run.settings())
    if run.scorer is None:
        scores = pd.read_csv(out / "scores.csv")
    else:
        types = machines or sorted(sub["machine_type"].unique())
        scores = score(run_dir_for(out, types[0]), sub, scorer=run.scorer)
    return sub, out, scores


def compute(run: Run, progress: bool = False) -> tuple[dict, pd.DataFrame]:
    """Train (or reuse a cached training of) ``run`` and score its test clips: ``(record, scores)``."""
    from .data import fingerprint
    from .methods import method_config

    t0 = time.perf_counter()
    df, out, scores = train_and_score(run, dataset_index(run.dataset), progress=progress)
    cfg = method_config(run.method, seed=run.seed, **run.settings())
    test = df[df["split"] == "test"]
    record = {
        "format": STORE_FORMAT, "run": run.run_id, "experiment": run.experiment, "spec": run.to_dict(),
        "config": cfg.to_dict(), "seed": run.seed, "asdlib": __version__, "code_fingerprint": code_fingerprint(),
        "code_modules": list(CODE_MODULES),
        "data": {"dataset": run.dataset, **{k: v for k, v in DATASETS[run.dataset].items() if k != "settings"},
                 "fingerprint": fingerprint(df), "test_fingerprint": fingerprint(test),
                 "test_clips": clip_fingerprint(zip(test["machine_type"], test["path"].map(lambda p: Path(p).name))),
                 "n_train": int((df["split"] == "train").sum()), "n_test": int(len(test))},
        "selection": _selection(out), "knn_auto": auto_choices(out) if run.scorer is None else {},
        "wall_s": round(time.perf_counter() - t0, 1), "machine": _machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return record, scores


def _is_fresh(meta: dict) -> bool:
    return meta.get("code_fingerprint") == code_fingerprint() and meta.get("asdlib") == __version__ \
        and meta.get("format") == STORE_FORMAT


def run_all(experiments: Iterable[str] | None = None, root: Path | None = None, threads: int | None = 2,
            progress: bool = True, force: bool = False) -> list[str]:
    """Compute every planned run that is missing or stale into the store (resumable).

    Args:
        experiments: experiment names (None: all of :data:`EXPERIMENTS`).
        root: the store folder (default :func:`store_dir`).
        threads: torch threads (None or 0: leave torch's setting).
        progress: show a progress bar.
        force: compute every run again, fresh or not.

    Returns:
        ids: ``<experiment>/<run id>`` of every run computed.
    """
    import torch
    from tqdm.auto import tqdm

    from .files import replace_tree

    if threads:
        torch.set_num_threads(int(threads))
    root = Path(root or store_dir())
    done = []
    runs = plan(experiments)
    bar = tqdm(runs, desc="experiments", unit="run", disable=not progress)
    for run in bar:
        folder = root / run.experiment / run.run_id
        bar.set_postfix_str(f"{run.experiment}/{run.run_id}")
        if not force and (folder / "run.json").exists():
            try:
                meta, _ = read_run_files(folder)
                if _is_fresh(meta):
                    continue
            except StoreError:
                pass
        record, scores = compute(run)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{run.run_id}.tmp-", dir=folder.parent))
        try:
            _write_run_folder(tmp, scores, record)
            replace_tree(tmp, folder)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        done.append(f"{run.experiment}/{run.run_id}")
    return done


# --------------------------------------------------------------------------- checking and reading
def test_data(dataset: str) -> pd.DataFrame | None:
    """An index holding the test clips of a store data set, at the cheapest scale (None: data absent).

    A synthetic set whose test clip counts are the book scale's has the book set's test clips
    (each clip is seeded by its own index), so the book-scale set serves.
    """
    from .data import index

    spec = DATASETS[dataset]
    if spec["kind"] == "synth":
        from .synth import _resolve_scale, ensure

        own, book = _resolve_scale(spec["scale"]), _resolve_scale("book")
        same_test = all(getattr(own, f) == getattr(book, f) for f in ("duration", "n_units_2020", "test_normal_2020",
                                                                      "test_anomaly_2020", "test_normal_2022",
                                                                      "test_anomaly_2022"))
        return index(ensure(spec["layout"], scale="book" if same_test else spec["scale"]))
    root = real_toycar_root()
    return index(root) if root is not None else None


def _test_rows(df: pd.DataFrame, run: Run) -> pd.DataFrame:
    test = df[df["split"] == "test"]
    return test[test["machine_type"].isin(run.machines)] if run.machines else test


def check(experiments: Iterable[str] | None = None, root: Path | None = None, data: bool = False) -> list[str]:
    """The problems of the store: one per planned run that is missing, unreadable or stale.

    Args:
        experiments: experiment names (None: all).
        root: the store folder (default :func:`store_dir`).
        data: also compare each run's test clips (names and content) with the data on this machine
            (:func:`test_data`); a data set that is absent here is skipped.

    Returns:
        problems: one line each; empty when the store is current.
    """
    return _read_checked(experiments, root, data)[0]


def _read_checked(experiments: Iterable[str] | None, root: Path | None, data: bool = False
                  ) -> tuple[list[str], dict[Run, tuple[dict, pd.DataFrame]]]:
    """:func:`check`'s problems, and ``run -> (run.json, scores)`` of every run that could be read."""
    from .data import fingerprint

    root = Path(root or store_dir())
    problems, read = [], {}
    code, planned = code_fingerprint(), plan(experiments)
    tests: dict[str, pd.DataFrame | None] = {}
    for run in planned:
        folder = root / run.experiment / run.run_id
        try:
            meta, _ = read[run] = read_run_files(folder)
        except StoreError as exc:
            problems.append(str(exc))
            continue
        if data:
            if run.dataset not in tests:
                tests[run.dataset] = test_data(run.dataset)
            if tests[run.dataset] is not None and \
                    fingerprint(_test_rows(tests[run.dataset], run)) != meta["data"]["test_fingerprint"]:
                problems.append(f"{folder}: stored results are stale: its test clips differ from the data set "
                                f"{run.dataset!r} on this machine: run make experiments")
                continue
        if meta.get("code_fingerprint") != code:
            problems.append(f"{folder}: stored results are stale: computed by other code (fingerprint "
                            f"{meta.get('code_fingerprint')}, now {code}): run make experiments")
        elif meta.get("asdlib") != __version__:
            problems.append(f"{folder}: stored results are stale: computed by asdlib {meta.get('asdlib')}, this is "
                            f"{__version__}: run make experiments")
        elif meta.get("spec") != run.to_dict():
            problems.append(f"{folder}: stored results are stale: its settings differ from the plan: run make experiments")
    for exp in {r.experiment for r in planned}:
        known = {r.run_id for r in planned if r.experiment == exp}
        extra = sorted(p.name for p in (root / exp).glob("*") if p.is_dir() and not p.name.startswith(".")
                       and p.name not in known) if (root / exp).is_dir() else []
        problems += [f"{root / exp / name}: a stored run that the plan does not list (remove it)" for name in extra]
    return problems, read


def load(experiment: str, df: pd.DataFrame | None = None, root: Path | None = None) -> pd.DataFrame:
    """Every stored run of ``experiment`` as one scores table (``asdlib.metrics`` / ``stats`` columns).

    Args:
        experiment: an experiment name.
        df: an index holding the same test clips (e.g. the book-scale set): paths and labels come
            from it and every stored clip list is checked against it; None: read from the clip names.
        root: the store folder (default :func:`store_dir`).

    Returns:
        scores: columns ``path, layout, machine_type, unit, domain, label, score, method, seed,
            n_train, run``; ``method`` is the run's label.

    Raises:
        StaleStoreError: naming each run that is missing, unreadable or stale.
        DataMismatchError: the stored clip list or clip content differs from ``df``'s test clips.
    """
    from .data import fingerprint, parse_filename

    root = Path(root or store_dir())
    problems, read = _read_checked([experiment], root)
    if problems:
        raise StaleStoreError("stored results are stale or incomplete: run make experiments\n  " + "\n  ".join(problems))
    tables = []
    for run in plan([experiment]):
        folder = root / run.experiment / run.run_id
        meta, s = read[run]
        s = s.assign(method=run.label, seed=run.seed, n_train=run.n_train if run.n_train is not None else -1,
                     run=run.run_id)
        if df is not None:
            test = df[(df["split"] == "test") & df["machine_type"].isin(s["machine_type"].unique())]
            names = test.assign(file=test["path"].map(lambda p: Path(str(p)).name))
            got = clip_fingerprint(zip(s["machine_type"], s["file"]))
            if got != clip_fingerprint(zip(names["machine_type"], names["file"])):
                raise DataMismatchError(f"{folder}: the stored clip list differs from the test clips of the data "
                                 f"({len(s)} stored, {len(names)} in the data): another data set?")
            if fingerprint(_test_rows(df, run)) != meta["data"]["test_fingerprint"]:
                raise DataMismatchError(f"{folder}: the content of the test clips differs from the data given "
                                        "(other recordings, or stored results that are stale: run make experiments)")
            cols = ["path", "layout", "machine_type", "unit", "domain", "label"]
            s = names[cols + ["file"]].merge(s.drop(columns=["unit"]), on=["machine_type", "file"], how="inner")
        else:
            parsed = pd.DataFrame([parse_filename(f"{mt}/test/{f}") for mt, f in zip(s["machine_type"], s["file"])])
            s = s.assign(path=[f"{mt}/test/{f}" for mt, f in zip(s["machine_type"], s["file"])],
                         layout=parsed["layout"].to_numpy(), domain=parsed["domain"].to_numpy(),
                         label=parsed["label"].to_numpy())
        tables.append(s.drop(columns=["file"]))
    return pd.concat(tables, ignore_index=True)


def run_record(experiment: str, run_id: str, root: Path | None = None) -> dict:
    """The provenance record (``run.json``) of one stored run."""
    meta, _ = read_run_files(Path(root or store_dir()) / experiment / run_id)
    return meta


def _flattened(sel: dict) -> str:
    """Whether each validation curve (``val_margin``) of a run flattened (:func:`flattening_epoch`)."""
    said = []
    for v in sel.values():
        curve = v.get("history", {}).get("val_margin")
        if curve and len(curve) >= 5:
            flat = flattening_epoch(curve)
            said.append("no gain" if flat["gain"] <= 0 else f"yes (epoch {flat['epoch']})" if flat["flattened"]
                        else "no")
    return ", ".join(said) or "-"


def provenance(experiment: str, root: Path | None = None) -> pd.DataFrame:
    """One row per stored run of ``experiment``: label, seed, size, chosen epoch(s), whether the
    validation curve flattened (``val_flattened``), wall time, machine."""
    root = Path(root or store_dir())
    rows = []
    for run in plan([experiment]):
        meta = json.loads((root / run.experiment / run.run_id / "run.json").read_text())
        sel = meta.get("selection", {})
        rows.append({"run": run.run_id, "method": run.label, "seed": run.seed, "n_train": run.n_train,
                     "chosen_epoch": ", ".join(f"{v.get('chosen_epoch')}" for v in sel.values()) or "-",
                     "epochs": ", ".join(f"{v.get('epochs_run')}" for v in sel.values()) or "-",
                     "reliability": ", ".join(f"{v['margin_reliability']:.2f}" for v in sel.values()
                                              if v.get("margin_reliability") is not None) or "-",
                     "val_flattened": _flattened(sel),
                     "wall_s": meta.get("wall_s"), "created": meta.get("created"),
                     "code": meta.get("code_fingerprint"), "data": meta["data"]["fingerprint"]})
    return pd.DataFrame(rows)


def recompute(experiment: str, run_id: str, root: Path | None = None) -> dict:
    """Compute a stored run again (a fresh training, with its recorded threads) and compare the scores.

    Args:
        experiment: an experiment name.
        run_id: the run's id (:attr:`Run.run_id`).
        root: the store folder (default :func:`store_dir`).

    Returns:
        result: ``{"run", "clips", "max_abs_diff", "identical", "same_data"}``; identical means
            equal to the stored :data:`DIGITS` significant digits.
    """
    import torch

    root = Path(root or store_dir())
    run = find_run(experiment, run_id)
    meta, stored = read_run_files(root / experiment / run_id)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(meta.get("machine", {}).get("threads") or threads))
    from .settings import cache_dir_set_to

    with tempfile.TemporaryDirectory(prefix="asd-recompute-") as tmp, cache_dir_set_to(tmp):
        try:  # a fresh cache: the run is trained again, not read back
            record, scores = compute(run)
        finally:
            torch.set_num_threads(threads)
    new = scores.assign(file=[Path(str(p)).name for p in scores["path"]],
                        score=[float(f"{v:.{DIGITS}g}") for v in scores["score"]])
    both = stored.merge(new[["machine_type", "file", "score"]], on=["machine_type", "file"], how="outer",
                        suffixes=("_stored", "_new"), indicator=True)
    if (both["_merge"] != "both").any():
        raise StoreError(f"{root / experiment / run_id}: the recomputed run scored other clips than the stored one")
    diff = np.abs(both["score_stored"] - both["score_new"]).max()
    return {"run": f"{experiment}/{run_id}", "clips": len(both), "max_abs_diff": float(diff),
            "identical": bool(diff == 0), "same_data": record["data"]["fingerprint"] == meta["data"]["fingerprint"]}


def live(experiment: str, df: pd.DataFrame, progress: bool = False) -> pd.DataFrame:
    """The runs of ``experiment`` trained here on ``df`` (real DCASE data), as :func:`load`'s table.

    Same methods, settings and seeds as the store; a training size larger than ``df`` holds for some
    unit is replaced by all of that data's training clips (and said so).

    Args:
        experiment: an experiment name.
        df: the index of the data to train and score on.
        progress: show progress bars.

    Returns:
        scores: as :func:`load`.
    """
    parts = []
    for run in plan([experiment]):
        train = df[(df["split"] == "train") & (df["label"].fillna("normal") == "normal")]
        train = train[train["machine_type"].isin(run.machines)] if run.machines else train
        train = train[train["unit"].isin(run.units)] if run.units else train
        if run.n_train is not None and train.groupby(["machine_type", "unit"]).size().min() < run.n_train:
            print(f"{run.experiment}/{run.run_id}: fewer than {run.n_train} training clips per unit here; "
                  "training on all of them")
            run = dataclasses.replace(run, n_train=None)
        _, _, scores = train_and_score(run, df, progress=progress)
        parts.append(scores.assign(method=run.label, seed=run.seed,
                                   n_train=run.n_train if run.n_train is not None else -1, run=run.run_id))
    return pd.concat(parts, ignore_index=True)
