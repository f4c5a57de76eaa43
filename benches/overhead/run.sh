#!/usr/bin/env bash
# What measuring and the live view cost: runs benches/overhead/max-rate.toml with and
# without them, alternating (this box is shared and noisy: compare side by side), and
# prints each run and the medians: records/s produced, and CPU per record (user + sys of
# the whole process, broker included: the figure least disturbed by other load).
#   benches/overhead/run.sh measure [PAIRS]   # full measurement vs --no-measure
#   benches/overhead/run.sh view [PAIRS]      # --tui (in tmux) vs --no-tui
set -euo pipefail
cd "$(dirname "$0")/../.."
what="${1:-measure}"
pairs="${2:-5}"
BIN="${KAFKALAB_BIN:-target/release/kafkalab}"
[[ -x "$BIN" ]] || cargo build --release -p kafkalab
SCENARIO=benches/overhead/max-rate.toml
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"; tmux -L kafkalab-overhead kill-server 2>/dev/null || true' EXIT
case "$what" in
    measure) modes=("" "--no-measure") ;;
    view) modes=("--tui" "--no-tui"); command -v tmux >/dev/null || { echo "needs tmux" >&2; exit 2; } ;;
    *) echo "usage: $0 measure|view [PAIRS]" >&2; exit 2 ;;
esac
results="$tmp/results"
for ((i = 1; i <= pairs; i++)); do
    for mode in "${modes[@]}"; do
        rm -rf "$tmp/r"
        cmd="$BIN run $SCENARIO --metrics-linger 0 --report-dir $tmp/r $mode"
        if [[ $what == view ]]; then
            # The view draws to a real terminal: a detached tmux pane.
            tmux -L kafkalab-overhead new-session -d -x 150 -y 44 \
                "/usr/bin/time -o $tmp/time -f '%U %S' $cmd 2>/dev/null"
            while tmux -L kafkalab-overhead has-session 2>/dev/null; do sleep 1; done
        else
            /usr/bin/time -o "$tmp/time" -f '%U %S' $cmd --no-tui >/dev/null 2>&1
        fi
        python3 - "${mode:-measured}" "$tmp" >>"$results" <<'PY'
import glob, json, sys
mode, tmp = sys.argv[1], sys.argv[2]
r = json.load(open(glob.glob(f"{tmp}/r/*/report.json")[0]))
u, s = map(float, open(f"{tmp}/time").read().split()[-2:])
m = r.get("metrics", {})
print(mode, m.get("produced", 0), u + s, m.get("produce_throughput_rps", 0))
PY
        tail -1 "$results" | awk '{printf "%-13s produced %d, cpu %.2f s, %.0f ns/record, %.0f records/s\n", $1, $2, $3, $3*1e9/$2, $4}'
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
modes = list(dict.fromkeys(r[0] for r in rows))
med = {}
for m in modes:
    rs = [r for r in rows if r[0] == m]
    rate = statistics.median(float(r[3]) for r in rs)
    ns = statistics.median(float(r[2]) * 1e9 / float(r[1]) for r in rs)
    med[m] = (rate, ns)
    print(f"median {m:13s} {rate:,.0f} records/s, {ns:.0f} ns CPU per record ({len(rs)} runs)")
a, b = modes
print(f"{a} / {b}: throughput {100 * med[a][0] / med[b][0]:.1f}%, "
      f"CPU per record {100 * med[a][1] / med[b][1]:.1f}%")
PY
