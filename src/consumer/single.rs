//! The single-message consumer (group `CONSUMER_GROUP_ID_1`): logs every record as it arrives.
//!
//! Commit policy: librdkafka auto-commits in the background, but only offsets this loop has
//! stored, and it stores a message's offset only after handling it. A crash therefore never
//! commits an unhandled message (at-least-once). On stop the consumer is closed, which commits
//! the stored offsets.

use std::time::Instant;

use rdkafka::consumer::Consumer;

use super::client::{
    create_consumer, poll_message, ConsumerClient, InstanceIdRelease, POLL_TIMEOUT,
};
use super::decoder::MessageDecoder;
use super::intake::{log_record, Intake};
use super::kind::ConsumerKind;
use crate::app::error::{LoopError, Turn};
use crate::app::turn_until_stopped;
use crate::audit::Auditor;
use crate::ops::latency::WallClock;
use crate::ops::stats::{bump, ConsumerStats};

const KIND: ConsumerKind = ConsumerKind::Single;

/// Runs the single-message consumer until shutdown.
pub(crate) fn run_single_consumer(
    intake: &Intake<'_>,
    stats: &ConsumerStats,
) -> Result<(), LoopError> {
    let mut consumer = SingleConsumer {
        client: create_consumer(KIND, intake.config, intake.shutdown, stats)?,
        decoder: intake.decoder(),
        auditor: Auditor::new(
            KIND,
            intake.config.audit_loss_grace,
            &stats.audit,
            intake.own_run,
        ),
        wall_clock: WallClock::new(),
        intake,
        stats,
    };
    let outcome = consumer.run();
    // Before the close, which waits on the brokers.
    intake.shutdown.fail_on_error(&outcome);
    consumer.auditor.finish(KIND.group_id(intake.config));
    log::info!(target: KIND.log_target(), "{} exiting", KIND.name());
    // Dropping the client leaves the group and commits the stored offsets.
    drop(consumer);
    outcome
}

/// The loop's state: its client, its decoder (with its schema cache) and where it counts.
struct SingleConsumer<'i, 'a> {
    client: ConsumerClient<'a>,
    decoder: MessageDecoder<'a>,
    auditor: Auditor<'a>,
    /// Wall-clock time for latencies without a system clock read per record.
    wall_clock: WallClock,
    intake: &'i Intake<'a>,
    stats: &'a ConsumerStats,
}

impl SingleConsumer<'_, '_> {
    /// Turns until stopped; a consumer refused its static member id is created again, within
    /// the bounded wait of [`InstanceIdRelease`].
    fn run(&mut self) -> Result<(), LoopError> {
        let (config, shutdown) = (self.intake.config, self.intake.shutdown);
        let mut release = InstanceIdRelease::new(KIND);
        loop {
            let outcome = turn_until_stopped(shutdown, || self.step());
            if !release.wait_after(outcome, config, shutdown, self.stats)? {
                return Ok(());
            }
            self.client = create_consumer(KIND, config, shutdown, self.stats)?;
            // A new member: whatever the old client owned is no longer this consumer's.
            self.auditor.revoked(&[], true);
        }
    }

    /// Polls one message, handles it, then stores its offset for the next auto-commit.
    /// One clock read per turn serves the heartbeat, the audit and the latency.
    fn step(&mut self) -> Result<Turn, LoopError> {
        let polled = poll_message(&self.client, POLL_TIMEOUT);
        let now = Instant::now();
        self.stats.heartbeat.beat_at(now);
        let revoked = self.client.context().role.take_revoked();
        if !revoked.is_empty() {
            self.auditor.revoked(&revoked.partitions, revoked.all);
        }
        self.auditor.tick(now);
        let Some(message) = polled? else {
            return Ok(Turn::Continue);
        };
        let requests = self.decoder.registry_requests();
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
        // Fetching a writer schema, or waiting out the registry, takes time the record's
        // latency must include: only then is the clock read again.
        let now = if self.decoder.registry_requests() == requests {
            now
        } else {
            Instant::now()
        };
        let now_since_epoch = self.wall_clock.since_epoch(now);
        log_record(
            KIND,
            &self.intake.config.topic,
            &record,
            now_since_epoch,
            self.stats,
        );
        self.auditor.handled(
            record.partition,
            record.offset,
            &record.stamp,
            self.intake.skipped(&record),
            now,
            now_since_epoch,
        );
        match self.client.store_offset_from_message(&message) {
            Ok(()) => bump(&self.stats.offsets_stored),
            // The partition was revoked meanwhile: its new owner reads the message again.
            Err(e) => log::warn!(
                target: KIND.log_target(),
                "{}: cannot store offset p={} o={}: {e}",
                KIND.name(),
                record.partition,
                record.offset
            ),
        }
        Ok(Turn::Continue)
    }
}
