"""Fixtures for the kafkalab client compatibility suite.

The broker binary comes from ``$KAFKALAB_BIN`` (default:
``<repo>/target/release/kafkalab``).  Every broker runs on ephemeral ports
(``listeners=PLAINTEXT://127.0.0.1:0``) in a fresh temporary ``log.dirs``.

Fixtures
--------
``broker``          a shared default broker (one per session); the fixture
                    fails the test if the broker process died during it.
``bootstrap``       ``broker.bootstrap`` (``host:port``).
``broker_factory``  ``broker_factory(overrides={...}, log_dir=None)`` starts
                    a dedicated broker; ``b.restart(kill=True)`` restarts it
                    on the same log.dirs (SIGKILL first when ``kill``).
``client``          parametrised adapter (``confluent`` / ``kafka-python``),
                    see ``clientlib.py``.
``topic_name``      a unique topic name for the test.
``cluster3``        three broker processes forming one cluster (each a broker
                    and a controller voter, ``controller.quorum.voters``);
                    ``c.kill(i)`` SIGKILLs node i, ``c.start(i)`` restarts it
                    on its log.dirs and Kafka port.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = float(os.environ.get("KAFKALAB_READY_TIMEOUT", "30"))
STOP_TIMEOUT_S = 15.0

_READY_RE = re.compile(r"kafkalab broker \S+ ready:")
_KAFKA_RE = re.compile(r"kafka=(\S+)")
_METRICS_RE = re.compile(r"metrics=(\S+)")


def broker_bin() -> Path:
    p = Path(os.environ.get("KAFKALAB_BIN", REPO_ROOT / "target" / "release" / "kafkalab"))
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


class BrokerError(RuntimeError):
    pass


class Broker:
    """A kafkalab broker child process."""

    def __init__(self, log_dir: Path, overrides: dict | None = None, workdir: Path | None = None):
        self.log_dir = Path(log_dir)
        self.overrides = dict(overrides or {})
        self.workdir = Path(workdir or self.log_dir.parent)
        self.proc: subprocess.Popen | None = None
        self.bootstrap: str | None = None
        self.metrics_url: str | None = None
        self.ready_line: str | None = None
        self.starts = 0
        self._stdout_lines: list[str] = []
        self._stderr_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------
    def argv(self):
        base = {
            "listeners": "PLAINTEXT://127.0.0.1:0",
            "kafkalab.metrics.listener": "127.0.0.1:0",
            "log.dirs": str(self.log_dir),
        }
        base.update(self.overrides)
        args = [str(broker_bin()), "broker"]
        for k, v in base.items():
            args += ["--override", f"{k}={v}"]
        return args

    def start(self, timeout: float = READY_TIMEOUT_S):
        binary = broker_bin()
        if not binary.exists():
            raise BrokerError(f"broker binary not found: {binary} (set KAFKALAB_BIN or build it)")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self._stderr_path = self.workdir / f"broker-stderr-{self.starts}.log"
        stderr = open(self._stderr_path, "wb")
        self._stdout_lines = []
        self.proc = subprocess.Popen(
            self.argv(), stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, cwd=str(self.workdir),
        )
        stderr.close()
        ready = threading.Event()

        def pump(proc=self.proc, lines=self._stdout_lines):
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if not ready.is_set() and _READY_RE.search(line):
                    self.ready_line = line.strip()
                    ready.set()
            ready.set()  # EOF: wake the waiter so it can report the exit

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if time.monotonic() > deadline:
                self._hard_kill()
                raise BrokerError(f"broker not ready within {timeout}s\n{self.diagnostics()}")
        if self.proc.poll() is not None and not self.ready_line:
            raise BrokerError(f"broker exited with {self.proc.returncode} before ready\n{self.diagnostics()}")
        if not self.ready_line:
            self._hard_kill()
            raise BrokerError(f"broker stdout closed before ready line\n{self.diagnostics()}")
        m = _KAFKA_RE.search(self.ready_line)
        mm = _METRICS_RE.search(self.ready_line)
        if not m:
            raise BrokerError(f"cannot parse kafka= from ready line: {self.ready_line!r}")
        self.bootstrap = m.group(1)
        self.metrics_url = mm.group(1) if mm else None
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S):
        """SIGTERM and wait; returns the exit code (SIGKILLs after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._hard_kill()
                raise BrokerError(f"broker did not exit within {timeout}s of SIGTERM\n{self.diagnostics()}")
        return self.proc.returncode

    def kill(self):
        """SIGKILL (simulated crash)."""
        self._hard_kill()

    def _hard_kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def restart(self, kill: bool = False, timeout: float = READY_TIMEOUT_S):
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start(timeout)

    # -- diagnostics -----------------------------------------------------------
    def stderr_tail(self, n: int = 40) -> str:
        try:
            lines = self._stderr_path.read_text(errors="replace").splitlines()
        except (OSError, AttributeError):
            return ""
        return "\n".join(lines[-n:])

    def diagnostics(self) -> str:
        rc = self.proc.poll() if self.proc else None
        return (f"argv: {' '.join(self.argv())}\nexit code: {rc}\n"
                f"stdout:\n" + "\n".join(self._stdout_lines[-20:]) +
                f"\nstderr (tail):\n{self.stderr_tail()}")

    def __repr__(self):
        return f"Broker({self.bootstrap}, log_dir={self.log_dir})"


# ---------------------------------------------------------------------------
# pytest wiring
# ---------------------------------------------------------------------------
def pytest_configure(config):
    for name, desc in [
        ("confluent", "uses confluent-kafka (librdkafka)"),
        ("kafka_python", "uses kafka-python"),
        ("raw", "hand-written wire protocol over a raw socket"),
    ]:
        config.addinivalue_line("markers", f"{name}: {desc}")


@pytest.fixture(scope="session")
def _session_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kafkalab")


_shared = {}


@pytest.fixture
def broker(_session_dir):
    """The shared default broker (restarted if a previous test killed it)."""
    b = _shared.get("broker")
    if b is None or not b.alive():
        n = _shared.get("n", 0) + 1
        _shared["n"] = n
        d = _session_dir / f"shared-{n}"
        d.mkdir()
        b = Broker(d / "logs", {}, workdir=d).start()
        _shared["broker"] = b
    yield b
    if not b.alive():
        pytest.fail(f"broker process died during the test (exit {b.proc.returncode})\n"
                    f"{b.diagnostics()}", pytrace=False)


@pytest.fixture
def bootstrap(broker):
    return broker.bootstrap


def pytest_sessionfinish(session, exitstatus):
    b = _shared.pop("broker", None)
    if b is not None:
        try:
            b.stop()
        except BrokerError:
            pass


@pytest.fixture
def broker_factory(tmp_path):
    """Start dedicated brokers with extra overrides; all stopped at teardown."""
    started: list[Broker] = []

    def make(overrides: dict | None = None, log_dir: Path | None = None) -> Broker:
        n = len(started) + 1
        wd = tmp_path / f"broker-{n}"
        wd.mkdir()
        b = Broker(Path(log_dir) if log_dir else wd / "logs", overrides, workdir=wd)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        try:
            b.stop()
        except BrokerError:
            pass


def free_ports(n: int) -> list[int]:
    """Free loopback ports: bound to port 0, then released for a broker to bind."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Cluster3:
    """Three kafkalab broker processes forming one cluster (broker + controller
    voter each). Short timers: fenced after 2 s without heartbeats."""

    SESSION_MS = 2000

    def __init__(self, root: Path, overrides: dict | None = None):
        ports = free_ports(3)
        self.voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(ports))
        self.nodes: list[Broker] = []
        for i in range(3):
            wd = root / f"node-{i}"
            wd.mkdir()
            o = {
                "node.id": str(i),
                "controller.quorum.voters": self.voters,
                "broker.session.timeout.ms": str(self.SESSION_MS),
                "controller.quorum.election.timeout.ms": "500",
                "replica.lag.time.max.ms": "5000",
            }
            o.update(overrides or {})
            self.nodes.append(Broker(wd / "logs", o, workdir=wd))

    def start(self, i: int):
        b = self.nodes[i].start()
        # A restart binds the same Kafka port, so clients keep their bootstrap list.
        b.overrides["listeners"] = f"PLAINTEXT://{b.bootstrap}"
        return b

    def kill(self, i: int):
        self.nodes[i].kill()

    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.nodes if b.alive())

    def wait_formed(self, timeout: float = 20.0):
        """Until every node's Metadata names all three brokers and a controller."""
        import kwire

        deadline = time.monotonic() + timeout
        while True:
            try:
                ok = True
                for b in self.nodes:
                    with kwire.Conn(b.bootstrap, timeout=2) as conn:
                        md = kwire.metadata_v1(conn, [])
                    ok = ok and len(md["brokers"]) == 3 and md["controller"] >= 0
                if ok:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BrokerError("the cluster did not form:\n" +
                                  "\n".join(b.diagnostics() for b in self.nodes))
            time.sleep(0.1)

    def stop_all(self):
        for b in self.nodes:
            try:
                b.stop()
            except BrokerError:
                pass


@pytest.fixture
def cluster3(tmp_path):
    c = Cluster3(tmp_path)
    try:
        for i in range(3):
            c.start(i)
        c.wait_formed()
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def topic_name(request):
    base = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:80]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=[
    pytest.param("confluent", marks=pytest.mark.confluent),
    pytest.param("kafka-python", marks=pytest.mark.kafka_python),
])
def client_kind(request):
    return request.param


@pytest.fixture
def make_client(client_kind):
    """``make_client(bootstrap)`` -> adapter for the parametrised client."""
    import clientlib

    made = []

    def make(bootstrap):
        c = clientlib.make_client(client_kind, bootstrap)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(make_client, bootstrap):
    return make_client(bootstrap)
