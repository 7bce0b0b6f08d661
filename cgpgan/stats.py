"""One-call statistics: any code reports a value by name; the loop collects them.

    stats.report("loss/discriminator", loss)

Values are summed where they are made (on the GPU when training runs there), so a
report costs no device synchronisation; `collect()` reads everything once per log
interval and returns the mean per name since its last call. It lives below the methods
and the loop, which both use it. For multi-process training, `collect(reduce=...)` takes
a function that sums a tensor over the processes (e.g. an all-reduce), so the means are
over every process's reports.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

_sums: dict[str, torch.Tensor] = {}
_counts: dict[str, int] = {}


def report(name: str, value: torch.Tensor | float) -> None:
    """Record a scalar (a tensor is averaged and detached; nothing is read back)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().float().mean()
    else:
        value = torch.tensor(float(value))
    _sums[name] = _sums[name] + value.to(_sums[name].device) if name in _sums else value
    _counts[name] = _counts.get(name, 0) + 1


def collect(reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """Means of everything reported since the last call, then forget them.

    `reduce` sums a [2, N] tensor (sums and counts, names sorted) over processes; every
    process must then have reported the same names."""
    names = sorted(_sums)
    if not names:
        return {}
    device = _sums[names[0]].device
    sums = torch.stack([_sums[name].to(device) for name in names])
    counts = torch.tensor([float(_counts[name]) for name in names], device=device)
    totals = torch.stack([sums, counts])
    if reduce is not None:
        totals = reduce(totals)
    _sums.clear()
    _counts.clear()
    sums, counts = totals.double().cpu()  # the one read back
    return {name: float(total / count) for name, total, count in zip(names, sums, counts)}
