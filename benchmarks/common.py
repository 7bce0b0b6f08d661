"""What the benchmark scripts share: running (or reusing) one training run per
configuration and seed, in parallel processes, and mean ± std tables."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cgpgan.threads import choose_threads, usable_cores

ROOT = Path(__file__).resolve().parents[1]


def invocation() -> str:
    """The command line this benchmark was started with, as typed (for its docs page)."""
    return f"benchmarks/{Path(sys.argv[0]).name} " + shlex.join(sys.argv[1:])


@contextlib.contextmanager
def worktree(revision: str, folder: Path) -> Iterator[Path]:
    """An earlier commit of this repository checked out at `folder` (a git worktree),
    removed afterwards."""
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT)


@dataclass
class Job:
    label: str  # the configuration's name in the table
    preset: str
    overrides: list[str]
    seed: int
    directory: str
    threads: int = 0  # torch threads; 0: an equal share of the cores among the parallel jobs
    extra: list[str] = field(default_factory=list)  # overrides given to every run


def slug(label: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")


def make_jobs(
    configurations: dict[str, tuple[str, list[str]]],
    seeds: int,
    runs: str,
    extra: list[str],
    threads: int = 0,
) -> list[Job]:
    return [
        Job(
            label,
            preset,
            overrides,
            seed,
            str(Path(runs) / f"{slug(label)}-seed{seed}"),
            threads,
            extra,
        )
        for label, (preset, overrides) in configurations.items()
        for seed in range(seeds)
    ]


def job_config(job: Job):
    """The configuration a job trains with."""
    from cgpgan import load_config

    return load_config(job.preset, job.overrides + job.extra + [f"seed={job.seed}"])


def finished_metrics(job: Job) -> dict | None:
    """The metrics of the job's finished run, if there is one trained with the job's
    configuration."""
    path = Path(job.directory)
    if not (path / "metrics.json").is_file():
        return None
    _check_same_config(path, job_config(job).to_flat_dict())
    return json.loads((path / "metrics.json").read_text())


def run_job(job: Job) -> dict:
    """Train one run, or return the metrics of a finished one in its directory."""
    from cgpgan import train

    finished = finished_metrics(job)
    if finished is not None:
        return finished
    if job.threads:
        os.environ["OMP_NUM_THREADS"] = str(job.threads)  # train() takes its threads from here
    run = train(job_config(job), Path(job.directory), overwrite=True, progress=False)
    return run.metrics


# keys that decide what a run writes, not what it trains
# (training was checked not to depend on them)
BOOKKEEPING = {
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
}


def _check_same_config(path: Path, wanted: dict) -> None:
    """A finished run is reused only if it was trained with the configuration asked for."""
    from cgpgan.config import load_saved_config
    from cgpgan.errors import ConfigError

    saved = load_saved_config(path / "config.yaml").to_flat_dict()
    for name, value in wanted.items():
        if saved.get(name) != value and name not in BOOKKEEPING:
            raise ConfigError(
                f"{path}: finished with {name}={saved.get(name)!r}, "
                f"this benchmark asks for {value!r}; move the run away to train it again"
            )


def run_all(jobs: list[Job], workers: int) -> dict[str, list[dict]]:
    """Metrics of every job, grouped by configuration label (in job order)."""
    from cgpgan.errors import CgpganError

    try:  # reuse finished runs, and refuse stale ones before training anything
        results = [finished_metrics(job) for job in jobs]
    except CgpganError as error:
        raise SystemExit(f"error: {error}") from None
    start = time.time()
    to_train = [index for index, metrics in enumerate(results) if metrics is None]
    share = max(1, usable_cores() // max(1, min(workers, len(to_train))))
    for index in to_train:  # parallel jobs each get their share of the cores, not all of them
        job = jobs[index]
        automatic, _ = choose_threads(job_config(job))  # e.g. 1 for 2-D: more gains nothing
        jobs[index] = dataclasses.replace(job, threads=job.threads or min(share, automatic))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for index, metrics in zip(to_train, pool.map(run_job, [jobs[index] for index in to_train])):
            results[index] = metrics
    print(f"{len(jobs)} runs in {time.time() - start:.0f} s")
    by_label: dict[str, list[dict]] = {}
    for job, metrics in zip(jobs, results):
        by_label.setdefault(job.label, []).append(metrics)
    return by_label


def mean_std_table(
    by_label: dict[str, list[dict]], metrics: list[str], integer_like: tuple[str, ...] = ()
) -> str:
    """A markdown table: one row per configuration, mean ± std over its runs."""
    lines = ["| configuration | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
    for label, runs in by_label.items():
        cells = []
        for name in metrics:
            values = np.array([_lookup(run, name) for run in runs], dtype=float)
            digits = 0 if name == "train_seconds" else (2 if name in integer_like else 4)
            cells.append(f"{values.mean():.{digits}f} ± {values.std():.{digits}f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _lookup(metrics: dict, dotted: str) -> float:
    value = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return math.nan
        value = value[part]
    return value
