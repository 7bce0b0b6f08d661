"""The generic training loop. It knows nothing about any particular method: it asks
the method for `(phase, loss)` pairs and steps the optimiser of each phase."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import torch
from tqdm import tqdm

from cgpgan.config import Config, TrainConfig
from cgpgan.data import build_dataset
from cgpgan.run import Run, new_run
from cgpgan.training import stats


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    options = dict(lr=config.learning_rate, betas=tuple(config.betas), weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, **options)
    return torch.optim.Adam(parameters, **options)


def default_run_directory(name: str, seed: int) -> Path:
    return Path("runs") / f"{name}-seed{seed}-{datetime.now():%Y%m%d-%H%M%S}"


def train(config: Config, out: str | Path, overwrite: bool = False, progress: bool = True, evaluate: bool = True) -> Run:
    """Train `config` into the run directory `out`; returns the trained Run."""
    start = time.perf_counter()
    dataset = build_dataset(config.data, config.seed)
    run = new_run(Path(out), config, dataset.sample_shape, overwrite)
    method = run.method
    optimizers = {phase: make_optimizer(module.parameters(), config.train) for phase, module in method.optimized_modules().items()}
    data_generator = torch.Generator().manual_seed(config.seed + 1)
    writer = _tensorboard(run.directory)
    log_path = run.directory / "metrics.jsonl"
    stats.collect()  # drop anything reported before this run

    method.train()
    bar = tqdm(range(config.train.steps), desc=f"train {config.method.name}", disable=not progress, dynamic_ncols=True)
    with open(log_path, "a") as log:
        for step in bar:
            real = dataset.batch(config.train.batch_size, data_generator).to(method.device)
            for phase, loss in method.training_losses(real, step):
                method.zero_grad(set_to_none=True)
                loss.backward()
                optimizers[phase].step()
            method.update_generator_ema(config.train.generator_ema_decay)

            done = step + 1
            evaluate_now = config.train.eval_every and done % config.train.eval_every == 0 and done < config.train.steps
            if done % config.train.log_every == 0 or done == config.train.steps or evaluate_now:
                row = {"step": done, **stats.collect()}
                if evaluate_now:
                    row.update(_evaluate_now(run, done))
                log.write(json.dumps(row) + "\n")
                log.flush()
                if writer is not None:
                    for name, value in row.items():
                        writer.add_scalar(name, value, done)
                bar.set_postfix(_progress_fields(row), refresh=False)
    bar.close()
    if writer is not None:
        writer.close()

    method.eval()
    run.info["step"] = config.train.steps
    run.info["train_seconds"] = round(time.perf_counter() - start, 2)
    run.save()
    if evaluate:
        run.metrics = run.evaluate()
    return run


def _evaluate_now(run: Run, step: int) -> dict:
    """Scalar metrics of the run as it is now, prefixed `eval/`."""
    run.method.eval()
    run.info["step"] = step
    metrics = run.evaluate(write=False, draw=False, baselines=False)
    if len(run.info["sample_shape"]) == 3:  # a picture of the samples so far
        run.draw_grid(run.directory / "plots" / "progress" / f"samples_{step:07d}.png")
    run.method.train()
    return {f"eval/{name}": value for name, value in metrics.items() if isinstance(value, (int, float)) and name != "step"}


def _progress_fields(row: dict) -> dict:
    short = {"loss/discriminator": "D", "loss/generator": "G", "loss/classification": "cls", "prior/entropy": "H(P)", "prior/live_categories": "live"}
    return {label: f"{row[key]:.3g}" for key, label in short.items() if key in row}


def _tensorboard(directory: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional at run time
        return None
    return SummaryWriter(str(directory / "tensorboard"))
