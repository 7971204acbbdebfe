"""The soak's checker: what was acknowledged, what is on the topic and what each group
handled, judged independently of the daemon's own audit.

`judge(history)` is pure: it takes a `History` (built from the topic, the producers' logs,
the daemons' logs and the nemesis's fault log by `scripts/soak`) and returns a `Verdict`.
Its unit tests (`test_checker.py`) feed it synthetic histories.

The rules, per consumer group:
- every good record on the topic is handled at least once (else it is lost);
- every acknowledged record is on the topic (else it is lost, whoever handled what);
- a record handled again is a redelivery, allowed only inside a fault window: from
  `WINDOW_BEFORE_S` before a fault began to the session timeout plus `WINDOW_AFTER_S` after it
  ended (a rebalance or a restart hands a partition over from its last commit);
- poison records are never handled as good;
- within a partition, a group handles offsets in increasing order except where it goes back
  for a redelivery (inside a window, as above); per producer run, the records of a partition
  are on the topic in the order they were sent (their audit sequence numbers increase with
  the offset), which keeps each key's order;
- every loss the daemon's audit reports is real: no record with that run and sequence number
  is on the topic in that partition.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

WINDOW_BEFORE_S = 10.0
WINDOW_AFTER_S = 10.0
# Lines shown of each kind of problem.
SHOWN = 5


@dataclasses.dataclass(frozen=True)
class Record:
    """A record on the topic."""

    partition: int
    offset: int
    # "good" (the daemons' records and the writer's good ones) or "poison".
    kind: str
    key: bytes | None = None
    # The audit stamp of the daemons' records: (run id, sequence number in the partition).
    stamp: tuple[str, int] | None = None


@dataclasses.dataclass(frozen=True)
class Handled:
    """One `received … (p=, o=)` line: a record handled by a group, at `time` (s)."""

    time: float
    partition: int
    offset: int
    instance: str = ""


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str
    start: float
    end: float


@dataclasses.dataclass(frozen=True)
class AuditLoss:
    """An `audit: … N records lost in p=P of run R: sequence numbers A..B` line."""

    group: str
    partition: int
    run: str
    first: int
    last: int


@dataclasses.dataclass
class History:
    records: list[Record]
    # (partition, offset) of every record a producer was told was written, and by whom.
    acknowledged: dict[tuple[int, int], str]
    # Per group, every handling, in no particular order.
    handled: dict[str, list[Handled]]
    faults: list[Fault]
    audit_losses: list[AuditLoss] = dataclasses.field(default_factory=list)
    session_timeout_s: float = 45.0


@dataclasses.dataclass
class GroupVerdict:
    handled: int = 0
    lost: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    redelivered_in_window: int = 0
    # Why: each redelivery inside a window counted under the kinds of the faults whose
    # windows hold it ("broker-kill+daemon-term" where windows overlap).
    redelivered_by_fault: dict[str, int] = dataclasses.field(default_factory=dict)
    redelivered_outside: list[Handled] = dataclasses.field(default_factory=list)
    poison_handled: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    out_of_order: list[Handled] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Verdict:
    produced: int
    poison: int
    groups: dict[str, GroupVerdict]
    # Acknowledged but not on the topic.
    acknowledged_missing: list[tuple[int, int]]
    # The producers' own order broken: (partition, offset) where a run's sequence went back.
    reordered_on_topic: list[tuple[int, int]]
    # Losses the audit reported for records that are on the topic.
    audit_false_losses: list[AuditLoss]
    # Losses the checker found that the audit did not report.
    unseen_by_audit: int

    @property
    def lost(self) -> int:
        return len(self.acknowledged_missing) + sum(len(g.lost) for g in self.groups.values())

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and not self.reordered_on_topic
            and not self.audit_false_losses
            and all(
                not g.redelivered_outside and not g.poison_handled and not g.out_of_order
                for g in self.groups.values()
            )
        )

    def problems(self) -> list[str]:
        """One line per thing wrong, at most `SHOWN` of each kind."""
        lines = []

        def show(items, line):
            lines.extend(line(item) for item in items[:SHOWN])

        def place(at):
            return f"p={at[0]} o={at[1]}"

        show(self.acknowledged_missing, lambda at: f"acknowledged but not on the topic: {place(at)}")
        show(
            self.reordered_on_topic,
            lambda at: f"a producer run's records out of order on the topic at {place(at)}",
        )
        show(
            self.audit_false_losses,
            lambda loss: f"the audit of {loss.group} reported a loss that is on the topic: "
            f"p={loss.partition} run {loss.run} sequence numbers {loss.first}..{loss.last}",
        )
        for name, group in sorted(self.groups.items()):
            show(group.lost, lambda at: f"{name}: lost {place(at)} (on the topic, never handled)")
            show(
                group.redelivered_outside,
                lambda h: f"{name}: p={h.partition} o={h.offset} handled again at {h.time:.0f} "
                f"({h.instance}), outside every fault window",
            )
            show(group.poison_handled, lambda at: f"{name}: poison record {place(at)} handled as good")
            show(
                group.out_of_order,
                lambda h: f"{name}: p={h.partition} went back to o={h.offset} at {h.time:.0f} "
                f"({h.instance}), outside every fault window",
            )
        return lines


def windows_of(time: float, faults: list[Fault], session_timeout_s: float) -> str | None:
    """The kinds of the faults whose windows hold `time`, joined by `+`, or None."""
    kinds = sorted(
        {
            f.kind
            for f in faults
            if f.start - WINDOW_BEFORE_S <= time <= f.end + session_timeout_s + WINDOW_AFTER_S
        }
    )
    return "+".join(kinds) or None


def judge(history: History) -> Verdict:
    by_place = {(r.partition, r.offset): r for r in history.records}
    good = [r for r in history.records if r.kind == "good"]
    acknowledged_missing = sorted(at for at in history.acknowledged if at not in by_place)

    # Each producer run's records in a partition, in offset order, must have increasing
    # sequence numbers.
    reordered = []
    last_sequence: dict[tuple[str, int], int] = {}
    for r in sorted(history.records, key=lambda r: (r.partition, r.offset)):
        if r.stamp is None:
            continue
        run, sequence = r.stamp
        previous = last_sequence.get((run, r.partition))
        if previous is not None and sequence <= previous:
            reordered.append((r.partition, r.offset))
        last_sequence[(run, r.partition)] = max(sequence, previous or sequence)

    groups = {}
    for name, handlings in history.handled.items():
        verdict = GroupVerdict(handled=len(handlings))
        seen: set[tuple[int, int]] = set()
        high: dict[int, int] = {}
        for h in sorted(handlings, key=lambda h: h.time):
            at = (h.partition, h.offset)
            record = by_place.get(at)
            if record is not None and record.kind == "poison":
                verdict.poison_handled.append(at)
            window = windows_of(h.time, history.faults, history.session_timeout_s)
            allowed = window is not None
            if at in seen:
                if allowed:
                    verdict.redelivered_in_window += 1
                    why = verdict.redelivered_by_fault
                    why[window] = why.get(window, 0) + 1
                else:
                    verdict.redelivered_outside.append(h)
            elif h.partition in high and h.offset < high[h.partition] and not allowed:
                # A first handling behind one already made: the group skipped ahead, then
                # came back.
                verdict.out_of_order.append(h)
            seen.add(at)
            high[h.partition] = max(h.offset, high.get(h.partition, h.offset))
        verdict.lost = sorted(
            (r.partition, r.offset) for r in good if (r.partition, r.offset) not in seen
        )
        groups[name] = verdict

    stamps = {(r.partition, r.stamp) for r in history.records if r.stamp is not None}
    false_losses = [
        loss
        for loss in history.audit_losses
        if any(
            (loss.partition, (loss.run, s)) in stamps
            for s in range(loss.first, min(loss.last, loss.first + 1_000_000) + 1)
        )
    ]
    reported = sum(loss.last - loss.first + 1 for loss in history.audit_losses)
    found = len(acknowledged_missing) + sum(len(g.lost) for g in groups.values())
    return Verdict(
        produced=len(good),
        poison=sum(1 for r in history.records if r.kind == "poison"),
        groups=groups,
        acknowledged_missing=acknowledged_missing,
        reordered_on_topic=reordered,
        audit_false_losses=false_losses,
        unseen_by_audit=max(0, found - reported),
    )


def summary_line(verdict: Verdict, run_ok: bool = True, **figures) -> str:
    """The run's last line: key=value figures, `faults=` and `lost=` among them; `ok=1` when
    the checker found nothing wrong and `run_ok` (what the run itself saw) holds."""
    parts = dict(figures)
    parts["produced"] = verdict.produced
    parts["poison"] = verdict.poison
    parts["lost"] = verdict.lost
    parts["redelivered"] = sum(g.redelivered_in_window for g in verdict.groups.values())
    parts["redelivered_outside"] = sum(len(g.redelivered_outside) for g in verdict.groups.values())
    parts["out_of_order"] = sum(len(g.out_of_order) for g in verdict.groups.values())
    parts["poison_handled"] = sum(len(g.poison_handled) for g in verdict.groups.values())
    parts["audit_false_losses"] = len(verdict.audit_false_losses)
    parts["checker_ok"] = int(verdict.ok)
    parts["ok"] = int(verdict.ok and run_ok)
    return " ".join(f"{k}={v}" for k, v in parts.items())


def by_group(handled: list[tuple[str, Handled]]) -> dict[str, list[Handled]]:
    out: dict[str, list[Handled]] = defaultdict(list)
    for group, h in handled:
        out[group].append(h)
    return dict(out)
