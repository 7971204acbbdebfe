"""Unit tests of the soak's checker: synthetic histories with one thing wrong each, and the
same histories without it. Run: python3 -m unittest tests/soak/test_checker.py"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))

from checker import AuditLoss, Fault, Handled, History, Record, judge  # noqa: E402

GROUPS = ("consumer-group-1", "consumer-group-2")


def clean_history(n=20, partitions=2):
    """`n` good records per partition, each acknowledged and handled once, in order, by both
    groups; one fault from t=100 to t=110."""
    records, acknowledged = [], {}
    handled = {g: [] for g in GROUPS}
    for p in range(partitions):
        for o in range(n):
            records.append(Record(p, o, "good", b"k%d" % (o % 3), ("run-a", o)))
            acknowledged[(p, o)] = "daemon-1"
            for g in GROUPS:
                handled[g].append(Handled(time=10.0 + o, partition=p, offset=o, instance="d1"))
    return History(
        records=records,
        acknowledged=acknowledged,
        handled=handled,
        faults=[Fault("broker-kill", 100.0, 110.0)],
        session_timeout_s=45.0,
    )


class CheckerTest(unittest.TestCase):
    def test_a_clean_history_passes(self):
        verdict = judge(clean_history())
        self.assertTrue(verdict.ok, verdict.problems())
        self.assertEqual(verdict.lost, 0)
        self.assertEqual(verdict.produced, 40)

    def test_one_record_never_handled_by_one_group_is_a_loss(self):
        history = clean_history()
        history.handled["consumer-group-2"] = [
            h for h in history.handled["consumer-group-2"] if (h.partition, h.offset) != (1, 7)
        ]
        verdict = judge(history)
        self.assertFalse(verdict.ok)
        self.assertEqual(verdict.lost, 1)
        self.assertEqual(verdict.groups["consumer-group-2"].lost, [(1, 7)])
        self.assertEqual(verdict.groups["consumer-group-1"].lost, [])

    def test_an_acknowledged_record_missing_from_the_topic_is_a_loss(self):
        history = clean_history()
        history.records = [r for r in history.records if (r.partition, r.offset) != (0, 3)]
        for g in GROUPS:
            history.handled[g] = [h for h in history.handled[g] if (h.partition, h.offset) != (0, 3)]
        verdict = judge(history)
        self.assertFalse(verdict.ok)
        self.assertEqual(verdict.acknowledged_missing, [(0, 3)])
        self.assertEqual(verdict.lost, 1)

    def test_a_redelivery_outside_every_fault_window_fails_and_inside_one_passes(self):
        history = clean_history()
        outside = Handled(time=60.0, partition=0, offset=5, instance="d2")
        history.handled["consumer-group-1"].append(outside)
        verdict = judge(history)
        self.assertFalse(verdict.ok)
        self.assertEqual(verdict.groups["consumer-group-1"].redelivered_outside, [outside])

        history = clean_history()
        # 10 s before the fault began, and 45 + 10 s after it ended: both inside.
        history.handled["consumer-group-1"].append(Handled(90.0, 0, 5, "d2"))
        history.handled["consumer-group-1"].append(Handled(165.0, 0, 6, "d2"))
        verdict = judge(history)
        self.assertTrue(verdict.ok, verdict.problems())
        self.assertEqual(verdict.groups["consumer-group-1"].redelivered_in_window, 2)
        kind = history.faults[0].kind
        self.assertEqual(verdict.groups["consumer-group-1"].redelivered_by_fault, {kind: 2})

    def test_a_partition_read_out_of_order_outside_a_window_fails(self):
        history = clean_history()
        # Group 1 handles p=0 o=9 before o=8 (it skipped ahead, then came back), at t=20..21.
        handled = history.handled["consumer-group-1"]
        for i, h in enumerate(handled):
            if (h.partition, h.offset) == (0, 8):
                handled[i] = Handled(19.5, 0, 8, "d1")
            if (h.partition, h.offset) == (0, 9):
                handled[i] = Handled(18.5, 0, 9, "d1")
        verdict = judge(history)
        self.assertFalse(verdict.ok)
        self.assertEqual(
            [(h.partition, h.offset) for h in verdict.groups["consumer-group-1"].out_of_order],
            [(0, 8)],
        )

    def test_a_producer_runs_records_out_of_order_on_the_topic_fail(self):
        history = clean_history()
        # Offsets 4 and 5 of p=1 carry sequence numbers 5 and 4.
        swapped = {(1, 4): 5, (1, 5): 4}
        history.records = [
            Record(r.partition, r.offset, r.kind, r.key, ("run-a", swapped[(r.partition, r.offset)]))
            if (r.partition, r.offset) in swapped
            else r
            for r in history.records
        ]
        verdict = judge(history)
        self.assertFalse(verdict.ok)
        self.assertEqual(verdict.reordered_on_topic, [(1, 5)])

    def test_poison_handled_as_good_fails(self):
        history = clean_history()
        history.records.append(Record(0, 20, "poison"))
        verdict = judge(history)
        self.assertTrue(verdict.ok, verdict.problems())
        self.assertEqual(verdict.poison, 1)
        history.handled["consumer-group-2"].append(Handled(40.0, 0, 20, "d1"))
        verdict = judge(history)
        self.assertFalse(verdict.ok)
        self.assertEqual(verdict.groups["consumer-group-2"].poison_handled, [(0, 20)])

    def test_an_audit_loss_of_a_record_that_is_on_the_topic_is_false(self):
        history = clean_history()
        history.audit_losses = [AuditLoss("consumer-group-1", 0, "run-a", 30, 31)]
        self.assertTrue(judge(history).ok)
        history.audit_losses = [AuditLoss("consumer-group-1", 0, "run-a", 3, 4)]
        verdict = judge(history)
        self.assertFalse(verdict.ok)
        self.assertEqual(len(verdict.audit_false_losses), 1)


if __name__ == "__main__":
    unittest.main()
