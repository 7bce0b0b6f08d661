"""Speed of a training step: steps/s and samples/s of each method on the 2-D preset,
`digits`, `mnist5k` and the 32x32 reference design, this checkout's step beside an earlier
commit's (the straightforward step) in one run, alternating the two; FLOPs per step
counted, and the share of this machine's matrix-multiply FLOP/s they reach (measured in
the same run). Writes docs/benchmarks/speed.md and speed.json:

    .venv/bin/python benchmarks/speed.py --before ea05704 --repeats 2

Each measurement is a fresh process whose `import cgpgan` is that commit's code: it
trains `warm-up` steps, then resumes to `warm-up + steps` and takes the training time of
the second part from run.json (the loop with its logging, and one checkpoint at the end).
Threads follow the library's rule (1 for 2-D networks, every core for images), and the
matrix multiply is timed with as many. The fast step runs with Adam fused
(`train.optimizer_implementation=fused`, not the default: other rounding, so other runs of
a seed than the documented ones) in every row. Rows named "lazy penalties" also give it
options the straightforward step does not have (both adversarial penalties and the
classifier's on every 4th step only, weighted 4 times: `method.penalty_every=4`,
`method.classifier_penalty_every=4`); rows named "bf16 + channels-last" give it bf16
autocast of the forward passes and channels-last images (`train.precision=bf16`,
`train.channels_last=true`: bf16 rounding; on CPUs with AMX, such as this machine's, oneDNN
runs bf16 convolutions several times faster than float32 ones). The other rows run both
sides with the same settings.

FLOPs per step are counted over one cycle of the lazy penalties (at least four steps) of this
checkout, with the fast step's options and without, by a dispatch mode that applies PyTorch's
own per-operator formulas (`torch.utils.flop_counter.flop_registry`: convolutions, their
backward, matrix products) to every operator the step runs, the backward and double
backward of the penalties included. `FlopCounterMode` itself cannot be used: its module
tracking raises inside `autograd.grad` ("A leaf node was passed to
_will_engine_execute_node ..."). Element-wise operators are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, invocation, worktree  # noqa: E402

LABELS = ["data.labelled_fraction=1.0"]
REFERENCE = [  # the 32x32 reference design of the issue: widths 64-128-256, batch 32, K 16
    "data.name=npz",
    "network.architecture=resnet",
    "network.channels=64",
    "network.max_channels=256",
    "network.latent_dim=128",
    "network.conditioning=codebook",
    "network.equalized_lr=true",
    "method.name=cgpgan",
    "method.num_categories=16",
    "method.fake_penalty_weight=10",
    "method.lambda_cgp=10",
    "method.classifier_trunk=own",
    "train.batch_size=32",
]
LAZY = ["method.penalty_every=4", "method.classifier_penalty_every=4"]
LAZY_16 = ["method.penalty_every=16", "method.classifier_penalty_every=16"]  # StyleGAN2's k
BF16 = ["train.precision=bf16", "train.channels_last=true"]  # bf16 autocast, channels-last
FAST = ["train.optimizer_implementation=fused"]  # the fast step's options in every row


def in_bf16(options: list[str]) -> bool:
    """Whether these options run the step's forward passes under bf16 autocast."""
    return BF16[0] in options


@dataclass(frozen=True)
class Case:
    """One row: a preset (None: the defaults) with overrides, trained `warmup` steps then
    timed over `steps`; `fast_only` options are given to the fast step only (options the
    straightforward step does not have, e.g. lazy penalties)."""

    preset: str | None
    overrides: list[str]
    warmup: int
    steps: int
    fast_only: list[str] = field(default_factory=list)


CASES = {  # (data, method): Case
    ("2-D", "cgpgan"): Case("gaussians2d", [], 50, 500),
    ("2-D", "cgpgan, lazy penalties (k = 4)"): Case("gaussians2d", [], 50, 500, LAZY),
    ("2-D", "cgpgan, lazy penalties (k = 16)"): Case("gaussians2d", [], 50, 512, LAZY_16),
    ("2-D", "vcagan"): Case("gaussians2d_vcagan", [], 50, 500),
    ("2-D", "infogan"): Case("gaussians2d_infogan", [], 50, 500),
    ("2-D", "vanilla"): Case("gaussians2d_vanilla", [], 50, 500),
    ("2-D", "mhgan"): Case("gaussians2d", ["method.name=mhgan", *LABELS], 50, 500),
    ("2-D", "structural"): Case("gaussians2d", ["method.name=structural"], 50, 500),
    ("digits", "cgpgan"): Case("digits", [], 10, 100),
    ("digits", "mhgan"): Case("digits_mhgan", [], 10, 100),
    ("digits", "structural"): Case("digits_structural", [], 10, 100),
    ("mnist5k", "cgpgan"): Case("mnist5k", [], 5, 30),
    ("mnist5k", "cgpgan, lazy penalties (k = 4)"): Case("mnist5k", [], 5, 30, LAZY),
    ("mnist5k", "cgpgan, bf16 + channels-last"): Case("mnist5k", [], 5, 30, BF16),
    ("mnist5k", "cgpgan, bf16 + channels-last, lazy penalties"): Case(
        "mnist5k", [], 5, 32, [*BF16, *LAZY]
    ),
    ("mnist5k", "vcagan"): Case("mnist5k_vcagan", [], 5, 30),
    ("mnist5k", "infogan"): Case("mnist5k", ["method.name=infogan"], 5, 30),
    ("mnist5k", "vanilla"): Case("mnist5k", ["method.name=vanilla"], 5, 30),
    ("mnist5k", "mhgan"): Case("mnist5k_mhgan", [], 5, 30),
    ("mnist5k", "structural"): Case("mnist5k_structural", [], 5, 30),
    ("32x32 reference", "cgpgan"): Case(None, REFERENCE, 1, 3),
    ("32x32 reference", "cgpgan, lazy penalties (k = 4)"): Case(None, REFERENCE, 1, 4, LAZY),
    ("32x32 reference", "cgpgan, bf16 + channels-last"): Case(None, REFERENCE, 1, 4, BF16),
    ("32x32 reference", "cgpgan, bf16 + channels-last, lazy penalties"): Case(
        None, REFERENCE, 1, 8, [*BF16, *LAZY]
    ),
}

# run in the checkout under test: train warm-up steps, resume to warm-up + steps
TIME_STEPS = """
import json, sys
import torch
import cgpgan
from cgpgan import load_config, train
from cgpgan.threads import choose_threads
preset, overrides, warmup, steps, out = json.loads(sys.argv[1])
quiet = ["train.checkpoint_every=1000000", "train.eval_every=0", "train.log_every=50"]
config = load_config(preset, [*overrides, *quiet, f"train.steps={warmup}"])
first = train(config, out, progress=False, evaluate=False).info["train_seconds"]
config = load_config(preset, [*overrides, *quiet, f"train.steps={warmup + steps}"])
run = train(config, out, progress=False, evaluate=False, resume=True)
threads, _ = choose_threads(config)
seconds = run.info["train_seconds"] - first
batch, package = config.train.batch_size, cgpgan.__file__
print(json.dumps({"seconds": seconds, "threads": threads, "batch": batch, "package": package}))
"""

# run in this checkout: the FLOPs of one training step (count_flops below)
COUNT_FLOPS = """
import json, sys
sys.path.insert(0, "benchmarks")
from speed import count_flops
print(json.dumps({"flops": count_flops(*json.loads(sys.argv[1]))}))
"""


def count_flops(preset: str | None, overrides: list[str], out: str) -> float:
    """FLOPs per training step of this checkout, the mean over one whole cycle of the lazy
    penalties (at least 4 steps) after one untimed step, counted by PyTorch's per-operator
    formulas (matrix products and convolutions, forward, backward and double backward)
    applied to every operator the steps run."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    from cgpgan import load_config
    from cgpgan.data import build_dataset
    from cgpgan.run import new_run
    from cgpgan.training.loop import Trainer

    class CountFlops(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            result = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=result)
            return result

    config = load_config(preset, overrides)
    lazy = (config.method.penalty_every, getattr(config.method, "classifier_penalty_every", 1))
    steps = max(4, *lazy)
    dataset = build_dataset(config.data, config.seed)
    trainer = Trainer(new_run(Path(out), config, dataset, True), dataset)
    torch.manual_seed(0)
    trainer._one_step()
    trainer.step += 1
    with CountFlops() as counter:
        for _ in range(steps):
            trainer._one_step()
            trainer.step += 1
    return counter.total / steps


MATMUL = """
import sys, torch
sys.path.insert(0, "benchmarks")
from speed import matmul_rate
torch.set_num_threads(int(sys.argv[1]))
print(matmul_rate(getattr(torch, sys.argv[2]), 2048))
"""


def matmul_rate(dtype, size: int) -> float:
    """FLOP/s of a size^3 matrix product (median of 10 after 3 warm-ups) on the GPU, or
    on the CPU where there is none."""
    import time

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    times = []
    for repeat in range(13):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        if repeat >= 3:
            times.append(time.perf_counter() - start)
    return 2 * size**3 / sorted(times)[len(times) // 2]


def python(checkout: Path, code: str, *arguments: str) -> str:
    """Run `code` with `checkout`'s cgpgan: `python -c` puts its working directory first
    on the import path, before PYTHONPATH, so it runs in `checkout`."""
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    environment.pop("OMP_NUM_THREADS", None)
    result = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    if result.returncode:
        raise SystemExit(f"measurement failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def counted_flops(scratch: Path, preset: str | None, overrides: list[str]) -> float:
    """`count_flops` in a fresh process (its run folder in `scratch`)."""
    spec = json.dumps([preset, overrides, str(scratch / "flops")])
    return json.loads(python(ROOT, COUNT_FLOPS, spec))["flops"]


def case_overrides(overrides: list[str], data_file: Path) -> list[str]:
    """The overrides, with the path of the random images where the data is an npz file."""
    return [*overrides, f"data.path={data_file}"] if "data.name=npz" in overrides else overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit of the straightforward step")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", action="append", default=[], help="data label, e.g. 2-D")
    parser.add_argument("--docs", default="docs/benchmarks")
    args = parser.parse_args()
    cases = {key: value for key, value in CASES.items() if not args.only or key[0] in args.only}
    with (
        tempfile.TemporaryDirectory() as scratch,
        worktree(args.before, Path(scratch) / "before") as before,
    ):
        scratch = Path(scratch)
        data_file = scratch / "reference32.npz"  # random 32x32 RGB images: speed only
        images = np.random.default_rng(0).integers(0, 256, (512, 3, 32, 32), dtype=np.uint8)
        np.savez(data_file, images=images)
        peak = {  # (dtype, threads): FLOP/s
            (dtype, n): float(python(ROOT, MATMUL, str(n), dtype))
            for dtype in ("float32", "bfloat16")
            for n in (1, os.cpu_count() or 1)
        }
        print(f"matrix multiply: {describe(peak)}")
        results = []
        for (data, method), case in cases.items():
            overrides = case_overrides(case.overrides, data_file)
            sides = {  # label: (checkout, overrides)
                "straightforward": (before, overrides),
                "fast": (ROOT, [*overrides, *FAST, *case.fast_only]),
            }
            # this checkout's FLOPs per step, counted again only for options that change the
            # step's arithmetic (the optimiser's implementation does not: it is not counted)
            flops = {"straightforward": counted_flops(scratch, case.preset, overrides)}
            flops["fast"] = (
                counted_flops(scratch, case.preset, [*overrides, *case.fast_only])
                if case.fast_only
                else flops["straightforward"]
            )
            times: dict[str, list[float]] = {"straightforward": [], "fast": []}
            for repeat in range(args.repeats):
                for label, (checkout, options) in sides.items():
                    out = str(scratch / f"{label}-{data}-{method}-{repeat}")
                    spec = json.dumps([case.preset, options, case.warmup, case.steps, out])
                    measured = json.loads(python(checkout, TIME_STEPS, spec))
                    if not Path(measured["package"]).is_relative_to(checkout):
                        raise SystemExit(f"{label} step imported {measured['package']}")
                    times[label].append(measured["seconds"] / case.steps)
            threads, batch = measured["threads"], measured["batch"]
            row = {"data": data, "method": method, "threads": threads}
            for label, values in times.items():
                seconds = statistics.median(values)
                dtype = "bfloat16" if in_bf16(sides[label][1]) else "float32"
                row[label] = {
                    "seconds_per_step": values,
                    "steps_per_second": 1 / seconds,
                    "samples_per_second": batch / seconds,
                    "flops_per_step": flops[label],
                    "flop_share": flops[label] / seconds / peak[dtype, threads],
                    "matmul_dtype": dtype,
                }
            row["speed_up"] = (
                row["fast"]["steps_per_second"] / row["straightforward"]["steps_per_second"]
            )
            print(json.dumps(row))
            results.append(row)
    write_docs(Path(args.docs), results, peak, args)


def describe(peak: dict[tuple[str, int], float]) -> str:
    return ", ".join(
        f"{dtype} {value / 1e9:.0f} GFLOP/s on {n} thread(s)" for (dtype, n), value in peak.items()
    )


def write_docs(docs: Path, results: list[dict], peak: dict[tuple[str, int], float], args) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    rates = [{"dtype": dtype, "threads": n, "flops": value} for (dtype, n), value in peak.items()]
    (docs / "speed.json").write_text(
        json.dumps({"matmul_flops": rates, "results": results}, indent=1) + "\n"
    )
    lines = [
        "| data | method | threads | GFLOP / step (straightforward, fast) "
        "| straightforward steps/s | fast steps/s "
        "| fast samples/s | speed-up | FLOP share (straightforward, fast) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results:
        slow, fast = row["straightforward"], row["fast"]
        lines.append(
            f"| {row['data']} | {row['method']} | {row['threads']} "
            f"| {slow['flops_per_step'] / 1e9:.3g}, {fast['flops_per_step'] / 1e9:.3g} "
            f"| {slow['steps_per_second']:.3g} "
            f"| {fast['steps_per_second']:.3g} | {fast['samples_per_second']:.4g} "
            f"| {row['speed_up']:.2f}x | {slow['flop_share']:.1%}, {fast['flop_share']:.1%} |"
        )
    (docs / "speed.md").write_text(
        "# Speed of a training step\n\n"
        f"Made by `.venv/bin/python {invocation()}`: the straightforward step is commit "
        f"{args.before}'s, the fast step this checkout's; medians of {args.repeats} "
        "measurements each, alternating the two. This machine's 2048x2048 matrix "
        f"multiply, measured in the same run: {describe(peak)}. FLOP share: counted FLOPs "
        "per second over that matrix-multiply rate at the run's thread count, in the step's "
        "precision (bfloat16 for rows with bf16 autocast; docs/performance.md says how FLOPs "
        "are counted).\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
