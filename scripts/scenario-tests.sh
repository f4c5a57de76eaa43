#!/usr/bin/env bash
# Runs every shipped scenario on the embedded broker and fails when one of them does
# not meet its [expect] checks (kafkalab run exits 1) or cannot run (exit 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${KAFKALAB_BIN:-target/release/kafkalab}"
[[ -x "$BIN" ]] || cargo build --release -p kafkalab
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
failed=()
for s in scenarios/*.toml; do
    printf '\n==> kafkalab run %s\n' "$s"
    if ! timeout 600 "$BIN" run "$s" --report-dir "$out"; then
        failed+=("$s")
    fi
done
if (( ${#failed[@]} )); then
    echo "scenarios that failed: ${failed[*]}" >&2
    exit 1
fi
echo "all scenarios met their expectations"
