"""The pictures: labelled axes, categories as columns, `cgpgan sample --out x.png`."""

import json
import shutil

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from cgpgan import Run, load_config, plots, train
from cgpgan.cli import main
from cgpgan.run import DeadCategoryWarning
from tests.conftest import tiny

DIGITS = [
    "data.name=digits",
    "network.channels=8",
    "network.max_channels=16",
    "network.latent_dim=8",
    "method.num_categories=10",
    "train.batch_size=32",
    "train.steps=3",
    "method.warmup_steps=1",
    "train.eval_baselines=false",
]


@pytest.fixture(scope="module")
def points_run(tmp_path_factory):
    """A 5-step 2-D run, not evaluated (about a second)."""
    return train(tiny(), tmp_path_factory.mktemp("runs") / "points", progress=False, evaluate=False)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A 3-step digits run, not evaluated (about a second)."""
    config = load_config(None, DIGITS)
    return train(config, tmp_path_factory.mktemp("runs") / "digits", progress=False, evaluate=False)


def _read_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    picture = matplotlib.image.imread(path)
    assert picture.shape[0] > 100 and picture.shape[1] > 100
    return picture


def test_prior_is_labelled_with_its_threshold_and_no_label_0_for_one_label():
    figure, (one, several) = plt.subplots(1, 2)
    plots.draw_prior(one, np.array([0.6, 0.395, 0.005]), true_probabilities=[0.5, 0.5])
    assert one.get_title() == "prior P(C)"
    assert (one.get_xlabel(), one.get_ylabel()) == ("category (sorted by prior)", "P(C = k)")
    legend = [text.get_text() for text in one.get_legend().get_texts()]
    assert sorted(legend) == ["live threshold (1%)", "prior", "true (sorted)"]
    assert [tick.get_text() for tick in one.get_xticklabels()] == ["0", "1", "2"]
    plots.draw_prior(several, np.array([0.2, 0.8]), label=1, num_labels=3)
    assert several.get_title() == "prior of label 1 (labels 0-2)"
    plt.close(figure)


def test_curves_have_axis_labels():
    history = [{"step": s, "loss/generator": 1.0 / s, "prior/entropy": 2.0} for s in (1, 2)]
    figure, (losses, entropy) = plt.subplots(1, 2)
    plots.draw_curves(losses, entropy, history)
    assert (losses.get_xlabel(), losses.get_ylabel()) == ("training step", "loss")
    assert (entropy.get_xlabel(), entropy.get_ylabel()) == ("training step", "entropy (nats)")
    plt.close(figure)


def test_category_examples_are_columns_ordered_by_prior_most_confident_on_top(tmp_path):
    # item i is a flat image of value v_i; categories 0..3, category 2 empty
    values = np.linspace(-1, 1, 12)
    images = np.broadcast_to(values[:, None, None, None], (12, 1, 4, 4)).astype(np.float32)
    categories = np.array([0, 0, 0, 1, 1, 1, 3, 3, 3, 3, 3, 3])
    confidence = np.linspace(0.2, 0.9, 12)[::-1].copy()  # earlier items more confident
    prior = np.array([0.25, 0.5, 0.1, 0.15])
    figure, axis = plt.subplots()
    order = plots.draw_category_examples(
        axis, images, categories, confidence, prior, per_category=4
    )
    assert order == [1, 0, 3]  # by prior, the empty category 2 left out
    labels = [tick.get_text() for tick in axis.get_xticklabels()]
    assert labels == ["1: 0.500", "0: 0.250", "3: 0.150"]
    assert axis.get_xlabel().startswith("category") and "confident" in axis.get_ylabel()
    canvas = axis.images[0].get_array()
    assert canvas.shape[:2] == (4 * 5 + 1, 3 * 5 + 1)  # 4 rows of items, 3 columns
    top_left = canvas[1, 1, 0]  # the most confident item of category 1 is item 3
    assert top_left == pytest.approx((values[3] + 1) / 2)
    assert canvas[3 * 5 + 1, 1, 0] == 1  # category 1 has 3 items: the 4th cell is blank
    plt.close(figure)
    plots.plot_category_examples(
        tmp_path / "examples.png", images, categories, confidence, prior, per_category=4
    )
    _read_png(tmp_path / "examples.png")


def test_sample_png_of_a_points_run(points_run, tmp_path, capsys):
    out = tmp_path / "points.png"
    assert main(["sample", str(points_run.directory), "-n", "300", "--out", str(out)]) == 0
    assert "wrote 300 samples" in capsys.readouterr().out
    _read_png(out)


def test_sample_png_of_an_image_run_is_a_grid(image_run, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", str(image_run.directory), "-n", "40", "--out", str(out)]) == 0
    assert "samples to" in capsys.readouterr().out
    _read_png(out)
    likeliest = int(image_run.prior[0].argmax())
    assert (
        main(
            [
                "sample",
                str(image_run.directory),
                "--category",
                str(likeliest),
                "-n",
                "300",
                "--out",
                str(tmp_path / "one.png"),
            ]
        )
        == 0
    )
    # 300 samples of one category: a 16 x 16 grid shows 256 of them
    assert "picture of 256 of the 300 samples" in capsys.readouterr().out
    _read_png(tmp_path / "one.png")
    image_run.draw_grid(tmp_path / "samples.png")
    _read_png(tmp_path / "samples.png")


def test_sample_refuses_other_suffixes(points_run, tmp_path, capsys):
    assert main(["sample", str(points_run.directory), "--out", str(tmp_path / "x.jpg")]) == 2
    error = capsys.readouterr().err
    assert ".csv, .npz or .png" in error and error.count("\n") == 1


def test_sampling_a_dead_category_warns(points_run, tmp_path, capsys):
    copy = tmp_path / "dead"
    shutil.copytree(points_run.directory, copy)
    run = Run.load(copy, device="cpu")
    table = run.method.prior.probabilities
    table[0] = torch.tensor([0.5, 0.5, 0.0, 0.0])
    with pytest.warns(DeadCategoryWarning, match="category 2 is dead .prior 0.0000"):
        points, categories = run.sample(10, category=2)
    assert (categories[:, 0] == 2).all()
    run.save()
    out = tmp_path / "dead.png"
    assert main(["sample", str(copy), "--category", "3", "-n", "50", "--out", str(out)]) == 0
    error = capsys.readouterr().err
    assert error.startswith("cgpgan: warning: category 3 is dead") and error.count("\n") == 1
    _read_png(out)
    # a live category or the whole prior: no warning
    assert main(["sample", str(copy), "--category", "0", "--out", str(tmp_path / "a.csv")]) == 0
    assert main(["sample", str(copy), "--out", str(tmp_path / "b.csv")]) == 0
    assert capsys.readouterr().err == ""


def test_prior_trajectory_draws_each_category_against_the_step_with_the_true_shares():
    history = [
        {"step": 10, "prior/share/0": 0.5, "prior/share/1": 0.5, "loss/generator": 1.0},
        {"step": 20, "prior/share/0": 0.7, "prior/share/1": 0.3},
    ]
    figure, axis = plt.subplots()
    plots.draw_prior_trajectory(axis, history, np.array([0.75, 0.25]), "run")
    solid = [line for line in axis.get_lines() if line.get_linestyle() == "-"]
    dashed = [line for line in axis.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in solid] == [[0.5, 0.7], [0.5, 0.3]]
    assert list(solid[0].get_xdata()) == [10, 20]
    assert sorted(line.get_ydata()[0] for line in dashed) == [0.25, 0.75]
    assert axis.get_xlabel() == "training step" and "true class shares" in axis.get_title()
    plt.close(figure)


def test_a_run_logs_its_prior_and_draws_its_trajectory(tmp_path):
    run = train(tiny("cgpgan", "train.eval_samples=200"), tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (run.directory / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        shares = [row[f"prior/share/{k}"] for k in range(4)]
        assert sum(shares) == pytest.approx(1.0)
    assert [rows[-1][f"prior/share/{k}"] for k in range(4)] == pytest.approx(run.prior[0].tolist())
    _read_png(run.directory / "plots" / "prior_trajectory.png")
