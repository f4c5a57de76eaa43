#!/usr/bin/env bash
# Runs every lesson (or the ones named: scripts/lesson-examples.sh batching compaction)
# and copies its key chart to reports/examples/<lesson>.svg, then rewrites the lessons
# table of scenarios/README.md, whose "example" column links the charts that exist.
#
# The key chart of a lesson: a sweep's chart of its first [[sweep.expect]] metric along
# the swept setting (along-<metric>.svg, else tradeoff.svg); otherwise the chart that
# shows its module's effect: lag for consumer groups and delivery, produce latency for
# producers, replication and cluster, throughput for storage. A lesson whose run fails
# (exit 1) keeps no chart: an example must show the lesson working.
#
# Runs JOBS lessons at a time (default 2: the machine is shared). SVG charts are
# 15-25 KB each, about 0.7 MB for the whole curriculum.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${KAFKALAB_BIN:-target/release/kafkalab}"
JOBS="${JOBS:-2}"
[[ -x "$BIN" ]] || cargo build --release -p kafkalab
mkdir -p reports/examples

if [[ $# -gt 0 ]]; then
    lessons=("$@")
else
    lessons=()
    for f in scenarios/*.toml; do lessons+=("$(basename "$f" .toml)"); done
fi

chart_for() { # lesson file, report dir -> the chart to keep
    local file="$1" dir="$2" metric module
    if grep -q '^\[sweep\]' "$file"; then
        metric="$(awk '/^\[\[sweep.expect\]\]/{s=1} s && /^metric *=/{gsub(/[" ]/,"",$0); sub(/metric=/,"",$0); print; exit}' "$file")"
        if [[ -n "$metric" && -f "$dir/along-$metric.svg" ]]; then echo "$dir/along-$metric.svg"; return; fi
        echo "$dir/tradeoff.svg"; return
    fi
    module="$(sed -n 's/^module *= *"\(.*\)"/\1/p' "$file" | head -1)"
    case "$module" in
        groups|delivery) echo "$dir/lag.svg" ;;
        storage) echo "$dir/throughput.svg" ;;
        *) echo "$dir/latency.svg" ;;
    esac
}

run_one() {
    local name="$1" file="scenarios/$1.toml" log dir chart
    log="$(mktemp)"
    if ! "$BIN" run "$file" --no-tui >"$log" 2>&1; then
        echo "$name: the run failed, no example (log: $log)"
        return 0
    fi
    dir="$(sed -n 's/^report: //p' "$log" | tail -1)"
    chart="$(chart_for "$file" "$dir")"
    if [[ -f "$chart" ]]; then
        cp "$chart" "reports/examples/$name.svg"
        echo "$name: $(basename "$chart") ($(wc -c <"$chart") bytes)"
    else
        echo "$name: no $(basename "$chart") in $dir"
    fi
    rm -f "$log"
}

running=0
for name in "${lessons[@]}"; do
    run_one "$name" &
    running=$((running + 1))
    if [[ $running -ge $JOBS ]]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait
du -ch reports/examples/*.svg 2>/dev/null | tail -1
KAFKALAB_BIN="$BIN" scripts/lessons-table.sh
