"""Pictures of a run: samples over the data, the prior, training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cgpgan.prior import LIVE_THRESHOLD  # noqa: E402


def draw_samples_2d(axis, real: np.ndarray, samples: np.ndarray, categories: np.ndarray, prior: np.ndarray, title: str = "") -> None:
    """Real data in grey, generated samples coloured by category (Figure 4 of the
    VCAGAN paper); the legend lists live categories with their prior."""
    axis.scatter(real[:, 0], real[:, 1], s=2, c="0.8", label="real", rasterized=True)
    colours = plt.get_cmap("tab20" if len(prior) > 10 else "tab10")
    for category in np.argsort(-prior):
        chosen = categories == category
        if prior[category] < LIVE_THRESHOLD or not chosen.any():
            continue
        axis.scatter(*samples[chosen].T, s=2, color=colours(category % colours.N), label=f"{category}: {prior[category]:.3f}", rasterized=True)
    axis.set_title(title, fontsize=9)
    axis.set_aspect("equal")
    axis.legend(fontsize=6, markerscale=4, loc="best")


def plot_samples_2d(path: Path, real, samples, categories, prior, title: str = "") -> None:
    figure, axis = plt.subplots(figsize=(6, 6))
    draw_samples_2d(axis, real, samples, categories, prior, title)
    _save(figure, path)


def plot_prior(path: Path, probabilities: np.ndarray, true_probabilities=None) -> None:
    """Bar chart of each label's prior, categories sorted by probability."""
    num_labels = min(len(probabilities), 4)
    figure, axes = plt.subplots(1, num_labels, figsize=(4 * num_labels, 3), squeeze=False)
    for label, axis in enumerate(axes[0]):
        order = np.argsort(-probabilities[label])
        axis.bar(range(len(order)), probabilities[label][order], color="tab:blue", label="prior")
        axis.set_xticks(range(len(order)), [str(k) for k in order], fontsize=7)
        axis.axhline(LIVE_THRESHOLD, color="0.5", linestyle=":", linewidth=1)
        if true_probabilities is not None and label == 0:
            truth = np.sort(np.asarray(true_probabilities))[::-1]
            axis.scatter(range(len(truth)), truth, color="tab:red", marker="_", s=200, label="true (sorted)")
            axis.legend(fontsize=7)
        axis.set_xlabel("category")
        axis.set_title(f"prior, label {label}", fontsize=9)
    _save(figure, path)


def plot_curves(path: Path, history: list[dict]) -> None:
    """Losses and prior entropy over training."""
    steps = [row["step"] for row in history]
    figure, (losses_axis, entropy_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    for name in sorted({key for row in history for key in row if key.startswith("loss/")}):
        losses_axis.plot(steps, [row.get(name, np.nan) for row in history], label=name[5:])
    losses_axis.set_xlabel("step")
    losses_axis.set_title("losses", fontsize=9)
    losses_axis.legend(fontsize=7)
    entropy_axis.plot(steps, [row.get("prior/entropy", np.nan) for row in history])
    entropy_axis.set_xlabel("step")
    entropy_axis.set_title("prior entropy H(P)", fontsize=9)
    _save(figure, path)


def _to_display(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [-1, 1] to what imshow takes."""
    image = np.clip((image + 1) / 2, 0, 1)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def draw_image_grid(axis, images: np.ndarray, column_labels: list[str] | None = None, title: str = "") -> None:
    """images [rows, columns, C, H, W] tiled into one picture, one label per column."""
    rows, columns, channels, height, width = images.shape
    pad = 1
    canvas = np.ones((rows * (height + pad) + pad, columns * (width + pad) + pad, 3))
    for row in range(rows):
        for column in range(columns):
            tile = _to_display(images[row, column])
            top, left = pad + row * (height + pad), pad + column * (width + pad)
            canvas[top : top + height, left : left + width] = tile[..., None] if tile.ndim == 2 else tile
    axis.imshow(canvas, interpolation="nearest")
    axis.set_yticks([])
    if column_labels:
        axis.set_xticks([pad + (width + pad) * c + width / 2 for c in range(columns)], column_labels, fontsize=6, rotation=90)
    else:
        axis.set_xticks([])
    axis.set_title(title, fontsize=9)


def plot_image_grid(path: Path, images: np.ndarray, column_labels: list[str] | None = None, title: str = "") -> None:
    rows, columns = images.shape[:2]
    figure, axis = plt.subplots(figsize=(max(3.0, 0.45 * columns + 0.5), max(2.5, 0.45 * rows + 0.8)))
    draw_image_grid(axis, images, column_labels, title)
    _save(figure, path)


def plot_category_examples(path: Path, images: np.ndarray, categories: np.ndarray, confidence: np.ndarray, prior: np.ndarray, per_category: int = 10) -> None:
    """One row per category (ordered by prior, empty ones left out): its most
    confident real items."""
    order = [k for k in np.argsort(-prior) if (categories == k).any()]
    grid = np.zeros((len(order), per_category, *images.shape[1:]), dtype=np.float32)
    for row, category in enumerate(order):
        members = np.flatnonzero(categories == category)
        chosen = members[np.argsort(-confidence[members])][:per_category]
        grid[row, : len(chosen)] = images[chosen]
    figure, axis = plt.subplots(figsize=(0.5 * per_category + 1.5, 0.5 * len(order) + 0.8))
    draw_image_grid(axis, grid, title="real items per category (most confident first)")
    height = images.shape[-2]
    axis.set_yticks([1 + (height + 1) * r + height / 2 for r in range(len(order))], [f"{k}: {prior[k]:.3f}" for k in order], fontsize=6)
    _save(figure, path)


def plot_contingency(path: Path, table: np.ndarray, prior: np.ndarray, title: str = "") -> None:
    """Counts of real items per (category, true class); categories ordered by prior."""
    order = [k for k in np.argsort(-prior) if table[k].sum() > 0 or prior[k] >= LIVE_THRESHOLD]
    figure, axis = plt.subplots(figsize=(0.5 * table.shape[1] + 2, 0.35 * len(order) + 1.5))
    shown = table[order]
    axis.imshow(shown, cmap="Blues", aspect="auto")
    for row in range(shown.shape[0]):
        for column in range(shown.shape[1]):
            if shown[row, column]:
                axis.text(column, row, str(shown[row, column]), ha="center", va="center", fontsize=6)
    axis.set_yticks(range(len(order)), [f"{k} ({prior[k]:.2f})" for k in order], fontsize=7)
    axis.set_xticks(range(table.shape[1]), [str(c) for c in range(table.shape[1])], fontsize=7)
    axis.set_xlabel("true class")
    axis.set_ylabel("category (prior)")
    axis.set_title(title, fontsize=9)
    _save(figure, path)


def _save(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
