"""The generic training loop. It knows nothing about any particular method: it asks
the method for `(phase, loss)` pairs and steps the optimiser of each phase.

All training state (weights, optimisers, prior, moving averages, random generators)
is checkpointed every `train.checkpoint_every` steps and when SIGINT or SIGTERM stops the
run, so `train(..., resume=True)` continues a stopped, interrupted or crashed run exactly
where its last checkpoint left it.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import torch
from tqdm import tqdm

from cgpgan import distributed, stats
from cgpgan.config import Config, save_config
from cgpgan.data import build_dataset
from cgpgan.errors import ConfigError, RunError, TrainingDiverged, TrainingInterrupted
from cgpgan.prior import prior_shares
from cgpgan.run import WEIGHTS, Run, new_run, open_run
from cgpgan.storage import atomic_write_text, write_json
from cgpgan.threads import cpu_threads
from cgpgan.training import checkpoint, layout
from cgpgan.training.guard import DivergenceGuard
from cgpgan.training.signals import stop_on_signals

# settings that change how a run is trained further or recorded, not what it has learnt
RESUMABLE_KEYS = (
    "train.steps",
    "train.stop_after",
    "train.log_every",
    "train.eval_every",
    "train.eval_samples",
    "train.eval_baselines",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.device",
    "train.precision",
    "train.channels_last",
    "train.compile",
    "train.optimizer_implementation",
    "train.device_data_gib",
    "train.threads",
    "train.divergence_retries",
)


def default_run_directory(name: str, seed: int) -> Path:
    return Path("runs") / f"{name}-seed{seed}-{datetime.now():%Y%m%d-%H%M%S}"


class Trainer:
    """One run's training state and the loop over it."""

    def __init__(self, run: Run, dataset):
        self.run = run
        self.config = run.config
        self.dataset = dataset
        self.method = run.method
        layout.lay_out(self.method, self.config.train)  # before the optimisers are made
        layout.compile_networks(self.method, self.config.train)
        self.autocast = layout.autocast(self.config.train, self.method.device)
        self.memory_format = layout.memory_format(self.config.train, dataset.sample_shape)
        self.batches = layout.batch_source(dataset, self.method.device, self.config.train)
        phases = self.phases = self.method.phases(self.config.train)
        self.optimizers = {
            name: phase.make_optimizer(self.config.train) for name, phase in phases.items()
        }
        # each phase's loss is back-propagated into its own module's parameters only
        self.trained_parameters = {
            name: list(phase.module.parameters()) for name, phase in phases.items()
        }
        self.every_trained_parameter = [p for ps in self.trained_parameters.values() for p in ps]
        # each process draws its own data and latents (rank 0 those of a 1-process run)
        self.generators = {
            "data": torch.Generator().manual_seed(distributed.stream_seed(self.config.seed + 1)),
            "latent": self.method.latent_generator,
        }
        if not distributed.is_main():
            self.method.latent_generator.manual_seed(distributed.stream_seed(self.config.seed))
        self.guard = DivergenceGuard(list(phases), self.method.device)
        self.step = 0
        self.train_seconds = 0.0
        self.rollbacks = 0
        self.best: dict = {}  # {"step", "value"} of the best checkpoint by train.best_metric
        self.last_row: dict = {}

    # ------------------------------------------------------------ state

    def save_checkpoint(self) -> None:
        """Write the checkpoint of the current step (rank 0 writes it, with every
        process's random states; all processes wait until it is written)."""
        distributed.copy_buffers_from_main(self.method)  # resumed == uninterrupted
        tensors, meta = checkpoint.training_state(self.method, self.optimizers, self.generators)
        tensors["rng.global"] = torch.get_rng_state()
        states = distributed.gather_objects(self._random_states(tensors))
        if not distributed.is_main():
            distributed.barrier()
            return
        for rank, state in enumerate(states[1:], start=1):
            tensors.update({f"{name}.rank{rank}": value for name, value in state.items()})
        metric = self.config.train.best_metric
        # only a value logged at this very step (an interruption may checkpoint between logs)
        value = self.last_row.get(metric) if self.last_row.get("step") == self.step else None
        if metric and value is not None and math.isfinite(value):
            better = max if self.config.train.best_mode == "max" else min
            if not self.best or better(value, self.best["value"]) == value:
                self.best = {"step": self.step, "value": value, "metric": metric}
        meta.update(
            train_seconds=self.train_seconds,
            rollbacks=self.rollbacks,
            best=self.best,
            processes=distributed.world_size(),
            config=self.config.to_dict(),
        )
        checkpoint.save_checkpoint(self.run.directory, self.step, tensors, meta)
        keep = {self.best["step"]} if self.best else set()
        checkpoint.prune_checkpoints(self.run.directory, self.config.train.keep_checkpoints, keep)
        distributed.barrier()

    def _random_states(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This process's random states among a checkpoint's tensors."""
        names = [f"rng.{name}" for name in self.generators] + ["rng.global"]
        return {name: tensors[name] for name in names}

    def restore_latest(self) -> bool:
        """Load the newest good checkpoint; False when there is none."""
        found = checkpoint.latest_checkpoint(self.run.directory)
        if found is None:
            return False
        step, tensors, meta = found
        processes = meta.get("processes", 1)
        if processes != distributed.world_size():
            raise RunError(
                f"{self.run.directory}: trained with {processes} process(es); resume it with "
                f"as many (torchrun --nproc_per_node {processes}), not {distributed.world_size()}"
            )
        if not distributed.is_main():  # this process's own random states
            rank = distributed.rank()
            for name in self._random_states(tensors):
                tensors[name] = tensors[f"{name}.rank{rank}"]
        checkpoint.restore_training_state(
            tensors, meta, self.method, self.optimizers, self.generators
        )
        torch.set_rng_state(tensors["rng.global"])
        self.step = step
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        self.rollbacks = int(meta.get("rollbacks", 0))
        self.best = meta.get("best") or {}
        return True

    # ------------------------------------------------------------ loop

    def train(self, progress: bool = True) -> bool:
        """Train up to `train.steps` (or `train.stop_after`); True when finished.

        SIGINT or SIGTERM stops it after the current step with a checkpoint of that step
        and raises TrainingInterrupted."""
        config = self.config.train
        stop = min(config.steps, config.stop_after) if config.stop_after else config.steps
        main = distributed.is_main()  # the one process that writes
        if main:
            _truncate_log(self.run.directory / "metrics.jsonl", self.step)
        writer = _tensorboard(self.run.directory) if main else None
        stats.collect()  # drop anything reported before
        self.method.train()
        bar = tqdm(
            total=stop,
            initial=self.step,
            desc=f"train {self.config.method.name}",
            disable=not (progress and main),
            dynamic_ncols=True,
        )
        log = _open_log(self.run.directory)
        with stop_on_signals() as request:
            try:
                self._loop(stop, bar, log, writer, request)
            finally:
                bar.close()
                if writer is not None:
                    writer.close()
            if request.requested:  # the checkpoint of the step it stopped at is written
                raise TrainingInterrupted(request.signal_number)
        self.method.eval()
        return self.step >= config.steps

    def _loop(self, stop: int, bar, log, writer, request) -> None:
        config = self.config.train
        started = time.perf_counter()
        try:
            while self.step < stop:
                self._one_step()
                self.step += 1
                # read once (a signal may arrive at any moment); all processes stop together
                stopping = not distributed.all_true(not request.requested)
                checkpointing = (
                    stopping or self.step % config.checkpoint_every == 0 or self.step == stop
                )
                try:  # once per log interval, and before every checkpoint
                    if checkpointing or self._logs_now():
                        self.guard.check(self.optimizers)
                except TrainingDiverged as diverged:
                    log.close()
                    self._roll_back(diverged)
                    log = _open_log(self.run.directory)
                    continue
                bar.update(1)
                try:
                    row = self._log(log, writer)
                except Exception:  # e.g. an evaluation that failed: keep the step's training
                    if checkpointing:
                        self.save_checkpoint()
                    raise
                if row:
                    bar.set_postfix(_progress_fields(row), refresh=False)
                if checkpointing:
                    self.train_seconds += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save_checkpoint()
                if stopping:
                    break
        finally:
            log.close()

    def _one_step(self) -> None:
        method, step = self.method, self.step
        batch = self.batches.batch(self.config.train.batch_size, self.generators["data"])
        batch = batch.to(method.device, self.memory_format)
        for phase, loss in layout.each_under(self.autocast, method.step_losses(batch, step)):
            every = self.phases[phase].every
            if step % every:  # a lazy phase waits for its step ...
                continue
            if every > 1:  # ... and then counts for the k steps it skipped
                loss = loss * every
            self.guard.watch(phase, loss.detach(), step)
            for parameter in self.every_trained_parameter:  # no gradient from earlier phases
                parameter.grad = None
            loss.backward(inputs=self.trained_parameters[phase])
            distributed.average_gradients(self.trained_parameters[phase])
            self.optimizers[phase].step()
        method.update_generator_ema(self.config.train.generator_ema_decay)

    def _roll_back(self, diverged: TrainingDiverged) -> None:
        config = self.config.train
        last = checkpoint.checkpoint_steps(self.run.directory)
        where = (
            f"the last good checkpoint (step {last[-1]}) is intact"
            if last
            else "no checkpoint was written yet"
        )
        if self.rollbacks >= config.divergence_retries or not self.restore_latest():
            raise TrainingDiverged(f"{diverged}; training stopped, {where}") from None
        self.rollbacks += 1
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] *= config.divergence_lr_factor
        if distributed.is_main():
            _truncate_log(self.run.directory / "metrics.jsonl", self.step)
        stats.collect(reduce=distributed.total)
        _say(
            f"cgpgan: {diverged}; rolled back to step {self.step} "
            f"with learning rates x{config.divergence_lr_factor} "
            f"({self.rollbacks}/{config.divergence_retries})",
            file=sys.stdout,
        )

    def _evaluates_now(self) -> bool:
        config, done = self.config.train, self.step
        return bool(config.eval_every) and done % config.eval_every == 0 and done < config.steps

    def _logs_now(self) -> bool:
        config, done = self.config.train, self.step
        return done % config.log_every == 0 or done == config.steps or self._evaluates_now()

    def _log(self, log, writer) -> dict | None:
        done = self.step
        evaluate_now = self._evaluates_now()
        if not self._logs_now():
            return None
        row = {"step": done, **stats.collect(reduce=distributed.total)}
        row.update(prior_shares(self.method.prior))
        if not distributed.is_main():
            return None
        if evaluate_now:
            row.update(_evaluate_now(self.run, self.dataset, done))
        self.last_row = row
        log.write(json.dumps(row) + "\n")
        log.flush()
        if writer is not None:
            for name, value in row.items():
                writer.add_scalar(name, value, done)
        return row


def train(
    config: Config | None,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    evaluate: bool = True,
    resume: bool = False,
) -> Run:
    """Train `config` into the run directory `out`; returns the Run.

    With `resume`, `out` is an existing run directory and training continues from its
    last checkpoint with the run's own config, or with `config` when only the settings in
    RESUMABLE_KEYS differ (e.g. more `train.steps` to extend a finished run). A run
    stopped by `train.stop_after` is returned unevaluated (resume it to finish); one
    stopped by SIGINT/SIGTERM raises TrainingInterrupted after writing a checkpoint.
    """
    out = Path(out)
    if resume:
        run = open_run(out)
        run.config = _resumed_config(run.config, config)
        dataset = build_dataset(run.config.data, run.config.seed)
    else:
        if config is None:
            raise RunError("train: give a config, or resume an existing run directory")
        # bad data fails before the directory is touched
        dataset = build_dataset(config.data, config.seed)
        run = _start_run(out, config, dataset, overwrite)
    # the global random state is seeded (so that every saved state is the same on a rerun)
    # and restored from checkpoints, but the caller's is given back afterwards
    with cpu_threads(run.config), torch.random.fork_rng(devices=[]):
        torch.manual_seed(distributed.stream_seed(run.config.seed))
        trainer = Trainer(run, dataset)
        if resume:
            _restore_for_resume(trainer)
        try:
            finished = trainer.train(progress)
        except TrainingInterrupted as interrupted:
            _record_interruption(run, trainer, interrupted)
            raise
        _record_progress(run, trainer.step, trainer.train_seconds)
        if not finished or not distributed.is_main():  # rank 0 writes and evaluates
            return run
        run.save()
        if evaluate:
            run.metrics = run.evaluate(dataset=dataset)
    return run


def _start_run(out: Path, config: Config, dataset, overwrite: bool) -> Run:
    """A fresh run: rank 0 makes its directory (or fails, and every process with it), the
    other processes then open it."""
    run = distributed.on_main(lambda: new_run(out, config, dataset, overwrite))
    if run is None:
        run = open_run(out)
        run.method.fit_to_data(dataset)
    return run


def _resumed_config(saved: Config, wanted: Config | None) -> Config:
    """The config a resumed run trains with: the saved one (an interruption by
    `train.stop_after` happens once), or `wanted` if it changes only RESUMABLE_KEYS."""
    if wanted is None:
        saved.train.stop_after = 0
        return saved
    before, after = saved.to_flat_dict(), wanted.to_flat_dict()
    for key, value in after.items():
        if before.get(key) != value and key not in RESUMABLE_KEYS:
            raise ConfigError(
                f"{key}: cannot be changed when resuming (it would change what the run has "
                f"learnt; {before.get(key)!r} -> {value!r}); settings that can be changed: "
                + ", ".join(RESUMABLE_KEYS)
            )
    return wanted


def _restore_for_resume(trainer: Trainer) -> None:
    """Load the newest checkpoint, refuse what cannot be resumed, and say where it goes on."""
    run, out = trainer.run, trainer.run.directory
    processes = run.info.get("processes", 1)
    if processes != distributed.world_size():
        raise RunError(
            f"{out}: trained with {processes} process(es); resume it with as many "
            f"(torchrun --nproc_per_node {processes}), not {distributed.world_size()}"
        )
    distributed.on_main(lambda: checkpoint.remove_orphans(out))
    restored = trainer.restore_latest()
    steps = run.config.train.steps
    if trainer.step > steps:
        raise ConfigError(f"train.steps: the run is already at step {trainer.step}, got {steps}")
    if trainer.step == steps and (out / "metrics.json").is_file():
        raise RunError(
            f"{out}: already trained to step {steps} of {steps}; nothing to resume "
            "(raise train.steps to train it further)"
        )
    if restored:
        _say(f"cgpgan: resuming {out} from step {trainer.step} of {steps}")
    else:
        _say(f"cgpgan: {out} has no checkpoint yet; training it from step 0")
    if not distributed.is_main():
        return
    save_config(run.config, out / "config.yaml")
    if trainer.step < steps:  # a finished run trained further: its final files become stale
        for stale in ("metrics.json", WEIGHTS):  # (the checkpoint of that step keeps them)
            (out / stale).unlink(missing_ok=True)


def _record_progress(run: Run, step: int, train_seconds: float) -> None:
    """run.json says how far training got, also when it stopped early (rank 0 writes)."""
    if not distributed.is_main():
        return
    run.info["step"] = step
    run.info["train_seconds"] = round(train_seconds, 2)
    write_json(run.directory / "run.json", run.info)


def _record_interruption(run: Run, trainer: Trainer, interrupted: TrainingInterrupted) -> None:
    """Say where the run stopped: at its newest checkpoint (a second signal may have cut
    the checkpoint of the current step short, or come before any checkpoint)."""
    found = checkpoint.checkpoint_steps(run.directory)
    step = found[-1] if found else 0
    interrupted.directory = run.directory
    interrupted.step = step
    interrupted.checkpoint = checkpoint.checkpoint_path(run.directory, step) if found else None
    seconds = trainer.train_seconds if step == trainer.step else run.info.get("train_seconds", 0)
    _record_progress(run, step, seconds)
    where = f"checkpoint {interrupted.checkpoint}" if found else "before the first checkpoint"
    _say(f"cgpgan: stopped at step {step}; {where}")


def _say(message: str, file=None) -> None:
    """Print a message of the run's (rank 0 only; on stderr unless `file`)."""
    if distributed.is_main():
        print(message, file=file or sys.stderr)


def _open_log(directory: Path):
    """metrics.jsonl for appending (rank 0), or a sink that drops everything."""
    if distributed.is_main():
        return open(directory / "metrics.jsonl", "a")
    return open(os.devnull, "w")


def _truncate_log(path: Path, step: int) -> None:
    """Drop logged rows after `step` (they belong to steps that will be redone)."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = []
    for line in lines:
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(line + "\n" for line in kept))


def _evaluate_now(run: Run, dataset, step: int) -> dict:
    """Scalar metrics of the run as it is now, prefixed `eval/`."""
    run.method.eval()
    run.info["step"] = step
    metrics = run.evaluate(write=False, draw=False, baselines=False, dataset=dataset, quick=True)
    if len(run.info["sample_shape"]) == 3:  # a picture of the samples so far
        run.draw_grid(run.directory / "plots" / "progress" / f"samples_{step:07d}.png")
    run.method.train()
    return {
        f"eval/{name}": value
        for name, value in metrics.items()
        if isinstance(value, (int, float)) and name != "step"
    }


def _progress_fields(row: dict) -> dict:
    short = {
        "loss/discriminator": "D",
        "loss/generator": "G",
        "loss/classification": "cls",
        "prior/entropy": "H(P)",
        "prior/live_categories": "live",
    }
    return {label: f"{row[key]:.3g}" for key, label in short.items() if key in row}


def _tensorboard(directory: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional at run time
        return None
    return SummaryWriter(str(directory / "tensorboard"))
