#!/usr/bin/env bash
# Run the cgpgan command line, setting up .venv first if needed.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
bash "$root/scripts/setup.sh"
exec "$root/.venv/bin/python" -m cgpgan "$@"
