"""What a training step sees of the data: a batch, and labels only where training may
use them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

UNLABELLED = -1


@dataclass
class Batch:
    """Real data `data` [B, ...] for one step and, when `data.labelled_fraction` > 0,
    `labels` [B]: the class of items in the labelled subset, UNLABELLED (-1) for the
    others, and `labelled`: a batch of as many items drawn from the labelled subset only
    (the batch itself when every item is labelled). With the default fraction 0 `labels`
    and `labelled` are None: labels kept for scoring never reach training."""

    data: torch.Tensor
    labels: torch.Tensor | None = None
    labelled: Batch | None = None

    def to(
        self, device: torch.device | str, memory_format: torch.memory_format = torch.preserve_format
    ) -> Batch:
        labels = None if self.labels is None else self.labels.to(device)
        data = self.data.to(device, memory_format=memory_format)
        if self.labelled is self:
            moved = Batch(data, labels)
            moved.labelled = moved
            return moved
        labelled = None if self.labelled is None else self.labelled.to(device, memory_format)
        return Batch(data, labels, labelled)


class Dataset:
    """What training reads of a data set: its `items` [N, ...] (points or images) and,
    where some are revealed (cgpgan.data.reveal_labels), `training_labels` [N]."""

    training_labels: torch.Tensor | None = None
    validation: Dataset | None = None  # held-out items (data.validation_fraction), or None

    @property
    def items(self) -> torch.Tensor:
        raise NotImplementedError

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.items.shape[1:])

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A batch drawn uniformly with replacement, using only `generator`; where some
        labels are revealed, with a labelled batch drawn the same way from those items."""
        indices = torch.randint(len(self.items), (batch_size,), generator=generator)
        if self.training_labels is None:
            return Batch(self.items[self._where_items(indices)])
        batch = self._gather(indices)
        labelled = self.labelled_indices()
        if len(labelled) == len(self.items):
            batch.labelled = batch
        elif len(labelled) > 0:
            chosen = labelled[torch.randint(len(labelled), (batch_size,), generator=generator)]
            batch.labelled = self._gather(chosen)
        return batch

    def labelled_indices(self) -> torch.Tensor:
        """Indices (on the CPU) of the items whose label training may use."""
        return torch.nonzero(self.training_labels.cpu() != UNLABELLED).flatten()

    def resident(self, device: torch.device) -> Dataset:
        """This data set's training items and labels copied once to `device`."""
        return ResidentDataset(self, device)

    def _gather(self, indices: torch.Tensor) -> Batch:
        where = self._where_items(indices)
        return Batch(self.items[where], self.training_labels[where])

    def _where_items(self, indices: torch.Tensor) -> torch.Tensor:
        """CPU-drawn indices where the items are (a copy that does not wait for the
        device: the host's pinned memory, sent asynchronously)."""
        if self.items.device.type != "cuda":
            return indices
        return indices.pin_memory().to(self.items.device, non_blocking=True)


class ResidentDataset(Dataset):
    """A data set's training items and labels kept on a device, e.g. the GPU: batches
    are drawn with the same CPU generator as on the CPU (the same batches) and gathered
    on the device, instead of being copied there every step."""

    def __init__(self, dataset: Dataset, device: torch.device):
        self._items = dataset.items.to(device)
        labels = dataset.training_labels
        self.training_labels = None if labels is None else labels.to(device)
        self._labelled = None if labels is None else dataset.labelled_indices()
        self.validation = dataset.validation

    @property
    def items(self) -> torch.Tensor:
        return self._items

    def labelled_indices(self) -> torch.Tensor:
        return self._labelled


def labelled_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Training labels for a fixed, seeded, class-stratified subset: round(fraction * n_c)
    items of each class c keep their label, the rest are UNLABELLED."""
    generator = torch.Generator().manual_seed(seed)
    revealed = torch.full_like(labels, UNLABELLED)
    for label in labels.unique():
        members = torch.nonzero(labels == label).flatten()
        count = round(fraction * len(members))
        chosen = members[torch.randperm(len(members), generator=generator)[:count]]
        revealed[chosen] = label
    return revealed
