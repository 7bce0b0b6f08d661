"""Multi-layer perceptrons for vector (e.g. 2-D) data."""

from __future__ import annotations

import math

import torch
from torch import nn

from cgpgan.config import NetworkConfig
from cgpgan.networks.layers import (
    Codebook,
    DenseHead,
    EqualizedLinear,
    NetworkFactory,
    centred_one_hot,
)


def _stack(in_features: int, hidden: int, depth: int, equalized: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(depth):
        layers += [
            EqualizedLinear(in_features if index == 0 else hidden, hidden, equalized),
            nn.LeakyReLU(0.2),
        ]
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """G(z, c) -> x for vector data.

    Plain conditioning concatenates the centred one-hot with z. Codebook conditioning
    concatenates the codebook vectors of the chosen categories with the first hidden
    layer computed from z (SPEC.md section 1).
    """

    def __init__(
        self, config: NetworkConfig, num_labels: int, num_categories: int, output_dim: int
    ):
        super().__init__()
        self.latent_dim = config.latent_dim
        self.num_labels = num_labels
        self.num_categories = num_categories
        hidden, equalized = config.hidden_dim, config.equalized_lr
        if config.conditioning == "codebook":
            features = config.codebook_dim or hidden
            self.codebook: Codebook | None = Codebook(features, num_labels, num_categories)
            self.input_layer = nn.Sequential(
                EqualizedLinear(config.latent_dim, hidden, equalized), nn.LeakyReLU(0.2)
            )
            self.trunk = _stack(hidden + features * num_labels, hidden, config.depth - 1, equalized)
            trunk_out = hidden if config.depth > 1 else hidden + features * num_labels
        else:
            self.codebook = None
            self.trunk = _stack(
                config.latent_dim + num_labels * num_categories, hidden, config.depth, equalized
            )
            trunk_out = hidden
        self.output_layer = EqualizedLinear(trunk_out, output_dim, equalized)

    def forward(self, latent: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        if self.codebook is None:
            hidden = torch.cat([latent, centred_one_hot(category)], dim=1)
        else:
            codes = self.codebook(category).flatten(1)
            hidden = torch.cat([self.input_layer(latent), codes], dim=1)
        return self.output_layer(self.trunk(hidden))


class MLPNetwork(nn.Module):
    """A trunk of `depth` hidden layers and a head of `num_labels x num_categories`
    logits, returned as [B, L, K]. Used as D (one adversarial logit per label and
    category) and as Q (classification logits)."""

    def __init__(self, config: NetworkConfig, input_dim: int, num_labels: int, num_categories: int):
        super().__init__()
        self.shape = (num_labels, num_categories)
        self.trunk = _stack(input_dim, config.hidden_dim, config.depth, config.equalized_lr)
        self.head = EqualizedLinear(
            config.hidden_dim, num_labels * num_categories, config.equalized_lr
        )
        self.feature_dim = config.hidden_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's output, [B, feature_dim]."""
        return self.trunk(x.flatten(1))

    def from_features(self, features: torch.Tensor) -> torch.Tensor:
        """The head's logits [B, L, K] for trunk `features`."""
        return self.head(features).view(-1, *self.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_features(self.features(x))


class TwoHeadMLP(nn.Module):
    """One trunk, two heads: adversarial logits and classification logits, each
    [B, L, K] (VCAGAN's integrated D*, InfoGAN's D/Q). `adversarial_shape` may differ
    from the classifier's, e.g. (1, 1) for an unconditional discriminator."""

    def __init__(self, config: NetworkConfig, input_dim: int, adversarial_shape, classifier_shape):
        super().__init__()
        self.adversarial_shape = tuple(adversarial_shape)
        self.classifier_shape = tuple(classifier_shape)
        self.trunk = _stack(input_dim, config.hidden_dim, config.depth, config.equalized_lr)
        self.adversarial_head = EqualizedLinear(
            config.hidden_dim, math.prod(adversarial_shape), config.equalized_lr
        )
        self.classifier_head = EqualizedLinear(
            config.hidden_dim, math.prod(classifier_shape), config.equalized_lr
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The shared trunk's output, [B, hidden_dim]."""
        return self.trunk(x.flatten(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        adversarial = self.adversarial_head(features).view(-1, *self.adversarial_shape)
        classification = self.classifier_head(features).view(-1, *self.classifier_shape)
        return adversarial, classification


class MLPFactory(NetworkFactory):
    """The networks of a method as MLPs, for vector samples."""

    @property
    def input_dim(self) -> int:
        return math.prod(self.sample_shape)

    def generator(self) -> MLPGenerator:
        return MLPGenerator(self.config, self.num_labels, self.num_categories, self.input_dim)

    def critic(self, num_labels: int, num_categories: int) -> MLPNetwork:
        """A network with [B, num_labels, num_categories] outputs (D or Q)."""
        return MLPNetwork(self.config, self.input_dim, num_labels, num_categories)

    def two_head(self, adversarial_shape: tuple[int, int]) -> TwoHeadMLP:
        """A shared trunk with an adversarial head and an [L, K] classifier head."""
        return TwoHeadMLP(
            self.config, self.input_dim, adversarial_shape, (self.num_labels, self.num_categories)
        )

    def head(self, in_features: int, shape: tuple[int, int]) -> DenseHead:
        """A dense head on another network's features (e.g. Q on D's trunk)."""
        return DenseHead(in_features, self.config.hidden_dim, shape, self.config.equalized_lr)
