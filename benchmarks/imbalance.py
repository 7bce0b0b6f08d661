"""Imbalanced categories: does the dynamic prior follow unequal class sizes?

Configurations (each over --seeds seeds; a seed also draws which classes are rare):
CGPGAN with the `mnist5k` preset at data.imbalance_ratio 1, 10 and 50 and the `digits`
preset at 10, each beside InfoGAN with a uniform prior on the same data (the control: its
prior cannot adapt); the k-means and Gaussian-mixture baselines of every image run; and
CGPGAN (the `gaussians2d` schedule) on 2-D mixtures of 4, 6 and 8 clusters whose smallest
holds 2% (imbalance up to 20). Over-clustered rows ("K = 16, merged to 10") train CGPGAN
with 16 categories at ratio 10 and score it after merging its categories into 10 by how
often images swap category when moved (`cgpgan merge`, cgpgan/merging.py, its default
modularity linkage; no label used), and the same runs again in a row of their own ("merged
at swap rate 0.05"), merged by the swap rate while two groups swap at that rate or more,
without the number of classes; their live_categories is the number of merged groups.
Writes a markdown table per kind of data (mean ± std over seeds) and a figure of the
prior's trajectory (seed 0 of each image configuration without a colon in its label):

    .venv/bin/python benchmarks/imbalance.py --seeds 3 --workers 2

`--only LABEL` (repeatable) runs a subset, e.g. `--only '2-D, 6 clusters'`; the tables also
show the other rows' finished runs. Runs go to --runs (default runs/benchmark-imbalance);
finished runs are reused.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    invocation,
    job_config,
    make_jobs,
    mean_std_table,
    table_runs,
)

INFOGAN_UNIFORM = ["method.name=infogan"]  # the preset's shared settings, a uniform prior


def _ring(count: int, radius: float = 3.0) -> list[list[float]]:
    """`count` cluster centres evenly spaced on a circle."""
    angles = [2 * math.pi * i / count for i in range(count)]
    return [[round(radius * math.cos(a), 3), round(radius * math.sin(a), 3)] for a in angles]


MIXTURES = {  # clusters: their shares, the smallest 2%
    4: [0.40, 0.35, 0.23, 0.02],
    6: [0.40, 0.25, 0.15, 0.10, 0.08, 0.02],
    8: [0.30, 0.20, 0.14, 0.11, 0.09, 0.08, 0.06, 0.02],
}
IMAGES = {
    **{
        f"mnist5k, ratio {ratio}{control}": (
            "mnist5k",
            [f"data.imbalance_ratio={ratio}", *overrides],
        )
        for ratio in (1, 10, 50)
        for control, overrides in (("", []), (": InfoGAN, uniform prior", INFOGAN_UNIFORM))
    },
    "digits, ratio 10": ("digits", ["data.imbalance_ratio=10"]),
    "digits, ratio 10: InfoGAN, uniform prior": (
        "digits",
        ["data.imbalance_ratio=10", *INFOGAN_UNIFORM],
    ),
}
MERGED_TO = 10  # over-clustered rows: their categories merged into this many (`Run.merge`)
MERGE_RATE = 0.05  # ... and, in a row of their own, merged while two groups swap this often
OVER_CLUSTERED = {
    f"{preset}, ratio 10: K = 16, merged to {MERGED_TO}": (
        preset,
        ["data.imbalance_ratio=10", "method.num_categories=16"],
    )
    for preset in ("mnist5k", "digits")
}
IMAGES.update(OVER_CLUSTERED)
POINTS = {
    f"2-D, {count} clusters": (
        "gaussians2d",
        [
            f"data.centers={_ring(count)}",
            f"data.probabilities={shares}",
            f"method.num_categories={count + 4}",
        ],
    )
    for count, shares in MIXTURES.items()
}
IMAGE_METRICS = [
    "accuracy",
    "accuracy_many_to_one",
    "nmi",
    "prior_class_error",
    "live_categories",
    "train_seconds",
]
BASELINE_METRICS = ["accuracy", "accuracy_many_to_one", "nmi"]
BASELINES = ["kmeans_pixels", "gmm_pixels", "kmeans_pca50", "gmm_pca50"]
POINT_METRICS = [
    "live_categories",
    "modes_covered",
    "prior_error",
    "min_category_purity",
    "train_seconds",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="per run; 0: a share of cores")
    parser.add_argument("--only", action="append", default=[], help="this configuration only")
    parser.add_argument("--runs", default="runs/benchmark-imbalance")
    parser.add_argument("--docs", default="docs/benchmarks")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="every run")
    parser.add_argument("--notes", help="a markdown file of findings to put under the tables")
    args = parser.parse_args()

    every = make_jobs({**IMAGES, **POINTS}, args.seeds, args.runs, args.extra, args.threads)
    # the tables: the rows run now and the finished runs of the other rows
    rows = table_runs(every, args.only, args.workers)
    finished = [run for row in rows.values() for run in row]
    by_label = {
        label: [
            _merged(job, run, target=MERGED_TO) if label in OVER_CLUSTERED else run
            for job, run in row
        ]
        for label, row in rows.items()
    }
    for label in OVER_CLUSTERED:  # the same runs merged by the swap rate alone
        if label in rows:
            by_label[_by_rate(label)] = [
                _merged(job, run, min_rate=MERGE_RATE, linkage="swap_rate")
                for job, run in rows[label]
            ]
    with_rates = [name for label in IMAGES for name in dict.fromkeys((label, _by_rate(label)))]
    images = [label for label in with_rates if label in by_label]
    points = [label for label in POINTS if label in by_label]
    sections = []
    if images:
        image_runs = {label: by_label[label] for label in images}
        sections += [
            "## Images\n\n" + mean_std_table(image_runs, IMAGE_METRICS, ("live_categories",)),
            "## Baselines on the same images\n\n" + _baseline_table(image_runs),
        ]
    if points:
        point_runs = {label: by_label[label] for label in points}
        sections.append(
            "## 2-D mixtures\n\n"
            + _mixtures_line()
            + mean_std_table(point_runs, POINT_METRICS, ("live_categories", "modes_covered"))
        )
    print("\n\n".join(sections))
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    figure = docs / "imbalance.png"
    seed0 = [job for job, _ in finished if job.seed == 0 and job.label in images]
    seed0 = [job for job in seed0 if ":" not in job.label]
    if seed0:
        _figure(figure, seed0)
    notes = Path(args.notes).read_text() if args.notes else ""
    (docs / "imbalance.md").write_text(_page(sections, figure.name, args) + notes)


def _by_rate(label: str) -> str:
    """The row of an over-clustered row's runs merged by the swap rate alone."""
    return label.replace(f"merged to {MERGED_TO}", f"merged at swap rate {MERGE_RATE}")


def _merged(job, metrics: dict, **rule) -> dict:
    """An over-clustered run's metrics with its clustering scored after merging its
    categories by `rule` (`Run.merge`'s target or min_rate, and linkage); merge.json is left
    as it is."""
    from cgpgan.run import Run

    result = Run.load(job.directory).merge(**rule, write=False)
    return {**metrics, **result["scores"], "live_categories": len(result["groups"])}


def _mixtures_line() -> str:
    return (
        "Clusters of std 0.3 evenly spaced on a circle of radius 3, with shares "
        + "; ".join(f"{count}: {shares}" for count, shares in MIXTURES.items())
        + "; K = clusters + 4.\n\n"
    )


def _baseline_table(image_runs: dict[str, list[dict]]) -> str:
    """Each baseline's scores on each data set (mean ± std over the seeds' subsets)."""
    rows = {
        f"{label}: {name}": [{"scores": run["baselines"][name]} for run in runs]
        for label, runs in image_runs.items()
        if ":" not in label
        for name in BASELINES
        if all(name in run.get("baselines", {}) for run in runs)
    }
    return mean_std_table(rows, [f"scores.{key}" for key in BASELINE_METRICS])


def _figure(path: Path, jobs) -> None:
    """The prior's trajectory of each job's run beside its data's true class shares."""
    import matplotlib.pyplot as plt
    import numpy as np

    from cgpgan import plots
    from cgpgan.data import build_dataset
    from cgpgan.outputs import read_history

    columns = min(len(jobs), 2)
    rows = math.ceil(len(jobs) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.8 * rows), squeeze=False)
    for axis, job in zip(axes.flat, jobs):
        config = job_config(job)
        labels = build_dataset(config.data, config.seed).labels.numpy()
        truth = np.sort(np.bincount(labels) / len(labels))[::-1]
        plots.draw_prior_trajectory(axis, read_history(Path(job.directory)), truth, job.label)
    for axis in axes.flat[len(jobs) :]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _page(sections: list[str], figure: str, args) -> str:
    others = " (the other rows: the finished runs of earlier calls)" if args.only else ""
    return (
        "# Imbalanced categories\n\n"
        f"Made by `.venv/bin/python {invocation()}`{others}. Image scores are those of "
        "argmax Q(x) on all real images of the run's subset against the true classes; "
        "prior_class_error "
        "is the largest difference between a class's share and the prior of its matched "
        "category (Hungarian matching); the 2-D prior_error is the same against the "
        "mixture's shares.\n\n" + "\n\n".join(sections) + f"\n\n![prior trajectories]({figure})\n\n"
    )


if __name__ == "__main__":
    main()
