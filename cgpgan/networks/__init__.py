"""Networks: generators G(z, c), discriminators D(x) -> [L, K] logits, classifiers Q.

Methods never build networks themselves: they ask a factory for a `generator()`, a
`critic(L, K)` or a `two_head(adversarial_shape)`, so every method runs on every
architecture."""

from __future__ import annotations

from cgpgan.config import NetworkConfig
from cgpgan.networks.conv import ConvCritic, ConvFactory, ConvGenerator
from cgpgan.networks.mlp import MLPFactory, MLPGenerator, MLPNetwork, TwoHeadMLP


def build_networks(
    config: NetworkConfig, sample_shape: tuple[int, ...], num_labels: int, num_categories: int
):
    """The network factory for samples of `sample_shape`: MLPs for vectors, the
    configured convolutional design for images ([C, H, W])."""
    architecture = config.architecture
    if architecture == "auto":
        architecture = "dcgan" if len(sample_shape) == 3 else "mlp"
    if architecture == "mlp":
        return MLPFactory(config, sample_shape, num_labels, num_categories)
    if len(sample_shape) != 3:
        raise ValueError(
            f"network.architecture={architecture} needs images, got samples of shape {sample_shape}"
        )
    return ConvFactory(config, sample_shape, num_labels, num_categories)


__all__ = [
    "ConvCritic",
    "ConvFactory",
    "ConvGenerator",
    "MLPFactory",
    "MLPGenerator",
    "MLPNetwork",
    "TwoHeadMLP",
    "build_networks",
]
