"""Run by tests/test_distributed.py under torchrun (gloo, 2 processes on the CPU):

    python -m torch.distributed.run --standalone --nproc_per_node 2 \\
        tests/distributed_worker.py OUT PLAN.json

PLAN.json is a list of cgpgan command lines (argument lists of `cgpgan.cli.main`), run in
order inside one process group. For the i-th, every process saves the prior after each
of its updates to OUT/priors-i-rankR.pt and its exit code to OUT/code-i-rankR.txt. Then
every process checks the gradient averaging on one fixed batch: the gradients of a mean
loss with a gradient penalty (double backward) on each process's half of the batch,
averaged over the processes, against the same loss's gradients on the whole batch;
the largest difference goes to OUT/gradients-rankR.txt; `distributed.all_true` of flags
that differ between the processes to OUT/agreed-rankR.txt; and the first draws of its
streams of seed 0 to OUT/draws-*-rankR.txt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from cgpgan import distributed, losses
from cgpgan.cli import main
from cgpgan.methods.base import Method
from cgpgan.networks import build_networks

RECORD: list[torch.Tensor] = []
_update_prior = Method.update_prior


def recording_update_prior(self, probabilities, step):
    _update_prior(self, probabilities, step)
    RECORD.append(self.prior.probabilities.detach().clone())


def gradient_difference() -> float:
    """max |averaged half-batch gradients - whole-batch gradients| of a critic."""
    config = _tiny_network_config()
    torch.manual_seed(0)  # the same critic in every process
    critic = build_networks(config, (2,), 1, 1).critic(1, 1)
    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    fake = torch.randn(64, 2, generator=torch.Generator().manual_seed(2))

    def loss_of(real, generated):
        real = real.clone().requires_grad_(True)
        generated = generated.clone().requires_grad_(True)
        real_score, fake_score = critic(real)[:, 0, 0], critic(generated)[:, 0, 0]
        adversarial = losses.discriminator_loss("hinge", real_score, fake_score)
        return adversarial + 10 * losses.squared_gradient_norm(real_score, real)

    whole = torch.autograd.grad(loss_of(data, fake), list(critic.parameters()))
    half = slice(32 * distributed.rank(), 32 * (distributed.rank() + 1))
    critic.zero_grad()
    loss_of(data[half], fake[half]).backward()
    distributed.average_gradients(critic.parameters())
    return max(
        float((p.grad - expected).abs().max()) for p, expected in zip(critic.parameters(), whole)
    )


def _tiny_network_config():
    from cgpgan.config import load_config

    return load_config(None, ["network.hidden_dim=16", "network.depth=2"]).network


def run() -> None:
    out, plan = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
    Method.update_prior = recording_update_prior
    with distributed.process_group():
        rank = distributed.rank()
        for index, argv in enumerate(plan):
            RECORD.clear()
            code = main(argv)
            (out / f"code-{index}-rank{rank}.txt").write_text(str(code))
            priors = torch.stack(RECORD) if RECORD else torch.empty(0)
            torch.save(priors, out / f"priors-{index}-rank{rank}.pt")
        (out / f"gradients-rank{rank}.txt").write_text(str(gradient_difference()))
        agreed = [  # a flag false in one process only is false in both, as bool and tensor
            distributed.all_true(flag)
            for flag in (rank == 0, True, torch.tensor(rank == 1), torch.tensor(True))
        ]
        (out / f"agreed-rank{rank}.txt").write_text(json.dumps(agreed))
        for offset in (0, 1):  # the latent and the data stream of seed 0
            generator = torch.Generator().manual_seed(distributed.stream_seed(offset))
            draws = torch.rand(4, generator=generator).tolist()
            (out / f"draws-{offset}-rank{rank}.txt").write_text(json.dumps(draws))


if __name__ == "__main__":
    run()
