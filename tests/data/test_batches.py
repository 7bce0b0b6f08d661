"""Batches carry labels only where training may see them (data.labelled_fraction)."""

import numpy as np
import pytest
import torch

from cgpgan import ConfigError, load_config, train
from cgpgan.data import UNLABELLED, build_dataset
from cgpgan.methods import BUILT_IN
from tests.conftest import tiny


class _Forbidden:
    """Stands in for the scoring labels: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"training read the scoring labels ({name})")

    def __getitem__(self, index):
        raise AssertionError("training read the scoring labels")

    def __len__(self):
        raise AssertionError("training read the scoring labels")


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_with_fraction_0_no_method_can_read_a_label(name, tmp_path, monkeypatch):
    import cgpgan.training.loop as loop

    seen = []

    def dataset_without_labels(config, seed):
        dataset = build_dataset(config, seed)
        dataset.labels = _Forbidden()
        return dataset

    # the loop builds the data set it trains on: its scoring labels are poisoned
    monkeypatch.setattr(loop, "build_dataset", dataset_without_labels)
    from cgpgan.methods import METHODS

    original = METHODS[name].training_losses

    def recording(self, batch, step):
        seen.append(batch.labels)
        yield from original(self, batch, step)

    monkeypatch.setattr(METHODS[name], "training_losses", recording)
    if METHODS[name].needs_labels:  # refused before its directory is made
        with pytest.raises(ConfigError, match="labelled_fraction"):
            train(tiny(name, "train.steps=3"), tmp_path / "run", progress=False)
        assert not (tmp_path / "run").exists()
        return
    train(tiny(name, "train.steps=3"), tmp_path / "run", progress=False, evaluate=False)
    assert seen == [None, None, None]  # and no label reached the step


def test_a_labelled_fraction_reveals_a_fixed_stratified_subset():
    config = load_config("digits", ["data.labelled_fraction=0.3"])
    dataset = build_dataset(config.data, seed=4)
    revealed = dataset.training_labels
    for label in range(10):
        members = dataset.labels == label
        assert int((revealed[members] == label).sum()) == round(0.3 * int(members.sum()))
    assert set(revealed[revealed != UNLABELLED].tolist()) == set(range(10))
    again = build_dataset(config.data, seed=4).training_labels
    assert torch.equal(revealed, again)  # the same subset every time for a seed
    batch = dataset.batch(256, torch.Generator().manual_seed(0))
    shown = batch.labels != UNLABELLED
    assert shown.any() and (~shown).any()
    indices = torch.randint(len(dataset), (256,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(batch.labels[shown], dataset.labels[indices][shown])
    assert torch.equal(batch.data, dataset.images[indices])


def test_a_labelled_fraction_needs_labels_and_a_valid_share(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((4, 8, 8), dtype=np.uint8))
    overrides = ["data.name=npz", f"data.path={tmp_path / 'x.npz'}", "data.labelled_fraction=0.5"]
    with pytest.raises(ConfigError, match="data.labelled_fraction: data set npz has no labels"):
        build_dataset(load_config(None, overrides).data, seed=0)
    with pytest.raises(ConfigError, match=r"must be in \[0, 1\]"):
        load_config(None, ["data.labelled_fraction=1.5"])
