"""Evaluating a run: the registered metrics that apply to it (`cgpgan.metrics.registry`)
with the run's settings (samples, seed, baselines, Inception), and FID-family image
quality with any feature extractor. Nothing here writes files; `Run.evaluate` does."""

from __future__ import annotations

import torch

from cgpgan.config import Config
from cgpgan.errors import RunError
from cgpgan.metrics import registry
from cgpgan.metrics.images import InceptionFeatures, generated_image_quality


def evaluate(
    method,
    config: Config,
    info: dict,
    dataset,
    baselines: bool | None = None,
    inception: str | None = None,
    quick: bool = False,
) -> dict:
    """Every registered metric that applies to the run, on `train.eval_samples`
    samples with the run's seed, then its step and training time (`info`, run.json);
    `quick` leaves out the slow metrics (as the evaluations during training do).

    Baselines (k-means, Gaussian mixtures) run when `baselines`, by default
    `train.eval_baselines`. With `inception` (a local Inception-v3 weights file), images
    also get FID, KID and precision/recall on min(train.eval_samples, 5000) real and
    generated images (RunError for other data)."""
    if inception and dataset.kind != "images":
        raise RunError(
            "inception: FID/KID apply to image runs only; this run's data is"
            f" {config.data.name} ({'x'.join(map(str, dataset.sample_shape))}-D {dataset.kind})"
        )
    extractor = InceptionFeatures(inception) if inception else None  # bad file: fail first
    if baselines is None:
        baselines = config.train.eval_baselines
    metrics = registry.evaluate(
        method,
        dataset,
        config.train.eval_samples,
        seed=config.seed,
        extractor=extractor,
        skip=() if baselines else ("baselines",),
        quick=quick,
    )
    metrics["step"] = info.get("step", 0)
    metrics["train_seconds"] = info.get("train_seconds", 0.0)
    return metrics


def image_quality(
    method, dataset, extractor: torch.nn.Module, num_samples: int = 5000, seed: int = 0
) -> dict:
    """FID, KID and precision/recall of `num_samples` generated images against as many
    real ones of `dataset`, in the feature space of `extractor` (any torch module mapping
    images in [0, 1] to [B, F])."""
    if dataset.kind != "images":
        raise RunError("image quality needs an image data set")
    return generated_image_quality(method, dataset, extractor, num_samples, seed=seed)
