"""Structural adversarial objectives (SPEC.md section 4): the critic as a representation
learner. The critic maps x to backbone features f_b and an embedding f~ (f = f~ / ||f~||)
and keeps a hinge-loss score head; on top of the hinge GAN, three terms:

- coarse: a distance d between Gaussians fitted to the real and generated embeddings
  (`method.coarse`: the JSD approximation or the Bhattacharyya distance), maximised by D
  and minimised by G;
- fine: from a rolling memory bank of real embeddings (written by a moving-average copy
  of the critic), each real embedding is pulled towards its nearest neighbours', found by
  backbone features (L_group, D), and each generated embedding towards its nearest real
  neighbours' by G and away from them by D (L_adv_group);
- smoothness: the Jacobian spectral norm of f~ penalised towards 1 on real and generated
  inputs, and a hinge keeping ||f~|| >= 1 (weight 4).

    L_D = hinge_D - d + fine_weight (-L_group + L_adv_group) + smoothness_weight L_reg

(L_reg on every `method.smoothness_every`-th step only, times that number, if set)
    L_G = hinge_G + d - fine_weight L_adv_group

The authors' script also augments the real images (a random resized crop, flips); the
paper does not: `method.real_crop_scale` and `method.real_flip`, off by default.

With `method.coarse=none`, `fine_weight=0` and `smoothness_weight=0` it is the plain
hinge-loss GAN on the same networks (the paper's baseline).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from cgpgan import losses, stats
from cgpgan.augment import random_resized_crop
from cgpgan.config import check_choice, check_non_negative
from cgpgan.data.batch import Batch
from cgpgan.errors import ConfigError
from cgpgan.methods.base import FixedPriorConfig, Method, Phase
from cgpgan.networks.layers import FeatureCritic
from cgpgan.structural import COARSE, MemoryBank, jacobian_spectral_norm, neighbour_attraction


@dataclass
class StructuralConfig(FixedPriorConfig):
    """The structural objectives' settings (defaults: the authors' code where the paper
    is silent)."""

    adversarial_loss: str = "hinge"  # logistic | hinge | wasserstein (the baseline: hinge)
    fake_penalty_weight: float = 0.0  # squared gradient norm on generated data
    num_categories: int = 2  # G's categories (drawn from the fixed prior; 2 minimum)
    embedding_dim: int = 128  # p, the size of the embedding f~
    coarse: str = "jsd"  # jsd | bhattacharyya | none: the coarse objective
    coarse_eps: float = 0.5  # log-determinants of I + (p / eps) S
    fine_weight: float = 3.0  # weight of the fine (nearest-neighbour grouping) terms
    neighbours: int = 1  # k nearest neighbours in the memory bank
    mean_shift_temperature: float = 0.0  # > 0: neighbours weighted by softmax(sim / T)
    bank_size: int = 10240  # entries of the memory bank of real embeddings
    bank_ema: float = 0.999  # decay of the moving-average critic that fills the bank
    smoothness_weight: float = 5.0  # weight of L_reg (Jacobian norm and norm hinge)
    norm_hinge_weight: float = 4.0  # inside L_reg: weight of the hinge ||f~|| >= 1
    jacobian_iterations: int = 1  # power iterations per Jacobian norm estimate
    # lazy regularisation (StyleGAN2): L_reg on every k-th step only, its weight times k
    smoothness_every: int = 1
    critic_weight_decay: float = 0.1  # the critic's AdamW weight decay
    critic_learning_rate: float = 0.0002  # the critic's AdamW learning rate
    critic_betas: list[float] | None = None  # the critic's Adam betas; null: (0.5, 0.999)
    # the authors' script augments real images (off by default, as in the paper): a random
    # resized crop of at least this share of the area (1: none; theirs 0.5), and flips
    real_crop_scale: float = 1.0
    real_flip: bool = False

    def validate(self) -> None:
        super().validate()
        check_choice(self, "coarse", (*COARSE, "none"))
        check_non_negative(
            self,
            "coarse_eps",
            "fine_weight",
            "mean_shift_temperature",
            "smoothness_weight",
            "norm_hinge_weight",
            "critic_weight_decay",
        )
        for key in (
            "embedding_dim",
            "neighbours",
            "bank_size",
            "jacobian_iterations",
            "smoothness_every",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"method.{key}: must be >= 1, got {getattr(self, key)}")
        if not 0.0 < self.real_crop_scale <= 1.0:
            raise ConfigError(
                f"method.real_crop_scale: must be in (0, 1], got {self.real_crop_scale}"
            )
        if not 0.0 <= self.bank_ema < 1.0:
            raise ConfigError(f"method.bank_ema: must be in [0, 1), got {self.bank_ema}")


class EmbeddingCritic(FeatureCritic):
    """Backbone features f_b [B, W] (`FeatureCritic`, W = width), the embedding f~ [B, p]
    and the hinge score [B, 1, 1]."""

    def __init__(self, networks, width: int, embedding_dim: int):
        super().__init__(networks, width)
        self.embedding = nn.Linear(width, embedding_dim)
        self.score = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor):
        """(f_b, f~, score logits [B, 1, 1])."""
        features = self.features(x)
        return features, self.embedding(features), self.score(features).view(-1, 1, 1)


class Structural(Method):
    name = "structural"
    settings = StructuralConfig

    def __init__(self, config, networks):
        super().__init__(config, networks)
        settings, width = self.config, config.network.hidden_dim
        self.discriminator = EmbeddingCritic(networks, width, settings.embedding_dim)
        self.averaged_critic = copy.deepcopy(self.discriminator).requires_grad_(False)
        self.bank = MemoryBank(settings.bank_size, settings.embedding_dim, width)
        self.coarse = COARSE.get(settings.coarse)

    def optimized_modules(self):
        return {"discriminator": self.discriminator, "generator": self.generator}

    def phases(self, train):
        phases = super().phases(train)
        settings = self.config
        phases["discriminator"] = Phase(
            self.discriminator,
            learning_rate=settings.critic_learning_rate,
            betas=tuple(settings.critic_betas or (0.5, 0.999)),
            weight_decay=settings.critic_weight_decay,
            optimizer="adamw",
        )
        return phases

    def adversarial_logits(self, x):
        return self.discriminator(x)[2]

    def augmented(self, batch: Batch) -> Batch:
        """The real batch as the critic sees it: randomly cropped and flipped images
        (`method.real_crop_scale`, `method.real_flip`), drawn from the method's seeded
        generator; the batch itself when both are off."""
        settings = self.config
        if settings.real_crop_scale >= 1 and not settings.real_flip:
            return batch
        images = random_resized_crop(
            batch.data, self.latent_generator, settings.real_crop_scale, settings.real_flip
        )
        return replace(batch, data=images)

    def attraction(self, embedding: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """mean_i sum_j w_ij f_ij . f_i: the normalised embeddings f_i of `x` against those
        of their nearest real neighbours f_ij in the bank, found by the moving-average
        critic's backbone features of `x`; 0 until the bank holds k entries."""
        settings = self.config
        if int(self.bank.filled) < settings.neighbours:
            return embedding.new_zeros(())
        with torch.no_grad():
            keys = self.averaged_critic.features(x.detach())
        neighbours, weights = self.bank.nearest(
            keys, settings.neighbours, settings.mean_shift_temperature
        )
        return neighbour_attraction(F.normalize(embedding, dim=1), neighbours, weights)

    def smoothness(self, real, fake, real_embedding, fake_embedding):
        """L_reg: E (sigma(J f~) - 1)^2 on real and generated inputs + the norm hinge."""
        settings = self.config

        def embed(x):
            return self.discriminator(x)[1]

        sigma = torch.cat(
            [
                jacobian_spectral_norm(
                    embed, x, settings.jacobian_iterations, self.latent_generator
                )
                for x in (real, fake)
            ]
        )
        norms = torch.cat([real_embedding, fake_embedding]).norm(dim=1)
        norm_hinge = F.relu(1 - norms).square().mean()
        stats.report("structural/jacobian_norm", sigma)
        return (sigma - 1).square().mean() + settings.norm_hinge_weight * norm_hinge

    def training_losses(self, batch, step):
        settings = self.config
        batch_size = batch.data.shape[0]
        real, fake, _ = self.real_and_fakes(self.augmented(batch))

        # D: hinge - d + fine_weight (-L_group + L_adv_group) + smoothness_weight L_reg
        _, real_embedding, real_logits = self.discriminator(real)
        _, fake_embedding, fake_logits = self.discriminator(fake)
        real_score, fake_score = self.score(real, real_logits), self.score(fake, fake_logits)
        loss = self.discriminator_loss(real, real_score, fake, fake_score)
        real_f, fake_f = F.normalize(real_embedding, dim=1), F.normalize(fake_embedding, dim=1)
        if self.coarse is not None:
            distance = self.coarse(real_f, fake_f, settings.coarse_eps)
            stats.report("structural/coarse", distance)
            loss = loss - distance
        if settings.fine_weight > 0:
            group = self.attraction(real_embedding, real)  # L_group: reals attract
            adversarial_group = self.attraction(fake_embedding, fake)  # L_adv_group: repel
            stats.report("structural/group", group)
            stats.report("structural/adversarial_group", adversarial_group)
            loss = loss + settings.fine_weight * (adversarial_group - group)
        every = settings.smoothness_every
        if settings.smoothness_weight > 0 and step % every == 0:
            regulariser = self.smoothness(real, fake, real_embedding, fake_embedding)
            stats.report("structural/regulariser", regulariser)
            loss = loss + settings.smoothness_weight * every * regulariser
        yield "discriminator", loss

        # G: hinge + d - fine_weight L_adv_group, on fresh samples
        fake, _ = self.generate_fakes(batch_size)
        _, fake_embedding, fake_logits = self.discriminator(fake)
        generator_loss = losses.generator_loss(
            settings.adversarial_loss, self.score(fake, fake_logits)
        )
        stats.report("loss/generator", generator_loss)
        if self.coarse is not None:
            fake_f = F.normalize(fake_embedding, dim=1)
            generator_loss = generator_loss + self.coarse(
                real_f.detach(), fake_f, settings.coarse_eps
            )
        if settings.fine_weight > 0:
            adversarial_group = self.attraction(fake_embedding, fake)  # G: attract
            generator_loss = generator_loss - settings.fine_weight * adversarial_group
        yield "generator", generator_loss

        # the moving-average critic follows D, and writes this batch into the bank
        self.update_averaged_critic()
        with torch.no_grad():
            keys, embedding, _ = self.averaged_critic(real.detach())
            self.bank.add(F.normalize(embedding, dim=1), keys)
        self.report_prior()

    @torch.no_grad()
    def update_averaged_critic(self) -> None:
        decay = self.config.bank_ema
        for averaged, current in zip(
            self.averaged_critic.parameters(), self.discriminator.parameters()
        ):
            averaged.lerp_(current, 1 - decay)
        for averaged, current in zip(self.averaged_critic.buffers(), self.discriminator.buffers()):
            averaged.copy_(current)
