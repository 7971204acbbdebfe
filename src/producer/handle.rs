//! The producer handle: values of one type, Avro in the Confluent wire format, to one topic,
//! from any number of threads.
//!
//! Partitions: each record's partition is chosen here, from its key, as the Java client
//! chooses it ([`super::partitioner`]); a record without a key (a null key, Kafka's convention)
//! goes to the partitions in turn.
//!
//! Delivery: `acks=all` and idempotence by default, so an acknowledged record is on every
//! in-sync replica exactly once. A full local queue is waited out (the same record enqueued
//! again), never dropped. [`Producer::close`] delivers what is queued within
//! `FLUSH_TIMEOUT_MS` and says how many records were delivered, failed or left undelivered.
//!
//! Audit: every record carries a `kad.audit` stamp (this run's id, the partition's sequence
//! number). Stamping and enqueueing happen under one lock, so a partition's numbers reach
//! librdkafka in their order whichever thread sends.
//!
//! Registry: the handle holds its records while the registry serves another schema under its
//! schema's id (`registry/own_check.rs`; what the consumers find, and a check every 5 s):
//! every reader would decode them with that schema. One line when it holds, one when it goes
//! on.
//!
//! Threads: `producer-poll` serves delivery reports ([`super::delivery`]), `registry-check`
//! asks the registry and `partition-count` the brokers for the topic's partition count
//! ([`super::partitioner`]), all on the scope given to [`Producer::start`], until the handle
//! is closed.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};

use super::delivery::DeliveryReports;
use super::partitioner::{java_partition, PartitionCount};
use super::registration::{schema_to_write_with, Registered, RegistrationError};
use crate::audit::{Stamper, HEADER_AUDIT};
use crate::config::Config;
use crate::format::{write_header, AvroError, ValueEncoder};
use crate::kafka::{client_config_with, create_client, ClientEvents, ClientKind};
use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::shutdown::Shutdown;
use crate::lifecycle::LoopError;
use crate::ops::log_target;
use crate::ops::stats::{bump, read, Stats};
use crate::registry::{RegistryProbe, CHECK_EVERY};
use crate::shared::Shared;

/// Name of this client in log lines.
const CLIENT: &str = "producer";

/// How long one `poll` of the delivery-report thread blocks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// While the local queue is full, try again this often: delivery reports free space within
/// milliseconds once the brokers answer.
const QUEUE_FULL_BACKOFF: Backoff = Backoff::fixed(Duration::from_millis(5));

/// How often a full queue is reported while it stays full.
const QUEUE_FULL_REPORT_EVERY: Duration = Duration::from_secs(5);

/// While the registry contradicts our schema's id, a sender looks again this often.
const HELD_CHECK_EVERY: Duration = Duration::from_millis(200);

type Client<'a> = BaseProducer<ClientEvents<DeliveryReports<'a>>>;

/// Sends values of one type to one topic, Avro in the Confluent wire format, from any thread
/// (`&Producer` is `Sync`).
///
/// [`Producer::send`] blocks while librdkafka's queue is full and never drops a record; it
/// returns once the record is enqueued. [`Producer::close`] delivers what is queued within
/// `FLUSH_TIMEOUT_MS`. The delivery report of every record is logged as
/// `delivered to <topic> (p=…, o=…)`.
///
/// Its records carry the delivery audit's stamp of the [`Shared`]'s run: start one producer
/// per `Shared` (two would number their records in the same sequences).
///
/// ```no_run
/// use kafka_avro_daemon::{Config, Producer, Shared, Shutdown, User, UserCodec};
///
/// let config = Config::from_env()?;
/// let shutdown = Shutdown::new();
/// let shared = Shared::new(&config, &shutdown)?;
/// let codec = UserCodec::new()?;
/// std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error>> {
///     let producer = Producer::start(scope, &shared, &codec, "test-topic-homework-1")?;
///     producer.send(&User::numbered(0), Some(b"key-0"))?;
///     producer.close();
///     Ok(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<'scope, 's, E: ValueEncoder> {
    inner: Arc<Inner<'s, E>>,
    /// Its threads, joined by [`Producer::close`].
    threads: Mutex<Vec<ScopedJoinHandle<'scope, ()>>>,
}

/// What the handle and its threads share.
struct Inner<'s, E: ValueEncoder> {
    client: Client<'s>,
    topic: String,
    encoder: &'s E,
    /// The schema id in each record's prefix, and how values are written.
    registered: Registered<E::WriterPlan>,
    /// Whether the registry still serves our schema under its id: records wait while not.
    check: RegistryProbe<'s>,
    shutdown: &'s Shutdown,
    /// The process's figures (`Shared`'s).
    stats: &'s Stats,
    flush_timeout: Duration,
    /// The topic's partition count, learned by the first send and kept current by the
    /// `partition-count` thread.
    partitions: PartitionCount,
    /// Stamping, choosing the partition and enqueueing, under one lock.
    sending: Mutex<Sending<'s>>,
    /// Whether a sender holds records for the registry (so it is said once).
    holding: AtomicBool,
    /// Set by [`Producer::close`]: the threads stop.
    closing: AtomicBool,
}

/// The sending state, under the lock: the audit's stamper, the next partition for a record
/// without a key, and the buffer every record is framed in.
struct Sending<'s> {
    stamper: Stamper<'s>,
    next_keyless: i32,
    payload: Vec<u8>,
}

/// Why [`Producer::start`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProducerError {
    /// The schema to write with could not be had from the registry.
    Registration(RegistrationError),
    /// The Kafka client could not be created.
    CreateClient(KafkaError),
    /// A thread could not be started.
    Spawn(String),
    /// The stop handle said stop while waiting for the registry.
    Stopped,
}

impl std::fmt::Display for ProducerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProducerError::Registration(e) => e.fmt(f),
            ProducerError::CreateClient(e) => {
                write!(f, "{CLIENT}: cannot create the Kafka client: {e}")
            }
            ProducerError::Spawn(e) => write!(f, "{CLIENT}: cannot start a thread: {e}"),
            ProducerError::Stopped => write!(f, "{CLIENT}: stopped before it started"),
        }
    }
}

impl std::error::Error for ProducerError {}

/// Why a record was not sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The stop handle said stop first: the record was not enqueued.
    Stopped,
    /// The value cannot be written with the producer's schema.
    Encode(AvroError),
    /// librdkafka refused the record for a reason other than a full queue.
    Refused(LoopError),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Stopped => write!(f, "{CLIENT}: stopping, the record was not sent"),
            SendError::Encode(e) => write!(f, "{CLIENT}: cannot encode the value: {e}"),
            SendError::Refused(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SendError {}

impl<'scope, 's: 'scope, E: ValueEncoder> Producer<'scope, 's, E> {
    /// Asks the registry for the schema to write `encoder`'s values to `topic` with (as
    /// `SCHEMA_REGISTRY_AUTO_REGISTER` and `SCHEMA_REGISTRY_USE_LATEST` say), creates the
    /// client, and starts its threads on `scope`. Waits out a registry that is down until
    /// the stop handle says stop ([`ProducerError::Stopped`]).
    pub fn start(
        scope: &'scope Scope<'scope, '_>,
        shared: &'s Shared,
        encoder: &'s E,
        topic: &str,
    ) -> Result<Producer<'scope, 's, E>, ProducerError> {
        let registered = register(shared, encoder, topic)?.ok_or(ProducerError::Stopped)?;
        Producer::start_registered(scope, shared, encoder, topic, registered)
    }

    /// [`Producer::start`] with the schema already had.
    pub(crate) fn start_registered(
        scope: &'scope Scope<'scope, '_>,
        shared: &'s Shared,
        encoder: &'s E,
        topic: &str,
        registered: Registered<E::WriterPlan>,
    ) -> Result<Producer<'scope, 's, E>, ProducerError> {
        let config = &shared.config;
        let stats = &shared.stats;
        let client = create_producer(config, &shared.shutdown, stats, &shared.own_run)
            .map_err(ProducerError::CreateClient)?;
        let check = RegistryProbe::new(
            &shared.registry,
            registered.id,
            registered.canonical.clone(),
        );
        // Asked once before the first record: a registry that already serves another schema
        // under our id gets no record written.
        check.ask(Instant::now());
        let stamper = Stamper::new(&shared.own_run, config.enable_idempotence);
        log::info!(
            target: log_target::PRODUCER,
            "producer: audit run {} (header {HEADER_AUDIT})",
            stamper.run()
        );
        let inner = Arc::new(Inner {
            client,
            topic: topic.to_string(),
            encoder,
            registered,
            check,
            shutdown: &shared.shutdown,
            stats,
            flush_timeout: config.flush_timeout,
            partitions: PartitionCount::default(),
            sending: Mutex::new(Sending {
                stamper,
                next_keyless: 0,
                payload: Vec::with_capacity(64),
            }),
            holding: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        });
        let producer = Producer {
            inner,
            threads: Mutex::new(Vec::new()),
        };
        producer.spawn(scope, "producer-poll", |inner| {
            while !inner.closing.load(Ordering::Acquire) {
                inner.client.poll(POLL_INTERVAL);
            }
        })?;
        producer.spawn(scope, "registry-check", |inner| inner.watch_registry())?;
        producer.spawn(scope, "partition-count", |inner| {
            inner.partitions.keep_current(
                &inner.client,
                &inner.topic,
                &inner.closing,
                inner.shutdown,
            );
        })?;
        Ok(producer)
    }

    fn spawn(
        &self,
        scope: &'scope Scope<'scope, '_>,
        name: &str,
        body: fn(&Inner<'s, E>),
    ) -> Result<(), ProducerError> {
        let inner = Arc::clone(&self.inner);
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(scope, move || body(&inner))
            .map_err(|e| ProducerError::Spawn(format!("{name}: {e}")))?;
        self.threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
        Ok(())
    }
}

impl<'s, E: ValueEncoder> Producer<'_, 's, E> {
    /// Encodes, frames and enqueues one record: `key` as given (`None`: a null key, the
    /// partitions in turn). Blocks while the local queue is full, and while the registry
    /// serves another schema under the producer's schema's id. [`SendError::Stopped`]: the
    /// stop handle said stop, or [`Producer::close`] began, first; the record was not sent.
    pub fn send(&self, value: &E::Value, key: Option<&[u8]>) -> Result<(), SendError> {
        let inner = &*self.inner;
        if inner.closing.load(Ordering::Acquire) {
            return Err(SendError::Stopped);
        }
        inner.hold_while_contradicted()?;
        let mut sending = inner.sending.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked again under the lock: `close` takes it before its flush, so a record
        // enqueued here is flushed (or this send says it was not sent).
        if inner.closing.load(Ordering::Acquire) {
            return Err(SendError::Stopped);
        }
        let sending = &mut *sending;
        sending.payload.clear();
        write_header(inner.registered.id, &mut sending.payload);
        inner
            .encoder
            .encode(&inner.registered.plan, value, &mut sending.payload)
            .map_err(SendError::Encode)?;
        // Learned under the lock, once: every later send reads what the `partition-count`
        // thread keeps current.
        let partitions = match inner.partitions.known() {
            Some(n) => n,
            None => inner
                .partitions
                .learn(
                    &inner.client,
                    &inner.topic,
                    &inner.closing,
                    inner.shutdown,
                    &inner.stats.producer_heartbeat,
                )
                .ok_or(SendError::Stopped)?,
        };
        let partition = match key {
            Some(key) => java_partition(key, partitions),
            None => {
                let partition = sending.next_keyless.rem_euclid(partitions.max(1));
                sending.next_keyless = partition.wrapping_add(1);
                partition
            }
        };
        let stamp = sending.stamper.stamp(partition);
        let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
            key: HEADER_AUDIT,
            value: Some(&stamp.bytes[..]),
        });
        // The delivery report learns the record's sequence number from its opaque, to record
        // a failure exactly (a number beyond `usize` is not recorded: it counts as lost).
        let opaque = usize::try_from(stamp.sequence).unwrap_or(usize::MAX);
        let mut record = BaseRecord::with_opaque_to(&inner.topic, opaque)
            .partition(partition)
            .payload(&sending.payload[..])
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        inner.enqueue_patiently(record)?;
        sending.stamper.accepted(partition);
        bump(&inner.stats.produced);
        Ok(())
    }

    /// The check of the registry this producer keeps: give it to the consumers of the same
    /// process, and they believe the registry's 404s only while it serves this producer's
    /// schema.
    pub fn registry_probe(&self) -> &RegistryProbe<'s> {
        &self.inner.check
    }

    /// Stops the handle's threads, delivers what is still queued, within `FLUSH_TIMEOUT_MS`,
    /// and logs the run's figures. A send after it returns [`SendError::Stopped`].
    ///
    /// With hung brokers it can take up to 2 s more: the `partition-count` thread's request
    /// under way is waited for. A first send still learning the partition count (brokers
    /// down) holds it until that send gives up, at its next try (within 10 s).
    pub fn close(&self) {
        let inner = &*self.inner;
        if inner.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        // A send under way finishes first (one waiting on a full queue or on the registry
        // gives up now): nothing is enqueued after the flush.
        drop(inner.sending.lock().unwrap_or_else(PoisonError::into_inner));
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        let (poller, others): (Vec<_>, Vec<_>) = threads
            .into_iter()
            .partition(|thread| thread.thread().name() == Some("producer-poll"));
        for thread in poller {
            // A panic there was logged by the panic hook; the flush below still runs.
            let _ = thread.join();
        }
        inner.flush();
        // After the flush: the registry check may be inside a request to a hung registry, and
        // the partition count inside one to a hung broker (up to 2 s).
        for thread in others {
            let _ = thread.join();
        }
    }
}

impl<E: ValueEncoder> Drop for Producer<'_, '_, E> {
    /// Without [`Producer::close`], the threads stop and queued records are purged (the
    /// scope's end waits for a `partition-count` request under way, up to 2 s).
    fn drop(&mut self) {
        self.inner.closing.store(true, Ordering::Release);
    }
}

impl<E: ValueEncoder> Inner<'_, E> {
    /// Waits, alive for the watchdog, while the registry serves another schema under our
    /// schema's id.
    fn hold_while_contradicted(&self) -> Result<(), SendError> {
        if !self.check.contradicted() {
            return Ok(());
        }
        let id = self.registered.id;
        if !self.holding.swap(true, Ordering::AcqRel) {
            log::warn!(
                target: log_target::PRODUCER,
                "producer: holding records: the registry serves another schema under id {id}, this daemon's schema's id, so every reader would misread them; going on once it serves ours again"
            );
        }
        while self.check.contradicted() {
            self.stats.producer_heartbeat.beat();
            if self.shutdown.sleep(HELD_CHECK_EVERY) || self.closing.load(Ordering::Acquire) {
                return Err(SendError::Stopped);
            }
        }
        if self.holding.swap(false, Ordering::AcqRel) {
            log::info!(
                target: log_target::PRODUCER,
                "producer: writing again: the registry serves this daemon's schema under id {id} again"
            );
        }
        Ok(())
    }

    /// Asks the registry every [`CHECK_EVERY`] until the handle closes or the stop begins:
    /// the body of the `registry-check` thread.
    fn watch_registry(&self) {
        let mut next = Instant::now() + CHECK_EVERY;
        while !self.closing.load(Ordering::Acquire) {
            if Instant::now() >= next {
                self.check.ask(Instant::now());
                next = Instant::now() + CHECK_EVERY;
            }
            if self.shutdown.sleep(POLL_INTERVAL) {
                return;
            }
        }
    }

    /// Enqueues one record, waiting while the local queue is full.
    fn enqueue_patiently(
        &self,
        record: BaseRecord<'_, [u8], [u8], usize>,
    ) -> Result<(), SendError> {
        let mut record = Some(record);
        let mut full_since: Option<Instant> = None;
        let mut waited = false;
        let outcome = retry_until_stopped(
            &QUEUE_FULL_BACKOFF,
            self.shutdown,
            Some(&self.stats.producer_heartbeat),
            |_| {
                let Some(next) = record.take() else {
                    return ControlFlow::Break(Ok(()));
                };
                // A full queue is waited out, unless the handle is being closed meanwhile.
                if self.closing.load(Ordering::Acquire) {
                    return ControlFlow::Break(Err(None));
                }
                match self.client.send(next) {
                    Ok(()) => ControlFlow::Break(Ok(())),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = Some(returned);
                        if !waited {
                            waited = true;
                            bump(&self.stats.queue_full);
                        }
                        ControlFlow::Continue(())
                    }
                    Err((error, returned)) => ControlFlow::Break(Err(Some(LoopError::Send {
                        topic: returned.topic.to_string(),
                        error,
                    }))),
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
            Some(Ok(())) => Ok(()),
            Some(Err(Some(error))) => Err(SendError::Refused(error)),
            Some(Err(None)) | None => Err(SendError::Stopped),
        }
    }

    /// Delivers what is still queued, within the flush timeout, and logs the run's figures.
    fn flush(&self) {
        let (producer, timeout, stats) = (&self.client, self.flush_timeout, self.stats);
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
}

/// The schema to write with, from the registry; `Ok(None)`: stopped while waiting for it.
pub(crate) fn register<E: ValueEncoder>(
    shared: &Shared,
    encoder: &E,
    topic: &str,
) -> Result<Option<Registered<E::WriterPlan>>, ProducerError> {
    schema_to_write_with(&shared.config, &shared.registry, encoder, topic)
        .map_err(ProducerError::Registration)
}

/// Creates the producer with the configured acks, idempotence, retries and linger.
fn create_producer<'a>(
    config: &Config,
    shutdown: &Shutdown,
    stats: &'a Stats,
    own_run: &'a crate::audit::OwnRun,
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
