"""Over-cluster, then merge: the categories of a run trained with more categories than
wanted, merged without labels (`cgpgan merge RUN_DIR --categories N` / `--min-rate R`).

On imbalanced images CGPGAN splits a big class over several categories (by style: slant,
width) rather than leave its surplus categories dead, and those categories are pure
(docs/imbalance.md). Two categories that split one class swap under small moves of an
image far more often than the categories of two different classes, so:

1. every real item of the run's data set gets its category c(x) = argmax Q(x) (first
   label), and each of `repeats` moved copies (the method's own moves:
   `method.augment_shift`, `augment_rotation`, `augment_scale`; for a method without
   them CGPGAN's defaults, shifts of up to 2 pixels) its category c(moved x)
   (`moved_probabilities`, `category_swaps`);
2. swaps[i, j] counts the items of category i whose moved copy landed in j;
3. groups start as the categories that hold an item, and the two groups that the
   linkage (`LINKAGES`) rates highest are merged, until `target` groups remain or, with a
   `min_rate`, until the next two groups to merge swap at a lower rate (a stop that needs
   no number of classes). The swap rate of groups A and B: swaps from A to B and from B
   to A, over `repeats` (n_A + n_B). The linkages:
   - `modularity` (the default): the gain in Newman's modularity of the graph whose edge
     weights are the swaps between categories, `2 (e_AB - a_A a_B)` with e_AB the share
     of all swaps that fall between A and B and a_A the share that start or end in A.
     Against the swap rate it discounts a category that swaps with many others (one that
     mixes two classes, on the border of both), which the swap rate joins to whichever
     neighbour it swaps with most;
   - `swap_rate`: the swap rate itself (greedy merging by the pooled rate).

An item's merged category is its category's group; a group's prior is the sum of its
members' priors. No label is used; where the data have labels the merged clustering is
scored like the run's own (accuracy, many-to-one, NMI, ARI, prior_class_error), and so is,
for reference, the grouping the labels would choose: every category with the others whose
items are mostly of the same class (`scores_by_majority`). What separates the merged
scores from those is the merging's doing; what separates those from perfect, training's
(categories that mix classes, classes without a category of their own).

With `method.merge_into` set, CGPGAN merges at the end of training: the run's evaluation
writes merge.json and the merged scores (metrics.json `merged`), and its pictures include
plots/samples_merged.png; `Run.sample(group=...)` generates a merged group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from cgpgan.augment import random_affine
from cgpgan.errors import RunError
from cgpgan.methods.cgpgan import CGPGANConfig
from cgpgan.metrics.clustering import contingency
from cgpgan.metrics.images import clustering_of


def swap_counts(categories: np.ndarray, moved: list[np.ndarray], num_categories: int):
    """counts[i, j]: how many items of category i had a moved copy in category j, over
    all the copies in `moved` (each [N], the categories of one moved copy of every item)."""
    counts = np.zeros((num_categories, num_categories), dtype=np.int64)
    for after in moved:
        np.add.at(counts, (categories, after), 1)
    return counts


def majority_groups(categories: np.ndarray, labels: np.ndarray, num_categories: int):
    """The categories holding an item grouped by the class most of their items belong to,
    the groups in order of that class: the grouping labels would choose."""
    table = contingency(categories, labels, num_categories)
    live = table.sum(axis=1) > 0
    majority = np.where(live, table.argmax(axis=1), -1)
    return [np.flatnonzero(majority == k).tolist() for k in np.unique(majority[live])]


@dataclass
class Merging:
    """The result of `merge_groups`."""

    groups: list[list[int]]  # sorted lists of categories, in order of their smallest category
    rates: list[float]  # the swap rate of each merge made, in order
    next_rate: float  # the swap rate of the merge the linkage would make next (NaN: one group)


def pooled_rate(swaps: np.ndarray, sizes: np.ndarray, repeats: int, a: list, b: list) -> float:
    """The swap rate of groups `a` and `b`: swaps from a to b and from b to a, over all the
    moved copies of both (the module's docstring)."""
    between = swaps[np.ix_(a, b)].sum() + swaps[np.ix_(b, a)].sum()
    return float(between / (repeats * (sizes[a].sum() + sizes[b].sum())))


def modularity_gain(swaps: np.ndarray, sizes: np.ndarray, repeats: int, a: list, b: list):
    """The gain in modularity of merging groups `a` and `b` in the graph of the swaps
    between categories (the module's docstring); 0 if nothing swaps."""
    between = swaps - np.diag(np.diag(swaps))
    links = (between + between.T).astype(np.float64)
    total = links.sum()
    if total == 0:
        return 0.0
    share = links.sum(axis=1) / total
    return float(2 * (links[np.ix_(a, b)].sum() / total - share[a].sum() * share[b].sum()))


LINKAGES = {"modularity": modularity_gain, "swap_rate": pooled_rate}


def merge_groups(
    swaps: np.ndarray,
    sizes: np.ndarray,
    repeats: int,
    target: int = 1,
    min_rate: float = 0.0,
    linkage=modularity_gain,
) -> Merging:
    """Greedy merging of the categories with an item (sizes > 0): the pair of groups that
    `linkage(swaps, sizes, repeats, a, b)` rates highest is merged next (a and b lists of
    categories; see the module's docstring), until `target` groups remain or the next
    merge's two groups swap at a rate below `min_rate`. The rates recorded are swap rates
    (`pooled_rate`), whatever the linkage."""
    if target < 1:
        raise RunError(f"merge: --categories must be at least 1, got {target}")
    if not 0 <= min_rate < 1:
        raise RunError(f"merge: --min-rate must be in [0, 1), got {min_rate}")
    groups = [[category] for category in np.flatnonzero(sizes > 0).tolist()]
    rates: list[float] = []
    while len(groups) > 1:
        pairs = [(a, b) for i, a in enumerate(groups) for b in groups[i + 1 :]]
        a, b = max(pairs, key=lambda pair: linkage(swaps, sizes, repeats, *pair))
        rate = pooled_rate(swaps, sizes, repeats, a, b)
        if len(groups) <= target or rate < min_rate:
            return Merging(sorted(groups), rates, rate)
        groups = [group for group in groups if group is not b]
        groups[groups.index(a)] = sorted(a + b)
        rates.append(rate)
    return Merging(groups, rates, math.nan)


def merge_rule(config) -> dict | None:
    """How a run's categories are merged after training (`method.merge_into`,
    `method.merge_min_rate`, `method.merge_linkage`, CGPGAN settings): `merge`'s target,
    min_rate and linkage; None: not."""
    if not getattr(config.method, "merges", ""):
        return None
    method = config.method
    return {
        "target": method.merge_into or 1,
        "min_rate": method.merge_min_rate,
        "linkage": method.merge_linkage,
    }


def moves_of(settings) -> tuple[int, float, float]:
    """The moves (largest shift in pixels, rotation in degrees, relative scale) of a run's
    method settings: its `augment_*` keys, or CGPGAN's defaults for a method without them."""
    keys = ("augment_shift", "augment_rotation", "augment_scale")
    return tuple(getattr(settings, key, getattr(CGPGANConfig, key)) for key in keys)


@torch.no_grad()
def moved_probabilities(run, items: torch.Tensor, repeats: int, seed: int):
    """Q's probabilities (first label) [N, K] of every item, and a list of `repeats` such
    arrays, one for each moved copy of every item (the run's method's moves, drawn from
    a generator seeded with `seed`)."""
    if items.dim() != 4:
        raise RunError("merge: needs image data (the moved copies are shifted images)")
    moves = moves_of(run.config.method)
    if not any(moves):
        raise RunError(
            "merge: the run's moves are all 0 (method.augment_shift, augment_rotation, "
            "augment_scale): no image would swap category"
        )
    generator = torch.Generator().manual_seed(seed)
    moved = [run.classify(random_affine(items, generator, *moves)) for _ in range(repeats)]
    return run.classify(items)[:, 0], [probabilities[:, 0] for probabilities in moved]


def category_swaps(probabilities: torch.Tensor, moved: list[torch.Tensor]):
    """Each item's category (argmax of its `probabilities`, [N, K]) and the swap counts of
    its moved copies (`swap_counts`; `moved`, as `moved_probabilities` gives them)."""
    categories = probabilities.argmax(dim=1).numpy()
    after = [copy.argmax(dim=1).numpy() for copy in moved]
    return categories, swap_counts(categories, after, probabilities.shape[1])


def merge(
    run,
    dataset,
    target: int = 1,
    repeats: int = 8,
    seed: int = 0,
    min_rate: float = 0.0,
    linkage: str | None = None,
) -> dict:
    """Merge `run`'s categories on `dataset` (its items; labels, if any, for scoring only)
    by the `linkage` named (`LINKAGES`; None: the run's `method.merge_linkage`, or CGPGAN's
    default for a method without it) until `target` groups remain or the next two groups
    to merge swap at a rate below `min_rate`. Returns the groups, each category's group
    (-1: a category no item falls in), the groups' priors, the swap rate of each merge made
    and of the next, and, with labels, the scores of the merged clustering, of the categories
    unmerged and of their grouping by majority class (`majority_groups`, a reference)."""
    if linkage is None:
        linkage = getattr(run.config.method, "merge_linkage", CGPGANConfig.merge_linkage)
    if linkage not in LINKAGES:
        raise RunError(f"merge: linkage must be one of {', '.join(LINKAGES)}, got {linkage!r}")
    categories, swaps = category_swaps(*moved_probabilities(run, dataset.items, repeats, seed))
    prior = run.prior[0].numpy()
    sizes = np.bincount(categories, minlength=len(prior))
    merging = merge_groups(swaps, sizes, repeats, target, min_rate, LINKAGES[linkage])
    group_of, group_prior = grouping(merging.groups, prior)
    result = {
        "target": target,
        "min_rate": min_rate,
        "linkage": linkage,
        "repeats": repeats,
        "groups": merging.groups,
        "merge_rates": merging.rates,
        "next_rate": merging.next_rate,
        "category_group": group_of.tolist(),
        "group_prior": group_prior.tolist(),
    }
    if getattr(dataset, "labels", None) is not None:
        labels = dataset.labels.numpy()
        majority = majority_groups(categories, labels, len(prior))
        result["scores"] = grouped_scores(merging.groups, categories, labels, prior)
        result["scores_before"] = grouped_scores(None, categories, labels, prior)
        result["scores_by_majority"] = grouped_scores(majority, categories, labels, prior)
    return result


def grouping(groups: list[list[int]], prior: np.ndarray):
    """Each category's group (-1: in none) and each group's prior (its members' sum)."""
    group_of = np.full(len(prior), -1)
    for index, members in enumerate(groups):
        group_of[members] = index
    return group_of, np.array([prior[members].sum() for members in groups])


def grouped_scores(groups, categories: np.ndarray, labels: np.ndarray, prior: np.ndarray):
    """The clustering scores of the items' `categories` merged into `groups` (None: not
    merged), a group's prior its members' sum."""
    if groups is not None:
        group_of, prior = grouping(groups, prior)
        categories = group_of[categories]
    scores = clustering_of(categories, labels, prior)
    scores.pop("contingency")
    return scores
