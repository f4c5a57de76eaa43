"""Minimal hand-written Kafka wire protocol helpers for raw-socket tests.

Only what the raw tests need: framing, request headers v1/v2, ApiVersions
(v0 and v3 responses), Metadata v1, Produce v3, Fetch v4 and a RecordBatch v2
encoder/decoder with a pure-Python CRC-32C.  Everything is built with
``struct`` so the bytes on the wire are exactly what the test says they are.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

# API keys used by the tests
PRODUCE = 0
FETCH = 1
LIST_OFFSETS = 2
METADATA = 3
API_VERSIONS = 18
CREATE_TOPICS = 19
DELETE_TOPICS = 20
INIT_PRODUCER_ID = 22
DESCRIBE_CONFIGS = 32
CREATE_PARTITIONS = 37
INCREMENTAL_ALTER_CONFIGS = 44

# Kafka error codes
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40
TOPIC_DELETION_DISABLED = 73


# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), table driven.
# --------------------------------------------------------------------------
def _make_crc32c_table():
    poly = 0x82F63B78
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --------------------------------------------------------------------------
# Primitive encoders / decoder
# --------------------------------------------------------------------------
def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def bytes_(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def uvarint(v):
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))  # zigzag


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


EMPTY_TAGS = uvarint(0)


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"short read: need {n} bytes at {self.pos}, have {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self._take(1))[0]

    def i16(self):
        return struct.unpack(">h", self._take(2))[0]

    def i32(self):
        return struct.unpack(">i", self._take(4))[0]

    def u32(self):
        return struct.unpack(">I", self._take(4))[0]

    def i64(self):
        return struct.unpack(">q", self._take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self._take(n).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self._take(n)

    def raw(self, n):
        return self._take(n)

    def uvarint(self):
        shift = 0
        result = 0
        while True:
            b = self._take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def compact_array_len(self):
        n = self.uvarint()
        return n - 1

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self._take(self.uvarint())

    def remaining(self):
        return len(self.data) - self.pos


# --------------------------------------------------------------------------
# Connection
# --------------------------------------------------------------------------
def parse_hostport(bootstrap: str):
    host, port = bootstrap.rsplit(":", 1)
    return host, int(port)


class Conn:
    """A raw TCP connection to the broker with request/response framing."""

    def __init__(self, bootstrap: str, timeout: float = 10.0):
        self.sock = socket.create_connection(parse_hostport(bootstrap), timeout=timeout)
        self.sock.settimeout(timeout)
        self.correlation_id = 1000

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)}/{n} bytes")
            buf.extend(chunk)
        return bytes(buf)

    def recv_frame(self) -> bytes:
        (size,) = struct.unpack(">i", self.recv_exact(4))
        if size < 0 or size > 200 * 1024 * 1024:
            raise ValueError(f"bad response frame size {size}")
        return self.recv_exact(size)

    def request(self, api_key: int, api_version: int, body: bytes, *, flexible_header=False,
                client_id="kafkalab-raw-test", expect_response=True):
        """Send one request; return a Reader positioned after the response
        header correlation id (response header v0).  For flexible responses
        (other than ApiVersions) the caller must call ``skip_tags`` itself."""
        self.correlation_id += 1
        cid = self.correlation_id
        header = i16(api_key) + i16(api_version) + i32(cid) + string(client_id)
        if flexible_header:
            header += EMPTY_TAGS
        payload = header + body
        self.send_raw(i32(len(payload)) + payload)
        if not expect_response:
            return None
        frame = self.recv_frame()
        r = Reader(frame)
        got = r.i32()
        if got != cid:
            raise AssertionError(f"correlation id mismatch: sent {cid}, got {got}")
        return r

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True if the peer closes (EOF or reset) within ``timeout`` seconds
        without sending anything else.  Any bytes received count as 'not
        closed' (the broker answered instead of dropping the connection)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not data:
                return True
            return False


# --------------------------------------------------------------------------
# ApiVersions
# --------------------------------------------------------------------------
@dataclass
class ApiVersionsResult:
    error_code: int
    versions: dict = field(default_factory=dict)  # api_key -> (min, max)
    throttle_time_ms: int | None = None


def parse_api_versions_v0(r: Reader) -> ApiVersionsResult:
    err = r.i16()
    n = r.i32()
    versions = {}
    for _ in range(n):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        versions[k] = (lo, hi)
    return ApiVersionsResult(err, versions)


def api_versions_v0(conn: Conn) -> ApiVersionsResult:
    return parse_api_versions_v0(conn.request(API_VERSIONS, 0, b""))


def api_versions_v3(conn: Conn, version: int = 3) -> ApiVersionsResult:
    body = compact_string("kafkalab-raw-test") + compact_string("0.0.1") + EMPTY_TAGS
    r = conn.request(API_VERSIONS, version, body, flexible_header=True)
    # ApiVersions responses always use response header v0 (no tag buffer).
    err = r.i16()
    n = r.compact_array_len()
    versions = {}
    for _ in range(max(n, 0)):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.skip_tags()
        versions[k] = (lo, hi)
    throttle = r.i32()
    r.skip_tags()
    return ApiVersionsResult(err, versions, throttle)


# --------------------------------------------------------------------------
# Metadata v1
# --------------------------------------------------------------------------
def metadata_v1(conn: Conn, topics):
    body = i32(len(topics)) + b"".join(string(t) for t in topics)
    r = conn.request(METADATA, 1, body)
    brokers = []
    for _ in range(r.i32()):
        brokers.append((r.i32(), r.string(), r.i32(), r.string()))
    controller = r.i32()
    out = {}
    for _ in range(r.i32()):
        err = r.i16()
        name = r.string()
        _internal = r.i8()
        parts = {}
        for _ in range(r.i32()):
            perr, pidx, leader = r.i16(), r.i32(), r.i32()
            replicas = [r.i32() for _ in range(r.i32())]
            isr = [r.i32() for _ in range(r.i32())]
            parts[pidx] = dict(error_code=perr, leader=leader, replicas=replicas, isr=isr)
        out[name] = dict(error_code=err, partitions=parts)
    return dict(brokers=brokers, controller=controller, topics=out)


# --------------------------------------------------------------------------
# Record batches (magic 2)
# --------------------------------------------------------------------------
def encode_record_batch(records, *, base_timestamp=None, attributes=0, base_offset=0):
    """records: list of (key: bytes|None, value: bytes|None). Uncompressed."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    recs = bytearray()
    for i, (key, value) in enumerate(records):
        body = bytearray()
        body += i8(0)  # record attributes
        body += varint(0)  # timestamp delta
        body += varint(i)  # offset delta
        body += varint(-1) if key is None else varint(len(key)) + key
        body += varint(-1) if value is None else varint(len(value)) + value
        body += varint(0)  # headers
        recs += varint(len(body)) + body
    n = len(records)
    after_crc = (
        i16(attributes)
        + i32(n - 1)  # last offset delta
        + i64(base_timestamp)
        + i64(base_timestamp)  # max timestamp
        + i64(-1)  # producer id
        + i16(-1)  # producer epoch
        + i32(-1)  # base sequence
        + i32(n)
        + bytes(recs)
    )
    crc = crc32c(after_crc)
    # batchLength counts from partitionLeaderEpoch to the end
    rest = i32(-1) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(base_offset) + i32(len(rest)) + rest


@dataclass
class BatchHeader:
    base_offset: int
    batch_length: int
    magic: int
    crc: int
    crc_ok: bool
    attributes: int
    last_offset_delta: int
    producer_id: int
    base_sequence: int
    record_count: int

    @property
    def compression(self):
        return self.attributes & 0x07


def parse_batch_headers(data: bytes):
    """Walk the RECORDS blob of a fetch response and return batch headers.
    A trailing partial batch (allowed by the protocol) is ignored."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break  # partial trailing batch
        magic = data[pos + 16]
        (crc,) = struct.unpack_from(">I", data, pos + 17)
        attrs, lod = struct.unpack_from(">hi", data, pos + 21)
        (producer_id,) = struct.unpack_from(">q", data, pos + 43)
        (base_seq, count) = struct.unpack_from(">ii", data, pos + 53)
        out.append(BatchHeader(base_offset, length, magic, crc,
                               crc32c(data[pos + 21:end]) == crc, attrs, lod,
                               producer_id, base_seq, count))
        pos = end
    return out


# --------------------------------------------------------------------------
# Produce v3 / Fetch v4
# --------------------------------------------------------------------------
def produce_v3(conn: Conn, topic: str, partition: int, batch: bytes, acks: int = -1,
               timeout_ms: int = 10000):
    body = (string(None) + i16(acks) + i32(timeout_ms) + i32(1) + string(topic)
            + i32(1) + i32(partition) + bytes_(batch))
    r = conn.request(PRODUCE, 3, body, expect_response=(acks != 0))
    if r is None:
        return None
    res = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            idx, err, base, log_append = r.i32(), r.i16(), r.i64(), r.i64()
            res[(name, idx)] = dict(error_code=err, base_offset=base, log_append_time=log_append)
    return res


def fetch_v4(conn: Conn, topic: str, partition: int, offset: int, max_wait_ms=500,
             max_bytes=10 * 1024 * 1024, replica_id=-1):
    """replica_id -2 (DEBUGGING_CONSUMER_ID) reads any replica up to its log end."""
    body = (i32(replica_id) + i32(max_wait_ms) + i32(1) + i32(max_bytes) + i8(0)
            + i32(1) + string(topic) + i32(1) + i32(partition) + i64(offset) + i32(max_bytes))
    r = conn.request(FETCH, 4, body)
    _throttle = r.i32()
    res = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            idx, err, hw, lso = r.i32(), r.i16(), r.i64(), r.i64()
            n_aborted = r.i32()
            for _ in range(max(n_aborted, 0)):
                r.i64(), r.i64()
            records = r.bytes_() or b""
            res[(name, idx)] = dict(error_code=err, high_watermark=hw, records=records)
    return res


# --------------------------------------------------------------------------
# ListOffsets v1..v5 (non-flexible)
# --------------------------------------------------------------------------
EARLIEST = -2
LATEST = -1


def list_offsets(conn: Conn, version: int, topic: str, partition: int, timestamp: int):
    """Returns dict(error_code, timestamp, offset[, leader_epoch])."""
    assert 1 <= version <= 5, "only the non-flexible versions 1..5 are encoded here"
    body = i32(-1)  # replica_id
    if version >= 2:
        body += i8(0)  # isolation_level READ_UNCOMMITTED
    body += i32(1) + string(topic) + i32(1) + i32(partition)
    if version >= 4:
        body += i32(-1)  # current_leader_epoch
    body += i64(timestamp)
    r = conn.request(LIST_OFFSETS, version, body)
    if version >= 2:
        r.i32()  # throttle_time_ms
    out = None
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            idx, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
            res = dict(error_code=err, timestamp=ts, offset=off)
            if version >= 4:
                res["leader_epoch"] = r.i32()
            if name == topic and idx == partition:
                out = res
    if r.remaining():
        raise AssertionError(f"{r.remaining()} trailing bytes in ListOffsets v{version} response")
    return out
