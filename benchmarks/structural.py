"""Representations learnt by the critic: the structural objectives against the same
networks trained as a plain hinge-loss GAN (the three terms off) and against a CGPGAN
run's critic (whose trunk CGPGAN's Q reads in these presets) and the features of a CGPGAN
run's Q of its own (`method.classifier_trunk=own`), on the 8x8 digits and the
5,000 MNIST digits; each run's features scored by `cgpgan probe` (linear probe and
spherical k-means x20). Also the double spiral: samples and the critic's feature
embedding coloured by arm. Writes a markdown table (mean ± std over seeds) and figures:

    .venv/bin/python benchmarks/structural.py --part digits --seeds 3 --workers 2
    .venv/bin/python benchmarks/structural.py --part mnist5k --seeds 3 --workers 2
    .venv/bin/python benchmarks/structural.py --part spiral --seeds 1 --workers 1

The rows "structural, no ... term" take one term off at a time; the last three are the
smoothness term on every step (not lazily), the paper's GroupNorm/ELU critic and the
authors' script's crops of the real images. `--only LABEL`
(repeatable) runs some rows; the table also shows the other rows' finished runs. Runs go
to --runs (default runs/benchmark-structural); finished runs (and their probe.json) are
reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    invocation,
    make_jobs,
    mean_std_table,
    slug,
    table_runs,
)

from cgpgan.run import probe_files  # noqa: E402

OFF = ["method.coarse=none", "method.fine_weight=0", "method.smoothness_weight=0"]
Q_OF_ITS_OWN = "CGPGAN with a Q of its own (Q's features)"  # the row probing Q, not D
GROUP_NORM_ELU = ["network.critic_group_norm=true", "network.critic_activation=elu"]
SPIRAL = [  # the 2-D schedule of `gaussians2d` (MLPs) on the double spiral
    "method.name=structural",
    "data.name=double_spiral",
    "method.num_categories=2",
    "method.bank_size=2048",
]


def configurations(part: str) -> dict[str, tuple[str, list[str]]]:
    if part == "spiral":
        return {
            "structural, double spiral": ("gaussians2d", SPIRAL),
            "hinge baseline, double spiral": ("gaussians2d", [*SPIRAL, *OFF]),
        }
    preset = f"{part}_structural"
    return {
        "structural": (preset, []),
        "hinge baseline (same networks, terms off)": (preset, OFF),
        "CGPGAN (critic trunk, which Q reads)": (part, []),
        Q_OF_ITS_OWN: (part, ["method.classifier_trunk=own"]),
        # one term off at a time: which of them shapes the features
        "structural, no coarse term": (preset, [OFF[0]]),
        "structural, no fine term": (preset, [OFF[1]]),
        "structural, no smoothness term": (preset, [OFF[2]]),
        # the Jacobian term on every step instead of every 4th (the presets' lazy setting)
        "structural, smoothness every step": (preset, ["method.smoothness_every=1"]),
        # the paper's critic (GroupNorm, ELU) and the authors' script's real-image crops
        "structural, GroupNorm and ELU critic": (preset, GROUP_NORM_ELU),
        "structural, real images cropped": (preset, ["method.real_crop_scale=0.5"]),
    }


CONFIGURATIONS = {
    f"{part}: {label}": value
    for part in ("digits", "mnist5k", "spiral")
    for label, value in configurations(part).items()
}  # for the tests
METRICS = [
    "linear_accuracy",
    "kmeans_accuracy",
    "kmeans_accuracy_std",
    "kmeans_nmi",
    "silhouette",
    "class_spread",
    "uniformity",
]


def network_of(label: str) -> str:
    """The network whose features a row's runs are probed on."""
    return "classifier" if label == Q_OF_ITS_OWN else "critic"


def probe_scores(directory: str, network: str = "critic") -> dict:
    """The run's probe of its `network`'s features, made if missing or without a score of
    METRICS (20 k-means repetitions)."""
    from cgpgan.run import Run

    path = Path(directory) / probe_files(network)[0]
    scores = json.loads(path.read_text()) if path.is_file() else {}
    if not set(METRICS) <= set(scores):
        Run.load(directory).probe(network)
        scores = json.loads(path.read_text())
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("digits", "mnist5k", "spiral"), default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", action="append", default=[], help="this row only")
    parser.add_argument("--runs", default="runs/benchmark-structural")
    parser.add_argument("--docs", default="docs/benchmarks")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="every run")
    args = parser.parse_args()

    every = make_jobs(configurations(args.part), args.seeds, f"{args.runs}/{args.part}", args.extra)
    # the table: the rows run now and the runs of the other rows that are finished already
    finished = [run for row in table_runs(every, args.only, args.workers).values() for run in row]
    jobs = [job for job, _ in finished]
    scores: dict[str, list[dict]] = {}
    for job, metrics in finished:
        probe = probe_scores(job.directory, network_of(job.label))
        probe["seconds_per_step"] = metrics["train_seconds"] / metrics["step"]
        scores.setdefault(job.label, []).append(probe)
    table = mean_std_table(scores, [*METRICS, "seconds_per_step"])
    print(table)
    docs = Path(args.docs)
    figures = docs / "structural"
    figures.mkdir(parents=True, exist_ok=True)
    pictures = []
    for job in jobs:
        if job.seed != 0:
            continue
        embedding = Path(probe_files(network_of(job.label))[1]).stem
        for name in (embedding, "samples"):
            picture = Path(job.directory) / "plots" / f"{name}.png"
            if picture.is_file():
                target = f"{args.part}-{slug(job.label)}-{name}.png"
                shutil.copyfile(picture, figures / target)
                pictures.append(f"- {job.label}, {name}: ![{name}](structural/{target})")
    command = invocation()
    (docs / f"structural_{args.part}.md").write_text(
        f"# Critic representations: {args.part}\n\nMade by `.venv/bin/python {command}` "
        "(with `--only`, the other rows are the finished runs of earlier calls); "
        "mean ± std over seeds of each run's `cgpgan probe` scores (critic trunk features, "
        "l2-normalised; k-means: each run's mean over 20 repetitions; silhouette, class_spread "
        "and uniformity: the features' geometry, see `cgpgan/metrics/probe.py`); seconds per "
        "step as "
        "measured with the parallel runs sharing the machine's cores. What the rows show: "
        "docs/structural.md.\n\n" + table + "\n\nFigures (seed 0):\n\n" + "\n".join(pictures) + "\n"
    )


if __name__ == "__main__":
    main()
