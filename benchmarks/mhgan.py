"""MHGAN on the 5,000 MNIST digits (10% of each digit held out): all labels, 10% and 1%
of them, MHSharedGAN, a projection-only conditional GAN (no multi-hinge term), and CGPGAN
with the multi-hinge classifier loss at K = 10 (no labels; its categories matched to
digits for scoring). Writes a markdown table (mean ± std over seeds) and each row's
sample grid of seed 0 (rows share z, columns are the labels) into the docs:

    .venv/bin/python benchmarks/mhgan.py --seeds 3 --other-seeds 1 --workers 2

`--only LABEL` (repeatable) runs some rows. Runs go to --runs (default
runs/benchmark-mhgan); finished runs are reused.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    finished_metrics,
    invocation,
    make_jobs,
    mean_std_table,
    run_all,
)

HELD_OUT = ["data.validation_fraction=0.1"]
MHGAN_ROWS = {  # 3 seeds each (--seeds)
    "MHGAN, 100% labels": ("mnist5k_mhgan", []),
    "MHGAN, 10% labels": ("mnist5k_mhgan", ["data.labelled_fraction=0.1"]),
    "MHGAN, 1% labels": ("mnist5k_mhgan", ["data.labelled_fraction=0.01"]),
}
PAPER = ["method.fake_aux=false"]  # D's multi-hinge on labelled reals only
OTHER_ROWS = {  # --other-seeds each
    "MHGAN, 100% labels, paper's reading (D's multi-hinge on reals only)": (
        "mnist5k_mhgan",
        PAPER,
    ),
    "MHGAN, 10% labels, paper's reading (D's multi-hinge on reals only)": (
        "mnist5k_mhgan",
        ["data.labelled_fraction=0.1", *PAPER],
    ),
    "MHSharedGAN, 100% labels": ("mnist5k_mhgan", ["method.shared_classifier=true"]),
    "projection only (no multi-hinge), 100% labels": (
        "mnist5k_mhgan",
        ["method.aux_weight=0", "method.lambda_aux=0"],
    ),
    "CGPGAN, multi-hinge classifier loss, no labels": (
        "mnist5k",
        ["method.classifier_loss=multi_hinge", *HELD_OUT],
    ),
}
METRICS = [
    "validation_accuracy",
    "self_accuracy",
    "conditional_accuracy",
    "classification_accuracy_score",
    "classifier_fid",
    "intra_fid",
    "evaluation_classifier_accuracy",
    "seconds_per_step",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the MHGAN rows")
    parser.add_argument("--other-seeds", type=int, default=1, help="seeds of the other rows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", action="append", default=[], help="this row only")
    parser.add_argument("--runs", default="runs/benchmark-mhgan")
    parser.add_argument("--docs", default="docs/benchmarks")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="every run")
    parser.add_argument(
        "--finished-only",
        action="store_true",
        help="train nothing: the table of the runs finished so far, each row's count shown",
    )
    args = parser.parse_args()

    def wanted(rows):
        return {k: v for k, v in rows.items() if not args.only or k in args.only}

    jobs = make_jobs(wanted(MHGAN_ROWS), args.seeds, args.runs, args.extra) + make_jobs(
        wanted(OTHER_ROWS), args.other_seeds, args.runs, args.extra
    )
    if args.finished_only:
        jobs = [job for job in jobs if finished_metrics(job) is not None]
        counts = {job.label: sum(j.label == job.label for j in jobs) for job in jobs}
        jobs = [replace(job, label=f"{job.label} ({counts[job.label]} runs)") for job in jobs]
    by_label = run_all(jobs, args.workers)
    for results in by_label.values():
        for metrics in results:
            metrics["seconds_per_step"] = metrics["train_seconds"] / metrics["step"]
    table = mean_std_table(by_label, METRICS)
    print(table)
    docs = Path(args.docs)
    grids = docs / "mhgan"
    grids.mkdir(parents=True, exist_ok=True)
    pictures = []
    for job in jobs:
        grid = Path(job.directory) / "plots" / "samples.png"
        name = Path(job.directory).name.removesuffix("-seed0")  # the row's, without counts
        if job.seed == 0 and grid.is_file():
            shutil.copyfile(grid, grids / f"{name}.png")
            pictures.append(f"- {job.label}: ![{job.label}](mhgan/{name}.png)")
    command = invocation()
    (docs / "mhgan.md").write_text(
        "# MHGAN on the 5,000 MNIST digits\n\n"
        f"Made by `.venv/bin/python {command}`; mean ± std over seeds ({args.seeds} for the "
        f"MHGAN rows, {args.other_seeds} for the others, or as counted in a row's label); "
        "seconds per step as measured with "
        "two runs sharing the machine's cores. Accuracies are on the 10% of each digit held "
        "out; FIDs are in the evaluation classifier's features (docs/mhgan.md).\n\n"
        + table
        + "\n\nSample grids (seed 0; rows share z, columns are the labels):\n\n"
        + "\n".join(pictures)
        + "\n"
    )


if __name__ == "__main__":
    main()
