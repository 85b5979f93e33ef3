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
    """``--set key=value`` pairs, values parsed as int, float, bool or str (checked by MethodConfig)."""
    out: dict = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        k = k.strip()
        if k in out:
            raise ValueError(f"--set {k} is given twice")
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


def _index(root, a, skip_unknown: bool = False):
    """``data.index`` of ``root`` with the command's ``--layout`` (None: told from the data)."""
    from .data import index

    return index(root, on_unknown="warn" if skip_unknown else "error", layout=getattr(a, "layout", None))


def cmd_index(a) -> int:
    from .data import index_to_csv

    df = _index(a.root, a, a.skip_unknown)
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


def cmd_real_toycar(a) -> int:
    from .realdata import fetch_real_toycar
    from .settings import data_dir

    root = fetch_real_toycar(a.out, progress=not a.quiet)
    print(f"real ToyCar clips (DCASE 2020 layout): {root}")
    if root.resolve() != (data_dir() / "real-toycar" / "dcase2020").resolve():
        print(f"chapter 11 reads them with: export ASD_REAL_TOYCAR={root.resolve()}")
    return 0


def _settings(a) -> dict:
    overrides = _overrides(a.set)
    if a.epochs is not None:
        if "epochs" in overrides:
            raise ValueError("give the number of epochs once: --epochs or --set epochs=..., not both")
        overrides["epochs"] = a.epochs
    return overrides


def _method_and_settings(a) -> tuple[str, dict]:
    """``--method`` and the settings of ``--preset`` (if any) with ``--set`` / ``--epochs`` on top."""
    from .methods import preset_settings

    settings = _settings(a)
    if a.preset:
        method, base = preset_settings(a.preset, a.method)
        return method, {**base, **settings}
    if not a.method:
        raise ValueError("give --method (or --preset)")
    return a.method, settings


def cmd_train(a) -> int:
    from .data import index
    from .methods import method_config
    from .train import train

    method, settings = _method_and_settings(a)
    cfg = method_config(method, **settings)  # every setting checked before any work starts
    df = _index(a.data, a, a.skip_unknown)
    res = train(df, a.machine, cfg, a.out, device=a.device, force=a.force, progress=not a.quiet)
    sel = ""
    if "chosen" in res.history:
        sel = f"; kept epoch {int(res.history.loc[res.history['chosen'], 'epoch'].iloc[0])} ({cfg.select_epoch})"
    print(f"{res.status}: {res.run_dir} ({res.seconds:.1f} s{sel})")
    return 0


def cmd_score(a) -> int:
    from .pipeline import score

    if a.format == "dcase":  # submission files; decision threshold from the training clips' scores only
        from .submission import fit_decision_threshold, write_submission

        df = _index(a.data, a)
        s = score(a.run, df, device=a.device)
        thr = None
        if (s["layout"] != "dcase2020").all():  # DCASE 2021+ submissions have decision files
            tr = score(a.run, df, split="train", device=a.device)
            if tr["machine_type"].nunique() > 1:  # a shared run: one threshold per machine type, as the baselines
                thr = {mt: fit_decision_threshold(g["score"], a.decision_quantile) for mt, g in tr.groupby("machine_type")}
            else:
                thr = fit_decision_threshold(tr["score"], a.decision_quantile)
        files = write_submission(s, a.out, decision_threshold=thr, overwrite=a.force)
        shown = (", ".join(f"{k} {v:.6g}" for k, v in thr.items()) if isinstance(thr, dict)
                 else f"{thr:.6g}" if thr is not None else "")
        extra = f"; decision threshold {shown} (gamma {a.decision_quantile:g} quantile of the training scores)" \
            if thr is not None else ""
        print(f"wrote {len(files)} submission file(s) for {len(s)} clips to {a.out}{extra}")
        return 0
    _refuse_overwrite(Path(a.out), a.force)
    s = score(a.run, _index(a.data, a), device=a.device)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    s.to_csv(a.out, index=False)
    print(f"wrote {len(s)} scores to {a.out}")
    return 0


def cmd_evaluate(a) -> int:
    from .metrics import evaluate, read_scores

    if a.submission:
        from .submission import evaluate_submission

        if not a.ground_truth:
            raise ValueError("--submission needs --ground-truth: a CSV (columns machine_type, file, unit, domain, "
                             "label) or an official evaluator's folder (ground_truth_data/, ground_truth_domain/)")
        res = evaluate_submission(a.submission, a.ground_truth, method=a.method, layout=a.layout)
        if a.out:
            _refuse_overwrite(Path(a.out), a.force)
            res.to_csv(a.out, index=False)
        _print_results(res)
        dec = res[res["f1"].notna()]
        if len(dec):
            show = dec[["machine_type", "unit", "domain", "precision", "recall", "f1"]].copy()
            show[["precision", "recall", "f1"]] = (100 * show[["precision", "recall", "f1"]]).round(2)
            print("decisions (%):")
            print(show.to_string(index=False))
        return 0
    if a.ground_truth:
        raise ValueError("--ground-truth goes with --submission DIR")
    scores = read_scores(a.scores)
    if a.layout:
        scores = scores.assign(layout=a.layout)
    res = evaluate(scores, method=a.method)
    if a.out:
        _refuse_overwrite(Path(a.out), a.force)
        res.to_csv(a.out, index=False)
    _print_results(res)
    return 0


def cmd_run(a) -> int:
    from .pipeline import run_pipeline

    method, settings = _method_and_settings(a)
    data = _index(a.data, a, a.skip_unknown) if a.layout else a.data
    res = run_pipeline(data, method, a.out, machines=_machines(a.machines), device=a.device, force=a.force,
                       progress=not a.quiet, on_unknown="warn" if a.skip_unknown else "error", **settings)
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


_LAYOUT_HELP = ("the DCASE year of the data (default: told from the files; DCASE 2023 and 2024 names are those of "
                "2022, so name these years)")


def build_parser() -> argparse.ArgumentParser:  # long on purpose: every option of `asd`, one flat list to read
    from .dcase import LAYOUTS
    from .methods import METHODS, PRESETS, setting_names
    from .settings import SYNTH_SCALES, VARIABLES

    env_help = "environment variables:\n" + "\n".join(
        f"  {name:<16} {meaning} (default: {default})" for name, (default, meaning) in VARIABLES.items())
    p = argparse.ArgumentParser(prog="asd", description="Anomalous sound detection (asd-book).",
                                epilog=env_help, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", help="list a DCASE data root as a table")
    s.add_argument("root")
    s.add_argument("--layout", choices=list(LAYOUTS), help=_LAYOUT_HELP)
    s.add_argument("--out", help="write the table as CSV")
    s.add_argument("--skip-unknown", action="store_true", help="skip (with a warning) files whose names match no layout")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("synth", help="generate synthetic machine sounds in a DCASE layout")
    s.add_argument("--layout", choices=list(LAYOUTS), default="dcase2020")
    s.add_argument("--scale", choices=list(SYNTH_SCALES), default="book")
    s.add_argument("--out", required=True)
    s.add_argument("--machines")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("download", help="download real DCASE data from Zenodo",
                       epilog="ASD_ZENODO_URL sets the Zenodo server (default https://zenodo.org), e.g. a mirror "
                              "or a local test server; ASD_DATA_DIR is where the chapters look for the data.")
    s.add_argument("--dataset", choices=list(LAYOUTS), required=True)
    s.add_argument("--part", default="dev", help="dev, additional or eval")
    s.add_argument("--machines")
    s.add_argument("--out", required=True)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_download)

    for name, func, hlp in (("train", cmd_train, "train one machine type"),
                            ("run", cmd_run, "train, score and evaluate every machine type")):
        s = sub.add_parser(name, help=hlp, epilog="settings for --set: " + ", ".join(setting_names()))
        s.add_argument("--data", required=True, help="DCASE data root")
        s.add_argument("--layout", choices=list(LAYOUTS), help=_LAYOUT_HELP)
        s.add_argument("--method", choices=list(METHODS),
                       help="required unless --preset gives one (contrastive methods share one encoder by default)")
        s.add_argument("--preset", choices=list(PRESETS),
                       help="a named group of settings (dcase: the GPU recipe for real DCASE data); --set overrides")
        if name == "train":
            s.add_argument("--machine", required=True,
                           help="a machine type, a comma-separated list, or 'all': several types train one shared "
                                "encoder (contrastive methods)")
        else:
            s.add_argument("--machines")
        s.add_argument("--out", required=True)
        s.add_argument("--epochs", type=int, help="training epochs (>= 1; default: the method's)")
        s.add_argument("--device", help="cpu, cuda, mps (default: best available)")
        s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a MethodConfig setting")
        s.add_argument("--force", action="store_true",
                       help="replace an asdlib run directory of another configuration (never other files)")
        s.add_argument("--skip-unknown", action="store_true",
                       help="skip (with a warning) files whose names match no DCASE layout")
        s.add_argument("--quiet", action="store_true")
        s.set_defaults(func=func)

    s = sub.add_parser("score", help="score the test clips of a trained run")
    s.add_argument("--run", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--layout", choices=list(LAYOUTS), help=_LAYOUT_HELP)
    s.add_argument("--out", required=True, help="scores CSV, or with --format dcase a submission folder")
    s.add_argument("--format", choices=["csv", "dcase"], default="csv",
                   help="csv: one scores table; dcase: anomaly_score_* / decision_result_* submission files")
    s.add_argument("--decision-quantile", type=float, default=0.9,
                   help="--format dcase: threshold = this quantile of a gamma fitted to the training clips' scores")
    s.add_argument("--device")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("experiments", help="compute the book's heavy runs into the experiment store (resumable)",
                       epilog="experiments: " + ", ".join(_store_names()) + ". ASD_RESULTS sets the store folder.")
    s.add_argument("--only", nargs="+", metavar="EXPERIMENT", help="these experiments only (default: all)")
    s.add_argument("--check", action="store_true",
                   help="compute nothing: fail when a stored run is missing, truncated or stale")
    s.add_argument("--recompute-sample", action="store_true",
                   help="train the store's fixed sample of runs again and require the stored scores")
    s.add_argument("--list", action="store_true", help="list the planned runs and whether each is stored")
    s.add_argument("--threads", type=int, default=2, help="torch threads while computing (default 2)")
    s.add_argument("--force", action="store_true", help="compute every run again, also the current ones")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_experiments)

    s = sub.add_parser("real-toycar", help="fetch the book's 821 real ToyCar clips from the official DCASE 2020 set",
                       epilog="downloads dev_data_ToyCar.zip from Zenodo (ASD_ZENODO_URL) into --out/dcase2020/ToyCar, "
                              "then writes the listed clips, cut to 6.368 s, to --out/real-toycar/dcase2020")
    s.add_argument("--out", help="data folder (default: ASD_DATA_DIR, where chapter 11 looks)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_real_toycar)

    s = sub.add_parser("evaluate", help="AUC / pAUC tables from a scores CSV or a DCASE submission folder")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--scores", help="scores CSV of asd score")
    src.add_argument("--submission", help="folder of DCASE submission files (needs --ground-truth)")
    s.add_argument("--ground-truth", help="CSV: machine_type, file, unit, domain, label (e.g. from hide_labels), "
                                          "or an official evaluator's ground_truth_data/ + ground_truth_domain/ folder")
    s.add_argument("--layout", choices=list(LAYOUTS),
                   help="the challenge year the rows are labelled with (default: the ground truth's or the "
                        "scores' layout column, else dcase2020 / dcase2022 by the unit names)")
    s.add_argument("--out")
    s.add_argument("--method", help="method name to put in the table")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_evaluate)
    return p


def _store_names() -> list[str]:
    from .store import EXPERIMENTS

    return list(EXPERIMENTS)


def cmd_experiments(a: argparse.Namespace) -> int:
    from . import store

    runs = store.plan(a.only)
    if a.list:
        for r in runs:
            stored = (store.store_dir() / r.experiment / r.run_id / "run.json").exists()
            print(f"{r.experiment:<18} {r.run_id:<40} {'stored' if stored else 'missing'}")
        return 0
    if a.check or a.recompute_sample:
        rc = 0
        if a.check:
            problems = store.check(a.only, data=True)
            for p in problems:
                print(p, file=sys.stderr)
            if problems:
                print(f"stored results are stale: run make experiments ({len(problems)} of {len(runs)} runs)",
                      file=sys.stderr)
                rc = 1
            else:
                print(f"experiment store: {len(runs)} runs current (code {store.code_fingerprint()}, "
                      f"asdlib {store.__version__}) in {store.store_dir()}")
        if a.recompute_sample and rc == 0:
            for exp, run_id in store.RECOMPUTE_SAMPLE:
                dataset = store.find_run(exp, run_id).dataset
                if store.DATASETS[dataset]["kind"] == "real" and store.real_toycar_root() is None:
                    print(f"recompute {exp}/{run_id}: skipped, its data set {dataset!r} is not on this machine")
                    continue
                res = store.recompute(exp, run_id)
                print(f"recomputed {res['run']}: {res['clips']} clips, largest score difference "
                      f"{res['max_abs_diff']:.3g} ({'identical' if res['identical'] else 'DIFFERENT'} to "
                      f"{store.DIGITS} significant digits), same data: {res['same_data']}")
                if not (res["identical"] and res["same_data"]):
                    rc = 1
        return rc
    done = store.run_all(a.only, threads=a.threads, progress=not a.quiet, force=a.force)
    print(f"computed {len(done)} run(s); {len(runs) - len(done)} were current. Store: {store.store_dir()}")
    return 0


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
