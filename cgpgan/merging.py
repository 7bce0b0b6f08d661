"""Over-cluster, then merge: the categories of a run trained with more categories than
wanted, merged into `target` groups without labels (`cgpgan merge RUN_DIR --categories N`).

On imbalanced images CGPGAN splits a big class over several categories (by style: slant,
width) rather than leave its surplus categories dead, and those categories are pure
(docs/imbalance.md). Two categories that split one class swap under small moves of an
image far more often than the categories of two different classes, so:

1. every real item of the run's data set gets its category c(x) = argmax Q(x) (first
   label), and each of `repeats` moved copies (the method's own moves:
   `method.augment_shift`, `augment_rotation`, `augment_scale`; for a method without
   them CGPGAN's defaults, shifts of up to 2 pixels) its category c(moved x);
2. swaps[i, j] counts the items of category i whose moved copy landed in j;
3. groups start as the categories that hold an item; the two groups A, B with the highest
   swap rate (swaps from A to B and from B to A, over `repeats` (n_A + n_B)) are merged,
   until `target` groups remain.

An item's merged category is its category's group; a group's prior is the sum of its
members' priors. No label is used; where the data have labels the merged clustering is
scored like the run's own (accuracy, many-to-one, NMI, ARI, prior_class_error).

With `method.merge_into` set, CGPGAN merges at the end of training: the run's evaluation
writes merge.json and the merged scores (metrics.json `merged`), and its pictures include
plots/samples_merged.png; `Run.sample(group=...)` generates a merged group.
"""

from __future__ import annotations

import numpy as np
import torch

from cgpgan.augment import random_affine
from cgpgan.errors import RunError
from cgpgan.methods.cgpgan import CGPGANConfig
from cgpgan.metrics.images import clustering_of


def swap_counts(categories: np.ndarray, moved: list[np.ndarray], num_categories: int):
    """counts[i, j]: how many items of category i had a moved copy in category j, over
    all the copies in `moved` (each [N], the categories of one moved copy of every item)."""
    counts = np.zeros((num_categories, num_categories), dtype=np.int64)
    for after in moved:
        np.add.at(counts, (categories, after), 1)
    return counts


def merge_groups(swaps: np.ndarray, sizes: np.ndarray, repeats: int, target: int) -> list:
    """Greedy merging of the categories with an item (sizes > 0) into `target` groups,
    the pair with the highest swap rate first (see the module's docstring); each group a
    sorted list of categories, the groups in order of their smallest category."""
    if target < 1:
        raise RunError(f"merge: --categories must be at least 1, got {target}")
    groups = [[category] for category in np.flatnonzero(sizes > 0).tolist()]

    def rate(a: list, b: list) -> float:
        between = swaps[np.ix_(a, b)].sum() + swaps[np.ix_(b, a)].sum()
        return between / (repeats * (sizes[a].sum() + sizes[b].sum()))

    while len(groups) > target:
        pairs = [(i, j) for i in range(len(groups)) for j in range(i + 1, len(groups))]
        i, j = max(pairs, key=lambda pair: rate(groups[pair[0]], groups[pair[1]]))
        groups[i] = sorted(groups[i] + groups.pop(j))
    return sorted(groups)


def merge_target(config) -> int:
    """The groups a run's categories are merged into after training (`method.merge_into`,
    a CGPGAN setting); 0: none."""
    return getattr(config.method, "merge_into", 0)


def moves_of(settings) -> tuple[int, float, float]:
    """The moves (largest shift in pixels, rotation in degrees, relative scale) of a run's
    method settings: its `augment_*` keys, or CGPGAN's defaults for a method without them."""
    keys = ("augment_shift", "augment_rotation", "augment_scale")
    return tuple(getattr(settings, key, getattr(CGPGANConfig, key)) for key in keys)


@torch.no_grad()
def merge(run, dataset, target: int, repeats: int = 8, seed: int = 0) -> dict:
    """Merge `run`'s categories into `target` groups on `dataset` (its items; labels, if
    any, for scoring only). Returns the groups, each category's group (-1: a category no
    item falls in), the groups' priors and, with labels, the merged clustering's scores."""
    items = dataset.items
    if items.dim() != 4:
        raise RunError("merge: needs image data (the moved copies are shifted images)")
    moves = moves_of(run.config.method)
    if not any(moves):
        raise RunError(
            "merge: the run's moves are all 0 (method.augment_shift, augment_rotation, "
            "augment_scale): no image would swap category"
        )

    def categories_of(x: torch.Tensor) -> np.ndarray:
        return run.cluster(x)[0][:, 0].numpy()  # argmax Q(x) of the first label

    categories = categories_of(items)
    num_categories = run.prior.shape[1]
    generator = torch.Generator().manual_seed(seed)
    moved = [categories_of(random_affine(items, generator, *moves)) for _ in range(repeats)]
    sizes = np.bincount(categories, minlength=num_categories)
    groups = merge_groups(swap_counts(categories, moved, num_categories), sizes, repeats, target)
    group_of = np.full(num_categories, -1)
    for index, members in enumerate(groups):
        group_of[members] = index
    prior = run.prior[0].numpy()
    group_prior = np.array([prior[members].sum() for members in groups])
    result = {
        "target": target,
        "repeats": repeats,
        "groups": groups,
        "category_group": group_of.tolist(),
        "group_prior": group_prior.tolist(),
    }
    if getattr(dataset, "labels", None) is not None:
        labels = dataset.labels.numpy()
        scores = clustering_of(group_of[categories], labels, group_prior)
        scores.pop("contingency")
        before = clustering_of(categories, labels, prior)
        before.pop("contingency")
        result["scores"] = scores
        result["scores_before"] = before
    return result
