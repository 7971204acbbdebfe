//! From a consumed message to a record to handle, shared by both consumers: decoding (with
//! waits for the registry), the `ON_DECODE_ERROR` policy for messages that cannot be decoded,
//! and the per-record log line and counts.

use std::time::Duration;

use rdkafka::message::{BorrowedMessage, Message};

use super::client::{cached_log_end, ConsumerClient};
use super::dead_letter::{Copied, DeadLetters};
use super::decoder::{DecodeError, MessageDecoder, Place};
use super::kind::ConsumerKind;
use super::unknown_ids::UnknownSchemaIds;
use crate::app::error::LoopError;
use crate::app::shutdown::Shutdown;
use crate::audit::stamp::find_stamp;
use crate::audit::{FoundStamp, OwnRun};
use crate::config::{Config, OnDecodeError};
use crate::format::{User, UserCodec, VALUE_SCHEMA_ID_HEADER};
use crate::kafka::headers::raw_headers;
use crate::ops::log_target;
use crate::ops::stats::{bump, ConsumerStats};
use crate::registry::{OwnSchemaCheck, SchemaRegistryClient};

/// One consumed message, decoded or not, ready to be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Consumed {
    /// Partition it came from.
    pub(crate) partition: i32,
    /// Its offset in that partition.
    pub(crate) offset: i64,
    /// Its timestamp (milliseconds since the Unix epoch), if it has one.
    pub(crate) timestamp_ms: Option<i64>,
    /// The record, or why it could not be decoded (it is still handled: as a skip).
    pub(crate) outcome: Result<User, DecodeError>,
    /// Its delivery-audit stamp, read before decoding: an undecodable record is still audited.
    pub(crate) stamp: FoundStamp,
}

/// What both consumers need to turn messages into records; borrowed from start-up.
pub(crate) struct Intake<'a> {
    pub(crate) config: &'a Config,
    /// Where writer schemas come from.
    pub(crate) registry: &'a SchemaRegistryClient,
    pub(crate) codec: &'a UserCodec,
    /// The dead-letter producer, with `ON_DECODE_ERROR=dlq`.
    pub(crate) dead_letters: Option<&'a DeadLetters>,
    /// Ids the registry answered 404 for, shared by both consumers.
    pub(crate) unknown_ids: &'a UnknownSchemaIds,
    /// Whether the registry still serves the schema the daemon writes with, shared with the
    /// producer.
    pub(crate) own_check: &'a OwnSchemaCheck<'a>,
    /// This process's producer run, whose failed deliveries the audits may put losses down to.
    pub(crate) own_run: &'a OwnRun,
    pub(crate) shutdown: &'a Shutdown,
}

impl<'a> Intake<'a> {
    /// Whether `record` was read but not handled: undecodable, passed by
    /// `ON_DECODE_ERROR=skip` (under `dlq` it was copied; under `fail` it never gets here).
    pub(crate) fn skipped(&self, record: &Consumed) -> bool {
        record.outcome.is_err() && matches!(self.config.on_decode_error, OnDecodeError::Skip)
    }

    /// A decoder with its own schema cache, for one consumer.
    pub(crate) fn decoder(&self) -> MessageDecoder<'a> {
        MessageDecoder::new(self.registry, self.codec, self.unknown_ids, self.own_check)
    }

    /// Decodes `message` and, if it cannot be decoded, applies `ON_DECODE_ERROR`.
    /// - `Ok(Some(record))`: the record to handle; its offset may move once it is handled;
    /// - `Ok(None)`: shutdown began first; the message was not handled and its offset must
    ///   not move;
    /// - `Err`: the daemon must stop (`ON_DECODE_ERROR=fail`); the offset must not move.
    pub(crate) fn decode_with_policy(
        &self,
        kind: ConsumerKind,
        decoder: &mut MessageDecoder<'_>,
        client: &ConsumerClient<'_>,
        message: &BorrowedMessage<'_>,
        stats: &ConsumerStats,
    ) -> Result<Option<Consumed>, LoopError> {
        let name = kind.name();
        let (partition, offset) = (message.partition(), message.offset());
        // The topic name (a C string to check) is only needed for messages about errors.
        let describe = || {
            format!(
                "{name}: message at {} p={partition} o={offset}",
                message.topic()
            )
        };
        let (schema_id_header, stamp) = read_headers(message);
        let log_end = || cached_log_end(client, message.topic(), partition);
        let progress = || stats.heartbeat.beat();
        let place = Place {
            partition,
            offset,
            log_end: &log_end,
            progress: &progress,
        };
        let Some(outcome) = decoder.decode_patiently(
            message.payload(),
            schema_id_header,
            &place,
            self.shutdown,
            stats,
            describe,
        ) else {
            return Ok(None);
        };
        if let Err(error) = &outcome {
            match self.config.on_decode_error {
                // The registry's shortcoming, not the record's: skipping would lose it.
                OnDecodeError::Skip | OnDecodeError::Fail
                    if matches!(error, DecodeError::NoGuidSupport { .. }) =>
                {
                    return Err(LoopError::RegistryLacksGuids {
                        client: name,
                        topic: message.topic().to_string(),
                        partition,
                        offset,
                        error: Box::new(error.clone()),
                    })
                }
                OnDecodeError::Skip => {}
                OnDecodeError::Fail => {
                    return Err(LoopError::Undecodable {
                        client: name,
                        topic: message.topic().to_string(),
                        partition,
                        offset,
                        error: Box::new(error.clone()),
                    })
                }
                OnDecodeError::DeadLetter => {
                    let Some(dead_letters) = self.dead_letters else {
                        return Err(LoopError::NoDeadLetterProducer { client: name });
                    };
                    let group = kind.group_id(self.config);
                    match dead_letters.send(message, group, error, self.shutdown, &stats.heartbeat)
                    {
                        Copied::Acknowledged => {}
                        Copied::Stopped => return Ok(None),
                        Copied::Refused(reason) => {
                            return Err(LoopError::DeadLetterRefused {
                                client: name,
                                topic: message.topic().to_string(),
                                partition,
                                offset,
                                reason,
                            })
                        }
                    }
                    log::info!(
                        target: log_target::CONSUMER,
                        "{name}: copied p={partition} o={offset} to {}",
                        dead_letters.topic()
                    );
                }
            }
        }
        Ok(Some(Consumed {
            partition,
            offset,
            timestamp_ms: message.timestamp().to_millis(),
            outcome,
            stamp,
        }))
    }
}

/// The message's headers, read once (each read of them walks librdkafka's list) and as bytes
/// (a key need not be UTF-8: `kafka/headers.rs`): the value of the last `__value_schema_id`
/// header that has one, as Confluent's deserializer reads it (`lastHeader`; a null one means
/// no header), and the delivery audit's stamp.
fn read_headers<'m>(message: &'m BorrowedMessage<'_>) -> (Option<&'m [u8]>, FoundStamp) {
    let mut schema_id = None;
    let stamp = find_stamp(
        raw_headers(message)
            .map(|header| (header.key, header.value))
            .inspect(|&(key, value)| {
                if key == VALUE_SCHEMA_ID_HEADER.as_bytes() && value.is_some() {
                    schema_id = value;
                }
            }),
    );
    (schema_id, stamp)
}

/// Logs one handled record under the consumer's own target — `received {'name': …} (p=…, o=…)`
/// — or, for an undecodable message, a warning naming where it is and why; counts either.
/// `now_since_epoch`: the wall-clock time it was handled, for its latency.
pub(crate) fn log_record(
    kind: ConsumerKind,
    topic: &str,
    record: &Consumed,
    now_since_epoch: Duration,
    stats: &ConsumerStats,
) {
    let target = kind.log_target();
    match &record.outcome {
        Ok(user) => {
            bump(&stats.consumed);
            if let Some(produced_ms) = record.timestamp_ms {
                stats
                    .latency
                    .record(since_unix_ms(produced_ms, now_since_epoch));
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

/// Time from `ms` (milliseconds since the Unix epoch) to `now`; zero if `ms` is in the future
/// (clocks of producer hosts may run ahead).
fn since_unix_ms(ms: i64, now: Duration) -> Duration {
    now.saturating_sub(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}
