"""Metrics, one file per family: clustering scores, 2-D mode metrics, image metrics."""

from cgpgan.metrics.clustering import clustering_scores, hungarian_accuracy, many_to_one_accuracy
from cgpgan.metrics.images import baseline_scores, evaluate_images, image_quality
from cgpgan.metrics.toy2d import evaluate_points

__all__ = [
    "baseline_scores",
    "clustering_scores",
    "evaluate_images",
    "evaluate_points",
    "hungarian_accuracy",
    "image_quality",
    "many_to_one_accuracy",
]
