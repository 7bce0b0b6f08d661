import copy
import math

import pytest
import torch

from cgpgan import losses, stats
from cgpgan.data import Batch
from cgpgan.methods import BUILT_IN, build_method
from tests.conftest import tiny


def labelled(real: torch.Tensor, num_categories: int = 4) -> Batch:
    """A batch whose every item is labelled (the methods without labels ignore them)."""
    batch = Batch(real, torch.arange(len(real)) % num_categories)
    batch.labelled = batch
    return batch


def _one_step(method, config, step=0):
    optimizers = {
        name: phase.make_optimizer(config.train)
        for name, phase in method.phases(config.train).items()
    }
    real = torch.randn(8, 2)
    phases = []
    for phase, loss in method.training_losses(labelled(real), step):
        assert torch.isfinite(loss), phase
        method.zero_grad(set_to_none=True)
        loss.backward()
        optimizers[phase].step()
        phases.append(phase)
    return phases


@pytest.mark.parametrize("name", sorted(BUILT_IN))
@pytest.mark.parametrize("conditioning", ["plain", "codebook"])
def test_one_training_step_updates_every_optimized_module(name, conditioning):
    config = tiny(
        name,
        f"network.conditioning={conditioning}",
        "method.real_penalty_weight=1.0",
        "method.fake_penalty_weight=1.0",
    )
    method = build_method(config, (2,))
    before = copy.deepcopy(method.state_dict())
    stats.collect()
    phases = _one_step(method, config)
    assert phases == list(method.optimized_modules())
    for phase, module in method.optimized_modules().items():
        changed = any(
            not torch.equal(before[f"{name_}"], value)
            for name_, value in method.state_dict().items()
            if name_.startswith(_prefix(method, module))
        )
        assert changed, f"{name}: {phase} weights did not change"
    reported = stats.collect()
    assert "loss/discriminator" in reported and "loss/generator" in reported
    assert "penalty/real" in reported and "penalty/fake" in reported


def _prefix(method, module):
    for name, child in method.named_children():
        if child is module:
            return name + "."
    raise AssertionError("module not a child")


@pytest.mark.parametrize("name", ["cgpgan", "vcagan"])
def test_prior_stays_uniform_during_warmup_then_moves(name):
    config = tiny(name, "method.warmup_steps=2", "method.prior_decay=0.5")
    method = build_method(config, (2,))
    for step in range(2):
        _one_step(method, config, step)
    assert torch.allclose(method.prior.probabilities, torch.full((1, 4), 0.25))
    _one_step(method, config, step=2)
    assert not torch.allclose(method.prior.probabilities, torch.full((1, 4), 0.25))
    assert method.prior.probabilities.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["infogan", "vanilla"])
def test_baselines_keep_their_fixed_prior(name):
    config = tiny(name, "method.fixed_prior=[0.1, 0.2, 0.3, 0.4]")
    method = build_method(config, (2,))
    for step in range(4):
        _one_step(method, config, step)
    assert torch.allclose(method.prior.probabilities, torch.tensor([[0.1, 0.2, 0.3, 0.4]]))


def test_cgpgan_pseudo_labels_are_balanced_during_warmup():
    config = tiny("cgpgan", "method.warmup_steps=10")
    method = build_method(config, (2,))
    # a classifier that puts every point in category 0 ...
    with torch.no_grad():
        method.classifier.head.bias.copy_(torch.tensor([5.0, 0.0, 0.0, 0.0]))
    real = torch.randn(64, 2)
    probabilities = method.classify(real)
    assert (probabilities.argmax(dim=2) == 0).all()
    # ... still spreads real pseudo-labels over categories in the warm-up
    _, warm = method.pseudo_labels(probabilities, step=0)
    _, later = method.pseudo_labels(probabilities, step=10)
    assert warm.argmax(dim=2).unique().numel() > 1
    assert (later.argmax(dim=2) == 0).all()


def test_prior_adjustment_is_bayes_rule_with_the_new_class_sizes():
    """A classifier trained on uniform classes says p = (0.5, 0.5) at x; with class sizes
    (0.8, 0.2) Bayes' rule gives (0.8, 0.2) there, and (0.6, 0.4) becomes 0.48 / 0.56."""
    p = torch.tensor([[[0.5, 0.5]], [[0.6, 0.4]]])
    adjusted = losses.adjust_to_prior(p, torch.tensor([[0.8, 0.2]]), torch.tensor([[0.5, 0.5]]))
    assert torch.allclose(adjusted[0, 0], torch.tensor([0.8, 0.2]))
    assert torch.allclose(adjusted[1, 0], torch.tensor([0.48 / 0.56, 0.08 / 0.56]))


def test_prior_adjustment_estimates_class_sizes_in_the_warmup_and_the_prior_starts_there():
    config = tiny(
        "cgpgan",
        "method.warmup_steps=3",
        "method.prior_adjustment=true",
        "method.prior_decay=0.5",
    )
    method = build_method(config, (2,))
    uniform = torch.full((1, 4), 0.25)
    # Q (trained on uniform fakes) puts 70% of the real batch in category 0, surely
    probabilities = torch.full((10, 1, 4), 0.01)
    probabilities[:7, 0, 0] = probabilities[7:, 0, 1] = 0.97
    for step in range(3):
        adjusted, _ = method.pseudo_labels(probabilities, step)
        method.update_prior(adjusted, step)
        if step < 2:  # fakes still drawn uniformly; the estimate moves towards 0.7 / 0.3
            assert torch.equal(method.prior.probabilities, uniform)
    sizes = method.class_sizes.probabilities
    assert sizes[0, 0] > 0.6 and sizes[0, 1] > 0.25 and sizes[0, 2] < 0.05
    # at the end of the warm-up the prior starts from the estimate, not from uniform
    assert torch.equal(method.prior.probabilities, sizes)
    # no re-centring with prior adjustment: the pseudo-labels keep Q's big category
    _, labels = method.pseudo_labels(probabilities, step=0)
    assert (labels.argmax(dim=2)[:7] == 0).all()


def test_several_labels_work():
    config = tiny(
        "cgpgan", "method.num_labels=3", "network.conditioning=codebook", "method.warmup_steps=0"
    )
    method = build_method(config, (2,))
    _one_step(method, config)
    assert method.prior.probabilities.shape == (3, 4)
    assert method.classify(torch.randn(5, 2)).shape == (5, 3, 4)


def test_generator_ema_moves_towards_the_generator():
    config = tiny("cgpgan")
    method = build_method(config, (2,))
    with torch.no_grad():
        for parameter in method.generator.parameters():
            parameter.add_(1.0)
    before = [p.clone() for p in method.generator_ema.parameters()]
    method.update_generator_ema(0.9)
    for old, new, target in zip(
        before, method.generator_ema.parameters(), method.generator.parameters()
    ):
        assert torch.allclose(new, 0.9 * old + 0.1 * target)


def test_same_seed_gives_the_same_step():
    config = tiny("cgpgan")
    first, second = build_method(config, (2,)), build_method(config, (2,))
    torch.manual_seed(0)
    real = torch.randn(8, 2)
    for method in (first, second):
        optimizers = {
            name: phase.make_optimizer(config.train)
            for name, phase in method.phases(config.train).items()
        }
        for phase, loss in method.training_losses(Batch(real), 0):
            method.zero_grad(set_to_none=True)
            loss.backward()
            optimizers[phase].step()
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("sample_shape", [(2,), (1, 8, 8)])
def test_classifier_on_the_discriminator_trunk_leaves_the_trunk_to_d(sample_shape):
    """method.classifier_trunk=discriminator: Q is a head on D's features, and the
    classifier phase changes only that head."""
    config = tiny(
        "cgpgan",
        "method.classifier_trunk=discriminator",
        "method.generator_cls_weight=1",
        "network.channels=4",
        "network.max_channels=8",
    )
    method = build_method(config, sample_shape)
    assert {id(p) for p in method.classifier.parameters()}.isdisjoint(
        id(p) for p in method.discriminator.parameters()
    )
    real = torch.rand(8, *sample_shape) * 2 - 1
    for phase, loss in method.training_losses(Batch(real), step=0):
        method.zero_grad(set_to_none=True)
        loss.backward()
        if phase == "classifier":
            trunk = copy.deepcopy(method.discriminator.state_dict())
            torch.optim.SGD(method.classifier.parameters(), lr=0.1).step()
            assert all(
                torch.equal(trunk[k], v) for k, v in method.discriminator.state_dict().items()
            )
    assert method.classify(real).shape == (8, 1, 4)


def test_a_phase_back_propagates_into_its_own_module_only(tmp_path):
    """The loop gives no gradient to modules outside the running phase (they would be
    thrown away), and phases take their optimiser settings from train.* by default."""
    from cgpgan import train

    config = tiny("cgpgan", "train.steps=1", "train.generator_learning_rate=0.003")
    method = train(config, tmp_path / "run", progress=False, evaluate=False).method
    # the step ended with the generator phase: only the generator holds gradients
    assert all(p.grad is not None for p in method.generator.parameters())
    for module in (method.discriminator, method.classifier):
        assert all(p.grad is None for p in module.parameters())
    phases = method.phases(config.train)
    assert phases["generator"].learning_rate == 0.003
    assert phases["discriminator"].learning_rate is None


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_adversarial_score_goes_through_one_path(name, monkeypatch):
    """Method.score makes every method's real, fake and generator scores, so a change
    there (a normalised critic) reaches all methods; with score_needs_input_gradients
    the inputs it sees carry gradients even without any penalty."""
    from cgpgan.methods import Method

    no_classifier_penalty = ["method.lambda_cgp=0"] if name in ("cgpgan", "vcagan") else []
    config = tiny(name, "method.fake_penalty_weight=0", *no_classifier_penalty)
    method = build_method(config, (2,))
    seen = []
    score = Method.score

    def recording(self, x, logits, category=None):
        seen.append(x.requires_grad)
        return score(self, x, logits, category)

    monkeypatch.setattr(Method, "score", recording)
    monkeypatch.setattr(Method, "score_needs_input_gradients", True)
    _one_step(method, config)
    # discriminator phase: real and fake; generator phase: fake
    assert len(seen) >= 3
    assert all(seen[:2]), "the discriminator's inputs must carry gradients"


def test_cgpgan_extensions_are_named_pieces_the_config_switches_on():
    """The published step runs with no extension; the mnist5k recipe's additions are
    named pieces, and the step itself reads no option of theirs."""
    import inspect

    from cgpgan import load_config
    from cgpgan.methods.cgpgan import CGPGAN
    from cgpgan.methods.cgpgan_extensions import (
        GeneratorClassification,
        MovedFakes,
        RealConsistency,
        build_extensions,
    )

    assert build_extensions(tiny("cgpgan").method) == []
    recipe = [type(e) for e in build_extensions(load_config("mnist5k").method)]
    assert recipe == [RealConsistency, GeneratorClassification]
    every = tiny(
        "cgpgan",
        "method.augment_fakes=true",
        "method.real_consistency_weight=1",
        "method.generator_cls_weight=1",
    )
    assert [type(e) for e in build_extensions(every.method)] == [
        MovedFakes,
        RealConsistency,
        GeneratorClassification,
    ]
    step = inspect.getsource(CGPGAN.training_losses)
    for option in ("augment_fakes", "real_consistency", "generator_cls_weight", "trunk"):
        assert option not in step, option


def test_lazy_penalties_are_due_every_kth_step_weighted_k_times():
    """method.penalty_every = 3: on step 0 D's loss holds 3 x the penalties, on steps 1
    and 2 none of them; the adversarial part is the same."""

    def discriminator_parts(every: int, step: int) -> dict[str, float]:
        config = tiny("vanilla", "method.real_penalty_weight=2", f"method.penalty_every={every}")
        method = build_method(config, (2,))
        method.latent_generator.manual_seed(5)
        stats.collect()
        _, loss = next(method.step_losses(Batch(torch.randn(8, 2, generator=_seeded())), step))
        return {"loss": float(loss.detach()), **stats.collect()}

    eager, lazy = discriminator_parts(1, 0), discriminator_parts(3, 0)
    assert lazy["loss/discriminator"] == pytest.approx(eager["loss/discriminator"])
    penalties = 2 * eager["penalty/real"] + 1 * eager["penalty/fake"]
    assert eager["loss"] == pytest.approx(eager["loss/discriminator"] + penalties, rel=1e-5)
    assert lazy["loss"] == pytest.approx(lazy["loss/discriminator"] + 3 * penalties, rel=1e-5)
    for step in (1, 2):
        skipped = discriminator_parts(3, step)
        assert "penalty/real" not in skipped and "penalty/fake" not in skipped
        assert skipped["loss"] == pytest.approx(skipped["loss/discriminator"])


@pytest.mark.parametrize("name, phase", [("cgpgan", "classifier"), ("vcagan", "discriminator")])
def test_lazy_classifier_penalty_is_due_every_kth_step_weighted_k_times(name, phase):
    """method.classifier_penalty_every = 3: on step 0 the phase that trains Q holds
    3 x lambda_cgp x its gradient penalty, on steps 1 and 2 no penalty (none computed);
    the rest of that loss is the same as with the penalty on every step."""

    def classifier_parts(every: int, step: int) -> dict[str, float]:
        config = tiny(name, "method.lambda_cgp=0.5", f"method.classifier_penalty_every={every}")
        method = build_method(config, (2,))
        method.latent_generator.manual_seed(5)
        stats.collect()
        losses_by_phase = dict(
            method.step_losses(Batch(torch.randn(8, 2, generator=_seeded())), step)
        )
        return {"loss": float(losses_by_phase[phase].detach()), **stats.collect()}

    eager, lazy = classifier_parts(1, 0), classifier_parts(3, 0)
    penalty = eager["penalty/classifier"]
    assert penalty > 0 and lazy["penalty/classifier"] == pytest.approx(penalty)
    assert lazy["loss"] - eager["loss"] == pytest.approx(2 * 0.5 * penalty, rel=1e-4)
    for step in (1, 2):
        skipped, every_step = classifier_parts(3, step), classifier_parts(1, step)
        assert "penalty/classifier" not in skipped
        without_penalty = every_step["loss"] - 0.5 * every_step["penalty/classifier"]
        assert skipped["loss"] == pytest.approx(without_penalty, rel=1e-4)


def _seeded():
    return torch.Generator().manual_seed(0)


def test_real_entropy_is_waited_for_then_weighted_entropy_of_q_on_real_images():
    from cgpgan.methods.cgpgan_extensions import RealEntropy, build_extensions

    class FixedQ:  # Q's logits [B, L, K] for two images, one label, two categories
        def classifier_logits(self, x):
            return torch.log(torch.tensor([[[0.5, 0.5]], [[0.9, 0.1]]]))

    term = RealEntropy(weight=2.0, start=10)
    real = torch.zeros(2, 3)
    assert term.classifier_term(FixedQ(), real, None, None, step=9) is None
    entropy = (math.log(2) + -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))) / 2
    value = term.classifier_term(FixedQ(), real, None, None, step=10)
    assert float(value) == pytest.approx(2.0 * entropy, rel=1e-6)
    config = tiny("cgpgan", "method.real_entropy_weight=0.5", "method.warmup_steps=7").method
    [built] = build_extensions(config)
    assert isinstance(built, RealEntropy) and (built.weight, built.start) == (0.5, 7)


def test_generator_every_n_steps_gives_n_critic_updates_per_generator_update(tmp_path):
    """train.generator_every = 3: the generator trains on steps 0, 3, ... only, so after
    steps 0-2 it is where step 0 left it while the critic went on; with 1 it moves on."""
    from cgpgan import train

    def weights(steps: int, every: int) -> dict[str, torch.Tensor]:
        config = tiny("cgpgan", f"train.steps={steps}", f"train.generator_every={every}")
        run = train(config, tmp_path / f"{steps}-{every}", progress=False, evaluate=False)
        return {
            "generator": torch.cat(
                [p.detach().flatten() for p in run.method.generator.parameters()]
            ),
            "critic": torch.cat(
                [p.detach().flatten() for p in run.method.discriminator.parameters()]
            ),
        }

    one, three = weights(1, every=3), weights(3, every=3)
    assert torch.equal(one["generator"], three["generator"])
    assert not torch.equal(one["critic"], three["critic"])
    assert not torch.equal(weights(1, every=1)["generator"], weights(3, every=1)["generator"])
