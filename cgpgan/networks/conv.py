"""Convolutional networks for square images of any power-of-two size from 8 to 256.

Two block designs share one generator and one critic:
- `dcgan`: one 3x3 convolution per resolution, plain 2x resampling; cheap on a CPU.
- `resnet`: the reference design (SPEC.md section 1): residual blocks of two 3x3
  convolutions with a 1x1 skip, blurred up/down-sampling.
Both use equalised learning rates and leaky ReLU. The generator maps z to a 4x4 feature
map and doubles it up to the image size; the critic halves the image down to 4x4 and
ends in dense heads of `2 * outputs` then `outputs` units.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cgpgan.config import NetworkConfig
from cgpgan.networks.layers import Codebook, EqualizedConv2d, EqualizedLinear, Resample, centred_one_hot

BASE = 4  # spatial size of the smallest feature map


def channel_widths(config: NetworkConfig, resolution: int) -> dict[int, int]:
    """Channels at each spatial size: `channels` at full resolution, doubling per
    halving, capped at `max_channels`."""
    widths = {}
    size = resolution
    while size >= BASE:
        widths[size] = min(config.max_channels, config.channels * resolution // size)
        size //= 2
    return widths


class Block(nn.Module):
    """One resolution step: `direction` is "up", "down" or "same"."""

    def __init__(self, in_channels: int, out_channels: int, direction: str, residual: bool, equalized: bool):
        super().__init__()
        self.residual = residual
        self.resample = nn.Identity() if direction == "same" else Resample(direction, blur=residual)
        self.up_first = direction == "up"
        self.activation = nn.LeakyReLU(0.2)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, equalized)
        if residual:
            self.conv2 = EqualizedConv2d(out_channels, out_channels, 3, equalized)
            self.skip = EqualizedConv2d(in_channels, out_channels, 1, equalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up_first:
            x = self.resample(x)
        out = self.activation(self.conv1(x))
        if self.residual:
            out = (self.activation(self.conv2(out)) + self.skip(x)) / math.sqrt(2)
        return out if self.up_first else self.resample(out)


class ConvGenerator(nn.Module):
    """G(z, c) -> image [B, C, H, W].

    Plain conditioning concatenates the centred one-hot with z. Codebook conditioning
    turns each label's codebook column into a 4x4 map of `width / L` channels and
    concatenates the L maps with the 4x4 map computed from z (SPEC.md section 1).
    """

    def __init__(self, config: NetworkConfig, sample_shape: tuple[int, ...], num_labels: int, num_categories: int):
        super().__init__()
        image_channels, resolution = sample_shape[0], sample_shape[-1]
        widths = channel_widths(config, resolution)
        residual, equalized = config.architecture == "resnet", config.equalized_lr
        self.latent_dim = config.latent_dim
        base_width = widths[BASE]
        code_channels = 0
        if config.conditioning == "codebook":
            per_label = max(1, base_width // num_labels)
            self.codebook: Codebook | None = Codebook(per_label * BASE * BASE, num_labels, num_categories)
            code_channels = per_label * num_labels
            input_dim = config.latent_dim
        else:
            self.codebook = None
            input_dim = config.latent_dim + num_labels * num_categories
        self.input_layer = EqualizedLinear(input_dim, base_width * BASE * BASE, equalized)
        self.activation = nn.LeakyReLU(0.2)
        blocks = [Block(base_width + code_channels, base_width, "same", residual, equalized)]
        size = BASE
        while size < resolution:
            blocks.append(Block(widths[size], widths[size * 2], "up", residual, equalized))
            size *= 2
        self.blocks = nn.Sequential(*blocks)
        self.output_layer = EqualizedConv2d(widths[resolution], image_channels, 1, equalized)
        self.base_width = base_width

    def forward(self, latent: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        batch = latent.shape[0]
        if self.codebook is None:
            inputs = torch.cat([latent, centred_one_hot(category)], dim=1)
            features = self.activation(self.input_layer(inputs)).view(batch, self.base_width, BASE, BASE)
        else:
            features = self.activation(self.input_layer(latent)).view(batch, self.base_width, BASE, BASE)
            codes = self.codebook(category).reshape(batch, -1, BASE, BASE)
            features = torch.cat([features, codes], dim=1)
        return self.output_layer(self.blocks(features))


class MinibatchStd(nn.Module):
    """Appends one feature map: the standard deviation of the features over groups of
    `group` samples, averaged (ProGAN/StyleGAN). D can then see a lack of variety, which
    counters mode collapse."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        group = min(self.group, batch)
        while batch % group:
            group -= 1
        grouped = x.view(group, -1, channels, height, width)
        deviation = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [batch / group]
        feature = deviation.view(1, -1, 1, 1, 1).expand(group, -1, 1, height, width).reshape(batch, 1, height, width)
        return torch.cat([x, feature], dim=1)


class ConvCritic(nn.Module):
    """A convolutional trunk with one or more dense heads; each head returns logits of
    its `shape` ([B, L, K] for D or Q, [B, 1, 1] for an unconditional D)."""

    def __init__(self, config: NetworkConfig, sample_shape: tuple[int, ...], head_shapes: list[tuple[int, int]]):
        super().__init__()
        image_channels, resolution = sample_shape[0], sample_shape[-1]
        widths = channel_widths(config, resolution)
        residual, equalized = config.architecture == "resnet", config.equalized_lr
        self.input_layer = EqualizedConv2d(image_channels, widths[resolution], 1, equalized)
        self.activation = nn.LeakyReLU(0.2)
        blocks = []
        size = resolution
        while size > BASE:
            blocks.append(Block(widths[size], widths[size // 2], "down", residual, equalized))
            size //= 2
        extra = 0
        if config.minibatch_std:
            blocks.append(MinibatchStd())
            extra = 1
        blocks.append(Block(widths[BASE] + extra, widths[BASE], "same", residual, equalized))
        self.blocks = nn.Sequential(*blocks)
        self.head_shapes = [tuple(shape) for shape in head_shapes]
        features = widths[BASE] * BASE * BASE
        self.heads = nn.ModuleList(
            nn.Sequential(
                EqualizedLinear(features, self.head_width(config, shape), equalized),
                nn.LeakyReLU(0.2),
                EqualizedLinear(self.head_width(config, shape), math.prod(shape), equalized),
            )
            for shape in self.head_shapes
        )

    @staticmethod
    def head_width(config: NetworkConfig, shape: tuple[int, int]) -> int:
        """The reference's 2 * L * K units, but at least `network.hidden_dim`: with L = 1
        and few categories 2 * K units are too narrow a bottleneck for D."""
        return max(2 * math.prod(shape), config.hidden_dim)

    def forward(self, x: torch.Tensor):
        features = self.blocks(self.activation(self.input_layer(x))).flatten(1)
        outputs = tuple(head(features).view(-1, *shape) for head, shape in zip(self.heads, self.head_shapes))
        return outputs[0] if len(outputs) == 1 else outputs


class ConvFactory:
    """Builds the networks a method asks for, sized for images of `sample_shape`
    ([C, H, W]); same interface as MLPFactory."""

    def __init__(self, config: NetworkConfig, sample_shape: tuple[int, ...], num_labels: int, num_categories: int):
        channels, height, width = sample_shape
        if height != width or height not in (8, 16, 32, 64, 128, 256):
            raise ValueError(f"images must be square with a power-of-two size from 8 to 256, got {height}x{width}")
        self.config = config
        self.sample_shape = tuple(sample_shape)
        self.num_labels = num_labels
        self.num_categories = num_categories

    def generator(self) -> ConvGenerator:
        return ConvGenerator(self.config, self.sample_shape, self.num_labels, self.num_categories)

    def critic(self, num_labels: int, num_categories: int) -> ConvCritic:
        return ConvCritic(self.config, self.sample_shape, [(num_labels, num_categories)])

    def two_head(self, adversarial_shape: tuple[int, int]) -> ConvCritic:
        return ConvCritic(self.config, self.sample_shape, [adversarial_shape, (self.num_labels, self.num_categories)])
