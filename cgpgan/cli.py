"""Command line: cgpgan train|sweep|evaluate|probe|merge|sample|cluster|report|config|presets.

Every command is a thin layer over the Python API (cgpgan.run, cgpgan.training).
Errors a user can fix are printed as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from cgpgan.errors import CgpganError, FailedOnMain, RunError, RunExists, TrainingInterrupted

RUN_DIR_HELP = "a run directory written by `cgpgan train`"
DEVICE_HELP = "auto (a GPU if there is one) | cpu | cuda | cuda:N (default: auto)"
PICTURE_ROWS = 16  # samples per category column in a .png: more would not be readable


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except FailedOnMain:  # multi-process training: rank 0 says what went wrong
        return 2
    except RunExists as error:  # the API's message names resume=True / overwrite=True
        print(
            f"cgpgan: error: {error.directory}: run directory exists; pass --resume to "
            "continue it or --overwrite to replace it",
            file=sys.stderr,
        )
        return 2
    except CgpganError as error:
        print(f"cgpgan: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. --out under a file, or in a folder that cannot be written
        where = f"{error.filename}: " if error.filename else ""
        print(f"cgpgan: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except TrainingInterrupted as interrupted:
        print(
            f"cgpgan: continue with: {command()} train --resume {interrupted.directory}",
            file=sys.stderr,
        )
        return interrupted.exit_code
    except KeyboardInterrupt:
        print("cgpgan: interrupted", file=sys.stderr)
        return 130


def command() -> str:
    """How the user started this command line, to print commands that work where they are:
    `./cgpgan.sh` in a checkout, `python -m cgpgan` or the installed `cgpgan`."""
    wrapper = os.environ.get("CGPGAN_COMMAND")  # set by cgpgan.sh
    if wrapper:
        return wrapper
    started = Path(sys.argv[0])
    if started.name == "__main__.py":
        return f"{_as_typed(Path(sys.executable))} -m cgpgan"
    on_path = shutil.which("cgpgan")
    if on_path and Path(on_path).resolve() == started.resolve():
        return "cgpgan"
    return _as_typed(started)  # e.g. .venv/bin/cgpgan, not on PATH


def _as_typed(path: Path) -> str:
    """`path` relative to the working folder when inside it, else absolute."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=command(), description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model from a preset or YAML config")
    train.add_argument(
        "config", nargs="?", help="a built-in preset name (see `cgpgan presets`) or a YAML file"
    )
    train.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue this run from its last checkpoint (no CONFIG needed)",
    )
    train.add_argument("--out", help="run directory (default: runs/NAME-seedN-TIME)")
    train.add_argument("--seed", type=int, help="random seed (overrides the config's `seed`)")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. method.num_categories=8 (repeatable)",
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)

    sweep = commands.add_parser(
        "sweep",
        help="train a config over seeds and a grid in parallel; choose a run without labels",
    )
    sweep.add_argument("config", help="a built-in preset name or a YAML file")
    sweep.add_argument("--seeds", default="0,1,2,3", help="comma-separated (default: %(default)s)")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="train every value of KEY (repeatable: every combination)",
    )
    sweep.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value in every run (repeatable)",
    )
    sweep.add_argument("--workers", type=int, default=1, help="runs trained at a time")
    sweep.add_argument("--out", required=True, help="the sweep's folder (run it again to resume)")
    sweep.add_argument(
        "--criterion",
        help="how the run to trust is chosen (default: agreement; see docs/selection.md)",
    )
    sweep.add_argument(
        "--consensus",
        action="store_true",
        help="also a consensus clustering over the runs (SWEEP_DIR/consensus.csv)",
    )
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=_sweep)

    report = commands.add_parser(
        "report", help="write RUN_DIR/report.html or SWEEP_DIR/report.html (self-contained)"
    )
    report.add_argument("directory", help="a run directory or a sweep directory")
    report.set_defaults(handler=_report)

    evaluate = _run_command(
        commands, "evaluate", "compute a run's metrics; writes RUN_DIR/metrics.json", _evaluate
    )
    evaluate.add_argument("--device", default="auto", help=DEVICE_HELP)
    evaluate.add_argument(
        "--inception",
        metavar="WEIGHTS",
        help=(
            "local FID Inception-v3 weights file (weights-inception-2015-12-05-6726825d.pth):"
            " adds FID, KID, precision/recall (image runs only; nothing to install)"
        ),
    )

    probe = _run_command(
        commands,
        "probe",
        "score the features a run learnt (linear probe, k-means); writes RUN_DIR/probe.json "
        "(probe_classifier.json for the classifier's features)",
        _probe,
    )
    probe.add_argument(
        "--features",
        choices=("critic", "classifier"),
        default="critic",
        help="the critic's trunk (default) or the classifier's, where the method has its own",
    )
    probe.add_argument(
        "--repeats", type=int, default=20, help="k-means repetitions (each best of 5 starts)"
    )
    probe.add_argument("--device", default="auto", help=DEVICE_HELP)

    merge = _run_command(
        commands,
        "merge",
        "merge a run's categories by how often images swap category when moved, into N "
        "groups or until the next two groups to merge swap at less than a given rate; writes "
        "RUN_DIR/merge.json and plots/samples_merged.png",
        _merge,
    )
    merge.add_argument("--categories", type=int, help="N, the groups wanted")
    merge.add_argument(
        "--min-rate",
        type=float,
        default=0.0,
        help="stop before a merge of two groups that swap at a lower rate (0 to 1; then N may "
        "be left out)",
    )
    merge.add_argument(
        "--linkage",
        help="which two groups merge next: modularity or swap_rate (default: the run's "
        "method.merge_linkage, else modularity)",
    )
    merge.add_argument("--repeats", type=int, default=8, help="moved copies of each item")
    merge.add_argument("--device", default="auto", help=DEVICE_HELP)

    sample = _run_command(commands, "sample", "generate samples from a trained run", _sample)
    sample.add_argument(
        "--category",
        default="all",
        help="category of the first label, or 'all' to draw from the prior",
    )
    sample.add_argument(
        "--group",
        type=int,
        help="a merged group of RUN_DIR/merge.json (`cgpgan merge`) instead of a category: "
        "its members drawn in proportion to their priors",
    )
    sample.add_argument(
        "-n", type=int, default=1000, help="number of samples (default: %(default)s)"
    )
    sample.add_argument(
        "--out",
        required=True,
        help=(
            "output file: .csv (columns x..., category; images flattened), .npz (samples keep "
            "their shape) or .png (images: a grid, one column per category ordered by prior, "
            f"at most {PICTURE_ROWS} rows; with --category a square grid of at most "
            f"{PICTURE_ROWS**2}; 2-D points: a scatter plot coloured by category)"
        ),
    )
    sample.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed: the same seed gives the same samples (default: 0)",
    )
    sample.add_argument("--device", default="auto", help=DEVICE_HELP)

    cluster = _run_command(
        commands,
        "cluster",
        "assign categories to data with a trained run or a sweep's selected run",
        _cluster,
    )
    cluster.add_argument(
        "--data",
        metavar="FILE",
        help=(
            "the data to cluster: images as .npz ('images' array) or .npy for an image run; "
            "points of the run's dimension as .npy, .npz ('points' array) or .csv for a 2-D run "
            "(default: the run's own data)"
        ),
    )
    cluster.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="data.KEY=VALUE",
        help=(
            "or change the run's own data set, e.g. --set data.max_images=500 "
            "(images) or --set data.num_samples=500 (2-D) (repeatable)"
        ),
    )
    cluster.add_argument(
        "--out",
        required=True,
        help=(
            "output .csv, one row per item in the input's order: item, the coordinates for "
            "points, category and confidence per label; for images a grid of examples per "
            "category goes beside it"
        ),
    )
    cluster.add_argument(
        "--merged",
        action="store_true",
        help="the merged groups of RUN_DIR/merge.json (`cgpgan merge`) instead of the categories",
    )
    cluster.add_argument("--device", default="auto", help=DEVICE_HELP)

    show = commands.add_parser("config", help="list every config key with its value and meaning")
    show.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="a preset name or a YAML file (default: the built-in defaults)",
    )
    show.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value first (repeatable)",
    )
    show.set_defaults(handler=_config)

    presets = commands.add_parser("presets", help="list the built-in presets with a description")
    presets.set_defaults(handler=_presets)
    return parser


def _run_command(commands, name: str, help: str, handler) -> argparse.ArgumentParser:
    """The parser of a command that reads a trained run (its first argument)."""
    parser = commands.add_parser(name, help=help)
    parser.add_argument("run_dir", help=RUN_DIR_HELP)
    parser.set_defaults(handler=handler)
    return parser


def _train(args) -> int:
    """Train in this process, or in each of the processes torchrun started."""
    from cgpgan import distributed

    with distributed.process_group():
        return _train_here(args)


def _train_here(args) -> int:
    from cgpgan import distributed
    from cgpgan.config import load_config, load_saved_config
    from cgpgan.training.loop import default_run_directory, train

    if args.resume:
        if args.config or args.seed is not None or args.overwrite:
            raise RunError(
                "train --resume RUN_DIR: takes no CONFIG, --seed or --overwrite "
                "(the run's own config is used; --set changes train.steps and the like)"
            )
        if args.out and Path(args.out) != Path(args.resume):
            raise RunError("train --resume RUN_DIR: --out must be RUN_DIR or left out")
        config = None
        if args.overrides:  # the saved config with these changes (checked by train)
            saved = Path(args.resume) / "config.yaml"
            config = (
                load_saved_config(saved, ["train.stop_after=0", *args.overrides])
                if saved.is_file()
                else None
            )
        run = train(config, args.resume, resume=True, progress=not args.quiet)
    else:
        if not args.config:
            raise RunError("train: give a CONFIG (preset or YAML file), or --resume RUN_DIR")
        overrides = list(args.overrides)
        if args.seed is not None:
            overrides.append(f"seed={args.seed}")
        config = load_config(args.config, overrides)
        out = (
            Path(args.out)
            if args.out
            else distributed.from_main(default_run_directory(Path(args.config).stem, config.seed))
        )
        run = train(config, out, overwrite=args.overwrite, progress=not args.quiet)
    if not distributed.is_main():
        return 0
    if not run.metrics:
        print(
            f"stopped after step {run.info['step']}; continue with: "
            f"{command()} train --resume {run.directory}"
        )
        return 0
    _print_metrics(run.metrics)
    print(f"run directory: {run.directory}")
    return 0


def _sweep(args) -> int:
    from cgpgan.sweep import parse_grid, parse_seeds, sweep

    if args.workers < 1:
        raise RunError(f"--workers: must be at least 1, got {args.workers}")
    try:
        record = sweep(
            args.config,
            args.out,
            parse_seeds(args.seeds),
            parse_grid(args.grid),
            args.overrides,
            workers=args.workers,
            criterion=args.criterion,
            consensus=args.consensus,
            progress=not args.quiet,
        )
    except TrainingInterrupted as interrupted:
        print(
            "cgpgan: sweep stopped; the same command continues it (finished runs are kept, "
            "the others resume from their checkpoints)",
            file=sys.stderr,
        )
        return interrupted.exit_code
    failed = [entry for entry in record["runs"] if "error" in entry]
    for entry in failed:
        print(f"cgpgan: run {entry['directory']} failed: {entry['error']}", file=sys.stderr)
    return 1 if failed else 0


def _report(args) -> int:
    from cgpgan.report import write_report

    print(f"wrote {write_report(args.directory)}")
    return 0


def _evaluate(args) -> int:
    from cgpgan.run import Run
    from cgpgan.threads import cpu_threads

    run = Run.load(args.run_dir, device=args.device)
    with cpu_threads(run.config):  # as many threads as its training had
        _print_metrics(run.evaluate(inception=args.inception))
    print(f"wrote {Path(args.run_dir) / 'metrics.json'}")
    return 0


def _run_with_repeats(args):
    """The run a command with a --repeats option reads (the option checked first)."""
    from cgpgan.run import Run

    if args.repeats <= 0:
        raise RunError(f"--repeats: must be > 0, got {args.repeats}")
    return Run.load(args.run_dir, device=args.device)


def _probe(args) -> int:
    from cgpgan.run import probe_files
    from cgpgan.threads import cpu_threads

    run = _run_with_repeats(args)
    with cpu_threads(run.config):
        scores = run.probe(args.features, args.repeats)
    _print_metrics(scores)
    print(f"wrote {Path(args.run_dir) / probe_files(args.features)[0]}")
    return 0


def _merge(args) -> int:
    from cgpgan.outputs import draw_merged_grid
    from cgpgan.threads import cpu_threads

    if args.categories is None and args.min_rate <= 0:
        raise RunError("merge: give --categories N, --min-rate R, or both")
    run = _run_with_repeats(args)
    with cpu_threads(run.config):
        target = 1 if args.categories is None else args.categories
        result = run.merge(target, args.repeats, min_rate=args.min_rate, linkage=args.linkage)
        draw_merged_grid(run, Path(args.run_dir) / "plots" / "samples_merged.png", result)
    groups = " ".join("+".join(map(str, group)) for group in result["groups"])
    print(f"groups ({result['linkage']} linkage): {groups}")
    rates = " ".join(f"{rate:.4f}" for rate in result["merge_rates"])
    print(f"swap rates of the merges: {rates or 'none'}; of the next: {result['next_rate']:.4f}")
    for name, scores in (
        ("before", "scores_before"),
        ("merged", "scores"),
        ("grouped by majority class (labels; for reference)", "scores_by_majority"),
    ):
        if scores in result:
            print(name + ":")
            _print_metrics(result[scores])
    print(f"wrote {Path(args.run_dir) / 'merge.json'} and plots/samples_merged.png")
    return 0


def _sample(args) -> int:
    import warnings

    from cgpgan.outputs import draw_samples
    from cgpgan.run import DeadCategoryWarning, Run

    if args.n <= 0:
        raise RunError(f"-n: must be > 0, got {args.n}")
    out = Path(args.out)
    if out.suffix not in (".csv", ".npz", ".png"):
        raise RunError(f"--out: must end in .csv, .npz or .png, got {out.name}")
    if not out.parent.is_dir():
        raise RunError(f"--out: folder {out.parent} does not exist")
    run = Run.load(args.run_dir, device=args.device)
    shape = run.info["sample_shape"]
    if out.suffix == ".png" and len(shape) != 3 and list(shape) != [2]:
        raise RunError(
            f"--out: a .png needs images or 2-D points, this run's samples have "
            f"shape {shape}; use .csv or .npz"
        )
    category = None if args.category == "all" else _category(args.category)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeadCategoryWarning)
        samples, categories = run.sample(args.n, category, args.seed, group=args.group)
    for warning in caught:
        if issubclass(warning.category, DeadCategoryWarning):
            print(f"cgpgan: warning: {warning.message}", file=sys.stderr)
        else:  # not ours: show it as Python would have
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    shown = args.n
    if out.suffix == ".png":
        shown = draw_samples(
            run, out, samples, categories[:, 0], category, PICTURE_ROWS, args.group
        )
    elif out.suffix == ".npz":  # images keep their [N, C, H, W] shape
        np.savez(out, samples=samples.numpy(), categories=categories.numpy())
    else:
        samples = samples.flatten(1).numpy()
        columns = [f"x{i}" for i in range(samples.shape[1])] + [
            f"category{label}" for label in range(categories.shape[1])
        ]
        table = np.concatenate([samples, categories.numpy()], axis=1)
        formats = ["%.6f"] * samples.shape[1] + ["%d"] * categories.shape[1]
        np.savetxt(out, table, delimiter=",", header=",".join(columns), comments="", fmt=formats)
    if shown < args.n:
        print(f"wrote a picture of {shown} of the {args.n} samples to {out}")
    else:
        print(f"wrote {args.n} samples to {out}")
    return 0


def _cluster(args) -> int:
    from cgpgan.run import Run
    from cgpgan.sweep import SWEEP_FILE, selected_run

    out = Path(args.out)
    if out.suffix != ".csv":
        raise RunError(f"--out: must end in .csv, got {out.name}")
    if not out.parent.is_dir():
        raise RunError(f"--out: folder {out.parent} does not exist")
    run_dir = Path(args.run_dir)
    if (run_dir / SWEEP_FILE).is_file():  # a sweep: its selected run
        run_dir = selected_run(run_dir)
        print(f"the sweep's selected run: {run_dir}")
    run = Run.load(run_dir, device=args.device)
    result = run.cluster_data(args.overrides, out, data=args.data, merged=args.merged)
    examples = f" and examples to {result['examples']}" if result.get("examples") else ""
    print(f"wrote {result['items']} assignments to {out}{examples}")
    return 0


def _category(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RunError(f"--category: expected an integer or 'all', got {text!r}") from None


def _config(args) -> int:
    from cgpgan.config import describe_config, load_config

    print(describe_config(load_config(args.config, args.overrides)))
    return 0


def _presets(args) -> int:
    from cgpgan.config import preset_descriptions

    descriptions = preset_descriptions()
    width = max(len(name) for name in descriptions)
    for name, description in descriptions.items():
        print(f"{name:<{width}}  {description}".rstrip())
    return 0


def _print_metrics(metrics: dict) -> None:
    from cgpgan.metrics.summary import format_metrics

    print(format_metrics(metrics))


if __name__ == "__main__":
    sys.exit(main())
