import math

import torch

from cgpgan.augment import random_affine, random_resized_crop


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


def test_resized_crops_zoom_in_within_the_scale_and_are_seeded():
    # a horizontal ramp: a crop of width share w shows a ramp of slope w
    ramp = torch.linspace(-1, 1, 32).expand(1, 1, 32, 32).repeat(200, 1, 1, 1)
    crops = random_resized_crop(ramp, torch.Generator().manual_seed(1), min_scale=0.5)
    again = random_resized_crop(ramp, torch.Generator().manual_seed(1), min_scale=0.5)
    assert torch.equal(crops, again) and crops.shape == ramp.shape
    slope = (crops[:, 0, :, -1] - crops[:, 0, :, 0]).mean(dim=1) / 2
    # width share sqrt(area * aspect), area in [0.5, 1], aspect in [3/4, 4/3], at most 1
    assert slope.min() >= math.sqrt(0.5 * 0.75) - 0.02 and slope.max() <= 1 + 1e-5
    assert slope.std() > 0.05  # the crops differ
    low, high = crops.amin(dim=(1, 2, 3)), crops.amax(dim=(1, 2, 3))
    assert low.min() >= -1 - 1e-5 and high.max() <= 1 + 1e-5  # inside the image
    assert random_resized_crop(ramp, torch.Generator(), min_scale=1.0) is ramp


def test_flips_mirror_about_half_of_the_images_and_nothing_else():
    images = torch.rand(400, 1, 8, 8)
    moved = random_resized_crop(images, torch.Generator().manual_seed(0), 1.0, flip=True)
    same = (moved - images).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (moved - images.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert bool((same ^ mirrored).all()) and 150 < int(mirrored.sum()) < 250
