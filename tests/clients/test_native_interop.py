"""kafkalab's CLI tools (native client) against confluent-kafka (librdkafka).

- confluent-kafka produces; ``kafkalab consume --from-beginning --max-messages N``
  prints them back identically (key, value, partition, offset);
- ``kafkalab produce`` (stdin, keyed) writes; a confluent-kafka consumer reads the same
  keys and values, on the partitions confluent's own ``murmur2_random`` picks;
- ``kafkalab topics --create/--describe/--alter/--delete`` round trip, checked through
  confluent-kafka's admin client;
- ``kafkalab groups --describe`` shows a confluent-kafka group's members, committed
  offsets and lag, and ``--delete`` removes it.

The binary is ``$KAFKALAB_BIN`` (as for the broker fixtures, see conftest.py).
Run from tests/clients: ``python -m pytest test_native_interop.py``.
"""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from conftest import broker_bin

confluent_kafka = pytest.importorskip("confluent_kafka")

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

pytestmark = pytest.mark.confluent

TOOL_TIMEOUT_S = 60.0
ADMIN_TIMEOUT_S = 15.0
CONSUME_TIMEOUT_S = 30.0


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def kafkalab(bootstrap, *args, stdin: bytes | None = None, timeout=TOOL_TIMEOUT_S):
    """Runs ``kafkalab <args> --bootstrap-server <bootstrap>``; returns the
    CompletedProcess (stdout/stderr as bytes)."""
    argv = [str(broker_bin()), *args, "--bootstrap-server", bootstrap]
    return subprocess.run(argv, input=stdin if stdin is not None else b"",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, check=False)


def ok(proc):
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout.decode(errors='replace')}\n"
        f"stderr:\n{proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


_admins: dict[str, AdminClient] = {}


def admin(bootstrap):
    """One admin client per broker, kept alive (a dropped client fails its futures)."""
    if bootstrap not in _admins:
        _admins[bootstrap] = AdminClient({"bootstrap.servers": bootstrap,
                                          "socket.timeout.ms": 10000})
    return _admins[bootstrap]


@pytest.fixture(autouse=True)
def _drop_admins():
    yield
    _admins.clear()


def create_topic(bootstrap, name, partitions):
    fs = admin(bootstrap).create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)],
        request_timeout=ADMIN_TIMEOUT_S, operation_timeout=ADMIN_TIMEOUT_S)
    for f in fs.values():
        f.result(timeout=ADMIN_TIMEOUT_S)


def partition_counts(bootstrap):
    md = admin(bootstrap).list_topics(timeout=ADMIN_TIMEOUT_S)
    return {n: len(t.partitions) for n, t in md.topics.items() if t.error is None}


def wait_for(cond, what, timeout=ADMIN_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def confluent_produce(bootstrap, topic, records, **extra):
    """records: [(key|None, value)]; returns [(partition, offset)] per record."""
    conf = {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
            "partitioner": "murmur2_random", "message.timeout.ms": 20000}
    conf.update(extra)
    p = Producer(conf)
    out = [None] * len(records)

    def cb_for(i):
        def cb(err, msg):
            out[i] = (err, msg.partition(), msg.offset())
        return cb

    for i, (k, v) in enumerate(records):
        p.produce(topic, key=k, value=v, on_delivery=cb_for(i))
        p.poll(0)
    left = p.flush(30)
    assert left == 0, f"{left} records not delivered"
    for i, r in enumerate(out):
        assert r is not None and r[0] is None, f"record {i}: {r}"
    return [(r[1], r[2]) for r in out]


def confluent_consume_all(bootstrap, topic, partitions, expected):
    """Every record of the topic (assign from the beginning): {(p, o): (key, value)}."""
    c = Consumer({"bootstrap.servers": bootstrap,
                  "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                  for p in range(partitions)])
        got = {}
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        extra_until = None
        while time.monotonic() < deadline and (extra_until is None
                                               or time.monotonic() < extra_until):
            m = c.poll(0.2)
            if m is None:
                pass
            elif m.error():
                raise AssertionError(f"consumer error: {m.error()}")
            else:
                at = (m.partition(), m.offset())
                assert at not in got, f"{at} delivered twice"
                got[at] = (m.key(), m.value())
            if len(got) >= expected and extra_until is None:
                extra_until = time.monotonic() + 1.0
        return got
    finally:
        c.close()


def table_rows(text):
    """Rows of a kafka-consumer-groups style table: [{HEADER: value}]."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header_i = next(i for i, ln in enumerate(lines) if ln.startswith("GROUP "))
    header = lines[header_i].split()
    # "COORDINATOR (ID)" is one column made of two words.
    if "(ID)" in header:
        i = header.index("(ID)")
        header[i - 1:i + 1] = ["COORDINATOR (ID)"]
    rows = []
    for ln in lines[header_i + 1:]:
        cells = ln.split()
        if "COORDINATOR (ID)" in header:
            i = header.index("COORDINATOR (ID)")
            cells[i:i + 2] = [f"{cells[i]} {cells[i + 1]}"]
        rows.append(dict(zip(header, cells)))
    return rows


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------
def test_confluent_produces_kafkalab_consumes(bootstrap, topic_name):
    create_topic(bootstrap, topic_name, 3)
    records = [(None if i % 5 == 0 else f"key-{i}".encode(),
                f"value-{i}-\u00e9\u00e8-{'z' * (i % 40)}".encode()) for i in range(60)]
    placed = confluent_produce(bootstrap, topic_name, records)
    want = {at: rec for at, rec in zip(placed, records)}

    proc = kafkalab(bootstrap, "consume", "--topic", topic_name, "--from-beginning",
                    "--max-messages", str(len(records)), "--timeout-ms", "20000",
                    "--property", "print.key=true", "--property", "print.partition=true",
                    "--property", "print.offset=true")
    out = ok(proc)
    assert f"Processed a total of {len(records)} messages" in proc.stderr.decode()
    got = {}
    for line in out.splitlines():
        part, off, key, value = line.split("\t")
        assert part.startswith("Partition:") and off.startswith("Offset:"), line
        at = (int(part[len("Partition:"):]), int(off[len("Offset:"):]))
        assert at not in got, f"{at} printed twice"
        got[at] = (None if key == "null" else key.encode(), value.encode())
    assert got == want

    # Values only, the default format.
    proc = kafkalab(bootstrap, "consume", "--topic", topic_name, "--from-beginning",
                    "--max-messages", str(len(records)), "--timeout-ms", "20000")
    values = ok(proc).splitlines()
    assert sorted(v.encode() for v in values) == sorted(v for _, v in records)


def test_kafkalab_produces_keyed_confluent_consumes(bootstrap, topic_name):
    partitions = 6
    reference = f"{topic_name}-ref"
    create_topic(bootstrap, topic_name, partitions)
    create_topic(bootstrap, reference, partitions)
    records = [(f"key-{i % 23}".encode(), f"value-{i}".encode()) for i in range(120)]
    stdin = b"".join(k + b":" + v + b"\n" for k, v in records)
    proc = kafkalab(bootstrap, "produce", "--topic", topic_name,
                    "--property", "parse.key=true", "--property", "key.separator=:",
                    "--producer-property", "acks=all", stdin=stdin)
    assert ok(proc) == "", "the console producer prints nothing on success"
    assert proc.stderr == b"", proc.stderr.decode()

    # Where confluent-kafka's own murmur2_random puts each key.
    placed = confluent_produce(bootstrap, reference, records)
    confluent_partition = {k: p for (k, _), (p, _) in zip(records, placed)}

    got = confluent_consume_all(bootstrap, topic_name, partitions, len(records))
    assert len(got) == len(records)
    by_partition = {}
    for (p, o), (k, v) in sorted(got.items()):
        assert p == confluent_partition[k], (
            f"key {k!r}: kafkalab produce put it on {p}, murmur2_random on {confluent_partition[k]}")
        by_partition.setdefault(p, []).append((k, v))
    # Each partition holds its keys' records in input order.
    for p, recs in by_partition.items():
        assert recs == [r for r in records if confluent_partition[r[0]] == p]


def test_topics_round_trip(bootstrap, topic_name):
    out = ok(kafkalab(bootstrap, "topics", "--create", "--topic", topic_name,
                      "--partitions", "3", "--replication-factor", "1",
                      "--config", "retention.ms=123456"))
    assert out.strip() == f"Created topic {topic_name}."
    assert partition_counts(bootstrap).get(topic_name) == 3
    res = ConfigResource("topic", topic_name)
    cfg = admin(bootstrap).describe_configs([res], request_timeout=ADMIN_TIMEOUT_S)
    entries = next(iter(cfg.values())).result(timeout=ADMIN_TIMEOUT_S)
    assert entries["retention.ms"].value == "123456"

    assert topic_name in ok(kafkalab(bootstrap, "topics", "--list")).splitlines()

    desc = ok(kafkalab(bootstrap, "topics", "--describe", "--topic", topic_name)).splitlines()
    head = desc[0].split("\t")
    assert head[0] == f"Topic: {topic_name}"
    assert head[1].startswith("TopicId: ")
    assert head[2:4] == ["PartitionCount: 3", "ReplicationFactor: 1"]
    assert head[4].startswith("Configs: ") and "retention.ms=123456" in head[4]
    # The id librdkafka reports (standard base64) is the one printed (Java's URL-safe).
    # (describe_topics needs confluent-kafka >= 2.3.)
    topic_collection = getattr(confluent_kafka, "TopicCollection", None)
    if topic_collection is not None:
        d = admin(bootstrap).describe_topics(topic_collection([topic_name]),
                                             request_timeout=ADMIN_TIMEOUT_S)
        td = d[topic_name].result(timeout=ADMIN_TIMEOUT_S)
        assert head[1][len("TopicId: "):] == \
            str(td.topic_id).replace("+", "-").replace("/", "_")
    leaders = {p.id: p.leader for p in
               admin(bootstrap).list_topics(topic_name, timeout=ADMIN_TIMEOUT_S)
               .topics[topic_name].partitions.values()}
    assert len(desc) == 4
    for p, line in enumerate(desc[1:]):
        cells = line.strip("\t").split("\t")
        assert cells[:3] == [f"Topic: {topic_name}", f"Partition: {p}", f"Leader: {leaders[p]}"]
        assert cells[3] == f"Replicas: {leaders[p]}" and cells[4] == f"Isr: {leaders[p]}"

    dup = kafkalab(bootstrap, "topics", "--create", "--topic", topic_name, "--partitions", "3")
    assert dup.returncode != 0
    assert b"TOPIC_ALREADY_EXISTS" in dup.stderr

    ok(kafkalab(bootstrap, "topics", "--alter", "--topic", topic_name, "--partitions", "5"))
    wait_for(lambda: partition_counts(bootstrap).get(topic_name) == 5, "5 partitions")

    ok(kafkalab(bootstrap, "topics", "--delete", "--topic", topic_name))
    wait_for(lambda: topic_name not in partition_counts(bootstrap), "topic deleted")
    gone = kafkalab(bootstrap, "topics", "--delete", "--topic", topic_name)
    assert gone.returncode != 0
    assert b"UNKNOWN_TOPIC_OR_PARTITION" in gone.stderr
    ok(kafkalab(bootstrap, "topics", "--delete", "--topic", topic_name, "--if-exists"))
    missing = kafkalab(bootstrap, "topics", "--describe", "--topic", topic_name)
    assert missing.returncode != 0
    assert b"UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr


def test_groups_describe_confluent_group(bootstrap, topic_name):
    create_topic(bootstrap, topic_name, 2)
    records = [(None, f"v{i}".encode()) for i in range(30)]
    # 15 records on each partition.
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, (_, v) in enumerate(records):
        p.produce(topic_name, value=v, partition=i % 2)
    assert p.flush(30) == 0
    group = f"g-{uuid.uuid4().hex[:8]}"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "client.id": "interop-client", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
                  "heartbeat.interval.ms": 500})
    try:
        c.subscribe([topic_name])
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while len(c.assignment()) < 2:
            assert time.monotonic() < deadline, "the confluent consumer got no assignment"
            c.poll(0.2)
        c.commit(offsets=[TopicPartition(topic_name, 0, 10), TopicPartition(topic_name, 1, 4)],
                 asynchronous=False)
        member = c.memberid()

        rows = table_rows(ok(kafkalab(bootstrap, "groups", "--describe", "--group", group)))
        by_p = {int(r["PARTITION"]): r for r in rows}
        assert set(by_p) == {0, 1}
        for part, (cur, end, lag) in {0: (10, 15, 5), 1: (4, 15, 11)}.items():
            r = by_p[part]
            assert (r["GROUP"], r["TOPIC"]) == (group, topic_name)
            assert (int(r["CURRENT-OFFSET"]), int(r["LOG-END-OFFSET"]), int(r["LAG"])) == (cur, end, lag)
            assert r["CONSUMER-ID"] == member
            assert r["CLIENT-ID"] == "interop-client"

        members = table_rows(ok(kafkalab(bootstrap, "groups", "--describe", "--group", group,
                                         "--members")))
        assert len(members) == 1
        assert members[0]["CONSUMER-ID"] == member
        assert members[0]["#PARTITIONS"] == "2"
        assert members[0]["ASSIGNMENT"] == f"{topic_name}(0,1)"

        state = table_rows(ok(kafkalab(bootstrap, "groups", "--describe", "--group", group,
                                       "--state")))
        assert state[0]["STATE"] == "Stable" and state[0]["#MEMBERS"] == "1"

        assert group in ok(kafkalab(bootstrap, "groups", "--list")).splitlines()
        busy = kafkalab(bootstrap, "groups", "--delete", "--group", group)
        assert busy.returncode != 0 and b"NON_EMPTY_GROUP" in busy.stderr
    finally:
        c.close()

    out = ok(kafkalab(bootstrap, "groups", "--describe", "--group", group))
    assert f"Consumer group '{group}' has no active members." in out
    rows = table_rows(out)
    assert {(int(r["PARTITION"]), int(r["CURRENT-OFFSET"]), int(r["LAG"]), r["CONSUMER-ID"])
            for r in rows} == {(0, 10, 5, "-"), (1, 4, 11, "-")}

    out = ok(kafkalab(bootstrap, "groups", "--delete", "--group", group))
    assert f"Deletion of requested consumer groups ('{group}') was successful." in out
    assert group not in ok(kafkalab(bootstrap, "groups", "--list")).splitlines()
    missing = kafkalab(bootstrap, "groups", "--describe", "--group", group)
    assert missing.returncode != 0
    assert f"Consumer group '{group}' does not exist." in missing.stderr.decode()
