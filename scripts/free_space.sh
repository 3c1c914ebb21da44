#!/usr/bin/env bash
# Usage: free_space.sh DIR GB -- exit 1, saying how much there is, when DIR's filesystem has less than GB free.
# make runs it before it creates .venv, so that a full disk stops setup with this message rather than with
# pip's "No space left on device" halfway through an install.
set -euo pipefail
dir="$1"; need_gb="$2"
avail_kb=$(df -Pk "$dir" | awk 'NR==2 {print $4}')
if [ "$avail_kb" -lt $((need_gb * 1024 * 1024)) ]; then
  echo "point2act setup: $(cd "$dir" && pwd) has $((avail_kb / 1024 / 1024)) GB free; a fresh .venv needs about ${need_gb} GB." >&2
  echo "Free some space and run make again." >&2
  exit 1
fi
