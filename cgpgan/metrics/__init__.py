"""Metrics, one file per family. `evaluate_method` picks those that fit the data."""

from cgpgan.metrics.clustering import hungarian_accuracy, many_to_one_accuracy
from cgpgan.metrics.toy2d import evaluate_points

__all__ = ["evaluate_points", "hungarian_accuracy", "many_to_one_accuracy"]
