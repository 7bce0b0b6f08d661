"""Do two commits train the same networks? Each method's presets are trained briefly
(the same seed and overrides) by this checkout and by an earlier commit (checked out into a
temporary git worktree), and a hash of every tensor of the final model is compared:

    .venv/bin/python benchmarks/same_weights.py --before 914b865

A refactoring that keeps behaviour prints "same" on every line. Each training runs in a
fresh process whose `import cgpgan` is the checkout's own code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import ROOT, worktree  # noqa: E402

SMALL_IMAGES = ["train.batch_size=16", "data.max_images=200", "train.steps=6"]
CASES = {  # label: (preset, overrides)
    "cgpgan, 2-D": ("gaussians2d", ["train.steps=40"]),
    "cgpgan, 2-D (paper schedule)": ("gaussians2d_paper", ["train.steps=40"]),
    "vcagan, 2-D": ("gaussians2d_vcagan", ["train.steps=40"]),
    "infogan, 2-D": ("gaussians2d_infogan", ["train.steps=40"]),
    "vanilla, 2-D": ("gaussians2d_vanilla", ["train.steps=40"]),
    "cgpgan, mnist5k recipe": ("mnist5k", SMALL_IMAGES),
    "cgpgan, mnist5k recipe past its warm-up and consistency start": (
        "mnist5k",
        [*SMALL_IMAGES, "method.warmup_steps=2", "method.real_consistency_start=3"],
    ),
    "vcagan, mnist5k": ("mnist5k_vcagan", SMALL_IMAGES),
    "cgpgan, digits": ("digits", ["train.batch_size=16", "train.steps=6"]),
}

# run in the checkout under test: train each case, print {label: hash of the weights}
TRAIN_AND_HASH = """
import hashlib, json, sys
from cgpgan import load_config, train
hashes = {}
for label, (preset, overrides) in json.loads(sys.argv[1]).items():
    config = load_config(preset, [*overrides, "train.checkpoint_every=100000"])
    out = f"{sys.argv[2]}/{len(hashes)}"
    state = train(config, out, progress=False, evaluate=False).method.state_dict()
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    hashes[label] = digest.hexdigest()
print(json.dumps(hashes))
"""


def weight_hashes(checkout: Path, scratch: Path) -> dict[str, str]:
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    result = subprocess.run(
        [sys.executable, "-c", TRAIN_AND_HASH, json.dumps(CASES), str(scratch)],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REV", required=True, help="the earlier commit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        with worktree(args.before, scratch / "before") as before:
            old = weight_hashes(before, scratch / "before-runs")
        new = weight_hashes(ROOT, scratch / "runs")
    width = max(map(len, CASES))
    for label in CASES:
        verdict = "same" if old[label] == new[label] else "DIFFERENT"
        print(f"{label:<{width}}  {verdict}  ({old[label][:12]} / {new[label][:12]})")
    sys.exit(0 if old == new else 1)


if __name__ == "__main__":
    main()
