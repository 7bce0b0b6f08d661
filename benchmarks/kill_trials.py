"""Crash-safety trials: kill -9 a training run at random moments, resume it, repeat;
then check that it finishes with weights bitwise equal to an uninterrupted run.

    .venv/bin/python benchmarks/kill_trials.py --trials 20

A checkpoint is written every step, so many kills land during a checkpoint write; a
trial counts as "killed during a write" when a temporary or undescribed tensors file was
left behind. Prints one line per trial and a summary.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgpgan.storage import load_tensors  # noqa: E402
from cgpgan.training import checkpoint  # noqa: E402

SETTINGS = [
    "train.steps=600",
    "train.checkpoint_every=1",
    "network.hidden_dim=16",
    "train.batch_size=16",
    "train.eval_samples=500",
    "data.num_samples=2000",
]


def train_gaussians2d(directory: Path) -> list[str]:
    """`python -m cgpgan train gaussians2d` into `directory`, quietly."""
    return [
        sys.executable,
        "-m",
        "cgpgan",
        "train",
        "gaussians2d",
        "--out",
        str(directory),
        "--quiet",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    overrides = [item for setting in SETTINGS for item in ("--set", setting)]
    with tempfile.TemporaryDirectory() as folder:
        crashed, whole = Path(folder) / "crashed", Path(folder) / "whole"
        command = [*train_gaussians2d(crashed), *overrides]
        during_write = resumable = 0
        for trial in range(args.trials):
            before = max(checkpoint.checkpoint_steps(crashed), default=0)
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            while (
                max(checkpoint.checkpoint_steps(crashed), default=0) <= before
                and process.poll() is None
            ):
                time.sleep(0.01)  # until it trains and writes checkpoints
            time.sleep(rng.random() * 0.5)
            process.send_signal(signal.SIGKILL)
            process.wait()
            folder_files = (
                list((crashed / "checkpoints").glob("*"))
                if (crashed / "checkpoints").is_dir()
                else []
            )
            described = {f"step_{s:09d}.safetensors" for s in checkpoint.checkpoint_steps(crashed)}
            torn = any(
                p.name.endswith(".tmp")
                or (
                    p.suffix == ".safetensors"
                    and p.name.startswith("step_")
                    and p.name not in described
                )
                for p in folder_files
            )
            latest = checkpoint.latest_checkpoint(crashed)
            ok = latest is not None or not checkpoint.checkpoint_steps(crashed)
            during_write += torn
            resumable += ok
            print(
                f"trial {trial + 1}: killed at step {latest[0] if latest else 0}, "
                f"during a write: {torn}, newest checkpoint loads: {ok}"
            )
            command = [sys.executable, "-m", "cgpgan", "train", "--resume", str(crashed), "--quiet"]
        finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        subprocess.run(
            [*train_gaussians2d(whole), *overrides],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
        )
        first, second = (
            load_tensors(crashed / "checkpoints" / "model.safetensors"),
            load_tensors(whole / "checkpoints" / "model.safetensors"),
        )
        equal = first.keys() == second.keys() and all(
            bool((first[k] == second[k]).all()) for k in first
        )
        print(
            f"{args.trials} kills, {during_write} during a checkpoint write, "
            f"{resumable} left a loadable checkpoint; "
            f"final resume exit code {finished.returncode}; "
            f"final weights bitwise equal to an uninterrupted run: {equal}"
        )


if __name__ == "__main__":
    main()
