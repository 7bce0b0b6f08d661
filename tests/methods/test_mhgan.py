"""MHGAN: the multi-hinge terms against hand-computed values, the projection critic, the
semi-supervised step reading no hidden label, and the classifier loss of CGPGAN/VCAGAN."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cgpgan import ConfigError, load_config, losses, train
from cgpgan.cli import main
from cgpgan.data import UNLABELLED, Batch, build_dataset
from cgpgan.methods import build_method
from cgpgan.methods.mhgan import MHGAN
from tests.conftest import tiny
from tests.data.test_batches import _Forbidden


def test_multi_hinge_against_hand_computed_values():
    logits = torch.tensor([[2.0, 0.5, 1.0], [2.0, 0.5, 1.0], [2.0, 0.5, 1.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1, 2, 2])
    one_hot = F.one_hot(labels, 3).float().unsqueeze(1)
    # max(0, 1 - C_y + max_{k != y} C_k): 1 - 2 + 1 = 0; 1 - 0.5 + 2 = 2.5; 1 - 1 + 2 = 2;
    # 1 - 3 + 0 < 0 -> 0
    per_item = [0.0, 2.5, 2.0, 0.0]
    loss = losses.multi_hinge_loss(logits.unsqueeze(1), one_hot)
    assert loss.item() == pytest.approx(np.mean(per_item))
    # an item without a category (all-zero row) adds nothing but counts in the mean
    one_hot[1] = 0
    loss = losses.multi_hinge_loss(logits.unsqueeze(1), one_hot)
    assert loss.item() == pytest.approx((0 + 0 + 2 + 0) / 4)


def _mhgan(*overrides):
    config = tiny("mhgan", *overrides)
    method = build_method(config, (2,))
    method.prior.probabilities.fill_(1 / 4)
    return config, method


def test_projection_critic_is_psi_plus_embedding_dot_features():
    for shared in (False, True):
        _, method = _mhgan(f"method.shared_classifier={str(shared).lower()}")
        critic = method.discriminator
        x = torch.randn(5, 2)
        features = critic.features(x)
        projection, classes = critic(x)
        embedding = critic.embedding.weight  # [K, P]
        for k in range(4):
            by_hand = critic.psi(features)[:, 0] + features @ embedding[k]
            assert torch.allclose(projection[:, 0, k], by_hand, atol=1e-5)
        if shared:  # MHSharedGAN: C_k(x) = embed(k) . phi(x)
            assert torch.allclose(classes[:, 0], features @ embedding.T, atol=1e-5)
            assert critic.classifier is None
        else:
            assert torch.allclose(classes[:, 0], critic.classifier(features), atol=1e-5)


def _hinge(real_score, fake_score):
    return F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()


@pytest.mark.parametrize("fake_aux", [False, True])
def test_supervised_step_losses_match_the_formulas(fake_aux, monkeypatch):
    """L_D = hinge(D(x, y), D(G(z, y'), y')) + MH(C(x), y) [+ MH(C(x_f), y')] and
    L_G = -D(G(z, y'), y') + 0.1 MH(C(G(z, y')), y'), by hand from the critic's outputs."""
    _, method = _mhgan("method.fake_penalty_weight=0", f"method.fake_aux={str(fake_aux).lower()}")
    real, labels = torch.randn(8, 2), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    fakes = [torch.randn(8, 2), torch.randn(8, 2)]
    fake_labels = [torch.tensor([3, 2, 1, 0, 0, 0, 1, 1]), torch.tensor([1, 1, 2, 2, 3, 3, 0, 0])]
    drawn = iter(zip(fakes, [method.one_hot(y) for y in fake_labels]))
    monkeypatch.setattr(MHGAN, "generate_fakes", lambda self, n: next(drawn))
    batch = Batch(real, labels)
    batch.labelled = batch
    steps = method.training_losses(batch, 0)

    def by_hand_critic(x, y):
        projection, classes = method.discriminator(x)
        return projection[torch.arange(len(y)), 0, y], classes, method.one_hot(y)

    phase, loss = next(steps)
    real_score, real_classes, real_one_hot = by_hand_critic(real, labels)
    fake_score, fake_classes, fake_one_hot = by_hand_critic(fakes[0], fake_labels[0])
    expected = _hinge(real_score, fake_score) + losses.multi_hinge_loss(real_classes, real_one_hot)
    if fake_aux:
        expected = expected + losses.multi_hinge_loss(fake_classes, fake_one_hot)
    assert phase == "discriminator"
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)

    phase, loss = next(steps)
    score, classes, one_hot = by_hand_critic(fakes[1], fake_labels[1])
    expected = -score.mean() + 0.1 * losses.multi_hinge_loss(classes, one_hot)
    assert phase == "generator"
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_semi_supervised_real_term_averages_labelled_and_pseudo_labelled(monkeypatch):
    """(L_Dreal + L_Dunlab) / 2 + L_Dfake + L_Daux, unlabelled items scored with
    argmax C(x) and revealed ones with their label."""
    _, method = _mhgan("method.fake_penalty_weight=0")
    data, shown = torch.randn(8, 2), torch.tensor([2, UNLABELLED, UNLABELLED, 0, -1, -1, -1, -1])
    labelled, labelled_y = torch.randn(8, 2), torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    fake, fake_y = torch.randn(8, 2), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    monkeypatch.setattr(MHGAN, "generate_fakes", lambda self, n: (fake, self.one_hot(fake_y)))
    batch = Batch(data, shown, Batch(labelled, labelled_y))
    _, loss = next(method.training_losses(batch, 0))

    projection, classes = method.discriminator(data)
    pseudo = torch.where(shown != UNLABELLED, shown, classes[:, 0].argmax(dim=1))
    unlabelled_score = projection[torch.arange(8), 0, pseudo]
    labelled_projection, labelled_classes = method.discriminator(labelled)
    labelled_score = labelled_projection[torch.arange(8), 0, labelled_y]
    fake_score = method.discriminator(fake)[0][torch.arange(8), 0, fake_y]
    expected = (
        (F.relu(1 - labelled_score).mean() + F.relu(1 - unlabelled_score).mean()) / 2
        + F.relu(1 + fake_score).mean()
        + losses.multi_hinge_loss(labelled_classes, method.one_hot(labelled_y))
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def _tiny_digits(*overrides):
    return load_config(
        "digits_mhgan",
        [
            "network.channels=8",
            "network.max_channels=16",
            "network.hidden_dim=16",
            "network.latent_dim=4",
            "train.steps=3",
            "train.batch_size=16",
            "train.log_every=1",
            "train.eval_every=0",
            "train.eval_samples=200",
            *overrides,
        ],
    )


def test_semi_supervised_training_reads_no_hidden_label(tmp_path, monkeypatch):
    """With 30% of labels revealed, the scoring labels are poisoned: training (batches,
    the prior, every step) must never read them, only the revealed training labels."""
    import cgpgan.training.loop as loop

    def poisoned(config, seed):
        dataset = build_dataset(config, seed)
        dataset.labels = _Forbidden()
        return dataset

    monkeypatch.setattr(loop, "build_dataset", poisoned)
    seen = []
    original = MHGAN.training_losses

    def recording(self, batch, step):
        seen.append(batch)
        yield from original(self, batch, step)

    monkeypatch.setattr(MHGAN, "training_losses", recording)
    config = _tiny_digits("data.labelled_fraction=0.3")
    run = train(config, tmp_path / "run", progress=False, evaluate=False)
    assert len(seen) == 3
    for batch in seen:
        assert (batch.labels == UNLABELLED).any()
        assert (batch.labelled.labels != UNLABELLED).all()
    # G's labels follow the revealed items' class shares
    dataset = build_dataset(config.data, config.seed)
    revealed = dataset.training_labels[dataset.training_labels != UNLABELLED]
    shares = torch.bincount(revealed, minlength=10).float() / len(revealed)
    assert torch.allclose(run.method.prior.probabilities[0], shares)


def test_mhgan_needs_some_labelled_items(tmp_path):
    with pytest.raises(ConfigError, match="labelled_fraction"):
        train(_tiny_digits("data.labelled_fraction=0.0001"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="num_labels"):
        tiny("mhgan", "method.num_labels=2")


def test_held_out_metrics_are_written(tmp_path):
    config = _tiny_digits("train.steps=2", "train.eval_baselines=false")
    run = train(config, tmp_path / "run", progress=False)
    for name in (
        "validation_accuracy",
        "self_accuracy",
        "conditional_accuracy",
        "classification_accuracy_score",
        "classifier_fid",
        "intra_fid",
        "evaluation_classifier_accuracy",
    ):
        assert name in run.metrics, name
    assert len(run.metrics["conditional_accuracy_per_class"]) == 10
    # `cgpgan sample RUN --category K` draws label K (the digit K)
    out = tmp_path / "threes.npz"
    assert (
        main(["sample", str(run.directory), "--category", "3", "-n", "8", "--out", str(out)]) == 0
    )
    categories = np.load(out)["categories"]
    assert categories.shape == (8, 1) and (categories[:, 0] == 3).all()
    # the evaluation classifier learns the real digits: its held-out accuracy is high
    assert run.metrics["evaluation_classifier_accuracy"] > 0.8


@pytest.mark.parametrize("name", ["cgpgan", "vcagan"])
def test_classifier_loss_can_be_the_multi_hinge(name):
    config = tiny(name, "method.classifier_loss=multi_hinge")
    method = build_method(config, (2,))
    assert method.classification_loss is losses.multi_hinge_loss
    assert build_method(tiny(name), (2,)).classification_loss is losses.classification_loss
    with pytest.raises(ConfigError, match="classifier_loss"):
        tiny(name, "method.classifier_loss=hinge")
