"""Pictures of a run: samples over the data, the prior, training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LIVE_THRESHOLD = 0.01


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


def _save(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
