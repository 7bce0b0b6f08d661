"""The divergence guard: NaN or infinite losses and weights, found without reading
anything back from the device in a step.

`watch` keeps each phase's loss; every FOLD_EVERY losses, and in `check`, they are folded
into three device scalars (the first bad step, its phase and its value) by a few operators
for all of them. `check` reads those, and whether every trained weight is finite, once per
log interval and before every checkpoint, so a checkpoint never holds a
diverged state, and raises TrainingDiverged naming the phase, the value and the step.
Before, the loop read each loss and every weight back after each phase of each step.
"""

from __future__ import annotations

import torch

from cgpgan import distributed
from cgpgan.errors import TrainingDiverged

FOLD_EVERY = 256  # losses kept before they are folded (a bound on the memory they hold)


class DivergenceGuard:
    def __init__(self, phases: list[str], device: torch.device):
        self.phases = phases
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self.bad_phase = torch.zeros((), dtype=torch.long, device=self.device)
        self.bad_value = torch.zeros((), device=self.device)
        self.pending: list[tuple[str, int, torch.Tensor]] = []  # watched, not yet folded

    def watch(self, phase: str, loss: torch.Tensor, step: int) -> None:
        """Remember `loss` of `phase` at (0-based) `step` (no operator run)."""
        self.pending.append((phase, step, loss.detach()))
        if len(self.pending) == FOLD_EVERY:
            self._fold()

    @torch.no_grad()
    def _fold(self) -> None:
        """Fold the pending losses into the first bad one (that of the smallest index)."""
        if not self.pending:
            return
        phases, steps, losses = zip(*self.pending)
        self.pending = []
        values = torch.stack([loss.float() for loss in losses])
        bad = ~torch.isfinite(values)
        first = bad.int().argmax()  # the first index of the largest value
        take = bad.any() & (self.bad_step < 0)
        steps = torch.tensor(steps, device=self.device)
        phases = torch.tensor([self.phases.index(phase) for phase in phases], device=self.device)
        self.bad_step = torch.where(take, steps[first], self.bad_step)
        self.bad_phase = torch.where(take, phases[first], self.bad_phase)
        self.bad_value = torch.where(take, values[first], self.bad_value)

    @torch.no_grad()
    def check(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Raise TrainingDiverged if a watched loss or a trained weight is not finite (in
        any process)."""
        self._fold()
        weights = [
            torch.isfinite(p).all()
            for optimizer in optimizers.values()
            for group in optimizer.param_groups
            for p in group["params"]
        ]
        finite = torch.stack(weights).all() & (self.bad_step < 0)
        if distributed.all_true(finite):
            return
        step = int(self.bad_step)
        if step >= 0:
            phase = self.phases[int(self.bad_phase)]
            message = f"the {phase} loss is {float(self.bad_value)} at step {step + 1}"
        elif not bool(finite):
            message = "non-finite weights"
        else:
            message = "another process diverged"
        self.reset()
        raise TrainingDiverged(message)
