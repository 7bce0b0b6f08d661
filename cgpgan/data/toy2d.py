"""Two-dimensional data sets: a Gaussian mixture and the double spiral."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from cgpgan.config import DataConfig
from cgpgan.data.batch import Dataset
from cgpgan.errors import DataError
from cgpgan.storage import load_numpy


class PointDataset(Dataset):
    """Points in the plane with the mode (cluster or arm) each was drawn from.

    Subclasses define `assign_modes`, which maps any points (e.g. generated ones) to
    their nearest mode and says whether they lie close enough to count as "high
    quality" (within 3 standard deviations).
    """

    kind = "points"

    points: torch.Tensor  # [N, 2]
    labels: torch.Tensor  # [N] mode index
    mode_probabilities: torch.Tensor  # [num_modes]

    @property
    def items(self) -> torch.Tensor:
        """The data, as for every data set: here the points."""
        return self.points

    @property
    def num_modes(self) -> int:
        return len(self.mode_probabilities)

    def assign_modes(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class GaussianMixture(PointDataset):
    """Isotropic Gaussian clusters with given centres, probabilities and common std."""

    def __init__(
        self, centers, probabilities, std: float, num_samples: int, generator: torch.Generator
    ):
        self.centers = torch.tensor(centers, dtype=torch.float32)
        self.mode_probabilities = torch.tensor(probabilities, dtype=torch.float64)
        self.std = float(std)
        self.labels = torch.multinomial(
            self.mode_probabilities, num_samples, replacement=True, generator=generator
        )
        noise = torch.randn(num_samples, 2, generator=generator)
        self.points = self.centers[self.labels] + self.std * noise

    def assign_modes(self, points):
        distances = torch.cdist(points.float(), self.centers)
        nearest, modes = distances.min(dim=1)
        return modes, nearest <= 3 * self.std


class DoubleSpiral(PointDataset):
    """Two interleaved spiral arms (the structural-objectives paper's toy data).

    Arm 0 is r(theta) * (cos theta, sin theta), theta in [0, 2 pi turns], with
    r = theta / (2 pi); arm 1 is arm 0 rotated by pi. Gaussian noise of std `noise`.
    """

    def __init__(self, turns: float, noise: float, num_samples: int, generator: torch.Generator):
        self.turns = float(turns)
        self.std = float(noise)
        self.mode_probabilities = torch.tensor([0.5, 0.5], dtype=torch.float64)
        self.labels = torch.randint(2, (num_samples,), generator=generator)
        # sqrt makes the density along the arm roughly uniform per unit length
        position = torch.rand(num_samples, generator=generator).sqrt()
        self.points = self._curve(position, self.labels)
        self.points += self.std * torch.randn(num_samples, 2, generator=generator)
        dense = torch.linspace(0, 1, 4000)
        self._curve_points = torch.cat(
            [self._curve(dense, torch.zeros(4000)), self._curve(dense, torch.ones(4000))]
        )
        self._curve_labels = torch.cat([torch.zeros(4000), torch.ones(4000)]).long()

    def _curve(self, position: torch.Tensor, arm: torch.Tensor) -> torch.Tensor:
        theta = position * 2 * math.pi * self.turns + arm * math.pi
        radius = position * self.turns * 2
        return torch.stack([radius * torch.cos(theta), radius * torch.sin(theta)], dim=1)

    def assign_modes(self, points):
        distances = torch.cdist(points.float(), self._curve_points)
        nearest, index = distances.min(dim=1)
        return self._curve_labels[index], nearest <= 3 * self.std


def build_point_dataset(config: DataConfig, seed: int) -> PointDataset:
    """The data set of `config`, drawn with a generator seeded by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    if config.name == "gaussian_mixture":
        return GaussianMixture(
            config.centers, config.probabilities, config.std, config.num_samples, generator
        )
    return DoubleSpiral(config.spiral_turns, config.spiral_noise, config.num_samples, generator)


def read_points_file(path: str | Path, dimension: int) -> torch.Tensor:
    """Points [N, dimension] from a `.npy`, a `.npz` (its `points` array, or its only one)
    or a `.csv` (numbers; a header row is skipped, and its `x0`, `x1`, ... columns are
    used when it names them), in the file's order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".csv":
        array = _read_points_csv(path, dimension)
    elif path.suffix in (".npy", ".npz"):
        array = _read_points_array(path)
    else:
        raise DataError(f"{path}: points must be a .csv, .npy or .npz file")
    if array.ndim != 2 or array.shape[1] != dimension:
        raise DataError(
            f"{path}: expected points of shape [N, {dimension}], got {list(array.shape)}"
        )
    if len(array) == 0:
        raise DataError(f"{path}: holds no points")
    if not np.isfinite(array).all():
        raise DataError(f"{path}: holds NaN or infinite values")
    return torch.as_tensor(array, dtype=torch.float32)


def _read_points_array(path: Path) -> np.ndarray:
    loaded = load_numpy(path)
    if isinstance(loaded, np.ndarray):
        return loaded.astype(np.float64)
    with loaded:
        names = loaded.files
        if "points" in names:
            return loaded["points"].astype(np.float64)
        if len(names) == 1:
            return loaded[names[0]].astype(np.float64)
        raise DataError(
            f"{path}: the .npz has no 'points' array (has: {', '.join(names) or 'nothing'})"
        )


def _read_points_csv(path: Path, dimension: int) -> np.ndarray:
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    columns = list(range(dimension))
    if rows and not _is_number(rows[0][0]):  # a header
        header = [name.strip() for name in rows.pop(0)]
        named = [f"x{i}" for i in range(dimension)]
        if all(name in header for name in named):
            columns = [header.index(name) for name in named]
    try:
        return np.array([[float(row[i]) for i in columns] for row in rows], dtype=np.float64)
    except (ValueError, IndexError):
        raise DataError(
            f"{path}: every row must hold {dimension} numbers "
            f"(or the columns x0..x{dimension - 1} named in a header)"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
