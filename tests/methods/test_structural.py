"""Structural adversarial objectives: each piece against a hand-computed or exact value,
the memory bank's order and capacity, and the method's terms switching off to the hinge
baseline."""

import math

import pytest
import torch
from torch import nn

from cgpgan import ConfigError, stats
from cgpgan.data import Batch
from cgpgan.methods import build_method
from cgpgan.structural import (
    MemoryBank,
    bhattacharyya,
    gaussian_jsd,
    jacobian_spectral_norm,
    neighbour_attraction,
)
from tests.conftest import tiny

# sample sets with known moments: real = (+-1, 0), (0, +-2): mean 0, covariance
# diag(0.5, 2); fake = (1 +- 1, 0), (1, +-1): mean (1, 0), covariance diag(0.5, 0.5)
REAL = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]], dtype=torch.float64)
FAKE = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)


def test_gaussian_jsd_against_a_hand_computed_value():
    # p / eps = 4; pooled covariance diag(0.5 + 0.25, 1.25) (between-set spread 0.25)
    # log det(I + 4 S): union log(4) + log(6); real log(3) + log(9); fake 2 log(3)
    expected = math.log(24) - (math.log(27) + math.log(9)) / 2
    assert gaussian_jsd(REAL, FAKE, eps=0.5).item() == pytest.approx(expected, rel=1e-9)
    assert gaussian_jsd(REAL, REAL, eps=0.5).item() == pytest.approx(0.0, abs=1e-12)


def test_bhattacharyya_against_a_hand_computed_value():
    # S_avg = diag(0.5, 1.25); mean term 1/8 * 1 / (0.5 + eps / p = 0.25) = 1/6;
    # log term 1/2 (log(3) + log(6) - (log(27) + log(9)) / 2)
    expected = 1 / 6 + (math.log(18) - (math.log(27) + math.log(9)) / 2) / 2
    assert bhattacharyya(REAL, FAKE, eps=0.5).item() == pytest.approx(expected, rel=1e-9)
    assert bhattacharyya(REAL, REAL, eps=0.5).item() == pytest.approx(0.0, abs=1e-12)


def test_neighbour_attraction_against_a_hand_computed_value():
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    neighbours = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.8], [0.0, -1.0]]])
    weights = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    # item 0: 0.5 * 1 + 0.5 * 0 = 0.5; item 1: 0.25 * 0.8 + 0.75 * -1 = -0.55
    value = neighbour_attraction(embeddings, neighbours, weights)
    assert value.item() == pytest.approx((0.5 - 0.55) / 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jacobian_norm_estimate_is_within_5_percent_of_the_exact_one(seed):
    torch.manual_seed(seed)
    network = nn.Sequential(
        nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16), nn.ELU(), nn.Linear(16, 4)
    )
    x = torch.randn(6, 5)
    estimate = jacobian_spectral_norm(
        network, x, iterations=20, generator=torch.Generator().manual_seed(seed)
    )
    for i in range(len(x)):
        jacobian = torch.autograd.functional.jacobian(network, x[i : i + 1])[0, :, 0, :]
        exact = torch.linalg.matrix_norm(jacobian, ord=2)
        assert estimate[i].item() == pytest.approx(exact.item(), rel=0.05)
    # one iteration (as in training) never overshoots: power iteration converges from below
    one = jacobian_spectral_norm(network, x, generator=torch.Generator().manual_seed(seed))
    assert (one <= estimate + 1e-5).all()
    # it is differentiable: a penalty on it trains the network
    (one - 1).square().mean().backward()
    assert network[0].weight.grad is not None and network[0].weight.grad.abs().sum() > 0


def test_memory_bank_rolls_over_its_oldest_entries():
    bank = MemoryBank(size=5, embedding_dim=2, key_dim=1)
    for start in (0, 3, 6):  # three batches of 3: 9 entries through 5 slots
        values = torch.arange(start, start + 3, dtype=torch.float32)
        bank.add(torch.stack([values, -values], dim=1), values[:, None])
    assert int(bank.filled) == 5 and int(bank.position) == 4
    # slots 0..4 hold entries 5, 6, 7, 8 then 4 (slot 4 was written by entry 4)
    assert bank.keys[:, 0].tolist() == [5.0, 6.0, 7.0, 8.0, 4.0]
    bank.add(torch.zeros(7, 2), torch.zeros(7, 1))  # a batch larger than the bank: its last 5
    assert int(bank.filled) == 5 and int(bank.position) == 4


def test_memory_bank_finds_the_nearest_keys_and_weights_them():
    bank = MemoryBank(size=4, embedding_dim=1, key_dim=2)
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]])
    bank.add(torch.tensor([[10.0], [20.0], [30.0], [40.0]]), keys)
    neighbours, weights = bank.nearest(torch.tensor([[1.0, 0.1]]), k=2)
    assert neighbours[0, :, 0].tolist() == [10.0, 40.0]
    assert weights.tolist() == [[0.5, 0.5]]
    _, soft = bank.nearest(torch.tensor([[1.0, 0.1]]), k=2, temperature=0.5)
    assert soft[0, 0] > soft[0, 1] and soft.sum().item() == pytest.approx(1.0)


def _step(method):
    stats.collect()
    for _ in method.training_losses(Batch(torch.randn(8, 2)), 0):
        pass
    return stats.collect()


def test_structural_terms_are_reported_and_switch_off_to_the_hinge_baseline():
    small = ["method.bank_size=16", "method.embedding_dim=4", "method.fake_penalty_weight=0"]
    method = build_method(tiny("structural", *small), (2,))
    _step(method)  # fills the bank
    reported = _step(method)
    for key in ("structural/coarse", "structural/group", "structural/regulariser"):
        assert key in reported, key
    assert int(method.bank.filled) == 16
    baseline = build_method(
        tiny(
            "structural",
            *small,
            "method.coarse=none",
            "method.fine_weight=0",
            "method.smoothness_weight=0",
        ),
        (2,),
    )
    reported = _step(baseline)
    assert not any(key.startswith("structural/") for key in reported)
    phases = baseline.phases(tiny("structural").train)
    critic = phases["discriminator"]
    assert (critic.optimizer, critic.weight_decay, critic.betas) == ("adamw", 0.1, (0.5, 0.999))


def test_structural_settings_are_checked():
    with pytest.raises(ConfigError, match="method.coarse"):
        tiny("structural", "method.coarse=wasserstein")
    with pytest.raises(ConfigError, match="method.bank_size"):
        tiny("structural", "method.bank_size=0")
    with pytest.raises(ConfigError, match="method.real_crop_scale"):
        tiny("structural", "method.real_crop_scale=0")


def test_real_image_augmentation_is_off_by_default_and_moves_what_the_critic_sees():
    small = ["method.bank_size=16", "network.channels=4", "network.max_channels=8"]
    batch = Batch(torch.rand(8, 1, 8, 8) * 2 - 1)
    plain = build_method(tiny("structural", *small), (1, 8, 8))
    assert plain.augmented(batch) is batch
    cropped = build_method(tiny("structural", *small, "method.real_crop_scale=0.5"), (1, 8, 8))
    seen = []
    cropped.discriminator.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    for _ in cropped.training_losses(batch, 0):
        pass
    assert seen[0].shape == batch.data.shape and not torch.allclose(seen[0], batch.data)


def test_lazy_smoothness_runs_every_k_steps_with_its_weight_scaled(monkeypatch):
    from cgpgan.methods.structural import Structural

    small = ["method.bank_size=16", "method.embedding_dim=4", "method.smoothness_every=3"]
    method = build_method(tiny("structural", *small), (2,))
    calls = []
    original = Structural.smoothness

    def counting(self, *args):
        value = original(self, *args)
        calls.append(value.item())
        return value

    monkeypatch.setattr(Structural, "smoothness", counting)
    seen = []
    for step in range(7):
        stats.collect()
        for _ in method.training_losses(Batch(torch.randn(8, 2)), step):
            pass
        seen.append("structural/regulariser" in stats.collect())
    assert seen == [True, False, False, True, False, False, True]
    assert len(calls) == 3
