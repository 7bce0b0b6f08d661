"""CGPGAN: separate classifier with the classifier gradient penalty, pseudo-labels on
real data and a dynamic categorical prior (SPEC.md section 1, "One training step").

`training_losses` is the published step; the additions of the `mnist5k` recipe are named
extensions (cgpgan_extensions.py) called at fixed points of it. Where Q sits (a network of
its own, or a head on D's trunk, `method.classifier_trunk`) is decided in the three
network helpers below, not in the step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cgpgan import losses, stats
from cgpgan.augment import random_affine
from cgpgan.config import check_below_one, check_choice, check_non_negative
from cgpgan.errors import ConfigError
from cgpgan.methods.base import Method
from cgpgan.methods.cgpgan_extensions import build_extensions
from cgpgan.methods.vcagan import VCAGANConfig
from cgpgan.prior import category_agreement


@dataclass
class CGPGANConfig(VCAGANConfig):
    """CGPGAN's settings: VCAGAN's, where Q sits, and the named extensions
    (cgpgan_extensions.py) with the moved copies they use."""

    # Q: own (a separate network, ref) | discriminator (a head on D's trunk features)
    classifier_trunk: str = "own"
    # extension: G also trained to be classified by Q (InfoGAN-like)
    generator_cls_weight: float = 0.0
    real_consistency_weight: float = 0.0  # extension: Q also learns c_r on moved real images
    real_consistency_start: int = 0  # real_consistency_weight applies from this step on
    # real_consistency_weight applies to images whose largest Q probability exceeds this
    real_consistency_threshold: float = 0.0
    # extension: after the warm-up, Q's mean entropy on real images is added to its loss
    # with this weight (confident assignments: boundaries move into low-density gaps)
    real_entropy_weight: float = 0.0
    augment_fakes: bool = False  # extension: Q's loss and penalty on moved copies of the fakes
    augment_shift: int = 2  # largest shift in pixels of moved copies
    augment_rotation: float = 0.0  # largest rotation in degrees of moved copies
    augment_scale: float = 0.0  # largest relative change of scale of moved copies
    # over-cluster, then merge: after training, the categories are merged into this many
    # groups by how often real images swap category under the moves above (`cgpgan merge`:
    # merge.json, metrics merged.*); 0: keep the K categories
    merge_into: int = 0
    # ... or (and) merged until the next two groups to merge swap at a lower rate,
    # without a number of groups given; 0: merge_into alone decides
    merge_min_rate: float = 0.0
    # which two groups are merged next: modularity | swap_rate (cgpgan/merging.py)
    merge_linkage: str = "modularity"

    def validate(self) -> None:
        super().validate()
        from cgpgan.merging import LINKAGES

        check_choice(self, "classifier_trunk", ("own", "discriminator"))
        check_choice(self, "merge_linkage", tuple(LINKAGES))
        check_non_negative(
            self,
            "generator_cls_weight",
            "real_consistency_weight",
            "real_consistency_start",
            "real_entropy_weight",
            "augment_shift",
            "augment_rotation",
            "merge_into",
        )
        check_below_one(self, "real_consistency_threshold", "augment_scale", "merge_min_rate")
        if self.merge_into >= self.num_categories:
            raise ConfigError(
                f"method.merge_into: must be below method.num_categories "
                f"({self.num_categories}), got {self.merge_into}"
            )
        moves = (self.augment_shift, self.augment_rotation, self.augment_scale)
        if self.merges and not any(moves):
            raise ConfigError(
                f"method.{self.merges}: merging needs moves (method.augment_shift, "
                "augment_rotation or augment_scale above 0)"
            )

    @property
    def merges(self) -> str:
        """The key that asks for merging after training ('' if none)."""
        return "merge_into" if self.merge_into else "merge_min_rate" if self.merge_min_rate else ""


class CGPGAN(Method):
    name = "cgpgan"
    settings = CGPGANConfig

    def __init__(self, config, networks):
        super().__init__(config, networks)
        labels, categories = self.config.num_labels, self.config.num_categories
        self.extensions = build_extensions(self.config)
        self.classification_loss = losses.CLASSIFICATION_LOSSES[self.config.classifier_loss]
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

    def representation(self, x, network="critic"):
        if network == "classifier" and self.config.classifier_trunk == "own":
            return self.classifier.features(x)
        return super().representation(x, network)

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
        yield (
            "discriminator",
            self.discriminator_loss(real, real_score, fake, fake_score, real_category),
        )

        # 4. classifier: cross-entropy (or multi-hinge) on fakes + classifier gradient penalty
        fake = fake.detach()
        for extension in self.extensions:
            fake = extension.classifier_inputs(self, fake)
        penalty_weight = config.classifier_penalty_weight(step)  # 0 on lazy steps
        fake = fake.requires_grad_(penalty_weight > 0)
        logits = self.classifier_logits(fake)
        classification = self.classification_loss(logits, fake_category)
        stats.report("loss/classification", classification)
        stats.report("self_accuracy", category_agreement(logits, fake_category).float())
        classifier_loss = config.lambda_cls * classification
        if penalty_weight > 0:
            gradient_penalty = losses.classifier_gradient_penalty(logits, fake, fake_category)
            stats.report("penalty/classifier", gradient_penalty)
            classifier_loss = classifier_loss + penalty_weight * gradient_penalty
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
