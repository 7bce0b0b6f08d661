"""A run directory and the Python API over it: train, load, evaluate, sample, classify.

Layout of a run directory:

    config.yaml              the resolved configuration
    run.json                 format version, sample shape, steps done, training time
    metrics.jsonl            statistics every `train.log_every` steps
    metrics.json             final metrics
    checkpoints/model.safetensors   all weights and the prior
    plots/                   samples.png, prior.png, curves.png
    tensorboard/             TensorBoard event files
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from cgpgan import plots
from cgpgan.config import Config, load_config, save_config
from cgpgan.data import build_dataset
from cgpgan.data.toy2d import read_points_file
from cgpgan.errors import RunError, RunExists
from cgpgan.methods import Method, build_method
from cgpgan.metrics import baseline_scores, evaluate_images, evaluate_points, image_quality
from cgpgan.metrics.images import InceptionFeatures, classify_all, generate_all
from cgpgan.prior import LIVE_THRESHOLD
from cgpgan.storage import atomic_write_text, load_tensors, save_tensors, write_json

FORMAT_VERSION = 1
WEIGHTS = Path("checkpoints") / "model.safetensors"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"train.device: {name} requested but CUDA is not available")
    return torch.device(name)


class DeadCategoryWarning(UserWarning):
    """A dead category (prior under LIVE_THRESHOLD) was asked for: the generator has
    not been trained on it, so its samples may lie off the data."""


class Run:
    """A trained (or training) model with its directory.

    >>> run = Run.load("runs/gaussians2d")
    >>> points, categories = run.sample(1000, category=2)
    """

    def __init__(self, directory: Path, config: Config, method: Method, info: dict):
        self.directory = Path(directory)
        self.config = config
        self.method = method
        self.info = info
        self.metrics: dict = {}

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> "Run":
        """Load a finished run; no data set is needed."""
        run = open_run(directory, device, complete=True)
        try:
            run.method.load_state_dict(load_tensors(run.directory / WEIGHTS))
        except Exception as error:  # safetensors raises several types for corrupt files
            raise RunError(f"{run.directory / WEIGHTS}: cannot load weights ({error})") from None
        run.method.eval()
        metrics = run.directory / "metrics.json"
        if metrics.is_file():  # the metrics of the last evaluation
            try:
                run.metrics = json.loads(metrics.read_text())
            except json.JSONDecodeError:
                raise RunError(f"{metrics}: not valid JSON (run evaluate to rewrite it)") from None
        return run

    # ------------------------------------------------------------ API

    @property
    def prior(self) -> torch.Tensor:
        """P(C), [L, K]."""
        return self.method.prior.probabilities.detach().cpu()

    @torch.no_grad()
    def sample(
        self, n: int, category: int | None = None, seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples from the moving-average generator and their categories [n, L].

        With `category`, the first label is fixed to it (other labels from the prior);
        otherwise all categories are drawn from the prior. A dead `category` (prior
        under 1%) gives a DeadCategoryWarning.
        """
        method = self.method
        num_categories = method.prior.num_categories
        if category is not None and not 0 <= category < num_categories:
            raise RunError(
                f"category {category} out of range: the run has {num_categories} categories"
            )
        probability = None if category is None else float(self.prior[0, category])
        if probability is not None and probability < LIVE_THRESHOLD:
            warnings.warn(
                f"category {category} is dead (prior {probability:.4f}, under the "
                f"{LIVE_THRESHOLD:.0%} live threshold): its samples may lie off the data",
                DeadCategoryWarning,
                stacklevel=3,
            )  # the caller, past torch.no_grad
        generator = torch.Generator(device=method.device).manual_seed(seed)
        one_hot = method.prior.sample(n, generator)
        if category is not None:
            one_hot[:, 0] = 0
            one_hot[:, 0, category] = 1
        samples = method.generate(method.sample_latent(n, generator), one_hot)
        return samples.cpu(), one_hot.argmax(dim=2).cpu()

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Category probabilities [N, L, K] of data x."""
        probabilities = self.method.classify(x.to(self.method.device))
        if probabilities is None:
            raise RunError(f"method {self.config.method.name!r} has no classifier")
        return probabilities.cpu()

    @torch.no_grad()
    def cluster(self, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """Category of each item of `x` (argmax Q(x)) and Q's confidence in it, both [N, L]."""
        if tuple(x.shape[1:]) != tuple(self.info["sample_shape"]):
            raise RunError(
                f"data of shape {list(x.shape[1:])} does not fit this run, "
                f"trained on {self.info['sample_shape']}"
            )
        probabilities = classify_all(self.method, x, batch_size)
        if probabilities is None:
            raise RunError(f"method {self.config.method.name!r} has no classifier")
        confidence, categories = probabilities.max(dim=2)
        return categories, confidence

    def cluster_data(
        self,
        overrides: list[str] | None = None,
        out: str | Path | None = None,
        data: str | Path | None = None,
    ) -> dict:
        """Cluster data: the file `data` (images as .npz/.npy for an image run; points of
        the run's dimension as .npy/.npz/.csv for a 2-D run) or the run's own data set,
        changed by `data.KEY=VALUE` overrides.

        With `out` (a .csv), writes one row per item in the input's order (item, for
        points their coordinates x0, x1, ..., then category and confidence per label)
        and, for images, a grid of examples per category beside it. Returns the
        categories, confidences and file names.
        """
        items = self._items_to_cluster(list(overrides or []), data)
        categories, confidence = self.cluster(items)
        result: dict = {"items": len(items), "categories": categories, "confidence": confidence}
        if out is None:
            return result
        out = Path(out)
        points = items.ndim == 2
        write_assignments(out, items if points else None, categories, confidence)
        if not points:
            examples = out.with_name(out.stem + "_examples.png")
            plots.plot_category_examples(
                examples,
                items.numpy(),
                categories[:, 0].numpy(),
                confidence[:, 0].numpy(),
                self.prior[0].numpy(),
            )
            result["examples"] = examples
        return result

    def _items_to_cluster(self, overrides: list[str], data: str | Path | None) -> torch.Tensor:
        for item in overrides:
            if not item.startswith("data."):
                raise RunError(f"{item.split('=')[0]}: only data.* keys can be set when clustering")
        image_run = len(self.info["sample_shape"]) == 3
        config = load_config(self.config.to_dict(), overrides)
        if data is not None:
            if overrides:
                raise RunError("cluster: give a data file or data.* settings, not both")
            data = Path(data)
            if not image_run:
                return read_points_file(data, self.info["sample_shape"][0])
            if data.suffix not in (".npz", ".npy"):
                raise RunError(f"{data}: images to cluster must be a .npz or .npy file")
            # the run's own resolution, channels and resizing; every image, in order
            config.data.name, config.data.path, config.data.max_images = "npz", str(data), 0
        dataset = build_dataset(config.data, config.seed)
        return dataset.images if dataset.kind == "images" else dataset.points

    @torch.no_grad()
    def sample_grid(self, rows: int = 8, label: int = 0, seed: int = 0, include_dead: bool = False):
        """Images [rows, columns, C, H, W]: rows share z (and the other labels, drawn
        from the prior), columns vary the category of `label`, ordered by prior;
        categories under 1% are left out unless `include_dead`. Also returns the
        category of each column."""
        method = self.method
        prior = self.prior[label]
        order = [
            k
            for k in prior.argsort(descending=True).tolist()
            if include_dead or prior[k] >= LIVE_THRESHOLD
        ]
        generator = torch.Generator(device=method.device).manual_seed(seed)
        latent = method.sample_latent(rows, generator)
        base = method.prior.sample(rows, generator)
        columns = []
        for category in order:
            one_hot = base.clone()
            one_hot[:, label] = 0
            one_hot[:, label, category] = 1
            columns.append(method.generate(latent, one_hot).cpu())
        return torch.stack(columns, dim=1), order

    def evaluate(
        self,
        write: bool = True,
        draw: bool = True,
        baselines: bool | None = None,
        inception: str | None = None,
        dataset=None,
    ) -> dict:
        """Compute the metrics (printed by the CLI), write metrics.json and the plots.

        With `inception` (a local Inception-v3 weights file), images also get FID, KID
        and precision/recall on min(train.eval_samples, 5000) real and generated images
        (RunError for other data). `dataset` is the run's data set when already loaded."""
        config = self.config
        if dataset is None:
            dataset = build_dataset(config.data, config.seed)
        if inception and dataset.kind != "images":
            raise RunError(
                "inception: FID/KID apply to image runs only; this run's data is"
                f" {config.data.name} ({'x'.join(map(str, dataset.sample_shape))}-D {dataset.kind})"
            )
        extractor = InceptionFeatures(inception) if inception else None  # bad file: fail first
        if dataset.kind == "images":
            metrics = evaluate_images(
                self.method, dataset, config.train.eval_samples, seed=config.seed
            )
            if baselines is None:
                baselines = config.train.eval_baselines
            if baselines and dataset.labels is not None:
                metrics["baselines"] = baseline_scores(
                    dataset.images, dataset.labels.numpy(), seed=config.seed
                )
            if extractor is not None:
                samples = min(config.train.eval_samples, 5000)
                quality = self.image_quality(extractor, samples, seed=config.seed, dataset=dataset)
                metrics.update(quality)
        else:
            metrics = evaluate_points(
                self.method, dataset, config.train.eval_samples, seed=config.seed
            )
        metrics["step"] = self.info.get("step", 0)
        metrics["train_seconds"] = self.info.get("train_seconds", 0.0)
        if write:
            write_json(self.directory / "metrics.json", metrics)
        if draw:
            self.draw(dataset, metrics)
        return metrics

    def image_quality(
        self, extractor: torch.nn.Module, num_samples: int = 5000, seed: int = 0, dataset=None
    ) -> dict:
        """FID, KID and precision/recall of `num_samples` generated images against as
        many real ones, in the feature space of `extractor` (any torch module mapping
        images in [0, 1] to [B, F]); self-accuracy is in `evaluate`."""
        if dataset is None:
            dataset = build_dataset(self.config.data, self.config.seed)
        if dataset.kind != "images":
            raise RunError("image quality needs an image data set")
        generator = torch.Generator().manual_seed(seed)
        real = dataset.images[torch.randperm(len(dataset), generator=generator)[:num_samples]]
        fake, _ = generate_all(self.method, len(real), seed)
        return image_quality(real, fake, extractor.to(self.method.device).eval(), seed=seed)

    def draw_grid(self, path: Path, label: int = 0, rows: int = 8) -> None:
        """The sample grid of `label` (see `sample_grid`), columns labelled with the prior."""
        grid, order = self.sample_grid(rows=rows, label=label, seed=self.config.seed)
        prior = self.prior.numpy()
        title = plots.run_title(
            self.config.method.name, self.info.get("step", 0), label, len(prior)
        )
        plots.plot_image_grid(
            path,
            grid.numpy(),
            plots.category_labels(prior[label], order),
            title,
            xlabel=plots.CATEGORY_AXIS,
            ylabel="samples (one z per row)",
        )

    def draw(self, dataset, metrics: dict | None = None) -> None:
        """The run's pictures in plots/: samples, prior, curves (and for images the
        contingency table of real data)."""
        plots_dir = self.directory / "plots"
        prior = self.prior.numpy()
        title = f"{self.config.method.name}, step {self.info.get('step', 0)}"
        if dataset.kind == "images":
            for label in range(min(prior.shape[0], 4)):
                self.draw_grid(
                    plots_dir / ("samples.png" if label == 0 else f"samples_label{label}.png"),
                    label,
                )
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
            samples, categories = self.sample(4000, seed=self.config.seed)
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
        history = read_history(self.directory)
        if history:
            plots.plot_curves(plots_dir / "curves.png", history)

    # ------------------------------------------------------------ saving

    def save(self) -> None:
        (self.directory / WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
        save_tensors(self.directory / WEIGHTS, self.method.state_dict())
        write_json(self.directory / "run.json", self.info)


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


def prepare_directory(directory: Path, overwrite: bool) -> None:
    """Create a run directory; refuse a non-empty one unless `overwrite`."""
    if directory.exists() and not directory.is_dir():
        raise RunError(f"{directory}: exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        if not overwrite:
            raise RunExists(directory)
        for old in ("metrics.jsonl", "metrics.json", "run.json", str(WEIGHTS)):
            (directory / old).unlink(missing_ok=True)
        for folder in ("tensorboard", "checkpoints", "plots/progress"):
            for old in (directory / folder).glob("*"):
                if old.is_file():
                    old.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def read_history(directory: Path) -> list[dict]:
    path = Path(directory) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def new_run(directory: Path, config: Config, sample_shape: tuple[int, ...], overwrite: bool) -> Run:
    prepare_directory(directory, overwrite)
    method = build_method(config, sample_shape, resolve_device(config.train.device))
    save_config(config, directory / "config.yaml")
    info = {
        "format_version": FORMAT_VERSION,
        "sample_shape": list(sample_shape),
        "method": config.method.name,
        "step": 0,
        "train_seconds": 0.0,
    }
    write_json(directory / "run.json", info)
    return Run(directory, config, method, info)


def open_run(directory: Path, device: str | None = None, complete: bool = False) -> Run:
    """A run directory's config and a freshly built method, on `device` (default: the
    config's); the weights come from its final file (Run.load, `complete`) or from its
    checkpoints (resume)."""
    directory = Path(directory)
    needed = ("config.yaml", "run.json", WEIGHTS) if complete else ("config.yaml", "run.json")
    for name in needed:
        if not (directory / name).is_file():
            raise RunError(
                f"{directory}: not a {'complete ' if complete else ''}run directory "
                f"({name} is missing)"
            )
    config = load_config(directory / "config.yaml")
    info = _read_info(directory)
    method = build_method(
        config, tuple(info["sample_shape"]), resolve_device(device or config.train.device)
    )
    return Run(directory, config, method, info)


def _read_info(directory: Path) -> dict:
    try:
        info = json.loads((directory / "run.json").read_text())
    except json.JSONDecodeError:
        raise RunError(f"{directory / 'run.json'}: not valid JSON") from None
    if not isinstance(info, dict) or info.get("format_version") != FORMAT_VERSION:
        found = info.get("format_version") if isinstance(info, dict) else info
        raise RunError(f"{directory}: unsupported run format {found!r}")
    return info
