"""A run directory: its files, how they are written atomically, and how a finished run is read back.

Explained in chapter 4 (``book/04_autoencoder_baseline.ipynb``) and chapter 6
(``book/06_contrastive.ipynb``). :mod:`asdlib.train` writes runs, :mod:`asdlib.pipeline` scores
them. The files: ``config.json`` (configuration, data fingerprint, held-out clips, selection),
``checkpoint.pt`` (every epoch, to resume), ``history.csv``, ``validation.npz``, ``model.pt``
(written last: the run is finished) and ``memory.npz`` (the training clips' representations).
A :func:`asdlib.pipeline.run_pipeline` folder holds one run per machine type or ``_shared/``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from . import __version__
from .data import data_root_of
from .files import atomic_path, write_text_atomic
from .methods import MethodConfig, method_for

RUN_FORMAT = 4  # 4: every method has a memory.npz (the autoencoder's: its training clips' errors)
#: the files an asdlib run directory may hold (``force`` deletes a directory only if it holds nothing else)
RUN_FILES = frozenset({"config.json", "checkpoint.pt", "history.csv", "model.pt", "memory.npz", "scores.csv",
                       "validation.npz"})


class RunConfigError(ValueError):
    """A run directory belongs to another configuration, data set or asdlib version, or is not a run."""


def save_torch(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_model_file(path: Path) -> dict:
    """``model.pt`` of a run, or a :class:`RunConfigError` that names it (truncated, corrupt, foreign)."""
    try:
        final = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise RunConfigError(f"{path} cannot be read ({type(exc).__name__}: {exc}); the file is truncated or "
                             "corrupt: train the run again (asd train ... --force)") from None
    if not isinstance(final, dict) or "models" not in final:
        raise RunConfigError(f"{path} is not an asdlib model file; train the run again (asd train ... --force)")
    return final


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is an asdlib run directory (its ``config.json`` says so)."""
    cfg = Path(path) / "config.json"
    try:
        meta = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "asdlib" in meta and "config_key" in meta


def _run_files_only(path: Path) -> list[str]:
    """Names in ``path`` that are not run files (temporary files of a run count as run files)."""
    return sorted(p.name for p in path.iterdir()
                  if p.name not in RUN_FILES and not (p.name.startswith(".") and ".tmp" in p.name))


def remove_run_dir(path: Path) -> None:
    """Delete an asdlib run directory; refuse anything else (data, other files)."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise RunConfigError(f"{path} is not a directory; not deleted")
    if any(path.iterdir()):
        if not is_run_dir(path):
            raise RunConfigError(f"{path} is not an asdlib run directory (no asdlib config.json); "
                                 "--force replaces run directories only: choose another --out")
        foreign = _run_files_only(path)
        if foreign:
            raise RunConfigError(f"{path} holds files that are not part of a run ({', '.join(foreign[:5])}); "
                                 "--force replaces run directories only: move them or choose another --out")
    shutil.rmtree(path)


def check_out_dir(out: Path, data_paths: Sequence[str]) -> None:
    """Refuse an output folder equal to or inside the data root, or one that holds data files."""
    out = Path(out).expanduser().resolve()
    roots = data_root_of(pd.DataFrame({"path": list(data_paths)})) if len(data_paths) else []
    for root in roots:
        if out == root or root in out.parents:
            raise RunConfigError(f"--out {out} is inside the data folder {root}; write runs outside the data")
        if out in root.parents:
            raise RunConfigError(f"--out {out} contains the data folder {root}; write runs to a folder of their own")


def prepare_run_dir(out: Path, meta: dict, force: bool) -> str:
    """Returns "new", "resume" or "done"; refuses a directory of another configuration."""
    if out.exists() and not out.is_dir():
        raise RunConfigError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not is_run_dir(out):
            raise RunConfigError(f"{out} is not empty and is not an asdlib run directory; use another --out "
                                 "(--force replaces run directories only)")
        old = json.loads((out / "config.json").read_text())
        same = all(old.get(k) == meta[k] for k in ("format", "asdlib", "config_key", "data"))
        started = (out / "checkpoint.pt").exists() or (out / "model.pt").exists()
        if same and (out / "model.pt").exists():
            try:
                read_model_file(out / "model.pt")
                return "done"
            except RunConfigError:
                (out / "model.pt").unlink()  # damaged: train again (from the checkpoint if any)
        if same and (out / "checkpoint.pt").exists():
            return "resume"
        if not same and started and not force:
            diffs = [k for k in ("format", "asdlib", "config_key", "data") if old.get(k) != meta.get(k)]
            detail = ""
            if "config_key" in diffs:
                a, b = old.get("config", {}), meta["config"]
                detail = "; settings that differ: " + ", ".join(
                    f"{k}={a.get(k)!r}->{b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
            raise RunConfigError(
                f"run directory {out} was made with another {'/'.join(diffs)}{detail}. "
                "Use another --out, or --force to replace that run.")
        # a run of another configuration (force), or one that never reached its first checkpoint
        remove_run_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.json", json.dumps(meta, indent=2, sort_keys=True))
    return "new"


def load_checkpoint(path: Path, meta: dict) -> dict:
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise RunConfigError(f"checkpoint {path} cannot be read ({exc}); delete it or use --force") from exc
    if ck.get("format") != RUN_FORMAT or ck.get("asdlib") != __version__:
        raise RunConfigError(
            f"checkpoint {path} was written by asdlib {ck.get('asdlib')} (format {ck.get('format')}); "
            f"this is asdlib {__version__} (format {RUN_FORMAT}). Use --force to train again.")
    if ck.get("config_key") != meta["config_key"]:
        raise RunConfigError(f"checkpoint {path} belongs to another configuration; use --force to train again")
    return ck


def write_memory(out: Path, train_df: pd.DataFrame, emb: np.ndarray) -> None:
    """``memory.npz``: the training clips' representations with their units, domains and paths."""
    with atomic_path(out / "memory.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, emb=emb, types=train_df["machine_type"].to_numpy(dtype=str),
                     units=train_df["unit"].to_numpy(dtype=str),
                     domains=train_df["domain"].astype(str).to_numpy(dtype=str),
                     paths=train_df["path"].to_numpy(dtype=str))


#: the run directory of a shared encoder inside a :func:`run_pipeline` folder
SHARED_DIR = "_shared"


def run_dir_for(out: str | Path, machine_type: str) -> Path:
    """The run directory that scores ``machine_type`` in a :func:`run_pipeline` folder ``out``.

    Returns:
        ``out/<machine_type>`` when it is a trained run, else ``out/_shared`` when that shared run
        covers ``machine_type``.

    Raises:
        RunConfigError: when neither does.
    """
    out = Path(out)
    own, shared = out / machine_type, out / SHARED_DIR
    if (own / "model.pt").exists() or (own / "checkpoint.pt").exists():
        return own
    if (shared / "config.json").exists():
        types = read_meta(shared)["data"].get("machine_types", [])
        if machine_type in types:
            return shared
        raise RunConfigError(f"the shared run {shared} was trained on {', '.join(types)}, not on {machine_type!r}")
    return own


def read_meta(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise RunConfigError(f"{run_dir}: config.json cannot be read ({exc}); train the run again") from None


def load_run(run_dir: str | Path, machine_type: str | None = None) -> dict:
    """Read a finished run: its configuration, classes, normalisation, models and machine types.

    Args:
        run_dir: a run directory; ``<run_pipeline folder>/<machine_type>`` (the shared run when
            there is no per-type one, :func:`run_dir_for`); or a :func:`run_pipeline` folder.
        machine_type: one of the run's types (needed with a :func:`run_pipeline` folder).

    Returns:
        ``config, method, classes, norm, models, machine_type`` (the given type, the run's only
        type, or ``"all"`` for a shared run), ``machine_types, selection, run_dir``.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "model.pt").exists() and not (run_dir / "checkpoint.pt").exists():
        if machine_type is not None and ((run_dir / machine_type).is_dir() or (run_dir / SHARED_DIR).is_dir()):
            run_dir = run_dir_for(run_dir, machine_type)  # a run_pipeline folder and a type
        elif not run_dir.exists() and (run_dir.parent / SHARED_DIR / "config.json").exists():
            machine_type = machine_type or run_dir.name  # <folder>/<type> of a shared run
            run_dir = run_dir_for(run_dir.parent, run_dir.name)
        elif (run_dir / SHARED_DIR / "config.json").exists():
            run_dir = run_dir / SHARED_DIR  # a run_pipeline folder of a shared encoder
    path = run_dir / "model.pt"
    if not path.exists():
        runs = sorted(p.parent.name for p in run_dir.glob("*/model.pt"))
        if runs:
            raise RunConfigError(f"{run_dir} is a run_pipeline folder of per-type runs ({', '.join(runs)}): "
                                 f"give one of them, e.g. {run_dir / runs[0]}")
        if (run_dir / "checkpoint.pt").exists():
            raise RunConfigError(f"run {run_dir} has not finished training (only checkpoint.pt); run `asd train` again to resume")
        raise RunConfigError(f"{run_dir} is not a trained asdlib run (no model.pt)")
    final = read_model_file(path)
    if final.get("format") != RUN_FORMAT or final.get("asdlib") != __version__:
        raise RunConfigError(f"run {run_dir} was written by asdlib {final.get('asdlib')} (format {final.get('format')}); "
                             f"this is asdlib {__version__}: train it again")
    cfg = MethodConfig.from_dict(final["config"])
    method = method_for(cfg).build(len(final["classes"]))
    for k, m in method.models.items():
        m.load_state_dict(final["models"][k])
        m.eval()
    meta = read_meta(run_dir)
    types = list(meta["data"].get("machine_types") or [meta["data"]["machine_type"]])
    if machine_type is not None and machine_type not in types:
        raise RunConfigError(f"run {run_dir} was trained on {', '.join(types)}, not on machine type {machine_type!r}")
    method.norm = tuple(final["norm"]) if final["norm"] is not None else None
    return {"config": cfg, "method": method, "classes": final["classes"], "norm": method.norm,
            "models": method.models,
            "machine_type": machine_type or meta["data"]["machine_type"], "machine_types": types,
            "selection": final.get("selection", {}), "run_dir": run_dir}


def load_memory(run_dir: str | Path, machine_type: str | None = None) -> dict[str, np.ndarray]:
    """A run's ``memory.npz``: the training clips' representations.

    Args:
        run_dir: as in :func:`load_run` (a shared run's memory holds every type).
        machine_type: keep the rows of this type only.

    Returns:
        ``emb, types, units, domains, paths`` arrays, one row per training clip.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "memory.npz").exists():
        if machine_type is not None and ((run_dir / machine_type).is_dir() or (run_dir / SHARED_DIR).is_dir()):
            run_dir = run_dir_for(run_dir, machine_type)
        elif not run_dir.exists() and (run_dir.parent / SHARED_DIR / "config.json").exists():
            machine_type = machine_type or run_dir.name
            run_dir = run_dir_for(run_dir.parent, run_dir.name)
    if not (run_dir / "memory.npz").exists():
        raise RunConfigError(f"{run_dir} has no memory.npz (not a finished run)")
    mem = dict(np.load(run_dir / "memory.npz"))
    if "types" not in mem:
        raise RunConfigError(f"{run_dir}: memory.npz has no machine types (an older run): train it again")
    if machine_type is not None:
        keep = mem["types"] == machine_type
        if not keep.any():
            raise RunConfigError(f"the memory of {run_dir} holds no clip of machine type {machine_type!r}")
        mem = {k: v[keep] for k, v in mem.items()}
    return mem


def histories(out: str | Path) -> pd.DataFrame:
    """The training histories of the runs of a :func:`run_pipeline` folder ``out``, one table.

    Returns:
        The columns of ``history.csv`` (``epoch, loss, steps, seconds`` and, with held-out clips,
        ``val_acc, val_margin, best_epoch, chosen``) plus ``machine_type``: the run's type, or
        ``"all"`` for a shared encoder.
    """
    out = Path(out)
    files = sorted(out.glob("*/history.csv"))
    if not files:
        raise FileNotFoundError(f"{out}: no <run>/history.csv (is it a run_pipeline folder?)")
    tables = []
    for f in files:
        try:
            mt = read_meta(f.parent)["data"]["machine_type"]
        except (RunConfigError, KeyError):
            mt = f.parent.name
        tables.append(pd.read_csv(f).assign(machine_type=mt))
    return pd.concat(tables, ignore_index=True)
