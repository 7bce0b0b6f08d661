"""CGPGAN: separate classifier with the classifier gradient penalty, pseudo-labels on
real data and a dynamic categorical prior (SPEC.md section 1, "One training step").

`training_losses` is the published step; the additions of the `mnist5k` recipe are named
extensions (cgpgan_extensions.py) called at fixed points of it. Where Q sits (a network of
its own, or a head on D's trunk, `method.classifier_trunk`) is decided in the three
network helpers below, not in the step."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cgpgan import losses, stats
from cgpgan.augment import random_affine
from cgpgan.methods.base import Method
from cgpgan.methods.cgpgan_extensions import build_extensions
from cgpgan.prior import category_agreement


class CGPGAN(Method):
    name = "cgpgan"

    def __init__(self, config, networks):
        super().__init__(config, networks)
        labels, categories = self.config.num_labels, self.config.num_categories
        self.extensions = build_extensions(self.config)
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

    def discriminate_real(self, real):
        """D(x_r) logits and Q(x_r) probabilities (no gradient: they make pseudo-labels);
        where Q reads D's trunk, one trunk pass serves both."""
        if self.config.classifier_trunk == "own":
            logits = self.discriminator(real)
            with torch.no_grad():
                return logits, self.classify(real)
        logits, classes = self.discriminate(real, classify=True)
        return logits, F.softmax(classes.detach(), dim=2)

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
        config = self.config
        batch_size = batch.data.shape[0]

        # 1. fakes x_f = G(z, c_f), c_f ~ P(C)
        real, fake, fake_category = self.real_and_fakes(batch)

        # 2. pseudo-labels c_r = argmax softmax(Q(x)), re-centred during the warm-up
        real_logits, real_probabilities = self.discriminate_real(real)
        with torch.no_grad():
            real_confidence = real_probabilities.amax(dim=2, keepdim=True)  # [B, L, 1]
            real_probabilities, real_category = self.pseudo_labels(real_probabilities, step)

        # 3. discriminator: class-conditional adversarial loss + gradient penalties
        real_score = self.score(real, real_logits, real_category)
        fake_score = self.score(fake, self.discriminator(fake), fake_category)
        yield "discriminator", self.discriminator_loss(real, real_score, fake, fake_score)

        # 4. classifier: cross-entropy on fakes + classifier gradient penalty
        fake = fake.detach()
        for extension in self.extensions:
            fake = extension.classifier_inputs(self, fake)
        fake = fake.requires_grad_(True)
        logits = self.classifier_logits(fake)
        classification = losses.classification_loss(logits, fake_category)
        gradient_penalty = losses.classifier_gradient_penalty(logits, fake, fake_category)
        stats.report("loss/classification", classification)
        stats.report("penalty/classifier", gradient_penalty)
        stats.report("self_accuracy", category_agreement(logits, fake_category).float())
        classifier_loss = config.lambda_cls * classification + config.lambda_cgp * gradient_penalty
        for extension in self.extensions:
            term = extension.classifier_term(self, real, real_category, real_confidence, step)
            if term is not None:
                classifier_loss = classifier_loss + term
        yield "classifier", classifier_loss

        # 5. generator: adversarial loss only, fresh z' and c' ~ P(C)
        fake, fake_category = self.generate_fakes(batch_size)
        classify = any(extension.needs_generator_classes for extension in self.extensions)
        fake_logits, fake_classes = self.discriminate(fake, classify=classify)
        generator_loss = losses.generator_loss(
            config.adversarial_loss, self.score(fake, fake_logits, fake_category)
        )
        stats.report("loss/generator", generator_loss)
        for extension in self.extensions:
            term = extension.generator_term(self, fake_classes, fake_category)
            if term is not None:
                generator_loss = generator_loss + term
        yield "generator", generator_loss

        # 6. dynamic prior P <- decay * P + (1 - decay) * mean_batch(p)
        self.update_prior(real_probabilities, step)
