"""Vanilla GAN: G(z, c) with c drawn from the (fixed, uniform) prior, an unconditional
discriminator, adversarial loss only; the category input is ignored by the loss."""

from __future__ import annotations

from cgpgan import losses, stats
from cgpgan.methods.base import Method


class VanillaGAN(Method):
    name = "vanilla"

    def __init__(self, config, networks):
        super().__init__(config, networks)
        self.discriminator = networks.critic(1, 1)

    def optimized_modules(self):
        return {"discriminator": self.discriminator, "generator": self.generator}

    def training_losses(self, batch, step):
        real = batch.data
        config = self.config
        batch_size = real.shape[0]
        fake, _ = self.generate_fakes(batch_size)
        real, fake = self.penalty_inputs(real, fake)
        real_score = self.score(real, self.discriminator(real))
        fake_score = self.score(fake, self.discriminator(fake))
        adversarial = losses.discriminator_loss(config.adversarial_loss, real_score, fake_score)
        penalty = self.adversarial_penalty(real, real_score, fake, fake_score)
        stats.report("score/real", real_score)
        stats.report("score/fake", fake_score)
        stats.report("loss/discriminator", adversarial)
        yield "discriminator", adversarial + penalty

        fake, _ = self.generate_fakes(batch_size)
        generator_loss = losses.generator_loss(
            config.adversarial_loss, self.score(fake, self.discriminator(fake))
        )
        stats.report("loss/generator", generator_loss)
        yield "generator", generator_loss
        self.report_prior()
