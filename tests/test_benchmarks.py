"""The benchmark scripts' shared runner (benchmarks/common.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from common import Job, finished_jobs, make_jobs, mean_std_table, run_all, table_runs  # noqa: E402

TINY = [
    "network.hidden_dim=16",
    "network.depth=2",
    "network.latent_dim=4",
    "method.num_categories=4",
    "train.steps=4",
    "train.batch_size=8",
    "train.eval_samples=400",
    "data.num_samples=1000",
]


def run_job(job: Job) -> dict:
    return run_all([job], workers=1)[job.label][0]


def test_a_finished_run_is_reused_only_with_the_same_training_settings(tmp_path):
    directory = str(tmp_path / "run")
    first = run_job(Job("tiny", None, TINY, 0, directory))
    checkpoints = sorted((tmp_path / "run").rglob("*"))

    # the same settings, and settings that only change what is logged or how many cores
    # train: reused, nothing retrained
    assert run_job(Job("tiny", None, TINY, 0, directory)) == first
    assert (
        run_job(Job("tiny", None, [*TINY, "train.eval_every=2", "train.log_every=1"], 0, directory))
        == first
    )
    assert run_job(Job("tiny", None, [*TINY, "train.threads=1"], 0, directory)) == first
    assert sorted((tmp_path / "run").rglob("*")) == checkpoints

    # another training setting or seed: refused, naming the run and the key
    with pytest.raises(SystemExit, match=r"run: finished with method.lambda_cgp=.*but 5.0"):
        run_job(Job("tiny", None, [*TINY, "method.lambda_cgp=5"], 0, directory))
    with pytest.raises(SystemExit, match="seed=0"):
        run_job(Job("tiny", None, TINY, 1, directory))


def test_a_stale_run_stops_the_benchmark_before_it_trains_anything(tmp_path):
    run_job(Job("tiny", None, TINY, 0, str(tmp_path / "finished")))
    jobs = [
        Job("tiny", None, TINY, 0, str(tmp_path / "new")),
        Job("tiny", None, [*TINY, "train.steps=6"], 0, str(tmp_path / "finished")),
    ]
    with pytest.raises(
        SystemExit,
        match=r"error: .*finished: finished with train.steps=4, but 6 is asked for",
    ):
        run_all(jobs, workers=1)
    assert not (tmp_path / "new").exists()


def test_a_table_shows_the_finished_runs_and_leaves_stale_ones_out_with_a_note(tmp_path, capsys):
    run_job(Job("tiny", None, TINY, 0, str(tmp_path / "finished")))
    jobs = [
        Job("tiny", None, TINY, 0, str(tmp_path / "finished")),
        Job("tiny", None, TINY, 1, str(tmp_path / "not-trained")),
        Job("changed", None, [*TINY, "train.steps=6"], 0, str(tmp_path / "finished")),
    ]
    [(job, metrics)] = finished_jobs(jobs)
    assert job is jobs[0] and metrics["step"] == 4
    assert "left out of the table: " in capsys.readouterr().out


def test_a_table_made_with_fewer_seeds_keeps_the_seeds_earlier_calls_trained(tmp_path):
    rows = {"kept": (None, TINY), "new row": (None, [*TINY, "method.lambda_cgp=0.5"])}
    runs = str(tmp_path)
    run_all(make_jobs({"kept": rows["kept"]}, 2, runs, []), workers=1)  # an earlier call

    shown = table_runs(make_jobs(rows, 1, runs, []), only=["new row"], workers=1)

    assert [job.seed for job, _ in shown["kept"]] == [0, 1]
    assert [job.seed for job, _ in shown["new row"]] == [0]
    assert not (tmp_path / "new-row-seed1").exists()  # nothing trained beyond --seeds
    table = mean_std_table({label: [m for _, m in row] for label, row in shown.items()}, ["step"])
    assert "| kept | 2 | 4.0000 ± 0.0000 |" in table.splitlines()


def test_a_stopped_benchmark_says_so_in_one_line_and_exits_as_the_signal_asks(
    tmp_path, monkeypatch, capsys
):
    import common

    from cgpgan.errors import TrainingInterrupted

    def stopped(*args, **kwargs):
        raise TrainingInterrupted(15)

    monkeypatch.setattr(common.sweep, "train_all", stopped)
    with pytest.raises(SystemExit) as exit_info:
        run_all([Job("tiny", None, TINY, 0, str(tmp_path / "run"))], workers=1)
    assert exit_info.value.code == 143
    assert capsys.readouterr().out.startswith("stopped: the unfinished runs kept their checkpoints")


@pytest.mark.parametrize(
    "script",
    [
        "gaussians2d_comparison",
        "mnist_clustering",
        "imbalance",
        "normalization",
        "mhgan",
        "structural",
    ],
)
def test_every_benchmark_configuration_is_a_valid_config(script):
    """A typo in a benchmark's overrides (or a key its method lacks) fails here, not after
    an hour of training the rows before it."""
    import importlib

    from common import job_config, make_jobs

    module = importlib.import_module(script)
    configurations = {
        **getattr(module, "CONFIGURATIONS", {}),
        **getattr(module, "IMAGES", {}),
        **getattr(module, "POINTS", {}),
        **getattr(module, "MHGAN_ROWS", {}),
        **getattr(module, "OTHER_ROWS", {}),
    }
    assert configurations
    for job in make_jobs(configurations, 1, "runs", []):
        job_config(job)


def test_every_selection_sweep_plans_valid_configs():
    from selection import SWEEPS

    from cgpgan.sweep import plan

    for preset, overrides, grid, seeds in SWEEPS.values():
        assert plan(preset, seeds, grid, overrides)
