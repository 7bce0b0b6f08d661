import numpy as np

from cgpgan.metrics.clustering import clustering_scores, hungarian_accuracy, many_to_one_accuracy


def test_a_permutation_of_labels_is_perfect():
    truth = np.array([0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([2, 2, 0, 0, 1, 1, 1])
    scores = clustering_scores(predicted, truth)
    assert scores == {"accuracy": 1.0, "accuracy_many_to_one": 1.0, "nmi": 1.0, "ari": 1.0}


def test_split_clusters_are_pure_but_not_one_to_one():
    truth = np.array([0, 0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 2, 2, 1, 1])  # class 0 split in two categories
    assert many_to_one_accuracy(predicted, truth) == 1.0
    assert hungarian_accuracy(predicted, truth) == 4 / 6
