"""Topic administration through the admin clients of both libraries:
CreateTopics (incl. validate_only), Metadata, DescribeConfigs,
IncrementalAlterConfigs, CreatePartitions, DeleteTopics, and the error rules."""

from __future__ import annotations

import time
import uuid

import pytest

from clientlib import ClientError, RejectedLocally, UnsupportedByClient
import kwire


def wait_until(pred, timeout=10.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def expect_code(code, fn, *a, **kw):
    """Assert the call fails with Kafka error ``code``.  If the client library
    validates the input itself and never sends it, the broker rule cannot be
    checked through this client: skip (the raw-socket tests cover the wire)."""
    try:
        with pytest.raises(ClientError) as ei:
            fn(*a, **kw)
    except RejectedLocally as e:
        pytest.skip(str(e))
    assert ei.value.code == code, f"expected Kafka error {code}, got {ei.value}"
    return ei.value


# ---------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------
def test_topic_lifecycle(client, topic_name):
    """create -> list/describe -> grow partitions -> delete."""
    client.create_topic(topic_name, partitions=3, configs={"retention.ms": "3600000",
                                                           "cleanup.policy": "delete"})
    topics = client.list_topics()
    assert topics.get(topic_name) == 3, f"{topic_name} not listed with 3 partitions: {topics}"

    leaders = client.topic_metadata(topic_name)
    assert sorted(leaders) == [0, 1, 2]
    assert set(leaders.values()) == {0}, f"single broker must be leader of all partitions: {leaders}"

    cfg = client.describe_topic_config(topic_name)
    assert cfg.get("retention.ms") == "3600000", cfg
    assert cfg.get("cleanup.policy") == "delete", cfg
    # a default that was not overridden is still described
    assert "max.message.bytes" in cfg, sorted(cfg)

    client.create_partitions(topic_name, 5)
    wait_until(lambda: client.list_topics().get(topic_name) == 5, what="5 partitions")
    assert sorted(client.topic_metadata(topic_name)) == [0, 1, 2, 3, 4]

    client.delete_topic(topic_name)
    wait_until(lambda: topic_name not in client.list_topics(), what="topic deletion")


def test_create_validate_only_does_not_create(client, topic_name):
    client.create_topic(topic_name, partitions=2, validate_only=True)
    time.sleep(0.3)
    assert topic_name not in client.list_topics()
    # and then it can really be created
    client.create_topic(topic_name, partitions=2)
    assert client.list_topics().get(topic_name) == 2


def test_create_validate_only_reports_errors(client, topic_name):
    client.create_topic(topic_name, partitions=1)
    expect_code(kwire.TOPIC_ALREADY_EXISTS, client.create_topic, topic_name, validate_only=True)
    expect_code(kwire.INVALID_TOPIC_EXCEPTION, client.create_topic, "bad name!", validate_only=True)


def test_create_with_default_partitions(make_client, broker_factory, topic_name):
    """partitions=-1 / replication_factor=-1 (KIP-464) use the broker defaults."""
    b = broker_factory({"num.partitions": "4"})
    c = make_client(b.bootstrap)
    if c.kind == "confluent":
        import confluent_kafka
        if confluent_kafka.libversion()[1] < 0x02000000:
            pytest.skip("librdkafka < 2.0 cannot send -1 partitions")
    c.create_topic(topic_name, partitions=-1, replication_factor=-1)
    assert c.list_topics().get(topic_name) == 4


def test_incremental_alter_configs(client, topic_name):
    client.create_topic(topic_name, partitions=1, configs={"retention.ms": "3600000"})
    try:
        client.incremental_alter_topic_config(topic_name, {"retention.ms": "7200000"})
    except UnsupportedByClient as e:
        pytest.skip(str(e))
    cfg = client.describe_topic_config(topic_name)
    assert cfg.get("retention.ms") == "7200000", cfg
    # other configs untouched (incremental, not a full replace)
    client.incremental_alter_topic_config(topic_name, {"segment.bytes": "1048576"})
    cfg = client.describe_topic_config(topic_name)
    assert cfg.get("retention.ms") == "7200000", cfg
    assert cfg.get("segment.bytes") == "1048576", cfg


def test_incremental_alter_configs_invalid_value(client, topic_name):
    client.create_topic(topic_name, partitions=1)
    try:
        expect_code(kwire.INVALID_CONFIG, client.incremental_alter_topic_config,
                    topic_name, {"retention.ms": "not-a-number"})
    except UnsupportedByClient as e:
        pytest.skip(str(e))


def test_topic_name_249_chars_is_valid(client):
    name = ("m-" + uuid.uuid4().hex).ljust(249, "x")
    assert len(name) == 249
    client.create_topic(name, partitions=1)
    assert name in client.list_topics()
    client.delete_topic(name)
    wait_until(lambda: name not in client.list_topics(), what="deletion of 249-char topic")


# ---------------------------------------------------------------------------
# error rules
# ---------------------------------------------------------------------------
INVALID_NAMES = {
    "space": "bad name",
    "slash": "bad/name",
    "star": "bad*topic",
    "unicode": "topic-\u00e9",
    "too-long-250": "a" * 250,
    "dot": ".",
    "dotdot": "..",
    "empty": "",
}


@pytest.mark.parametrize("name", INVALID_NAMES.values(), ids=INVALID_NAMES.keys())
def test_create_invalid_topic_name(client, name):
    expect_code(kwire.INVALID_TOPIC_EXCEPTION, client.create_topic, name, partitions=1)
    if name:
        assert name not in client.list_topics()


def test_create_existing_topic(client, topic_name):
    client.create_topic(topic_name, partitions=2)
    expect_code(kwire.TOPIC_ALREADY_EXISTS, client.create_topic, topic_name, partitions=2)
    assert client.list_topics().get(topic_name) == 2


@pytest.mark.parametrize("total", [3, 2], ids=["same", "fewer"])
def test_create_partitions_same_or_fewer(client, topic_name, total):
    client.create_topic(topic_name, partitions=3)
    expect_code(kwire.INVALID_PARTITIONS, client.create_partitions, topic_name, total)
    assert client.list_topics().get(topic_name) == 3


def test_create_partitions_unknown_topic(client, topic_name):
    expect_code(kwire.UNKNOWN_TOPIC_OR_PARTITION, client.create_partitions, topic_name, 3)


def test_replication_factor_too_large(client, topic_name):
    expect_code(kwire.INVALID_REPLICATION_FACTOR, client.create_topic, topic_name,
                partitions=1, replication_factor=2)
    assert topic_name not in client.list_topics()


@pytest.mark.parametrize("partitions", [0, -2], ids=["zero", "minus-two"])
def test_invalid_partition_count(client, topic_name, partitions):
    expect_code(kwire.INVALID_PARTITIONS, client.create_topic, topic_name, partitions=partitions)


BAD_CONFIGS = {
    "retention-ms-nan": {"retention.ms": "not-a-number"},
    "cleanup-policy": {"cleanup.policy": "bogus"},
    "compression-type": {"compression.type": "brotli"},
    "max-message-bytes-negative": {"max.message.bytes": "-5"},
    "unknown-key": {"no.such.topic.config": "1"},
}


@pytest.mark.parametrize("configs", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_create_with_invalid_config(client, topic_name, configs):
    expect_code(kwire.INVALID_CONFIG, client.create_topic, topic_name, partitions=1,
                configs=configs)
    assert topic_name not in client.list_topics()


def test_delete_unknown_topic(client, topic_name):
    expect_code(kwire.UNKNOWN_TOPIC_OR_PARTITION, client.delete_topic, topic_name)


def test_delete_disabled(make_client, broker_factory, topic_name):
    b = broker_factory({"delete.topic.enable": "false"})
    c = make_client(b.bootstrap)
    c.create_topic(topic_name, partitions=1)
    expect_code(kwire.TOPIC_DELETION_DISABLED, c.delete_topic, topic_name)
    assert topic_name in c.list_topics()


def test_metadata_unknown_topic_no_auto_create(make_client, broker_factory, topic_name):
    b = broker_factory({"auto.create.topics.enable": "false"})
    c = make_client(b.bootstrap)
    expect_code(kwire.UNKNOWN_TOPIC_OR_PARTITION, c.topic_metadata, topic_name)
    assert topic_name not in c.list_topics()
