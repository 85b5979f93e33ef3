"""The ``asd`` command line: index, synth, download, train, score, evaluate, run.

Each sub-command is a thin wrapper over the library (see the README and chapter 0,
``book/index.md``). Errors are printed as one clear line (exit status 2); ``--debug`` shows the
traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _machines(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [m.strip() for m in text.split(",") if m.strip()]


def _overrides(pairs: Sequence[str] | None) -> dict:
    """``--set key=value`` pairs, values parsed as int, float, bool or str."""
    out: dict = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        for conv in (int, float):
            try:
                out[k] = conv(v)
                break
            except ValueError:
                continue
        else:
            out[k] = {"true": True, "false": False}.get(v.lower(), v)
    return out


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; use --force to overwrite it")


def cmd_index(a) -> int:
    from .data import index, index_to_csv

    df = index(a.root, on_unknown="warn" if a.skip_unknown else "error")
    if a.out:
        _refuse_overwrite(Path(a.out), a.force)
        index_to_csv(df, a.out)
    summary = df.groupby(["machine_type", "split", "label"], dropna=False).size().rename("clips").reset_index()
    print(f"{len(df)} files, layout(s): {', '.join(sorted(df['layout'].unique()))}")
    print(summary.to_string(index=False))
    return 0


def cmd_synth(a) -> int:
    from .synth import generate

    man = generate(a.out, layout=a.layout, scale=a.scale, machines=_machines(a.machines), seed=a.seed,
                   progress=not a.quiet, overwrite=a.force)
    print(f"wrote {len(man)} clips to {a.out}")
    return 0


def cmd_download(a) -> int:
    from .download import download

    dirs = download(a.dataset, part=a.part, machines=_machines(a.machines), out=a.out, progress=not a.quiet)
    for d in dirs:
        print(d)
    return 0


def cmd_train(a) -> int:
    from .data import index
    from .train import method_config, train

    cfg = method_config(a.method, **({"epochs": a.epochs} if a.epochs else {}), **_overrides(a.set))
    res = train(index(a.data), a.machine, cfg, a.out, device=a.device, force=a.force, progress=not a.quiet)
    print(f"{res.status}: {res.run_dir} ({res.seconds:.1f} s)")
    return 0


def cmd_score(a) -> int:
    from .data import index
    from .train import score

    _refuse_overwrite(Path(a.out), a.force)
    s = score(a.run, index(a.data), device=a.device)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    s.to_csv(a.out, index=False)
    print(f"wrote {len(s)} scores to {a.out}")
    return 0


def cmd_evaluate(a) -> int:
    from .metrics import evaluate, read_scores

    scores = read_scores(a.scores)
    res = evaluate(scores, method=a.method)
    if a.out:
        _refuse_overwrite(Path(a.out), a.force)
        res.to_csv(a.out, index=False)
    _print_results(res)
    return 0


def cmd_run(a) -> int:
    from .train import run_pipeline

    overrides = _overrides(a.set)
    if a.epochs:
        overrides["epochs"] = a.epochs
    res = run_pipeline(a.data, a.method, a.out, machines=_machines(a.machines), device=a.device, force=a.force,
                       progress=not a.quiet, **overrides)
    _print_results(res)
    print(f"results: {Path(a.out) / 'results.csv'}")
    return 0


def _print_results(res) -> None:
    show = res.copy()
    for c in ("auc", "pauc", "mauc"):
        if c in show:
            show[c] = (100 * show[c]).round(2)
    cols = [c for c in ("method", "machine_type", "unit", "domain", "auc", "pauc", "mauc") if c in show]
    print(show[cols].to_string(index=False, na_rep=""))


def build_parser() -> argparse.ArgumentParser:
    from .train import METHODS

    p = argparse.ArgumentParser(prog="asd", description="Anomalous sound detection (asd-book).")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", help="list a DCASE data root as a table")
    s.add_argument("root")
    s.add_argument("--out", help="write the table as CSV")
    s.add_argument("--skip-unknown", action="store_true", help="skip (with a warning) files whose names match no layout")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("synth", help="generate synthetic machine sounds in a DCASE layout")
    s.add_argument("--layout", choices=["dcase2020", "dcase2022"], default="dcase2020")
    s.add_argument("--scale", choices=["tiny", "book", "full"], default="book")
    s.add_argument("--out", required=True)
    s.add_argument("--machines")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("download", help="download real DCASE data from Zenodo")
    s.add_argument("--dataset", choices=["dcase2020", "dcase2022"], required=True)
    s.add_argument("--part", default="dev", help="dev, additional or eval")
    s.add_argument("--machines")
    s.add_argument("--out", required=True)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_download)

    for name, func, hlp in (("train", cmd_train, "train one machine type"),
                            ("run", cmd_run, "train, score and evaluate every machine type")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--data", required=True, help="DCASE data root")
        s.add_argument("--method", required=True, choices=list(METHODS))
        if name == "train":
            s.add_argument("--machine", required=True)
        else:
            s.add_argument("--machines")
        s.add_argument("--out", required=True)
        s.add_argument("--epochs", type=int)
        s.add_argument("--device", help="cpu, cuda, mps (default: best available)")
        s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a MethodConfig setting")
        s.add_argument("--force", action="store_true", help="replace a run directory of another configuration")
        s.add_argument("--quiet", action="store_true")
        s.set_defaults(func=func)

    s = sub.add_parser("score", help="score the test clips of a trained run")
    s.add_argument("--run", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--device")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("evaluate", help="AUC / pAUC tables from a scores CSV")
    s.add_argument("--scores", required=True)
    s.add_argument("--out")
    s.add_argument("--method", help="method name to put in the table")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_evaluate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        return a.func(a)
    except KeyboardInterrupt:
        print("asd: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for users
        if a.debug:
            raise
        print(f"asd {a.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
