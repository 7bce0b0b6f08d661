"""One-call statistics: any code reports a value by name; the loop collects them.

    stats.report("loss/discriminator", loss)

Values are kept where they are made (on the GPU when training runs there), so a
report costs no device synchronisation and, for a scalar, no operator beyond a detach
(every FOLD_EVERY reports of a name are summed into one); `collect()` sums them and reads
everything once per log interval, returning the mean per name since its last call. It
lives below the methods and the loop, which both use it. For multi-process training,
`collect(reduce=...)` takes a function that sums a tensor over the processes (e.g. an
all-reduce), so the means are over every process's reports.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

FOLD_EVERY = 256  # reports of a name kept before they are summed (a bound on their memory)

_values: dict[str, list[torch.Tensor]] = {}  # the reports since the last collect (or sums)
_counts: dict[str, int] = {}


def report(name: str, value: torch.Tensor | float) -> None:
    """Record a scalar (a tensor is averaged and detached; nothing is read back)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().float()
        if value.dim():
            value = value.mean()
    else:
        value = torch.tensor(float(value))
    values = _values.setdefault(name, [])
    values.append(value)
    _counts[name] = _counts.get(name, 0) + 1
    if len(values) == FOLD_EVERY:
        _values[name] = [_sum(values)]


def _sum(values: list[torch.Tensor]) -> torch.Tensor:
    device = values[0].device
    return torch.stack([value.to(device) for value in values]).sum()


def collect(reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """Means of everything reported since the last call, then forget them.

    `reduce` sums a [2, N] tensor (sums and counts, names sorted) over processes; every
    process must then have reported the same names."""
    names = sorted(_values)
    if not names:
        return {}
    device = _values[names[0]][0].device
    sums = torch.stack([_sum(_values[name]).to(device) for name in names])
    counts = torch.tensor([float(_counts[name]) for name in names], device=device)
    totals = torch.stack([sums, counts])
    if reduce is not None:
        totals = reduce(totals)
    _values.clear()
    _counts.clear()
    sums, counts = totals.double().cpu()  # the one read back
    return {name: float(total / count) for name, total, count in zip(names, sums, counts)}
