"""Clustering scores of predicted categories against true classes."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score


def contingency(
    predicted: np.ndarray, truth: np.ndarray, num_categories: int = 0, num_classes: int = 0
) -> np.ndarray:
    """counts[category, class], at least num_categories x num_classes."""
    predicted = np.asarray(predicted, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    shape = (max(num_categories, predicted.max() + 1), max(num_classes, truth.max() + 1))
    table = np.zeros(shape, dtype=np.int64)
    np.add.at(table, (predicted, truth), 1)
    return table


def hungarian_accuracy(predicted, truth) -> float:
    """Accuracy under the best one-to-one matching of categories to classes."""
    table = contingency(predicted, truth)
    rows, columns = linear_sum_assignment(table, maximize=True)
    return float(table[rows, columns].sum() / table.sum())


def many_to_one_accuracy(predicted, truth) -> float:
    """Purity: each category mapped to its majority class."""
    table = contingency(predicted, truth)
    return float(table.max(axis=1).sum() / table.sum())


def clustering_scores(predicted, truth) -> dict[str, float]:
    return {
        "accuracy": hungarian_accuracy(predicted, truth),
        "accuracy_many_to_one": many_to_one_accuracy(predicted, truth),
        "nmi": float(normalized_mutual_info_score(truth, predicted)),
        "ari": float(adjusted_rand_score(truth, predicted)),
    }
