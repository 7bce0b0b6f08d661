"""CGPGAN: separate classifier with the classifier gradient penalty, pseudo-labels on
real data and a dynamic categorical prior (SPEC.md section 1, "One training step")."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cgpgan import losses, stats
from cgpgan.augment import random_affine
from cgpgan.methods.base import Method
from cgpgan.prior import category_agreement


class CGPGAN(Method):
    name = "cgpgan"

    def __init__(self, config, networks):
        super().__init__(config, networks)
        labels, categories = self.config.num_labels, self.config.num_categories
        self.discriminator = networks.critic(labels, categories)  # D(x) -> [B, L, K]
        if self.config.classifier_trunk == "own":  # Q(x) -> [B, L, K], a network of its own (ref)
            self.classifier = networks.critic(labels, categories)
        else:  # Q is a dense head reading D's trunk features; Q's losses do not train that trunk
            self.classifier = networks.head(self.discriminator.feature_dim, (labels, categories))

    def classifier_logits(self, x):
        """Q(x), [B, L, K]."""
        if self.config.classifier_trunk == "own":
            return self.classifier(x)
        return self.classifier(self.discriminator.features(x))

    def discriminate(self, x, classify: bool):
        """D(x) logits, and Q(x) logits if `classify` (else None); where Q reads D's trunk,
        one trunk pass serves both."""
        if self.config.classifier_trunk == "own":
            return self.discriminator(x), self.classifier_logits(x) if classify else None
        features = self.discriminator.features(x)
        return self.discriminator.from_features(features), self.classifier(
            features
        ) if classify else None

    def move(self, images):
        """Randomly shifted / rotated / scaled copies (method.augment_*)."""
        config = self.config
        return random_affine(
            images,
            self.latent_generator,
            config.augment_shift,
            config.augment_rotation,
            config.augment_scale,
        )

    def optimized_modules(self):
        return {
            "discriminator": self.discriminator,
            "classifier": self.classifier,
            "generator": self.generator,
        }

    def classify(self, x):
        return F.softmax(self.classifier_logits(x), dim=2)

    def training_losses(self, batch, step):
        real = batch.data
        config = self.config
        batch_size = real.shape[0]

        # 1. fakes x_f = G(z, c_f), c_f ~ P(C)
        fake, fake_category = self.generate_fakes(batch_size)

        # 2. pseudo-labels c_r = argmax softmax(Q(x)), re-centred during the warm-up
        real, fake = self.penalty_inputs(real, fake)
        shared = config.classifier_trunk == "discriminator"
        real_logits, real_classes = self.discriminate(real, classify=shared)
        with torch.no_grad():
            real_probabilities = F.softmax(real_classes, dim=2) if shared else self.classify(real)
            real_confidence = real_probabilities.amax(dim=2, keepdim=True)  # [B, L, 1]
            real_probabilities, real_category = self.pseudo_labels(real_probabilities, step)

        # 3. discriminator: class-conditional adversarial loss + gradient penalties
        real_score = self.score(real, real_logits, real_category)
        fake_score = self.score(fake, self.discriminator(fake), fake_category)
        adversarial = losses.discriminator_loss(config.adversarial_loss, real_score, fake_score)
        penalty = self.adversarial_penalty(real, real_score, fake, fake_score)
        stats.report("score/real", real_score)
        stats.report("score/fake", fake_score)
        stats.report("loss/discriminator", adversarial)
        yield "discriminator", adversarial + penalty

        # 4. classifier: cross-entropy on fakes + classifier gradient penalty
        fake = fake.detach()
        if config.augment_fakes:  # option: Q learns from moved copies of the fakes
            fake = self.move(fake)
        fake = fake.requires_grad_(True)
        logits = self.classifier_logits(fake)
        classification = losses.classification_loss(logits, fake_category)
        gradient_penalty = losses.classifier_gradient_penalty(logits, fake, fake_category)
        stats.report("loss/classification", classification)
        stats.report("penalty/classifier", gradient_penalty)
        stats.report("self_accuracy", category_agreement(logits, fake_category).float())
        classifier_loss = config.lambda_cls * classification + config.lambda_cgp * gradient_penalty
        if config.real_consistency_weight > 0 and step >= config.real_consistency_start:
            # option: Q keeps c_r on moved copies of the real images it is confident about
            confident = (real_confidence > config.real_consistency_threshold).float()
            consistency = losses.classification_loss(
                self.classifier_logits(self.move(real.detach())), real_category * confident
            )
            stats.report("loss/real_consistency", consistency)
            classifier_loss = classifier_loss + config.real_consistency_weight * consistency
        yield "classifier", classifier_loss

        # 5. generator: adversarial loss only, fresh z' and c' ~ P(C)
        fake, fake_category = self.generate_fakes(batch_size)
        fake_logits, fake_classes = self.discriminate(
            fake, classify=config.generator_cls_weight > 0
        )
        generator_loss = losses.generator_loss(
            config.adversarial_loss, self.score(fake, fake_logits, fake_category)
        )
        stats.report("loss/generator", generator_loss)
        if config.generator_cls_weight > 0:  # option, not in the paper: InfoGAN's term on G
            generator_loss = (
                generator_loss
                + config.generator_cls_weight
                * losses.classification_loss(fake_classes, fake_category)
            )
        yield "generator", generator_loss

        # 6. dynamic prior P <- decay * P + (1 - decay) * mean_batch(p)
        self.update_prior(real_probabilities, step)
