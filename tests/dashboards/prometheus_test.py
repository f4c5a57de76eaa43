#!/usr/bin/env python3
"""Checks kafkalab's metrics and Grafana dashboards against a real Prometheus server.

1. Static checks on dashboards/*.json: valid JSON, unique dashboard uids, unique panel
   ids, a `${datasource}` variable and no hard-coded data source anywhere, every
   expression names only metrics documented in docs/metrics.md.
2. `promtool check config` on dashboards/prometheus.yml.
3. `promtool check metrics` on the exposition of `kafkalab broker` and of `kafkalab run`
   (broker, client and scenario metrics on one endpoint), taken mid-run.
4. Runs dashboards/test/observability.toml with `kafkalab run` while Prometheus scrapes
   it every second, then evaluates every PromQL expression of every panel and every
   annotation through Prometheus' HTTP API, the way Grafana would (range queries over
   the run, instant queries where the panel asks for one): each must parse and return
   at least one series with a value that is a number.

Standard library only. Everything listens on 127.0.0.1, on ports picked free, and every
process it starts is stopped on exit. Run through scripts/prometheus-tests.sh.
"""

import argparse
import glob
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARDS = os.path.join(ROOT, "dashboards")
SCENARIO = os.path.join(DASHBOARDS, "test", "observability.toml")
DS_REF = {"type": "prometheus", "uid": "${datasource}"}
SCRAPE_S = 1
# What Grafana puts in for its interval variables with a 1 s scrape interval (the
# provisioned data source's timeInterval): $__rate_interval = max(4 x scrape, interval
# + scrape) = 4s for a short time range; $__range is filled in per run below.
RATE_INTERVAL = "4s"
INTERVAL = "1s"


class Failure(Exception):
    pass


# ------------------------------------------------------------------ dashboards


def load_dashboards():
    paths = sorted(glob.glob(os.path.join(DASHBOARDS, "*.json")))
    if not paths:
        raise Failure(f"no dashboards in {DASHBOARDS}")
    out = []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                out.append((os.path.basename(p), json.load(f)))
        except (OSError, json.JSONDecodeError) as e:
            raise Failure(f"{p}: {e}") from e
    return out


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def datasource_refs(node, path="$"):
    """Every `datasource` value anywhere in the dashboard, with its JSON path."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "datasource":
                yield path + "." + k, v
            yield from datasource_refs(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from datasource_refs(v, f"{path}[{i}]")


def documented_metrics():
    path = os.path.join(ROOT, "docs", "metrics.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rows = re.findall(r"^\| `(kafkalab_[a-z0-9_]+)` \| (\w+) \|", text, re.M)
    if not rows:
        raise Failure(f"{path}: no metric rows found")
    return dict(rows)


def metric_names(expr):
    return set(re.findall(r"\bkafkalab_[a-z0-9_]+\b", expr))


def base_metric(name, documented):
    if name in documented:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and documented.get(base) == "histogram":
            return base
    return None


def queries(dashboards):
    """(dashboard file, what, expr, instant) for every panel target and annotation."""
    out = []
    for file, d in dashboards:
        for p in all_panels(d.get("panels", [])):
            for t in p.get("targets", []):
                what = f"panel {p.get('id')} \"{p.get('title')}\" {t.get('refId')}"
                out.append((file, what, t.get("expr", ""), bool(t.get("instant")) and not t.get("range")))
        for a in d.get("annotations", {}).get("list", []):
            expr = a.get("expr") or a.get("target", {}).get("expr")
            if expr:
                out.append((file, f"annotation \"{a.get('name')}\"", expr, None))
    return out


def static_checks(dashboards, documented):
    problems = []
    uids = {}
    for file, d in dashboards:
        uid = d.get("uid")
        if not uid:
            problems.append(f"{file}: no uid")
        elif uid in uids:
            problems.append(f"{file}: uid {uid} also used by {uids[uid]}")
        else:
            uids[uid] = file
        if d.get("id") not in (None,):
            problems.append(f"{file}: a dashboard `id` is instance-specific; leave it out")
        variables = d.get("templating", {}).get("list", [])
        if not any(v.get("name") == "datasource" and v.get("type") == "datasource"
                   and v.get("query") == "prometheus" for v in variables):
            problems.append(f"{file}: no `datasource` variable of type datasource (query prometheus)")
        ids = {}
        for p in all_panels(d.get("panels", [])):
            pid = p.get("id")
            if not isinstance(pid, int):
                problems.append(f"{file}: panel \"{p.get('title')}\" has no integer id")
            elif pid in ids:
                problems.append(f"{file}: panel id {pid} used by \"{ids[pid]}\" and \"{p.get('title')}\"")
            else:
                ids[pid] = p.get("title")
            if "gridPos" not in p:
                problems.append(f"{file}: panel {pid} has no gridPos")
            if p.get("type") not in ("row", "text") and not p.get("targets"):
                problems.append(f"{file}: panel {pid} \"{p.get('title')}\" has no query")
        for path, ref in datasource_refs(d):
            if ref != DS_REF and ref != "${datasource}":
                problems.append(f"{file}: {path} = {json.dumps(ref)}: use the ${{datasource}} variable")
        if "__inputs" in d:
            problems.append(f"{file}: __inputs (an export for sharing) pins a data source; use ${{datasource}}")
    for file, what, expr, _ in queries(dashboards):
        if not expr.strip():
            problems.append(f"{file}: {what}: empty expression")
        for name in sorted(metric_names(expr)):
            if base_metric(name, documented) is None:
                problems.append(f"{file}: {what}: {name} is not a documented metric (docs/metrics.md)")
        rest = re.sub(r"\$\{?__(rate_interval|interval|range)\}?", "", expr)
        if "$" in rest:
            problems.append(f"{file}: {what}: a variable the test cannot fill in: {expr}")
    return problems


def substitute(expr, range_s):
    expr = re.sub(r"\$\{?__rate_interval\}?", RATE_INTERVAL, expr)
    expr = re.sub(r"\$\{?__interval\}?", INTERVAL, expr)
    return re.sub(r"\$\{?__range\}?", f"{range_s}s", expr)


# ------------------------------------------------------------------ processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """The processes this test started; stop() ends exactly those."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8")


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, urllib.error.URLError, ValueError) as e:
            last = e
        time.sleep(0.2)
    raise Failure(f"timed out after {timeout}s waiting for {what}" + (f" ({last})" if last else ""))


class LineReader:
    """Collects a process's stdout lines in the background."""

    def __init__(self, stream, echo_prefix):
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, args=(stream, echo_prefix), daemon=True)
        self.thread.start()

    def _run(self, stream, prefix):
        for line in stream:
            line = line.rstrip("\n")
            with self.lock:
                self.lines.append(line)
            print(f"{prefix}{line}", flush=True)

    def find(self, pattern):
        with self.lock:
            for line in self.lines:
                m = re.search(pattern, line)
                if m:
                    return m
        return None


def promtool_check_metrics(promtool, exposition, what):
    r = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True,
                       text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    families = len(set(re.findall(r"^# TYPE (\S+)", exposition, re.M)))
    print(f"promtool check metrics ({what}, {families} metric families): exit {r.returncode}"
          + (f"\n{out}" if out else ", no findings"))
    if r.returncode != 0:
        raise Failure(f"promtool check metrics failed on the {what} exposition:\n{out}")


LATENCY_BUCKETS = ["5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.0075",
                   "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5",
                   "10", "30", "+Inf"]


def check_latency_buckets(exposition):
    """Every latency histogram (`*_seconds`) has the same buckets, 50 us to 30 s, so
    histogram_quantile resolves them and they aggregate across clients and the broker."""
    les = {}
    for name, le in re.findall(r'^(kafkalab_\w+_seconds)_bucket\{[^}]*le="([^"]+)"', exposition, re.M):
        les.setdefault(name, set()).add(le)
    if not les:
        raise Failure("no latency histograms in the run's exposition")
    want = {float(b) for b in LATENCY_BUCKETS}
    for name, got in sorted(les.items()):
        if {float(b) for b in got} != want:
            raise Failure(f"{name}: buckets {sorted(got, key=float)}, want {LATENCY_BUCKETS}")
    print(f"{len(les)} latency histograms, each with buckets 50us..30s: {', '.join(sorted(les))}")


# ------------------------------------------------------------------ prometheus API


class Prom:
    def __init__(self, base):
        self.base = base

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            body = http_get(url, timeout=30)
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8")
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise Failure(f"{doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def instant(self, expr, at):
        return self.api("query", query=expr, time=f"{at:.3f}")

    def range(self, expr, start, end, step=SCRAPE_S):
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)


def numeric_samples(data):
    """(series count, count of samples that are numbers) of a query result."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return 1, int(not math.isnan(float(result[1])))
    values = []
    for s in result:
        if "values" in s:
            values += [v for _, v in s["values"]]
        elif "value" in s:
            values.append(s["value"][1])
    return len(result), sum(1 for v in values if not math.isnan(float(v)))


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the kafkalab binary")
    args = ap.parse_args()
    prometheus = shutil.which("prometheus")
    promtool = shutil.which("promtool")
    if not prometheus or not promtool:
        raise Failure("prometheus and promtool are not installed (scripts/prometheus-tests.sh installs them)")
    print(subprocess.run([prometheus, "--version"], capture_output=True, text=True).stdout.splitlines()[0])

    documented = documented_metrics()
    dashboards = load_dashboards()
    problems = static_checks(dashboards, documented)
    if problems:
        raise Failure("dashboard checks failed:\n  " + "\n  ".join(problems))
    all_q = queries(dashboards)
    panels = sum(1 for _, d in dashboards for p in all_panels(d.get("panels", [])))
    print(f"static checks passed: {len(dashboards)} dashboards, {panels} panels, {len(all_q)} expressions")
    used = {base_metric(n, documented) for _, _, e, _ in all_q for n in metric_names(e)}
    unused = sorted(set(documented) - used)
    print(f"documented metrics used by a dashboard: {len(used)} of {len(documented)}"
          + (f" (not shown: {', '.join(unused)})" if unused else ""))

    r = subprocess.run([promtool, "check", "config", os.path.join(DASHBOARDS, "prometheus.yml")],
                       capture_output=True, text=True, timeout=60)
    print(f"promtool check config dashboards/prometheus.yml: exit {r.returncode}\n{(r.stdout + r.stderr).strip()}")
    if r.returncode != 0:
        raise Failure("dashboards/prometheus.yml is not a valid Prometheus configuration")

    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="kafkalab-prom-test-")
    try:
        run_checks(args.bin, prometheus, promtool, procs, tmp, all_q)
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def check_broker_exposition(binary, promtool, procs, tmp):
    log_dir = os.path.join(tmp, "broker-logs")
    broker = procs.start(
        [binary, "broker", "--override", "listeners=PLAINTEXT://127.0.0.1:0",
         "--override", "kafkalab.metrics.listener=127.0.0.1:0", "--override", f"log.dirs={log_dir}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = LineReader(broker.stdout, "  broker| ")
    m = wait_for("kafkalab broker to be ready", lambda: out.find(r"ready: .*metrics=(http://\S+)"), 30)
    promtool_check_metrics(promtool, http_get(m.group(1)), "kafkalab broker")
    broker.terminate()
    broker.wait(timeout=20)


def run_checks(binary, prometheus, promtool, procs, tmp, all_q):
    check_broker_exposition(binary, promtool, procs, tmp)

    metrics_port, prom_port = free_port(), free_port()
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(
            "global:\n"
            f"  scrape_interval: {SCRAPE_S}s\n"
            f"  scrape_timeout: {SCRAPE_S}s\n"
            f"  evaluation_interval: {SCRAPE_S}s\n"
            "scrape_configs:\n"
            "  - job_name: kafkalab\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{metrics_port}']\n")
    prom_log = open(os.path.join(tmp, "prometheus.log"), "w", encoding="utf-8")
    procs.start(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--storage.tsdb.retention.time=1h"],
        stdout=prom_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{prom_port}"
    wait_for("Prometheus to be ready", lambda: "Ready" in http_get(f"{base}/-/ready"), 60)
    prom = Prom(base)
    # Service discovery hands targets to the scrape loop up to 5 s after start-up; wait
    # for the first (failing) scrape so the run is scraped from its first second.
    wait_for("Prometheus to try its target", lambda: any(
        t.get("lastScrape", "").split("T")[0] > "0001-01-01"
        for t in prom.api("targets")["activeTargets"]), 30)
    print(f"prometheus ready on {base}, scraping 127.0.0.1:{metrics_port} every {SCRAPE_S}s")

    wall_start = time.time()
    run = procs.start(
        [binary, "run", SCENARIO, "--report-dir", os.path.join(tmp, "reports"),
         "--metrics-listener", f"127.0.0.1:{metrics_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    out = LineReader(run.stdout, "  run| ")
    m = wait_for("the run's metrics endpoint", lambda: out.find(r"metrics: (http://(\S+)/metrics)"), 60)
    if m.group(2) != f"127.0.0.1:{metrics_port}":
        raise Failure(f"port {metrics_port} was taken meanwhile (the run serves {m.group(2)}); run the test again")
    url = m.group(1)

    # Mid-run, once the last event happened, the exposition has every family.
    last_event = 'kafkalab_scenario_events_total{kind="remove-consumer"} 1'
    exposition = wait_for("the remove-consumer event", lambda: (lambda t: t if last_event in t else None)(
        http_get(url)), 90)
    promtool_check_metrics(promtool, exposition, "kafkalab run")
    check_latency_buckets(exposition)

    try:
        rc = run.wait(timeout=120)
    except subprocess.TimeoutExpired as e:
        raise Failure("kafkalab run did not finish within 120 s") from e
    wall_end = time.time()
    out.thread.join(timeout=5)
    if rc != 0:
        raise Failure(f"kafkalab run {SCENARIO} exited {rc} (its expectations must hold)")

    up = prom.range('up{job="kafkalab"} == 1', wall_start - 5, time.time())
    times = [float(t) for s in up["result"] for t, _ in s["values"]]
    if not times:
        raise Failure("Prometheus never scraped the run")
    start, end = min(times), max(times)
    print(f"Prometheus scraped the run from {start:.0f} to {end:.0f} ({end - start:.0f} s)")
    range_s = max(int(end - start), 1)

    failures = []
    checked = 0
    for file, what, expr, instant in all_q:
        q = substitute(expr, range_s)
        checked += 1
        try:
            data = prom.instant(q, end) if instant else prom.range(q, start, end)
        except Failure as e:
            failures.append(f"{file}: {what}: {e}\n      {q}")
            continue
        series, numbers = numeric_samples(data)
        mode = "instant" if instant else "range"
        print(f"  {file}: {what} [{mode}]: {series} series, {numbers} numeric samples")
        if series == 0 or numbers == 0:
            failures.append(f"{file}: {what}: no data ({series} series, {numbers} numeric samples)\n      {q}")

    check_phases(prom, start, end, failures)
    check_event_timestamps(prom, start, end, wall_start, wall_end, failures)
    check_faults_within_one_scrape(prom, end, failures)

    if failures:
        raise Failure(f"{len(failures)} of {checked} expressions or checks failed:\n  " + "\n  ".join(failures))
    print(f"all {checked} dashboard expressions returned data from Prometheus")


def check_phases(prom, start, end, failures):
    data = prom.range("kafkalab_scenario_phase == 1", start, end)
    seen = []
    for s in sorted(data["result"], key=lambda s: float(s["values"][0][0])):
        seen.append(s["metric"].get("phase"))
    print(f"phases Prometheus saw, in order: {', '.join(seen)}")
    # `kafkalab run` keeps its endpoint up for --metrics-linger (2 s) after the run, so
    # the final phase and the expectations' results are scraped too.
    for want in ("warm-up", "measure", "done"):
        if want not in seen:
            failures.append(f"phase {want} never scraped (saw {seen})")
    if seen[:2] != ["warm-up", "measure"] or seen[-1:] != ["done"]:
        failures.append(f"phases out of order: {seen}")
    held = prom.instant("kafkalab_scenario_expectation_status", end)["result"]
    statuses = {s["metric"].get("expectation"): s["value"][1] for s in held}
    print(f"expectations as last scraped: {statuses}")
    if not statuses or any(v != "1" for v in statuses.values()):
        failures.append(f"the expectations' final results were not all scraped as held (1): {statuses}")


def check_event_timestamps(prom, start, end, wall_start, wall_end, failures):
    """The annotation time of each event is the Unix time it happened: between the run's
    start and end, and at most a few seconds before Prometheus first saw it."""
    data = prom.range("kafkalab_scenario_last_event_timestamp_seconds", start, end)
    if not data["result"]:
        failures.append("no event timestamps")
    for s in data["result"]:
        label = f"{s['metric'].get('kind')} {s['metric'].get('target')}"
        first_seen = float(s["values"][0][0])
        at = float(s["values"][0][1])
        print(f"  event {label}: at {at:.3f}, first scraped at {first_seen:.0f}")
        if not wall_start - 2 <= at <= wall_end:
            failures.append(f"event {label}: timestamp {at} outside the run ({wall_start:.0f}..{wall_end:.0f})")
        elif not first_seen - 5 <= at <= first_seen + 0.5:
            failures.append(f"event {label}: timestamp {at} too far from its first scrape at {first_seen}")


def raw_samples(prom, selector, end, window_s):
    """Every scraped sample of `selector` in the last `window_s` seconds before `end`,
    with the time of the scrape that took it: [(t, value)], oldest first."""
    data = prom.instant(f"{selector}[{window_s}s]", end)
    return sorted((float(t), float(v)) for s in data["result"] for t, v in s["values"])


def check_faults_within_one_scrape(prom, end, failures):
    """A broker fault in the scenario shows in the metrics at the first scrape after it:
    the event's counter and its effect on the cluster (live brokers), at most one scrape
    interval after the event's own timestamp (plus the scrape's jitter)."""
    window = 600
    # The counter moves as the event is applied; the effect may take the cluster a few
    # hundred milliseconds more (a restarted node recovers its log first).
    limits = {"the event counter": SCRAPE_S + 0.25}
    for kind, effect, want in (("kill-broker", "below", 3), ("restart-broker", "at", 3)):
        stamps = raw_samples(prom, f'kafkalab_scenario_last_event_timestamp_seconds{{kind="{kind}"}}', end, window)
        if not stamps:
            failures.append(f"{kind}: no event timestamp scraped")
            continue
        at = stamps[0][1]
        counted = [t for t, v in raw_samples(prom, f'kafkalab_scenario_events_total{{kind="{kind}"}}', end, window)
                   if v >= 1]
        live = raw_samples(prom, "kafkalab_controller_live_brokers", end, window)
        shown = [t for t, v in live if t >= at - 0.1 and (v < want if effect == "below" else v == want)]
        for what, seen in (("the event counter", counted), (f"live brokers {effect} {want}", shown)):
            if not seen:
                failures.append(f"{kind} at {at:.3f}: {what} never scraped")
                continue
            delay = seen[0] - at
            print(f"  {kind} at {at:.3f}: {what} first scraped {delay:+.3f} s later")
            limit = limits.get(what, SCRAPE_S + 0.5)
            if not -0.1 <= delay <= limit:
                failures.append(f"{kind} at {at:.3f}: {what} first scraped {delay:+.3f} s later "
                                f"(within one scrape, {SCRAPE_S} s, expected)")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
