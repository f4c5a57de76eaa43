"""A cluster of three kafkalab broker processes (broker + controller voter each):
confluent-kafka produces with acks=all while the partition leader's process is
SIGKILLed; no acknowledged record is lost and a consumer that was reading carries on
from the new leader. The killed process restarts on its log.dirs and rejoins the ISR,
and every replica's log is then byte for byte the same (read from each node with a
Fetch as ReplicaId -2, Kafka's DEBUGGING_CONSUMER_ID).
"""

from __future__ import annotations

import threading
import time

import pytest

import kwire

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

pytestmark = pytest.mark.confluent


def wait_until(what, limit_s, f, step=0.05):
    deadline = time.monotonic() + limit_s
    while True:
        v = f()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def partition_state(bootstrap, topic, p=0):
    """(leader, sorted ISR) from Metadata, or None."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        md = admin.list_topics(topic, timeout=2)
    except confluent_kafka.KafkaException:
        return None
    t = md.topics.get(topic)
    if t is None or t.error is not None or p not in t.partitions:
        return None
    part = t.partitions[p]
    return part.leader, sorted(part.isrs)


def replica_log(bootstrap, topic):
    """Every whole record batch a node holds for partition 0, up to its log end."""
    out, offset = b"", 0
    with kwire.Conn(bootstrap, timeout=5) as conn:
        while True:
            res = kwire.fetch_v4(conn, topic, 0, offset, max_wait_ms=0,
                                 replica_id=-2)[(topic, 0)]
            assert res["error_code"] == 0, res
            headers = kwire.parse_batch_headers(res["records"])
            if not headers:
                return out
            assert all(h.crc_ok for h in headers), "a batch with a bad CRC"
            # Whole batches only (a last one cut at the size limit comes again).
            size = sum(12 + h.batch_length for h in headers)
            out += res["records"][:size]
            last = headers[-1]
            offset = last.base_offset + last.last_offset_delta + 1


def test_sigkill_of_the_leaders_process_loses_no_acknowledged_record(cluster3, topic_name):
    admin = AdminClient({"bootstrap.servers": cluster3.bootstrap()})
    fut = admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=3,
                                        config={"min.insync.replicas": "2"})],
                              operation_timeout=15)
    fut[topic_name].result(timeout=20)
    leader, _ = wait_until("a leader with the full ISR", 15,
                           lambda: (s := partition_state(cluster3.bootstrap(), topic_name))
                           and s[0] >= 0 and len(s[1]) == 3 and s)
    bootstrap = cluster3.bootstrap()

    # A consumer reading along from the start, through the failover.
    consumed: list[bytes] = []
    stop_consuming = threading.Event()

    def consume():
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cluster-test",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 100,
                      "topic.metadata.refresh.interval.ms": 1000})
        c.assign([TopicPartition(topic_name, 0, confluent_kafka.OFFSET_BEGINNING)])
        try:
            while not stop_consuming.is_set():
                m = c.poll(0.1)
                if m is None or m.error():
                    continue
                consumed.append(m.value())
        finally:
            c.close()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()

    acked: list[bytes] = []
    failed: list[str] = []

    def on_delivery(err, msg):
        if err is None:
            acked.append(msg.value())
        else:
            failed.append(str(err))

    prod = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                     "enable.idempotence": True, "linger.ms": 5,
                     "message.timeout.ms": 60000,
                     "topic.metadata.refresh.interval.ms": 1000})
    total = 3000
    killed_at = None
    for i in range(total):
        while True:
            try:
                prod.produce(topic_name, value=f"r{i:05d}".encode(), on_delivery=on_delivery)
                break
            except BufferError:
                prod.poll(0.01)
        prod.poll(0)
        if i % 10 == 9:
            time.sleep(0.01)
        # Kill the leader's process once a third is acknowledged, more in flight.
        if killed_at is None and len(acked) >= total // 3:
            cluster3.kill(leader)
            killed_at = time.monotonic()
    assert killed_at is not None, "the leader was never killed"
    assert prod.flush(60) == 0, "records still in flight"
    assert not failed, f"idempotent producer failed: {failed[:5]}"
    assert len(acked) == total

    new_leader, isr = wait_until(
        "a new leader", 15,
        lambda: (s := partition_state(cluster3.bootstrap(), topic_name)) and s[0] not in (-1, leader) and s)
    assert leader not in isr

    # The reader carries on from the new leader: every acknowledged record, in order,
    # no duplicate.
    wait_until("the reader caught up", 30, lambda: len(consumed) >= len(acked))
    time.sleep(0.5)
    stop_consuming.set()
    reader.join(10)
    assert consumed == sorted(acked), (
        f"consumed {len(consumed)}, acknowledged {len(acked)}; "
        f"missing {len(set(acked) - set(consumed))}, duplicates {len(consumed) - len(set(consumed))}")

    # The killed process returns on its log.dirs and rejoins the ISR.
    cluster3.start(leader)
    wait_until("the restarted node back in the ISR", 30,
               lambda: (s := partition_state(cluster3.bootstrap(), topic_name)) and s[1] == [0, 1, 2])

    # Every replica's log is the same, byte for byte (the new leader's batches).
    logs = wait_until(
        "identical replica logs", 15,
        lambda: (ls := [replica_log(b.bootstrap, topic_name) for b in cluster3.nodes])
        and all(x == ls[0] for x in ls) and ls)
    n = sum(h.record_count for h in kwire.parse_batch_headers(logs[0]))
    assert n == total, f"{n} records in the replicas' logs, {total} acknowledged"
