"""Writing files so that a crash or a full disk never leaves a half-written one behind:
everything goes to a temporary file beside the target, is flushed to disk, then renamed
over it. On failure the temporary file is removed and the old target is untouched."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from cgpgan.errors import DataError, RunError


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        reason = error.strerror or error.__class__.__name__
        raise RunError(
            f"{path}: could not be written ({reason}); the previous version is unchanged"
        ) from None
    except BaseException:  # e.g. a second Ctrl-C: no temporary file is left behind either
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda temporary: temporary.write_text(text))


def write_json(path: Path, values) -> None:
    atomic_write_text(path, json.dumps(values, indent=2) + "\n")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """A safetensors file, written atomically."""
    tensors = {name: tensor.detach().contiguous().cpu() for name, tensor in tensors.items()}
    _atomic(path, lambda temporary: save_file(tensors, str(temporary)))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (no code can run: safetensors holds only data)."""
    return load_file(str(path))


def load_numpy(path: Path):
    """A `.npy` array or an open `.npz` archive (use it in a `with`), read without
    unpickling anything; DataError when the file is not a readable numpy file."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npy/.npz file ({error})") from None
