"""Hand-written wire-protocol tests over raw sockets (no client library)."""

from __future__ import annotations

import os
import random
import struct

import pytest

import kwire
from kwire import i16, i32, string

pytestmark = pytest.mark.raw

CONTRACT_APIS = {
    kwire.PRODUCE: 3, kwire.FETCH: 4, kwire.LIST_OFFSETS: None, kwire.METADATA: 1,
    kwire.API_VERSIONS: 3, kwire.CREATE_TOPICS: None, kwire.DELETE_TOPICS: None,
    kwire.INIT_PRODUCER_ID: None, kwire.DESCRIBE_CONFIGS: None, kwire.CREATE_PARTITIONS: None,
    kwire.INCREMENTAL_ALTER_CONFIGS: None,
}  # api key -> a version the raw tests use (must be advertised), or None


def check_advertised(versions):
    for key, v in CONTRACT_APIS.items():
        assert key in versions, f"api key {key} not advertised: {sorted(versions)}"
        lo, hi = versions[key]
        assert v is None or lo <= v <= hi, f"api key {key}: advertised {lo}..{hi} does not include v{v}"
    for key, (lo, hi) in versions.items():
        assert 0 <= lo <= hi, f"api key {key}: bad range {lo}..{hi}"


def test_api_versions_v0(bootstrap):
    with kwire.Conn(bootstrap) as conn:
        res = kwire.api_versions_v0(conn)
    assert res.error_code == 0
    check_advertised(res.versions)


def test_api_versions_v3(bootstrap):
    with kwire.Conn(bootstrap) as conn:
        res = kwire.api_versions_v3(conn)
    assert res.error_code == 0
    check_advertised(res.versions)


@pytest.mark.parametrize("version", [127, 4000], ids=["v127", "v4000"])
def test_api_versions_unsupported_version(bootstrap, version):
    """Unknown ApiVersions version -> UNSUPPORTED_VERSION (35) with a v0-format
    body listing the supported versions, then the client retries on the same
    connection with a version from that list."""
    with kwire.Conn(bootstrap) as conn:
        # what a future client would send: header v2 + a flexible v3-style body
        body = (kwire.compact_string("future-client") + kwire.compact_string("99.0")
                + kwire.EMPTY_TAGS)
        r = conn.request(kwire.API_VERSIONS, version, body, flexible_header=True)
        res = kwire.parse_api_versions_v0(r)
        assert res.error_code == kwire.UNSUPPORTED_VERSION, res
        assert r.remaining() == 0, f"{r.remaining()} trailing bytes: body is not v0 format"
        assert kwire.API_VERSIONS in res.versions, res.versions
        lo, hi = res.versions[kwire.API_VERSIONS]
        assert lo == 0 and hi >= 3, (lo, hi)
        check_advertised(res.versions)
        # retry with the highest advertised version on the same connection
        retry = kwire.api_versions_v3(conn, version=min(hi, 3))
        assert retry.error_code == 0
        assert retry.versions == res.versions
        assert kwire.api_versions_v0(conn).error_code == 0


def _garbage_frames():
    rnd = random.Random(4242)
    body = bytearray(rnd.randbytes(64))
    body[0:2] = struct.pack(">h", 0x7ABC)  # api key that does not exist
    yield "random-frame", i32(len(body)) + bytes(body)
    yield "length-over-max", i32(104857601) + rnd.randbytes(32)
    yield "length-int-max", i32(0x7FFFFFFF) + rnd.randbytes(32)
    yield "length-negative", i32(-1) + rnd.randbytes(32)
    yield "truncated-header", i32(3) + b"\x00\x03\x00"
    # valid Metadata v1 header, body claims 2^31-1 topics but has none
    hdr = i16(kwire.METADATA) + i16(1) + i32(7) + string("garbage")
    yield "bad-body", i32(len(hdr) + 4) + hdr + i32(0x7FFFFFFF)
    # unknown version of a non-ApiVersions request
    hdr = i16(kwire.METADATA) + i16(9999) + i32(8) + string("garbage")
    yield "unsupported-metadata-version", i32(len(hdr) + 4) + hdr + i32(0)
    noise = bytearray(rnd.randbytes(4096))
    noise[0] = 0x5A  # first 4 bytes read as a huge length
    yield "noise-4k", bytes(noise)


GARBAGE = dict(_garbage_frames())


@pytest.mark.parametrize("frame", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_frame_closes_only_that_connection(broker, frame, topic_name):
    bootstrap = broker.bootstrap
    bystander = kwire.Conn(bootstrap)
    try:
        assert kwire.api_versions_v0(bystander).error_code == 0
        with kwire.Conn(bootstrap) as bad:
            bad.send_raw(frame)
            assert bad.is_closed_by_peer(timeout=5.0), \
                "broker did not close the connection that sent a malformed frame"
        assert broker.alive(), "broker process died"
        # the pre-existing connection still works ...
        assert kwire.api_versions_v0(bystander).error_code == 0
        md = kwire.metadata_v1(bystander, [])
        assert md["brokers"] and md["brokers"][0][0] == 0
    finally:
        bystander.close()
    # ... and so does a brand-new one, for real data
    with kwire.Conn(bootstrap) as fresh:
        batch = kwire.encode_record_batch([(b"k", b"after-garbage")])
        produce_ok(fresh, topic_name, batch)


def produce_ok(conn, topic, batch):
    # default broker auto-creates the topic; retry while it is being created
    import time
    deadline = time.monotonic() + 10
    while True:
        res = kwire.produce_v3(conn, topic, 0, batch)
        err = res[(topic, 0)]["error_code"]
        if err == 0:
            return res[(topic, 0)]
        if err not in (kwire.UNKNOWN_TOPIC_OR_PARTITION, 5, 6) or time.monotonic() > deadline:
            raise AssertionError(f"produce failed with error {err}")
        kwire.metadata_v1(conn, [topic])
        time.sleep(0.2)


def test_raw_produce_fetch_roundtrip(bootstrap, topic_name):
    with kwire.Conn(bootstrap) as conn:
        kwire.metadata_v1(conn, [topic_name])  # auto-create (default broker config)
        recs = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(5)]
        first = produce_ok(conn, topic_name, kwire.encode_record_batch(recs))
        assert first["base_offset"] == 0
        second = produce_ok(conn, topic_name, kwire.encode_record_batch(recs[:2]))
        assert second["base_offset"] == 5
        res = kwire.fetch_v4(conn, topic_name, 0, 0)[(topic_name, 0)]
        assert res["error_code"] == 0 and res["high_watermark"] == 7
        batches = kwire.parse_batch_headers(res["records"])
        assert [(b.base_offset, b.record_count) for b in batches] == [(0, 5), (5, 2)]
        assert all(b.crc_ok and b.magic == 2 for b in batches)


def test_raw_produce_bad_crc_rejected(bootstrap, topic_name):
    """A batch whose CRC does not match is rejected (CORRUPT_MESSAGE, 2) and
    not appended."""
    with kwire.Conn(bootstrap) as conn:
        produce_ok(conn, topic_name, kwire.encode_record_batch([(b"k", b"good")]))
        batch = bytearray(kwire.encode_record_batch([(b"k", b"will-be-corrupted")]))
        batch[-3] ^= 0xFF
        res = kwire.produce_v3(conn, topic_name, 0, bytes(batch))[(topic_name, 0)]
        assert res["error_code"] == 2, res
        hw = kwire.fetch_v4(conn, topic_name, 0, 0)[(topic_name, 0)]["high_watermark"]
        assert hw == 1


def test_raw_produce_unknown_topic_no_auto_create(broker_factory, topic_name):
    b = broker_factory({"auto.create.topics.enable": "false"})
    with kwire.Conn(b.bootstrap) as conn:
        md = kwire.metadata_v1(conn, [topic_name])
        assert md["topics"][topic_name]["error_code"] == kwire.UNKNOWN_TOPIC_OR_PARTITION
        res = kwire.produce_v3(conn, topic_name, 0, kwire.encode_record_batch([(b"k", b"v")]))
        assert res[(topic_name, 0)]["error_code"] == kwire.UNKNOWN_TOPIC_OR_PARTITION, res
        md = kwire.metadata_v1(conn, [])
        assert topic_name not in md["topics"]


def test_raw_metadata_invalid_topic_name(bootstrap):
    with kwire.Conn(bootstrap) as conn:
        md = kwire.metadata_v1(conn, ["bad name!"])
        assert md["topics"]["bad name!"]["error_code"] == kwire.INVALID_TOPIC_EXCEPTION, md
        assert "bad name!" not in kwire.metadata_v1(conn, [])["topics"]


def test_raw_message_too_large(bootstrap, topic_name):
    with kwire.Conn(bootstrap) as conn:
        produce_ok(conn, topic_name, kwire.encode_record_batch([(b"k", b"small")]))
        # default max.message.bytes is 1048588: send a ~1.5 MB batch
        big = kwire.encode_record_batch([(b"k", os.urandom(1_500_000))])
        res = kwire.produce_v3(conn, topic_name, 0, big)[(topic_name, 0)]
        assert res["error_code"] == kwire.MESSAGE_TOO_LARGE, res
        assert kwire.fetch_v4(conn, topic_name, 0, 0)[(topic_name, 0)]["high_watermark"] == 1


def test_raw_produce_acks0_no_response(bootstrap, topic_name):
    with kwire.Conn(bootstrap) as conn:
        produce_ok(conn, topic_name, kwire.encode_record_batch([(b"k", b"first")]))
        kwire.produce_v3(conn, topic_name, 0, kwire.encode_record_batch([(b"k", b"acks0")]),
                         acks=0)
        # the next response on this connection must be for the next request
        # (a broker that wrongly answers acks=0 trips the correlation-id check)
        res = kwire.api_versions_v0(conn)
        assert res.error_code == 0
        import time
        deadline = time.monotonic() + 5
        while kwire.fetch_v4(conn, topic_name, 0, 0)[(topic_name, 0)]["high_watermark"] != 2:
            assert time.monotonic() < deadline, "acks=0 record never appended"
            time.sleep(0.1)


def test_metrics_endpoint(broker):
    """The ready line advertises a Prometheus endpoint that answers."""
    import urllib.request
    assert broker.metrics_url, broker.ready_line
    with urllib.request.urlopen(broker.metrics_url, timeout=5) as resp:
        assert resp.status == 200
        body = resp.read().decode()
    assert "# TYPE" in body or "# HELP" in body, body[:500]


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_raw_list_offsets_every_version(bootstrap, topic_name, version):
    """Each advertised non-flexible ListOffsets version answers correctly
    (librdkafka 2.0 uses v2, newer clients use higher versions)."""
    with kwire.Conn(bootstrap) as conn:
        lo, hi = kwire.api_versions_v0(conn).versions[kwire.LIST_OFFSETS]
        if not lo <= version <= hi:
            pytest.skip(f"ListOffsets v{version} not advertised ({lo}..{hi})")
        produce_ok(conn, topic_name, kwire.encode_record_batch(
            [(b"k", b"a"), (b"k", b"b"), (b"k", b"c")], base_timestamp=1_700_000_000_000))
        earliest = kwire.list_offsets(conn, version, topic_name, 0, kwire.EARLIEST)
        assert earliest["error_code"] == 0 and earliest["offset"] == 0, earliest
        latest = kwire.list_offsets(conn, version, topic_name, 0, kwire.LATEST)
        assert latest["error_code"] == 0 and latest["offset"] == 3, latest
        by_time = kwire.list_offsets(conn, version, topic_name, 0, 1_600_000_000_000)
        assert by_time["error_code"] == 0 and by_time["offset"] == 0, by_time
