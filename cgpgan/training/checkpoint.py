"""Training checkpoints that survive crashes and never run code when loaded.

A checkpoint of step N is two files in `RUN_DIR/checkpoints/`:

    step_000000N.safetensors   every tensor: the method's weights and buffers (generator,
                               its moving average, discriminator, classifier, prior),
                               the optimisers' states and the random generators' states
    step_000000N.json          format version, step, the config, the optimisers'
                               settings, the SHA-256 of the tensors file (JSON)

Both are written atomically (temporary file, flush, fsync, rename), the JSON last: a
checkpoint counts only when its JSON exists and the tensors file matches its hash, so a
crash at any moment leaves the previous checkpoint usable. safetensors and JSON hold no
code: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

from cgpgan.errors import RunError
from cgpgan.storage import load_tensors, save_tensors, write_json

CHECKPOINT_VERSION = 1
FOLDER = "checkpoints"
PATTERN = re.compile(r"^step_(\d{9})\.json$")


def _paths(directory: Path, step: int) -> tuple[Path, Path]:
    base = Path(directory) / FOLDER / f"step_{step:09d}"
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def checkpoint_path(directory: Path, step: int) -> Path:
    """The JSON file that describes (and so validates) the checkpoint of `step`."""
    return _paths(directory, step)[1]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def training_state(
    method, optimizers: dict, generators: dict[str, torch.Generator]
) -> tuple[dict[str, torch.Tensor], dict]:
    """Every tensor of the training state (flat names) and the JSON-able rest."""
    tensors = {f"method.{name}": value for name, value in method.state_dict().items()}
    settings = {}
    for phase, optimizer in optimizers.items():
        state = optimizer.state_dict()
        for index, values in state["state"].items():
            for key, value in values.items():
                if not isinstance(value, torch.Tensor):
                    value = torch.tensor(value)
                tensors[f"optimizer.{phase}.{index}.{key}"] = value
        settings[phase] = state["param_groups"]
    for name, generator in generators.items():
        tensors[f"rng.{name}"] = generator.get_state()
    return tensors, {"optimizers": settings}


def restore_training_state(
    tensors: dict[str, torch.Tensor],
    meta: dict,
    method,
    optimizers: dict,
    generators: dict[str, torch.Generator],
) -> None:
    method_state = {
        name[len("method.") :]: value
        for name, value in tensors.items()
        if name.startswith("method.")
    }
    method.load_state_dict(method_state)
    for phase, optimizer in optimizers.items():
        state: dict[int, dict] = {}
        prefix = f"optimizer.{phase}."
        for name, value in tensors.items():
            if name.startswith(prefix):
                index, key = name[len(prefix) :].split(".", 1)
                state.setdefault(int(index), {})[key] = value
        # the saved settings with the config's implementation (fused, foreach), which the
        # loading already needs: a fused optimiser keeps its step counts on the device
        groups = [
            {**saved, **_implementation(group)}
            for saved, group in zip(meta["optimizers"][phase], optimizer.param_groups)
        ]
        optimizer.load_state_dict({"state": state, "param_groups": groups})
        _match_layouts(optimizer)
    for name, generator in generators.items():
        generator.set_state(tensors[f"rng.{name}"])


def _implementation(group: dict) -> dict:
    """How an optimiser group's update runs (its `fused` and `foreach` settings)."""
    return {key: group[key] for key in ("fused", "foreach") if key in group}


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Each parameter's optimiser state in the parameter's memory layout, e.g.
    channels-last (checkpoints store tensors contiguous; mixed layouts would push Adam
    off its multi-tensor path)."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            state = optimizer.state.get(parameter, {})
            for key, value in state.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == parameter.shape
                    and value.stride() != parameter.stride()
                ):
                    state[key] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


def save_checkpoint(
    directory: Path, step: int, tensors: dict[str, torch.Tensor], meta: dict
) -> Path:
    """Write the checkpoint of `step`; returns its JSON path."""
    tensors_path, meta_path = _paths(directory, step)
    tensors_path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(tensors_path, tensors)
    write_json(
        meta_path,
        {
            "format_version": CHECKPOINT_VERSION,
            "step": step,
            "tensors": tensors_path.name,
            "sha256": _sha256(tensors_path),
            **meta,
        },
    )
    return meta_path


def checkpoint_steps(directory: Path) -> list[int]:
    """Steps of the checkpoints whose JSON exists, oldest first (not yet verified)."""
    folder = Path(directory) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(
        int(match.group(1)) for path in folder.iterdir() if (match := PATTERN.match(path.name))
    )


def load_checkpoint(directory: Path, step: int) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors and JSON of the checkpoint of `step`, verified against its hash."""
    tensors_path, meta_path = _paths(directory, step)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunError(
            f"{meta_path}: unreadable checkpoint description ({error.__class__.__name__})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format_version") != CHECKPOINT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else meta
        raise RunError(f"{meta_path}: unsupported checkpoint format {found!r}")
    if not tensors_path.is_file() or _sha256(tensors_path) != meta.get("sha256"):
        raise RunError(
            f"{tensors_path}: missing or does not match its checkpoint description "
            "(corrupt or replaced)"
        )
    try:
        tensors = load_tensors(tensors_path)
    except Exception as error:  # safetensors raises several types for corrupt files
        raise RunError(
            f"{tensors_path}: not a safetensors file ({error.__class__.__name__})"
        ) from None
    return tensors, meta


def latest_checkpoint(directory: Path) -> tuple[int, dict[str, torch.Tensor], dict] | None:
    """The newest checkpoint that loads and verifies; broken newer ones are skipped."""
    for step in reversed(checkpoint_steps(directory)):
        try:
            tensors, meta = load_checkpoint(directory, step)
        except RunError:
            continue
        return step, tensors, meta
    return None


def prune_checkpoints(directory: Path, keep_last: int, keep: set[int] = frozenset()) -> None:
    """Delete all but the newest `keep_last` checkpoints and those in `keep`."""
    steps = checkpoint_steps(directory)
    for step in steps[: max(0, len(steps) - keep_last)]:
        if step in keep:
            continue
        tensors_path, meta_path = _paths(directory, step)
        meta_path.unlink(
            missing_ok=True
        )  # the JSON first: a half-deleted checkpoint is simply absent
        tensors_path.unlink(missing_ok=True)


def remove_orphans(directory: Path) -> None:
    """Delete temporary files and tensors files without a JSON (left by a crash)."""
    folder = Path(directory) / FOLDER
    if not folder.is_dir():
        return
    described = {f"step_{step:09d}.safetensors" for step in checkpoint_steps(directory)}
    for path in folder.iterdir():
        orphan = (
            path.name.startswith("step_")
            and path.suffix == ".safetensors"
            and path.name not in described
        )
        if path.name.endswith(".tmp") or orphan:
            path.unlink(missing_ok=True)
