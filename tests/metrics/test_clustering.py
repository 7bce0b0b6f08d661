import numpy as np
import pytest

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


def test_matched_prior_and_contingency_for_more_categories_than_classes():
    from cgpgan.metrics.images import clustering_of

    truth = np.array([0, 0, 0, 1, 1, 1])
    predicted = np.array([3, 3, 3, 1, 1, 0])
    prior = np.array([0.1, 0.4, 0.0, 0.5])
    scores = clustering_of(predicted, truth, prior)
    assert np.array(scores["contingency"]).shape == (4, 2)
    assert scores["accuracy"] == 5 / 6
    # class 0 (frequency 0.5) matched to category 3 (prior 0.5), class 1 to category 1 (0.4)
    assert scores["prior_class_error"] == pytest.approx(0.1)


def test_baselines_separate_well_separated_blobs():
    import torch

    from cgpgan.metrics.images import baseline_scores

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 30)
    images = torch.from_numpy(
        rng.normal(size=(90, 1, 8, 8)) * 0.1 + labels[:, None, None, None]
    ).float()
    scores = baseline_scores(images, labels, components=5)
    assert set(scores) == {"kmeans_pixels", "gmm_pixels", "kmeans_pca5", "gmm_pca5"}
    assert all(result["accuracy"] == 1.0 for result in scores.values())


def small_extractor():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
    )


def test_image_quality_with_a_small_extractor():
    import torch

    from cgpgan.metrics.images import image_quality

    generator = torch.Generator().manual_seed(0)
    real = torch.rand(300, 1, 8, 8, generator=generator) * 2 - 1
    same = torch.rand(300, 1, 8, 8, generator=generator) * 2 - 1
    different = torch.rand(300, 1, 8, 8, generator=generator) * 0.5 - 1  # dark images only
    close = image_quality(real, same, small_extractor())
    far = image_quality(real, different, small_extractor())
    assert close["fid"] < far["fid"] and close["kid"] < far["kid"]
    assert close["precision"] > 0.8 and close["recall"] > 0.8
    assert far["precision"] < 0.2 and far["recall"] < 0.2


def test_missing_inception_weights_are_reported(tmp_path):
    from cgpgan.errors import RunError
    from cgpgan.metrics.images import InceptionFeatures

    with pytest.raises(RunError, match="Inception weights not found"):
        InceptionFeatures(str(tmp_path / "missing.pth"))
