"""Produce / Fetch / ListOffsets through both client libraries."""

from __future__ import annotations

import os
import time

import pytest

from clientlib import Rec
import kwire

CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def make_records(n, partitions, prefix="v", value_pad=0, timestamp=None):
    return [Rec(partition=i % partitions,
                key=f"k-{i}".encode(),
                value=(f"{prefix}-{i}-".encode() + b"x" * value_pad),
                timestamp=timestamp)
            for i in range(n)]


def assert_consumed_in_order(consumed, records, partitions):
    """Every partition holds exactly its records, in production order, at
    contiguous offsets starting at 0; no duplicates, nothing missing."""
    for p in range(partitions):
        want = [(r.key, r.value) for r in records if r.partition == p]
        got = consumed.get(p, [])
        got_kv = [(m.key, m.value) for m in got]
        if got_kv != want:
            missing = len(set(want) - set(got_kv))
            dups = len(got_kv) - len(set(got_kv))
            raise AssertionError(
                f"partition {p}: got {len(got_kv)} records, want {len(want)} "
                f"(missing {missing}, duplicates {dups}); first mismatch at "
                f"{next((i for i, (a, b) in enumerate(zip(got_kv, want)) if a != b), min(len(got_kv), len(want)))}")
        offsets = [m.offset for m in got]
        assert offsets == list(range(len(want))), f"partition {p}: offsets not contiguous from 0: {offsets[:10]}..."


def raw_batches(bootstrap, topic, partition):
    with kwire.Conn(bootstrap) as conn:
        res = kwire.fetch_v4(conn, topic, partition, 0)
    part = res[(topic, partition)]
    assert part["error_code"] == 0, part
    return kwire.parse_batch_headers(part["records"])


# ---------------------------------------------------------------------------
@pytest.mark.parametrize("acks", [0, 1, -1], ids=["acks0", "acks1", "acksall"])
def test_produce_acks_and_consume(client, topic_name, acks):
    partitions, n = 3, 300
    client.create_topic(topic_name, partitions=partitions)
    records = make_records(n, partitions)
    delivered = client.produce(topic_name, records, acks=acks)
    errors = [d for d in delivered if d.error_code != 0]
    assert not errors, f"delivery errors: {errors[:5]}"
    if acks != 0:
        for p in range(partitions):
            offs = [d.offset for d, r in zip(delivered, records) if r.partition == p]
            assert offs == list(range(len(offs))), f"partition {p} acked offsets {offs[:10]}..."
    consumed = client.consume(topic_name, list(range(partitions)), n)
    assert_consumed_in_order(consumed, records, partitions)


@pytest.mark.parametrize("codec", list(CODEC_IDS))
def test_producer_compression(client, bootstrap, topic_name, codec):
    n = 500
    client.create_topic(topic_name, partitions=1)
    records = make_records(n, 1, prefix=f"{codec}", value_pad=200)
    delivered = client.produce(topic_name, records, acks=-1,
                               compression=None if codec == "none" else codec)
    assert all(d.error_code == 0 for d in delivered), [d for d in delivered if d.error_code][:3]
    consumed = client.consume(topic_name, [0], n)
    assert_consumed_in_order(consumed, records, 1)
    # compression.type=producer (default): the broker keeps the producer's codec
    batches = raw_batches(bootstrap, topic_name, 0)
    assert batches, "no record batches fetched"
    assert all(b.crc_ok for b in batches), "fetched batch with bad CRC-32C"
    assert {b.compression for b in batches} == {CODEC_IDS[codec]}, (
        f"stored codecs {[b.compression for b in batches]}, producer was configured with {codec} "
        "(librdkafka silently sends lz4 uncompressed when the broker's ApiVersions lacks "
        "FindCoordinator, which it uses as the LZ4 feature probe)")
    assert sum(b.record_count for b in batches) == n


@pytest.mark.parametrize("producer_codec", ["none", "lz4"])
def test_topic_compression_type_gzip(make_client, bootstrap, topic_name, producer_codec):
    """topic compression.type=gzip: broker re-compresses whatever it gets."""
    producer = make_client(bootstrap)
    producer.create_topic(topic_name, partitions=1, configs={"compression.type": "gzip"})
    assert producer.describe_topic_config(topic_name).get("compression.type") == "gzip"
    n = 200
    records = make_records(n, 1, value_pad=100)
    delivered = producer.produce(topic_name, records, acks=-1,
                                 compression=None if producer_codec == "none" else producer_codec)
    assert all(d.error_code == 0 for d in delivered)
    batches = raw_batches(bootstrap, topic_name, 0)
    assert batches and all(b.crc_ok for b in batches)
    assert {b.compression for b in batches} == {CODEC_IDS["gzip"]}, \
        f"stored codecs {[b.compression for b in batches]}, expected gzip"
    assert_consumed_in_order(producer.consume(topic_name, [0], n), records, 1)


def test_topic_compression_type_uncompressed(client, bootstrap, topic_name):
    client.create_topic(topic_name, partitions=1, configs={"compression.type": "uncompressed"})
    n = 100
    records = make_records(n, 1, value_pad=100)
    assert all(d.error_code == 0 for d in client.produce(topic_name, records, compression="gzip"))
    batches = raw_batches(bootstrap, topic_name, 0)
    assert {b.compression for b in batches} == {0}, [b.compression for b in batches]
    assert_consumed_in_order(client.consume(topic_name, [0], n), records, 1)


def test_broker_wide_compression_type(make_client, broker_factory, topic_name):
    b = broker_factory({"compression.type": "zstd"})
    c = make_client(b.bootstrap)
    c.create_topic(topic_name, partitions=1)
    records = make_records(50, 1, value_pad=50)
    assert all(d.error_code == 0 for d in c.produce(topic_name, records))
    batches = raw_batches(b.bootstrap, topic_name, 0)
    assert {x.compression for x in batches} == {CODEC_IDS["zstd"]}, [x.compression for x in batches]
    assert_consumed_in_order(c.consume(topic_name, [0], 50), records, 1)


def test_idempotent_producer(client, bootstrap, topic_name):
    partitions, n = 3, 3000
    client.create_topic(topic_name, partitions=partitions)
    records = make_records(n, partitions, prefix="idem")
    delivered = client.produce(topic_name, records, acks=-1, idempotent=True)
    assert all(d.error_code == 0 for d in delivered), [d for d in delivered if d.error_code][:3]
    consumed = client.consume(topic_name, list(range(partitions)), n, timeout=60)
    assert_consumed_in_order(consumed, records, partitions)
    # the batches carry a producer id and sequence numbers (InitProducerId worked)
    for p in range(partitions):
        batches = raw_batches(bootstrap, topic_name, p)
        assert batches
        pids = {b.producer_id for b in batches}
        assert len(pids) == 1 and -1 not in pids, f"producer ids in partition {p}: {pids}"
        seq = 0
        for b in batches:
            assert b.base_sequence == seq, f"partition {p}: batch base_sequence {b.base_sequence}, want {seq}"
            seq += b.record_count


def test_list_offsets(client, topic_name):
    client.create_topic(topic_name, partitions=2)
    assert client.watermarks(topic_name, 0) == (0, 0)
    base = int(time.time() * 1000) - 600_000
    records = [Rec(partition=0, key=f"k{i}".encode(), value=f"v{i}".encode(),
                   timestamp=base + i * 1000) for i in range(10)]
    assert all(d.error_code == 0 for d in client.produce(topic_name, records, acks=-1))
    assert client.watermarks(topic_name, 0) == (0, 10)
    assert client.watermarks(topic_name, 1) == (0, 0)
    assert client.offsets_for_times(topic_name, 0, base - 5000) == 0
    assert client.offsets_for_times(topic_name, 0, base) == 0
    assert client.offsets_for_times(topic_name, 0, base + 5000) == 5
    assert client.offsets_for_times(topic_name, 0, base + 5500) == 6
    assert client.offsets_for_times(topic_name, 0, base + 9000) == 9
    assert client.offsets_for_times(topic_name, 0, base + 9001) is None
    consumed = client.consume(topic_name, [0], 10)[0]
    assert [m.timestamp for m in consumed] == [base + i * 1000 for i in range(10)]


def test_consume_from_offset(client, topic_name):
    client.create_topic(topic_name, partitions=1)
    records = make_records(20, 1)
    assert all(d.error_code == 0 for d in client.produce(topic_name, records))
    got = client.consume(topic_name, [0], 5, start_offsets={0: 15})[0]
    assert [m.offset for m in got] == [15, 16, 17, 18, 19]
    assert [m.value for m in got] == [r.value for r in records[15:]]


def test_large_records(client, topic_name):
    client.create_topic(topic_name, partitions=1)
    records = [Rec(0, f"big-{i}".encode(), os.urandom(300_000)) for i in range(5)]
    assert all(d.error_code == 0 for d in client.produce(topic_name, records))
    assert_consumed_in_order(client.consume(topic_name, [0], 5), records, 1)


def test_null_key_and_empty_value(client, topic_name):
    client.create_topic(topic_name, partitions=1)
    records = [Rec(0, None, b"no-key"), Rec(0, b"empty-value", b""), Rec(0, b"k", b"v")]
    assert all(d.error_code == 0 for d in client.produce(topic_name, records))
    got = client.consume(topic_name, [0], 3)[0]
    assert [(m.key, m.value) for m in got] == [(None, b"no-key"), (b"empty-value", b""), (b"k", b"v")]


# ---------------------------------------------------------------------------
# error rules on the data path
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["topic-config", "broker-config"])
def test_message_too_large(make_client, broker_factory, bootstrap, topic_name, where):
    if where == "topic-config":
        boot = bootstrap
        configs = {"max.message.bytes": "4096"}
    else:
        boot = broker_factory({"message.max.bytes": "4096"}).bootstrap
        configs = {}
    c = make_client(boot)
    c.create_topic(topic_name, partitions=1, configs=configs)
    small = Rec(0, b"small", os.urandom(1000))
    big = Rec(0, b"big", os.urandom(10_000))  # incompressible, single-record batch
    d_small = c.produce(topic_name, [small], acks=-1)
    assert d_small[0].error_code == 0, d_small
    d_big = c.produce(topic_name, [big], acks=-1)
    assert d_big[0].error_code == kwire.MESSAGE_TOO_LARGE, \
        f"expected MESSAGE_TOO_LARGE (10), got {d_big[0]}"
    assert c.watermarks(topic_name, 0) == (0, 1)


@pytest.mark.parametrize("partitions", [3])
def test_auto_create_on_produce(make_client, broker_factory, topic_name, partitions):
    b = broker_factory({"auto.create.topics.enable": "true", "num.partitions": str(partitions)})
    c = make_client(b.bootstrap)
    records = [Rec(None, b"k", b"auto-created")]
    d = c.produce(topic_name, records, acks=-1)
    assert d[0].error_code == 0, d
    assert c.list_topics().get(topic_name) == partitions
