"""Vanilla GAN: G(z, c) with c drawn from the (fixed, uniform) prior, an unconditional
discriminator, adversarial loss only; the category input is ignored by the loss."""

from __future__ import annotations

from dataclasses import dataclass

from cgpgan import losses, stats
from cgpgan.methods.base import FixedPriorConfig, Method


@dataclass
class VanillaConfig(FixedPriorConfig):
    """Vanilla GAN's settings: the shared ones and the prior G draws its ignored c from."""


class VanillaGAN(Method):
    name = "vanilla"
    settings = VanillaConfig

    def __init__(self, config, networks):
        super().__init__(config, networks)
        self.discriminator = networks.critic(1, 1)

    def optimized_modules(self):
        return {"discriminator": self.discriminator, "generator": self.generator}

    def training_losses(self, batch, step):
        config = self.config
        batch_size = batch.data.shape[0]
        real, fake, _ = self.real_and_fakes(batch)
        real_score = self.score(real, self.discriminator(real))
        fake_score = self.score(fake, self.discriminator(fake))
        yield "discriminator", self.discriminator_loss(real, real_score, fake, fake_score)

        fake, _ = self.generate_fakes(batch_size)
        generator_loss = losses.generator_loss(
            config.adversarial_loss, self.score(fake, self.discriminator(fake))
        )
        stats.report("loss/generator", generator_loss)
        yield "generator", generator_loss
        self.report_prior()
