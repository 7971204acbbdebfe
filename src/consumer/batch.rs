//! The batch consumer (group `CONSUMER_GROUP_ID_2`): collects up to `BATCH_SIZE` records,
//! waiting at most `FETCH_WAIT_MAX_MS` for a batch to fill, processes them, then commits.
//!
//! Commit policy (at-least-once): auto-commit is off; after a batch is processed, exactly its
//! offsets are committed synchronously, so nothing unprocessed is ever committed. A crash
//! between processing and commit means that batch is processed again after restart (at most
//! one batch of duplicates per partition). When partitions are revoked or lost, their buffered
//! records are dropped unprocessed and uncommitted; their new owner reads them. On stop, the
//! partial batch is processed and committed.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use super::batch_buffer::{offsets_to_commit, Batch};
use super::client::{
    create_consumer, poll_message, ConsumerClient, InstanceIdRelease, POLL_TIMEOUT,
};
use super::decoder::MessageDecoder;
use super::intake::{log_record, Intake};
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
        intake,
        stats,
    };
    let outcome = consumer.run();
    if outcome.is_ok() && !consumer.batch.is_empty() {
        log::info!(
            target: KIND.log_target(),
            "{}: processing the partial batch before exiting",
            KIND.name()
        );
        consumer.process_and_commit();
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
            self.count_uncommitted(0);
            self.client = create_consumer(KIND, config, shutdown, self.stats)?;
            // A new member: whatever the old client owned is no longer this consumer's.
            self.auditor.revoked(&[], true);
        }
    }

    /// Polls at most until the batch is due, adds what came to the batch, and processes and
    /// commits the batch once it is full or its time is up.
    /// One clock read per turn serves the deadline, the heartbeat and the audit.
    fn step(&mut self) -> Result<Turn, LoopError> {
        let timeout = self
            .batch
            .time_left(self.last_poll)
            .map_or(POLL_TIMEOUT, |left| left.min(POLL_TIMEOUT));
        let polled = poll_message(&self.client, timeout);
        // After the poll (it may have blocked); shared below and by the next turn.
        let now = Instant::now();
        self.last_poll = now;
        self.stats.heartbeat.beat_at(now);
        let revoked = self.client.context().role.take_revoked();
        if !revoked.is_empty() {
            self.auditor.revoked(&revoked.partitions, revoked.all);
            let dropped = self.batch.forget_revoked(&revoked);
            self.count_uncommitted(0);
            if dropped > 0 {
                log::info!(
                    target: KIND.log_target(),
                    "{}: dropped {dropped} unprocessed records of revoked partitions",
                    KIND.name()
                );
            }
        }
        self.auditor.tick(now);
        if let Some(message) = polled? {
            let Some(record) = self.intake.decode_with_policy(
                KIND,
                &mut self.decoder,
                &self.client,
                &message,
                self.stats,
            )?
            else {
                return Ok(Turn::Stop);
            };
            self.batch.push(record, now);
            self.count_uncommitted(0);
        }
        if self.batch.is_due(now) {
            self.process_and_commit();
        }
        Ok(Turn::Continue)
    }

    /// Publishes how many records a stop now would leave uncommitted: those buffered plus
    /// `committing`, the processed batch whose commit is under way.
    fn count_uncommitted(&self, committing: usize) {
        let uncommitted = (self.batch.len() + committing) as u64;
        self.stats.uncommitted.store(uncommitted, Ordering::Relaxed);
    }

    /// Processes every record of the batch, then commits their offsets synchronously.
    fn process_and_commit(&mut self) {
        let topic = &self.intake.config.topic;
        let records = self.batch.take();
        log::info!(target: KIND.log_target(), "received {} messages", records.len());
        let now = Instant::now();
        let now_since_epoch = self.wall_clock.since_epoch(now);
        for record in &records {
            log_record(KIND, topic, record, now_since_epoch, self.stats);
            self.auditor.handled(
                record.partition,
                record.offset,
                &record.stamp,
                self.intake.skipped(record),
                now,
                now_since_epoch,
            );
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, next) in offsets_to_commit(&records) {
            if let Err(e) = offsets.add_partition_offset(topic, partition, Offset::Offset(next)) {
                log::error!(
                    target: KIND.log_target(),
                    "{}: cannot build the commit for p={partition}: {e}",
                    KIND.name()
                );
                return;
            }
        }
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
        self.count_uncommitted(0);
        match committed {
            Some(Ok(())) => bump(&self.stats.commits),
            // Not committed means read again after a restart or rebalance: duplicates, no loss.
            Some(Err(e)) => log::warn!(
                target: KIND.log_target(),
                "{}: commit of {} records failed, they may be processed again: {e}",
                KIND.name(),
                records.len()
            ),
            None => log::warn!(
                target: KIND.log_target(),
                "{}: stopping before the commit of {} records succeeded; they may be processed again",
                KIND.name(),
                records.len()
            ),
        }
    }
}

/// Between tries of a failed commit (a coordinator moving, a request timing out).
const COMMIT_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2));

/// How long a failing commit is retried before the batch is left to be read again; well under
/// `max.poll.interval.ms` (5 min), since the loop does not poll meanwhile.
const COMMIT_RETRY_FOR: Duration = Duration::from_secs(10);

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
