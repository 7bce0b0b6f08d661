"""Critic normalisations (SPEC.md section 3): how a critic is kept smooth besides the
gradient penalties. `method.critic_normalization` picks one for every method:

- `none`: the critic's score as it is;
- `spectral`: spectral normalisation of every weight of the critic
  (torch.nn.utils.parametrizations.spectral_norm; its power-iteration vectors are
  buffers, so checkpoints keep them);
- `gn`: gradient normalisation, s / (||grad_x s|| + |s|);
- `pgn`: penalty gradient normalisation, (1 - s) / (||1 - grad_x s|| + |1 - s|), where
  `method.pgn_reading` says what `1 - grad_x s` means: `paper` (1 taken from every
  element of the gradient, as the paper writes it and its code computes it) or
  `gn_of_one_minus` (GN applied to 1 - s, whose gradient is -grad_x s).

GN and PGN act on the score s(x, c) that `Method.score` makes, with gradients through
the gradient norm (double back-propagation) in the critic's and the generator's updates.
The classifier Q is never normalised.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

NORMALIZATIONS = ("none", "spectral", "gn", "pgn")
PGN_READINGS = ("paper", "gn_of_one_minus")


def input_gradient(score: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """grad_x s(x) per sample, [B, ...], kept in the graph (each s_i depends on x_i only)."""
    (gradient,) = torch.autograd.grad(score.sum(), x, create_graph=True)
    return gradient


def _bounded(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where both vanish (a flat critic at 0)."""
    return numerator / denominator.clamp_min(torch.finfo(denominator.dtype).tiny)


class ScoreNormalization:
    """The identity: the score as the critic makes it."""

    needs_input_gradients = False

    def prepare(self, method: nn.Module) -> None:
        """Change the method's critic once, when it is built (spectral norm does)."""

    def __call__(self, score: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return score


class SpectralNormalization(ScoreNormalization):
    """Every weight of the critic divided by its largest singular value, estimated by one
    power iteration per forward pass."""

    def prepare(self, method: nn.Module) -> None:
        for module in list(method.critic_network().modules()):
            weight = module._parameters.get("weight")
            if weight is not None and weight.dim() >= 2:
                spectral_norm(module)


class GradientNormalization(ScoreNormalization):
    """GN: D_hat(x) = s(x) / (||grad_x s(x)|| / L + |s(x)|), in [-1, 1] and L-Lipschitz in x
    for a piecewise linear critic; L = 1 is the paper's GN. L is
    `method.normalization_lipschitz`: GN computed in the coordinates L x."""

    needs_input_gradients = True

    def __init__(self, lipschitz: float = 1.0):
        self.lipschitz = lipschitz

    def __call__(self, score: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        gradient_norm = input_gradient(score, x).flatten(1).norm(dim=1)
        return _bounded(score, gradient_norm / self.lipschitz + score.abs())


class PenaltyGradientNormalization(ScoreNormalization):
    """PGN: D_hat(x) = (1 - s) / (||1 - grad_x s|| + |1 - s|). `paper`: 1 is subtracted
    from every element of the gradient (with a flat critic the denominator is about
    sqrt(dim x)); `gn_of_one_minus`: the gradient of 1 - s, i.e. GN of 1 - s."""

    needs_input_gradients = True

    def __init__(self, reading: str = "paper", lipschitz: float = 1.0):
        self.reading = reading
        self.lipschitz = lipschitz
        self.gradient_normalization = GradientNormalization(lipschitz)

    def __call__(self, score: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        one_minus = 1 - score
        if self.reading == "gn_of_one_minus":
            return self.gradient_normalization(one_minus, x)
        shifted = 1 - input_gradient(score, x).flatten(1) / self.lipschitz
        return _bounded(one_minus, shifted.norm(dim=1) + one_minus.abs())


def build_normalization(
    kind: str, pgn_reading: str = "paper", lipschitz: float = 1.0
) -> ScoreNormalization:
    """The normalisation `method.critic_normalization` names."""
    if kind == "spectral":
        return SpectralNormalization()
    if kind == "gn":
        return GradientNormalization(lipschitz)
    if kind == "pgn":
        return PenaltyGradientNormalization(pgn_reading, lipschitz)
    return ScoreNormalization()
