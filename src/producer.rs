//! The producer loop: `User { name: "user_<n>" }` records, Avro in the Confluent wire format,
//! one every `PRODUCE_INTERVAL_MS`.
//!
//! Delivery: `acks=all` and idempotence by default, so an acknowledged record is on every
//! in-sync replica exactly once. A full local queue is waited out (poll, then send the same
//! record again), never dropped. On stop the queue is flushed within `FLUSH_TIMEOUT_MS`, and
//! the summary line says how many records were delivered, failed or left undelivered.
//!
//! Threads: the send loop below, and a poll thread that serves delivery reports
//! ([`crate::delivery`]) until the send loop has finished.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::select;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use uuid::Uuid;

use crate::codec::UserCodec;
use crate::config::Config;
use crate::delivery::DeliveryReports;
use crate::kafka::client_config_with;
use crate::shutdown::Shutdown;
use crate::stats::{bump, read, Stats};
use crate::user::User;
use crate::wire::write_header;

/// How long one `poll` of the delivery-report thread blocks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Creates the producer with the configured acks, idempotence, retries and linger.
pub fn create_producer<'a>(
    config: &Config,
    shutdown: &Shutdown,
    stats: &'a Stats,
) -> Result<BaseProducer<DeliveryReports<'a>>, KafkaError> {
    let mut own = vec![
        ("acks", config.acks.clone()),
        ("enable.idempotence", config.enable_idempotence.to_string()),
        ("linger.ms", config.linger_ms.to_string()),
    ];
    if let Some(retries) = config.retries {
        own.push(("message.send.max.retries", retries.to_string()));
    }
    client_config_with(config, &own).create_with_context(DeliveryReports::new(shutdown, stats))
}

/// Runs the producer until shutdown (or `PRODUCE_COUNT` records), then flushes.
pub fn run_producer(
    config: &Config,
    schema_id: u32,
    codec: &UserCodec,
    shutdown: &Shutdown,
    stats: &Stats,
) -> Result<(), String> {
    let producer = create_producer(config, shutdown, stats)
        .map_err(|e| format!("producer: cannot create the Kafka client: {e}"))?;
    let send_loop_done = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| {
        let poller = std::thread::Builder::new()
            .name("producer-poll".to_string())
            .spawn_scoped(scope, || {
                while !send_loop_done.load(Ordering::Acquire) {
                    producer.poll(POLL_INTERVAL);
                }
            })
            .map_err(|e| format!("producer: cannot start the poll thread: {e}"))?;
        let outcome = send_loop(&producer, config, schema_id, codec, shutdown, stats);
        send_loop_done.store(true, Ordering::Release);
        poller
            .join()
            .map_err(|_| "producer: the poll thread panicked".to_string())?;
        outcome
    });
    flush(&producer, config.flush_timeout, stats);
    log::info!("producer exiting");
    outcome
}

/// Sends numbered records until shutdown or until the configured count is reached.
fn send_loop(
    producer: &BaseProducer<DeliveryReports<'_>>,
    config: &Config,
    schema_id: u32,
    codec: &UserCodec,
    shutdown: &Shutdown,
    stats: &Stats,
) -> Result<(), String> {
    // A ticker rather than a sleep: the interval is kept even when a send takes a while, and
    // the select below wakes at once on shutdown.
    let ticker = (!config.produce_interval.is_zero())
        .then(|| crossbeam_channel::tick(config.produce_interval));
    // Buffers reused for every record: the send path allocates nothing of its own.
    let mut payload = Vec::with_capacity(64);
    let mut user = User::numbered(0);
    let mut key_buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let mut n: u64 = 0;
    while !shutdown.is_stopping() && config.produce_count.is_none_or(|count| n < count) {
        stats.producer_heartbeat.beat();
        user.name.clear();
        let _ = write!(user.name, "user_{n}");
        payload.clear();
        write_header(schema_id, &mut payload);
        codec.encode(&user, &mut payload);
        let key: &str = match &config.producer_key {
            Some(key) => key,
            None => Uuid::new_v4().hyphenated().encode_lower(&mut key_buffer),
        };
        if !send_patiently(producer, &config.topic, key, &payload, shutdown, stats)? {
            break;
        }
        bump(&stats.produced);
        n += 1;
        if let Some(ticker) = &ticker {
            select! {
                recv(ticker) -> _ => {},
                recv(shutdown.wake_receiver()) -> _ => {},
            }
        }
    }
    if config.produce_count.is_some_and(|count| n == count) {
        log::info!("producer: sent all {n} records of PRODUCE_COUNT; idle until shutdown");
        // Stay up (and alive for the watchdog) so that the stop sequence stays the same.
        while !shutdown.sleep(Duration::from_secs(1)) {
            stats.producer_heartbeat.beat();
        }
    }
    Ok(())
}

/// Enqueues one record, waiting while the local queue is full. Returns `false` if shutdown
/// began before the record could be enqueued (it was not sent).
fn send_patiently(
    producer: &BaseProducer<DeliveryReports<'_>>,
    topic: &str,
    key: &str,
    payload: &[u8],
    shutdown: &Shutdown,
    stats: &Stats,
) -> Result<bool, String> {
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    let mut queue_full_since: Option<Instant> = None;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(true),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                let since = *queue_full_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(5) {
                    log::warn!(
                        "producer: local queue full for {:?}, waiting for the brokers",
                        since.elapsed()
                    );
                    queue_full_since = Some(Instant::now());
                }
                if shutdown.is_stopping() {
                    return Ok(false);
                }
                // Delivery reports free queue space; the poll thread serves them, so just wait.
                shutdown.sleep(Duration::from_millis(5));
                stats.producer_heartbeat.beat();
                record = returned;
            }
            Err((error, _)) => return Err(format!("producer: cannot send to {topic}: {error}")),
        }
    }
}

/// Delivers what is still queued, within `timeout`, and logs the run's figures.
fn flush(producer: &BaseProducer<DeliveryReports<'_>>, timeout: Duration, stats: &Stats) {
    let queued = producer.in_flight_count();
    if queued > 0 {
        log::info!("producer: flushing {queued} queued records (at most {timeout:?})");
    }
    if let Err(e) = producer.flush(timeout) {
        log::error!("producer: flush did not finish within {timeout:?}: {e}");
    }
    log::info!(
        "producer: sent {}, delivered {}, failed {}, undelivered {}",
        read(&stats.produced),
        read(&stats.delivered),
        read(&stats.delivery_failed),
        producer.in_flight_count()
    );
}
