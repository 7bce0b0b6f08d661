"""InfoGAN with a categorical code: a fixed prior given by the user, and a classifier
(sharing D's trunk) whose loss trains both D and G (SPEC.md section 1, "Baselines")."""

from __future__ import annotations

from dataclasses import dataclass

from cgpgan import losses, stats
from cgpgan.config import check_non_negative
from cgpgan.methods.base import FixedPriorConfig, TwoHeadMethod
from cgpgan.prior import category_agreement


@dataclass
class InfoGANConfig(FixedPriorConfig):
    """InfoGAN's settings: its fixed prior and the classification loss weight."""

    lambda_cls: float = 1.0  # classification loss weight (trains D and G)

    def validate(self) -> None:
        super().validate()
        check_non_negative(self, "lambda_cls")


class InfoGAN(TwoHeadMethod):
    name = "infogan"
    settings = InfoGANConfig

    def __init__(self, config, networks):
        super().__init__(config, networks, (1, 1))  # unconditional logit + Q head

    def training_losses(self, batch, step):
        config = self.config
        batch_size = batch.data.shape[0]
        real, fake, fake_category = self.real_and_fakes(batch)

        # L_D = L_adv + lambda_cls * L_cls
        real_adversarial, _ = self.discriminator(real)
        fake_adversarial, fake_logits = self.discriminator(fake)
        real_score, fake_score = (
            self.score(real, real_adversarial),
            self.score(fake, fake_adversarial),
        )
        adversarial = losses.discriminator_loss(config.adversarial_loss, real_score, fake_score)
        classification = losses.classification_loss(fake_logits, fake_category)
        penalty = self.adversarial_penalty(real, real_score, fake, fake_score)
        stats.report("score/real", real_score)
        stats.report("score/fake", fake_score)
        stats.report("loss/discriminator", adversarial)
        stats.report("loss/classification", classification)
        stats.report("self_accuracy", category_agreement(fake_logits, fake_category).float())
        yield "discriminator", adversarial + config.lambda_cls * classification + penalty

        # L_G = L_adv^g + lambda_cls * L_cls: the generator is trained to be classified
        fake, fake_category = self.generate_fakes(batch_size)
        fake_adversarial, fake_logits = self.discriminator(fake)
        generator_loss = losses.generator_loss(
            config.adversarial_loss, self.score(fake, fake_adversarial)
        )
        generator_classification = losses.classification_loss(fake_logits, fake_category)
        stats.report("loss/generator", generator_loss)
        yield "generator", generator_loss + config.lambda_cls * generator_classification
        self.report_prior()
