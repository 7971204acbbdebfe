//! The producer loop: `User { name: "user_<n>" }` records, Avro in the Confluent wire format,
//! one every `PRODUCE_INTERVAL_MS`.
//!
//! Partitions: each record's partition is chosen here, from its key, as the Java client
//! chooses it ([`super::partitioner`]).
//!
//! Delivery: `acks=all` and idempotence by default, so an acknowledged record is on every
//! in-sync replica exactly once. A full local queue is waited out (poll, then send the same
//! record again), never dropped. On stop the queue is flushed within `FLUSH_TIMEOUT_MS`, and
//! the summary line says how many records were delivered, failed or left undelivered.
//!
//! Registry: the send loop holds its records while the registry serves another schema under
//! our schema's id (`registry/own_check.rs`; what the consumers find, and a check every 5 s):
//! every reader would decode them with that schema. One line when it holds, one when it goes
//! on. It may have written for at most one check interval plus one registry request after
//! the registry changed; records already queued then are delivered.
//!
//! Threads: the send loop below, and a poll thread that serves delivery reports
//! ([`super::delivery`]) until the send loop has finished.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use uuid::Uuid;

use super::delivery::DeliveryReports;
use super::partitioner::{java_partition, PartitionCount};
use crate::audit::{OwnRun, Stamper, HEADER_AUDIT};
use crate::config::Config;
use crate::format::{write_header, OwnSchema, User};
use crate::kafka::{client_config_with, create_client, ClientEvents, ClientKind};
use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::shutdown::Shutdown;
use crate::lifecycle::{LoopError, Turn};
use crate::ops::log_target;
use crate::ops::stats::{bump, read, Stats};
use crate::registry::OwnSchemaCheck;

/// Name of this client in log lines.
const CLIENT: &str = "producer";

/// How long one `poll` of the delivery-report thread blocks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// While the local queue is full, try again this often: delivery reports free space within
/// milliseconds once the brokers answer.
const QUEUE_FULL_BACKOFF: Backoff = Backoff::fixed(Duration::from_millis(5));

/// While waiting for the next tick, beat the heartbeat this often: well within the stall
/// limit ([`crate::ops::health::STALL_AFTER`]) whatever the interval.
const TICK_WAIT_BEAT_EVERY: Duration = Duration::from_secs(1);

/// How often a full queue is reported while it stays full.
const QUEUE_FULL_REPORT_EVERY: Duration = Duration::from_secs(5);

/// While the registry contradicts our schema's id, the send loop looks again this often.
const HELD_CHECK_EVERY: Duration = Duration::from_millis(200);

type Client<'a> = BaseProducer<ClientEvents<DeliveryReports<'a>>>;

/// Creates the producer with the configured acks, idempotence, retries and linger.
fn create_producer<'a>(
    config: &Config,
    shutdown: &Shutdown,
    stats: &'a Stats,
    own_run: &'a OwnRun,
) -> Result<Client<'a>, KafkaError> {
    let mut own = vec![
        ("acks", config.acks.clone()),
        ("enable.idempotence", config.enable_idempotence.to_string()),
        ("linger.ms", config.linger_ms.to_string()),
    ];
    if let Some(retries) = config.retries {
        own.push(("message.send.max.retries", retries.to_string()));
    }
    create_client(
        &client_config_with(config, ClientKind::Producer, &own),
        ClientEvents::new(CLIENT, shutdown, DeliveryReports { stats, own_run }),
    )
}

/// Runs the producer until shutdown (or `PRODUCE_COUNT` records), then flushes. `own_run`:
/// the run its records are stamped with, and where its delivery reports record failures.
pub(crate) fn run_producer(
    config: &Config,
    registry: &OwnSchemaCheck<'_>,
    own_run: &OwnRun,
    shutdown: &Shutdown,
    stats: &Stats,
) -> Result<(), LoopError> {
    let producer = create_producer(config, shutdown, stats, own_run).map_err(|error| {
        LoopError::CreateClient {
            client: CLIENT.to_string(),
            error,
        }
    })?;
    let send_loop_done = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        let poller = std::thread::Builder::new()
            .name("producer-poll".to_string())
            .spawn_scoped(scope, || {
                while !send_loop_done.load(Ordering::Acquire) {
                    producer.poll(POLL_INTERVAL);
                }
            })
            .map_err(|e| LoopError::Spawn {
                thread: "producer-poll",
                error: e.to_string(),
            })?;
        // Set on the way out even if the send loop panics, or the poll thread would spin on.
        let done = SetOnDrop(&send_loop_done);
        let partitions = PartitionCount::learn(
            &producer,
            &config.topic,
            shutdown,
            &stats.producer_heartbeat,
        );
        let outcome = match partitions {
            Some(partitions) => {
                // Idempotence implies acks=all: the configuration refuses it with other acks.
                let stamper = Stamper::new(own_run, config.enable_idempotence);
                SendLoop::new(
                    &producer, config, registry, shutdown, stats, partitions, stamper,
                )
                .run()
            }
            // Stopped before the topic's partitions were known: nothing was sent.
            None => Ok(()),
        };
        drop(done);
        poller.join().map_err(|_| LoopError::Panicked {
            thread: "producer-poll",
        })?;
        outcome
    });
    // Before the flush, which waits on the brokers.
    shutdown.fail_on_error(&outcome);
    flush(&producer, config.flush_timeout, stats);
    log::info!(target: log_target::PRODUCER, "producer exiting");
    outcome
}

/// Sets its flag when dropped, on every way out of a scope.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The send loop's state: the client, the record counter and the buffers reused for every
/// record, so the send path allocates nothing of its own.
struct SendLoop<'p, 'a> {
    producer: &'p Client<'a>,
    config: &'p Config,
    /// The schema id in each record's prefix, and how the `User` is written.
    own: &'p OwnSchema,
    /// Whether the registry contradicts `own`: then no record is written.
    registry: &'p OwnSchemaCheck<'p>,
    shutdown: &'p Shutdown,
    stats: &'a Stats,
    /// A ticker rather than a sleep: the interval is kept even when a send takes a while,
    /// and `select!` wakes at once on shutdown. `None`: as fast as the queue allows.
    ticker: Option<Receiver<Instant>>,
    /// Number of the next record.
    next: u64,
    /// The topic's partition count, for choosing each record's partition.
    partitions: PartitionCount,
    /// The audit stamp of each record: run id and per-partition sequence numbers.
    stamper: Stamper<'a>,
    payload: Vec<u8>,
    user: User,
    key_buffer: [u8; uuid::fmt::Hyphenated::LENGTH],
}

impl<'p, 'a> SendLoop<'p, 'a> {
    fn new(
        producer: &'p Client<'a>,
        config: &'p Config,
        registry: &'p OwnSchemaCheck<'p>,
        shutdown: &'p Shutdown,
        stats: &'a Stats,
        partitions: PartitionCount,
        stamper: Stamper<'a>,
    ) -> SendLoop<'p, 'a> {
        SendLoop {
            producer,
            config,
            own: registry.own(),
            registry,
            shutdown,
            stats,
            ticker: (!config.produce_interval.is_zero())
                .then(|| crossbeam_channel::tick(config.produce_interval)),
            next: 0,
            partitions,
            stamper,
            payload: Vec::with_capacity(64),
            user: User::numbered(0),
            key_buffer: [0u8; uuid::fmt::Hyphenated::LENGTH],
        }
    }

    /// Sends until shutdown or until `PRODUCE_COUNT` records are sent; after the count, idles
    /// (alive for the watchdog) until shutdown, so the stop sequence stays the same.
    fn run(&mut self) -> Result<(), LoopError> {
        log::info!(
            target: log_target::PRODUCER,
            "producer: audit run {} (header {HEADER_AUDIT})",
            self.stamper.run()
        );
        while !self.shutdown.is_stopping() && !self.all_sent() {
            if self.hold_while_contradicted() == Turn::Stop || self.send_next()? == Turn::Stop {
                return Ok(());
            }
        }
        if self.all_sent() {
            log::info!(
                target: log_target::PRODUCER,
                "producer: sent all {} records of PRODUCE_COUNT; idle until shutdown",
                self.next
            );
            while !self.shutdown.sleep(Duration::from_secs(1)) {
                self.stats.producer_heartbeat.beat();
            }
        }
        Ok(())
    }

    /// Waits, alive for the watchdog, while the registry serves another schema under our
    /// schema's id. [`Turn::Stop`]: shutdown began meanwhile.
    fn hold_while_contradicted(&self) -> Turn {
        if !self.registry.contradicted() {
            return Turn::Continue;
        }
        let id = self.own.id;
        log::warn!(
            target: log_target::PRODUCER,
            "producer: holding records: the registry serves another schema under id {id}, this daemon's schema's id, so every reader would misread them; going on once it serves ours again"
        );
        while self.registry.contradicted() {
            self.stats.producer_heartbeat.beat();
            if self.shutdown.sleep(HELD_CHECK_EVERY) {
                return Turn::Stop;
            }
        }
        log::info!(
            target: log_target::PRODUCER,
            "producer: writing again: the registry serves this daemon's schema under id {id} again"
        );
        Turn::Continue
    }

    fn all_sent(&self) -> bool {
        self.config
            .produce_count
            .is_some_and(|count| self.next >= count)
    }

    /// Encodes, frames and enqueues the next record, then waits for the next tick.
    fn send_next(&mut self) -> Result<Turn, LoopError> {
        self.stats.producer_heartbeat.beat();
        self.user.name.clear();
        let _ = write!(self.user.name, "user_{}", self.next);
        self.payload.clear();
        write_header(self.own.id, &mut self.payload);
        self.own.layout.encode(&self.user, &mut self.payload);
        let key: &str = match &self.config.producer_key {
            Some(key) => key,
            None => Uuid::new_v4()
                .hyphenated()
                .encode_lower(&mut self.key_buffer),
        };
        let partitions = self
            .partitions
            .current(self.producer, &self.config.topic, self.next);
        let partition = java_partition(key.as_bytes(), partitions);
        let stamp = self.stamper.stamp(partition);
        let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
            key: HEADER_AUDIT,
            value: Some(&stamp.bytes[..]),
        });
        // The delivery report learns the record's sequence number from its opaque, to record
        // a failure exactly (a number beyond `usize` is not recorded: it counts as lost).
        let opaque = usize::try_from(stamp.sequence).unwrap_or(usize::MAX);
        let record = BaseRecord::with_opaque_to(&self.config.topic, opaque)
            .key(key)
            .partition(partition)
            .payload(&self.payload[..])
            .headers(headers);
        if enqueue_patiently(self.producer, record, self.shutdown, self.stats)? == Turn::Stop {
            return Ok(Turn::Stop);
        }
        self.stamper.accepted(partition);
        bump(&self.stats.produced);
        self.next += 1;
        self.wait_for_tick();
        Ok(Turn::Continue)
    }

    /// Waits for the next tick (or shutdown), beating the heartbeat meanwhile: waiting for the
    /// next tick is progress, and `PRODUCE_INTERVAL_MS` may be far longer than the stall limit.
    fn wait_for_tick(&self) {
        let Some(ticker) = &self.ticker else {
            return;
        };
        loop {
            self.stats.producer_heartbeat.beat();
            select! {
                recv(ticker) -> _ => return,
                recv(self.shutdown.wake_receiver()) -> _ => return,
                default(TICK_WAIT_BEAT_EVERY) => {},
            }
        }
    }
}

/// Enqueues one record, waiting while the local queue is full. [`Turn::Stop`]: shutdown began
/// before the record could be enqueued (it was not sent).
fn enqueue_patiently<'r>(
    producer: &Client<'_>,
    record: BaseRecord<'r, str, [u8], usize>,
    shutdown: &Shutdown,
    stats: &Stats,
) -> Result<Turn, LoopError> {
    let mut record = Some(record);
    let mut full_since: Option<Instant> = None;
    let outcome = retry_until_stopped(
        &QUEUE_FULL_BACKOFF,
        shutdown,
        Some(&stats.producer_heartbeat),
        |_| {
            let Some(next) = record.take() else {
                return ControlFlow::Break(Ok(()));
            };
            match producer.send(next) {
                Ok(()) => ControlFlow::Break(Ok(())),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = Some(returned);
                    ControlFlow::Continue(())
                }
                Err((error, returned)) => ControlFlow::Break(Err(LoopError::Send {
                    topic: returned.topic.to_string(),
                    error,
                })),
            }
        },
        // Delivery reports free queue space; the poll thread serves them, so just wait.
        |(), _, _| {
            let since = *full_since.get_or_insert_with(Instant::now);
            if since.elapsed() > QUEUE_FULL_REPORT_EVERY {
                log::warn!(
                    target: log_target::PRODUCER,
                    "producer: local queue full for {:?}, waiting for the brokers",
                    since.elapsed()
                );
                full_since = Some(Instant::now());
            }
        },
    );
    match outcome {
        Some(Ok(())) => Ok(Turn::Continue),
        Some(Err(error)) => Err(error),
        None => Ok(Turn::Stop),
    }
}

/// Delivers what is still queued, within `timeout`, and logs the run's figures.
fn flush(producer: &Client<'_>, timeout: Duration, stats: &Stats) {
    let queued = producer.in_flight_count();
    if queued > 0 {
        log::info!(
            target: log_target::PRODUCER,
            "producer: flushing {queued} queued records (at most {timeout:?})"
        );
    }
    if let Err(e) = producer.flush(timeout) {
        log::error!(
            target: log_target::PRODUCER,
            "producer: flush did not finish within {timeout:?}: {e}"
        );
    }
    log::info!(
        target: log_target::PRODUCER,
        "producer: sent {}, delivered {}, failed {}, undelivered {}",
        read(&stats.produced),
        read(&stats.delivered),
        read(&stats.delivery_failed),
        producer.in_flight_count()
    );
}
