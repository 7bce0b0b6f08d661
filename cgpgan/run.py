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

import json
from pathlib import Path

import torch

from cgpgan.config import Config, load_config, save_config
from cgpgan.data import build_dataset
from cgpgan.errors import RunError
from cgpgan.methods import Method, build_method
from cgpgan.metrics import evaluate_points
from cgpgan import plots
from cgpgan.storage import load_tensors, save_tensors, write_json

FORMAT_VERSION = 1
WEIGHTS = Path("checkpoints") / "model.safetensors"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"train.device: {name} requested but CUDA is not available")
    return torch.device(name)


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
        directory = Path(directory)
        for needed in ("config.yaml", "run.json", WEIGHTS):
            if not (directory / needed).is_file():
                raise RunError(f"{directory}: not a complete run directory ({needed} is missing)")
        config = load_config(directory / "config.yaml")
        try:
            info = json.loads((directory / "run.json").read_text())
        except json.JSONDecodeError:
            raise RunError(f"{directory / 'run.json'}: not valid JSON") from None
        if info.get("format_version") != FORMAT_VERSION:
            raise RunError(f"{directory}: unsupported run format {info.get('format_version')!r}")
        method = build_method(config, tuple(info["sample_shape"]), resolve_device(device))
        try:
            state = load_tensors(directory / WEIGHTS)
            method.load_state_dict(state)
        except Exception as error:  # safetensors raises several types for corrupt files
            raise RunError(f"{directory / WEIGHTS}: cannot load weights ({error})") from None
        method.eval()
        return cls(directory, config, method, info)

    # ------------------------------------------------------------ API

    @property
    def prior(self) -> torch.Tensor:
        """P(C), [L, K]."""
        return self.method.prior.probabilities.detach().cpu()

    @torch.no_grad()
    def sample(self, n: int, category: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples from the moving-average generator and their categories [n, L].

        With `category`, the first label is fixed to it (other labels from the prior);
        otherwise all categories are drawn from the prior.
        """
        method = self.method
        num_categories = method.prior.num_categories
        if category is not None and not 0 <= category < num_categories:
            raise RunError(f"category {category} out of range: the run has {num_categories} categories")
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

    def evaluate(self, write: bool = True, draw: bool = True) -> dict:
        """Compute the metrics (printed by the CLI), write metrics.json and the plots."""
        config = self.config
        dataset = build_dataset(config.data, config.seed)
        metrics = evaluate_points(self.method, dataset, config.train.eval_samples, seed=config.seed)
        metrics["step"] = self.info.get("step", 0)
        metrics["train_seconds"] = self.info.get("train_seconds", 0.0)
        if write:
            write_json(self.directory / "metrics.json", metrics)
        if draw:
            self.draw(dataset)
        return metrics

    def draw(self, dataset) -> None:
        samples, categories = self.sample(4000, seed=self.config.seed)
        real = dataset.points[:4000].numpy()
        prior = self.prior.numpy()
        title = f"{self.config.method.name}, step {self.info.get('step', 0)}"
        plots.plot_samples_2d(self.directory / "plots" / "samples.png", real, samples.numpy(), categories[:, 0].numpy(), prior[0], title)
        plots.plot_prior(self.directory / "plots" / "prior.png", prior, dataset.mode_probabilities.numpy())
        history = read_history(self.directory)
        if history:
            plots.plot_curves(self.directory / "plots" / "curves.png", history)

    # ------------------------------------------------------------ saving

    def save(self) -> None:
        (self.directory / WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
        save_tensors(self.directory / WEIGHTS, self.method.state_dict())
        write_json(self.directory / "run.json", self.info)


def prepare_directory(directory: Path, overwrite: bool) -> None:
    """Create a run directory; refuse a non-empty one unless `overwrite`."""
    if directory.exists() and not directory.is_dir():
        raise RunError(f"{directory}: exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        if not overwrite:
            raise RunError(f"{directory}: run directory exists; pass --overwrite to replace it")
        for old in ("metrics.jsonl", "metrics.json", "run.json", str(WEIGHTS)):
            (directory / old).unlink(missing_ok=True)
        for old in (directory / "tensorboard").glob("*"):
            old.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def read_history(directory: Path) -> list[dict]:
    path = Path(directory) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def new_run(directory: Path, config: Config, sample_shape: tuple[int, ...], overwrite: bool) -> Run:
    prepare_directory(directory, overwrite)
    save_config(config, directory / "config.yaml")
    method = build_method(config, sample_shape, resolve_device(config.train.device))
    info = {"format_version": FORMAT_VERSION, "sample_shape": list(sample_shape), "method": config.method.name, "step": 0, "train_seconds": 0.0}
    return Run(directory, config, method, info)
