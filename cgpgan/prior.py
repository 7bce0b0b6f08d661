"""The categorical prior P(C): an L x K table, each row a distribution over K; and the
helpers on one-hot categories c [B, L, K] that several layers share."""

from __future__ import annotations

import torch
from torch import nn

LIVE_THRESHOLD = 0.01  # a category with at least this prior probability counts as live


class CategoricalPrior(nn.Module):
    """L independent categorical labels with K categories each, initially uniform.

    The table is a buffer, so it is saved and restored with the model.
    """

    def __init__(self, num_labels: int, num_categories: int, initial: list[float] | None = None):
        super().__init__()
        if initial is None:
            table = torch.full((num_labels, num_categories), 1.0 / num_categories)
        else:
            table = (
                torch.tensor(initial, dtype=torch.float32)
                .expand(num_labels, num_categories)
                .clone()
            )
        self.register_buffer("probabilities", table)

    @property
    def num_labels(self) -> int:
        return self.probabilities.shape[0]

    @property
    def num_categories(self) -> int:
        return self.probabilities.shape[1]

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """One-hot categories c ~ P(C), [B, L, K]."""
        index = torch.multinomial(
            self.probabilities, batch_size, replacement=True, generator=generator
        )
        return one_hot(index.t(), self.num_categories)

    @torch.no_grad()
    def update(self, batch_mean: torch.Tensor, decay: float) -> None:
        """Dynamic prior: P <- decay * P + (1 - decay) * mean_batch(softmax Q(x))."""
        self.probabilities.mul_(decay).add_(batch_mean.to(self.probabilities), alpha=1 - decay)
        # keep each row an exact distribution despite rounding
        self.probabilities.div_(self.probabilities.sum(dim=1, keepdim=True))

    def entropy(self) -> torch.Tensor:
        """H(P) for each label, [L]."""
        return entropy(self.probabilities)

    def live_categories(self, threshold: float = LIVE_THRESHOLD) -> torch.Tensor:
        """Number of categories with probability >= threshold for each label, [L]."""
        return (self.probabilities >= threshold).sum(dim=1)


SHARE = "prior/share/"  # metrics.jsonl: the first label's prior, one key per category


def prior_shares(prior: CategoricalPrior) -> dict[str, float]:
    """{"prior/share/k": P(c_1 = k)} for the first label, read at once (a log row's)."""
    return {f"{SHARE}{k}": share for k, share in enumerate(prior.probabilities[0].tolist())}


def one_hot(index: torch.Tensor, num_categories: int) -> torch.Tensor:
    """Float one-hot of category indices known to be in range, [..., num_categories]: as
    F.one_hot(index, num_categories).float(), without its range check (two operators and a
    read back a call)."""
    zeros = torch.zeros(*index.shape, num_categories, device=index.device)
    return zeros.scatter_(-1, index.unsqueeze(-1), 1.0)


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """H(P) = -sum_k P_k log P_k over the last dimension (in nats; 0 log 0 = 0)."""
    return -(probabilities * probabilities.clamp_min(1e-12).log()).sum(dim=-1)


def fix_category(one_hot: torch.Tensor, label: int, category: int) -> torch.Tensor:
    """Set `label` of every row of the one-hot categories [B, L, K] to `category`, in
    place (the other labels keep theirs); returns `one_hot`."""
    one_hot[:, label] = 0
    one_hot[:, label, category] = 1
    return one_hot


def category_agreement(scores: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
    """Whether argmax_k of `scores` (Q's logits or probabilities, [B, L, K]) is the
    category of `one_hot` [B, L, K], as [B, L] booleans; its mean on generated samples
    is the self-accuracy."""
    return scores.argmax(dim=2) == one_hot.argmax(dim=2)
