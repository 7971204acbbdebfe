//! One (producer run, partition) in a group's audit: the next number expected, the gaps still
//! pending with their deadlines, and the last ranges declared lost.
//!
//! Bounds: at most [`MAX_GAPS`] pending gaps — a new gap, or a late record splitting one in
//! two, past the bound pushes the oldest out, to be declared lost early — and
//! [`MAX_LOST_RANGES`] lost ranges.
//!
//! Numbers run below 2^64−1 (the stamp refuses that one), so one past the highest seen is
//! always a number. A number far ahead of the rest (a forged stamp) opens a wide gap, declared
//! lost when its grace period ends: `lost` is inflated, and every number up to it has been
//! counted once, so no loss among them goes uncounted. It does not pin the sequence: the next
//! record inside that lost range resumes the sequence there (counted out of order), the
//! numbers it skips up to the far one are not counted a second time, and gaps open again past
//! it.

use std::collections::VecDeque;
use std::time::Instant;

/// Pending gaps per (run, partition).
pub(crate) const MAX_GAPS: usize = 64;

/// Lost ranges remembered per (run, partition), to tell a record that comes after its loss was
/// declared (out of order) from a duplicate.
pub(crate) const MAX_LOST_RANGES: usize = 16;

/// One (run, partition).
#[derive(Debug)]
pub(super) struct Sequence {
    pub(super) epoch: u64,
    /// Lowest number this process saw (since its baseline).
    pub(super) low: u64,
    /// One past the highest number seen (or resumed from).
    pub(super) next: u64,
    /// Pending gaps, oldest first, at most [`MAX_GAPS`].
    pub(super) gaps: VecDeque<Gap>,
    pub(super) lost: VecDeque<(u64, u64)>,
    /// The highest number seen, when the sequence resumed below it: the numbers up to it were
    /// seen or declared lost already, so a gap opens only past it.
    ahead: Option<u64>,
    /// The failed-delivery count of the latest version-2 stamp: for the log only.
    pub(super) stamped_failed: u64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Gap {
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) deadline: Instant,
}

impl Gap {
    pub(super) fn count(&self) -> u64 {
        self.to - self.from
    }
}

impl Sequence {
    pub(super) fn starting_at(s: u64, epoch: u64) -> Sequence {
        Sequence {
            epoch,
            low: s,
            next: s.saturating_add(1),
            gaps: VecDeque::new(),
            lost: VecDeque::new(),
            ahead: None,
            stamped_failed: 0,
        }
    }

    /// A sequence that was forgotten with its run (its gaps declared lost then) and comes back:
    /// it goes on from `next`, and everything below counts as out of order.
    pub(super) fn resumed(next: u64, ahead: Option<u64>, epoch: u64) -> Sequence {
        Sequence {
            low: next,
            next,
            ahead,
            ..Sequence::starting_at(0, epoch)
        }
    }

    /// The highest number seen before a resume below it, if the sequence is in one.
    pub(super) fn ahead(&self) -> Option<u64> {
        self.ahead
    }

    /// `s` arrived above the next number: `next..s` goes pending until `deadline`, but for
    /// numbers up to the highest seen before a resume. Returns how many numbers went pending,
    /// and pushes out (into `evicted`) the oldest gap past [`MAX_GAPS`].
    pub(super) fn open_gap(&mut self, s: u64, deadline: Instant, evicted: &mut Vec<Gap>) -> u64 {
        let mut from = self.next;
        self.next = s.saturating_add(1);
        if let Some(ahead) = self.ahead {
            if s <= ahead {
                return 0;
            }
            from = from.max(ahead + 1);
            self.ahead = None;
        }
        if from >= s {
            return 0;
        }
        self.gaps.push_back(Gap {
            from,
            to: s,
            deadline,
        });
        self.keep_bound(evicted);
        s - from
    }

    /// `s` came in order: the next number. Passing the highest number seen before a resume
    /// ends the resume.
    pub(super) fn in_order(&mut self, s: u64) {
        self.next = s.saturating_add(1);
        if self.ahead.is_some_and(|ahead| ahead <= s) {
            self.ahead = None;
        }
    }

    /// Takes `s` out of the pending gap it is in, if any; a split past [`MAX_GAPS`] pushes the
    /// oldest gap out into `evicted`.
    pub(super) fn fill(&mut self, s: u64, evicted: &mut Vec<Gap>) -> bool {
        let Some(i) = self.gaps.iter().position(|g| g.from <= s && s < g.to) else {
            return false;
        };
        let gap = self.gaps[i];
        let before = Gap { to: s, ..gap };
        let after = Gap { from: s + 1, ..gap };
        match (before.from < before.to, after.from < after.to) {
            (true, true) => {
                self.gaps[i] = before;
                self.gaps.insert(i + 1, after);
                self.keep_bound(evicted);
            }
            (true, false) => self.gaps[i] = before,
            (false, true) => self.gaps[i] = after,
            (false, false) => {
                self.gaps.remove(i);
            }
        }
        true
    }

    fn keep_bound(&mut self, evicted: &mut Vec<Gap>) {
        while self.gaps.len() > MAX_GAPS {
            if let Some(oldest) = self.gaps.pop_front() {
                self.remember_lost(oldest.from, oldest.to);
                evicted.push(oldest);
            }
        }
    }

    pub(super) fn remember_lost(&mut self, from: u64, to: u64) {
        if self.lost.len() == MAX_LOST_RANGES {
            self.lost.pop_front();
        }
        self.lost.push_back((from, to));
    }

    pub(super) fn was_lost(&self, s: u64) -> bool {
        self.lost.iter().any(|&(from, to)| from <= s && s < to)
    }

    /// `s`, below the next number and in no pending gap, is inside the lost range right below
    /// the highest number seen: that number was far ahead of the records (a forged stamp, or
    /// records later than the grace period), so the sequence resumes after `s` rather than
    /// stay pinned above every number to come. The lost range stays as it was: its numbers
    /// were counted once, and one arriving again is out of order.
    pub(super) fn resume_in_lost(&mut self, s: u64) -> bool {
        let top = self.next - 1;
        let Some(index) = self.lost.iter().position(|&(from, to)| from <= s && s < to) else {
            return false;
        };
        if self.lost[index].1 != top {
            return false;
        }
        self.ahead = Some(self.ahead.map_or(top, |ahead| ahead.max(top)));
        self.next = s + 1;
        true
    }
}
