"""Methods: one module per method, each a small class whose `training_losses` reads
like the algorithm in SPEC.md. The loop finds them by name in `METHODS`."""

from __future__ import annotations

import torch

from cgpgan.config import Config
from cgpgan.methods.base import Method
from cgpgan.methods.cgpgan import CGPGAN
from cgpgan.methods.infogan import InfoGAN
from cgpgan.methods.vanilla import VanillaGAN
from cgpgan.methods.vcagan import VCAGAN
from cgpgan.networks import build_networks

METHODS: dict[str, type[Method]] = {
    "cgpgan": CGPGAN,
    "vcagan": VCAGAN,
    "infogan": InfoGAN,
    "vanilla": VanillaGAN,
}


def build_method(config: Config, sample_shape: tuple[int, ...], device: torch.device | str = "cpu") -> Method:
    """The method named by `config.method.name`, its networks on `device`, its
    random draws from a generator seeded by `config.seed`."""
    method_config = config.method
    networks = build_networks(config.network, sample_shape, method_config.num_labels, method_config.num_categories)
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, global state untouched
        torch.manual_seed(config.seed)
        method = METHODS[method_config.name](config, networks)
    method.to(device)
    method.latent_generator = torch.Generator(device=device).manual_seed(config.seed)
    return method


__all__ = ["METHODS", "Method", "build_method"]
