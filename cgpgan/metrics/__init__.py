"""Metrics, one file per family: clustering scores, 2-D mode metrics, image metrics;
`registry.py` says what each needs and `evaluate` runs those that apply to a run."""

from cgpgan.metrics.batches import classify_all, generate_all, self_accuracy
from cgpgan.metrics.clustering import clustering_scores, hungarian_accuracy, many_to_one_accuracy
from cgpgan.metrics.images import baseline_scores, generated_image_quality, image_quality
from cgpgan.metrics.registry import METRICS, Evaluation, evaluate, register_metric
from cgpgan.metrics.toy2d import mode_metrics

__all__ = [
    "METRICS",
    "Evaluation",
    "baseline_scores",
    "classify_all",
    "clustering_scores",
    "evaluate",
    "generate_all",
    "generated_image_quality",
    "hungarian_accuracy",
    "image_quality",
    "many_to_one_accuracy",
    "mode_metrics",
    "register_metric",
    "self_accuracy",
]
