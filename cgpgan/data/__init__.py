"""Data sets. Every data set holds its samples in memory (2-D `points` or `images`,
with `labels` used only for evaluation) and draws batches (`Batch`) from a seeded
generator; with `data.labelled_fraction` > 0 a fixed subset's labels come with them.
`data.imbalance_ratio` and `data.class_proportions` keep a class-imbalanced subset;
`data.validation_fraction` holds a stratified subset out of training (`validation`)."""

from __future__ import annotations

import torch

from cgpgan.config import DataConfig
from cgpgan.data.batch import UNLABELLED, Batch, labelled_subset
from cgpgan.data.images import ImageDataset, build_image_dataset
from cgpgan.data.subsets import imbalanced_indices, stratified_split
from cgpgan.data.toy2d import DoubleSpiral, GaussianMixture, PointDataset, build_point_dataset
from cgpgan.errors import ConfigError


def build_dataset(config: DataConfig, seed: int) -> PointDataset | ImageDataset:
    """The data set of `config` (its `validation` attribute: the held-out images, or
    None); 2-D data is drawn with a generator seeded by `seed`."""
    dataset = build_image_dataset(config) if config.is_image else build_point_dataset(config, seed)
    labels = None if dataset.labels is None else dataset.labels.numpy()
    subset = imbalanced_indices(config, labels, seed)
    if subset is not None:
        dataset = dataset.subset(torch.from_numpy(subset))
        labels = dataset.labels.numpy()
    validation = None
    if config.validation_fraction > 0:
        if labels is None:
            raise ConfigError(f"data.validation_fraction: data set {config.name} has no labels")
        kept, held_out = stratified_split(labels, config.validation_fraction, seed)
        dataset, validation = (dataset.subset(torch.from_numpy(i)) for i in (kept, held_out))
    dataset.validation = validation
    if config.labelled_fraction > 0:
        if dataset.labels is None:
            raise ConfigError(f"data.labelled_fraction: data set {config.name} has no labels")
        dataset.training_labels = labelled_subset(
            dataset.labels, config.labelled_fraction, seed + 2
        )
    return dataset


__all__ = [
    "UNLABELLED",
    "Batch",
    "DoubleSpiral",
    "GaussianMixture",
    "ImageDataset",
    "PointDataset",
    "build_dataset",
]
