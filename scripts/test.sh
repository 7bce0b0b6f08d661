#!/usr/bin/env bash
# Lint, then run the test suite, setting up .venv first if needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
# lint and format (line length 100, pyproject.toml) before the tests
"$root/.venv/bin/ruff" check --quiet cgpgan tests benchmarks
"$root/.venv/bin/ruff" format --check --quiet cgpgan tests benchmarks
exec "$root/.venv/bin/python" -m pytest -q "$@"
