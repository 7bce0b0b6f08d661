"""How a step's arithmetic is laid out on its device, without changing what it computes
beyond rounding: bf16 autocast of the forward passes (`train.precision`), channels-last
images (`train.channels_last`), the compiled generator (`train.compile`), and small data
sets kept on the GPU."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager

import torch

from cgpgan.config import TrainConfig
from cgpgan.data.batch import Dataset

_END = object()


def autocast(config: TrainConfig, device: torch.device) -> Callable[[], AbstractContextManager]:
    """A context for the forward passes of a step: bf16 autocast, or nothing."""
    if config.precision == "bf16":
        if device.type == "cpu" and not cpu_runs_bf16():
            warnings.warn(
                "train.precision=bf16: this CPU lacks the AVX-512 or AMX instructions that "
                "oneDNN runs bf16 with, so bf16 is emulated and far slower than float32 (12x "
                "for mnist5k on an AVX2 CPU); use train.precision=float32 here",
                stacklevel=2,
            )
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def cpu_runs_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX-512 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def each_under(context: Callable[[], AbstractContextManager], items: Iterable) -> Iterator:
    """The items of a generator, the code that makes each one run inside a fresh
    `context()` and the caller's code between them (e.g. a backward pass) outside it."""
    iterator = iter(items)
    while True:
        with context():
            item = next(iterator, _END)
        if item is _END:
            return
        yield item


def memory_format(config: TrainConfig, sample_shape: tuple[int, ...]) -> torch.memory_format:
    """The layout of a batch: channels-last for images when asked for."""
    if config.channels_last and len(sample_shape) == 3:
        return torch.channels_last
    return torch.preserve_format


def lay_out(module: torch.nn.Module, config: TrainConfig) -> None:
    """Convolution weights in channels-last layout when asked for (before the
    optimisers are made; the parameters stay the same objects)."""
    if config.channels_last:
        module.to(memory_format=torch.channels_last)


def compile_networks(method: torch.nn.Module, config: TrainConfig) -> None:
    """`train.compile=generator`: the trained generator's forward compiled in place
    (torch.compile; its parameters and state-dict keys unchanged). The critic and the
    classifier stay eager: their penalties back-propagate through a gradient, and compiled
    graphs do not support double backward. The moving-average copy, used only to sample,
    stays eager too."""
    if config.compile == "generator":
        method.generator.compile()


def batch_source(dataset: Dataset, device: torch.device, config: TrainConfig) -> Dataset:
    """Where batches are drawn from: a copy kept on the GPU for a data set of at most
    `train.device_data_gib` (the same batches, no copy of each batch to the device), else
    the data set itself."""
    if device.type == "cuda" and dataset.items.nbytes <= config.device_data_gib * 2**30:
        return dataset.resident(device)
    return dataset
