#!/usr/bin/env bash
# Run the kafkalab client compatibility suites (tests/clients) against a
# broker binary, once per pinned confluent-kafka version.
#
#   scripts/client-tests.sh                 # build release broker, run everything
#   KAFKALAB_BIN=/path/kafkalab scripts/client-tests.sh
#   scripts/client-tests.sh -k compression  # extra args go to every pytest run
#
# Environment:
#   KAFKALAB_BIN           broker binary (default: build target/release/kafkalab)
#   PYTHON                 interpreter for the venvs (default: python3.11, else python3)
#   CLIENT_TEST_TIMEOUT    per-test timeout in seconds (default 120)
#   CLIENT_SUITE_TIMEOUT   wall-clock limit per pytest run in seconds (default 1200)
#   CONFLUENT_VERSIONS     space-separated subset of "2.0.2 2.16.1"
#   RUN_RUST_CLIENT_TESTS  set to 1 to also run cargo test --test rdkafka_client
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTS_DIR="$REPO_ROOT/tests/clients"
VENV_ROOT="$REPO_ROOT/.venv-clients"
PER_TEST_TIMEOUT="${CLIENT_TEST_TIMEOUT:-120}"
SUITE_TIMEOUT="${CLIENT_SUITE_TIMEOUT:-1200}"
read -r -a CONFLUENT_VERSIONS <<< "${CONFLUENT_VERSIONS:-2.0.2 2.16.1}"

if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

log() { printf '\n==> %s\n' "$*" >&2; }

# ensure_venv NAME REQUIREMENTS_FILE: (re)create .venv-clients/NAME when it is
# missing or when the requirement files / interpreter changed (hash stamp).
ensure_venv() {
    local name="$1" req="$2"
    local dir="$VENV_ROOT/$name" stamp
    stamp="$( { cat "$req" "$TESTS_DIR/requirements.txt"; "$PYTHON" -VV; } | sha256sum | cut -d' ' -f1)"
    if [[ -x "$dir/bin/python" && -f "$dir/.requirements.sha256" \
          && "$(cat "$dir/.requirements.sha256")" == "$stamp" ]]; then
        return 0
    fi
    log "creating venv $dir ($req)"
    rm -rf "$dir"
    mkdir -p "$VENV_ROOT"
    "$PYTHON" -m venv "$dir"
    timeout 900 "$dir/bin/python" -m pip install --disable-pip-version-check -q \
        -r "$req"
    echo "$stamp" > "$dir/.requirements.sha256"
}

if [[ -z "${KAFKALAB_BIN:-}" ]]; then
    log "building broker (cargo build --release -p kafkalab)"
    (cd "$REPO_ROOT" && timeout 1800 cargo build --release -p kafkalab)
    export KAFKALAB_BIN="$REPO_ROOT/target/release/kafkalab"
fi
[[ -x "$KAFKALAB_BIN" ]] || { echo "KAFKALAB_BIN=$KAFKALAB_BIN is not executable" >&2; exit 2; }
export KAFKALAB_BIN

failures=()
start_all=$SECONDS
last=$(( ${#CONFLUENT_VERSIONS[@]} - 1 ))
for idx in "${!CONFLUENT_VERSIONS[@]}"; do
    ver="${CONFLUENT_VERSIONS[$idx]}"
    req="$TESTS_DIR/requirements-confluent-$ver.txt"
    [[ -f "$req" ]] || { echo "no $req" >&2; exit 2; }
    ensure_venv "confluent-$ver" "$req"
    # kafka-python and raw-socket tests do not depend on the confluent-kafka
    # version: run them once, together with the last confluent version.
    if [[ "$idx" -eq "$last" ]]; then
        markers="confluent or kafka_python or raw"
    else
        markers="confluent"
    fi
    log "pytest: confluent-kafka==$ver  (-m '$markers')"
    t0=$SECONDS
    set +e
    (cd "$TESTS_DIR" && timeout --kill-after=30 "$SUITE_TIMEOUT" \
        "$VENV_ROOT/confluent-$ver/bin/python" -m pytest -v \
        --timeout="$PER_TEST_TIMEOUT" -m "$markers" \
        --junitxml="$VENV_ROOT/junit-confluent-$ver.xml" "$@")
    rc=$?
    set -e
    log "confluent-kafka==$ver: exit $rc in $((SECONDS - t0))s"
    [[ $rc -eq 0 ]] || failures+=("pytest confluent-kafka==$ver (exit $rc)")
done

if [[ "${RUN_RUST_CLIENT_TESTS:-0}" == "1" ]]; then
    log "cargo test -p kafkalab --test rdkafka_client"
    set +e
    (cd "$REPO_ROOT" && timeout --kill-after=30 "$SUITE_TIMEOUT" \
        cargo test -p kafkalab --test rdkafka_client -- --test-threads=4)
    rc=$?
    set -e
    [[ $rc -eq 0 ]] || failures+=("cargo test rdkafka_client (exit $rc)")
fi

log "client tests finished in $((SECONDS - start_all))s"
if [[ ${#failures[@]} -gt 0 ]]; then
    printf 'FAILED: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "all client test suites passed"
