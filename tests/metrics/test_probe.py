"""Representation probes (`cgpgan probe`): linear probe and spherical k-means on the
features of a run's critic or classifier."""

import json

import numpy as np
import pytest

from cgpgan import load_config, train
from cgpgan.cli import main
from cgpgan.metrics.probe import geometry, spherical_kmeans

TINY_DIGITS = [
    "data.name=digits",
    "network.channels=4",
    "network.max_channels=8",
    "network.latent_dim=4",
    "method.num_categories=10",
    "train.steps=3",
    "train.batch_size=16",
    "train.eval_baselines=false",
    "train.eval_samples=200",
]


def test_spherical_kmeans_finds_separated_directions():
    rng = np.random.default_rng(0)
    directions = np.eye(4)
    labels = np.repeat(np.arange(4), 50)
    features = directions[labels] + 0.05 * rng.standard_normal((200, 4))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    scores = spherical_kmeans(features, labels, seed=0, repeats=3)
    assert scores["kmeans_accuracy"] == 1.0 and scores["kmeans_accuracy_std"] == 0.0
    assert scores["kmeans_nmi"] == pytest.approx(1.0)


def test_geometry_tells_compact_classes_from_classes_spread_over_the_sphere():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 100)
    compact = np.eye(8)[labels] + 0.05 * rng.standard_normal((400, 8))
    spread = rng.standard_normal((400, 8))  # the same labels, no class structure
    compact, spread = (f / np.linalg.norm(f, axis=1, keepdims=True) for f in (compact, spread))
    tight, loose = geometry(compact, labels, seed=0), geometry(spread, labels, seed=0)
    assert tight["silhouette"] > 0.9 and abs(loose["silhouette"]) < 0.05
    assert tight["class_spread"] < 0.2 and loose["class_spread"] == pytest.approx(1.0, abs=0.02)
    # four directions, centred, span three dimensions; isotropic noise needs most of eight
    assert tight["pca_dims_90"] == 3 and loose["pca_dims_90"] >= 7
    # one point: exp(0) for every pair; unit vectors spread evenly: far below it
    one_point = geometry(np.tile(compact[:1], (50, 1)), np.arange(50) % 2, seed=0)
    assert one_point["uniformity"] == pytest.approx(0.0, abs=1e-9)
    assert loose["uniformity"] < tight["uniformity"] < 0.0


def test_probe_writes_its_scores_and_picture(tmp_path, capsys):
    directory = tmp_path / "run"
    train(load_config(None, [*TINY_DIGITS, "method.warmup_steps=2"]), directory, progress=False)
    assert main(["probe", str(directory), "--repeats", "2"]) == 0
    scores = json.loads((directory / "probe.json").read_text())
    for key in ("linear_accuracy", "kmeans_accuracy", "kmeans_accuracy_std", "kmeans_nmi"):
        assert 0.0 <= scores[key] <= 1.0, key
    assert -1.0 <= scores["silhouette"] <= 1.0 and scores["uniformity"] <= 0.0
    assert 1 <= scores["pca_dims_90"] <= scores["feature_dim"]
    assert scores["network"] == "critic"
    # even a barely trained critic's features separate the digits far above chance (0.1)
    assert scores["linear_accuracy"] > 0.5
    assert (directory / "plots" / "probe_embedding.png").is_file()
    # CGPGAN's Q of its own has features too, probed beside the critic's; a method
    # without one says so
    assert main(["probe", str(directory), "--features", "classifier", "--repeats", "1"]) == 0
    classifier = json.loads((directory / "probe_classifier.json").read_text())
    assert classifier["network"] == "classifier" and classifier != scores
    assert json.loads((directory / "probe.json").read_text()) == scores
    assert (directory / "plots" / "probe_embedding_classifier.png").is_file()
    infogan = tmp_path / "infogan"
    train(load_config(None, [*TINY_DIGITS, "method.name=infogan"]), infogan, progress=False)
    assert main(["probe", str(infogan), "--features", "classifier"]) == 2
    assert "no classifier network of its own" in capsys.readouterr().err


def test_probe_works_on_points(tmp_path):
    """2-D runs (e.g. the double spiral, by arm) are probed the same way."""
    from tests.conftest import tiny

    directory = tmp_path / "run"
    train(tiny("cgpgan", "train.steps=2"), directory, progress=False)
    assert main(["probe", str(directory), "--repeats", "1"]) == 0
    scores = json.loads((directory / "probe.json").read_text())
    assert scores["feature_dim"] == 16 and 0.0 <= scores["kmeans_accuracy"] <= 1.0
