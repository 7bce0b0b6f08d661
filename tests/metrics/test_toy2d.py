import pytest
import torch

from cgpgan.data import GaussianMixture
from cgpgan.methods.base import Method
from cgpgan.metrics import evaluate
from cgpgan.prior import CategoricalPrior


class _Placer(torch.nn.Module):
    """A stand-in generator: category k -> centre `targets[k]` plus small noise."""

    def __init__(self, targets, noise):
        super().__init__()
        self.targets = torch.tensor(targets)
        self.noise = noise

    def forward(self, latent, category):
        return self.targets[category[:, 0].argmax(dim=1)] + self.noise * latent[:, :2]


class _FakeMethod(Method):
    def __init__(self, prior, targets, noise=0.1):
        torch.nn.Module.__init__(self)
        self.prior = CategoricalPrior(1, len(prior), prior)
        self.generator_ema = _Placer(targets, noise)
        self.latent_dim, self.latent_distribution = 2, "normal"
        self.latent_generator = torch.Generator()


def _mixture():
    centers = [[-2.0, 2.0], [2.0, 1.0], [0.0, -2.0], [1.0, -1.0]]
    return GaussianMixture(
        centers, [0.1, 0.4, 0.2, 0.3], 0.3, 5000, torch.Generator().manual_seed(0)
    )


def test_a_perfect_generator_scores_perfectly():
    dataset = _mixture()
    # six categories, two dead; live ones map to clusters with the true probabilities
    prior = [0.1, 0.4, 0.2, 0.3 - 1e-4, 5e-5, 5e-5]
    targets = [[-2.0, 2.0], [2.0, 1.0], [0.0, -2.0], [1.0, -1.0], [1.0, -1.0], [2.0, 1.0]]
    metrics = evaluate(_FakeMethod(prior, targets), dataset, 4000)
    assert metrics["live_categories"] == 4
    assert metrics["three_sigma_share"] == 1.0
    assert metrics["min_category_purity"] == 1.0
    assert metrics["modes_covered"] == 4
    assert metrics["prior_error"] == pytest.approx(
        5e-5, abs=1e-6
    )  # dead category 5 adds 5e-5 to mode 1
    assert metrics["mode_kl"] < 0.01
    assert metrics["real_three_sigma_share"] == pytest.approx(0.989, abs=0.01)
    assert metrics["category_mode"] == [0, 1, 2, 3, 3, 1]


def test_a_category_spanning_two_clusters_is_impure_and_the_prior_is_off():
    dataset = _mixture()
    # category 0 halfway between two clusters: off-data and split
    metrics = evaluate(_FakeMethod([0.5, 0.5], [[0.0, 1.5], [0.0, -2.0]], noise=1.0), dataset, 4000)
    assert metrics["three_sigma_share"] < 0.9
    assert metrics["min_category_purity"] < 0.9
    assert metrics["prior_error"] > 0.2
    assert metrics["modes_covered"] < 4 or metrics["mode_kl"] > 0.1
