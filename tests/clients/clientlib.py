"""Thin adapters giving confluent-kafka and kafka-python the same interface,
so the same check can be parametrised over both clients.

Every operation is bounded by a timeout; broker/client errors are normalised
to ``ClientError(code, message)`` where ``code`` is the Kafka error code
(or a librdkafka local negative code when the error never reached the wire).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

ADMIN_TIMEOUT_S = 15.0
FLUSH_TIMEOUT_S = 30.0
CONSUME_TIMEOUT_S = 30.0
# After the expected count has been consumed keep polling this long to catch
# duplicates / unexpected extra records.
EXTRA_POLL_S = 1.0


class ClientError(Exception):
    def __init__(self, code, message=""):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


class UnsupportedByClient(Exception):
    """The installed client version cannot perform this operation."""


class RejectedLocally(UnsupportedByClient):
    """The client library refused the input itself (e.g. ValueError) so the
    request never reached the broker."""


@dataclass
class Rec:
    partition: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None = None


@dataclass
class Delivered:
    error_code: int
    partition: int
    offset: int


@dataclass
class Consumed:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int


def make_client(kind: str, bootstrap: str):
    if kind == "confluent":
        return ConfluentClient(bootstrap)
    if kind == "kafka-python":
        return KafkaPythonClient(bootstrap)
    raise ValueError(kind)


# ===========================================================================
# confluent-kafka
# ===========================================================================
class ConfluentClient:
    kind = "confluent"

    def __init__(self, bootstrap):
        import confluent_kafka
        self.ck = confluent_kafka
        self.bootstrap = bootstrap
        self._admin = None
        self._closers = []

    @property
    def version(self):
        ver = getattr(self.ck, "__version__", None) or self.ck.version()[0]
        return f"confluent-kafka {ver} / librdkafka {self.ck.libversion()[0]}"

    def close(self):
        for c in self._closers:
            try:
                c()
            except Exception:
                pass
        self._closers.clear()

    @property
    def admin(self):
        if self._admin is None:
            from confluent_kafka.admin import AdminClient
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap,
                                       "socket.timeout.ms": 10000})
        return self._admin

    def _err(self, exc):
        from confluent_kafka import KafkaException
        if isinstance(exc, KafkaException) and exc.args and hasattr(exc.args[0], "code"):
            e = exc.args[0]
            return ClientError(e.code(), f"{e.name()}: {e.str()}")
        return exc

    def _wait_all(self, futures, timeout=ADMIN_TIMEOUT_S):
        out = {}
        for k, f in futures.items():
            try:
                out[k] = f.result(timeout=timeout)
            except Exception as exc:  # noqa: BLE001
                raise self._err(exc) from exc
        return out

    # -- admin -----------------------------------------------------------
    def create_topic(self, name, partitions=1, replication_factor=1, configs=None,
                     validate_only=False):
        from confluent_kafka.admin import NewTopic
        try:
            fs = self.admin.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                          config=dict(configs or {}))],
                validate_only=validate_only, request_timeout=ADMIN_TIMEOUT_S,
                operation_timeout=ADMIN_TIMEOUT_S)
        except (ValueError, TypeError) as exc:
            raise RejectedLocally(f"{self.version} rejected the request locally: {exc}") from exc
        self._wait_all(fs)

    def delete_topic(self, name):
        fs = self.admin.delete_topics([name], request_timeout=ADMIN_TIMEOUT_S,
                                      operation_timeout=ADMIN_TIMEOUT_S)
        self._wait_all(fs)

    def create_partitions(self, name, total):
        from confluent_kafka.admin import NewPartitions
        fs = self.admin.create_partitions([NewPartitions(name, total)],
                                          request_timeout=ADMIN_TIMEOUT_S,
                                          operation_timeout=ADMIN_TIMEOUT_S)
        self._wait_all(fs)

    def list_topics(self):
        """{topic: partition_count} for all topics (no auto-creation)."""
        md = self.admin.list_topics(timeout=ADMIN_TIMEOUT_S)
        return {name: len(t.partitions) for name, t in md.topics.items() if t.error is None}

    def topic_metadata(self, name):
        """Metadata for one topic: {partition: leader}; raises ClientError on
        a topic-level error code."""
        md = self.admin.list_topics(topic=name, timeout=ADMIN_TIMEOUT_S)
        t = md.topics.get(name)
        if t is None:
            raise ClientError(-1, "topic missing from metadata response")
        if t.error is not None:
            raise ClientError(t.error.code(), t.error.str())
        return {p.id: p.leader for p in t.partitions.values()}

    def describe_topic_config(self, name):
        from confluent_kafka.admin import ConfigResource
        res = ConfigResource("topic", name)
        out = self._wait_all(self.admin.describe_configs([res], request_timeout=ADMIN_TIMEOUT_S))
        entries = out[res] if res in out else next(iter(out.values()))
        return {k: v.value for k, v in entries.items()}

    def incremental_alter_topic_config(self, name, configs):
        ck_admin = self.ck.admin
        if not hasattr(self.admin, "incremental_alter_configs"):
            raise UnsupportedByClient(
                f"{self.version}: AdminClient.incremental_alter_configs requires confluent-kafka >= 2.2.0")
        from confluent_kafka.admin import ConfigEntry, ConfigResource
        entries = [ConfigEntry(k, v, incremental_operation=ck_admin.AlterConfigOpType.SET)
                   for k, v in configs.items()]
        res = ConfigResource("topic", name, incremental_configs=entries)
        self._wait_all(self.admin.incremental_alter_configs([res], request_timeout=ADMIN_TIMEOUT_S))

    # -- produce ---------------------------------------------------------
    def produce(self, topic, records, acks=-1, compression=None, idempotent=False,
                extra_config=None):
        conf = {
            "bootstrap.servers": self.bootstrap,
            "acks": str(acks),
            "linger.ms": 5,
            "message.timeout.ms": 20000,
            "socket.timeout.ms": 10000,
            "enable.idempotence": bool(idempotent),
            "compression.type": compression or "none",
        }
        conf.update(extra_config or {})
        p = self.ck.Producer(conf)
        results: list[Delivered | None] = [None] * len(records)

        def cb_for(i):
            def cb(err, msg):
                if err is not None:
                    results[i] = Delivered(err.code(), msg.partition(), -1)
                else:
                    results[i] = Delivered(0, msg.partition(), msg.offset())
            return cb

        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        for i, r in enumerate(records):
            kwargs = dict(value=r.value, key=r.key, on_delivery=cb_for(i))
            if r.partition is not None:
                kwargs["partition"] = r.partition
            if r.timestamp is not None:
                kwargs["timestamp"] = r.timestamp
            while True:
                try:
                    p.produce(topic, **kwargs)
                    break
                except BufferError:
                    if time.monotonic() > deadline:
                        raise TimeoutError("producer queue full for too long")
                    p.poll(0.05)
            p.poll(0)
        left = p.flush(max(1.0, deadline - time.monotonic()))
        if left:
            raise TimeoutError(f"{left} messages still in flight after {FLUSH_TIMEOUT_S}s")
        return results

    # -- consume ---------------------------------------------------------
    def _consumer(self):
        c = self.ck.Consumer({
            "bootstrap.servers": self.bootstrap,
            # librdkafka requires group.id even for assign(); we never commit.
            "group.id": f"kafkalab-test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 100,
            "socket.timeout.ms": 10000,
        })
        self._closers.append(c.close)
        return c

    def consume(self, topic, partitions, expected, timeout=CONSUME_TIMEOUT_S,
                start_offsets=None):
        """Read from the beginning (or ``start_offsets[p]``) of the given
        partitions until ``expected`` records arrived (+EXTRA_POLL_S more to
        catch duplicates) or ``timeout``.  Returns {partition: [Consumed]}."""
        ck = self.ck
        c = self._consumer()
        start_offsets = start_offsets or {}
        c.assign([ck.TopicPartition(topic, p, start_offsets.get(p, ck.OFFSET_BEGINNING))
                  for p in partitions])
        out = {p: [] for p in partitions}
        n = 0
        deadline = time.monotonic() + timeout
        extra_deadline = None
        try:
            while True:
                now = time.monotonic()
                if now > deadline or (extra_deadline and now > extra_deadline):
                    break
                for m in c.consume(num_messages=1000, timeout=0.2):
                    if m.error():
                        raise ClientError(m.error().code(), m.error().str())
                    out[m.partition()].append(
                        Consumed(m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1]))
                    n += 1
                if n >= expected and extra_deadline is None:
                    extra_deadline = time.monotonic() + EXTRA_POLL_S
        finally:
            c.close()
            self._closers.remove(c.close)
        return out

    # -- offsets ---------------------------------------------------------
    def watermarks(self, topic, partition):
        c = self._consumer()
        try:
            return c.get_watermark_offsets(self.ck.TopicPartition(topic, partition),
                                           timeout=ADMIN_TIMEOUT_S, cached=False)
        except Exception as exc:  # noqa: BLE001
            raise self._err(exc) from exc
        finally:
            c.close()
            self._closers.remove(c.close)

    def offsets_for_times(self, topic, partition, timestamp_ms):
        """First offset whose timestamp >= timestamp_ms, or None."""
        c = self._consumer()
        try:
            res = c.offsets_for_times([self.ck.TopicPartition(topic, partition, timestamp_ms)],
                                      timeout=ADMIN_TIMEOUT_S)
            tp = res[0]
            if tp.error is not None:
                raise ClientError(tp.error.code(), tp.error.str())
            return None if tp.offset < 0 else tp.offset
        except ClientError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._err(exc) from exc
        finally:
            c.close()
            self._closers.remove(c.close)


# ===========================================================================
# kafka-python
# ===========================================================================
class KafkaPythonClient:
    kind = "kafka-python"

    def __init__(self, bootstrap):
        import kafka
        self.kafka = kafka
        self.bootstrap = bootstrap
        self._admin = None
        self._closers = []

    @property
    def version(self):
        return f"kafka-python {self.kafka.__version__}"

    def close(self):
        for c in self._closers:
            try:
                c()
            except Exception:
                pass
        self._closers.clear()

    @property
    def admin(self):
        if self._admin is None:
            self._admin = self.kafka.KafkaAdminClient(
                bootstrap_servers=self.bootstrap, request_timeout_ms=int(ADMIN_TIMEOUT_S * 1000),
                client_id="kafkalab-test-admin")
            self._closers.append(self._admin.close)
        return self._admin

    def _err(self, exc):
        from kafka.errors import KafkaError
        if isinstance(exc, KafkaError) and getattr(exc, "errno", None) is not None:
            return ClientError(exc.errno, f"{type(exc).__name__}: {exc}")
        return exc

    def _call(self, fn, *a, **kw):
        from kafka.errors import KafkaError
        try:
            return fn(*a, **kw)
        except KafkaError as exc:
            raise self._err(exc) from exc
        except (ValueError, TypeError) as exc:
            raise RejectedLocally(f"{self.version} rejected the request locally: {exc}") from exc

    # -- admin -----------------------------------------------------------
    def create_topic(self, name, partitions=1, replication_factor=1, configs=None,
                     validate_only=False):
        self._call(self.admin.create_topics,
                   {name: {"num_partitions": partitions,
                           "replication_factor": replication_factor,
                           "configs": dict(configs or {})}},
                   timeout_ms=int(ADMIN_TIMEOUT_S * 1000), validate_only=validate_only)

    def delete_topic(self, name):
        self._call(self.admin.delete_topics, [name], timeout_ms=int(ADMIN_TIMEOUT_S * 1000))

    def create_partitions(self, name, total):
        self._call(self.admin.create_partitions, {name: total},
                   timeout_ms=int(ADMIN_TIMEOUT_S * 1000))

    def list_topics(self):
        topics = self._call(self.admin.describe_topics)
        return {t["name"]: len(t["partitions"]) for t in topics if t.get("error_code", 0) == 0}

    def topic_metadata(self, name):
        topics = self._call(self.admin.describe_topics, [name])
        for t in topics:
            if t["name"] == name:
                if t.get("error_code", 0):
                    raise ClientError(t["error_code"], "topic error in metadata")
                return {p["partition_index"]: p["leader_id"] for p in t["partitions"]}
        raise ClientError(-1, "topic missing from metadata response")

    def describe_topic_config(self, name):
        from kafka.admin import ConfigResource
        res = self._call(self.admin.describe_configs, [ConfigResource("TOPIC", name)],
                         config_filter="all")
        entries = res["topic"][name]
        return {k: v.get("value") for k, v in entries.items()}

    def incremental_alter_topic_config(self, name, configs):
        from kafka.admin import ConfigResource
        res = self._call(self.admin.alter_configs, [ConfigResource("TOPIC", name, dict(configs))],
                         raise_on_unknown=False, incremental=True)
        # kafka-python returns {'topic': {name: 'OK' | 'SomeError: message'}}
        result = res.get("topic", {}).get(name)
        if result != "OK":
            import re
            m = re.search(r"\[Error (-?\d+)\]", str(result))
            raise ClientError(int(m.group(1)) if m else -1, str(result))
        return res

    # -- produce ---------------------------------------------------------
    def produce(self, topic, records, acks=-1, compression=None, idempotent=False,
                extra_config=None):
        conf = dict(
            bootstrap_servers=self.bootstrap,
            acks="all" if acks == -1 else acks,
            linger_ms=5,
            request_timeout_ms=10000,
            delivery_timeout_ms=20000,
            max_block_ms=15000,
            compression_type=compression,
            enable_idempotence=bool(idempotent),
        )
        conf.update(extra_config or {})
        p = self._call(self.kafka.KafkaProducer, **conf)
        futures = []
        try:
            for r in records:
                futures.append(self._call(p.send, topic, key=r.key, value=r.value,
                                          partition=r.partition, timestamp_ms=r.timestamp))
            self._call(p.flush, timeout=FLUSH_TIMEOUT_S)
            results = []
            for f in futures:
                try:
                    md = f.get(timeout=FLUSH_TIMEOUT_S)
                    results.append(Delivered(0, md.partition, md.offset))
                except Exception as exc:  # noqa: BLE001
                    e = self._err(exc)
                    if not isinstance(e, ClientError):
                        raise
                    results.append(Delivered(e.code, -1, -1))
            return results
        finally:
            p.close(timeout=10)

    # -- consume ---------------------------------------------------------
    def _consumer(self):
        c = self.kafka.KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            request_timeout_ms=15000,
            client_id="kafkalab-test-consumer",
        )
        self._closers.append(c.close)
        return c

    def consume(self, topic, partitions, expected, timeout=CONSUME_TIMEOUT_S,
                start_offsets=None):
        from kafka import TopicPartition
        c = self._consumer()
        tps = [TopicPartition(topic, p) for p in partitions]
        start_offsets = start_offsets or {}
        out = {p: [] for p in partitions}
        n = 0
        try:
            c.assign(tps)
            for tp in tps:
                if tp.partition in start_offsets:
                    c.seek(tp, start_offsets[tp.partition])
                else:
                    c.seek_to_beginning(tp)
            deadline = time.monotonic() + timeout
            extra_deadline = None
            while True:
                now = time.monotonic()
                if now > deadline or (extra_deadline and now > extra_deadline):
                    break
                batch = self._call(c.poll, timeout_ms=200)
                for tp, msgs in batch.items():
                    for m in msgs:
                        out[tp.partition].append(
                            Consumed(tp.partition, m.offset, m.key, m.value, m.timestamp))
                        n += 1
                if n >= expected and extra_deadline is None:
                    extra_deadline = time.monotonic() + EXTRA_POLL_S
        finally:
            c.close()
            self._closers.remove(c.close)
        return out

    # -- offsets ---------------------------------------------------------
    def watermarks(self, topic, partition):
        from kafka import TopicPartition
        tp = TopicPartition(topic, partition)
        c = self._consumer()
        try:
            low = self._call(c.beginning_offsets, [tp], timeout_ms=int(ADMIN_TIMEOUT_S * 1000))[tp]
            high = self._call(c.end_offsets, [tp], timeout_ms=int(ADMIN_TIMEOUT_S * 1000))[tp]
            return low, high
        finally:
            c.close()
            self._closers.remove(c.close)

    def offsets_for_times(self, topic, partition, timestamp_ms):
        from kafka import TopicPartition
        tp = TopicPartition(topic, partition)
        c = self._consumer()
        try:
            res = self._call(c.offsets_for_times, {tp: timestamp_ms},
                             timeout_ms=int(ADMIN_TIMEOUT_S * 1000))
            v = res.get(tp)
            return None if v is None else v.offset
        finally:
            c.close()
            self._closers.remove(c.close)
