#!/usr/bin/env bash
# Runs every shipped lesson on the embedded broker twice: as written, where it must meet
# its [expect] checks (kafkalab run exits 0), and with its [control] applied (--control),
# where an expectation must fail (exit 1): the proof that its checks can fail. A control
# run that passes, a file without a [control], or a run that cannot happen (exit 2)
# fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${KAFKALAB_BIN:-target/release/kafkalab}"
[[ -x "$BIN" ]] || cargo build --release -p kafkalab
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
failed=()
times=()
for s in scenarios/*.toml; do
    start=$SECONDS
    printf '\n==> kafkalab run %s\n' "$s"
    if ! timeout 600 "$BIN" run "$s" --no-tui --report-dir "$out"; then
        failed+=("$s (its checks failed)")
    fi
    printf '\n==> kafkalab run %s --control\n' "$s"
    set +e
    timeout 600 "$BIN" run "$s" --control --no-tui --report-dir "$out"
    rc=$?
    set -e
    case $rc in
        1) echo "control failed an expectation, as it must" ;;
        0) failed+=("$s (its control passed: the checks cannot fail)") ;;
        *) failed+=("$s (its control could not run: exit $rc)") ;;
    esac
    times+=("$(printf '%4d s  %s' $((SECONDS - start)) "$s")")
done
printf '\nwall time per lesson (run + control):\n'
printf '  %s\n' "${times[@]}"
if (( ${#failed[@]} )); then
    printf 'lessons that failed:\n' >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "every lesson met its expectations, and every control failed one"
