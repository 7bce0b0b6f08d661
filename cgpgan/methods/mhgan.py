"""MHGAN: a conditional GAN trained with labels, all of them or a few, whose critic is
also a Crammer-Singer multi-class classifier (SPEC.md section 2).

The critic reads penultimate features phi(x) and makes the projection score
D(x, y) = psi(phi(x)) + embed(y) . phi(x) and the classifier's logits C(x) (a dense layer
on phi, or, for MHSharedGAN, the projection embedding itself: C_k(x) = embed(k) . phi(x)).

    L_D = f_d(D(x_r, y_r), D(G(z, y), y)) + L_Daux,  L_Daux = MH(C(x_l), y_l)
    L_G = f_g(D(G(z, y), y)) + lambda * MH(C(G(z, y)), y)

with f the hinge loss by default and MH the multi-hinge loss (`losses.multi_hinge_loss`).
With labels for some items only (`data.labelled_fraction` < 1) the real term averages the
labelled batch's (true labels) and the main batch's, whose unlabelled items are scored
with the pseudo-label argmax C(x): (L_Dreal + L_Dunlab) / 2. G's labels y are drawn from
the labelled items' class shares (the prior, fixed when the run starts).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgpgan import losses, stats
from cgpgan.config import MethodConfig, check_non_negative
from cgpgan.data.batch import UNLABELLED
from cgpgan.errors import ConfigError
from cgpgan.methods.base import Method
from cgpgan.networks.layers import FeatureCritic
from cgpgan.prior import category_agreement


@dataclass
class MHGANConfig(MethodConfig):
    """MHGAN's settings: the multi-hinge terms and which classifier the critic has."""

    adversarial_loss: str = "hinge"  # logistic | hinge | wasserstein (the paper: hinge)
    fake_penalty_weight: float = 0.0  # squared gradient norm on generated data
    aux_weight: float = 1.0  # weight of L_Daux, D's multi-hinge on labelled reals
    lambda_aux: float = 0.1  # weight of L_Gaux, G's multi-hinge on (G(z, y), y)
    # the authors' code: D's multi-hinge also on (G(z, y), y); the paper: reals only
    fake_aux: bool = False
    # MHSharedGAN: the classifier is the projection embedding itself, C_k = embed(k) . phi
    shared_classifier: bool = False

    def validate(self) -> None:
        super().validate()
        if self.num_labels != 1:
            raise ConfigError(
                f"method.num_labels: mhgan conditions on one class label, got {self.num_labels}"
            )
        check_non_negative(self, "aux_weight", "lambda_aux")


class ProjectionCritic(FeatureCritic):
    """phi(x): penultimate features [B, P] (`FeatureCritic`, P = width); the projection
    logits psi(phi) + embed(k) . phi for every class k, and the classifier's logits, each
    [B, 1, K]."""

    def __init__(self, networks, num_classes: int, width: int, shared_classifier: bool):
        super().__init__(networks, width)
        self.psi = nn.Linear(width, 1)
        self.embedding = nn.Embedding(num_classes, width)
        nn.init.normal_(self.embedding.weight, std=width**-0.5)
        self.classifier = None if shared_classifier else nn.Linear(width, num_classes)

    def projection(self, features: torch.Tensor) -> torch.Tensor:
        """D(x, k) = psi(phi) + embed(k) . phi for every k, [B, 1, K]."""
        return (self.psi(features) + features @ self.embedding.weight.T).unsqueeze(1)

    def classes(self, features: torch.Tensor) -> torch.Tensor:
        """C(x), [B, 1, K]."""
        if self.classifier is None:
            return (features @ self.embedding.weight.T).unsqueeze(1)
        return self.classifier(features).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return self.projection(features), self.classes(features)


class MHGAN(Method):
    name = "mhgan"
    settings = MHGANConfig
    needs_labels = True

    def __init__(self, config, networks):
        super().__init__(config, networks)
        self.discriminator = ProjectionCritic(
            networks,
            self.config.num_categories,
            config.network.hidden_dim,
            self.config.shared_classifier,
        )

    def optimized_modules(self):
        return {"discriminator": self.discriminator, "generator": self.generator}

    def adversarial_logits(self, x):
        return self.discriminator(x)[0]

    def classify(self, x):
        return F.softmax(self.discriminator(x)[1], dim=2)

    def fit_to_data(self, dataset) -> None:
        """The prior G draws its labels from: the labelled items' class shares."""
        labels = dataset.training_labels
        if labels is None:
            raise ConfigError("method mhgan: needs labels, set data.labelled_fraction > 0")
        known = labels[labels != UNLABELLED]
        if len(known) == 0:
            raise ConfigError("data.labelled_fraction: too small, no item keeps its label")
        counts = torch.bincount(known, minlength=self.config.num_categories)
        if len(counts) > self.config.num_categories:
            raise ConfigError(
                f"method.num_categories: the data have {len(counts)} classes, "
                f"mhgan has {self.config.num_categories} categories"
            )
        self.prior.probabilities.copy_((counts / counts.sum()).unsqueeze(0))

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, self.config.num_categories).float().unsqueeze(1)

    def training_losses(self, batch, step):
        config = self.config
        batch_size = batch.data.shape[0]
        labelled = batch.labelled
        supervised = labelled is batch  # every item labelled: one batch serves both terms
        unlabelled = batch.data[: 0 if supervised else batch_size]
        fake, fake_category = self.generate_fakes(batch_size)
        real, fake = self.penalty_inputs(torch.cat([labelled.data, unlabelled]), fake)

        # the real items' labels: the labelled batch's, then the main batch's own where
        # revealed and argmax C(x) where not
        projection, classes = self.discriminator(real)
        labelled_classes = classes[:batch_size]
        real_labels = labelled.labels
        if not supervised:
            predicted = classes[batch_size:].detach().argmax(dim=2).squeeze(1)
            own = torch.where(batch.labels != UNLABELLED, batch.labels, predicted)
            real_labels = torch.cat([real_labels, own])
        real_category = self.one_hot(real_labels)

        # L_D = f_d(D(x_r, y_r), D(x_f, y_f)) + aux_weight * L_Daux: with unlabelled items the
        # real term is (L_Dreal + L_Dunlab) / 2, the mean over the two equal batches
        real_score = self.score(real, projection, real_category)
        fake_projection, fake_classes = self.discriminator(fake)
        fake_score = self.score(fake, fake_projection, fake_category)
        loss = self.discriminator_loss(real, real_score, fake, fake_score, real_category)
        aux = losses.multi_hinge_loss(labelled_classes, real_category[:batch_size])
        if config.fake_aux:
            aux = aux + losses.multi_hinge_loss(fake_classes, fake_category)
        stats.report("loss/classification", aux)
        stats.report(
            "train_accuracy",
            category_agreement(labelled_classes, real_category[:batch_size]).float(),
        )
        yield "discriminator", loss + config.aux_weight * aux

        # L_G = f_g(D(G(z, y), y)) + lambda * L_Gaux, fresh z and y ~ the labelled shares
        fake, fake_category = self.generate_fakes(batch_size)
        fake_projection, fake_classes = self.discriminator(fake)
        generator_loss = losses.generator_loss(
            config.adversarial_loss, self.score(fake, fake_projection, fake_category)
        )
        generator_aux = losses.multi_hinge_loss(fake_classes, fake_category)
        stats.report("loss/generator", generator_loss)
        stats.report("self_accuracy", category_agreement(fake_classes, fake_category).float())
        yield "generator", generator_loss + config.lambda_aux * generator_aux
        self.report_prior()
