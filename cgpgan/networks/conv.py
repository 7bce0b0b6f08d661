"""Convolutional networks for square images from 8 to 256 pixels whose size halves down to
a 4x4 to 7x7 feature map (16, 28, 32, 64, ...).

Two block designs share one generator and one critic:
- `dcgan`: the DCGAN / InfoGAN design, one 4x4 convolution of stride 2 per resolution
  (transposed in the generator); cheap on a CPU.
- `resnet`: the reference design (SPEC.md section 1): residual blocks of two 3x3
  convolutions with a 1x1 skip, blurred up/down-sampling.
Both use leaky ReLU and (optionally) equalised learning rates and batch normalisation.
The generator maps z to the smallest feature map and doubles it up to the image size;
the critic halves the image down to it and ends in dense heads of `2 * outputs` (at least
`hidden_dim`) then `outputs` units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from cgpgan.config import RESOLUTIONS, NetworkConfig
from cgpgan.networks.layers import (
    Codebook,
    DenseHead,
    EqualizedConv2d,
    EqualizedLinear,
    NetworkFactory,
    Resample,
    activation,
    centred_one_hot,
    normalization,
)


def base_size(resolution: int) -> int:
    """Side of the smallest feature map: the resolution halved while it stays above 7."""
    size = resolution
    while size > 7 and size % 2 == 0:
        size //= 2
    return size


def channel_widths(config: NetworkConfig, resolution: int) -> dict[int, int]:
    """Channels at each spatial size: `channels` at full resolution, doubling per
    halving, capped at `max_channels`."""
    widths = {}
    size, base = resolution, base_size(resolution)
    while size >= base:
        widths[size] = min(config.max_channels, config.channels * resolution // size)
        size //= 2
    return widths


def image_layout(
    config: NetworkConfig, sample_shape: tuple[int, ...]
) -> tuple[int, int, dict[int, int]]:
    """(image channels, resolution, channel widths) of images of `sample_shape` [C, H, W]."""
    resolution = sample_shape[-1]
    return sample_shape[0], resolution, channel_widths(config, resolution)


class Block(nn.Module):
    """One resolution step: `direction` is "up", "down" or "same"."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        direction: str,
        residual: bool,
        equalized: bool,
        norm: str = "none",
        nonlinearity: str = "leaky_relu",
    ):
        super().__init__()
        self.residual = residual
        self.activation = activation(nonlinearity)
        self.norm1 = normalization(out_channels, norm)
        if not residual:  # DCGAN: a strided 4x4 convolution does the resampling
            if direction == "same":
                self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, equalized)
            else:
                self.conv1 = EqualizedConv2d(
                    in_channels, out_channels, 4, equalized, stride=2, transposed=direction == "up"
                )
            return
        self.resample = nn.Identity() if direction == "same" else Resample(direction, blur=True)
        self.up_first = direction == "up"
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, equalized)
        self.conv2 = EqualizedConv2d(out_channels, out_channels, 3, equalized)
        self.norm2 = normalization(out_channels, norm)
        self.skip = EqualizedConv2d(in_channels, out_channels, 1, equalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.residual:
            return self.activation(self.norm1(self.conv1(x)))
        if self.up_first:
            x = self.resample(x)
        out = self.activation(self.norm1(self.conv1(x)))
        out = (self.activation(self.norm2(self.conv2(out))) + self.skip(x)) / math.sqrt(2)
        return out if self.up_first else self.resample(out)


class ConvGenerator(nn.Module):
    """G(z, c) -> image [B, C, H, W].

    Plain conditioning concatenates the centred one-hot with z. Codebook conditioning
    turns each label's codebook column into a map of the smallest size with `width / L`
    channels and concatenates the L maps with the one computed from z (SPEC.md section 1).
    """

    def __init__(
        self,
        config: NetworkConfig,
        sample_shape: tuple[int, ...],
        num_labels: int,
        num_categories: int,
    ):
        super().__init__()
        image_channels, resolution, widths = image_layout(config, sample_shape)
        residual, equalized = config.architecture == "resnet", config.equalized_lr
        batch_norm = config.generator_batch_norm
        norm = "batch" if batch_norm else "none"
        self.latent_dim = config.latent_dim
        self.base = base_size(resolution)
        base_width = widths[self.base]
        code_channels = 0
        if config.conditioning == "codebook":
            per_label = max(1, base_width // num_labels)
            self.codebook: Codebook | None = Codebook(
                per_label * self.base * self.base, num_labels, num_categories
            )
            code_channels = per_label * num_labels
            input_dim = config.latent_dim
        else:
            self.codebook = None
            input_dim = config.latent_dim + num_labels * num_categories
        self.input_layer = EqualizedLinear(input_dim, base_width * self.base * self.base, equalized)
        self.input_norm = (
            nn.BatchNorm1d(base_width * self.base * self.base) if batch_norm else nn.Identity()
        )
        self.activation = nn.LeakyReLU(0.2)
        blocks = []
        in_width = base_width + code_channels
        if residual:
            blocks.append(Block(in_width, base_width, "same", residual, equalized, norm))
            in_width = base_width
        size = self.base
        while size < resolution:
            blocks.append(Block(in_width, widths[size * 2], "up", residual, equalized, norm))
            size *= 2
            in_width = widths[size]
        self.blocks = nn.Sequential(*blocks)
        self.output_layer = EqualizedConv2d(widths[resolution], image_channels, 1, equalized)
        self.output_activation = nn.Tanh() if config.tanh_output else nn.Identity()
        self.base_width = base_width

    def forward(self, latent: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        batch = latent.shape[0]
        inputs = (
            latent
            if self.codebook is not None
            else torch.cat([latent, centred_one_hot(category)], dim=1)
        )
        features = self.activation(self.input_norm(self.input_layer(inputs))).view(
            batch, self.base_width, self.base, self.base
        )
        if self.codebook is not None:
            codes = self.codebook(category).reshape(batch, -1, self.base, self.base)
            features = torch.cat([features, codes], dim=1)
        return self.output_activation(self.output_layer(self.blocks(features)))


class MinibatchStd(nn.Module):
    """Appends one feature map: the standard deviation of the features over groups of
    `group` samples, averaged (ProGAN/StyleGAN). D can then see a lack of variety, which
    counters mode collapse.

    Sample i of the first `batch - batch % group` samples is grouped with samples
    i + n, i + 2n, ... (n groups); the few samples left over get the mean deviation of
    the groups, so a batch of any size is scored like one of whole groups. A batch
    smaller than `group` forms one group; a single sample has no spread to measure."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        group = min(self.group, batch)
        whole = batch - batch % group  # samples in whole groups
        grouped = x[:whole].view(group, -1, channels, height, width)
        deviation = (
            (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
        )  # [whole / group]
        per_sample = deviation.repeat(group)
        if whole < batch:
            per_sample = torch.cat([per_sample, deviation.mean().expand(batch - whole)])
        feature = per_sample.view(batch, 1, 1, 1).expand(batch, 1, height, width)
        return torch.cat([x, feature], dim=1)


class ConvCritic(nn.Module):
    """A convolutional trunk with one or more dense heads; each head returns logits of
    its `shape` ([B, L, K] for D or Q, [B, 1, 1] for an unconditional D)."""

    def __init__(
        self,
        config: NetworkConfig,
        sample_shape: tuple[int, ...],
        head_shapes: list[tuple[int, int]],
    ):
        super().__init__()
        image_channels, resolution, widths = image_layout(config, sample_shape)
        residual, equalized = config.architecture == "resnet", config.equalized_lr
        norm, nonlinearity = config.critic_norm, config.critic_activation
        base = base_size(resolution)
        blocks: list[nn.Module] = []
        if residual:  # a 1x1 convolution lifts the image to `channels` feature maps
            blocks += [
                EqualizedConv2d(image_channels, widths[resolution], 1, equalized),
                activation(nonlinearity),
            ]
            in_width = widths[resolution]
        else:  # DCGAN: the first strided convolution reads the image, without normalisation
            in_width = image_channels
        size = resolution
        while size > base:
            reads_image = not residual and size == resolution
            blocks.append(
                Block(
                    in_width,
                    widths[size // 2],
                    "down",
                    residual,
                    equalized,
                    "none" if reads_image else norm,
                    nonlinearity,
                )
            )
            size //= 2
            in_width = widths[size]
        if config.minibatch_std:
            blocks.append(MinibatchStd())
        if residual or config.minibatch_std:
            blocks.append(
                Block(
                    in_width + int(config.minibatch_std),
                    in_width,
                    "same",
                    residual,
                    equalized,
                    norm,
                    nonlinearity,
                )
            )
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = widths[base] * base * base
        self.heads = nn.ModuleList(
            DenseHead(
                self.feature_dim,
                self.head_width(config, shape),
                shape,
                equalized,
                norm,
                nonlinearity,
            )
            for shape in head_shapes
        )

    @staticmethod
    def head_width(config: NetworkConfig, shape: tuple[int, ...]) -> int:
        """The reference's 2 * L * K units, but at least `network.hidden_dim`: with L = 1
        and few categories 2 * K units are too narrow a bottleneck for D."""
        return max(2 * math.prod(shape), config.hidden_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's output, [B, feature_dim]."""
        return self.blocks(x).flatten(1)

    def from_features(self, features: torch.Tensor) -> torch.Tensor:
        """The first head's logits for trunk `features`."""
        return self.heads[0](features)

    def forward(self, x: torch.Tensor):
        features = self.features(x)
        outputs = tuple(head(features) for head in self.heads)
        return outputs[0] if len(outputs) == 1 else outputs


@dataclass
class ConvFactory(NetworkFactory):
    """The networks of a method as convolutional networks, for images of `sample_shape`
    ([C, H, W])."""

    def __post_init__(self) -> None:
        channels, height, width = self.sample_shape = tuple(self.sample_shape)
        if height != width or height not in RESOLUTIONS:
            raise ValueError(
                "images must be square, 8 to 256 pixels, 4 to 7 times a power of two "
                f"(e.g. 16, 28, 32), got {height}x{width}"
            )

    def generator(self) -> ConvGenerator:
        return ConvGenerator(self.config, self.sample_shape, self.num_labels, self.num_categories)

    def critic(self, num_labels: int, num_categories: int) -> ConvCritic:
        return ConvCritic(self.config, self.sample_shape, [(num_labels, num_categories)])

    def two_head(self, adversarial_shape: tuple[int, int]) -> ConvCritic:
        return ConvCritic(
            self.config,
            self.sample_shape,
            [adversarial_shape, (self.num_labels, self.num_categories)],
        )

    def head(self, in_features: int, shape: tuple[int, int]) -> DenseHead:
        """A dense head on another network's features (e.g. Q on D's trunk)."""
        config = self.config
        return DenseHead(
            in_features,
            ConvCritic.head_width(config, shape),
            shape,
            config.equalized_lr,
            config.critic_norm,
            config.critic_activation,
        )
