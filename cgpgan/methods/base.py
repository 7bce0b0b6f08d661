"""What every method shares: the generator and its moving average, the prior, latent
sampling and the adversarial penalties."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from cgpgan import distributed, losses, stats
from cgpgan.augment import consistency_moves
from cgpgan.config import (
    OPTIMIZER_IMPLEMENTATIONS,
    Config,
    MethodConfig,
    TrainConfig,
    check_distribution,
)
from cgpgan.data.batch import Batch
from cgpgan.errors import ConfigError
from cgpgan.normalization import build_normalization
from cgpgan.prior import CategoricalPrior


def lazy_scale(every: int, step: int) -> float:
    """Lazy regularisation's factor on a penalty due every `every`-th step: `every` on
    those steps, 0 on the others (StyleGAN2); 1 on every step when `every` is 1."""
    return float(every) if step % every == 0 else 0.0


@dataclass
class FixedPriorConfig(MethodConfig):
    """Settings of a method whose prior over categories stays fixed."""

    fixed_prior: list[float] | None = None  # the prior over categories; null: uniform

    def initial_prior(self) -> list[float] | None:
        return self.fixed_prior

    def validate(self) -> None:
        super().validate()
        if self.fixed_prior is not None:
            check_distribution("method.fixed_prior", self.fixed_prior, self.num_categories)


@dataclass
class Phase:
    """One phase of a training step: the module its loss trains and that module's
    optimiser. Settings left at None take the `train.*` value. With `every` = k > 1 the
    phase is lazy (e.g. a regulariser, as in StyleGAN2): the loop applies it on every k-th
    step only, its loss multiplied by k."""

    module: nn.Module
    learning_rate: float | None = None
    betas: tuple[float, float] | None = None
    weight_decay: float | None = None
    optimizer: str | None = None  # adam | adamw
    every: int = 1

    def make_optimizer(self, train: TrainConfig) -> torch.optim.Optimizer:
        options = dict(
            lr=self.learning_rate or train.learning_rate,
            betas=tuple(self.betas or train.betas),
            weight_decay=train.weight_decay if self.weight_decay is None else self.weight_decay,
        )
        kind = self.optimizer or train.optimizer
        optimizer = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
        implementation = OPTIMIZER_IMPLEMENTATIONS[train.optimizer_implementation]
        return optimizer(self.module.parameters(), **options, **implementation)


class Method(nn.Module):
    """A GAN method. Subclasses build their networks and define `training_losses`.

    The training loop calls `training_losses(batch, step)` (through `step_losses`), a
    generator that yields `(phase, loss)` pairs; after each yield the loop back-propagates
    the loss into the parameters of that phase's module only (the others get no gradient)
    and steps its optimiser (`phases()`), so a later phase sees the updated weights. Code
    after the last yield (e.g. the prior update) runs before the next step.
    """

    name = "method"
    settings: type[MethodConfig] = MethodConfig  # the class of its `method:` settings
    needs_labels = False  # trains only with labels (data.labelled_fraction > 0)

    def __init__(self, config: Config, networks):
        super().__init__()
        self.config = config.method
        self.latent_dim = config.network.latent_dim
        self.latent_distribution = config.network.latent_distribution
        self.prior = CategoricalPrior(
            self.config.num_labels, self.config.num_categories, self.config.initial_prior()
        )
        # the class sizes estimated during the warm-up (prior adjustment), else None
        self.class_sizes = (
            CategoricalPrior(self.config.num_labels, self.config.num_categories)
            if self.config.adjusts_prior()
            else None
        )
        self.generator = networks.generator()
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.latent_generator = torch.Generator()
        self.normalization = build_normalization(
            self.config.critic_normalization,
            self.config.pgn_reading,
            self.config.normalization_lipschitz,
        )
        self.penalty_scale = 1.0  # this step's factor on the adversarial penalties

    # ------------------------------------------------------------ to override

    def optimized_modules(self) -> dict[str, nn.Module]:
        """Phase name -> the module whose parameters that phase's loss trains."""
        raise NotImplementedError

    def phases(self, train: TrainConfig) -> dict[str, Phase]:
        """Phase name -> its Phase. By default every module of `optimized_modules` with
        the `train.*` optimiser, the generator and classifier at their own learning rates
        when set, the generator on every `train.generator_every`-th step; a method whose
        phases need other optimisers overrides this."""
        own_rate = {
            "generator": train.generator_learning_rate,
            "classifier": train.classifier_learning_rate,
        }
        phases = {
            name: Phase(module, learning_rate=own_rate.get(name) or None)
            for name, module in self.optimized_modules().items()
        }
        if "generator" in phases:  # n critic updates per generator update
            phases["generator"].every = train.generator_every
        return phases

    def training_losses(self, batch: Batch, step: int) -> Iterator[tuple[str, torch.Tensor]]:
        """The losses of one step on the real `batch` (`batch.data`; `batch.labels` only
        when data.labelled_fraction > 0), as (phase, loss) pairs."""
        raise NotImplementedError

    def critic_network(self) -> nn.Module:
        """The network whose adversarial score a critic normalisation acts on: by default
        `self.discriminator`; a method whose critic is elsewhere overrides this."""
        critic = self._modules.get("discriminator")
        if critic is None:
            raise ConfigError(
                f"method {self.name!r} has no `discriminator`: spectral norm and "
                "consistency regularisation need it to override Method.critic_network "
                "and Method.adversarial_logits"
            )
        return critic

    def adversarial_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's adversarial logits of `x` (what `score` reads)."""
        return self.critic_network()(x)

    def representation(self, x: torch.Tensor, network: str = "critic") -> torch.Tensor:
        """Features [B, F] of `x` for representation probes: the critic's trunk
        (`critic`), or the classifier's (`classifier`) where the method has one of its own."""
        if network == "critic":
            return self.critic_network().features(x)
        raise ConfigError(
            f"probe: method {self.name!r} has no classifier network of its own; "
            "probe the critic's features"
        )

    def fit_to_data(self, dataset) -> None:
        """Set the method up from its training data, once, when a run starts; most methods
        need nothing (MHGAN takes its prior from the labelled items' class shares)."""

    def classify(self, x: torch.Tensor) -> torch.Tensor | None:
        """Category probabilities [B, L, K] of data `x`, or None if the method has no
        classifier."""
        return None

    # ------------------------------------------------------------ shared

    def step_losses(self, batch: Batch, step: int) -> Iterator[tuple[str, torch.Tensor]]:
        """`training_losses` of step `step`, what the loop calls: with lazy regularisation
        (`method.penalty_every` = k) the adversarial penalties are due on every k-th step
        only, weighted k times then (StyleGAN2)."""
        self.penalty_scale = lazy_scale(self.config.penalty_every, step)
        return self.training_losses(batch, step)

    @property
    def device(self) -> torch.device:
        return self.prior.probabilities.device

    def sample_latent(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z ~ N(0, I) or uniform on [-sqrt 3, sqrt 3] (unit variance), [B, d_z].

        Draws from the method's own seeded generator unless one is given.
        """
        generator = generator or self.latent_generator
        shape = (batch_size, self.latent_dim)
        if self.latent_distribution == "normal":
            return torch.randn(shape, generator=generator, device=self.device)
        uniform = torch.rand(shape, generator=generator, device=self.device)
        return (2 * uniform - 1) * math.sqrt(3)

    def sample_categories(self, batch_size: int) -> torch.Tensor:
        """c ~ P(C), one-hot [B, L, K]."""
        return self.prior.sample(batch_size, self.latent_generator)

    def generate_fakes(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x_f = G(z, c_f) with z and c_f freshly drawn; returns (x_f, c_f)."""
        category = self.sample_categories(batch_size)
        return self.generator(self.sample_latent(batch_size), category), category

    @property
    def score_needs_input_gradients(self) -> bool:
        """Inputs must carry gradients whenever the score needs them (GN, PGN)."""
        return self.normalization.needs_input_gradients

    def score(
        self, x: torch.Tensor, logits: torch.Tensor, category: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The adversarial score s(x, c) [B] of data `x` from the critic's logits
        D(x) [B, L, K]: class-conditional, mean_l D(x)[l, c_l] (`category` one-hot), or the
        one output of an unconditional critic (L = K = 1, no `category`). Every method
        makes its adversarial scores here, so a change to how a critic scores (the
        critic normalisation, which may need x and its gradient) applies to every method
        at once. With several labels the mean over labels is normalised."""
        if category is None:
            return self.normalization(logits[:, 0, 0], x)
        return self.normalization(losses.conditional_score(logits, category), x)

    def real_and_fakes(
        self, batch: Batch, real_needs_grad: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The step's opening: x_r from the batch and fresh x_f = G(z, c_f), c_f ~ P(C),
        both made ready for the penalties (`penalty_inputs`); returns (x_r, x_f, c_f). These
        fakes train the critics only, so G's forward records no graph."""
        with torch.no_grad():
            fake, fake_category = self.generate_fakes(batch.data.shape[0])
        real, fake = self.penalty_inputs(batch.data, fake, real_needs_grad)
        return real, fake, fake_category

    def discriminator_loss(
        self, real, real_score, fake, fake_score, real_category=None
    ) -> torch.Tensor:
        """D's adversarial loss f_d(s_r, s_f) plus its gradient penalties, with the scores
        and the loss reported."""
        adversarial = losses.discriminator_loss(
            self.config.adversarial_loss, real_score, fake_score
        )
        penalty = self.adversarial_penalty(real, real_score, fake, fake_score, real_category)
        stats.report("score/real", real_score)
        stats.report("score/fake", fake_score)
        stats.report("loss/discriminator", adversarial)
        return adversarial + penalty

    def adversarial_penalty(
        self,
        real: torch.Tensor,
        real_score: torch.Tensor,
        fake: torch.Tensor,
        fake_score: torch.Tensor,
        real_category: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weighted squared-gradient-norm penalties: R1 on `real`, and on `fake`; and the
        consistency penalty on `real` (scored with `real_category`, as `real_score` was).

        Inputs that carry a penalty must have been made to require gradients.
        """
        total = real_score.new_zeros(())
        real_weight = self.config.real_penalty_weight * self.penalty_scale
        fake_weight = self.config.fake_penalty_weight * self.penalty_scale
        if self.config.consistency_weight > 0:
            consistency = self.consistency_penalty(real, real_score, real_category)
            stats.report("penalty/consistency", consistency)
            total = total + self.config.consistency_weight * consistency
        if real_weight > 0:
            r1 = losses.squared_gradient_norm(real_score, real)
            stats.report("penalty/real", r1)
            total = total + real_weight * r1
        if fake_weight > 0:
            fake_penalty = losses.squared_gradient_norm(fake_score, fake)
            stats.report("penalty/fake", fake_penalty)
            total = total + fake_weight * fake_penalty
        return total

    def consistency_penalty(self, real, real_score, real_category=None) -> torch.Tensor:
        """Consistency regularisation: E (s(moved x_r, c_r) - s(x_r, c_r))^2, the moves
        drawn from the method's seeded generator."""
        config = self.config
        moved = consistency_moves(
            real.detach(),
            self.latent_generator,
            config.consistency_shift,
            config.consistency_flip,
            config.consistency_jitter,
        ).requires_grad_(self.score_needs_input_gradients)
        moved_score = self.score(moved, self.adversarial_logits(moved), real_category)
        return (moved_score - real_score).square().mean()

    def penalty_inputs(self, real: torch.Tensor, fake: torch.Tensor, real_needs_grad: bool = False):
        """Detached copies of the batches that require gradients where a penalty needs them."""
        always, due = self.score_needs_input_gradients, self.penalty_scale > 0
        real_penalty = due and self.config.real_penalty_weight > 0
        fake_penalty = due and self.config.fake_penalty_weight > 0
        real = real.detach().requires_grad_(always or real_needs_grad or real_penalty)
        fake = fake.detach().requires_grad_(always or fake_penalty)
        return real, fake

    def report_prior(self) -> None:
        stats.report("prior/entropy", self.prior.entropy().mean())
        stats.report("prior/live_categories", self.prior.live_categories().float().mean())

    @torch.no_grad()
    def update_generator_ema(self, decay: float) -> None:
        """theta_ema <- decay * theta_ema + (1 - decay) * theta (all tensors at once)."""
        average = get_ema_multi_avg_fn(decay)
        average(list(self.generator_ema.parameters()), list(self.generator.parameters()), None)
        for averaged, current in zip(self.generator_ema.buffers(), self.generator.buffers()):
            averaged.copy_(current)  # batch-norm statistics, if any

    @torch.no_grad()
    def generate(
        self, latent: torch.Tensor, category: torch.Tensor, averaged: bool = True
    ) -> torch.Tensor:
        """G(z, c) with the moving-average generator (or the trained one)."""
        generator = self.generator_ema if averaged else self.generator
        return generator(latent, category)

    def pseudo_labels(
        self, probabilities: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Real pseudo-labels from classifier probabilities p [B, L, K].

        During the warm-up p is re-centred over the batch, or, with prior adjustment,
        reweighted by the estimated class sizes over the prior the fakes are drawn from.
        Returns (p, one-hot argmax p).
        """
        if step < self.config.warmup_steps:
            if self.class_sizes is not None:
                probabilities = losses.adjust_to_prior(
                    probabilities, self.class_sizes.probabilities, self.prior.probabilities
                )
            elif self.config.warmup_recentre:
                probabilities = losses.recentre(probabilities)
        return probabilities, losses.argmax_one_hot(probabilities)

    def update_prior(self, probabilities: torch.Tensor, step: int) -> None:
        """Dynamic prior update after the warm-up. During it the prior stays uniform; with
        prior adjustment the class sizes are estimated instead, and the prior starts from
        that estimate."""
        warmup = self.config.warmup_steps
        table = self.prior if step >= warmup else self.class_sizes
        if table is not None:
            if self.config.prior_estimate == "hard":
                probabilities = losses.argmax_one_hot(probabilities)
            # the mean over every process's batch: all processes hold the same prior
            batch_mean = distributed.mean(probabilities.mean(dim=0))
            table.update(batch_mean, self.config.prior_decay)
            if step == warmup - 1:  # the warm-up's last step updated the class sizes
                self.prior.probabilities.copy_(self.class_sizes.probabilities)
        self.report_prior()


class TwoHeadMethod(Method):
    """A method whose critic D has two heads on one trunk, adversarial logits of
    `adversarial_shape` and Q's class logits [B, L, K] (InfoGAN, VCAGAN); D and G train."""

    def __init__(self, config: Config, networks, adversarial_shape: tuple[int, int]):
        super().__init__(config, networks)
        self.discriminator = networks.two_head(adversarial_shape)

    def adversarial_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x)[0]

    def optimized_modules(self) -> dict[str, nn.Module]:
        return {"discriminator": self.discriminator, "generator": self.generator}

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.discriminator(x)[1], dim=2)
