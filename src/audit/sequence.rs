//! One (producer run, partition) in a group's audit: the next number expected, the gaps still
//! pending with their deadlines, and the last ranges declared lost.

use std::collections::VecDeque;
use std::time::Instant;

/// Lost ranges remembered per (run, partition), to tell a record that comes after its loss was
/// declared (out of order) from a duplicate.
pub(crate) const MAX_LOST_RANGES: usize = 16;

/// One (run, partition).
#[derive(Debug)]
pub(super) struct Sequence {
    pub(super) epoch: u64,
    /// Lowest number this process saw (since its baseline).
    pub(super) low: u64,
    pub(super) next: u64,
    pub(super) gaps: VecDeque<Gap>,
    pub(super) lost: VecDeque<(u64, u64)>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Gap {
    pub(super) from: u64,
    pub(super) to: u64,
    pub(super) deadline: Instant,
}

impl Sequence {
    pub(super) fn starting_at(s: u64, epoch: u64) -> Sequence {
        Sequence {
            epoch,
            low: s,
            next: s.saturating_add(1),
            gaps: VecDeque::new(),
            lost: VecDeque::new(),
        }
    }

    /// Takes `s` out of the pending gap it is in, if any.
    pub(super) fn fill(&mut self, s: u64) -> bool {
        let Some(i) = self.gaps.iter().position(|g| g.from <= s && s < g.to) else {
            return false;
        };
        let gap = self.gaps[i];
        let before = Gap { to: s, ..gap };
        let after = Gap { from: s + 1, ..gap };
        match (before.from < before.to, after.from < after.to) {
            (true, true) => {
                self.gaps[i] = before;
                // Splitting may exceed MAX_GAPS by one until the next gap pushes the oldest out.
                self.gaps.insert(i + 1, after);
            }
            (true, false) => self.gaps[i] = before,
            (false, true) => self.gaps[i] = after,
            (false, false) => {
                self.gaps.remove(i);
            }
        }
        true
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
}
