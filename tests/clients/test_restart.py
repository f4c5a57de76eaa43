"""Durability across broker restarts on the same log.dirs."""

from __future__ import annotations

import pytest

from clientlib import Rec
from test_produce_consume import assert_consumed_in_order, make_records


@pytest.mark.parametrize("acks", [1, -1], ids=["acks1", "acksall"])
@pytest.mark.parametrize("kill", [True, False], ids=["sigkill", "sigterm"])
def test_restart_keeps_acknowledged_records(make_client, broker_factory, topic_name, acks, kill):
    partitions, n = 2, 200
    b = broker_factory()
    c = make_client(b.bootstrap)
    c.create_topic(topic_name, partitions=partitions, configs={"retention.ms": "86400000"})
    records = make_records(n, partitions, prefix="before")
    delivered = c.produce(topic_name, records, acks=acks)
    assert all(d.error_code == 0 for d in delivered)
    c.close()

    b.restart(kill=kill)
    c = make_client(b.bootstrap)  # new ephemeral port
    assert c.list_topics().get(topic_name) == partitions, "topic lost across restart"
    for p in range(partitions):
        assert c.watermarks(topic_name, p) == (0, n // partitions), f"partition {p} watermarks"
    assert_consumed_in_order(c.consume(topic_name, list(range(partitions)), n), records, partitions)

    # offsets continue after the restart
    more = [Rec(i % partitions, f"after-{i}".encode(), f"after-{i}".encode()) for i in range(40)]
    delivered = c.produce(topic_name, more, acks=-1)
    assert all(d.error_code == 0 for d in delivered)
    for p in range(partitions):
        offs = [d.offset for d, r in zip(delivered, more) if r.partition == p]
        assert offs == list(range(n // partitions, n // partitions + 20)), f"partition {p}: {offs}"
    assert_consumed_in_order(c.consume(topic_name, list(range(partitions)), n + 40),
                             records + more, partitions)


def test_restart_keeps_topic_configs(make_client, broker_factory, topic_name):
    b = broker_factory()
    c = make_client(b.bootstrap)
    c.create_topic(topic_name, partitions=1, configs={"retention.ms": "123456789",
                                                      "max.message.bytes": "65536"})
    c.close()
    b.restart(kill=True)
    c = make_client(b.bootstrap)
    cfg = c.describe_topic_config(topic_name)
    assert cfg.get("retention.ms") == "123456789", cfg
    assert cfg.get("max.message.bytes") == "65536", cfg


def test_restart_after_delete_and_recreate(make_client, broker_factory, topic_name):
    """A deleted topic stays deleted; a re-created one starts at offset 0."""
    b = broker_factory()
    c = make_client(b.bootstrap)
    c.create_topic(topic_name, partitions=1)
    assert all(d.error_code == 0 for d in c.produce(topic_name, make_records(10, 1)))
    c.delete_topic(topic_name)
    import time
    deadline = time.monotonic() + 10
    while topic_name in c.list_topics():
        assert time.monotonic() < deadline, "topic not deleted"
        time.sleep(0.1)
    c.create_topic(topic_name, partitions=1)
    assert c.watermarks(topic_name, 0) == (0, 0)
    recs = make_records(3, 1, prefix="second")
    assert all(d.error_code == 0 for d in c.produce(topic_name, recs))
    c.close()
    b.restart(kill=True)
    c = make_client(b.bootstrap)
    assert c.watermarks(topic_name, 0) == (0, 3)
    assert_consumed_in_order(c.consume(topic_name, [0], 3), recs, 1)
