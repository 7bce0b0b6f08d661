import pytest
import torch

from cgpgan.config import load_config


def tiny(method: str = "cgpgan", *overrides: str):
    """A small, fast configuration of `method` on the paper's 2-D mixture."""
    return load_config(
        None,
        [
            f"method.name={method}",
            "network.hidden_dim=16",
            "network.depth=2",
            "network.latent_dim=4",
            "method.num_categories=4",
            "method.warmup_steps=2",
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
