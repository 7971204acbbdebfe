//! From a consumed message to a record to handle, shared by both consumers: decoding (with
//! waits for the registry), the `ON_DECODE_ERROR` policy for messages that cannot be decoded,
//! and the per-record log line and counts.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{BorrowedMessage, Message};

use super::client::{cached_log_ends, ConsumerClient};
use super::dead_letter::{Copied, DeadLetters, Original};
use super::decoder::{DecodeError, MessageDecoder, Place};
use super::parts::AfterEach;
use super::settings::{ConsumerSettings, Topics, Tp};
use crate::audit::stamp::find_stamp;
use crate::audit::FoundStamp;
use crate::config::{dead_letter_topic, Config, OnDecodeError, OnHandlerError};
use crate::format::{SchemaRef, ValueDecoder, VALUE_SCHEMA_ID_HEADER};
use crate::handler::{Record, Wire};
use crate::kafka::headers::raw_headers;
use crate::lifecycle::shutdown::Shutdown;
use crate::lifecycle::{LoopError, Turn};
use crate::ops::log_target;
use crate::ops::stats::{bump, bump_own, ConsumerStats};
use crate::ops::writer_schemas::SchemaKey;
use crate::registry::{RegistryProbe, SchemaRegistryClient, UnknownSchemaIds};

/// What every consumed message leaves to account for, decoded or not: where it was, its
/// timestamp, why it could not be decoded (if so) and its delivery-audit stamp (read before
/// decoding: an undecodable record is still audited).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The partition it came from.
    pub(crate) tp: Tp,
    /// Its offset in that partition.
    pub(crate) offset: i64,
    /// Its timestamp (milliseconds since the Unix epoch), if it has one.
    pub(crate) timestamp_ms: Option<i64>,
    /// Why it could not be decoded: then it was skipped or dead-lettered, not handled.
    /// Boxed: rare, and a record's entry is moved a few times on its way to the handler.
    pub(crate) error: Option<Box<DecodeError>>,
    pub(crate) stamp: FoundStamp,
}

/// One consumed message: its entry, its record for the handler if it was decoded, and, under
/// `ON_HANDLER_ERROR=dlq`, a copy of the message for the dead-letter topic.
#[derive(Debug, Clone)]
pub(crate) struct Consumed<V> {
    pub(crate) entry: Entry,
    pub(crate) record: Option<Record<V>>,
    /// Boxed: only under `ON_HANDLER_ERROR=dlq`, and a record is moved a few times.
    pub(crate) original: Option<Box<Original>>,
}

/// What a consumer needs to turn messages into records; borrowed from whoever built it.
pub(crate) struct Intake<'a, D> {
    pub(crate) config: &'a Config,
    /// Who the consumer is and what it reads.
    pub(crate) settings: &'a ConsumerSettings,
    /// Its topics, by index.
    pub(crate) topics: Topics,
    /// Where writer schemas come from.
    pub(crate) registry: &'a SchemaRegistryClient,
    /// How values are read.
    pub(crate) codec: &'a D,
    /// The dead-letter producer, with `ON_DECODE_ERROR=dlq`.
    pub(crate) dead_letters: Option<&'a DeadLetters>,
    /// Ids the registry answered 404 for, shared by the consumers of the process.
    pub(crate) unknown_ids: &'a UnknownSchemaIds,
    /// Whether the registry still serves a schema known to be there (the producer's), so
    /// its 404s can be believed; shared with the producer.
    pub(crate) own_check: Option<&'a RegistryProbe<'a>>,
    pub(crate) shutdown: &'a Shutdown,
    /// Called after each record is accounted for (single consumer).
    pub(crate) after_each: Option<AfterEach<'a>>,
}

impl<'a, D: ValueDecoder> Intake<'a, D> {
    /// Whether `record` was read but not handled: undecodable, passed by
    /// `ON_DECODE_ERROR=skip` (under `dlq` it was copied; under `fail` it never gets here).
    pub(crate) fn skipped(&self, entry: &Entry) -> bool {
        entry.error.is_some() && matches!(self.config.on_decode_error, OnDecodeError::Skip)
    }

    /// A decoder with its own schema cache, for one consumer.
    pub(crate) fn decoder(&self) -> MessageDecoder<'a, D> {
        MessageDecoder::new(self.registry, self.codec, self.unknown_ids, self.own_check)
    }

    /// Decodes `message` and, if it cannot be decoded, applies `ON_DECODE_ERROR`.
    /// - `Ok(Some(record))`: the record to handle; its offset may move once it is handled;
    /// - `Ok(None)`: shutdown began first; the message was not handled and its offset must
    ///   not move;
    /// - `Err`: the consumer must stop (`ON_DECODE_ERROR=fail`); the offset must not move.
    pub(crate) fn decode_with_policy(
        &self,
        decoder: &mut MessageDecoder<'_, D>,
        client: &ConsumerClient<'_>,
        message: &BorrowedMessage<'_>,
        stats: &ConsumerStats,
    ) -> Result<Option<Consumed<D::Value>>, LoopError> {
        let name = &self.settings.name;
        let (partition, offset) = (message.partition(), message.offset());
        // One topic: every message is of it (the subscription says so), and its name is not
        // read from the message (a C string to measure and check, per record).
        let index = match self.topics.len() {
            1 => Some(0),
            _ => self.topics.index_of(message.topic()),
        };
        let Some(topic) = index else {
            return Err(LoopError::UnexpectedTopic {
                client: name.clone(),
                topic: message.topic().to_string(),
            });
        };
        let tp = Tp { topic, partition };
        let topic = self.topics.name(topic);
        let describe = || format!("{name}: message at {topic} p={partition} o={offset}");
        let (schema_id_header, stamp, wire) = read_headers(message);
        let log_ends = || cached_log_ends(client, &self.topics);
        let progress = || stats.heartbeat.beat();
        let place = Place {
            topic: tp.topic,
            partition,
            offset,
            log_ends: &log_ends,
            progress: &progress,
        };
        let Some(decoded) = decoder.decode_patiently(
            message.payload(),
            schema_id_header,
            &place,
            self.shutdown,
            stats,
            describe,
        ) else {
            return Ok(None);
        };
        let timestamp_ms = message.timestamp().to_millis();
        if let Ok((schema, _)) = &decoded {
            stats.writer_schemas.count(&match *schema {
                SchemaRef::Id(id) => SchemaKey::Id(id),
                SchemaRef::Guid(guid) => SchemaKey::Guid(guid.as_u128()),
            });
        }
        let (record, error) = match decoded {
            Ok((writer_schema, value)) => {
                let record = Record::with_wire(
                    Arc::clone(topic),
                    partition,
                    offset,
                    timestamp_ms,
                    writer_schema,
                    value,
                    wire,
                );
                (Some(record), None)
            }
            Err(error) => {
                if self.apply_decode_error_policy(message, topic, &error, stats)? == Turn::Stop {
                    return Ok(None);
                }
                (None, Some(Box::new(error)))
            }
        };
        let entry = Entry {
            tp,
            offset,
            timestamp_ms,
            error,
            stamp,
        };
        let original = (record.is_some()
            && self.config.on_handler_error == OnHandlerError::DeadLetter)
            .then(|| Box::new(Original::of(message)));
        Ok(Some(Consumed {
            entry,
            record,
            original,
        }))
    }

    /// `ON_DECODE_ERROR` for a message that cannot be decoded: skip it, copy it to the
    /// dead-letter topic (acknowledged before its offset may move; [`Turn::Stop`] when
    /// shutdown began first), or stop.
    fn apply_decode_error_policy(
        &self,
        message: &BorrowedMessage<'_>,
        topic: &str,
        error: &DecodeError,
        stats: &ConsumerStats,
    ) -> Result<Turn, LoopError> {
        let name = &self.settings.name;
        let (partition, offset) = (message.partition(), message.offset());
        match self.config.on_decode_error {
            OnDecodeError::Skip => Ok(Turn::Continue),
            OnDecodeError::Fail => Err(LoopError::Undecodable {
                client: name.clone(),
                topic: topic.to_string(),
                partition,
                offset,
                error: error.to_string(),
            }),
            OnDecodeError::DeadLetter => {
                self.copy_to_dead_letters(&Original::of(message), &error.to_string(), stats)
            }
        }
    }

    /// Copies `original` to its dead-letter topic with `reason`, and waits until the copy is
    /// acknowledged: only then may its offset move. [`Turn::Stop`]: shutdown began first.
    pub(crate) fn copy_to_dead_letters(
        &self,
        original: &Original,
        reason: &str,
        stats: &ConsumerStats,
    ) -> Result<Turn, LoopError> {
        let name = &self.settings.name;
        let Some(dead_letters) = self.dead_letters else {
            return Err(LoopError::NoDeadLetterProducer {
                client: name.clone(),
            });
        };
        let group = &self.settings.group;
        let (topic, partition, offset) = original.place();
        let (heartbeat, waiting) = (&stats.heartbeat, &stats.dead_letter_wait);
        match dead_letters.send(original, group, reason, self.shutdown, heartbeat, waiting) {
            Copied::Acknowledged => {}
            Copied::Stopped => return Ok(Turn::Stop),
            Copied::Refused(reason) => {
                return Err(LoopError::DeadLetterRefused {
                    client: name.clone(),
                    topic: topic.to_string(),
                    partition,
                    offset,
                    reason,
                })
            }
        }
        log::info!(
            target: log_target::CONSUMER,
            "{name}: copied p={partition} o={offset} to {}",
            dead_letter_topic(topic)
        );
        Ok(Turn::Continue)
    }
}

/// The message's headers, read once (each read of them walks librdkafka's list) and as bytes
/// (a key need not be UTF-8: `kafka/headers.rs`): the value of the last `__value_schema_id`
/// header that has one, as Confluent's deserializer reads it (`lastHeader`; a null one means
/// no header), and the delivery audit's stamp.
fn read_headers<'m>(message: &'m BorrowedMessage<'_>) -> (Option<&'m [u8]>, FoundStamp, Wire) {
    let key = message.key();
    // The audit's stamp and a key fit in this; more headers grow it once or twice.
    let mut wire = Wire::with_key(key, key.map_or(0, <[u8]>::len) + 96);
    let mut schema_id = None;
    let stamp = find_stamp(
        raw_headers(message)
            .map(|header| (header.key, header.value))
            .inspect(|&(key, value)| {
                if key == VALUE_SCHEMA_ID_HEADER.as_bytes() && value.is_some() {
                    schema_id = value;
                }
                wire.push_header(key, value);
            }),
    );
    (schema_id, stamp, wire)
}

/// Counts one record read and, for an undecodable message, says where it is and why; the
/// record's handler logs (or does) the rest. `now_since_epoch`: the wall-clock time it was
/// handled, for its latency.
pub(crate) fn account_for(
    settings: &ConsumerSettings,
    topics: &Topics,
    entry: &Entry,
    now_since_epoch: Duration,
    stats: &ConsumerStats,
) {
    match &entry.error {
        None => {
            bump_own(&stats.consumed);
            if let Some(sent) = sent_since_epoch(entry) {
                stats
                    .latency
                    .record_own(now_since_epoch.saturating_sub(sent));
            }
        }
        Some(error) => {
            bump(&stats.decode_errors);
            log::warn!(
                target: &settings.log_target,
                "undecodable message at {} p={} o={}: {error}",
                topics.name(entry.tp.topic),
                entry.tp.partition,
                entry.offset
            );
        }
    }
}

/// How far a stamp's send time may be from the record's timestamp and still be believed.
const STAMP_AGREES_WITHIN: Duration = Duration::from_secs(1);

/// When a record was sent, as time since the Unix epoch: the stamp's send time (microseconds:
/// a millisecond of rounding would be most of a fast record's latency) when it has a readable
/// stamp that agrees with its Kafka timestamp within [`STAMP_AGREES_WITHIN`], else that
/// timestamp (milliseconds). The check keeps a header from saying more than the timestamp
/// could: a record copied with its old stamp (a replayed dead letter) or a forged stamp counts
/// at its timestamp. A time in the future (a producer host's clock running ahead) counts as a
/// latency of zero.
fn sent_since_epoch(entry: &Entry) -> Option<Duration> {
    stamped_send(entry).or_else(|| timestamp_of(entry))
}

/// The stamp's send time, when the record has a readable stamp that agrees with its
/// timestamp (see [`sent_since_epoch`]): a time no producer can move beyond its own record's
/// timestamp, to the microsecond.
pub(crate) fn stamped_send(entry: &Entry) -> Option<Duration> {
    let Some(Ok(stamp)) = &entry.stamp else {
        return None;
    };
    let sent = Duration::from_micros(stamp.sent_us);
    (sent.abs_diff(timestamp_of(entry)?) <= STAMP_AGREES_WITHIN).then_some(sent)
}

fn timestamp_of(entry: &Entry) -> Option<Duration> {
    entry
        .timestamp_ms
        .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The latency runs from the stamp's send time, to the microsecond, when the record has a
    /// readable stamp that agrees with its timestamp; from its Kafka timestamp otherwise.
    #[test]
    fn a_record_was_sent_when_its_stamp_says_else_at_its_timestamp() {
        use crate::audit::{RunId, Stamp};
        let stamp = Stamp {
            run: RunId([1; 16]),
            ordered: true,
            sequence: 0,
            sent_us: 1_700_000_000_123_456,
            failed_in_partition: Some(0),
        };
        let entry = |stamp: FoundStamp| Entry {
            tp: crate::consumer::settings::Tp {
                topic: 0,
                partition: 0,
            },
            offset: 0,
            timestamp_ms: Some(1_700_000_000_100),
            error: None,
            stamp,
        };
        assert_eq!(
            sent_since_epoch(&entry(Some(Ok(stamp)))),
            Some(Duration::from_micros(1_700_000_000_123_456))
        );
        let unreadable = Some(Err(crate::audit::StampError::Length(3)));
        for stamp in [None, unreadable] {
            assert_eq!(
                sent_since_epoch(&entry(stamp)),
                Some(Duration::from_millis(1_700_000_000_100))
            );
        }
        // A stamp far from the timestamp (an old stamp copied, a forged one) is not believed,
        // either way; one that cannot be checked is not either.
        for sent_us in [0, 1_700_000_001_100_001, 1_699_999_999_099_999, u64::MAX] {
            let far = Stamp { sent_us, ..stamp };
            assert_eq!(
                sent_since_epoch(&entry(Some(Ok(far)))),
                Some(Duration::from_millis(1_700_000_000_100)),
                "{sent_us}"
            );
        }
        let mut unchecked = entry(Some(Ok(stamp)));
        unchecked.timestamp_ms = None;
        assert_eq!(sent_since_epoch(&unchecked), None);
    }

    /// A consumed record is moved a few times on its way to the handler (returned, pushed
    /// into a batch, split): what is rare or optional stays behind a box. Before boxing the
    /// decode error and the dead-letter copy it was 440 bytes, and moving it showed in the
    /// drain's profile.
    #[test]
    fn a_consumed_record_stays_small_to_move() {
        let size = std::mem::size_of::<Consumed<crate::format::User>>();
        assert!(size <= 256, "Consumed<User> is {size} bytes");
    }
}
