#!/usr/bin/env bash
# Checks the metrics and the Grafana dashboards with a real Prometheus server: installs
# the Debian package `prometheus` when missing (without starting its service), then
# tests/dashboards/prometheus_test.py runs `promtool check metrics` on kafkalab's
# expositions, runs dashboards/test/observability.toml while a private Prometheus (on a
# free loopback port, with a temporary storage directory) scrapes it every second, and
# evaluates every PromQL expression of every dashboard panel: each must return data.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "installing the Debian package prometheus (promtool included; its service is not started)"
    sudo=()
    if (( EUID != 0 )); then sudo=(sudo -n); fi
    # policy-rc.d answering 101 keeps the package scripts from starting the service.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        made_policy=1
    fi
    install_prometheus() {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends prometheus
    }
    status=0
    install_prometheus || { "${sudo[@]}" apt-get update -q && install_prometheus; } || status=$?
    if (( made_policy )); then "${sudo[@]}" rm -f "$policy"; fi
    (( status == 0 )) || { echo "could not install prometheus" >&2; exit "$status"; }
fi

BIN="${KAFKALAB_BIN:-target/release/kafkalab}"
[[ -x "$BIN" ]] || cargo build --release -p kafkalab
# The test bounds each wait itself; this is the backstop for the whole of it.
exec timeout --kill-after=10 240 python3 tests/dashboards/prometheus_test.py --bin "$BIN"
