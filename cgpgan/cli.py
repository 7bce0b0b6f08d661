"""Command line: `cgpgan train | evaluate | sample | presets`.

Every command is a thin layer over the Python API (cgpgan.run, cgpgan.training).
Errors a user can fix are printed as one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from cgpgan.errors import CgpganError, RunError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CgpganError as error:
        print(f"cgpgan: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cgpgan: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cgpgan", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model from a preset or YAML config")
    train.add_argument("config", nargs="?", help="a built-in preset name (see `cgpgan presets`) or a YAML file")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint (no CONFIG needed)")
    train.add_argument("--out", help="run directory (default: runs/NAME-seedN-TIME)")
    train.add_argument("--seed", type=int, help="random seed (overrides the config's `seed`)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. method.num_categories=8 (repeatable)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser("evaluate", help="compute a run's metrics; writes RUN_DIR/metrics.json")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--inception", metavar="WEIGHTS", help="local Inception-v3 weights file: adds FID, KID, precision/recall (image runs)")
    evaluate.set_defaults(handler=_evaluate)

    sample = commands.add_parser("sample", help="generate samples from a trained run")
    sample.add_argument("run_dir")
    sample.add_argument("--category", default="all", help="category of the first label, or 'all' to draw from the prior")
    sample.add_argument("-n", type=int, default=1000, help="number of samples")
    sample.add_argument("--out", required=True, help="output file: .csv (columns x..., category; images flattened) or .npz (samples keep their shape)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", default="auto")
    sample.set_defaults(handler=_sample)

    cluster = commands.add_parser("cluster", help="assign categories to data with a trained run")
    cluster.add_argument("run_dir")
    cluster.add_argument("--set", dest="overrides", action="append", default=[], metavar="data.KEY=VALUE", help="the data to cluster, e.g. data.name=npz data.path=x.npz (default: the run's own data)")
    cluster.add_argument("--out", required=True, help="output .csv (item, category, confidence); a grid of examples per category goes beside it")
    cluster.add_argument("--device", default="auto")
    cluster.set_defaults(handler=_cluster)

    presets = commands.add_parser("presets", help="list the built-in presets")
    presets.set_defaults(handler=_presets)
    return parser


def _train(args) -> int:
    from cgpgan.config import load_config
    from cgpgan.training.loop import default_run_directory, train

    if args.resume:
        if args.config or args.overrides or args.seed is not None or args.overwrite:
            raise RunError("train --resume RUN_DIR: takes no CONFIG, --set, --seed or --overwrite (the run's own config is used)")
        if args.out and Path(args.out) != Path(args.resume):
            raise RunError("train --resume RUN_DIR: --out must be RUN_DIR or left out")
        run = train(None, args.resume, resume=True, progress=not args.quiet)
    else:
        if not args.config:
            raise RunError("train: give a CONFIG (preset or YAML file), or --resume RUN_DIR")
        overrides = list(args.overrides)
        if args.seed is not None:
            overrides.append(f"seed={args.seed}")
        config = load_config(args.config, overrides)
        out = Path(args.out) if args.out else default_run_directory(Path(args.config).stem, config.seed)
        run = train(config, out, overwrite=args.overwrite, progress=not args.quiet)
    if not run.metrics:
        print(f"stopped after step {run.info['step']}; continue with: cgpgan train --resume {run.directory}")
        return 0
    _print_metrics(run.metrics)
    print(f"run directory: {run.directory}")
    return 0


def _evaluate(args) -> int:
    from cgpgan.run import Run

    run = Run.load(args.run_dir, device=args.device)
    _print_metrics(run.evaluate(inception=args.inception))
    print(f"wrote {Path(args.run_dir) / 'metrics.json'}")
    return 0


def _sample(args) -> int:
    from cgpgan.run import Run

    if args.n <= 0:
        raise RunError(f"-n: must be > 0, got {args.n}")
    out = Path(args.out)
    if out.suffix not in (".csv", ".npz"):
        raise RunError(f"--out: must end in .csv or .npz, got {out.name}")
    if not out.parent.is_dir():
        raise RunError(f"--out: folder {out.parent} does not exist")
    run = Run.load(args.run_dir, device=args.device)
    category = None if args.category == "all" else _category(args.category)
    samples, categories = run.sample(args.n, category=category, seed=args.seed)
    if out.suffix == ".npz":  # images keep their [N, C, H, W] shape
        np.savez(out, samples=samples.numpy(), categories=categories.numpy())
    else:
        samples = samples.flatten(1).numpy()
        columns = [f"x{i}" for i in range(samples.shape[1])] + [f"category{l}" for l in range(categories.shape[1])]
        table = np.concatenate([samples, categories.numpy()], axis=1)
        formats = ["%.6f"] * samples.shape[1] + ["%d"] * categories.shape[1]
        np.savetxt(out, table, delimiter=",", header=",".join(columns), comments="", fmt=formats)
    print(f"wrote {args.n} samples to {out}")
    return 0


def _cluster(args) -> int:
    from cgpgan.run import Run

    out = Path(args.out)
    if out.suffix != ".csv":
        raise RunError(f"--out: must end in .csv, got {out.name}")
    if not out.parent.is_dir():
        raise RunError(f"--out: folder {out.parent} does not exist")
    run = Run.load(args.run_dir, device=args.device)
    result = run.cluster_data(args.overrides, out)
    print(f"wrote {result['items']} assignments to {out}" + (f" and examples to {result['examples']}" if result.get("examples") else ""))
    return 0


def _category(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RunError(f"--category: expected an integer or 'all', got {text!r}") from None


def _presets(args) -> int:
    from cgpgan.config import preset_names

    print("\n".join(preset_names()))
    return 0


def _print_metrics(metrics: dict) -> None:
    """Scalars and short lists one per line; nested tables (baselines) flattened."""
    flat = {}
    for name, value in metrics.items():
        if isinstance(value, dict):
            flat.update({f"{name}.{inner}.accuracy": scores["accuracy"] for inner, scores in value.items() if isinstance(scores, dict) and "accuracy" in scores})
        elif name not in ("contingency", "real_category_share"):
            flat[name] = value
    metrics = flat
    width = max(len(name) for name in metrics)
    for name, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list):
            value = json.dumps(value)
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
