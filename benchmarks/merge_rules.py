"""Merging rules compared on finished over-clustered runs: which pair of groups to merge
next, measured against the grouping the labels would choose.

Every run (a CGPGAN run with more categories than classes, e.g. `mnist5k_imbalanced` or
`digits_imbalanced`) is classified once: its items' categories and the swap counts of
--repeats moved copies (`cgpgan.merging.category_swaps`, the run's own moves and seed, as
`cgpgan merge` does), and the swaps expected from Q's probabilities of those copies
(`expected_swaps`). Its categories are then merged into --categories groups by greedy
merging with each linkage below, and scored (accuracy, NMI, prior-vs-class error). The
reference row groups every category with its majority class (labels used): no merging of
these categories can do better on purity, so the gap between a rule and it is the rule's,
and the rest is training's. Nothing is trained and no run is changed. Writes a markdown
table per kind of run (runs with the same data settings), mean ± std over runs, and each
run's numbers:

    .venv/bin/python benchmarks/merge_rules.py runs/imbalanced/mnist5k_s0 ... \\
        --out docs/benchmarks/merge_rules.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import invocation, mean_std_table  # noqa: E402

from cgpgan import Run  # noqa: E402
from cgpgan.data import build_dataset  # noqa: E402
from cgpgan.merging import (  # noqa: E402
    category_swaps,
    grouped_scores,
    majority_groups,
    merge_groups,
    modularity_gain,
    moved_probabilities,
    pooled_rate,
)

METRICS = ["accuracy", "nmi", "prior_class_error"]


def _directed(swaps: np.ndarray, sizes: np.ndarray, repeats: int, a: list, b: list):
    """The share of a's moved copies that land in b, and of b's in a."""
    a_to_b = swaps[np.ix_(a, b)].sum() / (repeats * sizes[a].sum())
    return a_to_b, swaps[np.ix_(b, a)].sum() / (repeats * sizes[b].sum())


def _pairwise(swaps: np.ndarray, sizes: np.ndarray, repeats: int, a: list, b: list):
    """The pooled rates of every category of a with every category of b."""
    return np.array([[pooled_rate(swaps, sizes, repeats, [i], [j]) for j in b] for i in a])


LINKAGES = {  # name: (what it is, linkage(swaps, sizes, repeats, a, b))
    "modularity": (
        "the gain in modularity of the graph of swaps (`cgpgan merge`'s default)",
        modularity_gain,
    ),
    "pooled": ("swaps both ways over both groups' copies (`--linkage swap_rate`)", pooled_rate),
    "larger share": ("the larger of the two directed shares", lambda *g: max(_directed(*g))),
    "mean share": ("the mean of the two directed shares", lambda *g: np.mean(_directed(*g))),
    "geometric share": (
        "the geometric mean of the two directed shares",
        lambda *g: float(np.sqrt(np.prod(_directed(*g)))),
    ),
    "single": ("the highest pooled rate of two members", lambda *g: _pairwise(*g).max()),
    "average": ("the mean pooled rate of the members' pairs", lambda *g: _pairwise(*g).mean()),
}
EXPECTED = {f"{name}, expected swaps": name for name in ("modularity", "pooled")}  # row: linkage
REFERENCE = "by majority class (labels)"


def expected_swaps(categories: np.ndarray, moved: list[np.ndarray]) -> np.ndarray:
    """swaps[i, j]: the sum of Q's probabilities of j over the moved copies of category
    i's items, the expected value of the swap counts given Q's probabilities (each moved
    copy counted fractionally in every category instead of once in its argmax)."""
    items_of = np.eye(moved[0].shape[1])[categories]  # [N, K] one-hot
    return sum(items_of.T @ probabilities for probabilities in moved)


def scores_of(directory: Path, target: int, repeats: int) -> tuple[str, dict[str, dict]]:
    """The run's kind (its data settings) and its scores merged with each linkage."""
    run = Run.load(directory, device="cpu")
    dataset = build_dataset(run.config.data, run.config.seed)
    if dataset.labels is None:
        raise SystemExit(f"{directory}: its data set has no labels to score")
    probabilities, moved = moved_probabilities(run, dataset.items, repeats, run.config.seed)
    categories, swaps = category_swaps(probabilities, moved)
    soft_swaps = expected_swaps(categories, [copy.numpy() for copy in moved])
    prior = run.prior[0].numpy()
    labels = dataset.labels.numpy()
    sizes = np.bincount(categories, minlength=len(prior))
    scores = {}
    for name, (_, linkage) in LINKAGES.items():
        groups = merge_groups(swaps, sizes, repeats, target, linkage=linkage).groups
        scores[name] = grouped_scores(groups, categories, labels, prior)
    for row, name in EXPECTED.items():  # the same linkages on the expected swaps
        linkage = LINKAGES[name][1]
        groups = merge_groups(soft_swaps, sizes, repeats, target, linkage=linkage).groups
        scores[row] = grouped_scores(groups, categories, labels, prior)
    majority = majority_groups(categories, labels, len(prior))
    scores[REFERENCE] = grouped_scores(majority, categories, labels, prior)
    data = run.config.data
    return f"{data.name}, ratio {data.imbalance_ratio}", scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished over-clustered runs")
    parser.add_argument("--categories", type=int, default=10, help="groups to merge into")
    parser.add_argument("--repeats", type=int, default=8, help="moved copies of each item")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/merge_rules.md"))
    args = parser.parse_args()

    by_kind: dict[str, dict[str, list[dict]]] = {}
    each_run = []
    for directory in args.runs:
        kind, scores = scores_of(directory, args.categories, args.repeats)
        for name, values in scores.items():
            by_kind.setdefault(kind, {}).setdefault(name, []).append(values)
        cells = [
            f"{scores[n]['accuracy']:.3f} / {scores[n]['prior_class_error']:.3f}" for n in scores
        ]
        each_run.append(f"| {directory.name} | " + " | ".join(cells) + " |")
        print(f"{directory}: done", flush=True)

    names = [*LINKAGES, *EXPECTED, REFERENCE]
    lines = [
        "# Merging rules on over-clustered runs",
        "",
        f"Made by `.venv/bin/python {invocation()}` (the docstring of "
        "`benchmarks/merge_rules.py` says what it does). Merged into "
        f"{args.categories} groups; mean ± std over the runs of a kind. Linkages:",
        "",
        *[f"- {name}: {what}" for name, (what, _) in LINKAGES.items()],
        *[
            f"- {row}: {name} on the swaps expected from Q's probabilities of "
            "the moved copies (each copy counted fractionally in every category)"
            for row, name in EXPECTED.items()
        ],
        f"- {REFERENCE}: each category with its majority class's (a reference, not a rule)",
    ]
    for kind, rows in by_kind.items():
        lines += ["", f"## {kind}", "", mean_std_table(rows, METRICS)]
    lines += [
        "",
        "## Each run: accuracy / prior-vs-class error",
        "",
        "| run | " + " | ".join(names) + " |",
        "|" + "---|" * (len(names) + 1),
        *each_run,
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
