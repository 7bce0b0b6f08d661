import torch

from cgpgan.augment import random_affine


def test_shifts_are_whole_pixels_within_the_limit_and_seeded():
    images = torch.zeros(50, 1, 16, 16)
    images[:, 0, 8, 8] = 1
    first = random_affine(images, torch.Generator().manual_seed(3), max_shift=2)
    again = random_affine(images, torch.Generator().manual_seed(3), max_shift=2)
    assert torch.equal(first, again)
    positions = [(image[0] == 1).nonzero()[0] for image in first]
    assert all(image.sum() == 1 for image in first)  # exact: nothing blurred or lost
    offsets = torch.stack(positions) - 8
    assert offsets.abs().max() <= 2 and len({tuple(o.tolist()) for o in offsets}) > 10


def test_rotation_and_scale_move_content_but_keep_shapes_and_points():
    images = torch.rand(4, 3, 8, 8)
    moved = random_affine(
        images, torch.Generator().manual_seed(0), max_shift=0, max_rotation=20, max_scale=0.1
    )
    assert moved.shape == images.shape and not torch.allclose(moved, images)
    points = torch.rand(5, 2)
    assert random_affine(points, torch.Generator(), max_shift=2) is points
