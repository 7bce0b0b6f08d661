"""Critic normalisations: CGPGAN and VCAGAN with today's gradient penalties, spectral
normalisation, GN and PGN (both readings), each without and with consistency
regularisation (weight 5), on (a) the paper's 2-D mixture (the `gaussians2d` schedule)
and (b) the `mnist5k` recipe at K = 10. With a normaliser the gradient penalties are off
(weights 0, the papers' setting); the classifier's own penalty stays. On mnist5k a
normalised critic has no batch norm and no minibatch-std feature, and CGPGAN's generator
no classification term. Writes a markdown table per data set (mean ± std over seeds, with
seconds per step) into the docs:

    .venv/bin/python benchmarks/normalization.py --part 2d --seeds 3 --workers 2
    .venv/bin/python benchmarks/normalization.py --part mnist5k --seeds 1 --workers 2

`--only LABEL` (repeatable) runs some rows; the table also shows the other rows'
finished runs (every seed an earlier call trained, whatever --seeds says). Runs go to
--runs (default runs/benchmark-normalization); finished runs are reused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import invocation, make_jobs, mean_std_table, table_runs  # noqa: E402

NO_PENALTIES = ["method.real_penalty_weight=0", "method.fake_penalty_weight=0"]
CRITICS = {
    "penalties": [],
    "spectral": ["method.critic_normalization=spectral", *NO_PENALTIES],
    "GN": ["method.critic_normalization=gn", *NO_PENALTIES],
    "PGN (paper)": ["method.critic_normalization=pgn", *NO_PENALTIES],
    "PGN (GN of 1 - f)": [
        "method.critic_normalization=pgn",
        "method.pgn_reading=gn_of_one_minus",
        *NO_PENALTIES,
    ],
}
CONSISTENCY = {"": [], ", consistency": ["method.consistency_weight=5"]}
PRESETS = {  # part: {method: preset}
    "2d": {"CGPGAN": "gaussians2d", "VCAGAN": "gaussians2d_vcagan"},
    "mnist5k": {"CGPGAN": "mnist5k", "VCAGAN": "mnist5k_vcagan"},
}
MNIST5K_K10 = {"VCAGAN": ["method.num_categories=10"], "CGPGAN": []}
# On mnist5k a normalised critic drops the recipe's batch statistics (batch norm, the
# minibatch-std feature): GN and PGN need each sample's score to depend on that sample
# only. And the generator is trained by the adversarial loss alone: beside a bounded
# score, the recipe's classification term for G outweighs it (docs/normalization.md).
PER_SAMPLE_CRITIC = ["network.critic_batch_norm=false", "network.minibatch_std=false"]
NORMALISED_RECIPE = {
    "CGPGAN": [*PER_SAMPLE_CRITIC, "method.generator_cls_weight=0"],
    "VCAGAN": PER_SAMPLE_CRITIC,  # its generator has no classification term
}
METRICS = {
    "2d": [
        "live_categories",
        "prior_error",
        "three_sigma_share",
        "min_category_purity",
        "seconds_per_step",
    ],
    "mnist5k": [
        "accuracy",
        "nmi",
        "self_accuracy",
        "classifier_fid",
        "classifier_kid",
        "seconds_per_step",
    ],
}


PRESET_ROWS = {
    "2d": {
        "CGPGAN, preset gaussians2d_pgn (PGN, lambda_cgp 0.3)": "gaussians2d_pgn",
        "CGPGAN, preset gaussians2d_gn (GN, G's class term 0.3, G rate 1e-4)": "gaussians2d_gn",
    },
    "mnist5k": {"CGPGAN, preset mnist5k_pgn (PGN, lambda_cgp 0.3)": "mnist5k_pgn"},
}


def configurations(part: str) -> dict[str, tuple[str, list[str]]]:
    rows = {label: (preset, []) for label, preset in PRESET_ROWS.get(part, {}).items()}
    for method, preset in PRESETS[part].items():
        sizes = MNIST5K_K10[method] if part == "mnist5k" else []
        for critic, critic_overrides in CRITICS.items():
            recipe = NORMALISED_RECIPE[method] if part == "mnist5k" and critic_overrides else []
            for suffix, consistency in CONSISTENCY.items():
                rows[f"{method}, {critic}{suffix}"] = (
                    preset,
                    [*sizes, *critic_overrides, *recipe, *consistency],
                )
    return rows


CONFIGURATIONS = {**configurations("2d"), **configurations("mnist5k")}  # for the tests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=tuple(PRESETS), default="2d")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", action="append", default=[], help="this row only")
    parser.add_argument("--runs", default="runs/benchmark-normalization")
    parser.add_argument("--docs", default="docs/benchmarks")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="every run")
    args = parser.parse_args()

    runs = f"{args.runs}/{args.part}"
    every = make_jobs(configurations(args.part), args.seeds, runs, args.extra)
    by_label: dict[str, list[dict]] = {}
    for label, finished in table_runs(every, args.only, args.workers).items():
        for _, metrics in finished:
            metrics["seconds_per_step"] = metrics["train_seconds"] / metrics["step"]
        by_label[label] = [metrics for _, metrics in finished]
    table = mean_std_table(by_label, METRICS[args.part], ("live_categories",))
    print(table)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    command = invocation()
    page = docs / f"normalization_{args.part}.md"
    page.write_text(
        f"# Critic normalisations: {args.part}\n\nMade by `.venv/bin/python {command}` "
        "(with `--only`, the other rows are the finished runs of earlier calls); "
        "mean ± std over seeds; seconds per step as measured with two runs sharing the "
        "machine's cores. What the rows show: docs/normalization.md.\n\n" + table + "\n"
    )


if __name__ == "__main__":
    main()
