"""Data sets. Every data set holds its samples in memory (2-D `points` or `images`,
with `labels` used only for evaluation) and draws batches from a seeded generator."""

from __future__ import annotations

from cgpgan.config import DataConfig
from cgpgan.data.images import ImageDataset, build_image_dataset
from cgpgan.data.toy2d import DoubleSpiral, GaussianMixture, PointDataset, build_point_dataset


def build_dataset(config: DataConfig, seed: int) -> PointDataset | ImageDataset:
    """The data set of `config`; 2-D data is drawn with a generator seeded by `seed`."""
    if config.is_image:
        return build_image_dataset(config)
    return build_point_dataset(config, seed)


__all__ = ["DoubleSpiral", "GaussianMixture", "ImageDataset", "PointDataset", "build_dataset"]
