"""Class-imbalanced subsets: data.imbalance_ratio and data.class_proportions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cgpgan.config import ConfigError, load_config
from cgpgan.data import build_dataset
from cgpgan.data.subsets import class_subset, long_tail_shares, stratified_split
from cgpgan.errors import DataError


@settings(max_examples=40, deadline=None)
@given(classes=st.integers(2, 12), ratio=st.floats(1.0, 100.0), seed=st.integers(0, 2**16))
def test_long_tail_shares_fall_geometrically_by_the_ratio(classes, ratio, seed):
    shares = long_tail_shares(classes, ratio, np.random.default_rng(seed))
    assert shares.sum() == pytest.approx(1.0)
    assert shares.max() / shares.min() == pytest.approx(ratio)
    steps = np.sort(shares)[::-1]
    assert np.allclose(steps[1:] / steps[:-1], ratio ** (-1 / (classes - 1)))


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(5, 60), min_size=2, max_size=6),
    weights=st.lists(st.floats(0.05, 1.0), min_size=6, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_class_subset_is_the_largest_with_the_shares(counts, weights, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    shares = np.array(weights[: len(counts)]) / sum(weights[: len(counts)])
    chosen = class_subset(labels, shares, np.random.default_rng(seed))
    assert len(np.unique(chosen)) == len(chosen) and (np.diff(chosen) > 0).all()
    sizes = np.bincount(labels[chosen], minlength=len(counts))
    assert (sizes <= counts).all() and (sizes >= 1).all()
    assert np.abs(sizes - shares * len(chosen)).max() <= len(counts)  # rounding
    # the class that runs out first is used whole (up to rounding): no larger subset fits
    assert ((counts - sizes) <= 1).any()


def test_a_subset_depends_on_the_seed_only_and_keeps_labels_for_scoring():
    def class_sizes(seed):
        config = load_config("digits", ["data.imbalance_ratio=10", f"seed={seed}"])
        dataset = build_dataset(config.data, config.seed)
        assert dataset.training_labels is None  # the labels still never reach training
        return np.bincount(dataset.labels.numpy())

    first, again, other = class_sizes(0), class_sizes(0), class_sizes(1)
    assert (first == again).all() and not (first == other).all()
    assert first.max() / first.min() == pytest.approx(10, rel=0.1)
    assert sorted(first) == pytest.approx(sorted(other), abs=1)  # other order, same sizes


def test_explicit_class_proportions():
    shares = [0.5, 0.3, 0.2] + [0.0] * 7
    config = load_config("digits", [f"data.class_proportions={shares}"])
    sizes = np.bincount(build_dataset(config.data, config.seed).labels.numpy(), minlength=10)
    assert (sizes[3:] == 0).all()
    assert sizes[:3] / sizes.sum() == pytest.approx([0.5, 0.3, 0.2], abs=0.01)


@pytest.mark.parametrize(
    "preset, overrides, key",
    [
        ("digits", ["data.imbalance_ratio=0.5"], "data.imbalance_ratio"),
        ("digits", ["data.class_proportions=[0.5, 0.6]"], "data.class_proportions"),
        (
            "digits",
            ["data.imbalance_ratio=5", "data.class_proportions=[0.5, 0.5]"],
            "data.class_proportions",
        ),
        ("gaussians2d", ["data.imbalance_ratio=5"], "data.imbalance_ratio"),
    ],
)
def test_bad_imbalance_settings_name_the_key(preset, overrides, key):
    with pytest.raises(ConfigError) as error:
        load_config(preset, overrides)
    assert str(error.value).startswith(key) and "\n" not in str(error.value)


def test_data_without_labels_cannot_be_made_imbalanced(tmp_path):
    images = np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "images.npz", images=images)
    path = tmp_path / "images.npz"
    config = load_config("digits", ["data.name=npz", f"data.path={path}", "data.imbalance_ratio=4"])
    with pytest.raises(DataError, match="data.imbalance_ratio: data set npz has no labels"):
        build_dataset(config.data, config.seed)


def test_validation_fraction_holds_out_a_seeded_stratified_subset():
    """data.validation_fraction: per class round(f * n_c) items held out, none of them in
    the training items, the same for a seed and another for another seed."""
    import torch

    config = load_config("digits", ["data.validation_fraction=0.1"])
    whole = build_dataset(load_config("digits").data, seed=3)
    dataset = build_dataset(config.data, seed=3)
    held = dataset.validation
    assert len(dataset) + len(held) == len(whole)
    for label in range(10):
        n_c = int((whole.labels == label).sum())
        assert int((held.labels == label).sum()) == round(0.1 * n_c)
    kept, held_out = stratified_split(whole.labels.numpy(), 0.1, seed=3)
    assert len(np.intersect1d(kept, held_out)) == 0
    assert len(kept) + len(held_out) == len(whole)
    assert torch.equal(held.images, whole.images[held_out])
    assert torch.equal(dataset.images, whole.images[kept])
    again = build_dataset(config.data, seed=3).validation
    assert torch.equal(held.images, again.images)
    other = build_dataset(config.data, seed=4).validation
    assert not torch.equal(held.images, other.images)
    assert build_dataset(load_config("digits").data, seed=3).validation is None
    with pytest.raises(ConfigError, match="validation_fraction"):
        load_config("digits", ["data.validation_fraction=1.0"])
    with pytest.raises(ConfigError, match="validation_fraction"):
        load_config("gaussians2d", ["data.validation_fraction=0.1"])
