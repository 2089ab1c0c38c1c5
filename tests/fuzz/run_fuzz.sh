#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its checked-in seed corpus.
# New inputs go to a scratch directory so the source tree is never modified.
# Exit status is non-zero on any crash, leak, timeout or sanitizer report.
set -euo pipefail
bin=$1 seeds=$2 seconds=${3:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
      -artifact_prefix="$work/")
if [ -d "$seeds" ]; then
  "$bin" "${args[@]}" "$work/corpus" "$seeds" 2>"$work/log" || { tail -60 "$work/log"; exit 1; }
else
  "$bin" "${args[@]}" "$work/corpus" 2>"$work/log" || { tail -60 "$work/log"; exit 1; }
fi
grep -E 'stat::number_of_executed_runs|Done' "$work/log" | tail -2
