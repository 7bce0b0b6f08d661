"""Property-based tests (hypothesis) over configurations and metrics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cgpgan.config import load_config
from cgpgan.errors import ConfigError
from cgpgan.metrics.clustering import clustering_scores

labelings = st.integers(2, 6).flatmap(
    lambda classes: st.tuples(
        st.lists(st.integers(0, classes - 1), min_size=2, max_size=60),
        st.integers(2, 8),
        st.randoms(use_true_random=False),
    )
)


@settings(max_examples=60, deadline=None)
@given(labelings)
def test_scores_are_unchanged_by_relabelling_categories_and_stay_in_range(case):
    truth, num_categories, rng = case
    truth = np.array(truth)
    predicted = np.array([rng.randrange(num_categories) for _ in truth])
    permutation = list(range(num_categories))
    rng.shuffle(permutation)
    relabelled = np.array([permutation[k] for k in predicted])
    scores, again = clustering_scores(predicted, truth), clustering_scores(relabelled, truth)
    for name in scores:
        assert scores[name] == pytest.approx(again[name], abs=1e-12)
    assert 0 <= scores["accuracy"] <= scores["accuracy_many_to_one"] <= 1
    assert -1e-12 <= scores["nmi"] <= 1 + 1e-12
    assert -1 <= scores["ari"] <= 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40))
def test_a_perfect_clustering_scores_one(truth):
    truth = np.array(truth)
    scores = clustering_scores((truth + 3) % 5, truth)
    assert scores["accuracy"] == 1.0 and scores["accuracy_many_to_one"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    categories=st.integers(-3, 40),
    decay=st.floats(-1, 2, allow_nan=False),
    weight=st.floats(-5, 5, allow_nan=False),
    batch=st.integers(-4, 512),
)
def test_configs_are_accepted_exactly_when_every_value_is_in_range(
    categories, decay, weight, batch
):
    overrides = [
        f"method.num_categories={categories}",
        f"method.prior_decay={decay}",
        f"method.lambda_cgp={weight}",
        f"train.batch_size={batch}",
    ]
    valid = categories >= 2 and 0 <= decay < 1 and weight >= 0 and batch > 0
    if valid:
        config = load_config(None, overrides)
        assert config.method.num_categories == categories and config.train.batch_size == batch
    else:
        with pytest.raises(ConfigError) as error:
            load_config(None, overrides)
        message = str(error.value)
        assert "\n" not in message
        assert message.split(":")[0] in (
            "method.num_categories",
            "method.prior_decay",
            "method.lambda_cgp",
            "train.batch_size",
        )
