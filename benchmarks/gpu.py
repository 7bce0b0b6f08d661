"""Speed and time to accuracy on a GPU, in one command:

    python benchmarks/gpu.py --docs docs/benchmarks

1. Steps/s and samples/s of every case of `benchmarks/speed.py` (each method on the 2-D
   preset, `digits`, `mnist5k` and the 32x32 reference design), this checkout's step in
   float32 and with `train.precision=bf16` and `train.channels_last=true`; FLOPs per
   step counted as speed.py counts them, and their share of the GPU's float32 and bf16
   matrix-multiply rates measured in the same run. Each case trains its warm-up steps,
   then resumes to warm-up + steps and takes the second part's training time from
   run.json (the loop ends with a read of the device's flags, so queued work is in it).
2. Time to accuracy: `mnist5k` trained to its end, paused every `--every` steps to
   score the clustering (accuracy against training seconds, evaluation not counted),
   the first seed alone, the others together afterwards (their seconds are shared).

Writes gpu.md and gpu.json into --docs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, invocation  # noqa: E402
from speed import (  # noqa: E402
    BF16,
    CASES,
    FAST,
    case_overrides,
    count_flops,
    in_bf16,
    matmul_rate,
)

# on a GPU the steps are short: more of them per measurement than speed.py's CPU counts
GPU_STEPS = {"2-D": (20, 300), "digits": (10, 200), "mnist5k": (10, 150)}
GPU_STEPS["32x32 reference"] = (3, 40)
VARIANTS = {
    "float32": [],
    "bf16, channels-last": BF16,
}
QUIET = ["train.checkpoint_every=1000000", "train.eval_every=0", "train.log_every=50"]


def time_steps(preset, overrides, warmup: int, steps: int, out: Path) -> tuple[float, int]:
    """Seconds per step after `warmup` steps, and the batch size."""
    from cgpgan import load_config, train

    config = load_config(preset, [*overrides, *QUIET, f"train.steps={warmup}"])
    first = train(config, out, progress=False, evaluate=False).info["train_seconds"]
    config = load_config(preset, [*overrides, *QUIET, f"train.steps={warmup + steps}"])
    run = train(config, out, progress=False, evaluate=False, resume=True)
    return (run.info["train_seconds"] - first) / steps, config.train.batch_size


def speed(scratch: Path, only: list[str]) -> dict:
    import numpy as np
    import torch

    gpu = torch.cuda.is_available()

    data_file = scratch / "reference32.npz"  # random 32x32 RGB images: speed only
    images = np.random.default_rng(0).integers(0, 256, (512, 3, 32, 32), dtype=np.uint8)
    np.savez(data_file, images=images)
    size = 8192 if gpu else 1024
    peak = {"float32": matmul_rate(torch.float32, size), "bf16": matmul_rate(torch.bfloat16, size)}
    print(f"matrix multiply: {peak}", flush=True)
    results = []
    for (data, method), case in CASES.items():
        if only and data not in only or in_bf16(case.fast_only):
            continue  # (the bf16 rows of the CPU table: every row here runs both variants)
        preset = case.preset
        overrides = case_overrides([*case.overrides, *FAST, *case.fast_only], data_file)
        warmup, steps = GPU_STEPS[data]
        row = {"data": data, "method": method}
        try:
            row["flops_per_step"] = count_flops(preset, overrides, str(scratch / "flops"))
            for variant, settings in VARIANTS.items():
                out = scratch / f"{data}-{method}-{variant}".replace(" ", "_")
                seconds, batch = time_steps(preset, [*overrides, *settings], warmup, steps, out)
                rate = peak["bf16" if "bf16" in variant else "float32"]
                row[variant] = {
                    "seconds_per_step": seconds,
                    "steps_per_second": 1 / seconds,
                    "samples_per_second": batch / seconds,
                    "flop_share": row["flops_per_step"] / seconds / rate,
                }
        except Exception:  # noqa: BLE001 - a failed case is reported, the others still run
            row["error"] = traceback.format_exc()[-2000:]
        print(json.dumps(row), flush=True)
        results.append(row)
    device = torch.cuda.get_device_name() if gpu else "CPU"
    return {"device": device, "matmul_flops": peak, "matmul_size": size, "results": results}


def train_to_accuracy(seed: int, every: int, steps: int, out: Path) -> list[dict]:
    """mnist5k trained in pieces of `every` steps, scored after each."""
    from cgpgan import load_config, train
    from cgpgan.data import build_dataset

    steps = steps or load_config("mnist5k").train.steps
    curve = []
    for stop in range(every, steps + every, every):
        overrides = [f"train.stop_after={min(stop, steps)}", "train.eval_every=0"]
        overrides.append(f"train.steps={steps}")
        config = load_config("mnist5k", [*overrides, f"seed={seed}"])
        run = train(config, out, progress=False, evaluate=False, resume=stop > every)
        dataset = build_dataset(run.config.data, run.config.seed)
        metrics = run.evaluate(
            write=False, draw=False, baselines=False, dataset=dataset, quick=True
        )
        curve.append(
            {
                "step": run.info["step"],
                "train_seconds": run.info["train_seconds"],
                "accuracy": metrics["accuracy"],
                "nmi": metrics["nmi"],
                "live_categories": metrics["live_categories"],
            }
        )
        print(json.dumps({"seed": seed, **curve[-1]}), flush=True)
    return curve


def accuracy_runs(scratch: Path, seeds: int, every: int, steps: int, deadline: float, done) -> dict:
    """Seed 0 alone, then the other seeds together, each in its own process, unless
    they would end after `deadline` (time.monotonic()); `done(curves)` after each group."""

    def start(seed: int) -> subprocess.Popen:
        command = [sys.executable, __file__, "--one-seed", str(seed), "--every", str(every)]
        command += ["--scratch", str(scratch), "--mnist-steps", str(steps)]
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)

    curves, alone = {}, 0.0
    for group in ([0], list(range(1, seeds))):
        started = time.monotonic()
        if curves and started + 1.5 * alone > deadline:
            print(f"seeds {group}: not started, too little time left", flush=True)
            break
        processes = {seed: start(seed) for seed in group}
        for seed, process in processes.items():
            output, _ = process.communicate()
            rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
            curves[seed] = {"together": len(group), "curve": rows}
        alone = time.monotonic() - started
        done(curves)
    return curves


def write_docs(docs: Path, speeds: dict, curves: dict, threshold: float) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "gpu.json").write_text(json.dumps({**speeds, "mnist5k": curves}, indent=1) + "\n")
    peak = speeds["matmul_flops"]
    lines = [
        "| data | method | GFLOP / step | float32 steps/s | bf16 + channels-last steps/s "
        "| samples/s (float32) | FLOP share (float32, bf16) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in speeds["results"]:
        if "error" in row:
            error = row["error"].strip().splitlines()[-1]
            lines.append(f"| {row['data']} | {row['method']} | failed: {error} | | | | |")
            continue
        plain, fast = row["float32"], row["bf16, channels-last"]
        lines.append(
            f"| {row['data']} | {row['method']} | {row['flops_per_step'] / 1e9:.3g} "
            f"| {plain['steps_per_second']:.3g} | {fast['steps_per_second']:.3g} "
            f"| {plain['samples_per_second']:.4g} "
            f"| {plain['flop_share']:.2%}, {fast['flop_share']:.2%} |"
        )
    accuracy = [
        "| seed | runs at once | steps | training seconds | accuracy | NMI | live "
        f"| seconds to accuracy {threshold} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for seed, record in curves.items():
        curve = record["curve"]
        if not curve:
            accuracy.append(f"| {seed} | {record['together']} | did not finish | | | | | |")
            continue
        last = curve[-1]
        reached = [row["train_seconds"] for row in curve if row["accuracy"] >= threshold]
        accuracy.append(
            f"| {seed} | {record['together']} | {last['step']} | {last['train_seconds']:.0f} "
            f"| {last['accuracy']:.3f} | {last['nmi']:.3f} | {last['live_categories']} "
            f"| {f'{reached[0]:.0f}' if reached else 'not reached'} |"
        )
    (docs / "gpu.md").write_text(
        f"# On a GPU: {speeds['device']}\n\n"
        f"Made by `python {invocation()}` on one {speeds['device']}. Matrix-multiply rate "
        f"measured in the same run ({speeds['matmul_size']}^3): "
        f"float32 {peak['float32'] / 1e12:.1f} TFLOP/s, "
        f"bf16 {peak['bf16'] / 1e12:.0f} TFLOP/s. FLOP share: counted FLOPs per second "
        "over the rate of the step's precision.\n\n## Steps per second\n\n"
        + "\n".join(lines)
        + "\n\n## Time to accuracy: `mnist5k`\n\nTraining seconds (evaluation not counted) "
        "until the clustering accuracy, scored every few hundred steps, first reached "
        f"{threshold}; the first seed ran alone, the others together.\n\n"
        + "\n".join(accuracy)
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="docs/benchmarks")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--every", type=int, default=500, help="steps between scores")
    parser.add_argument("--threshold", type=float, default=0.9, help="accuracy to reach")
    parser.add_argument("--only", action="append", default=[], help="speed: data label")
    parser.add_argument("--mnist-steps", type=int, default=0, help="0: the preset's")
    parser.add_argument("--minutes", type=float, default=60, help="start no seeds after")
    parser.add_argument("--one-seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_seed is not None:
        out = Path(args.scratch) / f"seed{args.one_seed}"
        train_to_accuracy(args.one_seed, args.every, args.mnist_steps, out)
        return
    deadline = time.monotonic() + 60 * args.minutes
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        speeds = speed(scratch, args.only)
        write_docs(Path(args.docs), speeds, {}, args.threshold)

        def done(curves: dict) -> None:
            write_docs(Path(args.docs), speeds, curves, args.threshold)

        accuracy_runs(scratch, args.seeds, args.every, args.mnist_steps, deadline, done)


if __name__ == "__main__":
    main()
