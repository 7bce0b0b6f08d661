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

    def to(self, device: torch.device | str) -> Batch:
        labels = None if self.labels is None else self.labels.to(device)
        if self.labelled is self:
            moved = Batch(self.data.to(device), labels)
            moved.labelled = moved
            return moved
        labelled = None if self.labelled is None else self.labelled.to(device)
        return Batch(self.data.to(device), labels, labelled)


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
            return Batch(self.items[indices])
        batch = Batch(self.items[indices], self.training_labels[indices])
        labelled = torch.nonzero(self.training_labels != UNLABELLED).flatten()
        if len(labelled) == len(self.items):
            batch.labelled = batch
        elif len(labelled) > 0:
            chosen = labelled[torch.randint(len(labelled), (batch_size,), generator=generator)]
            batch.labelled = Batch(self.items[chosen], self.training_labels[chosen])
        return batch


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
