import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cgpgan.prior import CategoricalPrior, category_agreement, fix_category, one_hot


def test_prior_starts_uniform_and_samples_one_hots():
    prior = CategoricalPrior(num_labels=3, num_categories=4)
    assert torch.allclose(prior.probabilities, torch.full((3, 4), 0.25))
    sample = prior.sample(10, torch.Generator().manual_seed(0))
    assert sample.shape == (10, 3, 4)
    assert torch.equal(sample.sum(dim=2), torch.ones(10, 3))


def test_samples_follow_the_table():
    prior = CategoricalPrior(1, 3, initial=[0.7, 0.2, 0.1])
    sample = prior.sample(20000, torch.Generator().manual_seed(1))
    frequencies = sample[:, 0].mean(dim=0)
    assert torch.allclose(frequencies, torch.tensor([0.7, 0.2, 0.1]), atol=0.01)


def test_update_is_an_exponential_moving_average():
    prior = CategoricalPrior(1, 2)
    prior.update(torch.tensor([[1.0, 0.0]]), decay=0.9)
    assert prior.probabilities.tolist()[0] == pytest.approx([0.55, 0.45])
    for _ in range(200):
        prior.update(torch.tensor([[1.0, 0.0]]), decay=0.9)
    assert prior.probabilities[0, 0].item() > 0.999


def test_entropy_and_live_categories():
    prior = CategoricalPrior(1, 4, initial=[0.5, 0.495, 0.005, 0.0])
    expected = -(0.5 * math.log(0.5) + 0.495 * math.log(0.495) + 0.005 * math.log(0.005))
    assert prior.entropy().item() == pytest.approx(expected, rel=1e-5)
    assert prior.live_categories().item() == 2


def test_fix_category_sets_one_label_and_keeps_the_others():
    prior = CategoricalPrior(2, 3)
    one_hot = prior.sample(50, torch.Generator().manual_seed(0))
    fixed = fix_category(one_hot.clone(), 1, 2)
    assert (fixed[:, 1].argmax(dim=1) == 2).all() and fixed.sum(dim=2).eq(1).all()
    assert torch.equal(fixed[:, 0], one_hot[:, 0])
    assert category_agreement(fixed, one_hot)[:, 0].all()


def test_prior_is_saved_with_the_state_dict():
    prior = CategoricalPrior(1, 2)
    prior.update(torch.tensor([[1.0, 0.0]]), decay=0.5)
    restored = CategoricalPrior(1, 2)
    restored.load_state_dict(prior.state_dict())
    assert torch.equal(restored.probabilities, prior.probabilities)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_one_hot_equals_torchs_one_hot(batch, labels, categories, seed):
    index = torch.randint(
        categories, (batch, labels), generator=torch.Generator().manual_seed(seed)
    )
    assert torch.equal(one_hot(index, categories), F.one_hot(index, categories).float())
