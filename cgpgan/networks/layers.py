"""Building blocks shared by all architectures."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgpgan.config import NetworkConfig


@dataclass
class NetworkFactory:
    """Builds the networks a method asks for (`generator()`, `critic(L, K)`,
    `two_head(adversarial_shape)`, `head(in_features, shape)`), sized for samples of
    `sample_shape` and L labels of K categories. Methods only talk to a factory, so every
    architecture that offers these methods runs every method."""

    config: NetworkConfig
    sample_shape: tuple[int, ...]
    num_labels: int
    num_categories: int


class FeatureCritic(nn.Module):
    """A critic for heads of a method's own: `features(x)` [B, width], the factory's critic
    with a dense head of `width` units (`body`) then a leaky ReLU. MHGAN's projection
    critic and the structural critic put their heads on it."""

    def __init__(self, networks: NetworkFactory, width: int):
        super().__init__()
        self.body = networks.critic(1, width)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.body(x).flatten(1), 0.2)


class EqualizedLinear(nn.Module):
    """Dense layer with an equalised learning rate (Karras et al.).

    Weights are drawn from N(0, 1) and scaled at run time by 1/sqrt(fan_in), so every
    layer learns at the same speed under Adam. With `equalized=False` it is a plain
    dense layer with the same (He-style) initial scale.
    """

    def __init__(self, in_features: int, out_features: int, equalized: bool = True):
        super().__init__()
        self.equalized = equalized
        self.scale = 1.0 / math.sqrt(in_features)
        initial = torch.randn(out_features, in_features)
        self.weight = nn.Parameter(initial if equalized else initial * self.scale)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.scale if self.equalized else self.weight
        return nn.functional.linear(x, weight, self.bias)


def normalization(channels: int, kind: str, dims: int = 2) -> nn.Module:
    """`kind` none | batch | group (GroupNorm, up to 8 groups) over `channels` features of
    `dims`-D maps (1: dense features [B, C])."""
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(8, channels), channels)
    return nn.Identity()


def activation(kind: str = "leaky_relu") -> nn.Module:
    """leaky_relu (slope 0.2) | elu."""
    return nn.ELU() if kind == "elu" else nn.LeakyReLU(0.2)


class DenseHead(nn.Module):
    """Features [B, F] -> logits [B, *shape] through one hidden layer of `hidden` units
    (normalised by `norm`: none | batch | group)."""

    def __init__(
        self,
        in_features: int,
        hidden: int,
        shape: tuple[int, ...],
        equalized: bool = True,
        norm: str = "none",
        nonlinearity: str = "leaky_relu",
    ):
        super().__init__()
        self.shape = tuple(shape)
        self.layers = nn.Sequential(
            EqualizedLinear(in_features, hidden, equalized),
            normalization(hidden, norm, dims=1),
            activation(nonlinearity),
            EqualizedLinear(hidden, math.prod(self.shape), equalized),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).view(-1, *self.shape)


def centred_one_hot(category: torch.Tensor) -> torch.Tensor:
    """Plain conditioning: one-hot [B, L, K] to (c - 1/K) * K / sqrt(K - 1), flattened.

    Each label then has zero mean and unit variance over a uniform category.
    """
    num_categories = category.shape[-1]
    scaled = (category - 1.0 / num_categories) * num_categories / math.sqrt(num_categories - 1)
    return scaled.flatten(1)


class Codebook(nn.Module):
    """A trainable table B of shape [F, L, K]; label l of category k selects B[:, l, k].

    Returns the L selected columns, [B, L, F].
    """

    def __init__(self, features: int, num_labels: int, num_categories: int):
        super().__init__()
        self.table = nn.Parameter(torch.randn(features, num_labels, num_categories))

    def forward(self, category: torch.Tensor) -> torch.Tensor:
        return torch.einsum("flk,blk->blf", self.table, category)


class EqualizedConv2d(nn.Module):
    """Convolution with an equalised learning rate (see EqualizedLinear).

    With stride 1 the output keeps the input's size; with stride 2 (kernel 4) it halves
    it, or doubles it when `transposed`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        equalized: bool = True,
        stride: int = 1,
        transposed: bool = False,
    ):
        super().__init__()
        self.equalized = equalized
        self.stride, self.transposed = stride, transposed
        fan_in = in_channels * kernel_size * kernel_size / (stride * stride if transposed else 1)
        self.scale = 1.0 / math.sqrt(fan_in)
        shape = (in_channels, out_channels) if transposed else (out_channels, in_channels)
        initial = torch.randn(*shape, kernel_size, kernel_size)
        self.weight = nn.Parameter(initial if equalized else initial * self.scale)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.padding = (kernel_size - stride) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.scale if self.equalized else self.weight
        if self.transposed:
            return nn.functional.conv_transpose2d(
                x, weight, self.bias, stride=self.stride, padding=self.padding
            )
        return nn.functional.conv2d(x, weight, self.bias, stride=self.stride, padding=self.padding)


class Resample(nn.Module):
    """2x up-sampling (nearest) or down-sampling (average pooling), optionally blurred
    with the [1, 2, 1] binomial filter against aliasing (the reference design); blurred
    up-sampling is bilinear, which is exactly nearest up-sampling followed by the blur."""

    def __init__(self, direction: str, blur: bool):
        super().__init__()
        self.direction = direction
        self.blur = blur

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        """Each channel convolved with the 3x3 binomial kernel [1, 2, 1] x [1, 2, 1] / 16,
        edges replicated, in whichever of two forms is faster for the layout (the same
        numbers to rounding; measured on the 32x32 reference design's step, 2-core CPU):
        channels-last batches take two 2x2 box means, contiguous ones sums of shifted
        copies. Both have native kernels for every derivative the penalties take, where a
        depthwise convolution's CPU double backward ran one small convolution per channel
        (1,300 in a step of the reference design)."""
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            return _binomial_by_box_means(x)
        return _binomial_by_shifted_sums(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.direction == "up" and self.blur:
            # nearest 2x, then the binomial blur with edges replicated: exactly bilinear 2x
            # (half-pixel centres, edges clamped), one native operator for every derivative
            return nn.functional.interpolate(
                x, scale_factor=2, mode="bilinear", align_corners=False
            )
        if self.direction == "up":
            return nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        if self.blur:
            x = self._blur(x)
        return nn.functional.avg_pool2d(x, 2)


def _binomial_by_shifted_sums(x: torch.Tensor) -> torch.Tensor:
    """The separable [1, 2, 1] / 4 filter along rows, then columns, as sums of shifted
    copies of the input padded by replication (fast on contiguous batches)."""
    padded = nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    rows = padded[:, :, :-2] + 2 * padded[:, :, 1:-1] + padded[:, :, 2:]
    return (rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]) / 16


def _binomial_by_box_means(x: torch.Tensor) -> torch.Tensor:
    """[1, 1] / 2 twice is [1, 2, 1] / 4: two 2x2 box means with stride 1, the first over
    the input padded by one and averaging only the entries inside it (at an edge that is
    the mean over replicated entries). Fast on channels-last batches, where a slice's
    backward costs a zero-filled copy; slow on contiguous ones (PyTorch's CPU kernels)."""
    x = nn.functional.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False)
    return nn.functional.avg_pool2d(x, 2, stride=1)
