"""VCAGAN (CGPGAN's first version): the classifier shares the discriminator's trunk and
its gradient penalty is on real data (SPEC.md section 1, "VCAGAN")."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from cgpgan import losses, stats
from cgpgan.config import (
    MethodConfig,
    check_below_one,
    check_choice,
    check_non_negative,
    check_positive,
)
from cgpgan.methods.base import TwoHeadMethod, lazy_scale
from cgpgan.prior import category_agreement


@dataclass
class VCAGANConfig(MethodConfig):
    """VCAGAN's settings: the classifier's loss weights and the dynamic prior."""

    lambda_cls: float = 1.0  # classification loss weight
    lambda_cgp: float = 0.1  # classifier gradient penalty (VCAGAN's lambda_creg)
    prior_decay: float = 0.999  # EMA decay of the dynamic prior
    warmup_steps: int = 1000  # prior frozen and pseudo-labels re-centred before this
    # during the warm-up, re-centre pseudo-labels over the batch (pushes towards balance)
    warmup_recentre: bool = True
    # the batch estimate the prior follows: soft (mean of p) | hard (share of argmax p)
    prior_estimate: str = "soft"
    # prior adjustment: during the warm-up the class sizes are estimated from Q's
    # probabilities reweighted by estimate / uniform (docs/imbalance.md), which make the
    # pseudo-labels instead of re-centring; the prior starts from the estimate
    prior_adjustment: bool = False
    # the classifier's loss on generated data: cross_entropy | multi_hinge (Crammer-Singer,
    # MHGAN's); the classifier gradient penalty is the same with either
    classifier_loss: str = "cross_entropy"
    # lazy regularisation of the classifier gradient penalty: only every k-th step,
    # weighted k times (as method.penalty_every for the adversarial penalties)
    classifier_penalty_every: int = 1

    def classifier_penalty_weight(self, step: int) -> float:
        """lambda_cgp on this step: times k on every k-th step, 0 on the others."""
        return self.lambda_cgp * lazy_scale(self.classifier_penalty_every, step)

    def adjusts_prior(self) -> bool:
        return self.prior_adjustment

    def validate(self) -> None:
        super().validate()
        check_non_negative(self, "lambda_cls", "lambda_cgp", "warmup_steps")
        check_below_one(self, "prior_decay")
        check_choice(self, "prior_estimate", ("soft", "hard"))
        check_choice(self, "classifier_loss", tuple(losses.CLASSIFICATION_LOSSES))
        check_positive(self, "classifier_penalty_every")


class VCAGAN(TwoHeadMethod):
    name = "vcagan"
    settings = VCAGANConfig

    def __init__(self, config, networks):
        # D*(x) -> (a, c'): adversarial and classification logits, both [B, L, K]
        super().__init__(config, networks, (config.method.num_labels, config.method.num_categories))
        self.classification_loss = losses.CLASSIFICATION_LOSSES[self.config.classifier_loss]

    def training_losses(self, batch, step):
        config = self.config
        batch_size = batch.data.shape[0]
        penalty_weight = config.classifier_penalty_weight(step)
        real, fake, fake_category = self.real_and_fakes(batch, penalty_weight > 0)

        # L_D = f_d(a_r . c_r, a_f . c_f) + lambda_cls * L_cls(c_f, c'_f) + lambda_creg * L_creg
        real_adversarial, real_logits = self.discriminator(real)
        fake_adversarial, fake_logits = self.discriminator(fake)
        real_probabilities, real_category = self.pseudo_labels(
            F.softmax(real_logits.detach(), dim=2), step
        )
        real_score = self.score(real, real_adversarial, real_category)
        fake_score = self.score(fake, fake_adversarial, fake_category)
        adversarial = losses.discriminator_loss(config.adversarial_loss, real_score, fake_score)
        classification = self.classification_loss(fake_logits, fake_category)
        loss = adversarial + config.lambda_cls * classification
        if penalty_weight > 0:
            gradient_penalty = losses.confidence_gradient_penalty(real_logits, real)
            stats.report("penalty/classifier", gradient_penalty)
            loss = loss + penalty_weight * gradient_penalty
        loss = loss + self.adversarial_penalty(real, real_score, fake, fake_score, real_category)
        stats.report("score/real", real_score)
        stats.report("score/fake", fake_score)
        stats.report("loss/discriminator", adversarial)
        stats.report("loss/classification", classification)
        stats.report("self_accuracy", category_agreement(fake_logits, fake_category).float())
        yield "discriminator", loss

        # L_G = f_g(a_f . c_f): no classification loss for the generator
        fake, fake_category = self.generate_fakes(batch_size)
        fake_score = self.score(fake, self.discriminator(fake)[0], fake_category)
        generator_loss = losses.generator_loss(config.adversarial_loss, fake_score)
        stats.report("loss/generator", generator_loss)
        yield "generator", generator_loss

        # prior <- EMA of the mean real classification
        self.update_prior(real_probabilities, step)
