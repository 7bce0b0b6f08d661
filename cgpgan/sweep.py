"""Sweeps: one configuration trained over seeds and a grid of settings, in parallel
processes, then scored without labels so that a user can tell which run to trust.

    cgpgan sweep digits --seeds 0,1,2,3 --grid method.lambda_cgp=0.1,1,10 --out SWEEP

writes SWEEP/<run>/ for every run and SWEEP/sweep.json: `runs`, each with its
`directory`, `config` (the grid's overrides and its seed), `scores` (unsupervised,
`cgpgan.selection`), `metrics` (label-based, where the data have labels: shown, never
used to choose), `run_metrics` (its metrics.json) or `error`; `selected` (the chosen
run's directory name: the medoid of the best setting), `best_run` (the best run of any
setting), `criterion`, `settings` (per grid setting) and `consensus`.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from cgpgan.config import Config, load_config, load_saved_config
from cgpgan.errors import ConfigError, RunError, TrainingInterrupted
from cgpgan.storage import write_json
from cgpgan.threads import choose_threads, usable_cores
from cgpgan.training.signals import stop_on_signals

SWEEP_FILE = "sweep.json"
# keys that decide what a run writes, not what it trains
# (training was checked not to depend on them)
BOOKKEEPING = {
    "train.log_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.threads",  # how many cores: the same training (its sums may round differently)
}


@dataclass
class PlannedRun:
    name: str  # its directory's name inside the sweep
    overrides: list[str]  # the grid's settings and the seed, as KEY=VALUE
    config: Config


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """["KEY=V1,V2", ...] -> {KEY: [V1, V2]}; each value as it would be typed after --set."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, equals, values = item.partition("=")
        if not equals or not key or not values:
            raise ConfigError(f"--grid {item!r}: expected KEY=VALUE1,VALUE2,...")
        if key in grid:
            raise ConfigError(f"--grid: {key} given twice")
        grid[key] = [value.strip() for value in values.split(",")]
    return grid


def parse_seeds(text: str) -> list[int]:
    """ "0,1,2,3" -> [0, 1, 2, 3]."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected integers separated by commas") from None
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: a seed is given twice")
    return seeds


def plan(
    source: str | Path | dict,
    seeds: list[int],
    grid: dict[str, list[str]] | None = None,
    overrides: list[str] | None = None,
) -> list[PlannedRun]:
    """Every run of the sweep: each combination of the grid's values, for each seed.
    Configurations are built (and so validated) here, before anything trains."""
    if not seeds:
        raise ConfigError("a sweep needs at least one seed")
    grid = grid or {}
    settings = [[f"{key}={value}" for value in values] for key, values in grid.items()]
    runs = []
    for combination in itertools.product(*settings):
        for seed in seeds:
            chosen = [*combination, f"seed={seed}"]
            name = "-".join([*(_short(item) for item in combination), f"seed{seed}"])
            config = load_config(source, [*(overrides or []), *chosen])
            runs.append(PlannedRun(name, chosen, config))
    return runs


def _short(setting: str) -> str:
    """ "method.lambda_cgp=0.1" -> "lambda_cgp=0.1", safe as a folder name."""
    key, _, value = setting.partition("=")
    return f"{key.rsplit('.', 1)[-1]}={value}".replace("/", "_")


def check_same_config(directory: Path, wanted: Config) -> None:
    """A finished run is reused only if it was trained with the configuration asked for."""
    saved = load_saved_config(directory / "config.yaml").to_flat_dict()
    for name, value in wanted.to_flat_dict().items():
        if saved.get(name) != value and name not in BOOKKEEPING:
            raise ConfigError(
                f"{directory}: finished with {name}={saved.get(name)!r}, but "
                f"{value!r} is asked for; move the run away to train it again"
            )


def finished_metrics(directory: Path, config: Config) -> dict | None:
    """The metrics of a finished run trained with `config` in `directory`, or None."""
    if not (directory / "metrics.json").is_file():
        return None
    check_same_config(directory, config)
    return json.loads((directory / "metrics.json").read_text())


def train_all(
    configs: list[Config],
    directories: list[Path],
    workers: int,
    progress: bool = True,
    threads: int = 0,
) -> list[dict | str]:
    """Train every configuration into its directory in `workers` parallel processes, each
    with its share of the cores (or `threads`); a finished run is reused (if its
    configuration is the same), an unfinished one with a checkpoint resumed. Returns each
    run's metrics, or the one-line error that stopped it; the others go on.

    SIGINT or SIGTERM (to this process or its process group) stops the sweep cleanly: no
    run is started any more, each running one stops after its step with a checkpoint,
    and TrainingInterrupted is raised; the same call later goes on where it stopped."""
    results: list[dict | str | None] = [
        finished_metrics(directory, config) for directory, config in zip(directories, configs)
    ]
    to_train = [index for index, result in enumerate(results) if result is None]
    share = max(1, usable_cores() // max(1, min(workers, len(to_train))))
    total = sum(configs[index].train.steps for index in to_train)
    bar = tqdm(total=total, unit="step", desc="sweep", disable=not progress or not to_train)
    # fresh processes, not forks: a fork of a process whose torch threads have run can hang
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=max(1, workers), mp_context=spawn, initializer=_worker_signals
    )
    with pool, stop_on_signals() as stop:
        waiting, passed_on = list(to_train), False
        pending: dict[Future, int] = {}
        while waiting or pending:
            # a run is handed to a worker only when one is free, so none is queued in
            # advance (a queued run would start after a stop)
            while waiting and len(pending) < workers and not stop.requested:
                index = waiting.pop(0)
                automatic, _ = choose_threads(configs[index])  # e.g. 1 for 2-D
                task = (configs[index], directories[index], threads or min(share, automatic))
                pending[pool.submit(_train_one, *task)] = index
            if stop.requested and not passed_on:
                waiting.clear()
                for worker in spawn.active_children():  # one signal each: stop after the step
                    os.kill(worker.pid, signal.SIGTERM)
                passed_on = True
            done, _ = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                error = future.exception()
                if not (stop.requested and isinstance(error, KeyboardInterrupt)):
                    results[index] = future.result() if error is None else _one_line(error)
            bar.update(_steps_done(directories, to_train, results) - bar.n)
            bar.set_postfix_str(f"{sum(r is not None for r in results)}/{len(results)} runs done")
    bar.close()
    if stop.requested:
        raise TrainingInterrupted(stop.signal_number)
    return results  # type: ignore[return-value]


def _worker_signals() -> None:
    """A sweep worker leaves its parent's process group, so that Ctrl-C or a signal to the
    group reaches the sweep alone, which passes exactly one on to each busy worker; an idle
    worker ignores them (training installs its own handlers while it runs)."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


def _train_one(config: Config, directory: Path, threads: int) -> dict:
    from cgpgan.training.loop import train

    finished = finished_metrics(directory, config)  # e.g. by an earlier sweep meanwhile
    if finished is not None:
        return finished
    os.environ["OMP_NUM_THREADS"] = str(threads)  # train() takes its threads from here
    resume = (directory / "checkpoints").is_dir() and any((directory / "checkpoints").iterdir())
    if resume:
        return train(config, directory, progress=False, resume=True).metrics
    # a directory with no checkpoint and no metrics holds nothing to keep
    return train(config, directory, overwrite=directory.exists(), progress=False).metrics


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _steps_done(directories: list[Path], indices: list[int], results: list) -> int:
    """Steps trained so far by the runs being trained, from their metrics logs."""
    steps = 0
    for index in indices:
        if isinstance(results[index], dict):
            steps += int(results[index].get("step", 0))
            continue
        steps += _last_logged_step(directories[index] / "metrics.jsonl")
    return steps


def _last_logged_step(path: Path) -> int:
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - 65536))
            lines = file.read().splitlines()
    except OSError:
        return 0
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def sweep(
    source: str | Path | dict,
    out: str | Path,
    seeds: list[int],
    grid: dict[str, list[str]] | None = None,
    overrides: list[str] | None = None,
    workers: int = 1,
    criterion: str | None = None,
    consensus: bool = False,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> dict:
    """Train a sweep into `out` (resumable: run it again to finish it), score its runs
    without labels, choose one, write `out/sweep.json` and `out/report.html`; returns
    the sweep's record (the contents of sweep.json)."""
    from cgpgan import report, selection

    out = Path(out)
    runs = plan(source, seeds, grid, overrides)
    selection.check_criterion(criterion)
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    directories = [out / run.name for run in runs]
    say(f"sweep: {len(runs)} runs in {out}, {workers} at a time")
    start = time.time()
    results = train_all([run.config for run in runs], directories, workers, progress)
    record = {
        "source": str(source) if not isinstance(source, dict) else "(dict)",
        "overrides": list(overrides or []),
        "grid": grid or {},
        "seeds": seeds,
        "runs": [
            {
                "directory": run.name,
                "config": run.overrides,
                **({"run_metrics": result} if isinstance(result, dict) else {"error": result}),
            }
            for run, result in zip(runs, results)
        ],
    }
    say(f"sweep: trained in {time.time() - start:.0f} s; scoring the runs")
    selection.score_sweep(out, record, criterion=criterion, consensus=consensus)
    write_record(out, record)
    page = report.write_report(out)
    say(f"sweep: selected {record['selected']} ({record['criterion']}); report {page}")
    return record


def write_record(out: Path, record: dict) -> None:
    """sweep.json, replaced whole (never left half-written)."""
    write_json(out / SWEEP_FILE, record)


def read_record(out: str | Path) -> dict:
    path = Path(out) / SWEEP_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: not found ({out} is not a sweep directory)") from None
    except json.JSONDecodeError:
        raise RunError(f"{path}: not valid JSON (run the sweep again to rewrite it)") from None


def selected_run(out: str | Path) -> Path:
    """The directory of a sweep's selected run."""
    record = read_record(out)
    if not record.get("selected"):
        raise RunError(f"{out}: the sweep selected no run (see {SWEEP_FILE})")
    return Path(out) / record["selected"]
