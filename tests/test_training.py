"""End-to-end: a short 2-D run, its run directory, loading, sampling, the CLI."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

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
        [
            "train.steps=900",
            "method.warmup_steps=300",
            "network.hidden_dim=32",
            "train.eval_samples=4000",
            "data.num_samples=20000",
        ],
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
    for name in (
        "config.yaml",
        "run.json",
        "metrics.json",
        "metrics.jsonl",
        "checkpoints/model.safetensors",
        "plots/samples.png",
        "plots/prior.png",
        "plots/curves.png",
    ):
        assert (directory / name).is_file(), name
    assert list((directory / "tensorboard").iterdir())
    info = json.loads((directory / "run.json").read_text())
    assert info["device"] == "cpu" and info["processes"] == 1
    final = json.loads((directory / "metrics.json").read_text())
    for key in (
        "live_categories",
        "prior_error",
        "three_sigma_share",
        "min_category_purity",
        "modes_covered",
        "mode_kl",
        "prior_entropy",
        "train_seconds",
    ):
        assert key in final, key
    history = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["step"] == 900
    # the discriminator learns: its loss ends below the chance value 2 log 2
    assert np.mean([row["loss/discriminator"] for row in history[-5:]]) < 2 * np.log(2)


def test_loaded_run_reproduces_samples_without_data(trained_run):
    loaded = Run.load(trained_run.directory, device="cpu")
    live = int(loaded.prior[0].argmax())
    first, categories = loaded.sample(50, category=live, seed=7)
    again, _ = trained_run.sample(50, category=live, seed=7)
    assert torch.equal(first, again)
    assert (categories[:, 0] == live).all()
    assert torch.equal(loaded.prior, trained_run.prior)
    # the metrics of its last evaluation come with it
    assert loaded.metrics == json.loads((trained_run.directory / "metrics.json").read_text())
    with pytest.raises(RunError, match="out of range"):
        loaded.sample(5, category=8)


def test_cli_evaluate_and_sample(trained_run, tmp_path, capsys):
    assert main(["evaluate", str(trained_run.directory)]) == 0
    assert "three_sigma_share" in capsys.readouterr().out
    out = tmp_path / "samples.csv"
    assert (
        main(
            ["sample", str(trained_run.directory), "--category", "2", "-n", "20", "--out", str(out)]
        )
        == 0
    )
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    assert table.shape == (20, 3) and (table[:, 2] == 2).all()
    assert (
        main(["sample", str(trained_run.directory), "-n", "10", "--out", str(tmp_path / "all.npz")])
        == 0
    )
    assert np.load(tmp_path / "all.npz")["samples"].shape == (10, 2)


def test_cli_train_writes_a_run_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "cli-run"
    arguments = [
        "train",
        "gaussians2d",
        "--out",
        str(out),
        "--quiet",
        "--seed",
        "3",
        "--set",
        "train.steps=3",
        "--set",
        "network.hidden_dim=8",
        "--set",
        "train.eval_samples=200",
    ]
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
    result = subprocess.run(
        [sys.executable, "-m", "cgpgan", "presets"], capture_output=True, text=True, check=True
    )
    assert "gaussians2d" in result.stdout.split()


def test_cluster_points_from_a_file_keeps_order_and_coordinates(trained_run, tmp_path, capsys):
    points = np.array([[-2.0, 2.0], [2.0, 1.0], [0.0, -2.0], [1.0, -1.0], [-2.1, 1.9]])
    np.savez(tmp_path / "points.npz", points=points)
    np.savetxt(tmp_path / "points.csv", points, delimiter=",", header="x0,x1", comments="")
    expected, _ = trained_run.cluster(torch.tensor(points, dtype=torch.float32))
    for name in ("points.npz", "points.csv"):
        out = tmp_path / f"{name}.out.csv"
        assert (
            main(
                [
                    "cluster",
                    str(trained_run.directory),
                    "--data",
                    str(tmp_path / name),
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        table = np.loadtxt(out, delimiter=",", skiprows=1)
        assert out.read_text().splitlines()[0] == "item,x0,x1,category0,confidence0"
        assert table.shape == (5, 5) and (table[:, 0] == np.arange(5)).all()
        np.testing.assert_allclose(table[:, 1:3], points, atol=1e-5)
        assert (table[:, 3] == expected[:, 0].numpy()).all()
    np.save(tmp_path / "wrong.npy", np.zeros((4, 3)))
    assert (
        main(
            [
                "cluster",
                str(trained_run.directory),
                "--data",
                str(tmp_path / "wrong.npy"),
                "--out",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert "expected points of shape [N, 2], got [4, 3]" in capsys.readouterr().err
    # without --data: the run's own points, with their coordinates
    assert (
        main(
            [
                "cluster",
                str(trained_run.directory),
                "--set",
                "data.num_samples=50",
                "--out",
                str(tmp_path / "own.csv"),
            ]
        )
        == 0
    )
    assert np.loadtxt(tmp_path / "own.csv", delimiter=",", skiprows=1).shape == (50, 5)


def test_the_api_speaks_python_and_the_cli_speaks_flags(trained_run, capsys):
    with pytest.raises(RunError, match="resume=True.*overwrite=True"):
        train(load_config("gaussians2d", ["train.steps=2"]), trained_run.directory, progress=False)
    assert main(["train", "gaussians2d", "--out", str(trained_run.directory), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "--resume" in error and "--overwrite" in error and "resume=True" not in error


def test_printed_metrics_show_live_categories_by_prior_and_count_dead_ones():
    from cgpgan.metrics.summary import format_metrics

    metrics = {
        "live_categories": 2,
        "prior_entropy": 0.6931471805599453,
        "mode_kl": 0.000123456,
        "prior": [0.3, 0.0, 0.7, 0.001],
        "category_purity": [0.9, 0.814, 1.0, 0.5],
        "category_mode": [1, 0, 2, 3],
    }
    text = format_metrics(metrics)
    assert re.search(r"prior_entropy +0.6931\n", text) and "0.000123" in text
    rows = [
        line.split()
        for line in text.splitlines()
        if line.startswith("  ") and line.split()[0].isdigit()
    ]
    assert [row[0] for row in rows] == ["2", "0"]  # live only, by prior
    assert "dead categories (prior < 1%): 2 (1, 3)" in text and "0.814" not in text


def test_threads_follow_the_work_and_explicit_choices(monkeypatch):
    from cgpgan.threads import choose_threads, usable_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(load_config("gaussians2d")) == (1, "small network")
    assert choose_threads(load_config("digits")) == (usable_cores(), "convolutional network")
    assert choose_threads(load_config("digits", ["train.threads=3"])) == (3, "train.threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_threads(load_config("gaussians2d")) == (2, "OMP_NUM_THREADS")
    assert choose_threads(load_config("gaussians2d", ["train.threads=1"]))[0] == 1


def test_training_uses_the_chosen_threads_and_gives_back_the_callers(monkeypatch, tmp_path):
    from cgpgan.training.loop import Trainer

    seen, one_step = [], Trainer._one_step

    def recording_step(self):
        seen.append(torch.get_num_threads())
        one_step(self)

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(Trainer, "_one_step", recording_step)
    before = torch.get_num_threads()
    train(
        tiny("cgpgan", "train.steps=2", "train.threads=2"),
        tmp_path / "run",
        progress=False,
        evaluate=False,
    )
    assert seen == [2, 2] and torch.get_num_threads() == before


@pytest.mark.parametrize("launcher", ["module", "wrapper"])
def test_printed_commands_use_the_form_the_user_typed(launcher, tmp_path):
    """`python -m cgpgan` prints `... -m cgpgan train --resume`, `./cgpgan.sh` prints
    `./cgpgan.sh train --resume`: commands that work where the user is."""
    root = Path(__file__).resolve().parents[1]
    environment = {k: v for k, v in os.environ.items() if k != "CGPGAN_COMMAND"}
    start = [sys.executable, "-m", "cgpgan"] if launcher == "module" else ["./cgpgan.sh"]
    overrides = [
        "--set",
        "train.steps=4",
        "--set",
        "train.stop_after=2",
        "--set",
        "network.hidden_dim=8",
        "--quiet",
    ]
    result = subprocess.run(
        [*start, "train", "gaussians2d", "--out", str(tmp_path / "run"), *overrides],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    typed = f"{sys.executable} -m cgpgan" if launcher == "module" else "./cgpgan.sh"
    if launcher == "module" and Path(sys.executable).is_relative_to(root):
        typed = f"{Path(sys.executable).relative_to(root)} -m cgpgan"
    assert f"continue with: {typed} train --resume {tmp_path / 'run'}" in result.stdout
