#!/usr/bin/env bash
# Runs every test kafkalab has, from a clean clone: formatting, import cycles between
# modules (scripts/check-module-cycles.sh) and lints, the Rust unit
# and integration tests (the rdkafka crate drives the broker), and the Python client
# suites (confluent-kafka 2.0.2 and 2.16.1, kafka-python), whose pinned packages are
# installed into .venv-clients/ by scripts/client-tests.sh; then every shipped lesson
# runs with `kafkalab run` and must meet its [expect] checks, and again with its
# [control] applied (`--control`), where a check must fail, then both ways again in
# virtual time (`--simulate`); last, a real Prometheus
# (installed when missing) scrapes a run and evaluates every dashboard panel's query.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

# Debian packages the tests drive (tmux for the live view's end-to-end test).
need_package() {
    command -v "$1" >/dev/null && return 0
    local sudo=()
    (( EUID == 0 )) || sudo=(sudo)
    step "installing $2"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" ||
        { "${sudo[@]}" apt-get update -q &&
          "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2"; }
}
need_package tmux tmux

step "cargo fmt --check"
cargo fmt --all -- --check

step "import cycles between top-level modules (scripts/module-cycles.allow)"
scripts/check-module-cycles.sh

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --release (the binary the client suites drive)"
cargo build --release -p kafkalab
export KAFKALAB_BIN="$PWD/target/release/kafkalab"

step "cargo test --workspace"
cargo test --workspace

step "client suites (confluent-kafka, kafka-python)"
scripts/client-tests.sh

step "lessons (kafkalab run and kafkalab run --control, embedded broker)"
scripts/scenario-tests.sh

step "lessons in virtual time (kafkalab run --simulate, both ways)"
scripts/scenario-tests.sh --simulate

step "metrics and dashboards against a real Prometheus"
scripts/prometheus-tests.sh

step "all tests passed"
