"""One-call statistics: any code reports a value by name; the loop collects them.

    stats.report("loss/discriminator", loss)

Values reported between two calls of `collect()` are averaged per name.
"""

from __future__ import annotations

from collections import defaultdict

import torch

_values: dict[str, list[float]] = defaultdict(list)


def report(name: str, value: torch.Tensor | float) -> None:
    """Record a scalar (a tensor is averaged and detached)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().float().mean().item()
    _values[name].append(float(value))


def collect() -> dict[str, float]:
    """Means of everything reported since the last call, then forget them."""
    means = {name: sum(values) / len(values) for name, values in _values.items() if values}
    _values.clear()
    return means
