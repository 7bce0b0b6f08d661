"""Runs that survive: exact resume, checkpoints, crashes, malicious files, divergence,
full disks."""

import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cgpgan import RunError, load_config, stats, train
from cgpgan.cli import main
from cgpgan.errors import TrainingDiverged
from cgpgan.storage import load_tensors
from cgpgan.training import checkpoint
from cgpgan.training.guard import FOLD_EVERY, DivergenceGuard
from tests.conftest import tiny

ROOT = Path(__file__).resolve().parents[1]


# small 2-D runs for the subprocess tests, as `--set` arguments
SMALL_SIZES = [
    "--set",
    "network.hidden_dim=16",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.eval_samples=500",
    "--set",
    "data.num_samples=2000",
]


def train_command(directory: Path, overrides: list[str]) -> list[str]:
    """`python -m cgpgan train gaussians2d` into `directory`, quietly, with `overrides`."""
    return [
        sys.executable,
        "-m",
        "cgpgan",
        "train",
        "gaussians2d",
        "--out",
        str(directory),
        "--quiet",
        *overrides,
    ]


def resume_command(directory: Path) -> list[str]:
    return [sys.executable, "-m", "cgpgan", "train", "--resume", str(directory), "--quiet"]


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_tensors(directory / "checkpoints" / "model.safetensors")


def assert_bitwise_equal(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


METHOD_EXTRAS = {
    "mhgan": ["data.labelled_fraction=0.5"],
    "structural": ["method.bank_size=20", "method.embedding_dim=8", "method.neighbours=2"],
}


@pytest.mark.parametrize(
    "method, normalization",
    [
        *((name, "none") for name in ("cgpgan", "vcagan", "infogan", "vanilla")),
        # spectral norm's power-iteration vectors must be checkpointed; GN/PGN and the
        # consistency moves draw nothing outside the checkpointed generators
        *(("cgpgan", name) for name in ("spectral", "gn", "pgn")),
        ("vcagan", "spectral"),
        # labels revealed for some items: the labelled batches come from the data stream
        ("mhgan", "none"),
        # the memory bank and the moving-average critic are training state
        ("structural", "none"),
    ],
)
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(method, normalization, tmp_path):
    overrides = [  # tiny: a 2-step warm-up
        "train.steps=12",
        "train.checkpoint_every=4",
        f"method.critic_normalization={normalization}",
        *(["method.consistency_weight=5"] if normalization != "none" else []),
        *METHOD_EXTRAS.get(method, []),
    ]
    train(tiny(method, *overrides), tmp_path / "whole", progress=False, evaluate=False)
    stopped = train(
        tiny(method, *overrides, "train.stop_after=6"),
        tmp_path / "split",
        progress=False,
        evaluate=False,
    )
    assert stopped.info["step"] == 6 and not stopped.metrics
    assert not (tmp_path / "split" / "checkpoints" / "model.safetensors").exists()
    train(None, tmp_path / "split", resume=True, progress=False, evaluate=False)
    assert_bitwise_equal(weights(tmp_path / "whole"), weights(tmp_path / "split"))
    # the log has each step once, as in the uninterrupted run
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, 13))


def test_resume_of_an_image_run_with_augmentation_is_exact(tmp_path):
    overrides = [
        "data.name=digits",
        "network.channels=4",
        "network.max_channels=8",
        "network.latent_dim=4",
        "method.num_categories=4",
        "method.real_consistency_weight=1",
        "method.augment_rotation=10",
        "train.steps=6",
        "train.checkpoint_every=2",
        "train.batch_size=8",
        "method.warmup_steps=2",
        "train.eval_baselines=false",
    ]
    train(load_config(None, overrides), tmp_path / "whole", progress=False, evaluate=False)
    train(
        load_config(None, [*overrides, "train.stop_after=3"]),
        tmp_path / "split",
        progress=False,
        evaluate=False,
    )
    train(None, tmp_path / "split", resume=True, progress=False, evaluate=False)
    assert_bitwise_equal(weights(tmp_path / "whole"), weights(tmp_path / "split"))


def test_resume_with_batch_norm_and_a_generator_learning_rate_is_exact(tmp_path):
    overrides = [
        "data.name=digits",
        "network.channels=4",
        "network.max_channels=8",
        "network.latent_dim=4",
        "method.num_categories=4",
        "network.generator_batch_norm=true",
        "network.critic_batch_norm=true",
        "network.tanh_output=true",
        "train.generator_learning_rate=0.003",
        "train.steps=6",
        "train.checkpoint_every=2",
        "train.batch_size=8",
        "method.warmup_steps=2",
        "train.eval_baselines=false",
    ]
    train(load_config(None, overrides), tmp_path / "whole", progress=False, evaluate=False)
    train(
        load_config(None, [*overrides, "train.stop_after=3"]),
        tmp_path / "split",
        progress=False,
        evaluate=False,
    )
    train(None, tmp_path / "split", resume=True, progress=False, evaluate=False)
    assert_bitwise_equal(weights(tmp_path / "whole"), weights(tmp_path / "split"))


def test_checkpoints_keep_the_last_n_and_the_best(tmp_path):
    config = tiny(
        "cgpgan",
        "train.steps=10",
        "train.checkpoint_every=1",
        "train.keep_checkpoints=2",
        "train.best_metric=loss/generator",
        "train.best_mode=min",
    )
    train(config, tmp_path / "run", progress=False, evaluate=False)
    steps = checkpoint.checkpoint_steps(tmp_path / "run")
    best = json.loads((tmp_path / "run" / "checkpoints" / "step_000000010.json").read_text())[
        "best"
    ]
    assert steps[-2:] == [9, 10] and best["step"] in steps and len(steps) <= 3
    meta = json.loads((tmp_path / "run" / "checkpoints" / "step_000000010.json").read_text())
    assert meta["config"] == config.to_dict() and meta["format_version"] == 1 and meta["step"] == 10
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert best["value"] == min(row["loss/generator"] for row in rows)


def test_finished_runs_and_non_runs_are_not_resumed(tmp_path, capsys):
    train(tiny("cgpgan"), tmp_path / "done", progress=False)
    assert main(["train", "--resume", str(tmp_path / "done")]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["train", "gaussians2d", "--resume", str(tmp_path / "done")]) == 2
    assert "takes no CONFIG" in capsys.readouterr().err


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    overrides = ["train.steps=8", "train.checkpoint_every=2", "train.stop_after=6"]
    train(tiny("cgpgan", *overrides), tmp_path / "run", progress=False, evaluate=False)
    newest = tmp_path / "run" / "checkpoints" / "step_000000006.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])  # torn write
    found = checkpoint.latest_checkpoint(tmp_path / "run")
    assert found is not None and found[0] == 4
    run = train(None, tmp_path / "run", resume=True, progress=False, evaluate=False)
    assert run.info["step"] == 8


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp") / f"cgpgan-payload-ran-{os.getpid()}"


def test_a_pickle_in_place_of_a_checkpoint_is_refused_and_never_runs(tmp_path, capsys):
    MARKER.unlink(missing_ok=True)
    run = train(
        tiny("cgpgan", "train.steps=4", "train.checkpoint_every=2"),
        tmp_path / "run",
        progress=False,
    )
    malicious = pickle.dumps({"weights": Payload()})
    for target in ("checkpoints/model.safetensors", "checkpoints/step_000000004.safetensors"):
        (run.directory / target).write_bytes(malicious)
    assert main(["evaluate", str(run.directory)]) == 2
    assert "cannot load weights" in capsys.readouterr().err
    assert checkpoint.latest_checkpoint(run.directory)[0] == 2  # the replaced one fails its hash
    with pytest.raises(RunError, match="does not match"):
        checkpoint.load_checkpoint(run.directory, 4)
    # even with a matching description, safetensors refuses the pickle
    description = run.directory / "checkpoints" / "step_000000004.json"
    meta = json.loads(description.read_text())
    meta["sha256"] = checkpoint._sha256(
        run.directory / "checkpoints" / "step_000000004.safetensors"
    )
    description.write_text(json.dumps(meta))
    with pytest.raises(RunError, match="not a safetensors file"):
        checkpoint.load_checkpoint(run.directory, 4)
    assert not MARKER.exists()


def test_yaml_configs_are_loaded_safely(tmp_path):
    from cgpgan.errors import ConfigError

    evil = tmp_path / "evil.yaml"
    evil.write_text(f"seed: !!python/object/apply:os.system ['touch {MARKER}']\n")
    with pytest.raises(ConfigError):
        load_config(evil)
    assert not MARKER.exists()


def test_non_finite_loss_stops_with_its_name_and_step_and_keeps_the_checkpoint(tmp_path):
    config = tiny("cgpgan", "train.steps=10", "train.checkpoint_every=3")
    bad_step = 7
    poisoned_once = {"count": 0}

    def poisoned(method_class):
        original = method_class.training_losses

        def training_losses(self, batch, step):
            for phase, loss in original(self, batch, step):
                if phase == "classifier" and step + 1 == bad_step and poisoned_once["count"] < 1:
                    poisoned_once["count"] += 1
                    loss = loss * float("nan")
                yield phase, loss

        return training_losses

    from cgpgan.methods.cgpgan import CGPGAN

    original = CGPGAN.training_losses
    CGPGAN.training_losses = poisoned(CGPGAN)
    try:
        with pytest.raises(
            TrainingDiverged,
            match=r"classifier loss is nan at step 7.*checkpoint \(step 6\) is intact",
        ):
            train(config, tmp_path / "run", progress=False)
        assert checkpoint.latest_checkpoint(tmp_path / "run")[0] == 6
        poisoned_once["count"] = 0
        # with roll-backs allowed, it goes back to step 6 with a lower learning rate and finishes
        rolled = train(
            tiny(
                "cgpgan", "train.steps=10", "train.checkpoint_every=3", "train.divergence_retries=1"
            ),
            tmp_path / "again",
            progress=False,
        )
    finally:
        CGPGAN.training_losses = original
    assert rolled.info["step"] == 10
    meta = json.loads((tmp_path / "again" / "checkpoints" / "step_000000010.json").read_text())
    assert meta["rollbacks"] == 1
    assert meta["optimizers"]["classifier"][0]["lr"] == pytest.approx(
        tiny("cgpgan").train.learning_rate * 0.5
    )


def test_divergence_found_between_logs_names_its_step_and_is_never_checkpointed(tmp_path):
    """The losses are read back only at log steps and before checkpoints: a NaN at step 7
    with logs every 100 steps is found before the checkpoint of step 9, which is not
    written, and still named with its own step."""
    from cgpgan.methods.cgpgan import CGPGAN

    config = tiny("cgpgan", "train.steps=12", "train.checkpoint_every=3", "train.log_every=100")
    original = CGPGAN.training_losses

    def training_losses(self, batch, step):
        for phase, loss in original(self, batch, step):
            yield phase, loss * float("nan") if phase == "generator" and step == 6 else loss

    CGPGAN.training_losses = training_losses
    try:
        with pytest.raises(
            TrainingDiverged, match=r"generator loss is nan at step 7.*checkpoint \(step 6\)"
        ):
            train(config, tmp_path / "run", progress=False)
    finally:
        CGPGAN.training_losses = original
    assert checkpoint.checkpoint_steps(tmp_path / "run") == [3, 6]


def test_full_disk_while_checkpointing_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    from cgpgan import storage

    config = tiny("cgpgan", "train.steps=6", "train.checkpoint_every=2")
    calls = {"n": 0}
    real_save = storage.save_file

    def failing_save(tensors, path):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(path, "wb") as handle:
                handle.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(tensors, path)

    monkeypatch.setattr(storage, "save_file", failing_save)
    with pytest.raises(RunError, match="No space left on device.*previous version is unchanged"):
        train(config, tmp_path / "run", progress=False)
    folder = tmp_path / "run" / "checkpoints"
    assert not list(folder.glob(".*.tmp"))
    assert checkpoint.latest_checkpoint(tmp_path / "run")[0] == 2
    monkeypatch.setattr(storage, "save_file", real_save)
    assert train(None, tmp_path / "run", resume=True, progress=False).info["step"] == 6


def test_kill_9_at_random_moments_always_resumes(tmp_path):
    """Start a run, kill -9 it at a random moment once it is training (checkpoints are
    written every step, so kills also land inside writes), resume; repeat. The run always
    resumes, finishes, and ends with the weights of an uninterrupted run."""
    rng = random.Random(0)
    directory = tmp_path / "run"
    overrides = ["--set", "train.steps=400", "--set", "train.checkpoint_every=1", *SMALL_SIZES]
    command = train_command(directory, overrides)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    trials = 5
    for trial in range(trials):
        before = max(checkpoint.checkpoint_steps(directory), default=0)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 120
        while (
            max(checkpoint.checkpoint_steps(directory), default=0) <= before
            and process.poll() is None
            and time.time() < deadline
        ):
            time.sleep(0.01)  # until it trains and writes checkpoints
        time.sleep(rng.random() * 0.5)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # whatever the moment, the newest complete checkpoint (if any) loads and verifies
        steps = checkpoint.checkpoint_steps(directory)
        if steps:
            assert checkpoint.latest_checkpoint(directory) is not None
        command = resume_command(directory)
    finished = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    assert json.loads((directory / "metrics.json").read_text())["step"] == 400
    steps = [
        json.loads(line)["step"] for line in (directory / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == sorted(set(steps))  # no step logged twice
    whole = tmp_path / "whole"
    subprocess.run(
        train_command(whole, overrides),
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert_bitwise_equal(weights(whole), weights(directory))


def test_interrupted_evaluate_leaves_the_old_metrics(tmp_path, monkeypatch, capsys):
    run = train(tiny("cgpgan"), tmp_path / "run", progress=False)
    before = (run.directory / "metrics.json").read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("cgpgan.metrics.registry.mode_metrics", interrupted)
    assert main(["evaluate", str(run.directory)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert (run.directory / "metrics.json").read_text() == before
    assert not list(run.directory.glob(".*.tmp"))


def test_an_evaluation_that_fails_keeps_the_checkpoint_of_its_step(tmp_path, monkeypatch):
    config = tiny("cgpgan", "train.steps=4", "train.checkpoint_every=2", "train.eval_every=2")

    def failing(run, dataset, step):
        raise RuntimeError(f"evaluation failed at step {step}")

    monkeypatch.setattr("cgpgan.training.loop._evaluate_now", failing)
    with pytest.raises(RuntimeError, match="at step 2"):
        train(config, tmp_path / "run", progress=False)
    assert checkpoint.checkpoint_steps(tmp_path / "run") == [2]
    monkeypatch.undo()
    assert train(config, tmp_path / "run", progress=False, resume=True).info["step"] == 4


def test_bad_data_never_touches_an_existing_run_directory(tmp_path, capsys):
    run = train(tiny("cgpgan"), tmp_path / "run", progress=False)
    files = {path: path.read_bytes() for path in run.directory.rglob("*") if path.is_file()}
    code = main(
        [
            "train",
            "digits",
            "--out",
            str(run.directory),
            "--overwrite",
            "--set",
            "data.name=npz",
            "--set",
            f"data.path={tmp_path / 'missing.npz'}",
        ]
    )
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert files == {path: path.read_bytes() for path in run.directory.rglob("*") if path.is_file()}


SMALL_2D = [
    *SMALL_SIZES,
    "--set",
    "train.log_every=1",
]


@pytest.mark.parametrize("signal_number, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_checkpoints_the_last_step_and_resume_equals_an_uninterrupted_run(
    signal_number, exit_code, tmp_path
):
    """No periodic checkpoint is due (every 1,000 steps); the signal arrives at a random
    step; the run writes a checkpoint of the step it finished, exits 130/143, says how
    to resume, and resuming ends bitwise equal to a run never interrupted."""
    directory = tmp_path / "run"
    overrides = ["--set", "train.steps=300", *SMALL_2D]
    command = train_command(directory, overrides)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    at_least = random.Random(signal_number).randint(5, 60)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log, deadline = directory / "metrics.jsonl", time.time() + 120
    while (
        not log.is_file() or len(log.read_text().splitlines()) < at_least
    ) and time.time() < deadline:
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.005)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    stopped_at = json.loads((directory / "run.json").read_text())["step"]
    assert at_least <= stopped_at < 300
    assert checkpoint.checkpoint_steps(directory) == [stopped_at]
    assert f"stopped at step {stopped_at}" in stderr and f"train --resume {directory}" in stderr
    resumed = subprocess.run(
        resume_command(directory),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {directory} from step {stopped_at} of 300" in resumed.stderr
    whole = tmp_path / "whole"
    subprocess.run(
        train_command(whole, overrides),
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert_bitwise_equal(weights(whole), weights(directory))
    final = checkpoint.latest_checkpoint(directory)[1]
    assert_bitwise_equal(checkpoint.latest_checkpoint(whole)[1], final)


def test_every_saved_state_of_a_resumed_run_equals_the_uninterrupted_runs(tmp_path):
    """Checkpoints too, the global random state included, even when the two runs start
    from different global random states (as separate processes do)."""
    overrides = ["train.steps=12", "train.checkpoint_every=4"]
    torch.manual_seed(1)
    train(tiny("cgpgan", *overrides), tmp_path / "whole", progress=False, evaluate=False)
    torch.manual_seed(2)
    train(
        tiny("cgpgan", *overrides, "train.stop_after=6"),
        tmp_path / "split",
        progress=False,
        evaluate=False,
    )
    torch.manual_seed(3)
    train(None, tmp_path / "split", resume=True, progress=False, evaluate=False)
    for step in (8, 12):
        whole, _ = checkpoint.load_checkpoint(tmp_path / "whole", step)
        split, _ = checkpoint.load_checkpoint(tmp_path / "split", step)
        assert_bitwise_equal(whole, split)


def test_a_finished_run_is_extended_by_raising_its_steps(tmp_path, capsys):
    overrides = ["train.checkpoint_every=4"]
    train(tiny("cgpgan", "train.steps=12", *overrides), tmp_path / "whole", progress=False)
    directory = tmp_path / "short"
    train(tiny("cgpgan", "train.steps=6", *overrides), directory, progress=False)
    capsys.readouterr()
    # settings that would change what the run has learnt are refused, naming the key
    assert main(["train", "--resume", str(directory), "--set", "method.lambda_cgp=5"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "method.lambda_cgp: cannot be changed when resuming" in error
    assert main(["train", "--resume", str(directory), "--set", "train.steps=4"]) == 2
    assert "already at step 6" in capsys.readouterr().err
    # part way, the old final weights and metrics are gone (the checkpoint of step 6 has them)
    assert (
        main(
            [
                "train",
                "--resume",
                str(directory),
                "--quiet",
                "--set",
                "train.steps=12",
                "--set",
                "train.stop_after=9",
            ]
        )
        == 0
    )
    assert not (directory / "metrics.json").exists()
    assert not (directory / "checkpoints" / "model.safetensors").exists()
    assert main(["train", "--resume", str(directory), "--quiet"]) == 0
    assert "resuming" in capsys.readouterr().err
    assert_bitwise_equal(weights(tmp_path / "whole"), weights(directory))
    assert load_config(directory / "config.yaml").train.steps == 12
    assert json.loads((directory / "metrics.json").read_text())["step"] == 12


def test_resuming_a_run_without_a_checkpoint_starts_it_again_and_says_so(tmp_path, capsys):
    overrides = ["train.steps=4", "train.checkpoint_every=2"]
    torch.manual_seed(1)
    train(tiny("cgpgan", *overrides), tmp_path / "whole", progress=False, evaluate=False)
    directory = tmp_path / "run"
    train(
        tiny("cgpgan", *overrides, "train.stop_after=2"), directory, progress=False, evaluate=False
    )
    for path in (directory / "checkpoints").iterdir():
        path.unlink()
    capsys.readouterr()
    torch.manual_seed(2)
    train(None, directory, resume=True, progress=False, evaluate=False)
    assert "has no checkpoint yet; training it from step 0" in capsys.readouterr().err
    for step in (2, 4):  # every saved state, the global random state included
        assert_bitwise_equal(
            checkpoint.load_checkpoint(tmp_path / "whole", step)[0],
            checkpoint.load_checkpoint(directory, step)[0],
        )


def test_a_second_signal_stops_at_once_and_the_handlers_come_back():
    from cgpgan.errors import TrainingInterrupted
    from cgpgan.training.signals import stop_on_signals

    before = signal.getsignal(signal.SIGINT)
    with stop_on_signals() as request:
        os.kill(os.getpid(), signal.SIGINT)
        assert request.requested and request.signal_number == signal.SIGINT
        with pytest.raises(TrainingInterrupted):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_hard_stop_between_checkpoints_records_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    """A second signal cuts the run short at step 5; the newest checkpoint is of step 4,
    and that is what run.json, the message and the exception say."""
    from cgpgan.errors import TrainingInterrupted
    from cgpgan.training.loop import Trainer

    one_step = Trainer._one_step

    def step_then_stop(self):
        if self.step == 5:
            raise TrainingInterrupted(signal.SIGINT)
        one_step(self)

    monkeypatch.setattr(Trainer, "_one_step", step_then_stop)
    directory = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as stopped:
        train(
            tiny("cgpgan", "train.steps=8", "train.checkpoint_every=2"), directory, progress=False
        )
    assert stopped.value.step == 4 and stopped.value.checkpoint == checkpoint.checkpoint_path(
        directory, 4
    )
    assert json.loads((directory / "run.json").read_text())["step"] == 4
    assert "stopped at step 4; checkpoint" in capsys.readouterr().err
    assert not list(directory.rglob("*.tmp"))


def test_a_stopped_run_records_its_step(tmp_path):
    directory = tmp_path / "run"
    train(tiny("cgpgan", "train.steps=8", "train.stop_after=3"), directory, progress=False)
    assert json.loads((directory / "run.json").read_text())["step"] == 3


def test_the_guard_names_the_first_bad_loss_across_folds():
    guard = DivergenceGuard(["discriminator", "generator"], torch.device("cpu"))
    weights = {"g": torch.optim.SGD([torch.nn.Parameter(torch.ones(2))])}
    for step in range(FOLD_EVERY):  # one fold of finite losses is checked and forgotten
        guard.watch("discriminator", torch.tensor(float(step)), step)
    guard.check(weights)
    bad = FOLD_EVERY + 100  # then a bad loss after another fold, and a later one
    for step in range(FOLD_EVERY, 3 * FOLD_EVERY):
        loss = float("inf") if step == bad else float("nan") if step > bad else 1.0
        guard.watch("generator" if step == bad else "discriminator", torch.tensor(loss), step)
    with pytest.raises(TrainingDiverged, match=f"the generator loss is inf at step {bad + 1}$"):
        guard.check(weights)
    guard.check(weights)  # reset after it raised


def test_stats_are_means_since_the_last_collect_however_many_reports():
    stats.collect()
    stats.report("a", torch.tensor([1.0, 3.0]))  # a tensor counts as its mean
    stats.report("a", 4)
    for value in range(2 * stats.FOLD_EVERY + 1):  # summed into one every FOLD_EVERY
        stats.report("b", torch.tensor(value % 2 == 0))
    assert stats.collect() == {"a": 3.0, "b": (stats.FOLD_EVERY + 1) / (2 * stats.FOLD_EVERY + 1)}
    assert stats.collect() == {}
