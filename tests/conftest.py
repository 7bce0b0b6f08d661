import pytest
import torch

from cgpgan.config import load_config, settings_class


def tiny(method: str = "cgpgan", *overrides: str):
    """A small, fast configuration of `method` on the paper's 2-D mixture (with a short
    warm-up where the method has one)."""
    has_warmup = "warmup_steps" in settings_class(method).__dataclass_fields__
    return load_config(
        None,
        [
            f"method.name={method}",
            "network.hidden_dim=16",
            "network.depth=2",
            "network.latent_dim=4",
            "method.num_categories=4",
            *(["method.warmup_steps=2"] if has_warmup else []),
            "train.steps=5",
            "train.batch_size=8",
            "train.log_every=1",
            "train.eval_samples=400",
            "data.num_samples=1000",
            *overrides,
        ],
    )


@pytest.fixture
def tiny_config():
    return tiny


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
