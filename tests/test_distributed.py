"""Multi-process training under torchrun: 2 processes with gloo on the CPU.

One torchrun (the module fixture) runs every 2-process command these tests read
(tests/distributed_worker.py): each method for a few steps, a run and its resumed twin,
and a longer run to set beside a 1-process run of twice the batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cgpgan.config import save_config
from cgpgan.errors import RunError
from cgpgan.storage import load_tensors
from cgpgan.training.loop import train
from tests.conftest import tiny

METHODS = ("cgpgan", "vcagan", "infogan", "vanilla", "mhgan", "structural")
EXTRA = {"mhgan": ["data.labelled_fraction=1.0"]}
BATCH = 32  # per process; the 1-process twin has 2 * BATCH
COMPARE = [  # a run long enough for the prior to move away from uniform
    f"train.batch_size={BATCH}",
    "train.steps=150",
    "train.log_every=10",
    "method.warmup_steps=50",
    "method.prior_decay=0.9",
]
RESUMED = ["train.steps=12", "train.checkpoint_every=4", "train.log_every=4"]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Run the plan in one 2-process torchrun; returns (folder, plan labels)."""
    folder = tmp_path_factory.mktemp("ddp")
    commands: dict[str, list[str]] = {}

    def add(label: str, config, *extra: str) -> None:
        path = folder / f"{label}.yaml"
        save_config(config, path)
        commands[label] = ["train", str(path), "--out", str(folder / label), "--quiet", *extra]

    for method in METHODS:
        add(method, tiny(method, *EXTRA.get(method, [])))
    add("compare", tiny("cgpgan", *COMPARE))
    add("uninterrupted", tiny("cgpgan", *RESUMED))
    add("interrupted", tiny("cgpgan", *RESUMED, "train.stop_after=6"))
    commands["resumed"] = ["train", "--resume", str(folder / "interrupted"), "--quiet"]
    plan = folder / "plan.json"
    plan.write_text(json.dumps(list(commands.values())))
    worker = Path(__file__).with_name("distributed_worker.py")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(worker.parents[1])}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + [str(worker), str(folder), str(plan)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("[rank")]
    assert result.returncode == 0, "\n".join(errors)[-3000:] or result.stderr[-3000:]
    return folder, list(commands)


def _priors(folder: Path, index: int, rank: int) -> torch.Tensor:
    return torch.load(folder / f"priors-{index}-rank{rank}.pt")


def test_every_method_trains_under_two_processes(two_processes):
    folder, labels = two_processes
    for index, label in enumerate(labels):
        for rank in (0, 1):
            assert (folder / f"code-{index}-rank{rank}.txt").read_text() == "0", label
    for method in METHODS:
        run = folder / method
        info = json.loads((run / "run.json").read_text())
        assert info["processes"] == 2 and info["step"] == 5
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["step"] == 5
        rows = (run / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(row)["step"] for row in rows] == [1, 2, 3, 4, 5]  # one writer


def test_every_process_holds_the_same_prior_at_every_step(two_processes):
    folder, labels = two_processes
    for index, label in enumerate(labels):
        rank0, rank1 = _priors(folder, index, 0), _priors(folder, index, 1)
        assert torch.equal(rank0, rank1), label  # bitwise
    compare = _priors(folder, labels.index("compare"), 0)
    assert len(compare) == 150
    assert (compare[-1] - 0.25).abs().max() > 0.01  # it has moved: the test is not vacuous


def test_each_process_draws_its_own_samples(two_processes):
    """Rank 0 draws what a 1-process run draws; rank 1 something else."""
    folder, _ = two_processes
    for offset in (0, 1):
        rank0, rank1 = (
            json.loads((folder / f"draws-{offset}-rank{rank}.txt").read_text()) for rank in (0, 1)
        )
        assert rank0 == torch.rand(4, generator=torch.Generator().manual_seed(offset)).tolist()
        assert rank1 != rank0


def test_averaged_gradients_equal_the_whole_batch_gradients(two_processes):
    """A mean loss with a gradient penalty (double backward) on each process's half of a
    batch, averaged by the all-reduce, gives the gradients of the whole batch."""
    folder, _ = two_processes
    for rank in (0, 1):
        assert float((folder / f"gradients-rank{rank}.txt").read_text()) < 1e-6


def test_processes_agree_on_flags_as_bools_and_as_tensors(two_processes):
    """The stop signal (a bool, agreed on the host) and the divergence guard's flag (a
    tensor): false in one process means false in every process."""
    folder, _ = two_processes
    for rank in (0, 1):
        agreed = json.loads((folder / f"agreed-rank{rank}.txt").read_text())
        assert agreed == [False, True, False, True]


def test_resume_under_two_processes_is_exact(two_processes):
    folder, _ = two_processes
    interrupted = json.loads((folder / "interrupted" / "run.json").read_text())
    assert interrupted["step"] == 12
    uninterrupted = load_tensors(folder / "uninterrupted" / "checkpoints" / "model.safetensors")
    resumed = load_tensors(folder / "interrupted" / "checkpoints" / "model.safetensors")
    assert uninterrupted.keys() == resumed.keys()
    for name, value in uninterrupted.items():
        assert torch.equal(value, resumed[name]), name


def test_resume_with_another_number_of_processes_is_refused(two_processes):
    folder, _ = two_processes
    with pytest.raises(RunError, match=r"trained with 2 process\(es\).*nproc_per_node 2"):
        train(None, folder / "interrupted", resume=True, progress=False)


def test_two_processes_of_batch_b_train_like_one_of_batch_2b(two_processes, tmp_path):
    """Different samples, so not the same numbers: the same statistics within a stated
    tolerance (measured: 2-process and 1-process differences well inside it)."""
    folder, labels = two_processes
    config = tiny("cgpgan", *COMPARE, f"train.batch_size={2 * BATCH}")
    train(config, tmp_path / "single", progress=False, evaluate=False)
    rows = {}
    for name, run in (("two", folder / "compare"), ("one", tmp_path / "single")):
        lines = (run / "metrics.jsonl").read_text().splitlines()[-10:]  # steps 60-150
        rows[name] = [json.loads(line) for line in lines]
    keys = ["loss/discriminator", "loss/generator"] + [f"prior/share/{k}" for k in range(4)]
    for key in keys:
        two = sum(row[key] for row in rows["two"]) / 10
        one = sum(row[key] for row in rows["one"]) / 10
        assert abs(two - one) < (0.1 if key.startswith("prior") else 0.2), key
