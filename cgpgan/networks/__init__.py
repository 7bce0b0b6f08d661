"""Networks: generators G(z, c), discriminators D(x) -> [L, K] logits, classifiers Q."""

from cgpgan.networks.mlp import MLPFactory, MLPGenerator, MLPNetwork, TwoHeadMLP, build_networks

__all__ = ["MLPFactory", "MLPGenerator", "MLPNetwork", "TwoHeadMLP", "build_networks"]
