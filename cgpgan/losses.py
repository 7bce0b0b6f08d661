"""Losses and penalties: small pure functions, tensors in, tensor out.

Shapes: `logits` and one-hot `category` tensors are [B, L, K] (batch, labels,
categories); scores are [B].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cgpgan.prior import one_hot


def conditional_score(logits: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
    """s(x, c) = mean_l sum_k D(x)[l, k] * c[l, k]: the class-conditional score, [B]."""
    return (logits * category).sum(dim=2).mean(dim=1)


def discriminator_loss(
    kind: str, real_score: torch.Tensor, fake_score: torch.Tensor
) -> torch.Tensor:
    """Adversarial loss of the discriminator, averaged over the batch.

    logistic:    softplus(-r) + softplus(f)   # -log sigmoid(r) - log(1 - sigmoid(f))
    hinge:       relu(1 - r) + relu(1 + f)
    wasserstein: -r + f
    """
    if kind == "logistic":
        return F.softplus(-real_score).mean() + F.softplus(fake_score).mean()
    if kind == "hinge":
        return F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()
    if kind == "wasserstein":
        return fake_score.mean() - real_score.mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def generator_loss(kind: str, fake_score: torch.Tensor) -> torch.Tensor:
    """Adversarial loss of the generator: softplus(-f) (non-saturating logistic), or
    -f (hinge and Wasserstein)."""
    if kind == "logistic":
        return F.softplus(-fake_score).mean()
    if kind in ("hinge", "wasserstein"):
        return -fake_score.mean()
    raise ValueError(f"unknown adversarial loss {kind!r}")


def squared_gradient_norm(output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """E_x || grad_x output(x) ||^2, differentiable (double back-propagation).

    `output` is [B] and each entry depends only on its own row of `inputs`. With the
    score on real data this is R1; on generated data, the reference's fake penalty.
    """
    (gradient,) = torch.autograd.grad(output.sum(), inputs, create_graph=True)
    return gradient.flatten(1).square().sum(dim=1).mean()


def classification_loss(logits: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
    """Cross-entropy -sum_k c log softmax(logits), averaged over batch and labels."""
    return -(category * F.log_softmax(logits, dim=2)).sum(dim=2).mean()


def multi_hinge_loss(logits: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
    """Crammer-Singer multi-hinge max(0, 1 - C_y(x) + max_{k != y} C_k(x)) of the category
    y that one-hot `category` marks (MHGAN, SPEC.md section 2), averaged over batch and
    labels; an all-zero row of `category` (no category given) contributes 0, as in
    `classification_loss`."""
    given = category.sum(dim=2)  # [B, L]: 1 where a category is marked
    true_logit = (logits * category).sum(dim=2)
    others = logits.masked_fill(category.bool(), float("-inf")).amax(dim=2)
    return (given * F.relu(1 - true_logit + others)).mean()


CLASSIFICATION_LOSSES = {
    "cross_entropy": classification_loss,
    "multi_hinge": multi_hinge_loss,
}


def classifier_gradient_penalty(
    logits: torch.Tensor, inputs: torch.Tensor, category: torch.Tensor
) -> torch.Tensor:
    """CGPGAN's L_cgp = E || grad_x mean_l (1 - softmax(Q(x))_l . c_l)^2 ||^2.

    `logits` = Q(inputs) for generated `inputs` with their categories `category`.
    """
    probability_of_category = (F.softmax(logits, dim=2) * category).sum(dim=2)
    error = (1 - probability_of_category).square().mean(dim=1)
    return squared_gradient_norm(error, inputs)


def confidence_gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """VCAGAN's L_creg = E || grad_x softmax(Q(x)) . argmax_onehot(Q(x)) ||^2 on real x,
    i.e. the gradient of the top class probability (averaged over labels)."""
    confidence = F.softmax(logits, dim=2).max(dim=2).values.mean(dim=1)
    return squared_gradient_norm(confidence, inputs)


def argmax_one_hot(probabilities: torch.Tensor) -> torch.Tensor:
    """[B, L, K] -> one-hot of the most probable category of each label."""
    index = probabilities.argmax(dim=2)
    return one_hot(index, probabilities.shape[2]).to(probabilities.dtype)


def adjust_to_prior(
    probabilities: torch.Tensor, prior: torch.Tensor, trained_prior: torch.Tensor
) -> torch.Tensor:
    """Posteriors p [B, L, K] of a classifier trained with class frequencies
    `trained_prior` [L, K], moved to the class frequencies `prior` [L, K]:
    p_k * prior_k / trained_prior_k, renormalised (Saerens, Latinne and Decaestecker,
    2002). Averaged over data, one step of their EM estimate of the class sizes."""
    weighted = probabilities * (prior / trained_prior)
    return weighted / weighted.sum(dim=2, keepdim=True)


def recentre(probabilities: torch.Tensor) -> torch.Tensor:
    """Warm-up re-centring p - mean_batch(p) + 1/K: each category's batch mean becomes 1/K,
    which pushes the argmax assignments towards balance."""
    return probabilities - probabilities.mean(dim=0, keepdim=True) + 1.0 / probabilities.shape[2]
