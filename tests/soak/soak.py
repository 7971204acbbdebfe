"""The soak run behind scripts/soak: two daemons in the same two groups and an independent
writer on one topic of the 3-broker stack, a nemesis applying random faults drawn from a
seed, then a clean stop and the independent checker (checker.py) over the whole history.

Everything runs on 127.0.0.1: faults are signals to the stack's and the daemons' processes,
`scripts/stack up` to bring a killed process back, a partition added through the admin API,
poison records from the writer, and a proxy in front of the registry that stops answering.
The run's files (each daemon's log, the writer's acknowledgements, the fault log) are kept in
its directory, printed at the start.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

import fastavro
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

sys.path.insert(0, os.path.dirname(__file__))
import checker  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK_DIR = os.environ.get("STACK_DIR", os.path.join(ROOT, ".stack"))
BOOTSTRAP = "127.0.0.1:9094,127.0.0.1:9095,127.0.0.1:9096"
CONTROLLERS = "127.0.0.1:19094,127.0.0.1:19095,127.0.0.1:19096"
REGISTRY = "http://127.0.0.1:8082/apis/ccompat/v7"
REGISTRY_PORT = 8082
BROKERS = 3

# The daemons' consumers: a member frozen past this is fenced (a zombie when it resumes).
SESSION_TIMEOUT_S = 10
# A broker frozen past this (KRaft's broker.session.timeout.ms, 9 s) is fenced by the quorum.
BROKER_SESSION_TIMEOUT_S = 9
STOP_TIMEOUT_MS = 20000
# What a stop may take past STOP_TIMEOUT_MS: the process's own exit after its deadline.
STOP_MARGIN_S = 3
# RSS at the last quiet point may exceed that at the first by this much (the 20 %),
# judged only when the samples span this long: a short run's first minute is its warm-up.
RSS_GROWTH_LIMIT = 0.20
RSS_JUDGED_AFTER_S = 600
PRODUCE_INTERVAL_MS = 100
PRODUCER_KEYS = 16
WRITER_RATE = 5  # records per second
WRITER_KEYS = 8
MAX_PARTITIONS = 6
USER_SCHEMA = open(os.path.join(ROOT, "schemas", "user.avsc")).read()

BROKER_FAULTS = ("broker-kill", "broker-freeze", "controller-kill")
OTHER_FAULTS = (
    "registry-kill",
    "registry-hang",
    "daemon-kill",
    "daemon-term",
    "daemon-freeze",
    "add-partition",
    "poison-burst",
)


def now() -> float:
    return time.time()


class Run:
    """The run's directory and its one log of what happened."""

    def __init__(self, directory: str):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._log = open(os.path.join(directory, "soak.log"), "a", buffering=1)
        self._lock = threading.Lock()
        self.started = now()

    def say(self, line: str) -> None:
        stamp = f"{now() - self.started:7.1f}s"
        with self._lock:
            self._log.write(f"{stamp} {line}\n")
            print(f"soak: {stamp} {line}", flush=True)


# ---------------------------------------------------------------------------------------------
# The stack's processes


def stack_pid(name: str) -> int | None:
    try:
        with open(os.path.join(STACK_DIR, name, "pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


_stack_lock = threading.Lock()


def stack_up(run: Run) -> bool:
    """`scripts/stack up`: starts what is not running (one at a time: it is not reentrant).
    Tried again when it fails: a fault of another kind can land while it waits for a process
    (the registry killed while a broker's restart checks the registry), and a process left
    down would turn the next broker fault into two brokers down. Its output goes to
    stack-up.log in the run's directory."""
    for attempt in range(1, 5):
        with _stack_lock:
            out = subprocess.run(
                [os.path.join(ROOT, "scripts", "stack"), "up"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "STACK_BROKERS": str(BROKERS)},
            )
        with open(os.path.join(run.dir, "stack-up.log"), "a") as f:
            f.write(f"==== {now() - run.started:.1f}s exit {out.returncode}\n{out.stdout}")
        if out.returncode == 0:
            return True
        last = (out.stdout.strip().splitlines() or [""])[-1]
        run.say(f"scripts/stack up failed ({out.returncode}, attempt {attempt}): {last[-200:]}")
    return False


def quorum_leader() -> int | None:
    """The KRaft quorum's leader, as the node with the newest epoch recorded it (each node
    keeps its view in `quorum-state`)."""
    best = None
    for node in range(1, BROKERS + 1):
        path = os.path.join(STACK_DIR, f"node{node}", "data", "__cluster_metadata-0", "quorum-state")
        try:
            with open(path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        if state.get("leaderId", -1) > 0 and (best is None or state["leaderEpoch"] > best[0]):
            best = (state["leaderEpoch"], state["leaderId"])
    return best[1] if best else None


class RegistryProxy:
    """A TCP proxy in front of the registry that can stop answering (hang): while hung, it
    accepts connections and reads nothing, and holds the ones it has."""

    def __init__(self):
        self.hung = threading.Event()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/apis/ccompat/v7"

    def _accept(self):
        while True:
            client, _ = self.server.accept()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", REGISTRY_PORT), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while True:
                while self.hung.is_set():
                    time.sleep(0.1)
                data = source.recv(65536)
                if not data:
                    break
                while self.hung.is_set():
                    time.sleep(0.1)
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# The daemons


class Daemon:
    """One daemon instance: its environment, its log (every incarnation appended), and what
    was done to it."""

    def __init__(self, run: Run, name: str, binary: str, env: dict[str, str]):
        self.run = run
        self.name = name
        self.binary = binary
        self.env = env
        self.log_path = os.path.join(run.dir, f"{name}.log")
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        # Set while the nemesis (or the end of the run) has signalled it: its exit is expected.
        self.expected_exit = False
        self.frozen = False
        self.stops: list[tuple[float, int | None, str]] = []  # (seconds, exit code, why)
        self.unexpected_exits: list[str] = []
        self.rss: list[tuple[float, int]] = []  # (time, KiB) at quiet points
        self.lock = threading.Lock()

    def start(self, extra: dict[str, str] | None = None):
        log = open(self.log_path, "ab")
        log.write(f"==== soak: {self.name} started at {now():.3f} ====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [self.binary],
            env={**self.env, **(extra or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started_at = now()
        self.expected_exit = False
        self.frozen = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, sig: int, why: str, brokers_frozen: bool) -> float:
        """Signals it and waits for its exit: returns how long the stop took."""
        self.expected_exit = True
        if self.frozen:
            self.signal(signal.SIGCONT)
            self.frozen = False
        began = now()
        self.signal(sig)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT_MS / 1000 + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            self.unexpected_exits.append(f"{why}: not stopped within STOP_TIMEOUT_MS + 30 s")
        took = now() - began
        self.stops.append((took, code, why))
        allowed = {0} | ({3} if brokers_frozen else set())
        if code not in allowed:
            self.unexpected_exits.append(
                f"{why}: exit {code} after {took:.1f}s (brokers frozen: {brokers_frozen})"
            )
        elif took > STOP_TIMEOUT_MS / 1000 + STOP_MARGIN_S:
            self.unexpected_exits.append(
                f"{why}: took {took:.1f}s, past STOP_TIMEOUT_MS ({STOP_TIMEOUT_MS} ms)"
                f" + {STOP_MARGIN_S} s"
            )
        return took

    def kill9(self):
        self.expected_exit = True
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def rss_kib(self) -> int | None:
        if not self.alive():
            return None
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None


# ---------------------------------------------------------------------------------------------
# The independent writer


def frame(schema_id: int, record: dict, parsed) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, record)
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


class Writer:
    """Another client writing `User` records with keys of its own (`writer-<n>`), and bursts
    of poison on request; each record says what it is in a `soak.kind` header, and each
    acknowledgement is kept."""

    def __init__(self, run: Run, topic: str, schema_id: int):
        self.run = run
        self.topic = topic
        self.schema_id = schema_id
        self.parsed = fastavro.parse_schema(json.loads(USER_SCHEMA))
        self.producer = Producer(
            {
                "bootstrap.servers": BOOTSTRAP,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 300000,
            }
        )
        self.acks: list[tuple[int, int, str]] = []
        self.failed = 0
        self.sent = 0
        self.stopping = threading.Event()
        self.poison_requests = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, err, msg):
        if err is not None:
            self.failed += 1
            return
        kind = dict(msg.headers() or []).get("soak.kind", b"").decode()
        self.acks.append((msg.partition(), msg.offset(), kind))

    def _send(self, key: bytes, value: bytes, kind: str):
        while True:
            try:
                self.producer.produce(
                    self.topic,
                    key=key,
                    value=value,
                    headers=[("soak.kind", kind.encode())],
                    on_delivery=self._delivered,
                )
                self.sent += 1
                return
            except BufferError:
                self.producer.poll(0.1)

    def poison(self, n: int):
        with self.lock:
            self.poison_requests += n

    def _poison_records(self, n: int):
        good = frame(self.schema_id, {"name": "x"}, self.parsed)
        kinds = [
            b"\x01" + good[1:],  # not the magic byte
            good[:5] + b"\x7f",  # a string length past the end
            good + b"\x00\x00",  # bytes left over
            b"\x00\xff\xff\xff\xf0" + good[5:],  # a schema id the registry never gave
            b"\x00",  # too short to hold a schema id
        ]
        for i in range(n):
            self._send(b"writer-poison-%d" % i, kinds[i % len(kinds)], "poison")

    def _run(self):
        n = 0
        period = 1.0 / WRITER_RATE
        next_at = now()
        while not self.stopping.is_set():
            with self.lock:
                poison, self.poison_requests = self.poison_requests, 0
            if poison:
                self._poison_records(poison)
            value = frame(self.schema_id, {"name": f"writer_{n}"}, self.parsed)
            self._send(b"writer-%d" % (n % WRITER_KEYS), value, "good")
            n += 1
            # poll() returns as soon as it served a delivery report: pace by the clock.
            next_at += period
            while now() < next_at:
                self.producer.poll(max(0.0, next_at - now()))

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join()
        left = self.producer.flush(120)
        if left:
            self.run.say(f"writer: {left} records not acknowledged at the end")


# ---------------------------------------------------------------------------------------------
# The nemesis


class Nemesis:
    """Random faults from the menu at random intervals, all drawn from the seed; at most one
    broker fault and one fault of another kind at a time."""

    def __init__(self, run, rng, daemons, writer, proxy, topic, until):
        self.run = run
        self.rng = rng
        self.daemons = daemons
        self.writer = writer
        self.proxy = proxy
        self.topic = topic
        self.until = until
        self.faults: list[checker.Fault] = []
        self.active = {"broker": None, "other": None}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.frozen_brokers = 0
        # Faults that left the stack broken (the run then fails).
        self.broken: list[str] = []
        self.admin = AdminClient({"bootstrap.servers": BOOTSTRAP})

    def brokers_frozen(self) -> bool:
        return self.frozen_brokers > 0

    def quiet(self) -> bool:
        with self.lock:
            return self.active["broker"] is None and self.active["other"] is None

    def loop(self):
        while now() < self.until:
            time.sleep(self.rng.uniform(4, 12))
            if now() >= self.until:
                break
            slot = "broker" if self.rng.random() < 0.35 else "other"
            kind = self.rng.choice(BROKER_FAULTS if slot == "broker" else OTHER_FAULTS)
            with self.lock:
                if self.active[slot] is not None:
                    continue
                self.active[slot] = kind
            # Each fault's own draws come from a generator seeded by this one: the sequence of
            # faults stays the same whatever the threads' timing.
            fault_rng = random.Random(self.rng.random())
            t = threading.Thread(target=self._apply, args=(slot, kind, fault_rng), daemon=True)
            self.threads.append(t)
            t.start()
        for t in self.threads:
            t.join()

    def _apply(self, slot, kind, rng):
        began = now()
        self.run.say(f"fault {kind} begins")
        try:
            detail = getattr(self, kind.replace("-", "_"))(rng)
        except Exception as e:  # a fault that could not be applied is logged, not fatal
            detail = f"failed: {e!r}"
        ended = now()
        self.faults.append(checker.Fault(kind, began, ended))
        self.run.say(f"fault {kind} {detail} ({ended - began:.1f}s)")
        with self.lock:
            self.active[slot] = None

    def _restart(self, what: str):
        """Brings what a fault killed back; a run whose stack could not be restored proves
        nothing, and says so."""
        if not stack_up(self.run):
            self.broken.append(f"{what} not restarted: scripts/stack up failed 4 times")
            raise RuntimeError(f"{what} not restarted")

    # Broker faults -----------------------------------------------------------------------

    def broker_kill(self, rng, node=None):
        node = node or rng.randint(1, BROKERS)
        pid = stack_pid(f"node{node}")
        os.kill(pid, signal.SIGKILL)
        time.sleep(rng.uniform(2, 8))
        self._restart(f"node {node}")
        return f"node {node} (pid {pid}) killed, restarted"

    def broker_freeze(self, rng):
        node = rng.randint(1, BROKERS)
        pid = stack_pid(f"node{node}")
        held = BROKER_SESSION_TIMEOUT_S + rng.uniform(2, 6)
        self.frozen_brokers += 1
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(held)
        finally:
            os.kill(pid, signal.SIGCONT)
            self.frozen_brokers -= 1
        return f"node {node} frozen {held:.1f}s"

    def controller_kill(self, rng):
        leader = quorum_leader()
        if leader is None:
            return self.broker_kill(rng) + " (no quorum leader found: a random node)"
        return self.broker_kill(rng, node=leader) + " (the quorum's leader)"

    # Other faults ------------------------------------------------------------------------

    def registry_kill(self, rng):
        pid = stack_pid("registry")
        os.kill(pid, signal.SIGKILL)
        time.sleep(rng.uniform(1, 5))
        self._restart("the registry")
        return f"registry (pid {pid}) killed, restarted"

    def registry_hang(self, rng):
        held = rng.uniform(5, 20)
        self.proxy.hung.set()
        time.sleep(held)
        self.proxy.hung.clear()
        return f"registry hung {held:.1f}s"

    def daemon_kill(self, rng):
        daemon = rng.choice(self.daemons)
        with daemon.lock:
            daemon.kill9()
            time.sleep(rng.uniform(1, 5))
            daemon.start()
        return f"{daemon.name} killed, restarted"

    def daemon_term(self, rng):
        daemon = rng.choice(self.daemons)
        with daemon.lock:
            took = daemon.stop(signal.SIGTERM, "SIGTERM by the nemesis", self.brokers_frozen())
            time.sleep(rng.uniform(1, 3))
            daemon.start()
        return f"{daemon.name} stopped in {took:.1f}s, restarted"

    def daemon_freeze(self, rng):
        daemon = rng.choice(self.daemons)
        held = SESSION_TIMEOUT_S + rng.uniform(2, 6)
        with daemon.lock:
            daemon.frozen = True
            daemon.signal(signal.SIGSTOP)
            time.sleep(held)
            daemon.signal(signal.SIGCONT)
            daemon.frozen = False
        return f"{daemon.name} frozen {held:.1f}s (past its session timeout: a zombie member)"

    def add_partition(self, rng):
        metadata = self.admin.list_topics(self.topic, timeout=30)
        count = len(metadata.topics[self.topic].partitions)
        if count >= MAX_PARTITIONS:
            return f"not applied: {count} partitions already"
        future = self.admin.create_partitions([NewPartitions(self.topic, count + 1)])
        future[self.topic].result(timeout=60)
        return f"{count} -> {count + 1} partitions"

    def poison_burst(self, rng):
        n = rng.randint(3, 10)
        self.writer.poison(n)
        return f"{n} poison records from the writer"


# ---------------------------------------------------------------------------------------------
# Reading the history back


LINE = re.compile(r"^\[(\S+)Z (\w+)\s+(\S+)\] (.*)$")
RECEIVED = re.compile(r"^received \{.*\} \(p=(\d+), o=(\d+)\)$")
DELIVERED = re.compile(r"^delivered to \S+ \(p=(\d+), o=(\d+)\)$")
AUDIT_LOSS = re.compile(
    r"^audit: (\S+): (\d+) records lost in p=(\d+) of run (\S+): sequence numbers (\d+)\.\.(\d+)"
)
GROUP_OF_TARGET = {
    "kafka_avro_daemon::single_consumer": "single",
    "kafka_avro_daemon::batch_consumer": "batch",
}


def parse_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


def read_daemon_logs(daemons):
    handled, acknowledged, audit_losses, problems = [], {}, [], []
    for daemon in daemons:
        with open(daemon.log_path, errors="replace") as f:
            for line in f:
                m = LINE.match(line.rstrip("\n"))
                if not m:
                    continue
                at, level, target, message = m.groups()
                if target in GROUP_OF_TARGET:
                    r = RECEIVED.match(message)
                    if r:
                        handled.append(
                            (
                                GROUP_OF_TARGET[target],
                                checker.Handled(
                                    parse_time(at), int(r.group(1)), int(r.group(2)), daemon.name
                                ),
                            )
                        )
                        continue
                d = DELIVERED.match(message)
                if d:
                    acknowledged[(int(d.group(1)), int(d.group(2)))] = daemon.name
                    continue
                a = AUDIT_LOSS.match(message)
                if a:
                    group = "single" if "single" in a.group(1) else "batch"
                    audit_losses.append(
                        checker.AuditLoss(
                            group, int(a.group(3)), a.group(4), int(a.group(5)), int(a.group(6))
                        )
                    )
                if level == "ERROR":
                    problems.append(f"{daemon.name}: {message[:200]}")
    return handled, acknowledged, audit_losses, problems


def read_topic(topic: str) -> list[checker.Record]:
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"soak-checker-{os.getpid()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    metadata = consumer.list_topics(topic, timeout=30)
    partitions = sorted(metadata.topics[topic].partitions)
    ends = {}
    for p in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        ends[p] = high
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    records = []
    done = {p for p in partitions if ends[p] == 0}
    deadline = now() + 300
    while len(done) < len(partitions) and now() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                if msg.offset() >= ends[msg.partition()]:
                    done.add(msg.partition())
            continue
        if msg.offset() >= ends[msg.partition()]:
            done.add(msg.partition())
            continue
        headers = dict(msg.headers() or [])
        kind = headers.get("soak.kind", b"good").decode()
        stamp = None
        audit = headers.get("kad.audit")
        if audit is not None and len(audit) == 42:
            stamp = (audit[2:18].hex(), struct.unpack(">Q", audit[18:26])[0])
        records.append(checker.Record(msg.partition(), msg.offset(), kind, msg.key(), stamp))
    consumer.close()
    if len(done) < len(partitions):
        raise RuntimeError(f"the topic was not read to its end within 300 s: {sorted(done)}")
    return records


def committed_lag(topic: str, group: str) -> int | None:
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        parts = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        committed = consumer.committed(parts, timeout=10)
        lag = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
            lag += high - max(tp.offset, 0)
        return lag
    except Exception:
        return None
    finally:
        consumer.close()


def delivered_lines(daemon) -> int:
    with open(daemon.log_path, errors="replace") as f:
        return sum(1 for line in f if "] delivered to " in line)


def uuid_hex(run_id: str) -> str:
    return run_id.replace("-", "")


# ---------------------------------------------------------------------------------------------


def register_user_schema(subject: str) -> int:
    body = json.dumps({"schema": USER_SCHEMA}).encode()
    request = urllib.request.Request(
        f"{REGISTRY}/subjects/{subject}/versions",
        data=body,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["id"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()

    run = Run(args.dir)
    rng = random.Random(args.seed)
    tag = f"soak-{args.seed}-{int(now())}"
    topic = tag
    run.say(f"seed {args.seed}, {args.minutes} min, topic {topic}, files in {args.dir}")

    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(
        timeout=60
    )
    schema_id = register_user_schema(f"{topic}-value")
    proxy = RegistryProxy()
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP,
        "SCHEMA_REGISTRY_URL": proxy.url,
        "TEST_TOPIC_NAME": topic,
        "CREATE_TOPICS": "false",
        "CONSUMER_GROUP_ID_1": f"{tag}-single",
        "CONSUMER_GROUP_ID_2": f"{tag}-batch",
        "PRODUCE_INTERVAL_MS": str(PRODUCE_INTERVAL_MS),
        "PRODUCER_KEYS": str(PRODUCER_KEYS),
        "STOP_TIMEOUT_MS": str(STOP_TIMEOUT_MS),
        "SCHEMA_NOT_FOUND_GRACE_S": "2",
        "STATS_INTERVAL_S": "10",
        "LIBRDKAFKA_CONSUMER_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_S * 1000),
        "RUST_LOG": "info",
    }
    daemons = [
        Daemon(run, name, args.binary, {**base_env, "CONSUMER_INSTANCE_ID": f"{tag}-{name}"})
        for name in ("daemon-a", "daemon-b")
    ]
    for daemon in daemons:
        daemon.start()
    writer = Writer(run, topic, schema_id)
    writer.start()

    until = now() + args.minutes * 60
    nemesis = Nemesis(run, rng, daemons, writer, proxy, topic, until)
    nemesis_thread = threading.Thread(target=nemesis.loop, daemon=True)
    nemesis_thread.start()

    # Watch: a daemon that exits on its own is a finding (and is started again, so the run
    # goes on); RSS sampled at quiet points.
    while nemesis_thread.is_alive():
        time.sleep(2)
        for daemon in daemons:
            with daemon.lock:
                if not daemon.alive() and not daemon.expected_exit:
                    code = daemon.proc.returncode if daemon.proc else None
                    daemon.unexpected_exits.append(f"exited by itself with {code}")
                    run.say(f"{daemon.name} exited by itself ({code}); started again")
                    daemon.start()
                if (
                    nemesis.quiet()
                    and daemon.alive()
                    and not daemon.frozen
                    and now() - daemon.started_at > 60
                ):
                    rss = daemon.rss_kib()
                    if rss:
                        daemon.rss.append((now(), rss))
    run.say("the nemesis is done; every fault healed")

    # The end: the writer stops, the daemons are stopped and started again producing one
    # record each (an interval of a day), the groups catch up to the end, then all stop.
    writer.stop()
    for daemon in daemons:
        daemon.stop(signal.SIGINT, "end of the production phase", False)
    delivered_before = [delivered_lines(d) for d in daemons]
    for daemon in daemons:
        daemon.start({"PRODUCE_INTERVAL_MS": str(86_400_000)})
    deadline = now() + 180
    lags = [None, None]
    while now() < deadline:
        # Each daemon's one record of this incarnation acknowledged, then nothing left unread.
        sent = all(delivered_lines(d) > before for d, before in zip(daemons, delivered_before))
        lags = [committed_lag(topic, f"{tag}-single"), committed_lag(topic, f"{tag}-batch")]
        if sent and lags == [0, 0]:
            break
        time.sleep(2)
    run.say(f"groups' lag at the end: {lags}")
    for daemon in daemons:
        daemon.stop(signal.SIGINT, "end of the run", False)

    # The checker.
    records = read_topic(topic)
    handled, acknowledged, audit_losses, errors = read_daemon_logs(daemons)
    for p, o, kind in writer.acks:
        acknowledged[(p, o)] = "writer"
    # The audit names runs as UUIDs with dashes; the stamps are read as hex.
    audit_losses = [
        checker.AuditLoss(a.group, a.partition, uuid_hex(a.run), a.first, a.last)
        for a in audit_losses
    ]
    history = checker.History(
        records=records,
        acknowledged=acknowledged,
        handled=checker.by_group(handled),
        faults=nemesis.faults,
        audit_losses=audit_losses,
        session_timeout_s=SESSION_TIMEOUT_S,
    )
    for group in ("single", "batch"):
        history.handled.setdefault(group, [])
    verdict = checker.judge(history)

    faults_by_kind: dict[str, int] = {}
    for fault in nemesis.faults:
        faults_by_kind[fault.kind] = faults_by_kind.get(fault.kind, 0) + 1
    worst_stop = max((s[0] for d in daemons for s in d.stops), default=0.0)
    stalls = {}
    for group, handlings in history.handled.items():
        times = sorted(h.time for h in handlings)
        stalls[group] = max((b - a for a, b in zip(times, times[1:])), default=0.0)
    unexpected = [f"{d.name}: {e}" for d in daemons for e in d.unexpected_exits]
    unexpected += [f"nemesis: {line}" for line in nemesis.broken]

    print()
    print(f"{'faults applied':40} {len(nemesis.faults)}")
    for kind, count in sorted(faults_by_kind.items()):
        print(f"  {kind:38} {count}")
    print(f"{'good records on the topic':40} {verdict.produced}")
    print(f"{'poison records on the topic':40} {verdict.poison}")
    print(f"{'acknowledged, not on the topic':40} {len(verdict.acknowledged_missing)}")
    for group, g in sorted(verdict.groups.items()):
        print(f"group {group}")
        print(f"  {'handled (lines)':38} {g.handled}")
        print(f"  {'lost':38} {len(g.lost)}")
        print(f"  {'redelivered in a fault window':38} {g.redelivered_in_window}")
        for kind, count in sorted(g.redelivered_by_fault.items()):
            print(f"    {'in the window of ' + kind:36} {count}")
        print(f"  {'redelivered outside every window':38} {len(g.redelivered_outside)}")
        print(f"  {'out of order outside a window':38} {len(g.out_of_order)}")
        print(f"  {'poison handled as good':38} {len(g.poison_handled)}")
        print(f"  {'worst stall between records, s':38} {stalls.get(group, 0):.0f}")
    print(f"{'audit losses reported':40} {len(audit_losses)} (false: {len(verdict.audit_false_losses)})")
    print(f"{'worst stop, s':40} {worst_stop:.1f}")
    for daemon in daemons:
        first = daemon.rss[0][1] if daemon.rss else 0
        last = daemon.rss[-1][1] if daemon.rss else 0
        print(f"{daemon.name + ' RSS at quiet points, MiB':40} {first / 1024:.1f} -> {last / 1024:.1f} ({len(daemon.rss)} samples)")
    for line in unexpected:
        print(f"unexpected: {line}")
    for line in verdict.problems():
        print(f"problem: {line}")
    for line in errors[:10]:
        print(f"daemon error line: {line}")
    rss_growth = max(
        (d.rss[-1][1] / d.rss[0][1] - 1 for d in daemons if len(d.rss) >= 2), default=0.0
    )
    rss_span = min((d.rss[-1][0] - d.rss[0][0] for d in daemons if d.rss), default=0.0)
    rss_grew = rss_span >= RSS_JUDGED_AFTER_S and rss_growth > RSS_GROWTH_LIMIT
    if rss_grew:
        print(f"problem: RSS grew {rss_growth * 100:.0f} % over {rss_span / 60:.0f} min")
    ok = verdict.ok and not unexpected and not rss_grew
    print(
        checker.summary_line(
            verdict,
            run_ok=not unexpected and not rss_grew,
            seed=args.seed,
            minutes=args.minutes,
            faults=len(nemesis.faults),
            unexpected_exits=len(unexpected),
            worst_stop_s=f"{worst_stop:.1f}",
            worst_stall_s=f"{max(stalls.values(), default=0):.0f}",
            rss_growth_pct=f"{rss_growth * 100:.0f}",
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
