#!/usr/bin/env bash
# Runs every shipped lesson on the embedded broker twice: as written, where it must meet
# its [expect] checks (kafkalab run exits 0), and with its [control] applied (--control),
# where an expectation must fail (exit 1): the proof that its checks can fail. A control
# run that passes, a file without a [control], or a run that cannot happen (exit 2)
# fails this script.
#
# Lessons mostly wait (for session timeouts, lingers, elections), so LESSON_JOBS of them
# (default 3) run at once, each on its own broker and ephemeral ports; a lesson's output
# is printed whole when it ends. LESSON_JOBS=1 runs them one by one.
#
# `scenario-tests.sh --simulate` runs them in virtual time instead (kafkalab run
# --simulate: one thread each, so two at a time by default).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${KAFKALAB_BIN:-target/release/kafkalab}"
[[ -x "$BIN" ]] || cargo build --release -p kafkalab
mode=()
jobs_max="${LESSON_JOBS:-3}"
if [[ "${1:-}" == "--simulate" ]]; then
    mode=(--simulate --metrics-linger 0)
    jobs_max="${LESSON_JOBS:-2}"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# One lesson, both ways; its log goes to $out/NAME.log, its verdict to $out/NAME.verdict.
run_lesson() {
    local s="$1" name log verdict start rc
    name="$(basename "$s" .toml)"
    log="$out/$name.log"
    verdict="$out/$name.verdict"
    start=$SECONDS
    mkdir -p "$out/reports-$name"
    {
        printf '\n==> kafkalab run %s %s\n' "$s" "${mode[*]}"
        if timeout 600 "$BIN" run "$s" "${mode[@]}" --no-tui --report-dir "$out/reports-$name"; then
            : >"$verdict"
        else
            echo "$s (its checks failed)" >"$verdict"
        fi
        printf '\n==> kafkalab run %s --control %s\n' "$s" "${mode[*]}"
        set +e
        timeout 600 "$BIN" run "$s" "${mode[@]}" --control --no-tui --report-dir "$out/reports-$name"
        rc=$?
        set -e
        case $rc in
            1) echo "control failed an expectation, as it must" ;;
            0) echo "$s (its control passed: the checks cannot fail)" >>"$verdict" ;;
            *) echo "$s (its control could not run: exit $rc)" >>"$verdict" ;;
        esac
    } >"$log" 2>&1
    printf '%4d s  %s\n' $((SECONDS - start)) "$s" >"$out/$name.time"
}

finish() {
    local name="$1"
    cat "$out/$name.log"
}

running=()
names=()
for s in scenarios/*.toml; do
    name="$(basename "$s" .toml)"
    names+=("$name")
    run_lesson "$s" &
    running+=("$!:$name")
    while (( ${#running[@]} >= jobs_max )); do
        wait -n || true
        still=()
        for r in "${running[@]}"; do
            if kill -0 "${r%%:*}" 2>/dev/null; then still+=("$r"); else finish "${r#*:}"; fi
        done
        running=("${still[@]}")
    done
done
for r in "${running[@]}"; do
    wait "${r%%:*}" || true
    finish "${r#*:}"
done

failed=()
printf '\nwall time per lesson (run + control, %s at once):\n' "$jobs_max"
for name in "${names[@]}"; do
    if [[ -f "$out/$name.time" ]]; then printf '  %s' "$(cat "$out/$name.time")"; echo; fi
    if [[ ! -f "$out/$name.verdict" ]]; then
        failed+=("scenarios/$name.toml (did not finish)")
    elif [[ -s "$out/$name.verdict" ]]; then
        while IFS= read -r line; do failed+=("$line"); done <"$out/$name.verdict"
    fi
done
if (( ${#failed[@]} )); then
    printf 'lessons that failed:\n' >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "every lesson met its expectations, and every control failed one"
