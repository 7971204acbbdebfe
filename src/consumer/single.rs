//! The single-message consumer: hands every record to its [`RecordHandler`] as it arrives.
//!
//! Commit policy: librdkafka auto-commits in the background, but only offsets this loop has
//! stored, and it stores a record's offset only after its handler returned `Ok`. A crash
//! therefore never commits an unhandled record (at-least-once). A handler that fails is
//! called again with the same record (`consumer/handler_retry.rs`) while the consumer polls
//! with its partitions paused; records of partitions assigned meanwhile wait their turn. On
//! stop the consumer is closed, which commits the stored offsets.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;

use super::audits::Audits;
use super::client::{
    create_consumer, poll_message, store_offset_of, ConsumerClient, Revoked, StaticMemberRecovery,
    POLL_TIMEOUT,
};
use super::decoder::MessageDecoder;
use super::handler_retry::{call_handler, succeeded, Attempt, Given, HandlerRetry};
use super::intake::{account_for, Consumed, Intake};
use super::parts::{wind_up, AfterEach, Parts};
use super::settings::{ConsumerSettings, Tp};
use super::stages::Polled;
use crate::format::ValueDecoder;
use crate::handler::RecordHandler;
use crate::lifecycle::turn_until_stopped;
use crate::lifecycle::{LoopError, Turn};
use crate::ops::latency::WallClock;
use crate::ops::stages::Sampler;
use crate::ops::stats::{bump_own, ConsumerStats};
use crate::registry::RegistryProbe;
use crate::shared::Shared;

/// A consumer that hands each record to a [`RecordHandler`], then stores its offset for the
/// next auto-commit: at-least-once, in order per partition.
///
/// Built from the process's [`Shared`] pieces, a value decoder, [`ConsumerSettings`] and a
/// handler; [`SingleConsumer::run`] blocks the calling thread until the shared stop handle
/// says stop (or the consumer fails), then closes the client, committing the stored offsets.
///
/// ```no_run
/// use kafka_avro_daemon::{Config, ConsumerSettings, Record, Shared, Shutdown, SingleConsumer, User, UserCodec};
///
/// let config = Config::from_env()?;
/// let shutdown = Shutdown::new();
/// shutdown.install_signal_handler()?; // opt-in: SIGINT and SIGTERM stop it
/// let shared = Shared::new(&config, &shutdown)?;
/// let codec = UserCodec::new()?;
/// let settings = ConsumerSettings::new("user-printer", ["test-topic-homework-1"]);
/// let print = |record: &Record<User>| {
///     println!("{} at p={} o={}", record.value, record.partition, record.offset);
///     Ok(())
/// };
/// SingleConsumer::new(&shared, &codec, settings, print).run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SingleConsumer<'s, D, H>(Parts<'s, D, H>);

impl<'s, D: ValueDecoder, H: RecordHandler<D::Value>> SingleConsumer<'s, D, H> {
    /// A consumer of `settings`' topics in its group that decodes values with `codec` and
    /// hands each record to `handler`. Nothing connects before [`SingleConsumer::run`].
    pub fn new(
        shared: &'s Shared,
        codec: &'s D,
        settings: ConsumerSettings,
        handler: H,
    ) -> SingleConsumer<'s, D, H> {
        SingleConsumer(Parts::new(shared, codec, settings, handler))
    }

    /// Believes the registry's 404s only while it still serves `probe`'s schema (the
    /// producer's, [`crate::Producer::registry_probe`]): without a probe a 404 is believed
    /// once its wait is over.
    pub fn with_registry_probe(mut self, probe: &'s RegistryProbe<'s>) -> Self {
        self.0.probe = Some(probe);
        self
    }

    /// Counts into `stats` (the daemon's figures) instead of its own. One consumer's only:
    /// its per-record figures count without atomic read-modify-writes (`ops::stats::bump_own`),
    /// so a second writer would lose counts.
    pub(crate) fn with_stats(mut self, stats: &'s ConsumerStats) -> Self {
        self.0.stats = Some(stats);
        self
    }

    /// Calls `after_each` with its figures after each record is accounted for, handled or
    /// not decoded (the console counts both).
    pub(crate) fn after_each(mut self, after_each: AfterEach<'s>) -> Self {
        self.0.after_each = Some(after_each);
        self
    }

    /// Runs until the shared stop handle says stop: `Ok` then, or the error that stopped the
    /// consumer (which also triggers the stop handle, so the process's other loops stop too,
    /// and is logged once at `error` when it does).
    pub fn run(self) -> Result<(), LoopError> {
        self.0.run(true, |started, handler| {
            let mut consumer = Running {
                client: started.client,
                decoder: started.intake.decoder(),
                audits: started.audits,
                wall_clock: WallClock::new(),
                sampler: Sampler::new(),
                handler,
                held: VecDeque::new(),
                intake: started.intake,
                stats: started.stats,
            };
            let outcome = consumer.run();
            wind_up(&outcome, &mut consumer.audits, consumer.intake);
            // Dropping the client leaves the group and commits the stored offsets.
            drop(consumer);
            outcome
        })
    }
}

/// The loop's state: its client, its decoder (with its schema cache), its handler and where
/// it counts.
struct Running<'i, 'a, D: ValueDecoder, H> {
    client: ConsumerClient<'a>,
    decoder: MessageDecoder<'a, D>,
    audits: Audits<'a>,
    /// Wall-clock time for latencies without a system clock read per record.
    wall_clock: WallClock,
    /// Which records have their stages taken (`ops/stages.rs`).
    sampler: Sampler,
    handler: H,
    /// Records of partitions assigned while the handler was retried: each partition was
    /// paused at its first record, so at most one per partition, handled before polling on.
    held: VecDeque<Consumed<D::Value>>,
    intake: &'i Intake<'a, D>,
    stats: &'a ConsumerStats,
}

/// How handling a record ended.
enum Handled {
    /// The handler returned `Ok`: its offset may be stored.
    Done,
    /// Its partition was revoked while the handler was retried: its new owner handles it.
    Revoked,
    /// Shutdown began while the handler was retried: not handled, not stored.
    Stopped,
}

impl<'i, 'a, D: ValueDecoder, H: RecordHandler<D::Value>> Running<'i, 'a, D, H> {
    /// Turns until stopped; a consumer refused its static member id, or fenced, is created
    /// again within the bounds of [`StaticMemberRecovery`].
    fn run(&mut self) -> Result<(), LoopError> {
        let (settings, config, shutdown) = (
            self.intake.settings,
            self.intake.config,
            self.intake.shutdown,
        );
        let mut recovery = StaticMemberRecovery::new(settings);
        loop {
            let outcome = turn_until_stopped(shutdown, || self.step());
            if !recovery.wait_after(outcome, shutdown, self.stats)? {
                return Ok(());
            }
            self.held.clear();
            self.client = create_consumer(settings, true, config, shutdown, self.stats)?;
            // A new member: whatever the old client owned is no longer this consumer's.
            self.audits.all_revoked();
        }
    }

    /// Handles a record held back by a handler's retries, or polls one message; hands it to
    /// the handler, then stores its offset for the next auto-commit. One clock read per turn
    /// serves the heartbeat, the audit and the latency.
    fn step(&mut self) -> Result<Turn, LoopError> {
        if let Some(record) = self.held.pop_front() {
            return self.handle_held(record);
        }
        let polled = poll_message(&self.client, POLL_TIMEOUT);
        let now = Instant::now();
        self.stats.heartbeat.beat_at(now);
        take_revoked(&self.client, &mut self.audits, &mut self.held);
        self.audits.tick(now);
        let Some(message) = polled? else {
            return Ok(Turn::Continue);
        };
        let requests = self.decoder.registry_requests();
        let Some(record) = self.intake.decode_with_policy(
            &mut self.decoder,
            &self.client,
            &message,
            self.stats,
        )?
        else {
            return Ok(Turn::Stop);
        };
        let sampled = (record.record.is_some() && self.sampler.take(now))
            .then(|| Polled::new(&record.entry, now, self.wall_clock.since_epoch(now)));
        // The common case, at full speed: handled at the first call, the offset stored from
        // the message itself.
        // A retry is set up only for a call that did not return `Ok`.
        let called = record
            .record
            .as_ref()
            .map(|value| call_handler(|| self.handler.handle(value)));
        if let Some(called) = called.filter(|called| !succeeded(called)) {
            drop(message);
            let mut retry = self.retry_of(&record);
            let first = retry.judge(called)?;
            return self.after_first_failure(&record, retry, first);
        }
        {
            let sampled = sampled.map(|polled| polled.handled(Instant::now(), &self.stats.stages));
            // SAFETY: the message came from this consumer's poll.
            let stored = unsafe { store_offset_of(&message) };
            drop(message);
            // Fetching a writer schema, or waiting out the registry, takes time the record's
            // latency must include: only then is the clock read again.
            let now = if self.decoder.registry_requests() == requests {
                now
            } else {
                Instant::now()
            };
            self.account_for(&record, now);
            match stored {
                Ok(()) => {
                    bump_own(&self.stats.offsets_stored);
                    if let Some(handled) = sampled {
                        self.client.context().role.await_commit(handled);
                    }
                }
                Err(e) => self.cannot_store(&record, &e),
            }
        }
        Ok(Turn::Continue)
    }

    /// A record whose handler's first call did not return `Ok`: retried, or dead-lettered
    /// (`ON_HANDLER_ERROR=dlq` and a retry time of zero); its offset stored by (topic,
    /// partition, offset) once done.
    fn after_first_failure(
        &mut self,
        record: &Consumed<D::Value>,
        retry: HandlerRetry<'a>,
        first: Attempt,
    ) -> Result<Turn, LoopError> {
        let handled = match first {
            Attempt::Done => Handled::Done,
            Attempt::Again(wait) => self.retry(record, retry, wait)?,
            Attempt::GiveUp(reason) => self.dead_letter(record, &reason)?,
        };
        match handled {
            Handled::Done => self.handled_after_retries(record),
            Handled::Revoked => {}
            Handled::Stopped => return Ok(Turn::Stop),
        }
        Ok(Turn::Continue)
    }

    /// Copies a record its handler gave up on to the dead-letter topic (`ON_HANDLER_ERROR=dlq`).
    fn dead_letter(&self, record: &Consumed<D::Value>, reason: &str) -> Result<Handled, LoopError> {
        let Some(original) = &record.original else {
            return Err(LoopError::NoDeadLetterProducer {
                client: self.intake.settings.name.clone(),
            });
        };
        Ok(
            match self
                .intake
                .copy_to_dead_letters(original, reason, self.stats)?
            {
                Turn::Continue => Handled::Done,
                Turn::Stop => Handled::Stopped,
            },
        )
    }

    /// A record polled while the handler was retried on another: handled now, its offset
    /// stored by (topic, partition, offset).
    fn handle_held(&mut self, record: Consumed<D::Value>) -> Result<Turn, LoopError> {
        let mut retry = self.retry_of(&record);
        let first = match &record.record {
            Some(value) => retry.attempt(|| self.handler.handle(value))?,
            None => Attempt::Done,
        };
        self.after_first_failure(&record, retry, first)
    }

    /// The retries of `record`'s handler, after its first call failed: polls paused between
    /// calls, so the consumer stays in its group; resumes fetching at the end.
    fn retry(
        &mut self,
        record: &Consumed<D::Value>,
        mut retry: HandlerRetry<'_>,
        mut wait: Duration,
    ) -> Result<Handled, LoopError> {
        let mut paused = self.pause_assignment();
        let handled = loop {
            match self.poll_paused(wait, record.entry.tp, &mut paused) {
                Ok(PausedPoll::Waited) => {}
                Ok(PausedPoll::Revoked) => {
                    retry.abandon("its partition was revoked");
                    break Handled::Revoked;
                }
                Ok(PausedPoll::Stopped) => {
                    retry.abandon("stopping");
                    break Handled::Stopped;
                }
                Err(error) => {
                    retry.abandon("the consumer failed");
                    return Err(error);
                }
            }
            let Some(value) = &record.record else {
                break Handled::Done;
            };
            match retry.attempt(|| self.handler.handle(value))? {
                Attempt::Done => break Handled::Done,
                Attempt::Again(next) => wait = next,
                Attempt::GiveUp(reason) => break self.dead_letter(record, &reason)?,
            }
        };
        self.resume(&paused);
        Ok(handled)
    }

    /// Polls, paused, for `wait`: keeps the membership, takes revocations, and holds a record
    /// of a partition assigned meanwhile (pausing that partition too).
    fn poll_paused(
        &mut self,
        wait: Duration,
        retried: Tp,
        paused: &mut TopicPartitionList,
    ) -> Result<PausedPoll, LoopError> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.intake.shutdown.is_stopping() {
                return Ok(PausedPoll::Stopped);
            }
            if left.is_zero() {
                return Ok(PausedPoll::Waited);
            }
            let polled = poll_message(&self.client, left.min(POLL_TIMEOUT));
            self.stats.heartbeat.beat();
            if let Some(message) = polled? {
                let topic = message.topic().to_string();
                let partition = message.partition();
                let decoded = self.intake.decode_with_policy(
                    &mut self.decoder,
                    &self.client,
                    &message,
                    self.stats,
                )?;
                let Some(record) = decoded else {
                    return Ok(PausedPoll::Stopped);
                };
                drop(message);
                self.held.push_back(record);
                let mut more = TopicPartitionList::new();
                more.add_partition(&topic, partition);
                if self.client.pause(&more).is_ok() {
                    paused.add_partition(&topic, partition);
                }
            }
            let revoked = self.take_revoked();
            if revoked.all || revoked.partitions.contains(&retried) {
                return Ok(PausedPoll::Revoked);
            }
        }
    }

    /// Pauses every assigned partition (and, through the client context, any assigned
    /// before [`Self::resume`]); returns what it paused.
    fn pause_assignment(&self) -> TopicPartitionList {
        self.client.context().role.set_holding(true);
        let assigned = match self.client.assignment() {
            Ok(assigned) => assigned,
            Err(e) => {
                log::warn!(target: &self.intake.settings.log_target, "{}: cannot read the assignment: {e}", self.intake.settings.name);
                return TopicPartitionList::new();
            }
        };
        if let Err(e) = self.client.pause(&assigned) {
            log::warn!(target: &self.intake.settings.log_target, "{}: cannot pause: {e}", self.intake.settings.name);
        }
        assigned
    }

    /// Fetches again from every assigned partition: a partition paused meanwhile (assigned
    /// while holding, or paused, revoked and assigned again: librdkafka keeps the pause) is
    /// not in `paused`, so that alone is not enough; a partition assigned later is resumed by
    /// the client context.
    fn resume(&self, paused: &TopicPartitionList) {
        self.client.context().role.set_holding(false);
        let mut assigned = match self.client.assignment() {
            Ok(assigned) => assigned,
            Err(_) => paused.clone(),
        };
        for element in paused.elements() {
            if assigned
                .find_partition(element.topic(), element.partition())
                .is_none()
            {
                assigned.add_partition(element.topic(), element.partition());
            }
        }
        if assigned.count() == 0 {
            return;
        }
        if let Err(e) = self.client.resume(&assigned) {
            log::warn!(target: &self.intake.settings.log_target, "{}: cannot resume: {e}", self.intake.settings.name);
        }
    }

    /// Tells the audit of revoked partitions, drops held records of theirs, and returns them.
    fn take_revoked(&mut self) -> Revoked {
        take_revoked(&self.client, &mut self.audits, &mut self.held)
    }

    fn retry_of(&self, record: &Consumed<D::Value>) -> HandlerRetry<'a> {
        let record = &record.entry;
        HandlerRetry::new(
            self.intake.settings,
            self.stats,
            self.intake.config,
            Given::Record {
                topic: Arc::clone(self.intake.topics.name(record.tp.topic)),
                partition: record.tp.partition,
                offset: record.offset,
            },
        )
    }

    /// Counts and audits a record once its handler returned `Ok` (or it was accounted for
    /// under `ON_DECODE_ERROR`).
    fn account_for(&mut self, record: &Consumed<D::Value>, now: Instant) {
        let record = &record.entry;
        let now_since_epoch = self.wall_clock.since_epoch(now);
        let intake = self.intake;
        account_for(
            intake.settings,
            &intake.topics,
            record,
            now_since_epoch,
            self.stats,
        );
        self.audits.handled(
            record.tp,
            record.offset,
            &record.stamp,
            intake.skipped(record),
            now,
            now_since_epoch,
        );
        if let Some(after_each) = intake.after_each {
            after_each(self.stats, record);
        }
    }

    /// Accounts for a record handled after retries (or held), and stores its offset by name.
    fn handled_after_retries(&mut self, record: &Consumed<D::Value>) {
        self.account_for(record, Instant::now());
        let entry = &record.entry;
        let topic = self.intake.topics.name(entry.tp.topic);
        match self
            .client
            .store_offset(topic, entry.tp.partition, entry.offset)
        {
            Ok(()) => bump_own(&self.stats.offsets_stored),
            Err(e) => self.cannot_store(record, &e),
        }
    }

    /// The partition was revoked meanwhile: its new owner reads the record again.
    fn cannot_store(&self, record: &Consumed<D::Value>, error: &rdkafka::error::KafkaError) {
        let record = &record.entry;
        let settings = self.intake.settings;
        log::warn!(
            target: &settings.log_target,
            "{}: cannot store offset p={} o={}: {error}",
            settings.name,
            record.tp.partition,
            record.offset
        );
    }
}

/// Tells the audit of revoked partitions, drops held records of theirs, and returns them.
fn take_revoked<V>(
    client: &ConsumerClient<'_>,
    audits: &mut Audits<'_>,
    held: &mut VecDeque<Consumed<V>>,
) -> Revoked {
    let revoked = client.context().role.take_revoked();
    if !revoked.is_empty() {
        audits.revoked(&revoked);
        held.retain(|held| !revoked.all && !revoked.partitions.contains(&held.entry.tp));
    }
    revoked
}

/// How a paused wait between two calls of a failing handler ended.
enum PausedPoll {
    Waited,
    Revoked,
    Stopped,
}
