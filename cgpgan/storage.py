"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, flush to disk, then rename over it."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_json(path: Path, values) -> None:
    atomic_write_text(path, json.dumps(values, indent=2) + "\n")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """safetensors file written atomically."""
    temporary = path.with_name(f".{path.name}.tmp")
    save_file({name: tensor.detach().contiguous().cpu() for name, tensor in tensors.items()}, str(temporary))
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))
