//! What the two consumers share: client creation, the client context (errors, rebalances),
//! polling with error triage, and the handling of one decoded message. What differs — the
//! commit policy — lives in [`crate::single_consumer`] and [`crate::batch_consumer`].

use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::TopicPartitionList;

use crate::batch::Consumed;
use crate::codec::UserCodec;
use crate::config::{Config, OnDecodeError};
use crate::dead_letter::DeadLetters;
use crate::decode::MessageDecoder;
use crate::health::Heartbeat;
use crate::kafka::{client_config_with, handle_client_error, is_connection_noise, log_librdkafka};
use crate::registry::SchemaRegistryClient;
use crate::shutdown::Shutdown;
use crate::stats::{bump, ConsumerStats};

/// Longest a poll blocks, so each loop sees shutdown within this time.
pub const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// Client context of a consumer: reports errors and rebalances, and remembers revoked
/// partitions for the loop to act on after `poll` returns.
pub struct ConsumerEvents<'a> {
    name: &'static str,
    topic: String,
    shutdown: Shutdown,
    revoked: Mutex<Vec<i32>>,
    stats: &'a ConsumerStats,
}

impl ConsumerEvents<'_> {
    /// Partitions revoked since the last call.
    pub fn take_revoked(&self) -> Vec<i32> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ClientContext for ConsumerEvents<'_> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_librdkafka(self.name, level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        handle_client_error(self.name, &self.shutdown, &error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        if let Some(lag) = total_lag(&statistics, &self.topic) {
            self.stats.lag.store(lag, Ordering::Relaxed);
        }
    }
}

/// Sum of the consumer lag over the assigned partitions of `topic`, if librdkafka knows any.
fn total_lag(statistics: &Statistics, topic: &str) -> Option<i64> {
    let lags: Vec<i64> = statistics
        .topics
        .get(topic)?
        .partitions
        .values()
        // Partition -1 is librdkafka's internal "unassigned" bucket; -1 lag means unknown.
        .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
        .map(|p| p.consumer_lag)
        .collect();
    (!lags.is_empty()).then(|| lags.iter().sum())
}

impl ConsumerContext for ConsumerEvents<'_> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let partitions = partitions_of(tpl);
                let how = if consumer.assignment_lost() {
                    "lost"
                } else {
                    "revoked"
                };
                log::info!("{}: partitions {partitions:?} {how}", self.name);
                self.revoked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(partitions);
            }
            Rebalance::Assign(tpl) => {
                log::info!(
                    "{}: partitions {:?} assigned",
                    self.name,
                    partitions_of(tpl)
                );
            }
            Rebalance::Error(e) => log::warn!("{}: rebalance error: {e}", self.name),
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

/// Creates a consumer in `group_id` subscribed to the topic. With `auto_commit`, offsets are
/// committed in the background, but only those the loop stored after handling a message.
pub fn create_consumer<'a>(
    name: &'static str,
    config: &Config,
    group_id: &str,
    auto_commit: bool,
    shutdown: &Shutdown,
    stats: &'a ConsumerStats,
) -> Result<BaseConsumer<ConsumerEvents<'a>>, String> {
    let consumer: BaseConsumer<ConsumerEvents<'a>> = consumer_config(config, group_id, auto_commit)
        .create_with_context(ConsumerEvents {
            name,
            topic: config.topic.clone(),
            shutdown: shutdown.clone(),
            revoked: Mutex::new(Vec::new()),
            stats,
        })
        .map_err(|e| format!("{name}: cannot create the Kafka client: {e}"))?;
    consumer
        .subscribe(&[&config.topic])
        .map_err(|e| format!("{name}: cannot subscribe to {}: {e}", config.topic))?;
    Ok(consumer)
}

/// How long librdkafka waits before fetching again for a partition whose local queue is full
/// (`queued.min.messages`). Its default, 1 s, caps a consumer catching up on a backlog at about
/// one queue's worth per partition per second: 150k msg/s on three partitions where the same
/// consumer reads 1M+ msg/s with 50 ms. Below the threshold (any steady rate) it never applies.
const FETCH_QUEUE_BACKOFF_MS: u32 = 50;

/// The librdkafka configuration of a consumer in `group_id`; `LIBRDKAFKA_*` overrides any of it.
fn consumer_config(config: &Config, group_id: &str, auto_commit: bool) -> ClientConfig {
    let mut own = vec![
        ("group.id", group_id.to_string()),
        ("enable.auto.commit", auto_commit.to_string()),
        // Store offsets by hand, after handling, so auto-commit never commits a message
        // that was fetched but not yet handled.
        ("enable.auto.offset.store", "false".to_string()),
        ("auto.offset.reset", "earliest".to_string()),
        ("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_string()),
    ];
    if let Some(interval) = statistics_interval(config) {
        own.push(("statistics.interval.ms", interval.as_millis().to_string()));
    }
    client_config_with(config, &own)
}

/// How often librdkafka reports statistics (for the lag): as often as the stats line or the
/// metrics endpoint needs them, not at all when neither is on.
fn statistics_interval(config: &Config) -> Option<Duration> {
    let for_metrics = config.metrics_addr.as_ref().map(|_| Duration::from_secs(5));
    match (config.stats_interval, for_metrics) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Polls once. Partition EOF and passing errors give `Ok(None)` (the latter logged); a fatal
/// consumer error is returned as `Err`.
pub fn poll_message<'c>(
    name: &str,
    consumer: &'c BaseConsumer<ConsumerEvents<'_>>,
    timeout: Duration,
) -> Result<Option<BorrowedMessage<'c>>, String> {
    match consumer.poll(timeout) {
        None | Some(Err(KafkaError::PartitionEOF(_))) => Ok(None),
        Some(Ok(message)) => Ok(Some(message)),
        Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
            Err(format!("{name}: fatal consumer error: {code}"))
        }
        Some(Err(e)) if is_connection_noise(&e) => {
            log::debug!("{name}: {e}");
            Ok(None)
        }
        Some(Err(e)) => {
            log::warn!("{name}: {e}");
            Ok(None)
        }
    }
}

/// What turns a consumed message into a record to handle: decoding, and the
/// `ON_DECODE_ERROR` policy for messages that cannot be decoded. Shared by both consumers.
pub struct Intake<'a> {
    /// The daemon's configuration.
    pub config: &'a Config,
    /// Where writer schemas come from.
    pub registry: &'a SchemaRegistryClient,
    /// The `User` codec.
    pub codec: &'a UserCodec,
    /// The dead-letter producer, with `ON_DECODE_ERROR=dlq`.
    pub dead_letters: Option<&'a DeadLetters>,
    /// The daemon's shutdown.
    pub shutdown: &'a Shutdown,
}

impl<'a> Intake<'a> {
    /// A decoder with its own schema cache, for one consumer.
    pub fn decoder(&self) -> MessageDecoder<'a> {
        MessageDecoder::new(self.registry, self.codec)
    }

    /// Decodes `message` and, if it cannot be decoded, applies `ON_DECODE_ERROR`.
    /// - `Ok(Some(record))`: the record to handle; its offset may move once it is handled;
    /// - `Ok(None)`: shutdown began first; the message was not handled and its offset must
    ///   not move;
    /// - `Err`: the daemon must stop (`ON_DECODE_ERROR=fail`); the offset must not move.
    pub fn take(
        &self,
        name: &str,
        group: &str,
        decoder: &mut MessageDecoder<'_>,
        message: &BorrowedMessage<'_>,
        heartbeat: &Heartbeat,
    ) -> Result<Option<Consumed>, String> {
        let (partition, offset) = (message.partition(), message.offset());
        // The topic name (a C string to check) is only needed for messages about errors.
        let describe = || {
            format!(
                "{name}: message at {} p={partition} o={offset}",
                message.topic()
            )
        };
        let Some(outcome) =
            decoder.decode_patiently(message.payload(), self.shutdown, heartbeat, describe)
        else {
            return Ok(None);
        };
        if let Err(error) = &outcome {
            match self.config.on_decode_error {
                OnDecodeError::Skip => {}
                OnDecodeError::Fail => {
                    return Err(format!(
                        "{name}: undecodable message at {} p={partition} o={offset}: {error} (ON_DECODE_ERROR=fail)",
                        message.topic()
                    ))
                }
                OnDecodeError::DeadLetter => {
                    let Some(dead_letters) = self.dead_letters else {
                        return Err(format!("{name}: ON_DECODE_ERROR=dlq but no dead-letter producer"));
                    };
                    if !dead_letters.send(message, group, error, self.shutdown) {
                        return Ok(None);
                    }
                    log::info!("{name}: copied p={partition} o={offset} to {}", dead_letters.topic());
                }
            }
        }
        Ok(Some(Consumed {
            partition,
            offset,
            timestamp_ms: message.timestamp().to_millis(),
            outcome,
        }))
    }
}

/// Handles one consumed message: logs the record (under the caller's log `target`) or, for an
/// undecodable message, a warning naming where it is and why; counts either.
pub fn handle(target: &str, topic: &str, record: &Consumed, stats: &ConsumerStats) {
    match &record.outcome {
        Ok(user) => {
            bump(&stats.consumed);
            if let Some(produced_ms) = record.timestamp_ms {
                stats.latency.record(since_unix_ms(produced_ms));
            }
            log::info!(target: target, "received {user} (p={}, o={})", record.partition, record.offset);
        }
        Err(error) => {
            bump(&stats.decode_errors);
            log::warn!(
                target: target,
                "undecodable message at {topic} p={} o={}: {error}",
                record.partition,
                record.offset
            );
        }
    }
}

/// Time from `ms` (milliseconds since the Unix epoch) to now; zero if `ms` is in the future
/// (clocks of producer hosts may run ahead).
fn since_unix_ms(ms: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_pairs(vars).expect("valid config")
    }

    #[test]
    fn consumers_store_offsets_by_hand_and_refetch_quickly() {
        let client = consumer_config(&config(&[]), "g", true);
        assert_eq!(client.get("group.id"), Some("g"));
        assert_eq!(client.get("enable.auto.commit"), Some("true"));
        assert_eq!(client.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(client.get("fetch.queue.backoff.ms"), Some("50"));
        let batch = consumer_config(&config(&[]), "g2", false);
        assert_eq!(batch.get("enable.auto.commit"), Some("false"));
    }

    #[test]
    fn librdkafka_variables_override_the_consumer_defaults() {
        let client = consumer_config(
            &config(&[
                ("LIBRDKAFKA_FETCH_QUEUE_BACKOFF_MS", "1000"),
                ("LIBRDKAFKA_AUTO_OFFSET_RESET", "latest"),
            ]),
            "g",
            true,
        );
        assert_eq!(client.get("fetch.queue.backoff.ms"), Some("1000"));
        assert_eq!(client.get("auto.offset.reset"), Some("latest"));
    }
}
