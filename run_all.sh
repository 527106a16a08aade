#!/usr/bin/env bash
# Run the five notebooks headless with papermill, each stage handing its artifacts to the next under outputs/.
#   ./run_all.sh [--profile default|smoke|cpu] [--set section.key=value ...] [--from STAGE | --only STAGE] [--force]
# STAGE: prepare | baseline | train | compare | demo.  Executed notebooks + HTML: outputs/notebooks/.
set -euo pipefail
cd "$(dirname "$0")"
if [[ -n "${VIRTUAL_ENV:-}" ]]; then PY=python
elif [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
else PY=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" -m descgen.pipeline "$@"
