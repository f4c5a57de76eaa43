"""Helpers for ``test_groups.py`` (consumer-group coordinator tests).

- ``wait_until`` / ``unique``: bounded waits, unique names.
- ``scrape_metrics`` / ``metric``: read the broker's Prometheus endpoint.
- raw group requests over ``kwire.Conn`` (FindCoordinator v1, JoinGroup v0-v5,
  SyncGroup v0-v3, Heartbeat v0-v3, LeaveGroup v3) and the consumer-protocol
  subscription / assignment encoding.
- ``ConfluentMember``: a confluent-kafka consumer in a group that records its
  rebalance callbacks (assign / revoke / lost) and the records it consumed.
- ``SubprocessMember``: the same in a child process
  (``group_scripts/member.py``), so it can be SIGKILLed; it reports its
  callbacks as JSON lines on stdout.
- ``KafkaPythonMember``: a kafka-python ``KafkaConsumer`` in a group.

Every wait is bounded.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import kwire
from kwire import i8, i16, i32, string, bytes_

GROUP_SCRIPTS = Path(__file__).resolve().parent / "group_scripts"

# API keys
FIND_COORDINATOR = 10
JOIN_GROUP = 11
HEARTBEAT = 12
LEAVE_GROUP = 13
SYNC_GROUP = 14

# Kafka error codes
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82

# Consumer settings that keep group tests fast.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 1000


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(pred, timeout=10.0, interval=0.1, what="condition", on_timeout=None):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            extra = f"\n{on_timeout()}" if on_timeout else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------
_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape_metrics(broker):
    """[(name, {label: value}, float)] from the broker's /metrics."""
    assert broker.metrics_url, f"no metrics URL in ready line: {broker.ready_line}"
    with urllib.request.urlopen(broker.metrics_url, timeout=5) as resp:
        body = resp.read().decode()
    out = []
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels = dict(_LABEL_RE.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric(broker, name, **labels):
    """Sum of the samples of ``name`` whose labels include ``labels``; 0 when
    there is none (a counter that never moved has no sample)."""
    total = 0.0
    for n, l, v in scrape_metrics(broker):
        if n == name and all(l.get(k) == str(want) for k, want in labels.items()):
            total += v
    return total


def group_metrics(broker, group):
    """The per-group samples as {name or name{cause}: value}, for messages."""
    out = {}
    for n, l, v in scrape_metrics(broker):
        if l.get("group") == group and not n.endswith(("_bucket", "_sum", "_count")):
            extra = ",".join(f"{k}={v2}" for k, v2 in sorted(l.items()) if k != "group")
            out[f"{n}{{{extra}}}" if extra else n] = v
    return out


# ---------------------------------------------------------------------------
# consumer protocol (subscription / assignment) encoding
# ---------------------------------------------------------------------------
def consumer_subscription(topics, user_data=b""):
    """ConsumerProtocolSubscription v0."""
    return i16(0) + i32(len(topics)) + b"".join(string(t) for t in topics) + bytes_(user_data)


def consumer_assignment(assignment: dict):
    """ConsumerProtocolAssignment v0 from {topic: [partitions]}."""
    out = i16(0) + i32(len(assignment))
    for topic, parts in assignment.items():
        out += string(topic) + i32(len(parts)) + b"".join(i32(p) for p in parts)
    return out + bytes_(b"")


def parse_assignment(data: bytes) -> dict:
    if not data:
        return {}
    r = kwire.Reader(data)
    r.i16()
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        out[topic] = [r.i32() for _ in range(r.i32())]
    return out


# ---------------------------------------------------------------------------
# raw group requests (non-flexible versions only)
# ---------------------------------------------------------------------------
def find_coordinator_v1(conn, key, key_type=0):
    r = conn.request(FIND_COORDINATOR, 1, string(key) + i8(key_type))
    return dict(throttle_time_ms=r.i32(), error_code=r.i16(), error_message=r.string(),
                node_id=r.i32(), host=r.string(), port=r.i32())


def join_group(conn, version, group, member_id="", *, session_timeout_ms=SESSION_TIMEOUT_MS,
               rebalance_timeout_ms=30000, instance_id=None, protocol_type="consumer",
               protocols=None, topics=("t",)):
    """JoinGroup v0..v5.  Blocks until the coordinator answers (the join
    phase of the group completes or an error is returned)."""
    assert 0 <= version <= 5
    if protocols is None:
        protocols = [("range", consumer_subscription(list(topics)))]
    body = string(group) + i32(session_timeout_ms)
    if version >= 1:
        body += i32(rebalance_timeout_ms)
    body += string(member_id)
    if version >= 5:
        body += string(instance_id)
    body += string(protocol_type) + i32(len(protocols))
    for name, meta in protocols:
        body += string(name) + bytes_(meta)
    r = conn.request(JOIN_GROUP, version, body)
    if version >= 2:
        r.i32()  # throttle
    res = dict(error_code=r.i16(), generation_id=r.i32(), protocol_name=r.string(),
               leader=r.string(), member_id=r.string(), members=[])
    for _ in range(r.i32()):
        mid = r.string()
        inst = r.string() if version >= 5 else None
        res["members"].append(dict(member_id=mid, instance_id=inst, metadata=r.bytes_()))
    assert r.remaining() == 0, f"{r.remaining()} trailing bytes in JoinGroup v{version} response"
    return res


def sync_group(conn, version, group, generation_id, member_id, *, instance_id=None,
               assignments=None):
    """SyncGroup v0..v3; ``assignments`` = {member_id: assignment bytes}."""
    assert 0 <= version <= 3
    assignments = assignments or {}
    body = string(group) + i32(generation_id) + string(member_id)
    if version >= 3:
        body += string(instance_id)
    body += i32(len(assignments))
    for mid, a in assignments.items():
        body += string(mid) + bytes_(a)
    r = conn.request(SYNC_GROUP, version, body)
    if version >= 1:
        r.i32()
    res = dict(error_code=r.i16(), assignment=r.bytes_())
    assert r.remaining() == 0, f"{r.remaining()} trailing bytes in SyncGroup v{version} response"
    return res


def heartbeat(conn, version, group, generation_id, member_id, *, instance_id=None):
    """Heartbeat v0..v3; returns the error code."""
    assert 0 <= version <= 3
    body = string(group) + i32(generation_id) + string(member_id)
    if version >= 3:
        body += string(instance_id)
    r = conn.request(HEARTBEAT, version, body)
    if version >= 1:
        r.i32()
    code = r.i16()
    assert r.remaining() == 0
    return code


def leave_group_v3(conn, group, members):
    """LeaveGroup v3 (batched): members = [(member_id, instance_id)]."""
    body = string(group) + i32(len(members))
    for mid, inst in members:
        body += string(mid) + string(inst)
    r = conn.request(LEAVE_GROUP, 3, body)
    r.i32()
    res = dict(error_code=r.i16(), members=[])
    for _ in range(r.i32()):
        res["members"].append(dict(member_id=r.string(), instance_id=r.string(), error_code=r.i16()))
    return res


def two_static_members(bootstrap, group, timeout=15.0):
    """Builds a Stable group of two static members over raw connections:
    ``a`` joins first (and is the leader), ``b`` joins second.  Returns a dict
    with the connections, instance ids, member ids, generation and
    assignments; the caller closes ``conns``."""
    ia, ib = unique("inst-a"), unique("inst-b")
    ca, cb = kwire.Conn(bootstrap, timeout=timeout), kwire.Conn(bootstrap, timeout=timeout)
    try:
        r = join_group(ca, 5, group, instance_id=ia)
        assert r["error_code"] == 0, f"first static member: {r}"
        a, gen = r["member_id"], r["generation_id"]
        s = sync_group(ca, 3, group, gen, a, instance_id=ia,
                       assignments={a: consumer_assignment({"t": [0, 1]})})
        assert s["error_code"] == 0, s

        # b's JoinGroup parks until a rejoins the rebalance it triggers
        box = {}

        def join_b():
            try:
                box["r"] = join_group(cb, 5, group, instance_id=ib)
            except Exception as exc:  # noqa: BLE001
                box["exc"] = exc

        t = threading.Thread(target=join_b, daemon=True)
        t.start()
        wait_until(lambda: heartbeat(ca, 3, group, gen, a, instance_id=ia) == REBALANCE_IN_PROGRESS,
                   timeout, what="REBALANCE_IN_PROGRESS for the first member after b joined")
        ra = join_group(ca, 5, group, a, instance_id=ia)
        t.join(timeout)
        assert not t.is_alive(), "b's JoinGroup was not answered after a rejoined"
        if "exc" in box:
            raise box["exc"]
        rb = box["r"]
        assert ra["error_code"] == 0 and rb["error_code"] == 0, (ra, rb)
        assert ra["generation_id"] == rb["generation_id"] == gen + 1, (ra, rb)
        assert ra["leader"] == a == rb["leader"], f"the first member stays leader: {ra} {rb}"
        b, gen = rb["member_id"], ra["generation_id"]
        assignments = {a: consumer_assignment({"t": [0]}), b: consumer_assignment({"t": [1]})}
        s = sync_group(ca, 3, group, gen, a, instance_id=ia, assignments=assignments)
        assert s["error_code"] == 0, s
        s = sync_group(cb, 3, group, gen, b, instance_id=ib)
        assert s["error_code"] == 0 and parse_assignment(s["assignment"]) == {"t": [1]}, s
    except BaseException:
        ca.close()
        cb.close()
        raise
    return dict(conns=[ca, cb], ca=ca, cb=cb, ia=ia, ib=ib, a=a, b=b, generation=gen)


# ---------------------------------------------------------------------------
# confluent-kafka group member
# ---------------------------------------------------------------------------
def confluent_consumer_config(bootstrap, group, name, strategy=None, extra=None):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,
        "socket.timeout.ms": 10000,
        "topic.metadata.refresh.interval.ms": 5000,
    }
    if strategy:
        conf["partition.assignment.strategy"] = strategy
    conf.update(extra or {})
    return conf


class ConfluentMember:
    """A subscribed confluent-kafka consumer that records what happens to it.

    ``assigned`` is the current assignment as told by the rebalance callbacks
    (partitions of the subscribed topic); ``events`` lists
    (monotonic time, "assign"|"revoke"|"lost", [partitions]).
    """

    def __init__(self, bootstrap, group, topic, name, strategy=None, extra=None):
        import confluent_kafka
        self.ck = confluent_kafka
        self.name = name
        self.topic = topic
        self.group = group
        self.cooperative = strategy == "cooperative-sticky"
        self.conf = confluent_consumer_config(bootstrap, group, name, strategy, extra)
        self.c = confluent_kafka.Consumer(self.conf)
        self.assigned: set[int] = set()
        self.assign_calls = 0
        self.events: list[tuple[float, str, list[int]]] = []
        self.records: list[tuple[int, int, bytes]] = []  # (partition, offset, value)
        self.errors = []
        self.closed = False
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                         on_lost=self._on_lost)

    # callbacks run inside poll()/consume()
    def _parts(self, parts):
        return sorted(p.partition for p in parts if p.topic == self.topic)

    def _on_assign(self, c, parts):
        ps = self._parts(parts)
        self.assign_calls += 1
        self.events.append((time.monotonic(), "assign", ps))
        if self.cooperative:
            self.assigned |= set(ps)
        else:
            self.assigned = set(ps)

    def _on_revoke(self, c, parts):
        ps = self._parts(parts)
        self.events.append((time.monotonic(), "revoke", ps))
        self.assigned -= set(ps)

    def _on_lost(self, c, parts):
        ps = self._parts(parts)
        self.events.append((time.monotonic(), "lost", ps))
        self.assigned -= set(ps)

    def poll(self, timeout=0.05):
        if self.closed:
            return
        for m in self.c.consume(num_messages=500, timeout=timeout):
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise AssertionError(f"{self.name}: fatal consumer error {err}")
                self.errors.append(err)
                continue
            self.records.append((m.partition(), m.offset(), m.value()))

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()

    def describe(self):
        return (f"{self.name}: assigned={sorted(self.assigned)} assign_calls={self.assign_calls} "
                f"records={len(self.records)} events={[(e[1], e[2]) for e in self.events][-6:]} "
                f"errors={[str(e) for e in self.errors][-3:]}")


def poll_until(members, pred, timeout, what, interval=0.05):
    """Polls every (open) member round-robin until ``pred()`` is true."""
    deadline = time.monotonic() + timeout
    while True:
        for m in members:
            m.poll(interval)
        if pred():
            return time.monotonic()
        if time.monotonic() > deadline:
            detail = "\n".join(m.describe() for m in members)
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{detail}")


def poll_for(members, seconds, interval=0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for m in members:
            m.poll(interval)


def disjoint_cover(assignments, partitions):
    """True if the sets are pairwise disjoint and together exactly ``partitions``."""
    total = sum(len(a) for a in assignments)
    union = set().union(*assignments) if assignments else set()
    return total == len(union) and union == set(partitions)


# ---------------------------------------------------------------------------
# a group member in a child process (can be SIGKILLed)
# ---------------------------------------------------------------------------
class SubprocessMember:
    """Runs ``group_scripts/member.py``; its JSON-line reports are collected
    with the parent's receive time (``time.monotonic()``)."""

    def __init__(self, bootstrap, group, topic, name, extra=None, max_seconds=120):
        conf = confluent_consumer_config(bootstrap, group, name, None, extra)
        self.name = name
        self.lines: list[tuple[float, dict]] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, str(GROUP_SCRIPTS / "member.py"), "--topic", topic,
             "--config", json.dumps(conf), "--max-seconds", str(max_seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
            bufsize=1)
        self._stderr: list[str] = []
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump_out(self):
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                msg = {"event": "garbage", "line": line}
            with self._lock:
                self.lines.append((time.monotonic(), msg))

    def _pump_err(self):
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip())

    def events(self):
        with self._lock:
            return list(self.lines)

    @property
    def assigned(self):
        """Current assignment from the reported eager callbacks."""
        cur = set()
        for _, m in self.events():
            if m.get("event") == "assign":
                cur = set(m["partitions"])
            elif m.get("event") in ("revoke", "lost"):
                cur -= set(m["partitions"])
        return cur

    @property
    def assign_calls(self):
        return sum(1 for _, m in self.events() if m.get("event") == "assign")

    def poll(self, timeout=0.05):
        # the child polls itself; keep the round-robin loop's pace
        time.sleep(min(timeout, 0.02))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self):
        """Graceful: close stdin, the child closes its consumer and exits."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def describe(self):
        evs = [(m.get("event"), m.get("partitions")) for _, m in self.events()][-6:]
        rc = self.proc.poll()
        return (f"{self.name} (pid {self.proc.pid}, exit {rc}): assigned={sorted(self.assigned)} "
                f"events={evs} stderr={self._stderr[-5:]}")


# ---------------------------------------------------------------------------
# kafka-python group member
# ---------------------------------------------------------------------------
class KafkaPythonMember:
    def __init__(self, bootstrap, group, topic, name, extra=None):
        import kafka
        self.kafka = kafka
        self.name = name
        self.topic = topic
        conf = dict(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=name,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            request_timeout_ms=15000,
        )
        conf.update(extra or {})
        self.c = kafka.KafkaConsumer(**conf)
        self.c.subscribe([topic])
        self.records: list[tuple[int, int, bytes]] = []
        self.closed = False

    @property
    def assigned(self):
        if self.closed:
            return set()
        return {tp.partition for tp in self.c.assignment() if tp.topic == self.topic}

    def poll(self, timeout=0.05):
        if self.closed:
            return
        batch = self.c.poll(timeout_ms=int(timeout * 1000))
        for tp, msgs in batch.items():
            for m in msgs:
                self.records.append((tp.partition, m.offset, m.value))

    def close(self, autocommit=False):
        if not self.closed:
            self.closed = True
            self.c.close(autocommit=autocommit)

    def describe(self):
        return f"{self.name}: assigned={sorted(self.assigned)} records={len(self.records)}"
