"""The metric registry, in the spirit of StyleGAN2-ADA's `metric_main.py`: each metric
(or family of metrics) is a function of an `Evaluation` returning a dict of results,
registered with what it needs; `evaluate` runs every metric that applies to the run
and merges their results in registration order.

What a metric can need (`NEEDS`):
- "images" or "points": the kind of data set;
- "labels": the data set has true classes (used for scoring only);
- "classifier": the method has a classifier Q (`Method.classify` is not None);
- "extractor": a feature extractor was given (an Inception-v3 for FID);
- "validation": the data set holds items out of training (`data.validation_fraction`).

A metric registered as `slow` is skipped by the quick evaluations during training.

A metric written outside the package joins with the same decorator:

    @register_metric("mean_norm", needs=("points",))
    def mean_norm(evaluation):
        samples, _ = generate_all(evaluation.method, evaluation.num_samples, evaluation.seed)
        return {"mean_norm": float(samples.norm(dim=1).mean())}
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property

import torch

from cgpgan.metrics import conditional
from cgpgan.metrics.batches import classify_all, self_accuracy
from cgpgan.metrics.images import (
    baseline_scores,
    generated_image_quality,
    real_category_scores,
    real_clustering,
)
from cgpgan.metrics.toy2d import mode_metrics, real_mode_scores
from cgpgan.prior import LIVE_THRESHOLD, entropy

NEEDS = ("images", "points", "labels", "classifier", "extractor", "validation")


class Evaluation:
    """What the metrics of one evaluation see: the method, its data set, how many
    samples to score, the seed and the optional feature extractor. A result that several
    metrics use is computed once (`shared`)."""

    def __init__(
        self,
        method,
        dataset,
        num_samples: int,
        seed: int = 0,
        extractor: torch.nn.Module | None = None,
    ):
        self.method = method
        self.dataset = dataset
        self.num_samples = num_samples
        self.seed = seed
        self.extractor = extractor
        self._shared: dict = {}

    @property
    def real_items(self) -> torch.Tensor:
        """The data set's images [N, C, H, W] or points [N, D]."""
        return self.dataset.items

    @cached_property
    def prior(self) -> torch.Tensor:
        """P(C) [L, K], double precision, on the CPU."""
        return self.method.prior.probabilities.detach().cpu().double()

    @cached_property
    def has_classifier(self) -> bool:
        item = self.real_items[:1].to(self.method.device)
        return self.method.classify(item) is not None

    @cached_property
    def provides(self) -> frozenset[str]:
        """The NEEDS this evaluation meets."""
        provided = {self.dataset.kind}
        if self.dataset.labels is not None:
            provided.add("labels")
        if self.extractor is not None:
            provided.add("extractor")
        if self.has_classifier:
            provided.add("classifier")
        if getattr(self.dataset, "validation", None) is not None:
            provided.add("validation")
        return frozenset(provided)

    def shared(self, name: str, compute: Callable[[], object]):
        """compute(), run once per evaluation under `name`."""
        if name not in self._shared:
            self._shared[name] = compute()
        return self._shared[name]


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[Evaluation], dict]
    needs: frozenset[str]
    slow: bool = False


METRICS: dict[str, Metric] = {}  # by name, in the order `evaluate` runs them


def register_metric(name: str, needs: Collection[str] = (), slow: bool = False):
    """Decorator: `compute(evaluation) -> dict` joins the metrics that `evaluate` runs
    on every run providing `needs` (see NEEDS); its keys are merged into the results.
    A `slow` metric is left out of quick evaluations."""
    unknown = sorted(set(needs) - set(NEEDS))
    if unknown:
        raise ValueError(f"register_metric: unknown needs {unknown} (known: {', '.join(NEEDS)})")

    def register(compute: Callable[[Evaluation], dict]) -> Callable[[Evaluation], dict]:
        if name in METRICS and METRICS[name].compute is not compute:
            raise ValueError(f"register_metric: a metric named {name!r} exists already")
        METRICS[name] = Metric(name, compute, frozenset(needs), slow)
        return compute

    return register


@torch.no_grad()
def evaluate(
    method,
    dataset,
    num_samples: int,
    seed: int = 0,
    extractor: torch.nn.Module | None = None,
    skip: Collection[str] = (),
    quick: bool = False,
) -> dict:
    """Every registered metric whose needs this run meets, except those named in `skip`
    (and the slow ones when `quick`), merged into one dict."""
    unknown = sorted(set(skip) - set(METRICS))
    if unknown:
        raise ValueError(f"evaluate: no metrics named {unknown}")
    evaluation = Evaluation(method, dataset, num_samples, seed, extractor)
    metrics: dict = {}
    for metric in METRICS.values():
        wanted = metric.name not in skip and not (quick and metric.slow)
        if wanted and metric.needs <= evaluation.provides:
            metrics.update(metric.compute(evaluation))
    return metrics


# ---------------------------------------------------------------- every run


@register_metric("prior")
def _prior(evaluation: Evaluation) -> dict:
    """The first label's live categories (prior >= 1%) and prior entropy H(P) in nats."""
    prior = evaluation.prior[0]
    return {
        "live_categories": int((prior >= LIVE_THRESHOLD).sum()),
        "prior_entropy": float(entropy(prior)),
    }


# ---------------------------------------------------------------- images


@register_metric("prior_table", needs=("images",))
def _prior_table(evaluation: Evaluation) -> dict:
    """The whole prior [L, K] (2-D runs list the first label's in "modes")."""
    return {"prior": evaluation.prior.tolist()}


@register_metric("self_accuracy", needs=("images", "classifier"))
def _self_accuracy(evaluation: Evaluation) -> dict:
    samples = min(evaluation.num_samples, 5000)
    return {"self_accuracy": self_accuracy(evaluation.method, samples, evaluation.seed)}


def _real_probabilities(evaluation: Evaluation) -> torch.Tensor:
    """Q's probabilities [N, L, K] of every real image."""
    return evaluation.shared(
        "real_probabilities", lambda: classify_all(evaluation.method, evaluation.real_items)
    )


@register_metric("real_categories", needs=("images", "classifier"))
def _real_categories(evaluation: Evaluation) -> dict:
    return real_category_scores(_real_probabilities(evaluation))


@register_metric("real_clustering", needs=("images", "classifier", "labels"))
def _real_clustering(evaluation: Evaluation) -> dict:
    labels = evaluation.dataset.labels.numpy()
    return real_clustering(_real_probabilities(evaluation), labels, evaluation.prior.numpy())


@register_metric("baselines", needs=("images", "labels"))
def _baselines(evaluation: Evaluation) -> dict:
    """k-means and Gaussian mixtures on the real images (slow: skipped during training)."""
    dataset = evaluation.dataset
    scores = baseline_scores(dataset.images, dataset.labels.numpy(), seed=evaluation.seed)
    return {"baselines": scores}


@register_metric("image_quality", needs=("images", "extractor"))
def _image_quality(evaluation: Evaluation) -> dict:
    """FID, KID, precision and recall on min(num_samples, 5000) images of each."""
    return generated_image_quality(
        evaluation.method,
        evaluation.dataset,
        evaluation.extractor,
        min(evaluation.num_samples, 5000),
        seed=evaluation.seed,
    )


def _category_classes(evaluation: Evaluation):
    """The class of each category (see `conditional.category_classes`)."""
    dataset = evaluation.dataset
    return evaluation.shared(
        "category_classes",
        lambda: conditional.category_classes(
            _real_probabilities(evaluation),
            dataset.labels.numpy(),
            dataset.training_labels is not None,
        ),
    )


def _evaluation_classifier(evaluation: Evaluation) -> conditional.EvaluationClassifier:
    """The evaluation classifier of the real training images, trained once per data set
    and seed (kept on the data set object for later evaluations of the same run)."""
    dataset, seed = evaluation.dataset, evaluation.seed
    cache = dataset.__dict__.setdefault("_evaluation_classifiers", {})
    if seed not in cache:
        cache[seed] = conditional.train_classifier(
            dataset.images, dataset.labels, dataset.num_classes, seed
        )
    return cache[seed]


@register_metric("validation_accuracy", needs=("images", "classifier", "labels", "validation"))
def _validation_accuracy(evaluation: Evaluation) -> dict:
    return conditional.validation_accuracy(
        evaluation.method, evaluation.dataset.validation, _category_classes(evaluation)
    )


@register_metric("conditional", needs=("images", "classifier", "labels"), slow=True)
def _conditional(evaluation: Evaluation) -> dict:
    """Conditional accuracy, FID/KID in the evaluation classifier's features, and that
    classifier's own accuracy on the held-out reals (where there are some)."""
    dataset, classifier = evaluation.dataset, _evaluation_classifier(evaluation)
    scores = conditional.conditional_scores(
        evaluation.method,
        dataset,
        classifier,
        _category_classes(evaluation),
        min(evaluation.num_samples, 5000),
        evaluation.seed,
    )
    if dataset.validation is not None:
        scores["evaluation_classifier_accuracy"] = conditional.held_out_accuracy(
            classifier, dataset.validation
        )
    return scores


@register_metric(
    "classification_accuracy_score",
    needs=("images", "classifier", "labels", "validation"),
    slow=True,
)
def _classification_accuracy_score(evaluation: Evaluation) -> dict:
    dataset = evaluation.dataset
    return conditional.classification_accuracy_score(
        evaluation.method,
        dataset,
        _category_classes(evaluation),
        dataset.num_classes,
        evaluation.seed,
    )


# ---------------------------------------------------------------- 2-D points


@register_metric("modes", needs=("points",))
def _modes(evaluation: Evaluation) -> dict:
    return mode_metrics(
        evaluation.method, evaluation.dataset, evaluation.num_samples, evaluation.seed
    )


@register_metric("real_modes", needs=("points", "classifier"))
def _real_modes(evaluation: Evaluation) -> dict:
    """argmax Q(x) on the first num_samples real points against their true modes."""
    points = evaluation.real_items[: evaluation.num_samples]
    probabilities = classify_all(evaluation.method, points, batch_size=4096)
    return real_mode_scores(probabilities, evaluation.dataset.labels[: evaluation.num_samples])
