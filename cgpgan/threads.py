"""How many CPU threads a run uses.

PyTorch starts one busy-waiting thread per core. On the small networks of 2-D data the
extra threads give nothing (1,500 steps take the same time with one thread or two), and
processes that share the cores fight over them: two 2-D runs started together on two
cores each took 4.3 times as long as one alone. So a run takes one thread unless its work
is large enough to share (convolutional networks), and an explicit choice always wins.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from cgpgan.config import Config
from cgpgan.errors import ConfigError


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def choose_threads(config: Config) -> tuple[int, str]:
    """The number of threads for `config` and where it comes from.

    In order: `train.threads`; the environment's OMP_NUM_THREADS; one thread for the
    MLPs of 2-D data; every usable core for convolutional networks.
    """
    if config.train.threads:
        return config.train.threads, "train.threads"
    environment = os.environ.get("OMP_NUM_THREADS", "").strip()
    if environment:
        if not environment.isdigit() or int(environment) < 1:
            raise ConfigError(f"OMP_NUM_THREADS: must be a positive integer, got {environment!r}")
        return int(environment), "OMP_NUM_THREADS"
    if not config.data.is_image:
        return 1, "small network"
    return usable_cores(), "convolutional network"


@contextmanager
def cpu_threads(config: Config):
    """Run the block with the threads `choose_threads` gives, then restore the caller's."""
    before = torch.get_num_threads()
    threads, _ = choose_threads(config)
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)
