"""Critic normalisations (GN, PGN in both readings, spectral) and consistency
regularisation, for every method."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cgpgan import train
from cgpgan.augment import consistency_moves
from cgpgan.methods import build_method
from cgpgan.normalization import (
    GradientNormalization,
    PenaltyGradientNormalization,
    input_gradient,
)
from tests.conftest import tiny


def _random_relu_network(seed: int, inputs: int, width: int, depth: int) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for index in range(depth):
        layers += [nn.Linear(inputs if index == 0 else width, width), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def _normalised_and_its_gradient(normalization, network, x):
    x = x.requires_grad_(True)
    normalised = normalization(network(x)[:, 0], x)
    return normalised, input_gradient(normalised, x).flatten(1).norm(dim=1)


NETWORKS = dict(
    seed=st.integers(0, 10_000),
    inputs=st.integers(1, 6),
    width=st.integers(2, 16),
    depth=st.integers(1, 3),
    scale=st.floats(0.01, 100.0),
)


def _network_and_inputs(seed, inputs, width, depth, scale):
    network = _random_relu_network(seed, inputs, width, depth).double()
    noise = torch.randn(
        64, inputs, dtype=torch.double, generator=torch.Generator().manual_seed(seed)
    )
    return network, scale * noise


@pytest.mark.parametrize(
    "normalization",
    [GradientNormalization(), PenaltyGradientNormalization("gn_of_one_minus")],
    ids=["gn", "pgn_gn_of_one_minus"],
)
@settings(max_examples=60, deadline=None)
@given(**NETWORKS)
def test_bounded_in_value_with_input_gradient_norm_at_most_one(normalization, **drawn):
    """The GN paper's theorem, and PGN's Theorem 6 as its proof reads it: for a
    piecewise-linear f, |f_hat| <= 1 and ||grad f_hat|| <= 1."""
    network, x = _network_and_inputs(**drawn)
    value, gradient_norm = _normalised_and_its_gradient(normalization, network, x)
    assert value.abs().max() <= 1 + 1e-12
    assert gradient_norm.max() <= 1 + 1e-9


@pytest.mark.parametrize("kind", ["gn", "pgn_gn_of_one_minus"])
@settings(max_examples=40, deadline=None)
@given(lipschitz=st.floats(0.1, 30.0), **NETWORKS)
def test_with_lipschitz_l_the_input_gradient_norm_is_at_most_l(kind, lipschitz, **drawn):
    """GN computed in the coordinates L x: still in [-1, 1], and L-Lipschitz in x."""
    normalization = (
        GradientNormalization(lipschitz)
        if kind == "gn"
        else PenaltyGradientNormalization("gn_of_one_minus", lipschitz)
    )
    network, x = _network_and_inputs(**drawn)
    value, gradient_norm = _normalised_and_its_gradient(normalization, network, x)
    assert value.abs().max() <= 1 + 1e-12
    assert gradient_norm.max() <= lipschitz * (1 + 1e-9)


@settings(max_examples=60, deadline=None)
@given(**NETWORKS)
def test_pgn_as_the_paper_writes_it_is_bounded_in_value(**drawn):
    network, x = _network_and_inputs(**drawn)
    value, _ = _normalised_and_its_gradient(PenaltyGradientNormalization("paper"), network, x)
    assert value.abs().max() <= 1 + 1e-12


def test_pgn_as_the_paper_writes_it_is_not_gradient_bounded_a_counter_example():
    """The paper's Theorem 6 bounds ||grad f_hat|| by 1, but its proof uses ||grad (1 - f)||
    where the formula (and the public code) has ||1 - grad f||. For a linear f whose
    gradient is close to the all-ones vector, at a point where f = 1:
    ||grad f_hat|| = ||w|| / ||1 - w|| = 0.9 / 0.1 = 9."""
    network = nn.Linear(2, 1).double()
    with torch.no_grad():
        network.weight.fill_(0.9)
        network.bias.fill_(1.0)
    x = torch.zeros(1, 2, dtype=torch.double)
    value, gradient_norm = _normalised_and_its_gradient(
        PenaltyGradientNormalization("paper"), network, x
    )
    assert value.item() == 0.0
    assert gradient_norm.item() == pytest.approx(9.0)


def test_each_normaliser_against_a_hand_computed_value():
    """f(x) = 3 x_1 + 4 x_2 at x = (1, 0): f = 3, grad f = (3, 4), ||grad f|| = 5."""
    network = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        network.weight.copy_(torch.tensor([[3.0, 4.0]]))
    x = torch.tensor([[1.0, 0.0]], dtype=torch.double)

    def value(normalization):
        return _normalised_and_its_gradient(normalization, network, x.clone())[0].item()

    assert value(GradientNormalization()) == pytest.approx(3 / (5 + 3))
    assert value(GradientNormalization(lipschitz=2.0)) == pytest.approx(3 / (5 / 2 + 3))
    # 1 - f = -2; 1 - grad f = (-2, -3), of norm sqrt(13)
    assert value(PenaltyGradientNormalization("paper")) == pytest.approx(-2 / (13**0.5 + 2))
    # GN of 1 - f: grad (1 - f) = (-3, -4), of norm 5
    assert value(PenaltyGradientNormalization("gn_of_one_minus")) == pytest.approx(-2 / (5 + 2))
    # L = 2: the gradient halved, 1 - (1.5, 2) = (-0.5, -1), of norm sqrt(1.25)
    assert value(PenaltyGradientNormalization("paper", 2.0)) == pytest.approx(-2 / (1.25**0.5 + 2))


def test_a_flat_critic_at_zero_gives_zero_not_nan():
    network = nn.Linear(3, 1, bias=False)
    nn.init.zeros_(network.weight)
    value, _ = _normalised_and_its_gradient(GradientNormalization(), network, torch.ones(2, 3))
    assert torch.equal(value, torch.zeros(2))


def test_spectral_norm_bounds_every_critic_weight_and_leaves_q_alone():
    config = tiny("cgpgan", "method.critic_normalization=spectral")
    method = build_method(config, (2,))
    weights = [m for m in method.discriminator.modules() if hasattr(m, "parametrizations")]
    assert weights, "the critic's layers carry the spectral parametrisation"
    for _ in range(30):  # power iterations run in training-mode forward passes
        method.discriminator(torch.randn(8, 2))
    for module in weights:
        weight = module.weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, rel=1e-3)
    assert not any(hasattr(m, "parametrizations") for m in method.classifier.modules())


@pytest.mark.parametrize("labels", [1, 3])
def test_the_conditional_score_is_normalised_once_per_sample(labels):
    """With several labels, s(x, c) = mean_l D(x)[l, c_l] is normalised (one GN per
    sample), so it stays in [-1, 1] with input-gradient norm <= 1."""
    config = tiny(
        "cgpgan",
        f"method.num_labels={labels}",
        "method.critic_normalization=gn",
        "network.conditioning=codebook",
    )
    method = build_method(config, (2,)).double()
    x = 3 * torch.randn(32, 2, dtype=torch.double).requires_grad_(True)
    category = method.sample_categories(32).double()
    score = method.score(x, method.discriminator(x), category)
    assert score.shape == (32,) and score.abs().max() <= 1
    assert input_gradient(score, x).norm(dim=1).max() <= 1 + 1e-9


@pytest.mark.parametrize("normalization", ["spectral", "gn", "pgn"])
@pytest.mark.parametrize("name", ["cgpgan", "vcagan", "infogan", "vanilla"])
def test_every_method_trains_with_every_normaliser_and_consistency(name, normalization, tmp_path):
    config = tiny(
        name,
        f"method.critic_normalization={normalization}",
        "method.real_penalty_weight=0",
        "method.fake_penalty_weight=0",
        "method.consistency_weight=5",
        "train.steps=3",
    )
    train(config, tmp_path / "run", progress=False, evaluate=False)
    history = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "penalty/consistency" in history and "nan" not in history.lower()


def test_consistency_moves_are_drawn_from_the_given_generator():
    images = torch.rand(16, 1, 10, 10)
    first = consistency_moves(images, torch.Generator().manual_seed(3), 0.2, True, 0.0)
    again = consistency_moves(images, torch.Generator().manual_seed(3), 0.2, True, 0.0)
    assert torch.equal(first, again) and not torch.equal(first, images)
    points = torch.zeros(1000, 2)
    jittered = consistency_moves(points, torch.Generator().manual_seed(3), 0.2, False, 0.05)
    assert jittered.std().item() == pytest.approx(0.05, rel=0.1)
