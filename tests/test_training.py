"""End-to-end: a short 2-D run, its run directory, loading, sampling, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from cgpgan import Run, RunError, load_config, train
from cgpgan.cli import main
from tests.conftest import tiny


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """CGPGAN on the paper's mixture, small and short (about 10 s on 2 cores)."""
    config = load_config(
        "gaussians2d",
        ["train.steps=900", "method.warmup_steps=300", "network.hidden_dim=32", "train.eval_samples=4000", "data.num_samples=20000"],
    )
    return train(config, tmp_path_factory.mktemp("runs") / "short", progress=False)


def test_short_run_separates_the_clusters(trained_run):
    metrics = trained_run.metrics
    # argmax Q(x) on real points: each category lies (almost) within one cluster
    assert metrics["real_accuracy_many_to_one"] >= 0.95
    assert metrics["modes_covered"] == 4
    assert metrics["three_sigma_share"] >= 0.9
    # the prior has left uniform: some of the 8 categories are dying
    assert metrics["prior_entropy"] < np.log(8) - 0.2


def test_run_directory_holds_config_metrics_weights_and_pictures(trained_run):
    directory = trained_run.directory
    for name in ("config.yaml", "run.json", "metrics.json", "metrics.jsonl", "checkpoints/model.safetensors", "plots/samples.png", "plots/prior.png", "plots/curves.png"):
        assert (directory / name).is_file(), name
    assert list((directory / "tensorboard").iterdir())
    final = json.loads((directory / "metrics.json").read_text())
    for key in ("live_categories", "prior_error", "three_sigma_share", "min_category_purity", "modes_covered", "mode_kl", "prior_entropy", "train_seconds"):
        assert key in final, key
    history = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["step"] == 900
    # the discriminator learns: its loss ends below the chance value 2 log 2
    assert np.mean([row["loss/discriminator"] for row in history[-5:]]) < 2 * np.log(2)


def test_loaded_run_reproduces_samples_without_data(trained_run):
    loaded = Run.load(trained_run.directory, device="cpu")
    first, categories = loaded.sample(50, category=3, seed=7)
    again, _ = trained_run.sample(50, category=3, seed=7)
    assert torch.equal(first, again)
    assert (categories[:, 0] == 3).all()
    assert torch.equal(loaded.prior, trained_run.prior)
    with pytest.raises(RunError, match="out of range"):
        loaded.sample(5, category=8)


def test_cli_evaluate_and_sample(trained_run, tmp_path, capsys):
    assert main(["evaluate", str(trained_run.directory)]) == 0
    assert "three_sigma_share" in capsys.readouterr().out
    out = tmp_path / "samples.csv"
    assert main(["sample", str(trained_run.directory), "--category", "2", "-n", "20", "--out", str(out)]) == 0
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    assert table.shape == (20, 3) and (table[:, 2] == 2).all()
    assert main(["sample", str(trained_run.directory), "-n", "10", "--out", str(tmp_path / "all.npz")]) == 0
    assert np.load(tmp_path / "all.npz")["samples"].shape == (10, 2)


def test_cli_train_writes_a_run_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "cli-run"
    arguments = ["train", "gaussians2d", "--out", str(out), "--quiet", "--seed", "3",
                 "--set", "train.steps=3", "--set", "network.hidden_dim=8", "--set", "train.eval_samples=200"]
    assert main(arguments) == 0
    assert "seed: 3" in (out / "config.yaml").read_text()
    weights = (out / "checkpoints/model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(arguments) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "checkpoints/model.safetensors").read_bytes() == weights
    assert main(arguments + ["--overwrite"]) == 0


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["train", "gaussians2d", "--set", "method.num_categories=1"], "method.num_categories"),
        (["train", "no-such-preset"], "unknown config"),
        (["evaluate", "/nonexistent/run"], "not a complete run directory"),
        (["sample", "/nonexistent/run", "--out", "x.txt"], "--out"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_corrupt_weights_are_reported(trained_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained_run.directory, copy)
    (copy / "checkpoints/model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(RunError, match="cannot load weights"):
        Run.load(copy)


@pytest.mark.parametrize("name", ["vcagan", "infogan", "vanilla"])
def test_every_method_trains_and_evaluates(name, tmp_path):
    run = train(tiny(name, "train.steps=20"), tmp_path / name, progress=False)
    assert 0.0 <= run.metrics["three_sigma_share"] <= 1.0
    assert (run.directory / "plots/samples.png").is_file()


def test_python_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "cgpgan", "presets"], capture_output=True, text=True, check=True)
    assert "gaussians2d" in result.stdout.split()
