"""cgpgan: self-supervised class-conditional GANs that discover categories without labels.

from cgpgan import load_config, train, Run
run = train(load_config("gaussians2d"), out="runs/demo")
points, categories = run.sample(1000, category=0)
"""

from cgpgan.config import Config, load_config, preset_names
from cgpgan.errors import CgpganError, ConfigError, DataError, RunError
from cgpgan.methods import Method, register_method
from cgpgan.metrics import register_metric
from cgpgan.run import Run
from cgpgan.training.loop import train

__version__ = "0.1.0"

__all__ = [
    "CgpganError",
    "Config",
    "ConfigError",
    "DataError",
    "Method",
    "Run",
    "RunError",
    "load_config",
    "preset_names",
    "register_method",
    "register_metric",
    "train",
]
