"""Methods: one module per method, each a small class whose `training_losses` reads
like the algorithm in SPEC.md. The loop finds them by name in `METHODS`; a method
written elsewhere joins them with `register_method`."""

from __future__ import annotations

import torch

from cgpgan.config import METHOD_SETTINGS, Config
from cgpgan.methods.base import Method
from cgpgan.methods.cgpgan import CGPGAN
from cgpgan.methods.infogan import InfoGAN
from cgpgan.methods.mhgan import MHGAN
from cgpgan.methods.structural import Structural
from cgpgan.methods.vanilla import VanillaGAN
from cgpgan.methods.vcagan import VCAGAN
from cgpgan.networks import build_networks

METHODS: dict[str, type[Method]] = {}


def register_method(method_class: type[Method], name: str | None = None) -> type[Method]:
    """Make a Method subclass selectable as `method.name=NAME` (default: its `name`),
    with the keys of its `settings` class (a dataclass extending MethodConfig) under
    `method:`.

    Usable as a decorator on a class in one's own file:

        @register_method
        class MyGAN(Method):
            name = "mygan"
            ...
    """
    if not (isinstance(method_class, type) and issubclass(method_class, Method)):
        raise TypeError(f"register_method: {method_class!r} is not a Method subclass")
    name = name or method_class.name
    if name in METHODS and METHODS[name] is not method_class:
        raise ValueError(f"register_method: a method named {name!r} exists already")
    METHODS[name] = method_class
    METHOD_SETTINGS[name] = method_class.settings
    return method_class


for _built_in in (CGPGAN, VCAGAN, InfoGAN, VanillaGAN, MHGAN, Structural):
    register_method(_built_in)
BUILT_IN = tuple(METHODS)  # those shipped with the package


def build_method(
    config: Config, sample_shape: tuple[int, ...], device: torch.device | str = "cpu"
) -> Method:
    """The method named by `config.method.name`, its networks on `device`, its
    random draws from a generator seeded by `config.seed`."""
    method_config = config.method
    networks = build_networks(
        config.network, sample_shape, method_config.num_labels, method_config.num_categories
    )
    with torch.random.fork_rng(devices=[]):  # seeded initial weights, global state untouched
        torch.manual_seed(config.seed)
        method = METHODS[method_config.name](config, networks)
        method.normalization.prepare(method)  # e.g. spectral norm on the critic's layers
    method.to(device)
    method.latent_generator = torch.Generator(device=device).manual_seed(config.seed)
    return method


__all__ = ["BUILT_IN", "METHODS", "Method", "build_method", "register_method"]
