"""Wall time of README command 1 alone and of two copies started together, for this
checkout and, with --before REV, for an earlier commit (checked out into a temporary git
worktree), measured in alternation so that both see the same machine:

    .venv/bin/python benchmarks/threads.py --before 914b865 --repeats 3

Each measurement starts `python -m cgpgan train PRESET` as fresh processes (without
OMP_NUM_THREADS, as a user would) and times them from start to exit. With
--beside-images, a third scenario runs the 2-D command while an image run (the `digits`
preset) trains on the same cores. A measurement that runs past --timeout is stopped and
shown as "> TIMEOUT". Prints a table; --out FILE also writes it as a page
(docs/performance.md adds the discussion).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, worktree  # noqa: E402


def start(checkout: Path, out: Path, preset: str, overrides: list[str]) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    sets = [item for override in overrides for item in ("--set", override)]
    command = [sys.executable, "-m", "cgpgan", "train", preset, "--quiet", "--out", str(out), *sets]
    return subprocess.Popen(
        command, cwd=checkout, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def timed(processes: list[subprocess.Popen], started: float, timeout: float) -> list[float]:
    seconds = []
    for process in processes:
        try:
            _, error = process.communicate(
                timeout=max(1.0, started + timeout - time.perf_counter())
            )
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
                other.wait()
            return [math.inf]
        if process.returncode != 0:
            raise SystemExit(f"a run failed: {error.decode()[-500:]}")
        seconds.append(time.perf_counter() - started)
    return seconds


def measure(checkout: Path, scratch: Path, scenario: str, args) -> list[float]:
    """Wall seconds of each 2-D run of one scenario."""
    overrides = [f"train.steps={args.steps}"] if args.steps else []
    runs = [scratch / f"run{i}-{time.monotonic_ns()}" for i in range(2)]
    if scenario == "alone":
        started = time.perf_counter()
        return timed([start(checkout, runs[0], args.preset, overrides)], started, args.timeout)
    if scenario == "two together":
        started = time.perf_counter()
        processes = [start(checkout, run, args.preset, overrides) for run in runs]
        return timed(processes, started, args.timeout)
    images = start(checkout, scratch / f"images-{time.monotonic_ns()}", "digits", [])
    time.sleep(args.image_head_start)  # the image run is training when the 2-D one starts
    try:
        started = time.perf_counter()
        return timed([start(checkout, runs[0], args.preset, overrides)], started, args.timeout)
    finally:
        images.kill()
        images.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REV", help="also measure this earlier commit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="gaussians2d")
    parser.add_argument("--steps", type=int, default=0, help="train.steps (0: the preset's)")
    parser.add_argument("--beside-images", action="store_true")
    parser.add_argument("--image-head-start", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    parser.add_argument("--out", help="also write the table as a markdown page here")
    args = parser.parse_args()

    scenarios = ["alone", "two together"] + (["beside an image run"] if args.beside_images else [])
    with tempfile.TemporaryDirectory() as temporary, contextlib.ExitStack() as stack:
        scratch = Path(temporary)
        checkouts = {"this checkout": ROOT}
        if args.before:
            before = stack.enter_context(worktree(args.before, scratch / "before"))
            checkouts = {f"before ({args.before})": before, **checkouts}
        results = {(name, scenario): [] for name in checkouts for scenario in scenarios}
        for repeat in range(args.repeats):
            for scenario in scenarios:
                for name, checkout in checkouts.items():
                    seconds = measure(checkout, scratch, scenario, args)
                    results[name, scenario].append(max(seconds))
                    print(
                        f"repeat {repeat + 1}: {name}, {scenario}: "
                        + ", ".join(f"{s:.1f} s" for s in seconds),
                        flush=True,
                    )
    table = _table(results, checkouts, scenarios, args.timeout)
    print(table)
    if args.out:
        Path(args.out).write_text(_page(table, args))


def _table(results: dict, checkouts: dict, scenarios: list[str], timeout: float) -> str:
    lines = [
        "| code | " + " | ".join(scenarios) + " | slow-down when sharing |",
        "|---|" + "---|" * (len(scenarios) + 1),
    ]
    for name in checkouts:
        medians = [statistics.median(results[name, scenario]) for scenario in scenarios]
        cells = [
            f"{_seconds(m, timeout)} "
            f"({', '.join(_seconds(s, timeout) for s in results[name, scenario])})"
            for m, scenario in zip(medians, scenarios)
        ]
        slowdown = ", ".join(f"{m / medians[0]:.2f}x" for m in medians[1:])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {slowdown} |")
    return "\n".join(lines)


def _seconds(value: float, timeout: float) -> str:
    return f"> {timeout:.0f} s" if math.isinf(value) else f"{value:.1f} s"


def _page(table: str, args) -> str:
    steps = f"train.steps={args.steps}" if args.steps else "its 5,000 steps"
    command = (
        "benchmarks/threads.py "
        + (f"--before {args.before} " if args.before else "")
        + f"--repeats {args.repeats}"
        + (" --beside-images" if args.beside_images else "")
        + (f" --steps {args.steps}" if args.steps else "")
    )
    return f"""# Performance: threads on a shared CPU

Produced by `.venv/bin/python {command}`
on the 2-core development machine (no GPU). Each cell is the median wall time of
`python -m cgpgan train {args.preset}` ({steps}), from start to exit (set-up, training,
evaluation and plots), over {args.repeats} repeats (each repeat in brackets); "two together" is the
slower of two copies started at the same moment; "beside an image run" starts the 2-D
run while a `digits` image run trains on the same cores. The last column divides each
shared time by the time alone (2 means the cores are shared fairly).

{table}

Why: PyTorch starts one busy-waiting OpenMP thread per core. The 2-D networks are too
small for a second thread to help, and when processes share the cores their spinning
threads take each other's time. A run now picks its threads (`cgpgan/threads.py`):
`train.threads` if set, else `OMP_NUM_THREADS` if set, else 1 for the MLPs of 2-D data and
every usable core for convolutional networks; the benchmark scripts give each parallel
job an equal share of the cores.
"""


if __name__ == "__main__":
    main()
