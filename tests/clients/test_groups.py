"""Consumer groups against the kafkalab group coordinator, with real clients.

Partition assignment and hand-over (eager and cooperative-sticky), clean
leave vs. session expiry of a killed member, static membership, committed
offsets across a broker restart, the coordinator's error codes on the wire,
and the group admin APIs of confluent-kafka and kafka-python.

Every test starts its own broker with ``group.initial.rebalance.delay.ms=0``
(so the first rebalance is not delayed by the 3 s default) and uses unique
topic / group names; consumers use session.timeout.ms=6000 and
heartbeat.interval.ms=1000 unless a test says otherwise.  Helpers live in
``groups_support.py``; the killable member is ``group_scripts/member.py``.
"""

from __future__ import annotations

import time

import pytest

import kwire
from clientlib import ConfluentClient, KafkaPythonClient, Rec
from groups_support import (
    FENCED_INSTANCE_ID, GROUP_ID_NOT_FOUND, ILLEGAL_GENERATION, INVALID_SESSION_TIMEOUT,
    MEMBER_ID_REQUIRED, NON_EMPTY_GROUP, SESSION_TIMEOUT_MS, UNKNOWN_MEMBER_ID,
    ConfluentMember, KafkaPythonMember, SubprocessMember, consumer_assignment,
    consumer_subscription, disjoint_cover, find_coordinator_v1, group_metrics, heartbeat,
    join_group, leave_group_v3, metric, parse_assignment, poll_for, poll_until, sync_group,
    two_static_members, unique, wait_until,
)

FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0"}
# time allowed for a group of librdkafka / kafka-python consumers to settle
SETTLE_TIMEOUT_S = 30.0


@pytest.fixture
def gbroker(broker_factory):
    """A dedicated broker whose first rebalance is not delayed."""
    return broker_factory(dict(FAST_GROUPS))


class _Members:
    """Creates group members and closes / kills them all at teardown."""

    def __init__(self):
        self.made = []

    def confluent(self, *a, **kw):
        m = ConfluentMember(*a, **kw)
        self.made.append(m)
        return m

    def subprocess(self, *a, **kw):
        m = SubprocessMember(*a, **kw)
        self.made.append(m)
        return m

    def kafka_python(self, *a, **kw):
        m = KafkaPythonMember(*a, **kw)
        self.made.append(m)
        return m

    def cleanup(self):
        for m in reversed(self.made):
            try:
                if isinstance(m, SubprocessMember):
                    m.kill()
                else:
                    m.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass


@pytest.fixture
def members(broker_factory):
    # depends on broker_factory so members are closed before brokers stop
    ms = _Members()
    yield ms
    ms.cleanup()


def _admin(bootstrap):
    return ConfluentClient(bootstrap)


def _produce(bootstrap, topic, records, client=ConfluentClient):
    c = client(bootstrap)
    try:
        delivered = c.produce(topic, records, acks=-1)
    finally:
        c.close()
    bad = [d for d in delivered if d is None or d.error_code != 0]
    assert not bad, f"delivery failed: {bad[:5]}"
    return delivered


def _records(n, partitions, prefix):
    return [Rec(i % partitions, f"{prefix}-k{i}".encode(), f"{prefix}-{i}".encode())
            for i in range(n)]


def _describe_all(ms):
    return "\n".join(m.describe() for m in ms)


# ===========================================================================
# 1-2: range assignment over several consumers
# ===========================================================================
@pytest.mark.confluent
def test_three_consumers_share_six_partitions_exactly_once(gbroker, members):
    topic, group = unique("t-three"), unique("g-three")
    _admin(gbroker.bootstrap).create_topic(topic, partitions=6)
    ms = [members.confluent(gbroker.bootstrap, group, topic, f"three-{i}") for i in range(3)]

    def settled():
        return (disjoint_cover([m.assigned for m in ms], range(6))
                and all(len(m.assigned) == 2 for m in ms))

    poll_until(ms, settled, SETTLE_TIMEOUT_S, "3 consumers owning 2 disjoint partitions each")
    assigned = [set(m.assigned) for m in ms]
    assign_calls = [m.assign_calls for m in ms]
    assert metric(gbroker, "kafkalab_group_members", group=group) == 3, group_metrics(gbroker, group)

    records = _records(600, 6, "three")
    _produce(gbroker.bootstrap, topic, records)
    poll_until(ms, lambda: sum(len(m.records) for m in ms) >= len(records), 20,
               f"{len(records)} records consumed")
    poll_for(ms, 1.0)  # catch duplicates

    assert [m.assign_calls for m in ms] == assign_calls, "a rebalance happened while consuming"
    for m, a in zip(ms, assigned):
        seen = {p for p, _, _ in m.records}
        assert seen <= a, f"{m.name} consumed partitions {sorted(seen)} but owns {sorted(a)}"
    values = [v for m in ms for _, _, v in m.records]
    dups = len(values) - len(set(values))
    missing = {r.value for r in records} - set(values)
    assert not dups and not missing and len(values) == len(records), \
        f"consumed {len(values)} records for {len(records)} produced: {dups} duplicates, " \
        f"{len(missing)} missing"
    for p in range(6):
        offs = sorted(o for m in ms for q, o, _ in m.records if q == p)
        assert offs == list(range(100)), f"partition {p}: offsets {offs[:5]}..{offs[-5:]}"


@pytest.mark.confluent
def test_more_consumers_than_partitions_leaves_one_idle(gbroker, members):
    topic, group = unique("t-seven"), unique("g-seven")
    admin = _admin(gbroker.bootstrap)
    admin.create_topic(topic, partitions=6)
    ms = [members.confluent(gbroker.bootstrap, group, topic, f"seven-{i}") for i in range(7)]

    def settled():
        return (all(m.assign_calls > 0 for m in ms)
                and disjoint_cover([m.assigned for m in ms], range(6))
                and sorted(len(m.assigned) for m in ms) == [0, 1, 1, 1, 1, 1, 1])

    poll_until(ms, settled, SETTLE_TIMEOUT_S + 10, "7 consumers: 6 with one partition, 1 idle")
    poll_for(ms, 1.5)
    assert settled(), f"assignment changed after settling:\n{_describe_all(ms)}"
    idle = [m.name for m in ms if not m.assigned]
    assert len(idle) == 1, idle

    # the coordinator's view agrees (DescribeGroups through the admin client)
    desc = admin.admin.describe_consumer_groups([group])[group].result(timeout=15)
    assert len(desc.members) == 7, [m.member_id for m in desc.members]
    by_client = {m.client_id: {tp.partition for tp in m.assignment.topic_partitions}
                 for m in desc.members}
    assert by_client == {m.name: m.assigned for m in ms}
    assert metric(gbroker, "kafkalab_group_members", group=group) == 7


# ===========================================================================
# 3-4: leaving cleanly vs. dying
# ===========================================================================
@pytest.mark.confluent
def test_clean_close_hands_partitions_over_immediately(gbroker, members):
    """close() sends LeaveGroup: the survivors own everything long before the
    30 s session timeout would have expired the member."""
    session_ms = 30000
    topic, group = unique("t-leave"), unique("g-leave")
    _admin(gbroker.bootstrap).create_topic(topic, partitions=6)
    ms = [members.confluent(gbroker.bootstrap, group, topic, f"leave-{i}",
                            extra={"session.timeout.ms": session_ms}) for i in range(3)]
    poll_until(ms, lambda: disjoint_cover([m.assigned for m in ms], range(6))
               and all(len(m.assigned) == 2 for m in ms),
               SETTLE_TIMEOUT_S, "3 consumers owning 2 partitions each")
    leaves = metric(gbroker, "kafkalab_group_member_removals_total", group=group, cause="leave")

    victim, survivors = ms[0], ms[1:]
    t0 = time.monotonic()
    victim.close()
    t1 = poll_until(survivors, lambda: disjoint_cover([m.assigned for m in survivors], range(6)),
                    25, "survivors owning all 6 partitions after a clean close")
    took = t1 - t0
    assert took < 5.0, f"hand-over after LeaveGroup took {took:.2f}s (session.timeout.ms={session_ms})"

    wait_until(lambda: metric(gbroker, "kafkalab_group_member_removals_total",
                              group=group, cause="leave") == leaves + 1,
               5, what="removals_total{cause=leave} +1",
               on_timeout=lambda: group_metrics(gbroker, group))
    assert metric(gbroker, "kafkalab_group_member_removals_total", group=group,
                  cause="session_timeout") == 0
    assert metric(gbroker, "kafkalab_group_members", group=group) == 2


@pytest.mark.confluent
def test_killed_member_expires_after_session_timeout(gbroker, members):
    """A SIGKILLed member sends nothing: its partitions move only once the
    coordinator expires it after session.timeout.ms."""
    topic, group = unique("t-kill"), unique("g-kill")
    _admin(gbroker.bootstrap).create_topic(topic, partitions=6)
    survivors = [members.confluent(gbroker.bootstrap, group, topic, f"kill-survivor-{i}")
                 for i in range(2)]
    victim = members.subprocess(gbroker.bootstrap, group, topic, "kill-victim")
    everyone = survivors + [victim]
    poll_until(everyone, lambda: len(victim.assigned) == 2
               and disjoint_cover([m.assigned for m in everyone], range(6))
               and all(len(m.assigned) == 2 for m in survivors),
               SETTLE_TIMEOUT_S, "3 members (one in a child process) owning 2 partitions each")
    expired = metric(gbroker, "kafkalab_group_member_removals_total", group=group,
                     cause="session_timeout")

    t_kill = time.monotonic()
    victim.kill()
    t_done = poll_until(survivors, lambda: disjoint_cover([m.assigned for m in survivors], range(6)),
                        SESSION_TIMEOUT_MS / 1000 + 15,
                        "survivors owning all 6 partitions after the member was killed")
    took = t_done - t_kill
    session_s = SESSION_TIMEOUT_MS / 1000
    assert took >= 0.8 * session_s, \
        f"partitions moved {took:.2f}s after SIGKILL, before the {session_s}s session timeout"
    assert took <= session_s + 5, \
        f"partitions moved only {took:.2f}s after SIGKILL (session timeout {session_s}s)"

    wait_until(lambda: metric(gbroker, "kafkalab_group_member_removals_total", group=group,
                              cause="session_timeout") == expired + 1,
               5, what="removals_total{cause=session_timeout} +1",
               on_timeout=lambda: group_metrics(gbroker, group))
    assert metric(gbroker, "kafkalab_group_member_removals_total", group=group, cause="leave") == 0
    assert metric(gbroker, "kafkalab_group_members", group=group) == 2


# ===========================================================================
# 5: cooperative-sticky
# ===========================================================================
@pytest.mark.confluent
def test_cooperative_sticky_revokes_only_moved_partitions(gbroker, members):
    topic, group = unique("t-coop"), unique("g-coop")
    admin = _admin(gbroker.bootstrap)
    admin.create_topic(topic, partitions=6)
    a = members.confluent(gbroker.bootstrap, group, topic, "coop-a", strategy="cooperative-sticky")
    poll_until([a], lambda: a.assigned == set(range(6)), SETTLE_TIMEOUT_S, "a owning all 6")
    mark = len(a.events)

    b = members.confluent(gbroker.bootstrap, group, topic, "coop-b", strategy="cooperative-sticky")
    poll_until([a, b], lambda: disjoint_cover([a.assigned, b.assigned], range(6))
               and len(a.assigned) == 3 and len(b.assigned) == 3,
               SETTLE_TIMEOUT_S, "a and b owning 3 partitions each")
    poll_for([a, b], 1.5)

    later = a.events[mark:]
    revokes = [ps for _, kind, ps in later if kind == "revoke"]
    assert not [e for e in a.events if e[1] == "lost"], f"a lost partitions: {a.events}"
    assert revokes, f"a was never asked to revoke anything: {later}"
    for ps in revokes:
        assert 0 < len(ps) < 6, f"a's on_revoke got {ps}: cooperative rebalancing revokes " \
                                f"only the partitions that move"
    revoked = set().union(*map(set, revokes))
    assert revoked == b.assigned, f"a revoked {sorted(revoked)}, b owns {sorted(b.assigned)}"
    assert a.assigned == set(range(6)) - revoked
    # a kept the rest throughout: replay its callbacks and track the size
    owned, low = set(range(6)), 6
    for _, kind, ps in later:
        owned = owned | set(ps) if kind == "assign" else owned - set(ps)
        low = min(low, len(owned))
    assert low == 3, f"a's assignment dropped to {low} partitions during the rebalance: {later}"
    assert {tp.partition for tp in a.c.assignment()} == a.assigned

    desc = admin.admin.describe_consumer_groups([group])[group].result(timeout=15)
    assert desc.partition_assignor == "cooperative-sticky", desc.partition_assignor


# ===========================================================================
# 6: static membership
# ===========================================================================
@pytest.mark.confluent
@pytest.mark.parametrize("static_is_leader", [False, True], ids=["static-follower", "static-leader"])
def test_static_member_restart_keeps_assignment_without_rebalance(gbroker, members,
                                                                   static_is_leader):
    """A static member (group.instance.id) is SIGKILLed and restarted within
    its session timeout: it gets its old assignment back, the generation stays
    and no rebalance happens.  Whichever member joins first is the group
    leader (the leader is kept across rebalances), so the two cases cover a
    restarted static follower and a restarted static leader (librdkafka uses
    JoinGroup v5, which has no SkipAssignment field)."""
    topic, group = unique("t-static"), unique("g-static")
    instance = unique("instance")
    _admin(gbroker.bootstrap).create_topic(topic, partitions=6)
    static_conf = {"group.instance.id": instance, "session.timeout.ms": SESSION_TIMEOUT_MS}
    static_name = "a-static" if static_is_leader else "z-static"

    def start_static():
        return members.subprocess(gbroker.bootstrap, group, topic, static_name, extra=static_conf)

    if static_is_leader:
        s1 = start_static()
        poll_until([s1], lambda: s1.assigned == set(range(6)), SETTLE_TIMEOUT_S,
                   "the static member owning all 6")
        local = members.confluent(gbroker.bootstrap, group, topic, "z-local")
    else:
        local = members.confluent(gbroker.bootstrap, group, topic, "a-local")
        poll_until([local], lambda: local.assigned == set(range(6)), SETTLE_TIMEOUT_S,
                   "the dynamic member owning all 6")
        s1 = start_static()
    poll_until([local, s1], lambda: len(s1.assigned) == 3
               and disjoint_cover([local.assigned, s1.assigned], range(6)),
               SETTLE_TIMEOUT_S, "static member and dynamic member owning 3 each")
    poll_for([local], 1.0)
    static_assignment = s1.assigned
    local_assignment = set(local.assigned)
    mark = len(local.events)
    generation = metric(gbroker, "kafkalab_group_generation", group=group)
    rebalances = metric(gbroker, "kafkalab_group_rebalances_total", group=group)
    assert generation > 0 and rebalances > 0, group_metrics(gbroker, group)

    t_kill = time.monotonic()
    s1.kill()
    s2 = start_static()
    poll_until([local, s2], lambda: s2.assign_calls > 0, SESSION_TIMEOUT_MS / 1000 + 10,
               "the restarted static member getting an assignment")
    t_back = next(t for t, m in s2.events() if m.get("event") == "assign")
    assert t_back - t_kill < SESSION_TIMEOUT_MS / 1000, \
        f"restart took {t_back - t_kill:.2f}s: not within the session timeout, test premise broken"
    assert s2.assigned == static_assignment, \
        f"static member came back with {sorted(s2.assigned)}, had {sorted(static_assignment)}"

    # stay past the old incarnation's session timeout: nothing may expire
    poll_for([local, s2], max(0.0, t_kill + SESSION_TIMEOUT_MS / 1000 + 2.5 - time.monotonic()))
    assert local.events[mark:] == [], f"the other member saw a rebalance: {local.events[mark:]}"
    assert local.assigned == local_assignment
    assert s2.assigned == static_assignment
    m = group_metrics(gbroker, group)
    assert metric(gbroker, "kafkalab_group_generation", group=group) == generation, m
    assert metric(gbroker, "kafkalab_group_rebalances_total", group=group) == rebalances, m
    assert metric(gbroker, "kafkalab_group_member_removals_total", group=group) == 0, m
    assert metric(gbroker, "kafkalab_group_members", group=group) == 2, m


# ===========================================================================
# 7: committed offsets are durable
# ===========================================================================
@pytest.mark.confluent
@pytest.mark.parametrize("kill", [True, False], ids=["sigkill", "sigterm"])
def test_committed_offsets_survive_broker_restart(broker_factory, members, kill):
    import confluent_kafka as ck
    b = broker_factory(dict(FAST_GROUPS))
    topic, group = unique("t-durable"), unique("g-durable")
    _admin(b.bootstrap).create_topic(topic, partitions=2)
    first = _records(80, 2, "before")  # offsets 0..39 in each partition
    _produce(b.bootstrap, topic, first)

    c1 = members.confluent(b.bootstrap, group, topic, "durable-1")
    poll_until([c1], lambda: len(c1.records) >= 80, 20, "80 records from offset 0 (no commits yet)")
    commit = {0: 25, 1: 10}
    res = c1.c.commit(offsets=[ck.TopicPartition(topic, p, o) for p, o in commit.items()],
                      asynchronous=False)
    assert all(tp.error is None for tp in res), res
    got = c1.c.committed([ck.TopicPartition(topic, p) for p in commit], timeout=15)
    assert {tp.partition: tp.offset for tp in got} == commit
    c1.close()

    b.restart(kill=kill)
    assert b.alive()
    second = [Rec(p, f"after-k{i}".encode(), f"after-{p}-{i}".encode())
              for i in range(10) for p in range(2)]  # offsets 40..49
    _produce(b.bootstrap, topic, second)

    admin = _admin(b.bootstrap).admin
    req = ck.ConsumerGroupTopicPartitions(group, [ck.TopicPartition(topic, p) for p in commit])
    listed = admin.list_consumer_group_offsets([req])[group].result(timeout=15)
    assert {tp.partition: tp.offset for tp in listed.topic_partitions} == commit, \
        f"committed offsets after {'SIGKILL' if kill else 'SIGTERM'} restart: {listed.topic_partitions}"

    c2 = members.confluent(b.bootstrap, group, topic, "durable-2")
    want = {0: list(range(25, 50)), 1: list(range(10, 50))}
    poll_until([c2], lambda: len(c2.records) >= sum(map(len, want.values())), SETTLE_TIMEOUT_S,
               "records from the committed offsets on")
    poll_for([c2], 1.0)
    for p, offs in want.items():
        have = sorted(o for q, o, _ in c2.records if q == p)
        assert have == offs, f"partition {p}: resumed at {have[:3]}.. ({len(have)} records), " \
                             f"want {offs[0]}..{offs[-1]}"


# ===========================================================================
# 8: coordinator error codes on the wire
# ===========================================================================
@pytest.mark.raw
def test_group_error_codes_raw(gbroker):
    bootstrap = gbroker.bootstrap
    group = unique("g-raw")
    host, port = kwire.parse_hostport(bootstrap)
    with kwire.Conn(bootstrap, timeout=15) as conn:
        fc = find_coordinator_v1(conn, group)
        assert fc["error_code"] == 0, fc
        assert (fc["node_id"], fc["host"], fc["port"]) == (0, host, port), fc

        # session timeout outside [group.min.session.timeout.ms, max]
        for bad in (1000, 5999, 1_800_001):
            r = join_group(conn, 5, group, session_timeout_ms=bad)
            assert r["error_code"] == INVALID_SESSION_TIMEOUT, (bad, r)

        # v4+: a new member first gets MEMBER_ID_REQUIRED with its id
        r = join_group(conn, 4, group)
        assert r["error_code"] == MEMBER_ID_REQUIRED, r
        member = r["member_id"]
        assert member, "MEMBER_ID_REQUIRED must carry the member id to rejoin with"
        r = join_group(conn, 4, group, member)
        assert r["error_code"] == 0, r
        assert r["member_id"] == member and r["leader"] == member and r["generation_id"] >= 1, r
        assert [m["member_id"] for m in r["members"]] == [member]
        assert r["members"][0]["metadata"] == consumer_subscription(["t"])
        gen = r["generation_id"]
        mine = consumer_assignment({"t": [0, 1]})
        s = sync_group(conn, 2, group, gen, member, assignments={member: mine})
        assert s["error_code"] == 0 and parse_assignment(s["assignment"]) == {"t": [0, 1]}, s

        assert heartbeat(conn, 2, group, gen, member) == 0
        assert heartbeat(conn, 2, group, gen - 1, member) == ILLEGAL_GENERATION
        assert heartbeat(conn, 2, group, gen + 1, member) == ILLEGAL_GENERATION
        assert heartbeat(conn, 2, group, gen, member + "-nope") == UNKNOWN_MEMBER_ID
        assert heartbeat(conn, 2, unique("g-none"), 1, "ghost") == UNKNOWN_MEMBER_ID
        s = sync_group(conn, 2, group, gen + 5, member)
        assert s["error_code"] == ILLEGAL_GENERATION, s
        r = join_group(conn, 4, group, "never-issued")
        assert r["error_code"] == UNKNOWN_MEMBER_ID, r

        # before v4 a new member is admitted directly
        other = unique("g-raw-v3")
        r = join_group(conn, 3, other)
        assert r["error_code"] == 0 and r["member_id"] and r["generation_id"] >= 1, r

        lv = leave_group_v3(conn, group, [(member, None), ("ghost", None)])
        assert lv["error_code"] == 0, lv
        assert [(m["member_id"], m["error_code"]) for m in lv["members"]] == \
            [(member, 0), ("ghost", UNKNOWN_MEMBER_ID)], lv
        assert heartbeat(conn, 2, group, gen, member) == UNKNOWN_MEMBER_ID


@pytest.mark.raw
def test_static_member_fencing_raw(gbroker):
    """A static follower restarts (same group.instance.id, no member id): it
    gets a new member id in the same generation, no rebalance, and its old
    member id is fenced (FENCED_INSTANCE_ID) on every group API."""
    group = unique("g-fence")
    g = two_static_members(gbroker.bootstrap, group)
    gen, a, b_old = g["generation"], g["a"], g["b"]
    try:
        with kwire.Conn(gbroker.bootstrap, timeout=15) as c2:
            r = join_group(c2, 5, group, instance_id=g["ib"])
            assert r["error_code"] == 0, r
            b_new = r["member_id"]
            assert b_new and b_new != b_old, r
            assert r["generation_id"] == gen, f"static rejoin must not start a new generation: {r}"
            assert r["leader"] == a and r["members"] == [], f"follower rejoin: {r}"
            s = sync_group(c2, 3, group, gen, b_new, instance_id=g["ib"])
            assert s["error_code"] == 0 and parse_assignment(s["assignment"]) == {"t": [1]}, s
            assert heartbeat(c2, 3, group, gen, b_new, instance_id=g["ib"]) == 0
            # the leader saw no rebalance
            assert heartbeat(g["ca"], 3, group, gen, a, instance_id=g["ia"]) == 0

            # the old incarnation is fenced
            cb = g["cb"]
            assert heartbeat(cb, 3, group, gen, b_old, instance_id=g["ib"]) == FENCED_INSTANCE_ID
            s = sync_group(cb, 3, group, gen, b_old, instance_id=g["ib"])
            assert s["error_code"] == FENCED_INSTANCE_ID, s
            lv = leave_group_v3(cb, group, [(b_old, g["ib"])])
            assert [m["error_code"] for m in lv["members"]] == [FENCED_INSTANCE_ID], lv
            r = join_group(cb, 5, group, b_old, instance_id=g["ib"])
            assert r["error_code"] == FENCED_INSTANCE_ID, \
                f"JoinGroup v5 from the fenced incarnation (old member id + its instance id): " \
                f"Kafka answers FENCED_INSTANCE_ID (82), got {r}"
    finally:
        for c in g["conns"]:
            c.close()


@pytest.mark.raw
def test_static_leader_restart_with_join_group_v5_raw(gbroker):
    """The static *leader* restarts using JoinGroup v5 (< v9, no SkipAssignment
    field, as librdkafka sends).  Kafka answers: no error, same generation, no
    member list, and the *old* leader id, so the new incarnation acts as a
    follower and only fetches its assignment."""
    group = unique("g-sleader")
    g = two_static_members(gbroker.bootstrap, group)
    gen, a_old, b = g["generation"], g["a"], g["b"]
    try:
        with kwire.Conn(gbroker.bootstrap, timeout=15) as c2:
            try:
                r = join_group(c2, 5, group, instance_id=g["ia"])
            except ConnectionError as exc:
                pytest.fail(f"broker closed the connection instead of answering JoinGroup v5 "
                            f"of the restarted static leader ({exc}); Kafka answers error 0, "
                            f"generation {gen}, leader = old leader id, no members",
                            pytrace=False)
            assert r["error_code"] == 0, r
            a_new = r["member_id"]
            assert a_new and a_new != a_old, r
            assert r["generation_id"] == gen, f"no new generation: {r}"
            assert r["members"] == [] and r["leader"] != a_new, \
                f"JoinGroup < v9 cannot tell the leader to skip the assignment: {r}"
            s = sync_group(c2, 3, group, gen, a_new, instance_id=g["ia"])
            assert s["error_code"] == 0 and parse_assignment(s["assignment"]) == {"t": [0]}, s
            assert heartbeat(g["cb"], 3, group, gen, b, instance_id=g["ib"]) == 0, \
                "the follower must not see a rebalance"
            assert heartbeat(g["ca"], 3, group, gen, a_old, instance_id=g["ia"]) == FENCED_INSTANCE_ID
    finally:
        for c in g["conns"]:
            c.close()


# ===========================================================================
# 9: admin APIs
# ===========================================================================
@pytest.mark.confluent
def test_confluent_admin_group_apis(gbroker, members):
    import confluent_kafka as ck
    from confluent_kafka import ConsumerGroupState, KafkaException
    topic, group = unique("t-adm"), unique("g-adm")
    admin = _admin(gbroker.bootstrap).admin
    _admin(gbroker.bootstrap).create_topic(topic, partitions=4)
    ms = [members.confluent(gbroker.bootstrap, group, topic, f"adm-{i}") for i in range(2)]
    poll_until(ms, lambda: disjoint_cover([m.assigned for m in ms], range(4))
               and all(len(m.assigned) == 2 for m in ms), SETTLE_TIMEOUT_S, "2 members x 2")
    committed = {p: 10 + p for p in range(4)}
    for m in ms:
        res = m.c.commit(offsets=[ck.TopicPartition(topic, p, committed[p]) for p in m.assigned],
                         asynchronous=False)
        assert all(tp.error is None for tp in res), res

    listed = admin.list_consumer_groups(request_timeout=15).result(timeout=20)
    assert not listed.errors, listed.errors
    mine = [g for g in listed.valid if g.group_id == group]
    assert len(mine) == 1, [g.group_id for g in listed.valid]
    assert mine[0].state == ConsumerGroupState.STABLE and not mine[0].is_simple_consumer_group

    desc = admin.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
    assert desc.state == ConsumerGroupState.STABLE and desc.partition_assignor == "range", \
        (desc.state, desc.partition_assignor)
    assert desc.coordinator.id == 0
    got = {m.client_id: {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions}
           for m in desc.members}
    assert got == {m.name: {(topic, p) for p in m.assigned} for m in ms}
    assert {m.member_id for m in desc.members} == {m.c.memberid() for m in ms}

    offs = admin.list_consumer_group_offsets(
        [ck.ConsumerGroupTopicPartitions(group)])[group].result(timeout=20)
    assert {(tp.topic, tp.partition): tp.offset for tp in offs.topic_partitions} == \
        {(topic, p): o for p, o in committed.items()}

    with pytest.raises(KafkaException) as ei:
        admin.delete_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
    assert ei.value.args[0].code() == NON_EMPTY_GROUP, ei.value

    for m in ms:
        m.close()
    wait_until(lambda: admin.describe_consumer_groups([group])[group].result(timeout=15).state
               == ConsumerGroupState.EMPTY, 10, what="group Empty after both members left")
    admin.delete_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
    listed = admin.list_consumer_groups(request_timeout=15).result(timeout=20)
    assert group not in [g.group_id for g in listed.valid]
    offs = admin.list_consumer_group_offsets(
        [ck.ConsumerGroupTopicPartitions(group, [ck.TopicPartition(topic, p) for p in range(4)])]
    )[group].result(timeout=20)
    assert all(tp.offset < 0 for tp in offs.topic_partitions), \
        f"offsets still there after delete: {offs.topic_partitions}"
    with pytest.raises(KafkaException) as ei:
        admin.delete_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
    assert ei.value.args[0].code() == GROUP_ID_NOT_FOUND, ei.value


def _kp_admin_call(admin, new_name, old_name, *a):
    """kafka-python renamed the group admin methods (``list_consumer_groups``
    -> ``list_groups`` ...) in 3.x; use whichever this version has."""
    fn = getattr(admin, new_name, None) or getattr(admin, old_name)
    return fn(*a)


@pytest.mark.kafka_python
def test_kafka_python_admin_group_apis(gbroker, members):
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata
    topic, group = unique("t-kpadm"), unique("g-kpadm")
    kc = KafkaPythonClient(gbroker.bootstrap)
    try:
        kc.create_topic(topic, partitions=4)
        ms = [members.kafka_python(gbroker.bootstrap, group, topic, f"kpadm-{i}") for i in range(2)]
        poll_until(ms, lambda: disjoint_cover([m.assigned for m in ms], range(4))
                   and all(len(m.assigned) == 2 for m in ms), SETTLE_TIMEOUT_S, "2 members x 2")
        committed = {p: 20 + p for p in range(4)}
        for m in ms:
            m.c.commit({TopicPartition(topic, p): OffsetAndMetadata(committed[p], "", -1)
                        for p in m.assigned})
        admin = kc.admin

        groups = _kp_admin_call(admin, "list_groups", "list_consumer_groups")
        entry = [g for g in groups if (g["group_id"] if isinstance(g, dict) else g[0]) == group]
        assert len(entry) == 1, groups
        if isinstance(entry[0], dict):
            assert entry[0].get("protocol_type") == "consumer", entry

        desc = _kp_admin_call(admin, "describe_groups", "describe_consumer_groups", [group])
        d = desc[group]
        assert d["error"] is None and d["group_state"] == "Stable" and d["protocol_type"] == "consumer", d
        assert d["protocol_data"] == "range", d
        # kafka-python decodes the consumer-protocol assignment into
        # {'assigned_partitions': [{'topic': .., 'partitions': [..]}], ...}
        got = {mem["client_id"]: {(t["topic"], p)
                                  for t in mem["member_assignment"]["assigned_partitions"]
                                  for p in t["partitions"]}
               for mem in d["members"]}
        assert got == {m.name: {(topic, p) for p in m.assigned} for m in ms}, d["members"]

        offs = _kp_admin_call(admin, "list_group_offsets", "list_consumer_group_offsets", group)
        offs = offs.get(group, offs)
        assert {(tp.topic, tp.partition): om.offset for tp, om in offs.items()} == \
            {(topic, p): o for p, o in committed.items()}

        res = _kp_admin_call(admin, "delete_groups", "delete_consumer_groups", [group])
        assert "NonEmptyGroup" in str(dict(res)[group]), res

        for m in ms:
            m.close()
        wait_until(lambda: _kp_admin_call(admin, "describe_groups", "describe_consumer_groups",
                                          [group])[group]["group_state"] == "Empty",
                   10, what="group Empty after both members left")
        res = _kp_admin_call(admin, "delete_groups", "delete_consumer_groups", [group])
        assert dict(res)[group] in ("OK", None), res
        groups = _kp_admin_call(admin, "list_groups", "list_consumer_groups")
        assert group not in [g["group_id"] if isinstance(g, dict) else g[0] for g in groups]
        res = _kp_admin_call(admin, "delete_groups", "delete_consumer_groups", [group])
        assert "GroupIdNotFound" in str(dict(res)[group]), res
    finally:
        kc.close()


# ===========================================================================
# 10: kafka-python consumers in a group
# ===========================================================================
@pytest.mark.kafka_python
def test_kafka_python_group_share_commit_and_resume(gbroker, members):
    from kafka import TopicPartition
    topic, group = unique("t-kp"), unique("g-kp")
    kc = KafkaPythonClient(gbroker.bootstrap)
    try:
        kc.create_topic(topic, partitions=4)
        ms = [members.kafka_python(gbroker.bootstrap, group, topic, f"kp-{i}") for i in range(2)]
        poll_until(ms, lambda: disjoint_cover([m.assigned for m in ms], range(4))
                   and all(len(m.assigned) == 2 for m in ms), SETTLE_TIMEOUT_S,
                   "2 kafka-python consumers owning 2 partitions each")
        owned = [set(m.assigned) for m in ms]
        first = _records(80, 4, "kp1")  # 20 per partition
        _produce(gbroker.bootstrap, topic, first, KafkaPythonClient)
        poll_until(ms, lambda: sum(len(m.records) for m in ms) >= 80, 30, "80 records")
        poll_for(ms, 1.0)
        for m, o in zip(ms, owned):
            assert {p for p, _, _ in m.records} <= o, f"{m.name} read outside its partitions"
        values = sorted(v for m in ms for _, _, v in m.records)
        assert values == sorted(r.value for r in first), "records lost or duplicated"
        for m in ms:
            m.c.commit()
        for m in ms:
            m.close()

        second = _records(20, 4, "kp2")  # offsets 20..24 in each partition
        _produce(gbroker.bootstrap, topic, second, KafkaPythonClient)
        c3 = members.kafka_python(gbroker.bootstrap, group, topic, "kp-resume")
        poll_until([c3], lambda: len(c3.assigned) == 4, SETTLE_TIMEOUT_S, "resumed consumer owning all")
        for p in range(4):
            assert c3.c.committed(TopicPartition(topic, p)) == 20, f"committed offset of partition {p}"
        poll_until([c3], lambda: len(c3.records) >= 20, 30, "the 20 new records")
        poll_for([c3], 1.0)
        got = sorted((p, o) for p, o, _ in c3.records)
        assert got == sorted((p, o) for p in range(4) for o in range(20, 25)), \
            f"resumed consumer read {got[:6]}..: expected only offsets 20..24"
        assert sorted(v for _, _, v in c3.records) == sorted(r.value for r in second)
    finally:
        kc.close()
