"""A run directory and the Python API over it: load, sample, classify, cluster,
evaluate. Evaluation is in `evaluation.py` (the metrics from `metrics/registry.py`),
the pictures and CSV files a run writes in `outputs.py`; `Run` delegates to both.

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
import warnings
from pathlib import Path

import torch

from cgpgan import distributed, evaluation, outputs
from cgpgan.config import Config, load_config, load_saved_config, save_config
from cgpgan.data import build_dataset
from cgpgan.data.toy2d import read_points_file
from cgpgan.errors import RunError, RunExists
from cgpgan.methods import Method, build_method
from cgpgan.metrics import classify_all
from cgpgan.prior import LIVE_THRESHOLD, fix_category
from cgpgan.storage import load_tensors, save_tensors, write_json

__all__ = ["WEIGHTS", "DeadCategoryWarning", "Run", "new_run", "open_run"]

FORMAT_VERSION = 1
WEIGHTS = Path("checkpoints") / "model.safetensors"


def probe_files(network: str) -> tuple[str, str]:
    """Where `Run.probe` writes the scores and the picture of a network's features."""
    suffix = "" if network == "critic" else f"_{network}"
    return f"probe{suffix}.json", f"plots/probe_embedding{suffix}.png"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"train.device: {name} requested but CUDA is not available")
    return torch.device(name)


def device_description(device: torch.device) -> str:
    """What a run was started on, for run.json: "cpu" or "cuda: <the GPU's name>"."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return device.type


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
        self, n: int, category: int | None = None, seed: int = 0, group: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples from the moving-average generator and their categories [n, L].

        With `category`, the first label is fixed to it (other labels from the prior);
        with `group`, a merged group of the run's merge.json (`Run.merge`), the first
        label is drawn from the group's members in proportion to their priors; otherwise
        all categories are drawn from the prior. A dead `category` (prior under 1%) gives
        a DeadCategoryWarning.
        """
        method = self.method
        num_categories = method.prior.num_categories
        if group is not None:
            if category is not None:
                raise RunError("sample: give a category or a merged group, not both")
            groups = self.merged()["groups"]
            if not 0 <= group < len(groups):
                raise RunError(f"group {group} out of range: merge.json has {len(groups)} groups")
            return self.sample_members(n, groups[group], seed)
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
            fix_category(one_hot, 0, category)
        samples = method.generate(method.sample_latent(n, generator), one_hot)
        return samples.cpu(), one_hot.argmax(dim=2).cpu()

    @torch.no_grad()
    def sample_members(
        self, n: int, members: list[int], seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples whose first label is drawn from the categories `members` (a merged
        group) in proportion to their priors, and their categories [n, L]."""
        method = self.method
        generator = torch.Generator(device=method.device).manual_seed(seed)
        one_hot = method.prior.sample(n, generator)
        members = torch.tensor(members, device=method.device)
        weights = method.prior.probabilities[0, members].detach()
        if not weights.sum() > 0:
            raise RunError(f"categories {members.tolist()}: their priors are all 0")
        drawn = members[torch.multinomial(weights, n, replacement=True, generator=generator)]
        one_hot[:, 0] = torch.nn.functional.one_hot(drawn, one_hot.shape[2]).to(one_hot)
        samples = method.generate(method.sample_latent(n, generator), one_hot)
        return samples.cpu(), one_hot.argmax(dim=2).cpu()

    @torch.no_grad()
    def classify(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Category probabilities [N, L, K] of data x, computed in batches."""
        if tuple(x.shape[1:]) != tuple(self.info["sample_shape"]):
            raise RunError(
                f"data of shape {list(x.shape[1:])} does not fit this run, "
                f"trained on {self.info['sample_shape']}"
            )
        probabilities = classify_all(self.method, x, batch_size)
        if probabilities is None:
            raise RunError(f"method {self.config.method.name!r} has no classifier")
        return probabilities

    def cluster(
        self, x: torch.Tensor, batch_size: int = 500, merged: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Category of each item of `x` (argmax Q(x)) and Q's confidence in it, both [N, L].
        With `merged`, the first label's merged groups of the run's merge.json instead
        (`Run.merge`), [N, 1]: the group of the item's category, and the sum of Q's
        probabilities over that group's members."""
        return self._cluster(x, self.merged() if merged else None, batch_size)

    @torch.no_grad()
    def _cluster(self, x: torch.Tensor, merge: dict | None, batch_size: int = 500):
        """`cluster`, into the groups of `merge` (a merge.json's contents) if given."""
        probabilities = self.classify(x, batch_size)
        confidence, categories = probabilities.max(dim=2)
        if merge is None:
            return categories, confidence
        members = [torch.tensor(group) for group in merge["groups"]]
        sure = torch.stack([probabilities[:, 0, g].sum(dim=1) for g in members], dim=1)
        groups = torch.tensor(merge["category_group"])[categories[:, :1]]
        # a category no item of the merged data fell in has no group: the surest group
        groups = torch.where(groups < 0, sure.argmax(dim=1, keepdim=True), groups)
        return groups, sure.gather(1, groups)

    def merged(self) -> dict:
        """The run's merge.json (`Run.merge`)."""
        path = self.directory / "merge.json"
        if not path.is_file():
            raise RunError(
                f"{self.directory} has no merge.json: run `cgpgan merge RUN_DIR --categories N`"
            )
        try:
            merge = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise RunError(f"{path}: not valid JSON ({error}); run `cgpgan merge` again") from None
        if len(merge.get("category_group", [])) != self.prior.shape[1]:
            raise RunError(
                f"{path}: not a merge of this run's {self.prior.shape[1]} categories; "
                "run `cgpgan merge` again"
            )
        return merge

    def cluster_data(
        self,
        overrides: list[str] | None = None,
        out: str | Path | None = None,
        data: str | Path | None = None,
        merged: bool = False,
    ) -> dict:
        """Cluster data: the file `data` (images as .npz/.npy for an image run; points of
        the run's dimension as .npy/.npz/.csv for a 2-D run) or the run's own data set,
        changed by `data.KEY=VALUE` overrides.

        With `merged`, the groups of the run's merge.json (`Run.merge`) instead of its
        categories. With `out` (a .csv), writes one row per item in the input's order
        (item, for points their coordinates x0, x1, ..., then category and confidence per
        label) and, for images, a grid of examples per category beside it. Returns the
        categories, confidences and file names.
        """
        items = self._items_to_cluster(list(overrides or []), data)
        merge = self.merged() if merged else None
        categories, confidence = self._cluster(items, merge)
        result: dict = {"items": len(items), "categories": categories, "confidence": confidence}
        if out is None:
            return result
        prior = self.prior if merge is None else torch.tensor([merge["group_prior"]])
        examples = outputs.write_clusters(Path(out), items, categories, confidence, prior)
        if examples is not None:
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
        return dataset.items

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
            one_hot = fix_category(base.clone(), label, category)
            columns.append(method.generate(latent, one_hot).cpu())
        return torch.stack(columns, dim=1), order

    # ------------------------------------------------------------ evaluation, pictures

    def evaluate(
        self,
        write: bool = True,
        draw: bool = True,
        baselines: bool | None = None,
        inception: str | None = None,
        dataset=None,
        quick: bool = False,
    ) -> dict:
        """Compute the metrics (printed by the CLI), write metrics.json and the plots;
        `quick`: without the slow metrics.

        Every registered metric that applies to the run (see `evaluation.evaluate`);
        baselines by default as `train.eval_baselines`. With `inception` (a local
        Inception-v3 weights file), images also get FID, KID and precision/recall on
        min(train.eval_samples, 5000) real and generated images (RunError for other
        data). With `method.merge_into` or `merge_min_rate` (and not `quick`), the
        categories are also merged (`Run.merge`): merge.json, the merged scores under
        `merged` and plots/samples_merged.png. `dataset` is the run's data set when
        already loaded."""
        from cgpgan.merging import merge_rule

        if dataset is None:
            dataset = build_dataset(self.config.data, self.config.seed)
        metrics = evaluation.evaluate(
            self.method, self.config, self.info, dataset, baselines, inception, quick
        )
        merged = None
        rule = merge_rule(self.config)
        if rule is not None and not quick:  # over-cluster, then merge
            merged = self.merge(**rule, dataset=dataset, write=write)
            metrics["merged"] = {"groups": len(merged["groups"]), **merged.get("scores", {})}
        if write:
            write_json(self.directory / "metrics.json", metrics)
        if draw:
            self.draw(dataset, metrics, merged)
        return metrics

    def image_quality(
        self, extractor: torch.nn.Module, num_samples: int = 5000, seed: int = 0, dataset=None
    ) -> dict:
        """FID, KID and precision/recall of `num_samples` generated images against as
        many real ones, in the feature space of `extractor` (any torch module mapping
        images in [0, 1] to [B, F]); self-accuracy is in `evaluate`."""
        if dataset is None:
            dataset = build_dataset(self.config.data, self.config.seed)
        return evaluation.image_quality(self.method, dataset, extractor, num_samples, seed)

    def draw_grid(self, path: Path, label: int = 0, rows: int = 8) -> None:
        """The sample grid of `label` (see `sample_grid`), columns labelled with the prior."""
        outputs.draw_grid(self, path, label, rows)

    def probe(self, network: str = "critic", repeats: int = 20, dataset=None) -> dict:
        """Representation probes of the `network` features (`cgpgan.metrics.probe`):
        linear-probe and spherical k-means scores, written to probe.json, and the
        features' PCA embedding coloured by class in plots/probe_embedding.png (for the
        classifier's features probe_classifier.json and probe_embedding_classifier.png,
        so that both probes of a run are kept)."""
        from cgpgan.metrics.probe import probe
        from cgpgan.plots import plot_embedding

        if dataset is None:
            dataset = build_dataset(self.config.data, self.config.seed)
        if dataset.labels is None:
            raise RunError(f"probe: data set {self.config.data.name} has no labels to score")
        scores, embedding, classes = probe(self.method, dataset, network, self.config.seed, repeats)
        scores_file, picture = probe_files(network)
        write_json(self.directory / scores_file, scores)
        title = f"{self.config.method.name}: {network} features (PCA), by true class"
        plot_embedding(self.directory / picture, embedding, classes, title)
        return scores

    def merge(
        self,
        target: int = 1,
        repeats: int = 8,
        dataset=None,
        write: bool = True,
        min_rate: float = 0.0,
        linkage: str | None = None,
    ) -> dict:
        """The run's categories merged by how often images swap category under small moves
        (`cgpgan.merging`) until `target` groups remain or the next two to merge swap at
        a rate below `min_rate`, on its own data set unless `dataset` is given; written to
        merge.json if `write`. `linkage` (`cgpgan.merging.LINKAGES`) chooses which two
        groups merge next; None: the run's `method.merge_linkage` (CGPGAN's default for a
        method without it)."""
        from cgpgan.merging import merge

        if dataset is None:
            dataset = build_dataset(self.config.data, self.config.seed)
        result = merge(self, dataset, target, repeats, self.config.seed, min_rate, linkage)
        if write:
            write_json(self.directory / "merge.json", result)
        return result

    def draw(self, dataset, metrics: dict | None = None, merge: dict | None = None) -> None:
        """The run's pictures in plots/: samples, prior, curves (and for images the
        contingency table of real data; with `merge`, a result of `Run.merge`, the
        merged groups' samples)."""
        outputs.draw(self, dataset, metrics, merge)

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
            raise RunExists(directory)
        # what a run writes after training too: a stale merge or probe would describe
        # the old model
        written = (
            "merge.json",
            "plots/samples_merged.png",
            *probe_files("critic"),
            *probe_files("classifier"),
        )
        for old in ("metrics.jsonl", "metrics.json", "run.json", str(WEIGHTS), *written):
            (directory / old).unlink(missing_ok=True)
        for folder in ("tensorboard", "checkpoints", "plots/progress"):
            for old in (directory / folder).glob("*"):
                if old.is_file():
                    old.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def new_run(directory: Path, config: Config, dataset, overwrite: bool) -> Run:
    """A fresh run of `config` on `dataset` in `directory`; a method that cannot be built
    or set up from the data fails before the directory (or one it replaces) is touched."""
    sample_shape = dataset.sample_shape
    method = build_method(config, sample_shape, resolve_device(config.train.device))
    method.fit_to_data(dataset)
    prepare_directory(directory, overwrite)
    save_config(config, directory / "config.yaml")
    info = {
        "format_version": FORMAT_VERSION,
        "sample_shape": list(sample_shape),
        "method": config.method.name,
        "step": 0,
        "train_seconds": 0.0,
        "processes": distributed.world_size(),
        "device": device_description(method.device),
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
    config = load_saved_config(directory / "config.yaml")
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
