"""The metric registry: what a metric needs decides which runs get it, and a registered
metric's results join those of `evaluate` and of a run's metrics.json."""

import json

import pytest

from cgpgan import train
from cgpgan.data import build_dataset
from cgpgan.methods import build_method
from cgpgan.metrics import classify_all, evaluate, generate_all, register_metric, registry
from tests.conftest import tiny


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch):
    """Metrics registered by a test leave with it."""
    monkeypatch.setattr(registry, "METRICS", dict(registry.METRICS))


def _untrained(method: str):
    config = tiny(method)
    dataset = build_dataset(config.data, config.seed)
    return build_method(config, dataset.sample_shape), dataset


def test_a_metric_needing_a_classifier_is_skipped_for_the_vanilla_method():
    @register_metric("mean_probability", needs=("points", "classifier"))
    def mean_probability(evaluation):
        probabilities = classify_all(evaluation.method, evaluation.real_items[:100])
        return {"mean_probability": float(probabilities.mean())}

    vanilla = evaluate(*_untrained("vanilla"), num_samples=200)
    assert "modes_covered" in vanilla and vanilla["live_categories"] == 4
    assert "mean_probability" not in vanilla and "real_nmi" not in vanilla
    cgpgan = evaluate(*_untrained("cgpgan"), num_samples=200)
    assert cgpgan["mean_probability"] == pytest.approx(1 / 4)  # each row of Q sums to 1
    assert "real_nmi" in cgpgan


def test_a_registered_metric_appears_in_the_metrics_of_a_run(tmp_path):
    @register_metric("generated_mean_norm", needs=("points",))
    def generated_mean_norm(evaluation):
        samples, _ = generate_all(evaluation.method, 100, evaluation.seed)
        return {"generated_mean_norm": float(samples.norm(dim=1).mean())}

    @register_metric("image_only", needs=("images",))
    def image_only(evaluation):
        raise AssertionError("an image metric ran on 2-D points")

    run = train(tiny("cgpgan", "train.steps=2"), tmp_path / "run", progress=False)
    written = json.loads((run.directory / "metrics.json").read_text())
    assert written["generated_mean_norm"] == run.metrics["generated_mean_norm"] > 0
    assert list(written)[-3:] == ["generated_mean_norm", "step", "train_seconds"]
    again = run.evaluate(write=False, draw=False)
    assert again["generated_mean_norm"] == written["generated_mean_norm"]


def test_unknown_needs_taken_names_and_unknown_skips_are_refused():
    with pytest.raises(ValueError, match="unknown needs"):
        register_metric("fast", needs=("gpu",))
    with pytest.raises(ValueError, match="exists already"):
        register_metric("prior")(lambda evaluation: {})
    with pytest.raises(ValueError, match="no metrics named"):
        evaluate(*_untrained("vanilla"), num_samples=10, skip=("no_such_metric",))
