"""Named additions to CGPGAN's published step (SPEC.md section 1), each in one place.
None is in the paper; the `mnist5k` recipe switches them on (see docs/methods.md).

Each extension is a small object with hooks that the step calls at fixed points; a hook
left as defined here changes nothing. `build_extensions` picks those the config asks for.
"""

from __future__ import annotations

import torch

from cgpgan import stats


class Extension:
    """Hooks into CGPGAN's step; the defaults leave the published step unchanged."""

    needs_generator_classes = False  # the generator hook reads Q's logits of the fakes

    def classifier_inputs(self, method, fake: torch.Tensor) -> torch.Tensor:
        """The fakes Q is trained on (step 4)."""
        return fake

    def classifier_term(self, method, real, real_category, real_confidence, step):
        """An extra term of Q's loss (step 4), or None."""
        return None

    def generator_term(self, method, fake_classes, fake_category):
        """An extra term of G's loss (step 5), or None."""
        return None


class MovedFakes(Extension):
    """`method.augment_fakes`: Q's loss and penalty on randomly moved copies of the fakes."""

    def classifier_inputs(self, method, fake):
        return method.move(fake)


class RealConsistency(Extension):
    """`method.real_consistency_*`: from step `start` on, Q keeps its pseudo-label c_r on
    moved copies of the real images whose largest probability exceeds `threshold`:
    weight * L_cls(Q(move(x_r)), c_r * [p_max > threshold]), L_cls Q's loss."""

    def __init__(self, weight: float, start: int, threshold: float):
        self.weight, self.start, self.threshold = weight, start, threshold

    def classifier_term(self, method, real, real_category, real_confidence, step):
        if step < self.start:
            return None
        confident = (real_confidence > self.threshold).float()
        consistency = method.classification_loss(
            method.classifier_logits(method.move(real.detach())), real_category * confident
        )
        stats.report("loss/real_consistency", consistency)
        return self.weight * consistency


class RealEntropy(Extension):
    """`method.real_entropy_weight`: from the end of the warm-up on, weight * mean_i
    H(softmax Q(x_r,i)), the entropy of Q's assignment of each real image (summed over
    labels): confident assignments, whatever the categories' sizes."""

    def __init__(self, weight: float, start: int):
        self.weight, self.start = weight, start

    def classifier_term(self, method, real, real_category, real_confidence, step):
        if step < self.start:
            return None
        log_probabilities = torch.log_softmax(method.classifier_logits(real.detach()), dim=2)
        entropy = -(log_probabilities.exp() * log_probabilities).sum(dim=2).sum(dim=1).mean()
        stats.report("loss/real_entropy", entropy)
        return self.weight * entropy


class GeneratorClassification(Extension):
    """`method.generator_cls_weight`: InfoGAN's term on G, weight * L_cls(Q(G(z, c)), c),
    L_cls Q's loss."""

    needs_generator_classes = True

    def __init__(self, weight: float):
        self.weight = weight

    def generator_term(self, method, fake_classes, fake_category):
        return self.weight * method.classification_loss(fake_classes, fake_category)


def build_extensions(config) -> list[Extension]:
    """The extensions `config` (the method settings) switches on, in step order."""
    extensions: list[Extension] = []
    if config.augment_fakes:
        extensions.append(MovedFakes())
    if config.real_consistency_weight > 0:
        extensions.append(
            RealConsistency(
                config.real_consistency_weight,
                config.real_consistency_start,
                config.real_consistency_threshold,
            )
        )
    if config.real_entropy_weight > 0:
        extensions.append(RealEntropy(config.real_entropy_weight, config.warmup_steps))
    if config.generator_cls_weight > 0:
        extensions.append(GeneratorClassification(config.generator_cls_weight))
    return extensions
