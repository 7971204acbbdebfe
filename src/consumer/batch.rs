//! The batch consumer: collects up to `BATCH_SIZE` records, waiting at most
//! `FETCH_WAIT_MAX_MS` for a batch to fill, hands them to its [`BatchHandler`], then commits.
//!
//! Commit policy (at-least-once): auto-commit is off; after the handler returned `Ok` for a
//! batch, exactly its offsets are committed synchronously, so nothing unprocessed is ever committed. A crash
//! between processing and commit means that batch is processed again after restart. A commit
//! that keeps failing for a passing reason is given up after [`COMMIT_RETRY_FOR`]; then the
//! consumer pauses its partitions and processes no further batch until that batch's offsets
//! are committed (tried again every few seconds, while polling keeps the membership), so a
//! crash repeats at most one batch however long commits fail. When partitions are revoked or
//! lost, their buffered records are dropped unprocessed and uncommitted, and a given-up commit
//! of theirs forgotten; their new owner reads them. On stop, the partial batch is processed and
//! committed (unless a given-up commit is still refused or unanswered: then it is left
//! unprocessed).
//!
//! Synchronous, for the loop: no further batch is processed before a commit's answer. But
//! the answer is waited for in slices, the heartbeat beaten between them
//! (`consumer/commit_in_flight.rs`): a hung coordinator leaves a commit unanswered until the
//! client gives up the connection (20–28 s in the test). One unanswered for [`COMMIT_RETRY_FOR`] is given up as a failed one is, and
//! stays in flight: the consumer holds (its partitions paused) until it is answered, and never
//! sends another beside it.
//!
//! A handler that fails is handed the same batch again (`consumer/handler_retry.rs`) while the
//! consumer polls with its partitions paused; records of partitions revoked meanwhile are
//! taken out of the batch before the next call, so a handler never sees a record of a
//! partition the consumer no longer owns, and their commits are never attempted.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use super::audits::Audits;
use super::batch_buffer::{offsets_to_commit, Batch, Taken, Uncommitted};
use super::client::{
    create_consumer, poll_message, ConsumerClient, Revoked, StaticMemberRecovery, POLL_TIMEOUT,
};
use super::commit_in_flight::CommitInFlight;
use super::decoder::MessageDecoder;
use super::handler_retry::{Attempt, Given, HandlerRetry};
use super::intake::{account_for, Entry, Intake};
use super::parts::{wind_up, Parts};
use super::settings::{ConsumerSettings, Tp};
use super::stages::Polled;
use crate::format::ValueDecoder;
use crate::handler::BatchHandler;
use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::turn_until_stopped;
use crate::lifecycle::{LoopError, Turn};
use crate::ops::latency::WallClock;
use crate::ops::stages::Sampler;
use crate::ops::stats::{bump, ConsumerStats};
use crate::registry::RegistryProbe;
use crate::shared::Shared;

/// A consumer that hands records to a [`BatchHandler`] a batch at a time (up to `BATCH_SIZE`
/// records, or what came within `FETCH_WAIT_MAX_MS`), then commits the batch synchronously:
/// at-least-once; after a crash at most the batches not yet committed are handled again.
///
/// ```no_run
/// use kafka_avro_daemon::{BatchConsumer, Config, ConsumerSettings, Record, Shared, Shutdown, User, UserCodec};
///
/// let config = Config::from_env()?;
/// let shutdown = Shutdown::new();
/// shutdown.install_signal_handler()?; // opt-in: SIGINT and SIGTERM stop it
/// let shared = Shared::new(&config, &shutdown)?;
/// let codec = UserCodec::new()?;
/// let settings = ConsumerSettings::new("user-counter", ["test-topic-homework-1"]);
/// let mut total = 0;
/// let count = move |records: &[Record<User>]| {
///     total += records.len();
///     println!("{total} records so far");
///     Ok(())
/// };
/// BatchConsumer::new(&shared, &codec, settings, count).run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BatchConsumer<'s, D, H>(Parts<'s, D, H>);

impl<'s, D: ValueDecoder, H: BatchHandler<D::Value>> BatchConsumer<'s, D, H> {
    /// A consumer of `settings`' topics in its group that decodes values with `codec` and
    /// hands each batch to `handler`. Nothing connects before [`BatchConsumer::run`].
    pub fn new(
        shared: &'s Shared,
        codec: &'s D,
        settings: ConsumerSettings,
        handler: H,
    ) -> BatchConsumer<'s, D, H> {
        BatchConsumer(Parts::new(shared, codec, settings, handler))
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

    /// Runs until the shared stop handle says stop, then handles and commits the partial
    /// batch: `Ok`, or the error that stopped the consumer (which also triggers the stop
    /// handle, so the process's other loops stop too, and is logged once at `error` when it
    /// does).
    pub fn run(self) -> Result<(), LoopError> {
        self.0.run(false, |started, handler| {
            let config = started.intake.config;
            let mut consumer = Running {
                in_flight: None,
                unanswered_said: false,
                client: started.client,
                decoder: started.intake.decoder(),
                batch: Batch::new(config.batch_size, config.batch_max_wait),
                audits: started.audits,
                last_poll: Instant::now(),
                wall_clock: WallClock::new(),
                sampler: Sampler::new(),
                uncommitted: Uncommitted::default(),
                paused: BTreeSet::new(),
                next_commit_try: Instant::now(),
                commit_tries: 0,
                left_unprocessed: false,
                revoked_during_retry: None,
                handler,
                intake: started.intake,
                stats: started.stats,
            };
            let mut outcome = consumer.run();
            if outcome.is_ok() {
                outcome = consumer.finish_on_stop();
            }
            wind_up(&outcome, &mut consumer.audits, consumer.intake);
            // A hold left at the end is no wait any more.
            consumer.stats.commit_wait.end();
            drop(consumer);
            outcome
        })
    }
}

/// The loop's state: its client, its decoder, its handler and the batch being collected.
struct Running<'i, 'a, D: ValueDecoder, H> {
    /// A commit sent and not answered yet (at most one: an older commit never lands after a
    /// newer one). Declared before `client`, so it is dropped first, as it must be.
    in_flight: Option<CommitInFlight>,
    /// Whether the line that a commit went unanswered was written: its answer is then said
    /// at info, whatever it is.
    unanswered_said: bool,
    client: ConsumerClient<'a>,
    decoder: MessageDecoder<'a, D>,
    batch: Batch<D::Value>,
    audits: Audits<'a>,
    /// When the last poll returned: the clock read each turn makes, reused for the next
    /// poll's deadline (it is older by one record's handling) rather than read again.
    last_poll: Instant,
    /// Wall-clock time for latencies without a system clock read per record.
    wall_clock: WallClock,
    /// Which records have their stages taken (`ops/stages.rs`); the batch keeps them.
    sampler: Sampler,
    /// Processed records whose commit was given up: no further batch is processed until they
    /// are committed.
    uncommitted: Uncommitted,
    /// Partitions paused while a commit holds the consumer (`uncommitted`, `in_flight`) or the
    /// handler is retried, resumed once that is over.
    paused: BTreeSet<Tp>,
    /// When to try the given-up commit again, and how many tries it has had.
    next_commit_try: Instant,
    commit_tries: u32,
    /// A stop came while the handler was retried: that batch is left unprocessed, and so is
    /// everything after it.
    left_unprocessed: bool,
    /// While the handler is retried: what was revoked since the batch was taken, to take its
    /// records out of the batch before the next call.
    revoked_during_retry: Option<Revoked>,
    handler: H,
    intake: &'i Intake<'a, D>,
    stats: &'a ConsumerStats,
}

/// How handing a batch to the handler ended.
#[derive(PartialEq, Eq)]
enum Handled {
    /// The handler returned `Ok` for what is left of the batch: commit it.
    Done,
    /// Shutdown began while the handler was retried: nothing of it is committed.
    Stopped,
}

impl<D: ValueDecoder, H: BatchHandler<D::Value>> Running<'_, '_, D, H> {
    /// Turns until stopped; a consumer refused its static member id, or fenced, is created
    /// again within the bounds of [`StaticMemberRecovery`]. What it had buffered is dropped
    /// then: a fatal client can commit nothing, and whoever owns the partitions reads it again.
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
            self.batch.take();
            self.uncommitted.clear();
            self.paused.clear();
            self.count_uncommitted(0);
            self.in_flight = None;
            self.unanswered_said = false;
            self.stats.commit_wait.end();
            self.client = create_consumer(settings, false, config, shutdown, self.stats)?;
            // A new member: whatever the old client owned is no longer this consumer's.
            self.audits.all_revoked();
        }
    }

    /// Polls at most until the batch is due, adds what came to the batch, and processes and
    /// commits the batch once it is full or its time is up; while a given-up commit waits,
    /// tries it again instead and processes nothing.
    /// One clock read per turn serves the deadline, the heartbeat and the audit.
    fn step(&mut self) -> Result<Turn, LoopError> {
        let holding = self.holding();
        let timeout = match self.batch.time_left(self.last_poll) {
            Some(left) if !holding => left.min(POLL_TIMEOUT),
            _ => POLL_TIMEOUT,
        };
        let now = self.poll_into_batch(timeout, holding)?;
        let Some(now) = now else {
            return Ok(Turn::Stop);
        };
        self.audits.tick(now);
        if holding {
            self.settle_held_commit(now, POLL_TIMEOUT);
        } else if self.batch.is_due(now) && self.process_and_commit()? == Turn::Stop {
            return Ok(Turn::Stop);
        }
        Ok(Turn::Continue)
    }

    /// Polls once for up to `timeout` and adds what came to the batch (pausing its partition
    /// when `pause_new`: fetching waits for something else); takes revocations. Returns the
    /// time the poll returned, or `None` when shutdown began during a decode (the message
    /// was not handled).
    fn poll_into_batch(
        &mut self,
        timeout: Duration,
        pause_new: bool,
    ) -> Result<Option<Instant>, LoopError> {
        let polled = poll_message(&self.client, timeout);
        // After the poll (it may have blocked); shared below and by the next turn.
        let now = Instant::now();
        self.last_poll = now;
        self.stats.heartbeat.beat_at(now);
        // Decoded into an owned record first: the message borrows the client. A message and
        // the revocation of its partition never come from the same poll.
        let consumed = match polled? {
            Some(message) => {
                let decoded = self.intake.decode_with_policy(
                    &mut self.decoder,
                    &self.client,
                    &message,
                    self.stats,
                )?;
                let Some(consumed) = decoded else {
                    return Ok(None);
                };
                Some(consumed)
            }
            None => None,
        };
        self.take_revoked();
        if let Some(consumed) = consumed {
            if pause_new {
                // A partition assigned since fetching was paused: it waits too.
                self.pause(&[consumed.entry.tp]);
            }
            let sampled = (consumed.record.is_some() && self.sampler.take(now))
                .then(|| Polled::new(&consumed.entry, now, self.wall_clock.since_epoch(now)));
            self.batch.push(consumed, now);
            if let Some(polled) = sampled {
                self.batch.push_sampled(polled);
            }
            self.count_uncommitted(0);
        }
        Ok(Some(now))
    }

    /// Drops what this consumer buffered or waits to commit for partitions it lost; returns
    /// what was revoked.
    fn take_revoked(&mut self) -> Revoked {
        let revoked = self.client.context().role.take_revoked();
        if revoked.is_empty() {
            return revoked;
        }
        self.audits.revoked(&revoked);
        if let Some(during_retry) = &mut self.revoked_during_retry {
            during_retry.all |= revoked.all;
            during_retry.partitions.extend(&revoked.partitions);
        }
        let dropped = self.batch.forget_revoked(&revoked);
        if revoked.all {
            self.uncommitted.clear();
        } else {
            self.uncommitted.forget_partitions(&revoked.partitions);
        }
        // librdkafka keeps a partition's pause across a revocation and a new assignment, so
        // a partition that comes back stays paused until `resume_paused`, which resumes the
        // whole assignment; the set only keeps `pause` from pausing twice.
        if revoked.all {
            self.paused.clear();
        } else {
            for tp in &revoked.partitions {
                self.paused.remove(tp);
            }
        }
        // The given-up commit was all of revoked partitions: nothing is held any more (unless
        // its commit is still in flight, or the handler is being retried, which holds
        // fetching itself).
        if !self.holding() {
            self.stats.commit_wait.end();
            if self.revoked_during_retry.is_none() {
                self.resume_paused();
            }
        }
        self.count_uncommitted(0);
        if dropped > 0 {
            let settings = self.intake.settings;
            log::info!(
                target: &settings.log_target,
                "{}: dropped {dropped} unprocessed records of revoked partitions",
                settings.name
            );
        }
        revoked
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
    /// what a restart repeats; unprocessed, the records are simply read again) or a stop
    /// came while the handler was retried.
    fn finish_on_stop(&mut self) -> Result<(), LoopError> {
        if self.holding() {
            // A commit in flight is also waited for by the consumer's close: here only long
            // enough to know whether the partial batch may be processed.
            let wait = match self.in_flight {
                Some(_) => STOP_COMMIT_WAIT,
                None => COMMIT_RETRY_FOR,
            };
            self.settle_held_commit(self.next_commit_try, wait);
        }
        if self.uncommitted.is_empty() {
            // Still in flight, of partitions revoked since: nothing of the partial batch's
            // waits on it (and the close waits for its answer).
            self.in_flight = None;
        }
        if self.batch.is_empty() || self.left_unprocessed {
            return Ok(());
        }
        let settings = self.intake.settings;
        if self.holding() {
            log::warn!(
                target: &settings.log_target,
                "{}: leaving the partial batch of {} records unprocessed: the commit of {} processed records is still unanswered or refused",
                settings.name,
                self.batch.len(),
                self.uncommitted.len()
            );
            return Ok(());
        }
        log::info!(
            target: &settings.log_target,
            "{}: processing the partial batch before exiting",
            settings.name
        );
        self.process_and_commit().map(|_| ())
    }

    /// Hands the batch to the handler (until it returns `Ok`, see [`Self::handle`]), accounts
    /// for every record, then commits their offsets synchronously. [`Turn::Stop`]: a stop
    /// came while the handler was retried; nothing of the batch is committed.
    fn process_and_commit(&mut self) -> Result<Turn, LoopError> {
        let mut taken = self.batch.take();
        self.handler.batch_read(taken.len());
        if self.handle(&mut taken)? == Handled::Stopped {
            self.left_unprocessed = true;
            return Ok(Turn::Stop);
        }
        if taken.is_empty() {
            return Ok(Turn::Continue);
        }
        let now = Instant::now();
        let now_since_epoch = self.wall_clock.since_epoch(now);
        let intake = self.intake;
        let sampled: Vec<_> = std::mem::take(&mut taken.sampled)
            .into_iter()
            .map(|polled| polled.handled(now, &self.stats.stages))
            .collect();
        for entry in &taken.entries {
            account_for(
                intake.settings,
                &intake.topics,
                entry,
                now_since_epoch,
                self.stats,
            );
            self.audits.handled(
                entry.tp,
                entry.offset,
                &entry.stamp,
                intake.skipped(entry),
                now,
                now_since_epoch,
            );
        }
        if self.commit_batch(&taken.entries) {
            let committed = Instant::now();
            for handled in &sampled {
                handled.committed(
                    committed,
                    &self.stats.stages,
                    &intake.topics,
                    &intake.settings.name,
                );
            }
        }
        self.batch.recycle(taken);
        Ok(Turn::Continue)
    }

    /// Hands the decoded records of `taken` to the handler. When it fails, polls with every
    /// partition paused (records of partitions assigned meanwhile go to the next batch) and
    /// hands it again what is left of the batch once revoked partitions' records are taken
    /// out, until it succeeds, the retry time is over (an error) or shutdown begins.
    fn handle(&mut self, taken: &mut Taken<D::Value>) -> Result<Handled, LoopError> {
        if taken.records.is_empty() {
            return Ok(Handled::Done);
        }
        let intake = self.intake;
        let mut retry = HandlerRetry::new(
            intake.settings,
            self.stats,
            intake.config,
            Given::Batch {
                records: taken.records.len(),
            },
        );
        let mut wait = match retry.attempt(|| self.handler.handle_batch(&taken.records))? {
            Attempt::Done => return Ok(Handled::Done),
            Attempt::Again(wait) => wait,
            Attempt::GiveUp(reason) => return self.dead_letter(taken, &reason),
        };
        self.pause_assignment();
        self.revoked_during_retry = Some(Revoked::default());
        let handled = loop {
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline && !intake.shutdown.is_stopping() {
                let left = deadline.saturating_duration_since(Instant::now());
                let polled = self.poll_into_batch(left.min(POLL_TIMEOUT), true);
                match polled {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(error) => {
                        retry.abandon("the consumer failed");
                        self.revoked_during_retry = None;
                        return Err(error);
                    }
                }
                if let Some(revoked) = self.revoked_during_retry.replace(Revoked::default()) {
                    taken.forget_revoked(&revoked);
                }
            }
            if intake.shutdown.is_stopping() {
                retry.abandon("stopping");
                break Handled::Stopped;
            }
            if taken.records.is_empty() {
                retry.abandon("its partitions were revoked");
                break Handled::Done;
            }
            match retry.attempt(|| self.handler.handle_batch(&taken.records))? {
                Attempt::Done => break Handled::Done,
                Attempt::Again(next) => wait = next,
                Attempt::GiveUp(reason) => break self.dead_letter(taken, &reason)?,
            }
        };
        self.revoked_during_retry = None;
        self.resume_paused();
        Ok(handled)
    }

    /// Copies every record of a batch its handler gave up on to the dead-letter topics
    /// (`ON_HANDLER_ERROR=dlq`: which record failed, the handler does not say), each
    /// acknowledged before the batch may be committed.
    fn dead_letter(&self, taken: &Taken<D::Value>, reason: &str) -> Result<Handled, LoopError> {
        if taken.originals.len() != taken.records.len() {
            return Err(LoopError::NoDeadLetterProducer {
                client: self.intake.settings.name.clone(),
            });
        }
        for original in &taken.originals {
            if self
                .intake
                .copy_to_dead_letters(original, reason, self.stats)?
                == Turn::Stop
            {
                return Ok(Handled::Stopped);
            }
        }
        Ok(Handled::Done)
    }

    /// Commits the offsets of processed `entries`, retrying a passing failure for up to
    /// [`COMMIT_RETRY_FOR`]; a commit given up then, or not answered by then, is kept to try
    /// again (or to wait for) before any further batch ([`Self::settle_held_commit`]).
    /// Returns whether the offsets are committed now.
    fn commit_batch(&mut self, entries: &[Entry]) -> bool {
        let Some(offsets) = self.commit_list(&offsets_to_commit(entries)) else {
            return false;
        };
        self.count_uncommitted(entries.len());
        let settings = self.intake.settings;
        let deadline = Instant::now() + COMMIT_RETRY_FOR;
        let committed = retry_until_stopped(
            &COMMIT_BACKOFF,
            self.intake.shutdown,
            Some(&self.stats.heartbeat),
            |_| match self.commit_until(&offsets, deadline) {
                Some(Ok(())) => ControlFlow::Break(Commit::Done),
                Some(Err(e)) if commit_error_is_final(&e) => {
                    ControlFlow::Break(Commit::GroupMoved(e))
                }
                Some(Err(e)) if Instant::now() >= deadline => ControlFlow::Break(Commit::Failed(e)),
                Some(Err(e)) => ControlFlow::Continue(e),
                None => ControlFlow::Break(Commit::Unanswered),
            },
            |e, attempt, wait| {
                log::warn!(
                    target: &settings.log_target,
                    "{}: commit of {} records failed (attempt {attempt}): {e}; retrying in {wait:?}",
                    settings.name,
                    entries.len()
                );
            },
        );
        let done = matches!(committed, Some(Commit::Done));
        match committed {
            Some(Commit::Done) => bump(&self.stats.commits),
            // The group moved on: the partitions' new owners read these records again.
            Some(Commit::GroupMoved(e)) => log::warn!(
                target: &settings.log_target,
                "{}: commit of {} records failed, they may be processed again: {e}",
                settings.name,
                entries.len()
            ),
            Some(Commit::Failed(e)) => {
                let failed = format!("failed for {} s: {e}", COMMIT_RETRY_FOR.as_secs());
                self.give_up_commit(entries, &failed);
            }
            Some(Commit::Unanswered) => {
                let sent = self.in_flight.as_ref().map(CommitInFlight::sent);
                let unanswered = format!(
                    "has had no answer from the group's coordinator for {:.1?} (it stays in flight, waited for)",
                    sent.map(|sent| sent.elapsed()).unwrap_or_default()
                );
                self.give_up_commit(entries, &unanswered);
                self.unanswered_said = true;
            }
            None => {
                // Still uncommitted: the stop deadline's line counts them.
                self.uncommitted.add(entries);
                log::warn!(
                    target: &settings.log_target,
                    "{}: stopping before the commit of {} records succeeded; they may be processed again",
                    settings.name,
                    entries.len()
                );
            }
        }
        self.count_uncommitted(0);
        done
    }

    /// Whether a commit holds the consumer: one given up on, or one still in flight (of
    /// partitions revoked since, perhaps). No batch is processed meanwhile.
    fn holding(&self) -> bool {
        !self.uncommitted.is_empty() || self.in_flight.is_some()
    }

    /// The answer to the commit of `offsets`, waited for until `deadline` (or
    /// [`LEAST_COMMIT_WAIT`] from now, if later), alive for the watchdog. `None`: no answer by
    /// then; the commit stays in flight.
    fn commit_until(
        &mut self,
        offsets: &TopicPartitionList,
        deadline: Instant,
    ) -> Option<KafkaResult<()>> {
        // Never two in flight: no batch is processed, so none committed, while one is.
        debug_assert!(self.in_flight.is_none(), "a commit beside one in flight");
        let deadline = deadline.max(Instant::now() + LEAST_COMMIT_WAIT);
        match CommitInFlight::send(&self.client, offsets) {
            Ok(commit) => self.await_answer(commit, deadline),
            Err(e) => Some(Err(e)),
        }
    }

    /// Waits for `commit`'s answer until `deadline`, beating the heartbeat between slices of
    /// [`COMMIT_WAIT_SLICE`]; unanswered by then (`None`), it is kept in flight.
    fn await_answer(
        &mut self,
        commit: CommitInFlight,
        deadline: Instant,
    ) -> Option<KafkaResult<()>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(answer) = commit.answer(&self.client, left.min(COMMIT_WAIT_SLICE)) {
                return Some(answer);
            }
            self.stats.heartbeat.beat();
            if left.is_zero() {
                self.in_flight = Some(commit);
                return None;
            }
        }
    }

    /// Keeps `entries`' offsets to commit later and pauses fetching: no further batch is
    /// processed until they are committed, so a crash meanwhile repeats this batch only.
    /// `why`: how the commit ended, for the line.
    fn give_up_commit(&mut self, entries: &[Entry], why: &str) {
        self.stats.commit_wait.start();
        self.uncommitted.add(entries);
        self.commit_tries = 0;
        self.next_commit_try = Instant::now() + GIVEN_UP_RETRY_EVERY;
        let settings = self.intake.settings;
        log::warn!(
            target: &settings.log_target,
            "{}: commit of {} records {why}; no further batch is processed until it succeeds (a crash now would process them again)",
            settings.name,
            entries.len(),
        );
        self.pause_assignment();
    }

    /// Pauses every partition assigned now.
    fn pause_assignment(&mut self) {
        let settings = self.intake.settings;
        let assigned: Vec<Tp> = match self.client.assignment() {
            Ok(assignment) => super::client::partitions_of(&self.intake.topics, &assignment),
            Err(e) => {
                log::warn!(target: &settings.log_target, "{}: cannot read the assignment: {e}", settings.name);
                Vec::new()
            }
        };
        self.pause(&assigned);
    }

    /// Settles the commit that holds the consumer: its answer, waited for up to `wait` if it
    /// is still in flight; else one more try, if it is due at `now`. Committed (or the group moved on), fetching
    /// resumes; failed, the next try is scheduled; unanswered, it is waited for again at the
    /// next call. An answer that comes when nothing is held any more (its partitions revoked
    /// meanwhile) only ends the hold.
    fn settle_held_commit(&mut self, now: Instant, wait: Duration) {
        let deadline = Instant::now() + wait;
        let (answer, sent) = match self.in_flight.take() {
            Some(commit) => {
                let sent = commit.sent();
                (self.await_answer(commit, deadline), Some(sent))
            }
            None if now < self.next_commit_try || self.uncommitted.is_empty() => return,
            None => {
                let Some(offsets) = self.commit_list(&self.uncommitted.offsets()) else {
                    return;
                };
                let answer = match CommitInFlight::send(&self.client, &offsets) {
                    Ok(commit) => self.await_answer(commit, deadline),
                    Err(e) => Some(Err(e)),
                };
                (answer, None)
            }
        };
        let Some(answer) = answer else {
            return;
        };
        let settings = self.intake.settings;
        let records = self.uncommitted.len();
        let said_unanswered = std::mem::take(&mut self.unanswered_said);
        if records == 0 {
            log::debug!(target: &settings.log_target, "{}: a commit of revoked partitions answered: {answer:?}", settings.name);
            self.stats.commit_wait.end();
            self.resume_paused();
            return;
        }
        // A late answer says how late; a try answered within its turn, how many tries.
        let how = match sent {
            Some(sent) => format!("answered {:.1?} after it was sent", sent.elapsed()),
            None => format!("after {} more tries", self.commit_tries + 1),
        };
        match answer {
            Ok(()) => {
                bump(&self.stats.commits);
                log::info!(
                    target: &settings.log_target,
                    "{}: commit of {records} records succeeded ({how}); processing resumes",
                    settings.name,
                );
            }
            Err(e) if commit_error_is_final(&e) => log::warn!(
                target: &settings.log_target,
                "{}: commit of {records} records failed ({how}), they may be processed again: {e}",
                settings.name
            ),
            Err(e) => {
                self.commit_tries = self.commit_tries.saturating_add(1);
                self.next_commit_try = now + GIVEN_UP_RETRY_EVERY;
                match said_unanswered {
                    // The first word since "stays in flight": said at info.
                    true => log::info!(
                        target: &settings.log_target,
                        "{}: commit of {records} records failed ({how}): {e}; trying again every {} s",
                        settings.name,
                        GIVEN_UP_RETRY_EVERY.as_secs()
                    ),
                    false => log::debug!(
                        target: &settings.log_target,
                        "{}: commit of {records} records still failing (try {}): {e}",
                        settings.name,
                        self.commit_tries
                    ),
                }
                return;
            }
        }
        self.uncommitted.clear();
        self.stats.commit_wait.end();
        self.resume_paused();
        self.count_uncommitted(0);
    }

    /// The commit request for `offsets` (per partition, the next offset to read).
    fn commit_list(&self, offsets: &BTreeMap<Tp, i64>) -> Option<TopicPartitionList> {
        let mut list = TopicPartitionList::new();
        for (&tp, &next) in offsets {
            let topic = self.intake.topics.name(tp.topic);
            if let Err(e) = list.add_partition_offset(topic, tp.partition, Offset::Offset(next)) {
                let settings = self.intake.settings;
                log::error!(
                    target: &settings.log_target,
                    "{}: cannot build the commit for {topic} p={}: {e}",
                    settings.name,
                    tp.partition
                );
                return None;
            }
        }
        Some(list)
    }

    /// Stops fetching from `partitions` (those not paused yet) until [`Self::resume_paused`].
    fn pause(&mut self, partitions: &[Tp]) {
        let new: Vec<Tp> = partitions
            .iter()
            .copied()
            .filter(|tp| !self.paused.contains(tp))
            .collect();
        if new.is_empty() {
            return;
        }
        match self.client.pause(&self.partition_list(&new)) {
            Ok(()) => {
                self.paused.extend(new);
                self.client.context().role.set_holding(true);
            }
            Err(e) => {
                let settings = self.intake.settings;
                log::warn!(target: &settings.log_target, "{}: cannot pause {}: {e}", settings.name, self.intake.topics.describe(&new))
            }
        }
    }

    /// Fetches again from every assigned partition, once something was paused: a partition
    /// paused, revoked and assigned again is still paused (librdkafka keeps the pause), and
    /// resuming one that is not paused only restarts its fetch where the loop stands. Whether
    /// anything was paused is the client context's `holding`, not `paused`: a revoked
    /// partition leaves `paused`, but librdkafka keeps it paused if it comes back.
    fn resume_paused(&mut self) {
        let role = &self.client.context().role;
        if !role.is_holding() {
            return;
        }
        role.set_holding(false);
        self.paused.clear();
        let settings = self.intake.settings;
        let assigned = match self.client.assignment() {
            Ok(assigned) => assigned,
            Err(e) => {
                log::warn!(target: &settings.log_target, "{}: cannot read the assignment to resume it: {e}", settings.name);
                return;
            }
        };
        if let Err(e) = self.client.resume(&assigned) {
            log::warn!(target: &settings.log_target, "{}: cannot resume: {e}", settings.name);
        }
    }

    /// `partitions`, without offsets.
    fn partition_list(&self, partitions: &[Tp]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for tp in partitions {
            list.add_partition(self.intake.topics.name(tp.topic), tp.partition);
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

/// A commit's answer is waited for in slices of this, the heartbeat beaten between them.
const COMMIT_WAIT_SLICE: Duration = Duration::from_millis(100);

/// A try begun at the end of [`COMMIT_RETRY_FOR`] still waits this long for its answer (a
/// coordinator that answers does so within milliseconds).
const LEAST_COMMIT_WAIT: Duration = Duration::from_secs(1);

/// On stop, how long a commit still in flight is waited for before the partial batch is
/// left unprocessed (the consumer's close waits for its answer in any case).
const STOP_COMMIT_WAIT: Duration = Duration::from_secs(1);

/// How a batch's commit ended.
enum Commit {
    Done,
    /// Refused because the group moved on: the partitions' new owners read the batch again.
    GroupMoved(KafkaError),
    /// Still failing at the end of [`COMMIT_RETRY_FOR`].
    Failed(KafkaError),
    /// No answer by the end of [`COMMIT_RETRY_FOR`]: still in flight.
    Unanswered,
}

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
