"""A method written outside the package joins through `register_method` and is then
chosen by `method.name`, trained by the generic loop, saved, loaded and sampled."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from cgpgan import ConfigError, Method, Run, register_method, train
from cgpgan.config import MethodConfig, check_non_negative
from cgpgan.losses import discriminator_loss, generator_loss
from cgpgan.methods import METHODS
from tests.conftest import tiny


@dataclass
class MeanMatchingConfig(MethodConfig):
    """The toy method's settings: the shared ones and one of its own."""

    generator_weight: float = 1.0  # weight of the generator's loss

    def validate(self) -> None:
        super().validate()
        check_non_negative(self, "generator_weight")


@register_method
class MeanMatchingGAN(Method):
    """A toy method defined here, not in the package: a linear critic, logistic loss."""

    name = "mean_matching_test"
    settings = MeanMatchingConfig

    def __init__(self, config, networks):
        super().__init__(config, networks)
        self.critic = nn.Linear(2, 1)

    def optimized_modules(self):
        return {"critic": self.critic, "generator": self.generator}

    def training_losses(self, batch, step):
        real = batch.data
        fake, _ = self.generate_fakes(real.shape[0])
        critic_loss = discriminator_loss("logistic", self.critic(real), self.critic(fake.detach()))
        yield "critic", critic_loss
        fake, _ = self.generate_fakes(real.shape[0])
        yield (
            "generator",
            self.config.generator_weight * generator_loss("logistic", self.critic(fake)),
        )


def test_a_registered_method_trains_saves_and_loads(tmp_path):
    assert METHODS["mean_matching_test"] is MeanMatchingGAN
    config = tiny("mean_matching_test", "train.steps=3")
    run = train(config, tmp_path / "run", progress=False)
    loaded = Run.load(tmp_path / "run")
    assert isinstance(loaded.method, MeanMatchingGAN)
    assert torch.equal(loaded.method.critic.weight, run.method.critic.weight)
    points, _ = loaded.sample(10)
    assert points.shape == (10, 2)


def test_a_registered_method_has_its_own_validated_settings():
    assert tiny("mean_matching_test", "method.generator_weight=2").method.generator_weight == 2.0
    with pytest.raises(ConfigError, match="method.generator_weight: must be >= 0"):
        tiny("mean_matching_test", "method.generator_weight=-1")
    with pytest.raises(ConfigError, match="generator_weight: unknown key for method cgpgan"):
        tiny("cgpgan", "method.generator_weight=2")


def test_an_unregistered_name_is_refused_and_names_are_not_taken_twice():
    with pytest.raises(ConfigError, match="method.name"):
        tiny("no_such_method")
    with pytest.raises(ValueError, match="exists already"):
        register_method(type("Other", (Method,), {"name": "mean_matching_test"}))
    with pytest.raises(TypeError, match="not a Method"):
        register_method(nn.Linear)


@register_method
class LazyCriticGAN(MeanMatchingGAN):
    """The same toy method with its critic as a lazy phase: every 3rd step, loss x 3."""

    name = "lazy_critic_test"

    def phases(self, train):
        phases = super().phases(train)
        phases["critic"].every = 3
        return phases

    def training_losses(self, batch, step):
        for phase, loss in super().training_losses(batch, step):
            self.losses_seen.append((phase, step, float(loss.detach())))
            yield phase, loss


def test_a_lazy_phase_runs_every_k_steps_with_its_loss_scaled(tmp_path, monkeypatch):
    from cgpgan.training.loop import Trainer

    LazyCriticGAN.losses_seen = []
    critic_weights, one_step = [], Trainer._one_step

    def recording_step(self):
        one_step(self)
        critic_weights.append(self.method.critic.weight.detach().clone())

    monkeypatch.setattr(Trainer, "_one_step", recording_step)
    train(tiny("lazy_critic_test", "train.steps=7"), tmp_path / "run", progress=False)
    changed = [not torch.equal(a, b) for a, b in zip(critic_weights, critic_weights[1:])]
    assert changed == [False, False, True, False, False, True]  # steps 3 and 6 (0-based)
    assert len([phase for phase, _, _ in LazyCriticGAN.losses_seen if phase == "critic"]) == 7


def test_a_method_without_a_discriminator_gets_a_clear_error_for_spectral_norm(tmp_path):
    with pytest.raises(ConfigError, match="'mean_matching_test' has no `discriminator`"):
        train(
            tiny("mean_matching_test", "method.critic_normalization=spectral"),
            tmp_path / "run",
            progress=False,
        )
    assert not (tmp_path / "run").exists()
