"""Pictures of a run: samples over the data, the prior, training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cgpgan.prior import LIVE_THRESHOLD, SHARE  # noqa: E402


def draw_samples_2d(
    axis,
    real: np.ndarray | None,
    samples: np.ndarray,
    categories: np.ndarray,
    prior: np.ndarray,
    title: str = "",
    show_dead: bool = False,
) -> None:
    """Real data in grey (if given), generated samples coloured by category (Figure 4
    of the VCAGAN paper); the legend lists live categories with their prior, and dead
    ones too with `show_dead` (e.g. when a dead category was asked for)."""
    if real is not None:
        axis.scatter(real[:, 0], real[:, 1], s=2, c="0.8", label="real", rasterized=True)
    colours = plt.get_cmap("tab20" if len(prior) > 10 else "tab10")
    for category in np.argsort(-prior):
        chosen = categories == category
        dead = prior[category] < LIVE_THRESHOLD
        if (dead and not show_dead) or not chosen.any():
            continue
        name = f"{category}: {prior[category]:.3f}" + (" (dead)" if dead else "")
        axis.scatter(
            *samples[chosen].T,
            s=2,
            color=colours(category % colours.N),
            label=name,
            rasterized=True,
        )
    axis.set_xlabel("x0")
    axis.set_ylabel("x1")
    axis.set_title(title, fontsize=9)
    axis.set_aspect("equal")
    axis.legend(fontsize=6, markerscale=4, loc="best", title="category: prior", title_fontsize=6)


def plot_samples_2d(
    path: Path, real, samples, categories, prior, title: str = "", show_dead: bool = False
) -> None:
    figure, axis = plt.subplots(figsize=(6, 6))
    draw_samples_2d(axis, real, samples, categories, prior, title, show_dead)
    _save(figure, path)


CATEGORY_AXIS = "category: prior (sorted by prior)"


def category_labels(prior: np.ndarray, order) -> list[str]:
    """Column labels of a category grid: `k: P(C = k)`."""
    return [f"{k}: {prior[k]:.3f}" for k in order]


def run_title(method: str, step: int, label: int = 0, num_labels: int = 1) -> str:
    """`method, step N`, with the label named when there are several."""
    name = label_name(label, num_labels)
    return f"{method}, step {step}" + (f", {name}" if name else "")


def label_name(label: int, num_labels: int) -> str:
    """How pictures name a label: nothing when there is one, else its index (from 0, as
    in file names and CSV columns) and the range."""
    return "" if num_labels == 1 else f"label {label} (labels 0-{num_labels - 1})"


def draw_prior(
    axis, probabilities: np.ndarray, label: int = 0, num_labels: int = 1, true_probabilities=None
) -> None:
    """Bar chart of one label's prior [K], categories sorted by probability."""
    order = np.argsort(-probabilities)
    axis.bar(range(len(order)), probabilities[order], color="tab:blue", label="prior")
    axis.set_xticks(range(len(order)), [str(k) for k in order], fontsize=7)
    axis.axhline(
        LIVE_THRESHOLD,
        color="0.5",
        linestyle=":",
        linewidth=1,
        label=f"live threshold ({LIVE_THRESHOLD:.0%})",
    )
    if true_probabilities is not None:
        truth = np.sort(np.asarray(true_probabilities))[::-1]
        axis.scatter(
            range(len(truth)), truth, color="tab:red", marker="_", s=200, label="true (sorted)"
        )
    axis.legend(fontsize=7)
    axis.set_xlabel("category (sorted by prior)")
    axis.set_ylabel("P(C = k)")
    name = label_name(label, num_labels)
    axis.set_title(f"prior of {name}" if name else "prior P(C)", fontsize=9)


def plot_prior(path: Path, probabilities: np.ndarray, true_probabilities=None) -> None:
    """The prior [L, K] of the first (at most 4) labels; the true class frequencies
    belong to the first label only."""
    num_labels = len(probabilities)
    shown = min(num_labels, 4)
    figure, axes = plt.subplots(1, shown, figsize=(4 * shown, 3.2), squeeze=False)
    for label, axis in enumerate(axes[0]):
        truth = true_probabilities if label == 0 else None
        draw_prior(axis, probabilities[label], label, num_labels, truth)
    _save(figure, path)


def draw_curves(losses_axis, entropy_axis, history: list[dict]) -> None:
    """Losses and prior entropy over training, on two axes."""
    steps = [row["step"] for row in history]
    names = sorted({key for row in history for key in row if key.startswith("loss/")})
    for name in names:
        losses_axis.plot(steps, [row.get(name, np.nan) for row in history], label=name[5:])
    losses_axis.set_xlabel("training step")
    losses_axis.set_ylabel("loss")
    losses_axis.set_title("losses", fontsize=9)
    if names:
        losses_axis.legend(fontsize=7)
    else:  # a method that logs no "loss/..." values
        losses_axis.text(0.5, 0.5, "no losses logged", ha="center", transform=losses_axis.transAxes)
    entropy_axis.plot(steps, [row.get("prior/entropy", np.nan) for row in history])
    entropy_axis.set_xlabel("training step")
    entropy_axis.set_ylabel("entropy (nats)")
    entropy_axis.ticklabel_format(axis="y", useOffset=False)  # show nats, not "1e-5+2.30"
    entropy_axis.set_title("prior entropy H(P)", fontsize=9)


def plot_curves(path: Path, history: list[dict]) -> None:
    figure, (losses_axis, entropy_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    draw_curves(losses_axis, entropy_axis, history)
    _save(figure, path)


def draw_prior_trajectory(axis, history: list[dict], true_probabilities=None, title="") -> None:
    """Each category's prior share (first label) against the training step, from the
    `prior/share/k` columns of metrics.jsonl; the true class shares, where known, as
    dashed lines."""
    keys = [key for key in history[-1] if key.startswith(SHARE)]
    keys.sort(key=lambda key: int(key[len(SHARE) :]))
    steps = [row["step"] for row in history]
    colours = plt.get_cmap("tab20")
    for index, key in enumerate(keys):
        values = [row.get(key, np.nan) for row in history]
        axis.plot(steps, values, color=colours(index % 20), linewidth=1.2, label=key[len(SHARE) :])
    for share in [] if true_probabilities is None else true_probabilities:
        axis.axhline(share, color="0.35", linestyle="--", linewidth=0.7)
    axis.set_xlabel("training step")
    axis.set_ylabel("prior share")
    truth = "; dashed: the true class shares" if true_probabilities is not None else ""
    axis.set_title(f"{title}: prior per category{truth}", fontsize=9)
    if 0 < len(keys) <= 20:
        axis.legend(title="category", fontsize=6, title_fontsize=7, ncol=2, loc="upper right")


def plot_prior_trajectory(path: Path, *args, **kwargs) -> None:
    """draw_prior_trajectory's picture alone in a figure saved to `path`."""
    figure, axis = plt.subplots(figsize=(6, 3.8))
    draw_prior_trajectory(axis, *args, **kwargs)
    _save(figure, path)


def draw_embedding(axis, embedding: np.ndarray, classes: np.ndarray, title: str = "") -> None:
    """A 2-D embedding of features [N, 2], each item coloured by its true class."""
    colours = plt.get_cmap("tab10" if classes.max() < 10 else "tab20")
    for label in np.unique(classes):
        mine = classes == label
        axis.scatter(*embedding[mine].T, s=3, color=colours(int(label) % 20), label=str(label))
    axis.set_title(title, fontsize=9)
    axis.legend(title="class", fontsize=6, title_fontsize=7, markerscale=3, loc="best")


def plot_embedding(path: Path, *args, **kwargs) -> None:
    figure, axis = plt.subplots(figsize=(5, 5))
    draw_embedding(axis, *args, **kwargs)
    _save(figure, path)


def _to_display(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [-1, 1] to what imshow takes."""
    image = np.clip((image + 1) / 2, 0, 1)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def draw_image_grid(
    axis,
    images: np.ndarray,
    column_labels: list[str] | None = None,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
) -> None:
    """images [rows, columns, C, H, W] tiled into one picture, one label per column."""
    rows, columns, channels, height, width = images.shape
    pad = 1
    canvas = np.ones((rows * (height + pad) + pad, columns * (width + pad) + pad, 3))
    for row in range(rows):
        for column in range(columns):
            tile = _to_display(images[row, column])
            top, left = pad + row * (height + pad), pad + column * (width + pad)
            canvas[top : top + height, left : left + width] = (
                tile[..., None] if tile.ndim == 2 else tile
            )
    axis.imshow(canvas, interpolation="nearest")
    axis.set_yticks([])
    if column_labels:
        axis.set_xticks(
            [pad + (width + pad) * c + width / 2 for c in range(columns)],
            column_labels,
            fontsize=6,
            rotation=90,
        )
    else:
        axis.set_xticks([])
    axis.set_xlabel(xlabel, fontsize=8)
    axis.set_ylabel(ylabel, fontsize=8)
    axis.set_title(title, fontsize=9)


def plot_image_grid(path: Path, images: np.ndarray, *labels, **named_labels) -> None:
    """draw_image_grid's picture of `images` [rows, columns, C, H, W] (its labels given
    as to it), alone in a figure saved to `path`."""
    rows, columns = images.shape[:2]
    size = (max(3.0, 0.45 * columns + 0.8), max(2.5, 0.45 * rows + 1.2))
    figure, axis = plt.subplots(figsize=size)
    draw_image_grid(axis, images, *labels, **named_labels)
    _save(figure, path)


def category_columns(
    images: np.ndarray, categories: np.ndarray, order: list[int], rows: int
) -> np.ndarray:
    """A grid [rows, len(order), C, H, W]: column j holds the first `rows` images of
    category order[j], in their given order, and blank (white) cells below if fewer."""
    grid = np.ones((rows, len(order), *images.shape[1:]), dtype=np.float32)
    for column, category in enumerate(order):
        members = images[categories == category][:rows]
        grid[: len(members), column] = members
    return grid


def draw_category_examples(
    axis,
    images: np.ndarray,
    categories: np.ndarray,
    confidence: np.ndarray,
    prior: np.ndarray,
    per_category: int = 10,
) -> list[int]:
    """One column per category (ordered by prior, empty ones left out, as in
    samples.png), its most confident real items down the rows. Returns the columns'
    categories."""
    order = [int(k) for k in np.argsort(-prior) if (categories == k).any()]
    ranked = np.argsort(-confidence, kind="stable")  # the most confident first
    grid = category_columns(images[ranked], categories[ranked], order, per_category)
    draw_image_grid(
        axis,
        grid,
        category_labels(prior, order),
        "real items per category, argmax Q(x)",
        xlabel=CATEGORY_AXIS,
        ylabel="items, most confident first",
    )
    return order


def plot_category_examples(
    path: Path,
    images: np.ndarray,
    categories: np.ndarray,
    confidence: np.ndarray,
    prior: np.ndarray,
    per_category: int = 10,
) -> None:
    columns = int(sum((categories == k).any() for k in range(len(prior))))
    size = (max(3.0, 0.45 * columns + 0.8), 0.45 * per_category + 1.2)
    figure, axis = plt.subplots(figsize=size)
    draw_category_examples(axis, images, categories, confidence, prior, per_category)
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
                axis.text(
                    column, row, str(shown[row, column]), ha="center", va="center", fontsize=6
                )
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
