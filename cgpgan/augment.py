"""Random image transformations, drawn from a given (seeded) generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_translate(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image [B, C, H, W] by whole pixels, up to `max_shift` in each
    direction; uncovered pixels repeat the border. Other tensors are returned as they are."""
    if images.dim() != 4 or max_shift <= 0:
        return images
    batch, _, height, width = images.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (batch, 2), generator=generator, device=generator.device).to(images.device)
    theta = torch.zeros(batch, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = 2 * shifts[:, 0].to(images.dtype) / width
    theta[:, 1, 2] = 2 * shifts[:, 1].to(images.dtype) / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="nearest", padding_mode="border", align_corners=False)
