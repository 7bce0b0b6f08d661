"""Multi-process training: `torchrun --nproc_per_node N -m cgpgan train ...`.

Every process holds the whole model and trains on batches of its own (its data and
latent streams are seeded from the run's seed and its rank); after each phase's
backward pass the gradients of that phase's parameters are averaged over the processes
with one all-reduce, so every process takes the same optimiser step and the weights stay
identical, as with DistributedDataParallel. The all-reduce is explicit rather than
DistributedDataParallel's backward hooks because the methods' penalties differentiate
the critic twice (`autograd.grad(create_graph=True)`), which those hooks do not support
(pytorch/pytorch#47562: wrong gradients with a gradient penalty; #63812: backward with
`create_graph=True` raises), and because the training loop back-propagates each phase
into its own module's parameters only.

What must agree across processes agrees by construction: the dynamic prior is updated
from the mean over all processes of the pseudo-label probabilities (`mean`), statistics
are summed over processes before they are logged, the structural method's memory bank
stores the real embeddings of every process (`gather`). Buffers that each process
updates from its own batch (batch-norm running statistics) are copied from rank 0 before
each checkpoint, so a resumed run continues exactly as an uninterrupted one.

With one process (no torchrun) every function here is the identity or does nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from cgpgan.errors import FailedOnMain

# a gloo group of all processes for agreements made on the host (a stop signal) when the
# default group is NCCL: a CPU all-reduce there does not wait for the GPU's queued work
_host_group: dist.ProcessGroup | None = None


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes files, logs and pictures (rank 0)."""
    return rank() == 0


def stream_seed(seed: int) -> int:
    """The seed of this process's random stream for the run seed `seed`: `seed` itself
    on rank 0 (so one process draws what a plain run draws), on rank r > 0 a 32-bit seed
    mixed from (seed, r) (torch's CPU generator reads only a seed's low 32 bits, so an
    offset of r * 2^32 would give every rank the same stream)."""
    if rank() == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank()]).generate_state(1)[0])


@contextmanager
def process_group():
    """Join the process group that torchrun describes in the environment (WORLD_SIZE > 1)
    for the block: gloo on CPU, NCCL with one GPU per process (LOCAL_RANK). Without
    torchrun, or inside a group already joined, it does nothing."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        yield
        return
    global _host_group
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
        _host_group = dist.new_group(backend="gloo")
    else:
        dist.init_process_group("gloo")  # the default group is on the host already
    try:
        yield
        dist.barrier()  # leave together: gloo can abort a process whose peer left first
    finally:
        _host_group = None
        dist.destroy_process_group()


def default_device() -> str | None:
    """This process's GPU under torchrun with CUDA (`cuda:LOCAL_RANK`), else None."""
    if dist.is_initialized() and torch.cuda.is_available():
        return f"cuda:{torch.cuda.current_device()}"
    return None


def total(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over all processes (a new tensor)."""
    tensor = tensor.clone()
    if dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor


def mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of `tensor` over all processes (a new tensor; every process gets the
    same bits)."""
    return total(tensor) / world_size() if dist.is_initialized() else tensor


def all_true(flag: torch.Tensor | bool) -> bool:
    """Whether `flag` holds in every process (one boolean read back). A tensor is agreed
    on where the collectives run (the GPU under NCCL); a Python bool on the host, so a
    check made every step (the stop signal) does not wait for the GPU's queued work."""
    if not dist.is_initialized():
        return bool(flag)
    if isinstance(flag, torch.Tensor):
        agreed, group = flag.to(_collective_device(), torch.float32).reshape(()), None
    else:
        agreed, group = torch.tensor(float(flag)), _host_group
    dist.all_reduce(agreed, op=dist.ReduceOp.MIN, group=group)
    return bool(agreed)


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """The tensors [B, ...] of all processes concatenated in rank order (this process's
    own without multi-process training). Every process must give the same shape."""
    if not dist.is_initialized():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Replace each parameter's gradient by its mean over all processes, in one
    all-reduce. Parameters without a gradient are skipped; every process must have
    gradients for the same ones (the methods' phases are the same in every process)."""
    if not dist.is_initialized() or world_size() == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([grad.reshape(-1) for grad in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def copy_buffers_from_main(module: nn.Module) -> None:
    """Give every process rank 0's buffers (batch-norm statistics and the like)."""
    if dist.is_initialized():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def gather_objects(value) -> list:
    """`value` of every process, in rank order (picklable values only)."""
    if not dist.is_initialized():
        return [value]
    values = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def from_main(value):
    """Rank 0's `value` in every process (picklable values only)."""
    if not dist.is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def on_main(work: Callable[[], object]):
    """Run `work` on rank 0 only and return its result there (None elsewhere); an error
    it raises is raised in every process (FailedOnMain elsewhere), so no process waits
    for one that has failed."""
    if not dist.is_initialized():
        return work()
    result, error = None, None
    if is_main():
        try:
            result = work()
        except Exception as raised:  # told to the others, then raised here too
            error = raised
    message = from_main(None if error is None else str(error))
    if error is not None:
        raise error
    if message is not None:
        raise FailedOnMain(message)
    return result


def _collective_device() -> torch.device:
    return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")
