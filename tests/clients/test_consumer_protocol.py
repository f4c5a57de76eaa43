"""KIP-848 consumer protocol (group.protocol=consumer, ConsumerGroupHeartbeat):
server-side assignment handed out incrementally, no group-wide pause."""

from __future__ import annotations

import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

pytestmark = [
    pytest.mark.confluent,
    pytest.mark.skipif(confluent_kafka.libversion()[1] < 0x020A0000,
                       reason="group.protocol=consumer is GA in librdkafka >= 2.10"),
]


def _consumer(bootstrap, group, events, name):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
    })
    return c, (lambda _c, parts: events.append((name, "assign", {p.partition for p in parts}))), \
        (lambda _c, parts: events.append((name, "revoke", {p.partition for p in parts})))


def test_second_member_gets_partitions_incrementally(broker_factory, topic_name):
    b = broker_factory({"group.consumer.heartbeat.interval.ms": "300"})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic_name, 6, 1)])[topic_name].result(timeout=15)
    p = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(600):
        p.produce(topic_name, key=str(i).encode(), value=b"v")
    assert p.flush(15) == 0

    events: list = []
    c1, a1, r1 = _consumer(b.bootstrap, "kip848", events, "c1")
    c1.subscribe([topic_name], on_assign=a1, on_revoke=r1)
    consumers = [c1]
    seen = 0
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not any(e[:2] == ("c1", "assign") and len(e[2]) == 6 for e in events):
            m = c1.poll(0.2)
            seen += m is not None and m.error() is None
        assert any(e[:2] == ("c1", "assign") and e[2] == set(range(6)) for e in events), events

        c2, a2, r2 = _consumer(b.bootstrap, "kip848", events, "c2")
        c2.subscribe([topic_name], on_assign=a2, on_revoke=r2)
        consumers.append(c2)
        deadline = time.time() + 30
        while time.time() < deadline and not any(e[0] == "c2" and e[1] == "assign" and e[2] for e in events):
            for c in consumers:
                m = c.poll(0.1)
                seen += m is not None and m.error() is None
        c2_assigned = set().union(*[e[2] for e in events if e[:2] == ("c2", "assign")])
        c1_revoked = set().union(*[e[2] for e in events if e[:2] == ("c1", "revoke")])
        assert len(c2_assigned) == 3, events
        # Incremental: c1 gives up exactly what c2 receives, and keeps the rest.
        assert c1_revoked == c2_assigned, events

        desc = admin.list_consumer_groups().result(timeout=15)
        assert "kip848" in {g.group_id for g in desc.valid}
    finally:
        for c in consumers:
            c.close()


def test_slow_revocation_is_not_fenced(broker_factory, topic_name):
    """Issue 15: a member that takes a moment in on_revoke keeps its membership.

    librdkafka sends RebalanceTimeoutMs only when joining and -1 ("unchanged", KIP-848)
    afterwards; a coordinator that took the -1 for a zero timeout fenced the revoking
    member about a second later (cause rebalance_timeout), its commit answered
    UNKNOWN_MEMBER_ID and the second member read the records again."""
    b = broker_factory({"group.consumer.heartbeat.interval.ms": "300"})
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic_name, 6, 1)])[topic_name].result(timeout=15)
    p = Producer({"bootstrap.servers": b.bootstrap})
    for i in range(600):
        p.produce(topic_name, key=str(i).encode(), value=str(i).encode(), partition=i % 6)
    assert p.flush(15) == 0

    def consumer():
        return Consumer({
            "bootstrap.servers": b.bootstrap,
            "group.id": "slow-revoke",
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        })

    seen: list = []
    events: list = []
    commit_errors: list = []
    c1 = consumer()

    def c1_assign(_c, parts):
        events.append(("c1", "assign", {q.partition for q in parts}))

    def c1_revoke(c, parts):
        events.append(("c1", "revoke", {q.partition for q in parts}))
        # A member that takes a moment to finish its work before giving the partitions
        # up (the case): well within its rebalance timeout (300 s by default),
        # but longer than a few coordinator ticks.
        time.sleep(2.5)
        try:
            c.commit(asynchronous=False)
        except Exception as e:  # KafkaException carries the Kafka error name
            commit_errors.append(str(e))

    def c1_lost(_c, parts):
        events.append(("c1", "lost", {q.partition for q in parts}))

    c1.subscribe([topic_name], on_assign=c1_assign, on_revoke=c1_revoke, on_lost=c1_lost)
    consumers = [c1]

    def drain(c, name):
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            seen.append((name, m.partition(), m.offset()))

    try:
        deadline = time.time() + 30
        while time.time() < deadline and len(seen) < 600:
            drain(c1, "c1")
        assert len(seen) == 600, (len(seen), events)

        c2 = consumer()
        c2.subscribe([topic_name], on_assign=lambda _c, parts: events.append(
            ("c2", "assign", {q.partition for q in parts})))
        consumers.append(c2)
        deadline = time.time() + 40
        while time.time() < deadline and not any(e[0] == "c2" and e[1] == "assign" and e[2] for e in events):
            drain(c1, "c1")
            drain(c2, "c2")
        assert any(e[0] == "c2" and e[1] == "assign" and e[2] for e in events), events
        # Let the members heartbeat a few times more (the fencing came ~1 s after the
        # revocation) and read anything that would be delivered again.
        deadline = time.time() + 3
        while time.time() < deadline:
            drain(c1, "c1")
            drain(c2, "c2")
        assert commit_errors == [], commit_errors
        assert not any(e[1] == "lost" for e in events), events
        # c1 kept the partitions it was not asked to give up: one revocation of three.
        revoked = [e[2] for e in events if e[:2] == ("c1", "revoke")]
        assert len(revoked) == 1 and len(revoked[0]) == 3, events
        dup = len(seen) - len(set((part, off) for _n, part, off in seen))
        assert dup == 0, f"{dup} records delivered twice; events {events}"
    finally:
        for c in consumers:
            c.close()
