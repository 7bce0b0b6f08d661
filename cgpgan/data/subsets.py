"""Class-imbalanced subsets of a labelled data set: the shares each class gets, and the
largest seeded subset that has them. The labels pick the subset and stay for scoring
only; training still sees no label (unless data.labelled_fraction says otherwise)."""

from __future__ import annotations

import numpy as np

from cgpgan.config import DataConfig
from cgpgan.errors import DataError


def long_tail_shares(num_classes: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Class shares falling geometrically from the largest class to the largest / `ratio`
    (size_r = ratio^(-r / (C - 1)) for the class of rank r), the classes' ranks drawn
    from `rng`."""
    sizes = ratio ** (-np.arange(num_classes) / max(num_classes - 1, 1))
    shares = np.empty(num_classes)
    shares[rng.permutation(num_classes)] = sizes / sizes.sum()
    return shares


def class_subset(labels: np.ndarray, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the largest subset whose class c makes up `shares[c]` of it (to
    within rounding), each class's members drawn from `rng`."""
    counts = np.bincount(labels, minlength=len(shares))
    if len(counts) != len(shares):
        raise DataError(f"class shares: {len(shares)} given but the data has {len(counts)} classes")
    wanted = shares > 0
    if (counts[wanted] == 0).any():
        raise DataError("class shares: a class with a positive share has no items")
    total = (counts[wanted] / shares[wanted]).min()  # the class that runs out first sets it
    sizes = np.where(wanted, np.maximum(np.floor(shares * total + 1e-9), 1), 0).astype(int)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size, replace=False)
        for c, size in enumerate(sizes)
        if size > 0
    ]
    return np.sort(np.concatenate(chosen))


def imbalanced_indices(
    config: DataConfig, labels: np.ndarray | None, seed: int
) -> np.ndarray | None:
    """The subset `data.imbalance_ratio` or `data.class_proportions` asks for, or None
    when neither is set."""
    if config.imbalance_ratio == 1 and config.class_proportions is None:
        return None
    key = "imbalance_ratio" if config.class_proportions is None else "class_proportions"
    if labels is None:
        raise DataError(f"data.{key}: data set {config.name} has no labels")
    rng = np.random.default_rng([seed, 3])  # its own stream: the same subset for a seed
    if config.class_proportions is None:
        shares = long_tail_shares(int(labels.max()) + 1, config.imbalance_ratio, rng)
    else:
        shares = np.asarray(config.class_proportions, dtype=float)
    return class_subset(labels, shares, rng)


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held-out) indices: round(fraction * n_c) items of each class c held
    out, at least one where the class has two or more, drawn from its own seeded stream."""
    rng = np.random.default_rng([seed, 4])
    held_out = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(max(round(fraction * len(members)), 1), len(members) - 1)
        held_out.append(rng.choice(members, count, replace=False))
    held = np.sort(np.concatenate(held_out))
    return np.setdiff1d(np.arange(len(labels)), held), held
