"""Typed, validated configuration: dataclasses loaded from YAML presets or files.

A configuration has four groups (`data`, `network`, `method`, `train`) plus `seed`.
Any value can be overridden with a dotted key, e.g. ``method.num_categories=8``.
An unknown key or an out-of-range value raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import math
import re
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from cgpgan.errors import ConfigError

PAPER_CENTERS = [[-2.0, 2.0], [2.0, 1.0], [0.0, -2.0], [1.0, -1.0]]
PAPER_PROBABILITIES = [0.1, 0.4, 0.2, 0.3]


POINT_DATA = ("gaussian_mixture", "double_spiral")
IMAGE_DATA = ("digits", "mnist5k", "mnist_idx", "cifar", "image_folder", "npz")
LOCAL_DATA = ("mnist_idx", "cifar", "image_folder", "npz")
# train.optimizer_implementation: the keyword arguments of torch.optim.Adam / AdamW for each
OPTIMIZER_IMPLEMENTATIONS = {
    "fused": {"fused": True, "foreach": False},
    "foreach": {"fused": False, "foreach": True},
    "for_loop": {"fused": False, "foreach": False},
}


@dataclass
class DataConfig:
    """The training data: 2-D points (sampled once into `num_samples` points) or images.

    Image data sets: `digits` and `mnist5k` are built in; the others read `path`.
    """

    # 2-D points: gaussian_mixture | double_spiral; images: digits | mnist5k (built in),
    # mnist_idx | cifar | image_folder | npz (read from `path`)
    name: str = "gaussian_mixture"
    # gaussian_mixture: the [x, y] centre of each Gaussian
    centers: list[list[float]] = field(default_factory=lambda: [list(c) for c in PAPER_CENTERS])
    # gaussian_mixture: the weight of each Gaussian (sums to 1)
    probabilities: list[float] = field(default_factory=lambda: list(PAPER_PROBABILITIES))
    std: float = 0.3  # gaussian_mixture: standard deviation of each Gaussian
    num_samples: int = 100_000  # 2-D data: points drawn once to train on
    spiral_turns: float = 1.5  # double_spiral: turns of each arm
    spiral_noise: float = 0.1  # double_spiral: std of the Gaussian noise added to points
    path: str = ""  # file or folder for mnist_idx, cifar, image_folder, npz
    split: str = "train"  # train | test, for folders holding both
    # images are made square of this size; 0: native, padded to the next supported size
    resolution: int = 0
    channels: int = 0  # 1 or 3 converts; 0 keeps the data's own
    resize: str = "pad"  # pad (centre, when smaller) | resize
    skip_bad_files: bool = False  # image_folder: skip unreadable files and count them
    # share of each class whose labels training may see (a fixed, seeded subset); 0: none
    labelled_fraction: float = 0.0
    # image data with labels: share of each class held out for validation (a seeded,
    # stratified subset that training never sees, scored by the held-out metrics); 0: none
    validation_fraction: float = 0.0
    max_images: int = 0  # use a fixed random subset of N images (the same in every run); 0: all
    # image data with labels: a seeded long-tailed subset, class sizes falling geometrically
    # from the largest class to largest / R, the classes' order drawn from the seed; 1: as is
    imbalance_ratio: float = 1.0
    # image data with labels: the largest seeded subset with these class shares
    # (entry i: class i); null: as is. 2-D mixtures: set data.probabilities instead
    class_proportions: list[float] | None = None

    @property
    def is_image(self) -> bool:
        return self.name in IMAGE_DATA

    def validate(self) -> None:
        _check_choice("data.name", self.name, POINT_DATA + IMAGE_DATA)
        if not 0.0 <= self.labelled_fraction <= 1.0:
            raise ConfigError(
                f"data.labelled_fraction: must be in [0, 1], got {self.labelled_fraction}"
            )
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(
                f"data.validation_fraction: must be in [0, 1), got {self.validation_fraction}"
            )
        if self.imbalance_ratio < 1:
            raise ConfigError(f"data.imbalance_ratio: must be >= 1, got {self.imbalance_ratio}")
        if self.class_proportions is not None:
            check_distribution("data.class_proportions", self.class_proportions)
        if self.imbalance_ratio > 1 and self.class_proportions is not None:
            raise ConfigError("data.class_proportions: give it or data.imbalance_ratio, not both")
        if self.is_image:
            self._validate_images()
            return
        for key in ("imbalance_ratio", "class_proportions", "validation_fraction"):
            if getattr(self, key) != getattr(DataConfig, key):
                raise ConfigError(
                    f"data.{key}: only for image data with labels; for 2-D mixtures set "
                    "data.probabilities"
                )
        _check_positive("data.num_samples", self.num_samples)
        if self.name == "gaussian_mixture":
            _check_positive("data.std", self.std)
            if len(self.centers) < 1 or any(len(c) != 2 for c in self.centers):
                raise ConfigError("data.centers: must be a non-empty list of [x, y] pairs")
            if len(self.probabilities) != len(self.centers):
                raise ConfigError(
                    f"data.probabilities: has {len(self.probabilities)} entries "
                    f"but data.centers has {len(self.centers)}"
                )
            if any(p < 0 for p in self.probabilities):
                raise ConfigError("data.probabilities: must be non-negative")
            if not math.isclose(sum(self.probabilities), 1.0, abs_tol=1e-6):
                raise ConfigError(
                    f"data.probabilities: must sum to 1, got {sum(self.probabilities):.6g}"
                )
        else:
            _check_positive("data.spiral_turns", self.spiral_turns)
            _check_positive("data.spiral_noise", self.spiral_noise)

    def _validate_images(self) -> None:
        if self.name in LOCAL_DATA and not self.path:
            raise ConfigError(f"data.path: required for data.name={self.name}")
        _check_choice("data.split", self.split, ("train", "test"))
        if self.resolution != 0 and self.resolution not in RESOLUTIONS:
            raise ConfigError(
                "data.resolution: must be 0 or 4, 5, 6 or 7 times a power of two, "
                f"from 8 to 256 (e.g. 16, 28, 32), got {self.resolution}"
            )
        if self.channels not in (0, 1, 3):
            raise ConfigError(f"data.channels: must be 0, 1 or 3, got {self.channels}")
        _check_choice("data.resize", self.resize, ("pad", "resize"))
        _check_non_negative("data.max_images", self.max_images)


# image sizes the networks take: halving them reaches a 4x4 to 7x7 feature map
RESOLUTIONS = tuple(
    sorted(base * 2**n for base in (4, 5, 6, 7) for n in range(1, 7) if 8 <= base * 2**n <= 256)
)


@dataclass
class NetworkConfig:
    """Network sizes. 2-D data uses MLPs of `depth` hidden layers; images use the
    convolutional `architecture` (`dcgan`, small and cheap; `resnet`, the reference
    design), its widths doubling from `channels` per down-sampling up to `max_channels`."""

    architecture: str = "auto"  # auto (mlp for points, dcgan for images) | mlp | dcgan | resnet
    channels: int = 32  # conv width at full resolution
    max_channels: int = 256  # conv widths stop doubling here
    # conv critics: add a minibatch standard-deviation feature at the smallest map
    minibatch_std: bool = False
    # conv generators: batch normalisation after each convolution
    generator_batch_norm: bool = False
    tanh_output: bool = False  # conv generators: tanh on the output, so images lie in [-1, 1]
    # conv critics (D, Q) and heads: batch normalisation after each layer
    # but the one reading the image
    critic_batch_norm: bool = False
    # conv critics and heads: group normalisation (up to 8 groups) where batch norm would be
    critic_group_norm: bool = False
    critic_activation: str = "leaky_relu"  # conv critics and heads: leaky_relu | elu

    @property
    def critic_norm(self) -> str:
        """none | batch | group: the conv critic's normalisation."""
        if self.critic_group_norm:
            return "group"
        return "batch" if self.critic_batch_norm else "none"

    latent_dim: int = 16  # size of the noise z (d_z)
    latent_distribution: str = "normal"  # normal | uniform (on [-sqrt 3, sqrt 3])
    hidden_dim: int = 128  # MLP width; conv heads are at least this wide
    depth: int = 3  # MLP hidden layers
    conditioning: str = "plain"  # how G reads c: plain (one-hot) | codebook (learned embedding)
    codebook_dim: int = 0  # size F of each codebook embedding; 0: hidden_dim
    equalized_lr: bool = True  # weights scaled at run time by 1/sqrt(fan_in) (Karras et al.)

    def validate(self) -> None:
        _check_choice("network.architecture", self.architecture, ("auto", "mlp", "dcgan", "resnet"))
        _check_positive("network.channels", self.channels)
        _check_positive("network.max_channels", self.max_channels)
        _check_positive("network.latent_dim", self.latent_dim)
        _check_choice(
            "network.latent_distribution", self.latent_distribution, ("normal", "uniform")
        )
        _check_positive("network.hidden_dim", self.hidden_dim)
        _check_positive("network.depth", self.depth)
        _check_choice("network.conditioning", self.conditioning, ("plain", "codebook"))
        _check_choice("network.critic_activation", self.critic_activation, ("leaky_relu", "elu"))
        if self.critic_batch_norm and self.critic_group_norm:
            raise ConfigError("network.critic_group_norm: give it or critic_batch_norm, not both")
        _check_non_negative("network.codebook_dim", self.codebook_dim)


@dataclass
class MethodConfig:
    """The method and the settings every method shares (SPEC.md section 1). Each method
    declares its own settings as a subclass; `method.name` picks the class, and a key the
    chosen method does not have is an error."""

    name: str = "cgpgan"  # the method (`cgpgan presets`, docs/methods.md)
    num_labels: int = 1  # number of categorical labels (L)
    num_categories: int = 8  # categories per label (K)
    adversarial_loss: str = "logistic"  # logistic | hinge | wasserstein
    real_penalty_weight: float = 0.0  # R1 on real data
    fake_penalty_weight: float = 1.0  # squared gradient norm on generated data
    # lazy regularisation (StyleGAN2): R1 and the penalty on generated data only every k-th
    # step, weighted k times
    penalty_every: int = 1
    # none | spectral | gn | pgn: how the critic's score is normalised (docs/normalization.md)
    critic_normalization: str = "none"
    # pgn: paper (1 taken from every element of the input gradient) | gn_of_one_minus
    pgn_reading: str = "paper"
    # gn, pgn: the input gradient is divided by L, i.e. the normalisation is computed in the
    # coordinates L x; the normalised critic is then L-Lipschitz (1: the papers')
    normalization_lipschitz: float = 1.0
    consistency_weight: float = 0.0  # weight of (s(moved x_r) - s(x_r))^2 on real data
    consistency_shift: float = 0.2  # consistency, images: largest shift, share of the size
    consistency_flip: bool = False  # consistency, images: flip half left-right too
    consistency_jitter: float = 0.05  # consistency, 2-D points: std of a Gaussian jitter

    def initial_prior(self) -> list[float] | None:
        """P(C) at the start, one row; None: uniform."""
        return None

    def adjusts_prior(self) -> bool:
        """Whether the class sizes are estimated during the warm-up, by prior adjustment
        (methods with a dynamic prior, `method.prior_adjustment`)."""
        return False

    def validate(self) -> None:
        _check_positive("method.num_labels", self.num_labels)
        if self.num_categories < 2:
            raise ConfigError(f"method.num_categories: must be >= 2, got {self.num_categories}")
        _check_choice(
            "method.adversarial_loss", self.adversarial_loss, ("logistic", "hinge", "wasserstein")
        )
        check_non_negative(self, "real_penalty_weight", "fake_penalty_weight")
        _check_positive("method.penalty_every", self.penalty_every)
        check_choice(self, "critic_normalization", ("none", "spectral", "gn", "pgn"))
        check_choice(self, "pgn_reading", ("paper", "gn_of_one_minus"))
        _check_positive("method.normalization_lipschitz", self.normalization_lipschitz)
        check_non_negative(self, "consistency_weight", "consistency_jitter")
        check_below_one(self, "consistency_shift")


# method name -> the class of its settings; cgpgan.register_method adds to it
METHOD_SETTINGS: dict[str, type[MethodConfig]] = {}
DEFAULT_METHOD = "cgpgan"


def settings_class(name: str) -> type[MethodConfig]:
    """The settings class of the method called `name`."""
    if name not in METHOD_SETTINGS:
        raise ConfigError(f"method.name: must be one of {', '.join(METHOD_SETTINGS)}, got {name!r}")
    return METHOD_SETTINGS[name]


def method_settings(name: str, carried: MethodConfig | None = None) -> MethodConfig:
    """Settings of the method `name` at its defaults, except the keys it shares with
    `carried` (the settings of the method chosen before) that were set there (differ
    from that method's defaults), which keep their values."""
    cls = settings_class(name)
    shared = {f.name for f in fields(cls)} & {f.name for f in fields(carried)} if carried else ()
    if carried is not None:
        defaults = type(carried)()
        shared = {key for key in shared if getattr(carried, key) != getattr(defaults, key)}
    settings = cls(**{key: copy.deepcopy(getattr(carried, key)) for key in shared})
    settings.name = name
    return settings


@dataclass
class TrainConfig:
    """The optimisation schedule."""

    steps: int = 4000  # optimisation steps
    batch_size: int = 128  # real (and as many generated) samples per step
    optimizer: str = "adam"  # adam | adamw
    # how the optimiser's update runs, one update by any name: for_loop (one kernel per
    # parameter; every documented result) | foreach (one per operation) | fused (one a
    # step, the fastest; other rounding, so other runs of a seed)
    optimizer_implementation: str = "for_loop"
    learning_rate: float = 0.001  # learning rate of D, and of G and Q unless set below
    generator_learning_rate: float = 0.0  # the generator's own rate; 0: learning_rate
    # the classifier's (CGPGAN's Q) own rate; 0: learning_rate
    classifier_learning_rate: float = 0.0
    # the generator trains on every n-th step only: n critic updates, each on its own batch,
    # per generator update (n_critic of WGAN-GP and SNGAN; 5 in the GN paper's ResNets); as
    # for any phase on every n-th step its loss is weighted n, which Adam's step hardly feels
    generator_every: int = 1
    betas: list[float] = field(default_factory=lambda: [0.0, 0.99])  # Adam's beta1, beta2
    weight_decay: float = 0.0  # the optimiser's weight decay
    generator_ema_decay: float = 0.999  # moving average of generator weights
    log_every: int = 50  # steps between lines of metrics.jsonl
    eval_samples: int = 20_000  # generated samples scored by the evaluation
    eval_baselines: bool = True  # image data with labels: also score k-means / GMM baselines
    # also evaluate (without plots) every N steps into metrics.jsonl; 0: only at the end
    eval_every: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "float32"  # float32 | bf16: the steps' forward passes under bf16 autocast
    channels_last: bool = False  # image networks' weights and batches in channels-last layout
    # none | generator: torch.compile the generator's forward (the networks the penalties
    # differentiate twice stay eager: compiled graphs have no double backward)
    compile: str = "none"
    # on a GPU, a data set up to this many GiB is kept there (one copy per process); 0: never
    device_data_gib: float = 2.0
    threads: int = 0  # CPU threads; 0: OMP_NUM_THREADS, else 1 for MLPs, all cores for images
    checkpoint_every: int = 1000  # steps between checkpoints (and at the end)
    keep_checkpoints: int = 3  # the newest N are kept, plus the best by best_metric
    best_metric: str = ""  # e.g. eval/accuracy (needs eval_every); "" keeps no best
    best_mode: str = "max"  # max | min
    stop_after: int = 0  # stop cleanly after this step, as an interruption would; 0: run to the end
    divergence_retries: int = 0  # on a NaN/inf loss or weight: roll back this many times
    divergence_lr_factor: float = 0.5  # learning rates are multiplied by this at each roll-back

    def validate(self) -> None:
        _check_keys(self, "train", _check_positive, "steps", "batch_size", "learning_rate")
        _check_keys(self, "train", _check_positive, "log_every", "eval_samples")
        _check_keys(self, "train", _check_positive, "generator_every")
        _check_keys(self, "train", _check_positive, "checkpoint_every", "keep_checkpoints")
        _check_keys(
            self,
            "train",
            _check_non_negative,
            "generator_learning_rate",
            "classifier_learning_rate",
            "weight_decay",
            "eval_every",
            "stop_after",
            "divergence_retries",
            "threads",
        )
        _check_choice("train.optimizer", self.optimizer, ("adam", "adamw"))
        _check_choice(
            "train.optimizer_implementation",
            self.optimizer_implementation,
            tuple(OPTIMIZER_IMPLEMENTATIONS),
        )
        _check_choice("train.best_mode", self.best_mode, ("max", "min"))
        _check_choice("train.precision", self.precision, ("float32", "bf16"))
        _check_choice("train.compile", self.compile, ("none", "generator"))
        _check_non_negative("train.device_data_gib", self.device_data_gib)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"train.betas: must be two numbers in [0, 1), got {self.betas}")
        if not 0.0 <= self.generator_ema_decay < 1.0:
            raise ConfigError(
                f"train.generator_ema_decay: must be in [0, 1), got {self.generator_ema_decay}"
            )
        if not 0.0 < self.divergence_lr_factor <= 1.0:
            raise ConfigError(
                f"train.divergence_lr_factor: must be in (0, 1], got {self.divergence_lr_factor}"
            )
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(
                f"train.device: must be auto, cpu, cuda or cuda:N, got {self.device!r}"
            )


@dataclass
class Config:
    """A whole experiment."""

    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    method: MethodConfig = field(default_factory=lambda: method_settings(DEFAULT_METHOD))
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # random seed of the data, the initial weights and the training draws

    def validate(self) -> "Config":
        self.data.validate()
        self.network.validate()
        if not isinstance(self.method, settings_class(self.method.name)):
            raise ConfigError(
                f"method: settings of type {type(self.method).__name__} "
                f"do not belong to method.name={self.method.name}"
            )
        self.method.validate()
        self.train.validate()
        _check_non_negative("seed", self.seed)
        merges = getattr(self.method, "merges", "")  # CGPGAN's merging keys
        if merges and not self.data.is_image:
            raise ConfigError(
                f"method.{merges}: merging moves images, data.name is {self.data.name}"
            )
        if self.network.architecture in ("dcgan", "resnet") and not self.data.is_image:
            raise ConfigError(
                f"network.architecture: {self.network.architecture} needs image data, "
                f"data.name is {self.data.name}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_flat_dict(self) -> dict[str, Any]:
        """{"section.key": value}, the form overrides are written in."""
        return dict(_flatten(self.to_dict()))


# ---------------------------------------------------------------- describing

# a field at class level: `name: type = default  # meaning`, the comment optional
_FIELD = re.compile(r"^    (?P<name>\w+)\s*:[^#]*(?:#\s*(?P<meaning>.*))?$")


def field_meanings(cls: type) -> dict[str, str]:
    """{field: meaning} of a config dataclass, read from its source: the `# ...` comment
    beside each field or, failing that, the comment lines right above it. The comments
    are the one place keys are documented; a field without one gets ""."""
    meanings: dict[str, str] = {}
    for ancestor in reversed(cls.__mro__):  # a subclass's comment wins
        if dataclasses.is_dataclass(ancestor):
            meanings.update(_own_field_meanings(ancestor))
    return {item.name: meanings.get(item.name, "") for item in fields(cls)}


def _own_field_meanings(cls: type) -> dict[str, str]:
    """{field: meaning} of the fields written in `cls` itself."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):  # no source (e.g. a frozen build): no meanings
        lines = []
    names = {item.name for item in fields(cls)}
    meanings: dict[str, str] = {}
    above: list[str] = []
    for line in lines:
        if line.strip().startswith("#"):
            above.append(line.strip().lstrip("#").strip())
            continue
        match = _FIELD.match(line)
        if match and match["name"] in names and match["name"] not in meanings:
            meanings[match["name"]] = (match["meaning"] or " ".join(above)).strip()
        above = []
    return {name: meaning for name, meaning in meanings.items() if meaning}


def describe_config(config: Config) -> str:
    """Every key as `section.key = value  # meaning`, grouped by section, each section
    headed by the first sentence of its class's docstring."""
    blocks = []
    for item in fields(config):
        value = getattr(config, item.name)
        if not dataclasses.is_dataclass(value):
            blocks.append(_describe_keys(config, "", [item.name]))
            continue
        heading = " ".join((type(value).__doc__ or "").split("\n\n")[0].split())
        heading = heading.split(". ")[0].rstrip(".")
        keys = [inner.name for inner in fields(value)]
        blocks.append(f"# {item.name}: {heading}\n" + _describe_keys(value, f"{item.name}.", keys))
    return "\n\n".join(blocks)


def _describe_keys(group: Any, prefix: str, keys: list[str]) -> str:
    meanings = field_meanings(type(group))
    lefts = [f"{prefix}{key} = {_show(getattr(group, key))}" for key in keys]
    width = min(max(len(left) for left in lefts), 44)  # a long list does not push every comment
    lines = []
    for key, left in zip(keys, lefts):
        lines.append(f"{left:<{width}}  # {meanings[key]}" if meanings[key] else left)
    return "\n".join(lines)


def _show(value: Any) -> str:
    """A value as it is written after `--set KEY=`: strings bare where YAML reads them back."""
    if isinstance(value, str) and value and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)


def preset_descriptions() -> dict[str, str]:
    """{preset name: the first line of its leading comment}."""
    folder = resources.files("cgpgan") / "presets"
    descriptions = {}
    for name in preset_names():
        first = (folder / f"{name}.yaml").read_text().split("\n", 1)[0]
        descriptions[name] = first.lstrip("#").strip() if first.startswith("#") else ""
    return descriptions


# ---------------------------------------------------------------- loading


def preset_names() -> list[str]:
    """Names of the built-in YAML presets."""
    folder = resources.files("cgpgan") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(
    source: str | Path | dict | None = None, overrides: list[str] | None = None
) -> Config:
    """Build a validated Config from a preset name, a YAML path or a dict, then overrides.

    `overrides` are ``"key.sub=value"`` strings; values are parsed as YAML.
    """
    if source is None:
        values: dict = {}
    elif isinstance(source, dict):
        values = source
    else:
        values = _read_yaml(source)
    config = from_dict(values)
    for key, value in _method_name_first([_parse_override(item) for item in overrides or []]):
        set_value(config, key, value)
    return config.validate()


def load_saved_config(path: Path, overrides: list[str] | None = None) -> Config:
    """The config a run saved, then `overrides`. Method keys the run's method does not
    have are dropped: runs saved before methods had settings of their own kept them all."""
    values = _read_yaml(path)
    method = values.get("method")
    if isinstance(method, dict):
        values["method"] = _keys_of(method.get("name", DEFAULT_METHOD), method)
    return load_config(values, overrides)


def _keys_of(name: str, method: dict) -> dict:
    """The entries of a `method:` mapping that are settings of the method `name`."""
    keys = {item.name for item in fields(settings_class(name))}
    return {key: value for key, value in method.items() if key in keys}


def _read_yaml(source: str | Path, depth: int = 0) -> dict:
    """The mapping in a preset or YAML file; `extends: NAME` lays it over another one."""
    text: str
    path = Path(source)
    if str(source) in preset_names():
        text = (resources.files("cgpgan") / "presets" / f"{source}.yaml").read_text()
    elif path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text = path.read_text()
    else:
        raise ConfigError(
            f"unknown config {str(source)!r}: not a YAML file or a preset "
            f"(presets: {', '.join(preset_names())})"
        )
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config {source}: invalid YAML{_yaml_position(error)}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config {source}: must be a mapping of groups to values")
    base = values.pop("extends", None)
    if base is not None:
        if depth >= 8 or not isinstance(base, str):
            raise ConfigError(
                f"config {source}: extends: must name a preset or file (and not loop)"
            )
        values = _merge(_inherited(_read_yaml(base, depth + 1), values), values)
    return values


def _inherited(base: dict, values: dict) -> dict:
    """What `values` inherits from the preset it extends: everything, except, when it
    picks another method, the base's method keys that the new method does not have."""
    method, base_method = values.get("method"), base.get("method")
    if not (isinstance(method, dict) and isinstance(base_method, dict)):
        return base
    name = method.get("name", base_method.get("name", DEFAULT_METHOD))
    if name == base_method.get("name", DEFAULT_METHOD) or name not in METHOD_SETTINGS:
        return base
    return {**base, "method": _keys_of(name, base_method)}


def _yaml_position(error: yaml.YAMLError) -> str:
    """` at line L, column C (problem)` from PyYAML's 0-based mark, where it has one."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or error.__class__.__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{where} ({problem})"


def _merge(base: dict, update: dict) -> dict:
    """`update` laid over `base`, group by group."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def from_dict(values: dict) -> Config:
    config = Config()
    for key, value in _method_name_first(_flatten(values)):
        set_value(config, key, value)
    return config


def _method_name_first(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The method is chosen before its keys are set, so they are checked against it."""
    return sorted(items, key=lambda item: item[0] != "method.name")


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            items.extend(_flatten(value, dotted + "."))
        else:
            items.append((dotted, value))
    return items


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected KEY=VALUE")
    key, text = item.split("=", 1)
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def set_value(config: Config, key: str, value: Any) -> None:
    """Set a dotted key on the config, converting the value to the field's type."""
    if key == "method.name":  # another method: its own settings class, shared keys kept
        if not isinstance(value, str):
            raise ConfigError(f"method.name: expected str, got {value!r}")
        config.method = method_settings(value, config.method)
        return
    target: Any = config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        names = {f.name for f in fields(target)}
        if part not in names:
            raise ConfigError(
                f"{key}: unknown key{_for_method(target)} (known here: {', '.join(sorted(names))})"
            )
        if depth == len(parts) - 1:
            hint = get_type_hints(type(target))[part]
            setattr(target, part, _convert(key, value, hint))
            return
        target = getattr(target, part)
        if not dataclasses.is_dataclass(target):
            raise ConfigError(f"{key}: {'.'.join(parts[: depth + 1])} is a value, not a group")
    raise ConfigError(f"{key}: is a group, give one of its keys")


def _for_method(group: Any) -> str:
    return f" for method {group.name}" if isinstance(group, MethodConfig) else ""


def _convert(key: str, value: Any, hint: Any) -> Any:
    text = str(hint)
    try:
        if hint is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if hint is int:
            if isinstance(value, bool) or float(value) != int(value):
                raise TypeError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise TypeError
            return value
        if value is None and "None" in text:
            return None
        if text.startswith("list[list[float]]"):
            return [[float(v) for v in row] for row in value]
        if text.startswith("list[float]"):
            return [float(v) for v in value]
    except (TypeError, ValueError):
        pass
    if dataclasses.is_dataclass(hint):
        raise ConfigError(f"{key}: is a group, give one of its keys")
    if hint is str and isinstance(value, bool):  # YAML reads off/on/no/yes as booleans
        raise ConfigError(f"{key}: expected a string, got {value!r} (YAML's reading: quote it)")
    raise ConfigError(f"{key}: expected {getattr(hint, '__name__', text)}, got {value!r}")


# checks for a method's settings class, by key (reported as `method.KEY`)


def check_non_negative(settings: MethodConfig, *keys: str) -> None:
    _check_keys(settings, "method", _check_non_negative, *keys)


def check_positive(settings: MethodConfig, *keys: str) -> None:
    _check_keys(settings, "method", _check_positive, *keys)


def check_below_one(settings: MethodConfig, *keys: str) -> None:
    """Each key in [0, 1)."""
    for key in keys:
        value = getattr(settings, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"method.{key}: must be in [0, 1), got {value}")


def check_choice(settings: MethodConfig, key: str, choices: tuple[str, ...]) -> None:
    _check_choice(f"method.{key}", getattr(settings, key), choices)


def check_distribution(key: str, values: list[float], size: int | None = None) -> None:
    """`values` is a distribution (over `size` categories, where given)."""
    if size is not None and len(values) != size:
        raise ConfigError(f"{key}: has {len(values)} entries but method.num_categories is {size}")
    if any(p < 0 for p in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ConfigError(f"{key}: must be non-negative and sum to 1")


def _check_keys(group: Any, prefix: str, check, *keys: str) -> None:
    """`check(f"{prefix}.{key}", value)` for each key of the config group."""
    for key in keys:
        check(f"{prefix}.{key}", getattr(group, key))


def _check_positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{key}: must be > 0, got {value}")


def _check_non_negative(key: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{key}: must be >= 0, got {value}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")


def save_config(config: Config, path: Path) -> None:
    from cgpgan.storage import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
