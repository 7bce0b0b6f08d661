"""Data sets. Every data set holds its samples in memory as `points` (and `labels`,
used only for evaluation) and can draw batches from a seeded generator."""

from cgpgan.data.toy2d import DoubleSpiral, GaussianMixture, PointDataset, build_dataset

__all__ = ["DoubleSpiral", "GaussianMixture", "PointDataset", "build_dataset"]
