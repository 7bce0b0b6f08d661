"""The divergence guard: NaN or infinite losses and weights, found without reading
anything back from the device in a step.

Each phase's loss is folded into three device scalars (the first bad step, its phase and
its value) by `watch`; `check` reads them, and whether every trained weight is finite,
once per log interval and before every checkpoint, so a checkpoint never holds a
diverged state, and raises TrainingDiverged naming the phase, the value and the step.
Before, the loop read each loss and every weight back after each phase of each step.
"""

from __future__ import annotations

import torch

from cgpgan import distributed
from cgpgan.errors import TrainingDiverged


class DivergenceGuard:
    def __init__(self, phases: list[str], device: torch.device):
        self.phases = phases
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self.bad_phase = torch.zeros((), dtype=torch.long, device=self.device)
        self.bad_value = torch.zeros((), device=self.device)

    @torch.no_grad()
    def watch(self, phase: str, loss: torch.Tensor, step: int) -> None:
        """Remember `loss` of `phase` at (0-based) `step` if it is the first bad one."""
        first = ~torch.isfinite(loss) & (self.bad_step < 0)
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_phase = torch.where(first, self.phases.index(phase), self.bad_phase)
        self.bad_value = torch.where(first, loss.float(), self.bad_value)

    @torch.no_grad()
    def check(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Raise TrainingDiverged if a watched loss or a trained weight is not finite (in
        any process)."""
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
