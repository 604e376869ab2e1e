#!/usr/bin/env bash
# Rewrites test/data/trace_cases.jsonl from PyTorch's own Python schedulers: Debian 13's
# python3-torch (PyTorch 2.6) in the Debian 13 root, on the configs already in the file plus
# those listed in tools/reference/make_traces.py. Not run by CI; review the diff and run the
# tests (both LibTorch versions) before committing the new file.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCHLR_TRIXIE_EXTRA="python3-torch" bash scripts/debian13-root.sh
bash scripts/debian13-run.sh python3 tools/reference/make_traces.py test/data/trace_cases.jsonl
