#!/usr/bin/env bash
# Run the cgpgan command line, setting up .venv first if needed.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
bash "$root/scripts/setup.sh"
# the commands it suggests (e.g. how to resume) are printed in the form the user typed
case "$0" in
  */*) export CGPGAN_COMMAND="${CGPGAN_COMMAND:-$0}" ;;
  *) export CGPGAN_COMMAND="${CGPGAN_COMMAND:-bash $0}" ;;  # `bash cgpgan.sh ...`
esac
exec "$root/.venv/bin/python" -m cgpgan "$@"
