"""A confluent-kafka group member run as a child process by
``groups_support.SubprocessMember`` (so a test can SIGKILL it).

Subscribes to ``--topic`` with the consumer config given as JSON and polls
until stdin reaches EOF (then closes the consumer cleanly and exits), the
parent process disappears, or ``--max-seconds`` pass.  Every rebalance
callback is reported on stdout as one JSON line:
``{"event": "assign"|"revoke"|"lost", "partitions": [...], "t": <unix time>}``.
"""

import argparse
import json
import os
import sys
import threading
import time

from confluent_kafka import Consumer


def report(**kw):
    kw["t"] = time.time()
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args()

    stop = threading.Event()

    def watch_stdin():
        for _ in sys.stdin:
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    parent = os.getppid()

    def parts(ps):
        return sorted(p.partition for p in ps if p.topic == args.topic)

    c = Consumer(json.loads(args.config))
    c.subscribe(
        [args.topic],
        on_assign=lambda _c, ps: report(event="assign", partitions=parts(ps)),
        on_revoke=lambda _c, ps: report(event="revoke", partitions=parts(ps)),
        on_lost=lambda _c, ps: report(event="lost", partitions=parts(ps)),
    )
    report(event="subscribed", pid=os.getpid())
    deadline = time.monotonic() + args.max_seconds
    while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
        msg = c.poll(0.1)
        if msg is not None and msg.error() is not None:
            report(event="error", error=str(msg.error()))
    c.close()
    report(event="closed")


if __name__ == "__main__":
    main()
