"""What the benchmark scripts share: running (or reusing) one training run per
configuration and seed, in parallel processes, and mean ± std tables."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cgpgan import sweep

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


def run_folder(runs: str | Path, label: str, seed: int) -> Path:
    """Where a row's run of one seed lives: RUNS/<slug of the label>-seed<seed>."""
    return Path(runs) / f"{slug(label)}-seed{seed}"


def seeds_in(runs: str | Path, label: str) -> set[int]:
    """The seeds of the row's run folders in `runs` (named as `run_folder` names them)."""
    pattern = re.compile(rf"{re.escape(slug(label))}-seed(\d+)")
    found = (pattern.fullmatch(path.name) for path in Path(runs).glob(f"{slug(label)}-seed*"))
    return {int(match[1]) for match in found if match}


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
            str(run_folder(runs, label, seed)),
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
    configuration (a run trained with another is an error)."""
    return sweep.finished_metrics(Path(job.directory), job_config(job))


def finished_jobs(jobs: list[Job]) -> list[tuple[Job, dict]]:
    """The jobs whose runs are finished, with their metrics, in job order: what a table
    shows when `--only` trained some of its rows. A run finished with another
    configuration (a row changed since) is left out, with a note saying so."""
    from cgpgan.errors import ConfigError

    finished = []
    for job in jobs:
        try:
            metrics = finished_metrics(job)
        except ConfigError as error:
            print(f"note: left out of the table: {error}")
            continue
        if metrics is not None:
            finished.append((job, metrics))
    return finished


def with_seeds_on_disk(jobs: list[Job]) -> list[Job]:
    """The jobs, and after each row's jobs one more for every further seed of that row
    whose run folder an earlier call made (named as `make_jobs` names it)."""
    rows: dict[str, list[Job]] = {}
    for job in jobs:
        rows.setdefault(job.label, []).append(job)
    every = []
    for label, row in rows.items():
        folder = Path(row[0].directory).parent
        more = sorted(seeds_in(folder, label) - {job.seed for job in row})
        every += row + [
            dataclasses.replace(row[0], seed=seed, directory=str(run_folder(folder, label, seed)))
            for seed in more
        ]
    return every


def table_runs(
    every: list[Job], only: list[str], workers: int
) -> dict[str, list[tuple[Job, dict]]]:
    """Train the rows `--only` names (every row without it), then gather what the table
    shows, by row in job order: every finished run of every row, with the seeds earlier
    calls trained beyond this call's (so `--seeds 1 --only X` keeps the other rows' other
    seeds on the page)."""
    run_all([job for job in every if not only or job.label in only], workers)
    rows: dict[str, list[tuple[Job, dict]]] = {}
    for job, metrics in finished_jobs(with_seeds_on_disk(every)):
        rows.setdefault(job.label, []).append((job, metrics))
    return rows


def run_all(jobs: list[Job], workers: int) -> dict[str, list[dict]]:
    """Metrics of every job, grouped by configuration label (in job order); finished runs
    are reused, the others trained in `workers` processes (`cgpgan.sweep.train_all`)."""
    from cgpgan.errors import CgpganError, TrainingInterrupted

    start = time.time()
    try:
        results = sweep.train_all(
            [job_config(job) for job in jobs],
            [Path(job.directory) for job in jobs],
            workers,
            threads=max((job.threads for job in jobs), default=0),
        )
    except CgpganError as error:  # e.g. a finished run trained with another configuration
        raise SystemExit(f"error: {error}") from None
    except TrainingInterrupted as interrupted:  # SIGINT / SIGTERM: the runs checkpointed
        print("stopped: the unfinished runs kept their checkpoints; the same command resumes them")
        raise SystemExit(interrupted.exit_code) from None
    failed = [
        f"{job.directory}: {result}"
        for job, result in zip(jobs, results)
        if isinstance(result, str)
    ]
    if failed:
        raise SystemExit("error: runs failed (the others are kept):\n" + "\n".join(failed))
    print(f"{len(jobs)} runs in {time.time() - start:.0f} s")
    by_label: dict[str, list[dict]] = {}
    for job, metrics in zip(jobs, results):
        by_label.setdefault(job.label, []).append(metrics)
    return by_label


def mean_std_table(
    by_label: dict[str, list[dict]], metrics: list[str], integer_like: tuple[str, ...] = ()
) -> str:
    """A markdown table: one row per configuration, the number of its runs and mean ± std
    over them (a row of one run shows ± 0)."""
    header = "| configuration | runs | " + " | ".join(metrics) + " |"
    lines = [header, "|" + "---|" * (len(metrics) + 2)]
    for label, runs in by_label.items():
        cells = [str(len(runs))]
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
