import math

import pytest
import torch

from cgpgan import losses


def test_conditional_score_averages_labels_of_selected_logits():
    logits = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])  # B=1, L=2, K=3
    category = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    assert losses.conditional_score(logits, category).item() == pytest.approx((3.0 + 4.0) / 2)


@pytest.mark.parametrize(
    "kind, expected_d, expected_g",
    [
        (
            "logistic",
            math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)),
            math.log1p(math.exp(1.0)),
        ),
        ("hinge", 0.0 + 0.0, 1.0),
        ("wasserstein", -1.0 - 2.0, 1.0),
    ],
)
def test_adversarial_losses_match_hand_computed_values(kind, expected_d, expected_g):
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    assert losses.discriminator_loss(kind, real, fake).item() == pytest.approx(expected_d)
    assert losses.generator_loss(kind, fake).item() == pytest.approx(expected_g)


def test_hinge_is_active_inside_the_margin():
    loss = losses.discriminator_loss("hinge", torch.tensor([0.5]), torch.tensor([-0.25]))
    assert loss.item() == pytest.approx(0.5 + 0.75)


def test_unknown_adversarial_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        losses.discriminator_loss("least-squares", torch.zeros(1), torch.zeros(1))


def test_squared_gradient_norm_of_a_linear_function_is_its_squared_weight_norm():
    x = torch.randn(5, 3, requires_grad=True)
    weight = torch.tensor([1.0, -2.0, 2.0])
    penalty = losses.squared_gradient_norm(x @ weight, x)
    assert penalty.item() == pytest.approx(9.0)
    # differentiable: the penalty of a quadratic has a gradient
    y = torch.randn(4, 2, requires_grad=True)
    quadratic = losses.squared_gradient_norm((y**2).sum(dim=1), y)  # ||2y||^2
    assert quadratic.item() == pytest.approx((4 * y**2).sum(dim=1).mean().item(), rel=1e-5)
    quadratic.backward()
    assert torch.allclose(y.grad, 8 * y / 4, rtol=1e-5)


def test_classification_loss_is_cross_entropy():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # softmax = [0.25, 0.75]
    category = torch.tensor([[[0.0, 1.0]]])
    assert losses.classification_loss(logits, category).item() == pytest.approx(-math.log(0.75))


def test_classifier_gradient_penalty_matches_hand_computation():
    # Q(x) = [w . x, 0] for one label of two categories; c = category 0.
    # q0 = sigmoid(w.x); error = (1 - q0)^2; grad = -2 (1 - q0) q0 (1 - q0) w
    w = torch.tensor([0.5, -1.0])
    x = torch.tensor([[0.3, 0.2]], requires_grad=True)
    logits = torch.stack([x @ w, torch.zeros(1)], dim=1).unsqueeze(1)
    category = torch.tensor([[[1.0, 0.0]]])
    q0 = torch.sigmoid(torch.tensor(0.5 * 0.3 - 0.2))
    expected = ((2 * (1 - q0) ** 2 * q0) ** 2 * (w**2).sum()).item()
    assert losses.classifier_gradient_penalty(logits, x, category).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_confidence_gradient_penalty_uses_the_top_probability():
    w = torch.tensor([2.0, 1.0])
    x = torch.tensor([[0.4, 0.1]], requires_grad=True)
    logits = torch.stack([x @ w, torch.zeros(1)], dim=1).unsqueeze(1)  # top class is 0 here
    q0 = torch.sigmoid(torch.tensor(0.9))
    expected = ((q0 * (1 - q0)) ** 2 * (w**2).sum()).item()  # d sigmoid = q (1 - q) w
    assert losses.confidence_gradient_penalty(logits, x).item() == pytest.approx(expected, rel=1e-5)


def test_recentre_makes_batch_means_uniform():
    p = torch.softmax(torch.randn(16, 2, 5), dim=2)
    centred = losses.recentre(p)
    assert torch.allclose(centred.mean(dim=0), torch.full((2, 5), 0.2), atol=1e-6)
    assert torch.allclose(centred.sum(dim=2), torch.ones(16, 2), atol=1e-6)


def test_argmax_one_hot():
    p = torch.tensor([[[0.2, 0.5, 0.3]]])
    assert losses.argmax_one_hot(p).tolist() == [[[0.0, 1.0, 0.0]]]
