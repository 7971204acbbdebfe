//! The batch consumer (group `CONSUMER_GROUP_ID_2`): collects up to `BATCH_SIZE` records,
//! waiting at most `FETCH_WAIT_MAX_MS` for a batch to fill, processes them, then commits.
//!
//! Commit policy (at-least-once): auto-commit is off; after a batch is processed, exactly its
//! offsets are committed synchronously, so nothing unprocessed is ever committed. A crash
//! between processing and commit means that batch is processed again after restart. A commit
//! that keeps failing for a passing reason is given up after [`COMMIT_RETRY_FOR`]; then the
//! consumer pauses its partitions and processes no further batch until that batch's offsets
//! are committed (tried again every few seconds, while polling keeps the membership), so a
//! crash repeats at most one batch however long commits fail. When partitions are revoked or
//! lost, their buffered records are dropped unprocessed and uncommitted, and a given-up commit
//! of theirs forgotten; their new owner reads them. On stop, the partial batch is processed and
//! committed (unless a given-up commit is still refused: then it is left unprocessed).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use super::batch_buffer::{offsets_to_commit, Batch, Uncommitted};
use super::client::{
    create_consumer, poll_message, ConsumerClient, InstanceIdRelease, POLL_TIMEOUT,
};
use super::decoder::MessageDecoder;
use super::intake::{log_record, Consumed, Intake};
use super::kind::ConsumerKind;
use crate::app::error::{LoopError, Turn};
use crate::app::retry::{retry_until_stopped, Backoff};
use crate::app::turn_until_stopped;
use crate::audit::Auditor;
use crate::ops::latency::WallClock;
use crate::ops::stats::{bump, ConsumerStats};

const KIND: ConsumerKind = ConsumerKind::Batch;

/// Runs the batch consumer until shutdown.
pub(crate) fn run_batch_consumer(
    intake: &Intake<'_>,
    stats: &ConsumerStats,
) -> Result<(), LoopError> {
    let config = intake.config;
    let mut consumer = BatchConsumer {
        client: create_consumer(KIND, config, intake.shutdown, stats)?,
        decoder: intake.decoder(),
        batch: Batch::new(config.batch_size, config.batch_max_wait),
        auditor: Auditor::new(KIND, config.audit_loss_grace, &stats.audit, intake.own_run),
        last_poll: Instant::now(),
        wall_clock: WallClock::new(),
        uncommitted: Uncommitted::default(),
        paused: BTreeSet::new(),
        next_commit_try: Instant::now(),
        commit_tries: 0,
        intake,
        stats,
    };
    let outcome = consumer.run();
    // Before the close, which waits on the brokers.
    intake.shutdown.fail_on_error(&outcome);
    if outcome.is_ok() {
        consumer.finish_on_stop();
    }
    consumer.auditor.finish(KIND.group_id(config));
    log::info!(target: KIND.log_target(), "{} exiting", KIND.name());
    drop(consumer);
    outcome
}

/// The loop's state: its client, its decoder and the batch being collected.
struct BatchConsumer<'i, 'a> {
    client: ConsumerClient<'a>,
    decoder: MessageDecoder<'a>,
    batch: Batch,
    auditor: Auditor<'a>,
    /// When the last poll returned: the clock read each turn makes, reused for the next
    /// poll's deadline (it is older by one record's handling) rather than read again.
    last_poll: Instant,
    /// Wall-clock time for latencies without a system clock read per record.
    wall_clock: WallClock,
    /// Processed records whose commit was given up: no further batch is processed until they
    /// are committed.
    uncommitted: Uncommitted,
    /// Partitions paused while `uncommitted` waits, resumed once it is committed or forgotten.
    paused: BTreeSet<i32>,
    /// When to try the given-up commit again, and how many tries it has had.
    next_commit_try: Instant,
    commit_tries: u32,
    intake: &'i Intake<'a>,
    stats: &'a ConsumerStats,
}

impl BatchConsumer<'_, '_> {
    /// Turns until stopped; a consumer refused its static member id is created again, within
    /// the bounded wait of [`InstanceIdRelease`]. What it had buffered is dropped then: a
    /// fatal client can commit nothing, and whoever owns the partitions reads it again.
    fn run(&mut self) -> Result<(), LoopError> {
        let (config, shutdown) = (self.intake.config, self.intake.shutdown);
        let mut release = InstanceIdRelease::new(KIND);
        loop {
            let outcome = turn_until_stopped(shutdown, || self.step());
            if !release.wait_after(outcome, config, shutdown, self.stats)? {
                return Ok(());
            }
            self.batch.take();
            self.uncommitted.clear();
            self.paused.clear();
            self.count_uncommitted(0);
            self.client = create_consumer(KIND, config, shutdown, self.stats)?;
            // A new member: whatever the old client owned is no longer this consumer's.
            self.auditor.revoked(&[], true);
        }
    }

    /// Polls at most until the batch is due, adds what came to the batch, and processes and
    /// commits the batch once it is full or its time is up; while a given-up commit waits,
    /// tries it again instead and processes nothing.
    /// One clock read per turn serves the deadline, the heartbeat and the audit.
    fn step(&mut self) -> Result<Turn, LoopError> {
        let holding = !self.uncommitted.is_empty();
        let timeout = match self.batch.time_left(self.last_poll) {
            Some(left) if !holding => left.min(POLL_TIMEOUT),
            _ => POLL_TIMEOUT,
        };
        let polled = poll_message(&self.client, timeout);
        // After the poll (it may have blocked); shared below and by the next turn.
        let now = Instant::now();
        self.last_poll = now;
        self.stats.heartbeat.beat_at(now);
        // Decoded into an owned record first: the message borrows the client. A message and
        // the revocation of its partition never come from the same poll.
        let record = match polled? {
            Some(message) => {
                let decoded = self.intake.decode_with_policy(
                    KIND,
                    &mut self.decoder,
                    &self.client,
                    &message,
                    self.stats,
                )?;
                let Some(record) = decoded else {
                    return Ok(Turn::Stop);
                };
                Some(record)
            }
            None => None,
        };
        self.take_revoked();
        self.auditor.tick(now);
        if let Some(record) = record {
            if holding {
                // A partition assigned since the commit was given up: it waits too.
                self.pause(&[record.partition]);
            }
            self.batch.push(record, now);
            self.count_uncommitted(0);
        }
        if !self.uncommitted.is_empty() {
            self.retry_given_up_commit(now);
        } else if self.batch.is_due(now) {
            self.process_and_commit();
        }
        Ok(Turn::Continue)
    }

    /// Drops what this consumer buffered or waits to commit for partitions it lost.
    fn take_revoked(&mut self) {
        let revoked = self.client.context().role.take_revoked();
        if revoked.is_empty() {
            return;
        }
        self.auditor.revoked(&revoked.partitions, revoked.all);
        let dropped = self.batch.forget_revoked(&revoked);
        if revoked.all {
            self.uncommitted.clear();
        } else {
            self.uncommitted.forget_partitions(&revoked.partitions);
        }
        if self.uncommitted.is_empty() {
            self.resume_paused();
        } else {
            // A revoked partition's pause went with its assignment: if it comes back, its
            // first record pauses it again (`step`), which a stale entry here would prevent.
            for partition in &revoked.partitions {
                self.paused.remove(partition);
            }
        }
        self.count_uncommitted(0);
        if dropped > 0 {
            log::info!(
                target: KIND.log_target(),
                "{}: dropped {dropped} unprocessed records of revoked partitions",
                KIND.name()
            );
        }
    }

    /// Publishes how many records a stop now would leave uncommitted: those buffered, those
    /// whose commit was given up, plus `committing`, the processed batch whose commit is under
    /// way.
    fn count_uncommitted(&self, committing: usize) {
        let uncommitted = (self.batch.len() + self.uncommitted.len() + committing) as u64;
        self.stats.uncommitted.store(uncommitted, Ordering::Relaxed);
    }

    /// On a clean stop: tries a given-up commit once more, then processes and commits the
    /// partial batch, unless that commit is still refused (processing more would only add to
    /// what a restart repeats; unprocessed, the records are simply read again).
    fn finish_on_stop(&mut self) {
        if !self.uncommitted.is_empty() {
            self.retry_given_up_commit(self.next_commit_try);
        }
        if self.batch.is_empty() {
            return;
        }
        if !self.uncommitted.is_empty() {
            log::warn!(
                target: KIND.log_target(),
                "{}: leaving the partial batch of {} records unprocessed: the commit of {} processed records is still refused",
                KIND.name(),
                self.batch.len(),
                self.uncommitted.len()
            );
            return;
        }
        log::info!(
            target: KIND.log_target(),
            "{}: processing the partial batch before exiting",
            KIND.name()
        );
        self.process_and_commit();
    }

    /// Processes every record of the batch, then commits their offsets synchronously.
    fn process_and_commit(&mut self) {
        let records = self.batch.take();
        log::info!(target: KIND.log_target(), "received {} messages", records.len());
        let now = Instant::now();
        let now_since_epoch = self.wall_clock.since_epoch(now);
        for record in &records {
            log_record(
                KIND,
                &self.intake.config.topic,
                record,
                now_since_epoch,
                self.stats,
            );
            self.auditor.handled(
                record.partition,
                record.offset,
                &record.stamp,
                self.intake.skipped(record),
                now,
                now_since_epoch,
            );
        }
        self.commit_batch(&records);
    }

    /// Commits the offsets of processed `records`, retrying a passing failure for up to
    /// [`COMMIT_RETRY_FOR`]; a commit given up then is kept to try again before any further
    /// batch ([`BatchConsumer::retry_given_up_commit`]).
    fn commit_batch(&mut self, records: &[Consumed]) {
        let Some(offsets) = self.commit_list(&offsets_to_commit(records)) else {
            return;
        };
        self.count_uncommitted(records.len());
        let started = Instant::now();
        let committed = retry_until_stopped(
            &COMMIT_BACKOFF,
            self.intake.shutdown,
            Some(&self.stats.heartbeat),
            |_| match self.client.commit(&offsets, CommitMode::Sync) {
                Ok(()) => ControlFlow::Break(Ok(())),
                Err(e) if commit_error_is_final(&e) || started.elapsed() >= COMMIT_RETRY_FOR => {
                    ControlFlow::Break(Err(e))
                }
                Err(e) => ControlFlow::Continue(e),
            },
            |e, attempt, wait| {
                log::warn!(
                    target: KIND.log_target(),
                    "{}: commit of {} records failed (attempt {attempt}): {e}; retrying in {wait:?}",
                    KIND.name(),
                    records.len()
                );
            },
        );
        match committed {
            Some(Ok(())) => bump(&self.stats.commits),
            // The group moved on: the partitions' new owners read these records again.
            Some(Err(e)) if commit_error_is_final(&e) => log::warn!(
                target: KIND.log_target(),
                "{}: commit of {} records failed, they may be processed again: {e}",
                KIND.name(),
                records.len()
            ),
            Some(Err(e)) => self.give_up_commit(records, &e),
            None => {
                // Still uncommitted: the stop deadline's line counts them.
                self.uncommitted.add(records);
                log::warn!(
                    target: KIND.log_target(),
                    "{}: stopping before the commit of {} records succeeded; they may be processed again",
                    KIND.name(),
                    records.len()
                );
            }
        }
        self.count_uncommitted(0);
    }

    /// Keeps `records`' offsets to commit later and pauses fetching: no further batch is
    /// processed until they are committed, so a crash meanwhile repeats this batch only.
    fn give_up_commit(&mut self, records: &[Consumed], error: &KafkaError) {
        self.uncommitted.add(records);
        self.commit_tries = 0;
        self.next_commit_try = Instant::now() + GIVEN_UP_RETRY_EVERY;
        log::warn!(
            target: KIND.log_target(),
            "{}: commit of {} records failed for {} s: {error}; no further batch is processed until it succeeds (a crash now would process them again)",
            KIND.name(),
            records.len(),
            COMMIT_RETRY_FOR.as_secs()
        );
        let assigned: Vec<i32> = match self.client.assignment() {
            Ok(assignment) => assignment
                .elements()
                .iter()
                .map(|element| element.partition())
                .collect(),
            Err(e) => {
                log::warn!(target: KIND.log_target(), "{}: cannot read the assignment: {e}", KIND.name());
                Vec::new()
            }
        };
        self.pause(&assigned);
    }

    /// One more try of the given-up commit, if it is due at `now`: committed (or the group
    /// moved on), fetching resumes; else the next try is scheduled.
    fn retry_given_up_commit(&mut self, now: Instant) {
        if now < self.next_commit_try {
            return;
        }
        let records = self.uncommitted.len();
        let Some(offsets) = self.commit_list(&self.uncommitted.offsets()) else {
            return;
        };
        match self.client.commit(&offsets, CommitMode::Sync) {
            Ok(()) => {
                bump(&self.stats.commits);
                log::info!(
                    target: KIND.log_target(),
                    "{}: commit of {records} records succeeded after {} more tries; processing resumes",
                    KIND.name(),
                    self.commit_tries + 1
                );
            }
            Err(e) if commit_error_is_final(&e) => log::warn!(
                target: KIND.log_target(),
                "{}: commit of {records} records failed, they may be processed again: {e}",
                KIND.name()
            ),
            Err(e) => {
                self.commit_tries = self.commit_tries.saturating_add(1);
                self.next_commit_try = now + GIVEN_UP_RETRY_EVERY;
                log::debug!(
                    target: KIND.log_target(),
                    "{}: commit of {records} records still failing (try {}): {e}",
                    KIND.name(),
                    self.commit_tries
                );
                return;
            }
        }
        self.uncommitted.clear();
        self.resume_paused();
        self.count_uncommitted(0);
    }

    /// The commit request for `offsets` (per partition, the next offset to read).
    fn commit_list(&self, offsets: &BTreeMap<i32, i64>) -> Option<TopicPartitionList> {
        let topic = &self.intake.config.topic;
        let mut list = TopicPartitionList::new();
        for (&partition, &next) in offsets {
            if let Err(e) = list.add_partition_offset(topic, partition, Offset::Offset(next)) {
                log::error!(
                    target: KIND.log_target(),
                    "{}: cannot build the commit for p={partition}: {e}",
                    KIND.name()
                );
                return None;
            }
        }
        Some(list)
    }

    /// Stops fetching from `partitions` (those not paused yet) until [`Self::resume_paused`].
    fn pause(&mut self, partitions: &[i32]) {
        let new: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !self.paused.contains(p))
            .collect();
        if new.is_empty() {
            return;
        }
        match self.client.pause(&self.partition_list(&new)) {
            Ok(()) => self.paused.extend(new),
            Err(e) => {
                log::warn!(target: KIND.log_target(), "{}: cannot pause {new:?}: {e}", KIND.name())
            }
        }
    }

    /// Fetches again from every partition paused for a given-up commit.
    fn resume_paused(&mut self) {
        if self.paused.is_empty() {
            return;
        }
        let paused: Vec<i32> = std::mem::take(&mut self.paused).into_iter().collect();
        if let Err(e) = self.client.resume(&self.partition_list(&paused)) {
            log::warn!(target: KIND.log_target(), "{}: cannot resume {paused:?}: {e}", KIND.name());
        }
    }

    /// `partitions` of the topic, without offsets.
    fn partition_list(&self, partitions: &[i32]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for &partition in partitions {
            list.add_partition(&self.intake.config.topic, partition);
        }
        list
    }
}

/// Between tries of a failed commit (a coordinator moving, a request timing out).
const COMMIT_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2));

/// How long a failing commit is retried before it is given up; well under
/// `max.poll.interval.ms` (5 min), since the loop does not poll meanwhile.
const COMMIT_RETRY_FOR: Duration = Duration::from_secs(10);

/// Between tries of a given-up commit; the loop polls (paused) meanwhile.
const GIVEN_UP_RETRY_EVERY: Duration = Duration::from_secs(2);

/// Whether retrying a failed commit is pointless: the group moved on (a rebalance, this
/// member fenced or expelled), so the partitions' new owners read these records again.
fn commit_error_is_final(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::FencedInstanceId
                | RDKafkaErrorCode::StaleMemberEpoch
                | RDKafkaErrorCode::AssignmentLost
                | RDKafkaErrorCode::UnknownTopicOrPartition
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_is_retried_unless_the_group_moved_on() {
        let final_codes = [
            RDKafkaErrorCode::IllegalGeneration,
            RDKafkaErrorCode::UnknownMemberId,
            RDKafkaErrorCode::RebalanceInProgress,
            RDKafkaErrorCode::FencedInstanceId,
        ];
        for code in final_codes {
            assert!(
                commit_error_is_final(&KafkaError::ConsumerCommit(code)),
                "{code:?}"
            );
        }
        for code in [
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::CoordinatorNotAvailable,
            RDKafkaErrorCode::NotCoordinator,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert!(
                !commit_error_is_final(&KafkaError::ConsumerCommit(code)),
                "{code:?}"
            );
        }
    }
}
