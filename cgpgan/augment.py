"""Random image transformations, drawn from a given (seeded) generator."""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F


def _uniform(
    images: torch.Tensor, generator: torch.Generator, low: float, high: float
) -> torch.Tensor:
    """One value per image, uniform in [low, high), drawn from `generator` (on its device)
    and put on the images' device and dtype."""
    values = torch.rand(images.shape[0], generator=generator, device=generator.device)
    return (low + (high - low) * values).to(images.device, images.dtype)


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    max_shift: int = 2,
    max_rotation: float = 0.0,
    max_scale: float = 0.0,
) -> torch.Tensor:
    """Move each image [B, C, H, W] by up to `max_shift` whole pixels in each direction,
    rotate it by up to `max_rotation` degrees and scale it by a factor in
    [1 - max_scale, 1 + max_scale]; uncovered pixels repeat the border. Pure shifts are
    exact (nearest sampling). Other tensors (e.g. 2-D points) are returned as they are."""
    if images.dim() != 4 or (max_shift <= 0 and max_rotation <= 0 and max_scale <= 0):
        return images
    batch, _, height, width = images.shape
    uniform = partial(_uniform, images, generator)  # uniform(low, high): one value per image

    shifts = torch.randint(
        -max_shift, max_shift + 1, (batch, 2), generator=generator, device=generator.device
    ).to(images.device, images.dtype)
    angle = uniform(-max_rotation, max_rotation) * math.pi / 180
    scale = uniform(1 - max_scale, 1 + max_scale)
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = torch.cos(angle) / scale
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, 0, 2] = 2 * shifts[:, 0] / width
    theta[:, 1, 2] = 2 * shifts[:, 1] / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    mode = "nearest" if max_rotation <= 0 and max_scale <= 0 else "bilinear"
    return F.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=False)


def consistency_moves(
    x: torch.Tensor, generator: torch.Generator, shift: float, flip: bool, jitter: float
) -> torch.Tensor:
    """The moved copies consistency regularisation compares: images [B, C, H, W] shifted
    by up to `shift` of their size (whole pixels) and, with `flip`, half of them flipped
    left-right; other data (2-D points) with Gaussian noise of std `jitter`."""
    if x.dim() != 4:
        noise = torch.randn(x.shape, generator=generator, device=generator.device)
        return x + jitter * noise.to(x.device, x.dtype)
    moved = random_affine(x, generator, max_shift=round(shift * x.shape[-1]))
    if flip:
        flipped = torch.rand(x.shape[0], generator=generator, device=generator.device) < 0.5
        moved = torch.where(flipped.to(x.device).view(-1, 1, 1, 1), moved.flip(-1), moved)
    return moved


def random_resized_crop(
    images: torch.Tensor,
    generator: torch.Generator,
    min_scale: float,
    flip: bool = False,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """torchvision's RandomResizedCrop on each image [B, C, H, W], drawn from `generator`:
    a crop covering a share of the image's area uniform in [`min_scale`, 1], of aspect
    ratio log-uniform in `ratio` (each side at most the image's), at a uniform position
    inside the image, resized back to H x W (bilinear); with `flip`, half of the images
    mirrored left-right. Other tensors (e.g. 2-D points) are returned as they are."""
    if images.dim() != 4 or (min_scale >= 1 and not flip):
        return images
    batch = images.shape[0]
    uniform = partial(_uniform, images, generator)  # uniform(low, high): one value per image

    # the crop's width and height as shares of the image's, and its centre in [-1, 1]
    width = height = torch.ones(batch, device=images.device, dtype=images.dtype)
    centre_x = centre_y = torch.zeros_like(width)
    if min_scale < 1:
        area = uniform(min_scale, 1.0)
        aspect = torch.exp(uniform(math.log(ratio[0]), math.log(ratio[1])))
        width = torch.sqrt(area * aspect).clamp(max=1.0)
        height = torch.sqrt(area / aspect).clamp(max=1.0)
        centre_x = (1 - width) * uniform(-1.0, 1.0)
        centre_y = (1 - height) * uniform(-1.0, 1.0)
    mirror = torch.ones_like(width)
    if flip:
        mirror = torch.where(uniform(0.0, 1.0) < 0.5, -mirror, mirror)
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = width * mirror
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
