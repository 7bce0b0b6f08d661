"""End-to-end on images: a short digits run, its pictures, clustering, every method."""

import csv
import json

import numpy as np
import pytest
import torch

from cgpgan import Run, RunError, load_config, train
from cgpgan.cli import main

SMALL = [
    "data.name=digits",
    "network.channels=8",
    "network.max_channels=16",
    "network.latent_dim=8",
    "method.num_categories=10",
    "train.batch_size=32",
    "train.log_every=10",
    "train.eval_samples=500",
    "train.eval_baselines=false",
]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """CGPGAN on the built-in digits: 150 steps (a few seconds)."""
    config = load_config(
        None,
        [
            *SMALL,
            "train.steps=150",
            "method.warmup_steps=50",
            "train.eval_every=100",
            "train.eval_baselines=true",
        ],
    )
    return train(config, tmp_path_factory.mktemp("runs") / "digits", progress=False)


def test_image_run_reports_clustering_baselines_and_self_accuracy(digits_run):
    metrics = digits_run.metrics
    for name in (
        "accuracy",
        "accuracy_many_to_one",
        "nmi",
        "ari",
        "self_accuracy",
        "live_categories",
        "prior_entropy",
        "prior_class_error",
    ):
        assert name in metrics, name
    assert 0.1 <= metrics["accuracy"] <= metrics["accuracy_many_to_one"] <= 1
    assert np.array(metrics["contingency"]).sum() == 1797
    # k-means on raw digits pixels is far above chance
    assert metrics["baselines"]["kmeans_pixels"]["accuracy"] > 0.6
    # the classifier has learnt to recognise the generator's categories
    assert metrics["self_accuracy"] > 0.3
    history = [
        row
        for row in map(eval_row, (digits_run.directory / "metrics.jsonl").read_text().splitlines())
    ]
    assert any("eval/accuracy" in row for row in history)


def eval_row(line: str) -> dict:
    import json

    return json.loads(line)


def test_image_run_pictures(digits_run):
    for name in ("samples.png", "prior.png", "curves.png", "contingency.png"):
        assert (digits_run.directory / "plots" / name).is_file(), name


def test_sample_grid_rows_share_z_and_columns_follow_the_prior(digits_run):
    grid, order = digits_run.sample_grid(rows=3, seed=1)
    prior = digits_run.prior[0]
    assert grid.shape == (3, len(order), 1, 8, 8)
    assert order == sorted(order, key=lambda k: -prior[k])
    assert all(prior[k] >= 0.01 for k in order)
    # the same z in a row gives different images for different categories
    assert not torch.allclose(grid[0, 0], grid[0, 1])


def test_cluster_command_writes_csv_and_examples(digits_run, tmp_path):
    out = tmp_path / "clusters.csv"
    assert main(["cluster", str(digits_run.directory), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1797 and set(rows[0]) == {"item", "category0", "confidence0"}
    assert all(0 <= int(r["category0"]) < 10 and 0 < float(r["confidence0"]) <= 1 for r in rows)
    assert (tmp_path / "clusters_examples.png").is_file()


def test_cluster_new_data_from_a_file(digits_run, tmp_path, capsys):
    images = (
        ((digits_run.sample(20, seed=3)[0][:, 0] + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    )
    np.savez(tmp_path / "new.npz", images=images)
    result = Run.load(digits_run.directory).cluster_data(
        ["data.name=npz", f"data.path={tmp_path / 'new.npz'}"]
    )
    assert result["categories"].shape == (20, 1)
    np.savez(tmp_path / "big.npz", images=np.zeros((3, 16, 16), dtype=np.uint8))
    code = main(
        [
            "cluster",
            str(digits_run.directory),
            "--set",
            "data.name=npz",
            "--set",
            f"data.path={tmp_path / 'big.npz'}",
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2 and "does not fit this run" in capsys.readouterr().err
    with pytest.raises(RunError, match="only data"):
        Run.load(digits_run.directory).cluster_data(["method.num_categories=3"])


@pytest.mark.parametrize("name", ["vcagan", "infogan", "vanilla"])
def test_every_method_trains_on_images(name, tmp_path):
    warmup = ["method.warmup_steps=1"] if name == "vcagan" else []  # the others have none
    config = load_config(None, [*SMALL, f"method.name={name}", "train.steps=3", *warmup])
    run = train(config, tmp_path / name, progress=False)
    assert run.metrics["live_categories"] >= 1
    assert ("accuracy" in run.metrics) == (name != "vanilla")


def test_real_consistency_and_augmentation_options_train(tmp_path):
    config = load_config(
        None,
        [
            *SMALL,
            "train.steps=3",
            "method.warmup_steps=1",
            "method.real_consistency_weight=1",
            "method.augment_fakes=true",
            "method.augment_rotation=10",
            "method.generator_cls_weight=1",
        ],
    )
    assert "accuracy" in train(config, tmp_path / "consistency", progress=False).metrics


def test_consistency_waits_for_its_start_and_threshold(tmp_path):
    def consistency_losses(*overrides):
        base = [
            *SMALL,
            "train.steps=4",
            "train.log_every=1",
            "method.warmup_steps=1",
            "method.real_consistency_weight=1",
        ]
        run = train(
            load_config(None, [*base, *overrides]),
            tmp_path / "_".join(overrides),
            progress=False,
            evaluate=False,
        )
        rows = [
            json.loads(line) for line in (run.directory / "metrics.jsonl").read_text().splitlines()
        ]
        return [row.get("loss/real_consistency") for row in rows]

    delayed = consistency_losses("method.real_consistency_start=3")
    assert delayed[:3] == [None] * 3 and delayed[3] > 0  # steps count from 0
    # no real image is that confident after a few steps: the masked loss is zero
    assert consistency_losses("method.real_consistency_threshold=0.999") == [0.0] * 4


def test_sample_command_keeps_image_shape_in_npz(digits_run, tmp_path):
    out = tmp_path / "samples.npz"
    assert (
        main(["sample", str(digits_run.directory), "--category", "3", "-n", "6", "--out", str(out)])
        == 0
    )
    with np.load(out) as saved:
        assert saved["samples"].shape == (6, 1, 8, 8) and saved["categories"].tolist() == [[3]] * 6


def test_cluster_an_image_file_keeps_its_order(digits_run, tmp_path):
    """`cluster RUN --data FILE`: one row per image, in the file's order, with the
    category the API gives for the same images."""
    images = ((digits_run.sample(30, seed=5)[0][:, 0] + 1) * 127.5).clamp(0, 255).to(torch.uint8)
    np.savez(tmp_path / "new.npz", images=images.numpy()[::-1].copy())
    out = tmp_path / "new.csv"
    assert (
        main(
            [
                "cluster",
                str(digits_run.directory),
                "--data",
                str(tmp_path / "new.npz"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [int(row["item"]) for row in rows] == list(range(30))
    expected, _ = Run.load(digits_run.directory).cluster(
        images.flip(0)[:, None].float() / 127.5 - 1
    )
    assert [int(row["category0"]) for row in rows] == expected[:, 0].tolist()
    with pytest.raises(RunError, match="must be a .npz or .npy"):
        Run.load(digits_run.directory).cluster_data(data=out)
