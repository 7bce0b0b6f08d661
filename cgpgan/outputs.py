"""What a run writes for people besides metrics.json: its pictures in plots/ (samples,
prior, training curves, contingency table) and the assignments of `cluster` (a CSV, and
for images a picture of examples per category)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cgpgan import plots
from cgpgan.storage import atomic_write_text

if TYPE_CHECKING:  # for annotations only: run.py imports this module
    from cgpgan.run import Run


def draw_grid(run: Run, path: Path, label: int = 0, rows: int = 8) -> None:
    """The sample grid of `label` (see `Run.sample_grid`), columns labelled with the prior."""
    grid, order = run.sample_grid(rows=rows, label=label, seed=run.config.seed)
    prior = run.prior.numpy()
    title = plots.run_title(run.config.method.name, run.info.get("step", 0), label, len(prior))
    plots.plot_image_grid(
        path,
        grid.numpy(),
        plots.category_labels(prior[label], order),
        title,
        xlabel=plots.CATEGORY_AXIS,
        ylabel="samples (one z per row)",
    )


def draw_merged_grid(run: Run, path: Path, merge: dict, rows: int = 8) -> None:
    """Samples of each merged group of `merge` (a result of `Run.merge`; see
    `Run.sample_members`), one column per group ordered by the group's prior; groups of
    prior 0 are left out."""
    group_prior = np.array(merge["group_prior"])
    order = [group for group in np.argsort(-group_prior).tolist() if group_prior[group] > 0]
    seed = run.config.seed
    columns = [run.sample_members(rows, merge["groups"][group], seed)[0] for group in order]
    title = f"{run.config.method.name}, step {run.info.get('step', 0)}: merged groups"
    plots.plot_image_grid(
        path,
        torch.stack(columns, dim=1).numpy(),
        plots.category_labels(group_prior, order),
        title,
        xlabel="merged group (its prior)",
        ylabel="samples",
    )


def draw(run: Run, dataset, metrics: dict | None = None, merge: dict | None = None) -> None:
    """The run's pictures in plots/: samples, prior, curves (and for images the
    contingency table of real data, and with `merge` the merged groups' samples)."""
    plots_dir = run.directory / "plots"
    prior = run.prior.numpy()
    title = f"{run.config.method.name}, step {run.info.get('step', 0)}"
    if dataset.kind == "images":
        for label in range(min(prior.shape[0], 4)):
            name = "samples.png" if label == 0 else f"samples_label{label}.png"
            draw_grid(run, plots_dir / name, label)
        if merge is not None:
            draw_merged_grid(run, plots_dir / "samples_merged.png", merge)
        if metrics and "contingency" in metrics:
            plots.plot_contingency(
                plots_dir / "contingency.png",
                np.array(metrics["contingency"]),
                prior[0],
                f"{title}: real data, argmax Q(x)",
            )
        true_probabilities = (
            None
            if dataset.labels is None
            else np.sort(np.bincount(dataset.labels.numpy()) / len(dataset))[::-1]
        )
    else:
        samples, categories = run.sample(4000, seed=run.config.seed)
        real = dataset.points[:4000].numpy()
        plots.plot_samples_2d(
            plots_dir / "samples.png",
            real,
            samples.numpy(),
            categories[:, 0].numpy(),
            prior[0],
            title,
        )
        true_probabilities = dataset.mode_probabilities.numpy()
    plots.plot_prior(plots_dir / "prior.png", prior, true_probabilities)
    history = read_history(run.directory)
    if history:
        plots.plot_curves(plots_dir / "curves.png", history)
        plots.plot_prior_trajectory(
            plots_dir / "prior_trajectory.png", history, true_probabilities, title
        )


def read_history(directory: Path) -> list[dict]:
    """The rows of metrics.jsonl (statistics every `train.log_every` steps)."""
    path = Path(directory) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_clusters(
    path: Path,
    items: torch.Tensor,
    categories: torch.Tensor,
    confidence: torch.Tensor,
    prior: torch.Tensor,
) -> Path | None:
    """The assignments of `items` as the CSV `path` (`write_assignments`) and, for
    images, a picture of examples per category beside it, whose path it returns."""
    points = items.ndim == 2
    write_assignments(path, items if points else None, categories, confidence)
    if points:
        return None
    examples = path.with_name(path.stem + "_examples.png")
    plots.plot_category_examples(
        examples,
        items.numpy(),
        categories[:, 0].numpy(),
        confidence[:, 0].numpy(),
        prior[0].numpy(),
    )
    return examples


def write_assignments(
    path: Path, points: torch.Tensor | None, categories: torch.Tensor, confidence: torch.Tensor
) -> None:
    """The CSV of `cluster`: one row per item in order (item, the coordinates of points,
    then category and confidence per label), written atomically."""
    columns = [np.arange(len(categories))[:, None]]
    header = ["item"]
    formats = ["%d"]
    if points is not None:
        columns.append(points.double().numpy())
        header += [f"x{i}" for i in range(points.shape[1])]
        formats += ["%.9g"] * points.shape[1]  # float32 round-trips with 9 digits
    for label in range(categories.shape[1]):
        columns += [categories[:, label, None].numpy(), confidence[:, label, None].double().numpy()]
        header += [f"category{label}", f"confidence{label}"]
        formats += ["%d", "%.4f"]
    buffer = io.StringIO()
    np.savetxt(
        buffer, np.hstack(columns), fmt=formats, delimiter=",", header=",".join(header), comments=""
    )
    atomic_write_text(path, buffer.getvalue())


def draw_samples(
    run: Run,
    path: Path,
    samples,
    categories,
    category: int | None,
    max_rows: int,
    group: int | None = None,
) -> int:
    """A picture of `samples` (with the categories of their first label): images as a
    grid, one column per category ordered by prior as in plots/samples.png, at most
    `max_rows` each (or a square grid of at most max_rows**2 of the one `category`);
    2-D points as a scatter plot. `group`: the samples are of this merged group. Returns
    how many samples it shows."""
    prior = run.prior.numpy()
    samples, categories = samples.numpy(), categories.numpy()
    title = plots.run_title(run.config.method.name, run.info.get("step", 0), 0, len(prior))
    if category is not None:
        title += f": category {category} (prior {prior[0, category]:.3f})"
    elif group is not None:
        title += f": merged group {group}"
    else:
        title += ": samples from the prior"
    if samples.ndim == 2:
        plots.plot_samples_2d(
            path, None, samples, categories, prior[0], title, show_dead=category is not None
        )
        return len(samples)
    if category is not None:
        shown = min(len(samples), max_rows**2)
        columns = int(np.ceil(np.sqrt(shown)))
        grid = np.ones(
            (int(np.ceil(shown / columns)) * columns, *samples.shape[1:]), dtype=np.float32
        )  # blank (white) cells after the last sample
        grid[:shown] = samples[:shown]
        grid = grid.reshape(-1, columns, *samples.shape[1:])
        plots.plot_image_grid(path, grid, None, title, ylabel="samples")
        return shown
    order = [int(k) for k in np.argsort(-prior[0]) if (categories == k).any()]
    counts = [int((categories == k).sum()) for k in order]
    rows = min(max_rows, max(counts))
    grid = plots.category_columns(samples, categories, order, rows)
    plots.plot_image_grid(
        path,
        grid,
        plots.category_labels(prior[0], order),
        title,
        xlabel=plots.CATEGORY_AXIS,
        ylabel="samples",
    )
    return sum(min(rows, count) for count in counts)
