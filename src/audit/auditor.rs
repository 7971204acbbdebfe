//! The audit in a consumer loop: reads each handled record's stamp into the group's
//! [`Ledger`], publishes the figures, and says in the log what it found. One per consumer
//! thread; nothing shared but the figures and this process's own run (read only when a loss
//! is declared, to put down to the producer what its delivery reports said failed).

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::ledger::{Event, Ledger, Loss, Verdict, MAX_FORGOTTEN, MAX_RUNS};
use super::own_run::OwnRun;
use super::stamp::{Stamp, StampError};
use crate::ops::audit_figures::AuditFigures;
use crate::ops::log_target;
use crate::ops::stats::{add_saturating, bump_own};

/// A record's stamp as found in its headers: `None` without a `kad.audit` header.
pub(crate) type FoundStamp = Option<Result<Stamp, StampError>>;

/// At most one warning this often about runs forgotten for good (a flood of made-up runs
/// would otherwise write a line per forged record).
const FORGOTTEN_WARN_EVERY: Duration = Duration::from_secs(60);

pub(crate) struct Auditor<'a> {
    ledger: Ledger,
    /// Malformed stamps come from other producers, possibly on every record: logged sparingly.
    malformed_lines: EveryMinute,
    figures: &'a AuditFigures,
    own_run: &'a OwnRun,
    name: &'a str,
    /// Places forgotten for good already warned about, and when.
    forgotten_warned: (u64, Option<Instant>),
}

impl<'a> Auditor<'a> {
    pub(crate) fn new(
        name: &'a str,
        grace: Duration,
        figures: &'a AuditFigures,
        own_run: &'a OwnRun,
    ) -> Self {
        Auditor {
            ledger: Ledger::new(grace, own_run.id(), own_run.ordered()),
            malformed_lines: EveryMinute::default(),
            figures,
            own_run,
            name,
            forgotten_warned: (0, None),
        }
    }

    /// Judges one record read: decoded, dead-lettered, or `skipped` by `ON_DECODE_ERROR=skip`.
    /// Either way its sequence number is not missing; a skipped record counts as `skipped`,
    /// not as `audited` or `unaudited`.
    pub(crate) fn handled(
        &mut self,
        partition: i32,
        offset: i64,
        stamp: &FoundStamp,
        skipped: bool,
        now: Instant,
        now_since_epoch: Duration,
    ) {
        let figures = self.figures;
        let stamp = self.readable(stamp, partition, offset, now);
        let Some(verdict) = self.ledger.observe(partition, offset, stamp, now) else {
            if skipped {
                bump_own(&figures.skipped);
            } else if stamp.is_none() {
                bump_own(&figures.unaudited);
            }
            return;
        };
        let (ordered, event, stamp) = match (verdict, stamp) {
            (Verdict::Redelivery { starts }, _) => {
                bump_own(&figures.redeliveries);
                if let Some(reread) = starts {
                    let why = if reread.after_rebalance {
                        "after the partition was revoked or lost"
                    } else {
                        "without a rebalance (the position moved back)"
                    };
                    log::info!(
                        target: log_target::AUDIT,
                        "audit: {}: p={partition} read again from o={offset}, {why}; handled up to o={} before: redeliveries (at-least-once)",
                        self.name,
                        reread.handled_up_to
                    );
                }
                return;
            }
            (Verdict::Audited { ordered, event }, Some(stamp)) => (ordered, event, stamp),
            // The ledger audits stamped records only.
            (Verdict::Audited { .. }, None) => return,
        };
        bump_own(if skipped {
            &figures.skipped
        } else {
            &figures.audited
        });
        figures
            .latency
            .record(since_unix_us(stamp.sent_us, now_since_epoch));
        self.judged(partition, offset, stamp, ordered, event);
    }

    /// The stamp of a record, if it has a readable one; a malformed one is counted and logged
    /// sparingly (other producers may write one on every record).
    fn readable<'s>(
        &mut self,
        stamp: &'s FoundStamp,
        partition: i32,
        offset: i64,
        now: Instant,
    ) -> Option<&'s Stamp> {
        match stamp {
            None => None,
            Some(Ok(stamp)) => Some(stamp),
            Some(Err(error)) => {
                bump_own(&self.figures.malformed);
                if let Some(unlogged) = self.malformed_lines.due(now) {
                    let more = match unlogged {
                        0 => String::new(),
                        n => format!(
                            " ({n} more since the last such line; see audit_malformed_total)"
                        ),
                    };
                    log::warn!(
                        target: log_target::AUDIT,
                        "audit: {}: record at p={partition} o={offset} not audited: {error}{more}",
                        self.name
                    );
                }
                None
            }
        }
    }

    /// Counts and says what the ledger found of an audited record's sequence number.
    fn judged(&self, partition: i32, offset: i64, stamp: &Stamp, ordered: bool, event: Event) {
        let figures = self.figures;
        let what = match event {
            Event::InOrder => return,
            Event::Gap { from, to } => {
                figures.pending.store(self.ledger.pending(), Relaxed);
                log::debug!(
                    target: log_target::AUDIT,
                    "audit: {}: p={partition} o={offset}: sequence numbers {from}..{to} of run {} missing; lost unless they arrive within the grace period",
                    self.name,
                    stamp.run
                );
                return;
            }
            Event::LateFill => {
                figures.pending.store(self.ledger.pending(), Relaxed);
                "came after a higher number (out of order; its pending loss is cancelled)"
            }
            Event::OutOfOrder => "came after a higher number (out of order)",
            Event::DuplicateWrite => "was seen before at another offset (duplicate write)",
        };
        if !ordered {
            bump_own(&figures.tolerated);
            log::debug!(
                target: log_target::AUDIT,
                "audit: {}: p={partition} o={offset}: sequence number {} of run {} {what}; expected from a producer without idempotence or acks=all",
                self.name,
                stamp.sequence,
                stamp.run
            );
            return;
        }
        bump_own(match event {
            Event::DuplicateWrite => &figures.duplicate_writes,
            _ => &figures.out_of_order,
        });
        log::warn!(
            target: log_target::AUDIT,
            "audit: {}: p={partition} o={offset}: sequence number {} of run {} {what}",
            self.name,
            stamp.sequence,
            stamp.run
        );
    }

    /// The partitions are no longer this consumer's.
    pub(crate) fn revoked(&mut self, partitions: &[i32], all: bool) {
        if all {
            self.ledger.revoked_all();
        } else {
            self.ledger.revoked(partitions);
        }
    }

    /// Declares lost what waited past the grace period; cheap when nothing is due, so every
    /// turn of the loop calls it.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.warn_forgotten(now);
        let losses = self.ledger.sweep(now);
        if losses.is_empty() {
            return;
        }
        for loss in &losses {
            self.declare(loss);
        }
        self.figures.pending.store(self.ledger.pending(), Relaxed);
    }

    /// One line per burst (at most one per [`FORGOTTEN_WARN_EVERY`]) when runs were forgotten
    /// for good: a loss in them before their next record goes unseen.
    fn warn_forgotten(&mut self, now: Instant) {
        let (warned, at) = self.forgotten_warned;
        let total = self.ledger.forgotten_for_good();
        if total == warned || at.is_some_and(|t| now.duration_since(t) < FORGOTTEN_WARN_EVERY) {
            return;
        }
        self.forgotten_warned = (total, Some(now));
        log::warn!(
            target: log_target::AUDIT,
            "audit: {}: {} more (run, partition) sequences forgotten for good ({total} since start): more than {MAX_RUNS} runs besides this process's own were seen and {MAX_FORGOTTEN} places of forgotten runs are kept, so such a run starts afresh if it returns and a loss of it meanwhile goes uncounted (many producer runs, or stamps of made-up runs: docs/AUDIT.md)",
            self.name,
            total - warned
        );
    }

    /// The `audit:` line at stop. Numbers still pending are not declared lost: a stop cannot
    /// tell a loss from a record not yet read.
    pub(crate) fn finish(&mut self, group: &str) {
        self.tick(Instant::now());
        log::info!(
            target: log_target::AUDIT,
            "audit: {} ({group}): {}",
            self.name,
            self.figures.summary()
        );
    }

    /// Counts a loss: as `lost_reported_by_producer` exactly the numbers this process's own
    /// producer reported as failed deliveries, the rest as `lost`. What the stamps claim is
    /// only logged.
    fn declare(&self, loss: &Loss) {
        let figures = self.figures;
        let by_producer =
            self.own_run
                .reported_failed(loss.run, loss.partition, loss.from, loss.to);
        add_saturating(&figures.lost, loss.count() - by_producer);
        add_saturating(&figures.lost_reported_by_producer, by_producer);
        let reported = if by_producer > 0 {
            format!("; this process's producer reported {by_producer} of them as failed deliveries")
        } else if loss.run != self.own_run.id() && loss.stamped_failed > 0 {
            format!(
                "; the run's stamps claim {} failed deliveries in the partition (another producer's: see its log)",
                loss.stamped_failed
            )
        } else {
            String::new()
        };
        log::warn!(
            target: log_target::AUDIT,
            "audit: {}: {} records lost in p={} of run {}: sequence numbers {}..{}{reported}",
            self.name,
            loss.count(),
            loss.partition,
            loss.run,
            loss.from,
            loss.to
        );
    }
}

/// Time from `us` (microseconds since the Unix epoch) to `now`; zero if it is in the future
/// (the producer's clock may run ahead).
/// Says when a line that may come once a record is due: the first at once, then at most one
/// a minute, counting those left out in between.
#[derive(Default)]
struct EveryMinute {
    last: Option<Instant>,
    unlogged: u64,
}

impl EveryMinute {
    const EVERY: Duration = Duration::from_secs(60);

    /// `Some(left out since the last line)` when a line is due at `now`.
    fn due(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < Self::EVERY => {
                self.unlogged = self.unlogged.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

fn since_unix_us(us: u64, now: Duration) -> Duration {
    now.saturating_sub(Duration::from_micros(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A foreign producer's malformed stamp on every record: one line at first, then one a
    /// minute with the count of those left out, not one per record.
    #[test]
    fn malformed_stamps_are_logged_once_then_once_a_minute_with_a_count() {
        let mut lines = EveryMinute::default();
        let t0 = Instant::now();
        let due: Vec<(u64, u64)> = (0..10_000u64)
            .filter_map(|i| {
                let at = t0 + Duration::from_millis(i * 10); // 100 s in all
                lines.due(at).map(|left_out| (i, left_out))
            })
            .collect();
        assert_eq!(due, vec![(0, 0), (6_000, 5_999)]);
    }
}
