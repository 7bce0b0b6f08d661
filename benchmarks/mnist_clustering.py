"""The MNIST experiment of SPEC.md section 1: CGPGAN clusters real digits without labels.

Configurations: K = 10 with the `mnist5k` preset's settings; K = 16 at lambda_cgp in
{1, 5, 10, 100} with the same settings; the VCAGAN paper's sweep with its own method
(preset `mnist5k_vcagan`; the paper reports fewer live categories and lower prior
entropy as lambda grows) at 1, 5, 10 and 30; the same with batch norm in the critic, and
with the preset's earlier `mnist5k` optimiser and critic; both sweeps again on the 8x8
digits. The paper's sweep runs for --trend-seeds seeds, the MNIST sweeps with the
`mnist5k` optimiser for --sweep-seeds (and --sweep-steps steps), everything else for
--seeds. Writes a markdown table (mean ± std over seeds of live categories, prior
entropy, both accuracies, NMI, ARI, self-accuracy, time), the k-means and
Gaussian-mixture baselines on the same data, and a figure of sample grids:

    .venv/bin/python benchmarks/mnist_clustering.py --seeds 3 --workers 2

On full MNIST from IDX files (or Fashion-MNIST):

    .venv/bin/python benchmarks/mnist_clustering.py --set data.name=mnist_idx \\
        --set data.path=/data/mnist --name mnist

`--only LABEL` (repeatable) runs some rows; the table also shows the other rows' finished
runs. Runs go to --runs (default runs/benchmark-NAME); finished runs are reused if their
configuration is the one asked for (and refused, naming the run, if not).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import invocation, make_jobs, mean_std_table, table_runs  # noqa: E402

from cgpgan import load_config  # noqa: E402


def _digits_sizes() -> list[str]:
    """The `digits` preset's data and network sizes, as overrides for another preset."""
    digits = load_config("digits")
    return [
        f"data.name={digits.data.name}",
        f"network.channels={digits.network.channels}",
        f"network.latent_dim={digits.network.latent_dim}",
    ]


DIGITS = _digits_sizes()
# `mnist5k_vcagan`'s earlier version: the `mnist5k` optimiser, no adversarial penalty and
# batch norm in the critic
MNIST5K_TRAINING = [
    "train.learning_rate=0.0002",
    "train.generator_learning_rate=0.001",
    "train.classifier_learning_rate=0.001",
    "train.betas=[0.5,0.99]",
    "train.batch_size=64",
    "method.real_penalty_weight=0.0",
    "network.critic_batch_norm=true",
]
CONFIGURATIONS = {
    "K=10": ("mnist5k", []),
    **{
        f"K=16, lambda={value:g}": (
            "mnist5k",
            ["method.num_categories=16", f"method.lambda_cgp={value}"],
        )
        for value in (1.0, 5.0, 10.0, 100.0)
    },
    **{
        f"VCAGAN K=16, lambda={value:g}": ("mnist5k_vcagan", [f"method.lambda_cgp={value}"])
        for value in (1.0, 5.0, 10.0, 30.0)
    },
    **{
        f"VCAGAN K=16, critic batch norm, lambda={value:g}": (
            "mnist5k_vcagan",
            ["network.critic_batch_norm=true", f"method.lambda_cgp={value}"],
        )
        for value in (1.0, 5.0, 10.0)
    },
    **{
        f"VCAGAN K=16, mnist5k optimiser and critic, lambda={value:g}": (
            "mnist5k_vcagan",
            [*MNIST5K_TRAINING, f"method.lambda_cgp={value}"],
        )
        for value in (1.0, 5.0, 10.0, 30.0, 100.0)
    },
    **{
        f"digits: K=16, lambda={value:g}": (
            "digits",
            ["method.num_categories=16", f"method.lambda_cgp={value}"],
        )
        for value in (1.0, 5.0, 10.0)
    },
    **{
        f"digits: VCAGAN K=16, lambda={value:g}": (
            "mnist5k_vcagan",
            [*DIGITS, *MNIST5K_TRAINING, f"method.lambda_cgp={value}"],
        )
        for value in (1.0, 5.0, 10.0)
    },
    "digits: VCAGAN K=16, lambda=10, 1,000-step warm-up": (
        "mnist5k_vcagan",
        [*DIGITS, *MNIST5K_TRAINING, "method.lambda_cgp=10", "method.warmup_steps=1000"],
    ),
}
# Rows run for --seeds unless listed here. The costly MNIST sweeps at batch 64 run for
# --sweep-seeds (and --sweep-steps); the paper's sweep, whose seeds differ the most,
# for --trend-seeds.
SWEEP = [
    label for label in CONFIGURATIONS if label.startswith("K=16") or "mnist5k optimiser" in label
]
TREND = [label for label in CONFIGURATIONS if label.startswith("VCAGAN K=16, lambda")]
METRICS = [
    "live_categories",
    "prior_entropy",
    "accuracy",
    "accuracy_many_to_one",
    "nmi",
    "ari",
    "self_accuracy",
    "train_seconds",
]
BASELINES = ["kmeans_pixels", "gmm_pixels", "kmeans_pca50", "gmm_pca50"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--sweep-seeds",
        type=int,
        default=None,
        help="seeds of the MNIST sweeps with the mnist5k optimiser (default: --seeds)",
    )
    parser.add_argument(
        "--trend-seeds",
        type=int,
        default=None,
        help="seeds of the paper's lambda sweep (default: --seeds)",
    )
    parser.add_argument(
        "--sweep-steps",
        type=int,
        default=0,
        help="training steps of the sweep's runs (default: the preset's)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per run (0: an equal share of the cores among the workers)",
    )
    parser.add_argument("--name", default="mnist5k", help="names the runs folder and the docs page")
    parser.add_argument(
        "--only", action="append", default=[], help="run only this configuration (repeatable)"
    )
    parser.add_argument("--runs", default=None)
    parser.add_argument("--docs", default="docs/benchmarks")
    parser.add_argument(
        "--set", dest="extra", action="append", default=[], help="override for every run"
    )
    parser.add_argument("--notes", help="a markdown file of findings to put under the tables")
    args = parser.parse_args()
    args.sweep_seeds = args.seeds if args.sweep_seeds is None else args.sweep_seeds
    args.trend_seeds = args.seeds if args.trend_seeds is None else args.trend_seeds

    runs = args.runs or f"runs/benchmark-{args.name}"
    main_runs = {
        label: value for label, value in CONFIGURATIONS.items() if label not in SWEEP + TREND
    }
    trend = {label: value for label, value in CONFIGURATIONS.items() if label in TREND}
    sweep_steps = [f"train.steps={args.sweep_steps}"] if args.sweep_steps else []
    sweep = {
        label: (preset, overrides + sweep_steps)
        for label, (preset, overrides) in CONFIGURATIONS.items()
        if label in SWEEP
    }
    every = (
        make_jobs(main_runs, args.seeds, runs, args.extra, args.threads)
        + make_jobs(trend, args.trend_seeds, runs, args.extra, args.threads)
        + make_jobs(sweep, args.sweep_seeds, runs, args.extra, args.threads)
    )
    every.sort(key=lambda job: list(CONFIGURATIONS).index(job.label))  # table rows in order
    # the table: the rows run now and the finished runs of the other rows
    rows = table_runs(every, args.only, args.workers)
    jobs = [job for row in rows.values() for job, _ in row]
    by_label = {label: [metrics for _, metrics in row] for label, row in rows.items()}
    table = mean_std_table(by_label, METRICS, integer_like=("live_categories",))
    baselines = _baseline_table(next(iter(by_label.values()))[0])
    print(table, baselines, sep="\n\n")
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    figure = docs / f"{args.name}.png"
    _figure(figure, jobs)
    notes = Path(args.notes).read_text() if args.notes else ""
    (docs / f"{args.name}.md").write_text(_page(table, baselines, figure.name, args) + notes)


def _baseline_table(metrics: dict) -> str:
    baselines = metrics.get("baselines", {})
    lines = ["| baseline | accuracy | accuracy_many_to_one | nmi | ari |", "|---|---|---|---|---|"]
    for name in BASELINES:
        if name in baselines:
            scores = baselines[name]
            lines.append(
                f"| {name} | "
                + " | ".join(
                    f"{scores[key]:.4f}"
                    for key in ("accuracy", "accuracy_many_to_one", "nmi", "ari")
                )
                + " |"
            )
    return "\n".join(lines)


def _page(table: str, baselines: str, figure: str, args) -> str:
    command = invocation()
    others = " (the other rows: the finished runs of earlier calls)" if args.only else ""
    trend, sweep = args.trend_seeds, args.sweep_seeds
    steps = f" ({args.sweep_steps} steps)" if args.sweep_steps else ""
    earlier = ", ".join(MNIST5K_TRAINING)
    return f"""# Clustering MNIST digits without labels ({args.name})

Produced by `.venv/bin/python {command}`{others} on a 2-core CPU; mean ± standard deviation
over the seeds run: {trend} for the `VCAGAN K=16, lambda` rows, {sweep} for the MNIST lambda sweeps
with the `mnist5k` optimiser{steps}, {args.seeds} for the others. The K=10 and
`K=16, lambda` rows use the `mnist5k` preset (CGPGAN, see `cgpgan/presets/mnist5k.yaml`)
with the overrides in their label. The `VCAGAN` rows use `mnist5k_vcagan`, the paper's
MNIST setting (VCAGAN, K = 16, the prior updated from the first step, the paper's optimiser
and R1 penalty, no batch norm in the critic). Those marked `critic batch norm` turn it on
(network.critic_batch_norm=true); those marked `mnist5k optimiser and critic`, and the
`digits: VCAGAN` rows, take the preset's earlier settings from `mnist5k` ({earlier}).
The rows starting `digits:` repeat the sweeps on the 8x8 digits: `digits: K=16` with the `digits`
preset, `digits: VCAGAN` with `mnist5k_vcagan` and that preset's data and network sizes
({", ".join(DIGITS)}). Scores are those of
argmax Q(x) on all real images against the true digits: `accuracy` matches categories to
digits one-to-one (Hungarian), `accuracy_many_to_one` maps each category to its majority
digit (the fair score for K = 16), `self_accuracy` is Q's accuracy on generated images.

{table}

Baselines on the images of the first row (scikit-learn, 10 clusters, seed 0):

{baselines}

![sample grids, seed 0: rows share z, columns are categories ordered by prior]({figure})
"""


def _figure(path: Path, jobs) -> None:
    import matplotlib.pyplot as plt

    from cgpgan.plots import draw_image_grid
    from cgpgan.run import Run

    first_seed = [job for job in jobs if job.seed == 0]
    figure, axes = plt.subplots(
        len(first_seed), 1, figsize=(9, 3.2 * len(first_seed)), squeeze=False
    )
    for axis, job in zip(axes[:, 0], first_seed):
        run = Run.load(job.directory, device="cpu")
        grid, order = run.sample_grid(rows=5, seed=0)
        prior = run.prior[0]
        draw_image_grid(axis, grid.numpy(), [f"{prior[k]:.2f}" for k in order], job.label)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


if __name__ == "__main__":
    main()
