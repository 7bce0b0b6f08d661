#!/usr/bin/env bash
# Create .venv (once) and install cgpgan with its test dependencies into it.
# Re-runs the install only when pyproject.toml changes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
stamp="$venv/.cgpgan-installed"
wanted=$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
echo "setting up $venv (one time) ..." >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
# the CPU build of PyTorch; an open range would pull a multi-GB CUDA build
"$venv/bin/python" -m pip install --quiet "torch==2.13.0" >&2
"$venv/bin/python" -m pip install --quiet -e "$root[dev]" >&2
echo "$wanted" > "$stamp"
