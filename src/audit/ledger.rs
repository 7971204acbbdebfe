//! One consumer group's audit, as pure bookkeeping: which offsets this process handled in each
//! partition, and for each (producer run, partition) which sequence numbers it saw. No Kafka
//! here; the consumer loop feeds it handled records and revocations, and asks it for the losses
//! whose grace period ran out.
//!
//! The judgement, record by record:
//! - an offset this process already handled in the partition is a **redelivery** (at-least-once
//!   reading again after a rebalance, a failed commit or a lost session); its sequence number is
//!   not looked at again;
//! - otherwise the record's sequence number `s` in its (run, partition), expecting `next`:
//!   `s == next` is in order; `s > next` opens a gap `next..s`, pending until the grace period
//!   ends; `s < next` fills a pending gap (**out of order**, the loss is cancelled), or is **out
//!   of order** (below what this process saw, or after its gap was declared lost — inside the
//!   lost range right below the highest number, it also resumes the sequence there, so one
//!   forged number far ahead cannot pin it: [`super::sequence`]), or else a **duplicate
//!   write** (a number already seen, at a new offset).
//! - a gap still open after the grace period is **lost**. Whether the producer had reported
//!   its records as failed deliveries is not the ledger's business: the auditor asks this
//!   process's own producer ([`super::own_run`]), never a stamp.
//!
//! Ownership: when a partition comes back after a revocation and the group starts it past the
//! last offset this process handled there, another member handled the records in between, so
//! every run's sequence in that partition starts again from the next record seen (no false
//! loss). A jump while this process owned the partition throughout (an offset reset after
//! retention, records deleted) is not excused: it shows as a gap.
//!
//! Bounds, since anyone who can write to the topic can forge stamps: this process's own run
//! (whose id and ordering come from [`super::own_run`], never from a stamp) is never forgotten;
//! of the other runs at most [`MAX_RUNS`] are tracked (the least recently seen is forgotten
//! first, its open gaps declared lost), and runs idle for [`RUN_EXPIRY`] are forgotten. A
//! forgotten run leaves its place, per partition: the next number expected, in a list of at
//! most [`MAX_FORGOTTEN`] places, so that when it comes back it resumes there rather than start
//! afresh (a gap meanwhile still shows). Only past that list, the oldest place is dropped for
//! good and counted ([`Ledger::forgotten_for_good`]). One sequence per (run, partition of the
//! topic), each with at most [`MAX_GAPS`](super::sequence::MAX_GAPS) pending gaps — after a
//! new gap or a late record's split, the oldest past the bound is declared lost early — and
//! [`MAX_LOST_RANGES`](super::sequence::MAX_LOST_RANGES) remembered lost ranges. So at most
//! `(MAX_RUNS + 1) × partitions × MAX_GAPS` gaps whatever the stamps say
//! (`forged_stamps_by_the_million_stay_within_the_documented_bound`). A forged gap can inflate
//! `lost`, never stop a loop; what a loss counts as never depends on a stamp. What a forger can
//! do is hide a loss: write the missing numbers of a run, or, for a run other than this
//! process's own, write stamps of `MAX_RUNS + MAX_FORGOTTEN` made-up runs or more between two
//! of its records, fewer if each is written to several partitions (a place per partition;
//! docs/AUDIT.md, "Forged stamps").
//!
//! Cost: a record of a run already tracked costs what it did (no allocation, no hash); only
//! the first record of a run not tracked scans the forgotten places.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::by_partition::ByPartition;
use super::sequence::{Gap, Sequence};
use super::stamp::{RunId, Stamp};

/// Runs other than this process's own tracked at once per group.
pub(crate) const MAX_RUNS: usize = 64;
/// Places of forgotten runs remembered per group: one per (run, partition), about 48 bytes
/// each.
pub(crate) const MAX_FORGOTTEN: usize = 1024;
/// A run not seen for this long (and with no pending gap) is forgotten.
pub(crate) const RUN_EXPIRY: Duration = Duration::from_secs(3600);
/// How often runs are checked for expiry when no gap is pending.
const EXPIRY_CHECK_EVERY: Duration = Duration::from_secs(60);

/// What one handled record was, in the audit's eyes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// At an offset this process already handled in that partition. `starts`: the first of a
    /// run of them, with why the partition is read again and how far it had been handled.
    Redelivery { starts: Option<Reread> },
    /// Audited; `ordered`: its producer ran with idempotence and `acks=all`, so a duplicate or
    /// a reordering is a fault, not what at-least-once writing allows.
    Audited { ordered: bool, event: Event },
}

/// Why and from where a partition is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reread {
    /// The partition had been revoked or lost since its last record (a rebalance, a lost
    /// session); otherwise the consumer's position moved back without one (a seek, an offset
    /// reset).
    pub(crate) after_rebalance: bool,
    /// The highest offset this process had handled there.
    pub(crate) handled_up_to: i64,
}

/// A sequence number compared with what came before in its (run, partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The next number, or the first this process sees of the sequence.
    InOrder,
    /// Numbers skipped: pending until the grace period ends.
    Gap { from: u64, to: u64 },
    /// Filled a pending gap (the numbers after it came first).
    LateFill,
    /// Below what this process saw of the sequence, or after its gap was declared lost.
    OutOfOrder,
    /// A number already seen, at a new offset.
    DuplicateWrite,
}

/// Records declared lost: `from..to` of `run` in `partition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loss {
    pub(crate) run: RunId,
    pub(crate) partition: i32,
    pub(crate) from: u64,
    pub(crate) to: u64,
    /// The failed-delivery count in the partition's latest version-2 stamp of the run: what
    /// the stamps claim, for the log only.
    pub(crate) stamped_failed: u64,
}

impl Loss {
    pub(crate) fn count(&self) -> u64 {
        self.to - self.from
    }
}

/// What this process handled in one partition.
#[derive(Debug)]
struct Ownership {
    handled_up_to: i64,
    /// False after a revocation, until the next record.
    continuous: bool,
    /// The last record was a redelivery.
    rereading: bool,
    /// Bumped when another member handled records here meanwhile.
    epoch: u64,
}

#[derive(Debug)]
struct Run {
    ordered: bool,
    last_seen: Instant,
    sequences: ByPartition<Sequence>,
}

/// Where a forgotten run's sequence in one partition stood: enough to resume it.
#[derive(Debug, Clone, Copy)]
struct Place {
    run: RunId,
    partition: i32,
    ordered: bool,
    next: u64,
    ahead: Option<u64>,
    epoch: u64,
}

/// The audit of one consumer group in this process.
#[derive(Debug)]
pub(crate) struct Ledger {
    grace: Duration,
    partitions: ByPartition<Ownership>,
    /// This process's own run first, never forgotten, then at most [`MAX_RUNS`] others: a
    /// short list searched from the run used last (one or two runs at a time in practice).
    runs: Vec<(RunId, Run)>,
    /// Places of forgotten runs, oldest first, at most [`MAX_FORGOTTEN`].
    forgotten: VecDeque<Place>,
    /// Places dropped from `forgotten` past its bound: their runs start afresh if they return.
    forgotten_for_good: u64,
    /// Index in `runs` of the run of the last stamp.
    last_run: usize,
    /// Losses declared outside [`Ledger::sweep`] (a gap pushed out by newer ones, or a run
    /// forgotten with gaps open), handed out by the next sweep.
    declared: Vec<Loss>,
    /// When the next sweep has work: the earliest gap deadline or run expiry check.
    next_sweep: Option<Instant>,
    /// Numbers in pending gaps (forged stamps can make gaps of nearly 2^64 each; at most
    /// `(MAX_RUNS + 1) × partitions × MAX_GAPS` of them, so a u128 cannot overflow).
    pending: u128,
    /// Gaps a sequence pushed out past its bound, reused for every record.
    evicted: Vec<Gap>,
}

impl Ledger {
    /// `own`: this process's own run, audited as `ordered` (its producer's configuration)
    /// whatever its stamps claim, and never forgotten.
    pub(crate) fn new(grace: Duration, own: RunId, ordered: bool) -> Ledger {
        let own_run = Run {
            ordered,
            // Never read: the own run is neither expired nor evicted.
            last_seen: Instant::now(),
            sequences: ByPartition::default(),
        };
        Ledger {
            grace,
            partitions: ByPartition::default(),
            runs: vec![(own, own_run)],
            forgotten: VecDeque::new(),
            forgotten_for_good: 0,
            last_run: 0,
            declared: Vec::new(),
            next_sweep: None,
            pending: 0,
            evicted: Vec::new(),
        }
    }

    /// Places of forgotten runs dropped for good so far: a run among them that returns starts
    /// afresh, and a loss of it meanwhile goes unseen.
    pub(crate) fn forgotten_for_good(&self) -> u64 {
        self.forgotten_for_good
    }

    /// Numbers in gaps still within their grace period.
    pub(crate) fn pending(&self) -> u64 {
        u64::try_from(self.pending).unwrap_or(u64::MAX)
    }

    /// The partitions are no longer this process's; where the group starts them when they
    /// come back decides whether records in between were someone else's.
    pub(crate) fn revoked(&mut self, partitions: &[i32]) {
        for p in partitions {
            if let Some(o) = self.partitions.get_mut(*p) {
                o.continuous = false;
            }
        }
    }

    /// What owned is unknown (a failed rebalance): as if every partition was revoked.
    pub(crate) fn revoked_all(&mut self) {
        for o in self.partitions.values_mut() {
            o.continuous = false;
        }
    }

    /// Judges one handled record: `stamp` is `None` for a record without one (it still counts
    /// as handled at its offset).
    pub(crate) fn observe(
        &mut self,
        partition: i32,
        offset: i64,
        stamp: Option<&Stamp>,
        now: Instant,
    ) -> Option<Verdict> {
        let owner = self
            .partitions
            .get_or_insert_with(partition, || Ownership {
                handled_up_to: offset - 1,
                continuous: true,
                rereading: false,
                epoch: 0,
            })?;
        if offset <= owner.handled_up_to {
            let starts = (!owner.rereading).then_some(Reread {
                after_rebalance: !owner.continuous,
                handled_up_to: owner.handled_up_to,
            });
            owner.continuous = true;
            owner.rereading = true;
            return Some(Verdict::Redelivery { starts });
        }
        owner.rereading = false;
        if !owner.continuous && offset > owner.handled_up_to + 1 {
            owner.epoch += 1;
        }
        owner.continuous = true;
        owner.handled_up_to = offset;
        let epoch = owner.epoch;
        let stamp = stamp?;
        let index = self.run_index(stamp, now);
        let ordered = self.runs[index].1.ordered;
        let event = self.judge(index, partition, epoch, stamp, now);
        Some(Verdict::Audited { ordered, event })
    }

    /// Compares the number of `stamp` with what came before in its (run, partition).
    fn judge(
        &mut self,
        index: usize,
        partition: i32,
        epoch: u64,
        stamp: &Stamp,
        now: Instant,
    ) -> Event {
        let (id, run) = &mut self.runs[index];
        run.last_seen = now;
        let s = stamp.sequence;
        let Some(seq) = run.sequences.get_mut(partition) else {
            let mut seq = Sequence::starting_at(s, epoch);
            seq.stamped_failed = stamp.failed_in_partition.unwrap_or(0);
            run.sequences.get_or_insert_with(partition, || seq);
            return Event::InOrder;
        };
        if let Some(failed) = stamp.failed_in_partition {
            seq.stamped_failed = failed;
        }
        if seq.epoch != epoch {
            // Another member handled this partition meanwhile: start from here.
            seq.epoch = epoch;
            if s >= seq.next {
                seq.in_order(s);
                return Event::InOrder;
            }
        }
        let evicted = &mut self.evicted;
        let event = if s == seq.next {
            seq.in_order(s);
            Event::InOrder
        } else if s > seq.next {
            let (from, deadline) = (seq.next, now + self.grace);
            let opened = seq.open_gap(s, deadline, evicted);
            self.pending += u128::from(opened);
            self.next_sweep = Some(self.next_sweep.map_or(deadline, |t| t.min(deadline)));
            if opened == 0 {
                // Only the number seen before a resume was skipped.
                Event::InOrder
            } else {
                Event::Gap { from, to: s }
            }
        } else if seq.fill(s, evicted) {
            self.pending -= 1;
            Event::LateFill
        } else if s < seq.low {
            Event::OutOfOrder
        } else if seq.was_lost(s) {
            seq.resume_in_lost(s);
            Event::OutOfOrder
        } else {
            Event::DuplicateWrite
        };
        for gap in self.evicted.drain(..) {
            self.pending -= u128::from(gap.count());
            self.declared.push(Loss {
                run: *id,
                partition,
                from: gap.from,
                to: gap.to,
                stamped_failed: seq.stamped_failed,
            });
        }
        event
    }

    /// The index in `runs` of the run of `stamp`, added if new (resuming where it was if it
    /// had been forgotten): the least recently seen run other than this process's own is
    /// forgotten first when [`MAX_RUNS`] others are tracked, and expiry checks are scheduled.
    fn run_index(&mut self, stamp: &Stamp, now: Instant) -> usize {
        if self
            .runs
            .get(self.last_run)
            .is_some_and(|(id, _)| *id == stamp.run)
        {
            return self.last_run;
        }
        if let Some(index) = self.runs.iter().position(|(id, _)| *id == stamp.run) {
            self.last_run = index;
            return index;
        }
        let mut run = Run {
            ordered: stamp.ordered,
            last_seen: now,
            sequences: ByPartition::default(),
        };
        // Before anything is forgotten to make room, so its own place cannot be pushed out.
        self.resume(stamp.run, &mut run);
        if self.runs.len() > MAX_RUNS {
            // Index 0, this process's own run, is never forgotten.
            let oldest = self
                .runs
                .iter()
                .enumerate()
                .skip(1)
                .min_by_key(|(_, (_, run))| run.last_seen)
                .map(|(index, _)| index);
            if let Some(oldest) = oldest {
                self.forget(oldest);
            }
        }
        let check = now + EXPIRY_CHECK_EVERY;
        self.next_sweep = Some(self.next_sweep.map_or(check, |t| t.min(check)));
        self.runs.push((stamp.run, run));
        self.last_run = self.runs.len() - 1;
        self.last_run
    }

    /// Forgets the run at `index` (never 0, this process's own run); its open gaps are
    /// declared lost now, as they could no longer be, and its places are remembered.
    fn forget(&mut self, index: usize) {
        let (id, mut run) = self.runs.swap_remove(index);
        self.last_run = 0;
        for (partition, seq) in run.sequences.iter_mut() {
            for gap in seq.gaps.drain(..) {
                self.pending -= u128::from(gap.count());
                self.declared.push(Loss {
                    run: id,
                    partition,
                    from: gap.from,
                    to: gap.to,
                    stamped_failed: seq.stamped_failed,
                });
            }
            if self.forgotten.len() >= MAX_FORGOTTEN {
                self.forgotten.pop_front();
                self.forgotten_for_good += 1;
            }
            self.forgotten.push_back(Place {
                run: id,
                partition,
                ordered: run.ordered,
                next: seq.next,
                ahead: seq.ahead(),
                epoch: seq.epoch,
            });
        }
    }

    /// Gives `run` back the places it left when it was forgotten, if any.
    fn resume(&mut self, id: RunId, run: &mut Run) {
        if !self.forgotten.iter().any(|place| place.run == id) {
            return;
        }
        self.forgotten.retain(|place| {
            if place.run != id {
                return true;
            }
            run.ordered = place.ordered;
            let seq = Sequence::resumed(place.next, place.ahead, place.epoch);
            run.sequences.get_or_insert_with(place.partition, || seq);
            false
        });
    }

    /// Gaps whose grace period is over, declared lost, with the losses declared since the last
    /// sweep; forgets idle runs. Cheap when nothing is due.
    pub(crate) fn sweep(&mut self, now: Instant) -> Vec<Loss> {
        if self.next_sweep.is_none_or(|t| now < t) {
            return std::mem::take(&mut self.declared);
        }
        let mut losses = std::mem::take(&mut self.declared);
        // Idle runs other than this process's own are forgotten, their places remembered.
        let mut index = 1;
        while index < self.runs.len() {
            let run = &self.runs[index].1;
            if now.saturating_duration_since(run.last_seen) >= RUN_EXPIRY
                && run.sequences.values().all(|s| s.gaps.is_empty())
            {
                self.forget(index);
            } else {
                index += 1;
            }
        }
        self.last_run = 0;
        let mut next: Option<Instant> = None;
        for (id, run) in &mut self.runs {
            for (partition, seq) in run.sequences.iter_mut() {
                while let Some(gap) = seq.gaps.front().copied() {
                    if gap.deadline > now {
                        next = Some(next.map_or(gap.deadline, |t| t.min(gap.deadline)));
                        break;
                    }
                    seq.gaps.pop_front();
                    seq.remember_lost(gap.from, gap.to);
                    self.pending -= u128::from(gap.count());
                    losses.push(Loss {
                        run: *id,
                        partition,
                        from: gap.from,
                        to: gap.to,
                        stamped_failed: seq.stamped_failed,
                    });
                }
            }
        }
        if self.runs.len() > 1 {
            let check = now + EXPIRY_CHECK_EVERY;
            next = Some(next.map_or(check, |t| t.min(check)));
        }
        self.next_sweep = next;
        losses
    }
}

#[cfg(test)]
mod tests;
