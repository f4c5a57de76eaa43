"""Checks that only make sense with librdkafka (confluent-kafka)."""

from __future__ import annotations

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from clientlib import ConfluentClient, Rec  # noqa: E402
import kwire  # noqa: E402

pytestmark = pytest.mark.confluent


def test_versions_under_test():
    # printed with -v/-rA so the report shows which librdkafka ran
    print(f"confluent-kafka {confluent_kafka.__version__}, librdkafka {confluent_kafka.libversion()[0]}")


def test_produce_unknown_topic_no_auto_create(broker_factory, topic_name):
    """librdkafka resolves the topic through Metadata first; the broker's
    UNKNOWN_TOPIC_OR_PARTITION makes the delivery fail (librdkafka reports
    either the broker code 3 or its local _UNKNOWN_TOPIC, -188)."""
    b = broker_factory({"auto.create.topics.enable": "false"})
    c = ConfluentClient(b.bootstrap)
    try:
        d = c.produce(topic_name, [Rec(0, b"k", b"v")], acks=-1,
                      extra_config={"topic.metadata.propagation.max.ms": 2000,
                                    "message.timeout.ms": 10000})
        assert d[0].error_code in (kwire.UNKNOWN_TOPIC_OR_PARTITION, -188), d
        assert topic_name not in c.list_topics()
    finally:
        c.close()

