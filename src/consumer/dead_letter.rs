//! The dead-letter queue for `ON_DECODE_ERROR=dlq`: an undecodable message is copied, key,
//! value and headers untouched (a `__value_schema_id` header is half of a header-framed
//! record), to `<topic>.dlq` with headers added naming where it came from and why it failed.
//! The copy is acknowledged by all in-sync replicas before the source offset may move, so a
//! poison message is never lost, only moved aside.
//!
//! A copy too large to be sent whole — larger than the dead-letter producer's
//! `message.max.bytes`, or refused as too large by the brokers (the dead-letter topic's
//! `max.message.bytes`) — is cut to fit: the original's headers when they fit in half the room,
//! then a prefix of the key and of the value, with [`HEADER_ORIGINAL_KEY_SIZE`],
//! [`HEADER_ORIGINAL_VALUE_SIZE`] and [`HEADER_ORIGINAL_HEADERS_SIZE`] giving the original's
//! sizes. A size the brokers refused is remembered for later copies. A refusal that no retry
//! can change (the topic gone or not permitted, or too small for even an empty copy) is
//! returned as [`Copied::Refused`], and the daemon stops with it, rather than waiting forever
//! with every health check green.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::config::{dead_letter_topic, Config};
use crate::kafka::headers::raw_headers;
use crate::kafka::{
    client_config_with, create_client, durable_producer_settings, ClientEvents, ClientKind,
    ClientRole,
};
use crate::lifecycle::retry::{retry_until_stopped, Backoff};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::health::{Heartbeat, WaitClock};
use crate::ops::log_target;

/// Header naming the topic the message was read from.
pub const HEADER_TOPIC: &str = "dlq.source.topic";
/// Header with the source partition.
pub const HEADER_PARTITION: &str = "dlq.source.partition";
/// Header with the source offset.
pub const HEADER_OFFSET: &str = "dlq.source.offset";
/// Header naming the consumer group that gave up on the message (each group decides on its
/// own, so a poison message is copied once per group).
pub const HEADER_GROUP: &str = "dlq.consumer.group";
/// Header with why it was copied: the decode error, or the handler's error it was given up
/// on (`ON_HANDLER_ERROR=dlq`).
pub const HEADER_ERROR: &str = "dlq.error";
/// On a cut copy only: the original key's size in bytes (0 for none).
pub const HEADER_ORIGINAL_KEY_SIZE: &str = "dlq.original.key.size";
/// On a cut copy only: the original value's size in bytes (0 for none).
pub const HEADER_ORIGINAL_VALUE_SIZE: &str = "dlq.original.value.size";
/// On a cut copy only: the original headers' keys and values in bytes; the copy holds them
/// all, or none of them.
pub const HEADER_ORIGINAL_HEADERS_SIZE: &str = "dlq.original.headers.size";

/// Name of this client in log lines.
const CLIENT: &str = "dead-letter producer";

/// How long one attempt waits for the acknowledgement.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Between attempts to get a copy acknowledged.
const RETRY_BACKOFF: Backoff = Backoff::fixed(Duration::from_secs(1));

/// librdkafka's `message.max.bytes` when the configuration does not set it.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Bytes of a record besides its key, value and headers: librdkafka's own check counts at most
/// 36 (lengths, timestamp, attributes), the brokers also count the batch header (61).
const RECORD_OVERHEAD: usize = 128;

/// Bytes of one header besides its key and value (two length varints).
const HEADER_OVERHEAD: usize = 10;

/// Room for the three size headers of a cut copy.
const SIZE_HEADERS: usize = 3 * (32 + 20 + HEADER_OVERHEAD);

/// The fate of one dead-letter copy, told by its own delivery report, so each sender knows
/// about its copy alone even while the other consumer sends one too.
#[derive(Debug, Default)]
pub(crate) struct CopyFate(Mutex<Fate>);

#[derive(Debug, Clone, Default)]
enum Fate {
    #[default]
    Queued,
    Acknowledged,
    Failed(KafkaError),
}

impl CopyFate {
    fn get(&self) -> Fate {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, fate: Fate) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = fate;
    }
}

/// The dead-letter producer's role: report each copy's fate to its sender.
pub(crate) struct CopyReports;

impl ClientRole for CopyReports {}

impl ProducerContext for ClientEvents<CopyReports> {
    type DeliveryOpaque = Arc<CopyFate>;

    fn delivery(&self, result: &DeliveryResult<'_>, fate: Arc<CopyFate>) {
        // The sender logs what it makes of a failure: a passing one, a cut, or a refusal.
        fate.set(match result {
            Ok(_) => Fate::Acknowledged,
            Err((error, _)) => Fate::Failed(error.clone()),
        });
    }
}

/// How a dead-letter copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Copied {
    /// Acknowledged by every in-sync replica: the source offset may move.
    Acknowledged,
    /// Shutdown began first; the source offset must not move.
    Stopped,
    /// Refused for a reason no retry changes (the operator's line, without the origin).
    Refused(String),
}

/// How a failed send or delivery is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Too large: cut the copy further.
    TooLarge,
    /// The topic gone or not permitted, or the record refused as such: no retry helps.
    Final,
    /// Anything else (brokers down, a full queue, a leader moving): try again.
    Passing,
}

impl Refusal {
    fn of(error: &KafkaError) -> Refusal {
        use RDKafkaErrorCode as Code;
        match error.rdkafka_error_code() {
            Some(Code::MessageSizeTooLarge | Code::MessageBatchTooLarge) => Refusal::TooLarge,
            Some(
                Code::UnknownTopic
                | Code::UnknownTopicOrPartition
                | Code::TopicAuthorizationFailed
                | Code::ClusterAuthorizationFailed
                | Code::InvalidTopic
                | Code::InvalidRecord
                | Code::PolicyViolation,
            ) => Refusal::Final,
            _ => Refusal::Passing,
        }
    }
}

/// Sizes of the original message, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sizes {
    key: usize,
    value: usize,
    /// Its headers' keys and values.
    headers: usize,
    /// Its headers with their framing, as a copy would carry them.
    headers_framed: usize,
}

impl Sizes {
    /// The same original, its headers never kept: librdkafka refused a copy that, measured,
    /// fits. Only a header can be longer than measured — a key with an embedded NUL byte is
    /// read up to it (`kafka/headers.rs`) — so the copy goes without the original's headers
    /// rather than lowering the limit for every later copy.
    fn headers_unmeasurable(self) -> Sizes {
        Sizes {
            headers_framed: usize::MAX / 4,
            ..self
        }
    }
}

/// What a dead-letter copy is made of: the original message's place, key, value and headers,
/// copied out of librdkafka's buffers (a record under `ON_HANDLER_ERROR=dlq` waits for its
/// handler while the consumer polls on), and their sizes.
#[derive(Debug, Clone)]
pub(crate) struct Original {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Option<OwnedHeaders>,
    sizes: Sizes,
}

impl Original {
    /// Its topic, partition and offset.
    pub(crate) fn place(&self) -> (&str, i32, i64) {
        (&self.topic, self.partition, self.offset)
    }

    /// A copy of `message`.
    pub(crate) fn of(message: &BorrowedMessage<'_>) -> Original {
        Original {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers: message.headers().map(BorrowedHeaders::detach),
            sizes: sizes_of(message),
        }
    }
}

/// What one copy keeps of the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CopyPlan {
    /// Bytes of the key kept (a prefix).
    key: usize,
    /// Bytes of the value kept (a prefix).
    value: usize,
    /// Whether the original headers are kept (all of them).
    headers: bool,
    /// Whether anything was left out: the size headers go with the copy then.
    cut: bool,
    /// The copy's size as counted against the limit.
    size: usize,
}

impl CopyPlan {
    /// The copy of an original of `sizes`, with `added` bytes of origin headers, that fits in
    /// `limit` bytes: the whole original if it fits; else its headers if they take at most
    /// half the room, then a prefix of the key (at most half of what is left) and of the
    /// value. `None`: not even a copy without any of the original fits.
    fn fitting(sizes: Sizes, added: usize, limit: usize) -> Option<CopyPlan> {
        let whole = sizes.key + sizes.value + sizes.headers_framed + added + RECORD_OVERHEAD;
        if whole <= limit {
            return Some(CopyPlan {
                key: sizes.key,
                value: sizes.value,
                headers: true,
                cut: false,
                size: whole,
            });
        }
        let fixed = added + SIZE_HEADERS + RECORD_OVERHEAD;
        let mut room = limit.checked_sub(fixed)?;
        let headers = sizes.headers_framed <= room / 2;
        if headers {
            room -= sizes.headers_framed;
        }
        let key = sizes.key.min(room / 2);
        let value = sizes.value.min(room - key);
        let kept_headers = if headers { sizes.headers_framed } else { 0 };
        Some(CopyPlan {
            key,
            value,
            headers,
            cut: true,
            size: fixed + kept_headers + key + value,
        })
    }

    /// Whether nothing of the original is left to cut.
    fn is_bare(&self, sizes: Sizes) -> bool {
        self.key == 0 && self.value == 0 && (!self.headers || sizes.headers_framed == 0)
    }
}

/// Where a message came from and why it is copied: the origin headers' values.
struct Origin<'m> {
    topic: &'m str,
    /// The dead-letter topic of `topic`, where the copy goes.
    target: String,
    partition: String,
    offset: String,
    group: &'m str,
    reason: String,
}

impl Origin<'_> {
    /// Bytes the origin headers add to a copy.
    fn size(&self) -> usize {
        [
            (HEADER_TOPIC, self.topic.len()),
            (HEADER_PARTITION, self.partition.len()),
            (HEADER_OFFSET, self.offset.len()),
            (HEADER_GROUP, self.group.len()),
            (HEADER_ERROR, self.reason.len()),
        ]
        .iter()
        .map(|(key, value)| key.len() + value + HEADER_OVERHEAD)
        .sum()
    }
}

/// A copy enqueued and waiting for its delivery report.
struct InFlight {
    fate: Arc<CopyFate>,
    plan: CopyPlan,
}

/// A producer for the dead-letter topics (`<topic>.dlq` of each source topic); one per
/// consumer, so one waiting on a copy holds no other.
pub(crate) struct DeadLetters {
    producer: BaseProducer<ClientEvents<CopyReports>>,
    /// The largest copy to send, in bytes: the producer's `message.max.bytes`, lowered when the
    /// brokers refuse a smaller copy as too large.
    limit: AtomicUsize,
}

impl DeadLetters {
    /// Creates the producer for the `<topic>.dlq` topics (acks=all, idempotent).
    pub(crate) fn create(config: &Config, shutdown: &Shutdown) -> Result<DeadLetters, KafkaError> {
        let mut own = durable_producer_settings().to_vec();
        own.push(("linger.ms", "0".to_string()));
        // A dead-letter topic deleted while running must be a refusal, not be created again
        // with the brokers' defaults by the producer's own metadata requests.
        own.push(("allow.auto.create.topics", "false".to_string()));
        let client = client_config_with(config, ClientKind::Producer, &own);
        let limit = client
            .get("message.max.bytes")
            .and_then(|bytes| bytes.parse().ok())
            .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
        let producer = create_client(&client, ClientEvents::new(CLIENT, shutdown, CopyReports))?;
        Ok(DeadLetters {
            producer,
            limit: AtomicUsize::new(limit),
        })
    }

    /// Copies `message` to the dead-letter topic and waits until it is acknowledged, trying
    /// again until it is, shutdown begins, or the copy is refused for good. A copy still
    /// queued (the brokers slow to answer) is waited for, not sent again, so an outage leaves
    /// no duplicates in the dead-letter topic; only a copy whose delivery failed is sent anew,
    /// cut shorter if it failed as too large. `waiting` runs from the first failed or
    /// unacknowledged attempt to the end (readiness: the consumer is alive, not doing its
    /// work).
    pub(crate) fn send(
        &self,
        message: &Original,
        group: &str,
        reason: &str,
        shutdown: &Shutdown,
        heartbeat: &Heartbeat,
        waiting: &WaitClock,
    ) -> Copied {
        let origin = Origin {
            topic: &message.topic,
            target: dead_letter_topic(&message.topic),
            partition: message.partition.to_string(),
            offset: message.offset.to_string(),
            group,
            reason: reason.to_string(),
        };
        let sizes = message.sizes;
        let mut in_flight: Option<InFlight> = None;
        let copied = retry_until_stopped(
            &RETRY_BACKOFF,
            shutdown,
            Some(heartbeat),
            |_| self.attempt(message, &origin, sizes, &mut in_flight),
            |reason: String, _, _| {
                waiting.start();
                log::warn!(
                    target: log_target::DEAD_LETTER,
                    "{CLIENT}: copy of p={} o={} to {} not acknowledged yet ({reason}); waiting",
                    origin.partition,
                    origin.offset,
                    origin.target
                );
            },
        );
        waiting.end();
        match copied {
            None => Copied::Stopped,
            Some(Ok(())) => Copied::Acknowledged,
            Some(Err(reason)) => Copied::Refused(reason),
        }
    }

    /// One attempt: enqueues a copy unless one is in flight, and waits up to [`ACK_WAIT`] for
    /// its report. A copy too large is cut further at once, within the attempt (the limit
    /// halves each time, so this ends). `Continue` with what to tell while waiting.
    fn attempt(
        &self,
        message: &Original,
        origin: &Origin<'_>,
        mut sizes: Sizes,
        in_flight: &mut Option<InFlight>,
    ) -> ControlFlow<Result<(), String>, String> {
        loop {
            let flight = match in_flight.take() {
                Some(flight) => flight,
                None => {
                    let Some(plan) =
                        CopyPlan::fitting(sizes, origin.size(), self.limit.load(Ordering::SeqCst))
                    else {
                        return ControlFlow::Break(Err(self.too_small(&origin.target)));
                    };
                    match self.enqueue(message, origin, sizes, plan) {
                        Ok(fate) => InFlight { fate, plan },
                        Err(error) => match Refusal::of(&error) {
                            // Refused by the producer's own size check although it fits as
                            // measured: a header is longer than it reads.
                            Refusal::TooLarge
                                if plan.headers
                                    && sizes.headers_framed > 0
                                    && plan.size <= self.limit.load(Ordering::SeqCst) =>
                            {
                                sizes = sizes.headers_unmeasurable();
                                continue;
                            }
                            Refusal::TooLarge => {
                                self.lower_limit(plan, sizes, origin, &error)?;
                                continue;
                            }
                            Refusal::Final => {
                                return ControlFlow::Break(
                                    Err(self.refused(&origin.target, &error)),
                                )
                            }
                            Refusal::Passing => {
                                return ControlFlow::Continue(format!("cannot enqueue: {error}"))
                            }
                        },
                    }
                }
            };
            // Serves delivery reports until the queue is empty or ACK_WAIT has passed.
            let _ = self.producer.flush(ACK_WAIT);
            match flight.fate.get() {
                Fate::Acknowledged => return ControlFlow::Break(Ok(())),
                Fate::Queued => {
                    *in_flight = Some(flight);
                    return ControlFlow::Continue("no delivery report".to_string());
                }
                Fate::Failed(error) => match Refusal::of(&error) {
                    Refusal::TooLarge => self.lower_limit(flight.plan, sizes, origin, &error)?,
                    Refusal::Final => {
                        return ControlFlow::Break(Err(self.refused(&origin.target, &error)))
                    }
                    Refusal::Passing => {
                        return ControlFlow::Continue(format!("delivery failed: {error}"))
                    }
                },
            }
        }
    }

    /// After `plan` was refused as too large: later copies are cut below its size. `Break`
    /// with the refusal when nothing of the original was left to cut.
    fn lower_limit(
        &self,
        plan: CopyPlan,
        sizes: Sizes,
        origin: &Origin<'_>,
        error: &KafkaError,
    ) -> ControlFlow<Result<(), String>> {
        if plan.is_bare(sizes) {
            return ControlFlow::Break(Err(self.too_small(&origin.target)));
        }
        let lowered = plan.size / 2;
        let before = self.limit.fetch_min(lowered, Ordering::SeqCst);
        if lowered < before {
            log::warn!(
                target: log_target::DEAD_LETTER,
                "{CLIENT}: a copy of {} bytes to {} was refused as too large ({error}); copies are now cut to {lowered} bytes",
                plan.size,
                origin.target
            );
        }
        ControlFlow::Continue(())
    }

    /// The line for a copy refused for good by `error`.
    fn refused(&self, topic: &str, error: &KafkaError) -> String {
        let fix = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::UnknownTopic | RDKafkaErrorCode::UnknownTopicOrPartition) => {
                format!("{topic} does not exist (any more); create it, or restart with CREATE_TOPICS=true")
            }
            Some(
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            ) => format!("the principal may not write to {topic}; grant it Write on {topic}"),
            _ => format!("{topic} refuses the record"),
        };
        format!("{topic} refused the copy: {error}: {fix}")
    }

    /// The line for a copy that does not fit even with nothing of the original in it.
    fn too_small(&self, topic: &str) -> String {
        format!(
            "not even a copy without the original's key, value and headers fits in {} bytes; raise max.message.bytes of {} (or the dead-letter producer's message.max.bytes)",
            self.limit.load(Ordering::SeqCst),
            topic
        )
    }

    /// Enqueues one copy as `plan` says, with the origin headers (and the original's sizes on
    /// a cut copy).
    fn enqueue(
        &self,
        message: &Original,
        origin: &Origin<'_>,
        sizes: Sizes,
        plan: CopyPlan,
    ) -> Result<Arc<CopyFate>, KafkaError> {
        let original = match &message.headers {
            Some(headers) if plan.headers => headers.clone(),
            _ => OwnedHeaders::new(),
        };
        let mut headers = [
            (HEADER_TOPIC, origin.topic),
            (HEADER_PARTITION, &origin.partition),
            (HEADER_OFFSET, &origin.offset),
            (HEADER_GROUP, origin.group),
            (HEADER_ERROR, &origin.reason),
        ]
        .into_iter()
        .fold(original, |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value),
            })
        });
        if plan.cut {
            for (key, size) in [
                (HEADER_ORIGINAL_KEY_SIZE, sizes.key),
                (HEADER_ORIGINAL_VALUE_SIZE, sizes.value),
                (HEADER_ORIGINAL_HEADERS_SIZE, sizes.headers),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(&size.to_string()),
                });
            }
            log::warn!(
                target: log_target::DEAD_LETTER,
                "{CLIENT}: copy of p={} o={} to {} cut to {} bytes: key {} of {}, value {} of {}, headers {}",
                origin.partition,
                origin.offset,
                origin.target,
                plan.size,
                plan.key,
                sizes.key,
                plan.value,
                sizes.value,
                if plan.headers { "kept" } else { "dropped" }
            );
        }
        let fate = Arc::new(CopyFate::default());
        let mut record = BaseRecord::<[u8], [u8], Arc<CopyFate>>::with_opaque_to(
            &origin.target,
            Arc::clone(&fate),
        )
        .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(&key[..plan.key.min(key.len())]);
        }
        if let Some(payload) = &message.payload {
            record = record.payload(&payload[..plan.value.min(payload.len())]);
        }
        match self.producer.send(record) {
            Ok(()) => Ok(fate),
            Err((error, _)) => Err(error),
        }
    }
}

/// The sizes of `message`'s key, value and headers (read as bytes: a key need not be UTF-8).
fn sizes_of(message: &BorrowedMessage<'_>) -> Sizes {
    let (mut headers, mut headers_framed) = (0, 0);
    for header in raw_headers(message) {
        let size = header.key.len() + header.value.map_or(0, <[u8]>::len);
        headers += size;
        headers_framed += size + HEADER_OVERHEAD;
    }
    Sizes {
        key: message.key().map_or(0, <[u8]>::len),
        value: message.payload().map_or(0, <[u8]>::len),
        headers,
        headers_framed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(key: usize, value: usize, headers: usize) -> Sizes {
        Sizes {
            key,
            value,
            headers,
            headers_framed: headers + if headers > 0 { HEADER_OVERHEAD } else { 0 },
        }
    }

    #[test]
    fn a_copy_that_fits_is_whole() {
        let plan = CopyPlan::fitting(sizes(10, 1000, 50), 200, 1_000_000).expect("fits");
        assert_eq!(
            (plan.key, plan.value, plan.headers, plan.cut),
            (10, 1000, true, false)
        );
        assert_eq!(plan.size, 10 + 1000 + 60 + 200 + RECORD_OVERHEAD);
    }

    #[test]
    fn a_copy_too_large_keeps_a_prefix_within_the_limit() {
        let limit = 1_000_000;
        let plan = CopyPlan::fitting(sizes(10, 1_000_500, 50), 200, limit).expect("fits");
        assert!(plan.cut && plan.headers);
        assert_eq!(plan.key, 10);
        assert!(plan.value > 990_000 && plan.value < 1_000_000, "{plan:?}");
        assert!(plan.size <= limit, "{plan:?}");
        // A huge key is cut too, and headers that take more than half the room are dropped.
        let plan = CopyPlan::fitting(sizes(900_000, 900_000, 600_000), 200, limit).expect("fits");
        assert!(!plan.headers && plan.key <= plan.value, "{plan:?}");
        assert!(plan.size <= limit, "{plan:?}");
    }

    #[test]
    fn a_limit_below_the_origin_headers_fits_nothing() {
        assert_eq!(CopyPlan::fitting(sizes(0, 1000, 0), 200, 300), None);
        let bare = CopyPlan::fitting(sizes(0, 1000, 0), 200, 200 + SIZE_HEADERS + RECORD_OVERHEAD)
            .expect("an empty copy");
        assert!(bare.cut && bare.is_bare(sizes(0, 1000, 0)), "{bare:?}");
    }

    #[test]
    fn size_refusals_cut_final_refusals_stop_the_rest_wait() {
        let code = |code| Refusal::of(&KafkaError::MessageProduction(code));
        assert_eq!(
            code(RDKafkaErrorCode::MessageSizeTooLarge),
            Refusal::TooLarge
        );
        for final_code in [
            RDKafkaErrorCode::UnknownTopic,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::ClusterAuthorizationFailed,
        ] {
            assert_eq!(code(final_code), Refusal::Final, "{final_code:?}");
        }
        for passing in [
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::NotEnoughReplicas,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert_eq!(code(passing), Refusal::Passing, "{passing:?}");
        }
    }

    /// A header key with an embedded NUL byte reads as 1 byte (`kafka/headers.rs`) while
    /// librdkafka counts all of it: the copy planned whole is refused by the producer's own
    /// size check; the plan without the original headers passes it, and the limit stays.
    #[test]
    fn a_header_longer_than_measured_is_left_out_and_the_limit_kept() {
        let config = Config::from_pairs(&[
            ("SCHEMA_REGISTRY_URL", "http://127.0.0.1:9"),
            ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ])
        .expect("config");
        let letters = DeadLetters::create(&config, &Shutdown::new()).expect("producer");
        let limit = letters.limit.load(Ordering::SeqCst);
        let long_key = format!("x\0{}", "a".repeat(1_100_000));
        let measured = sizes(0, 10, 2);
        let origin = 300;
        let send = |plan: CopyPlan| {
            let mut record = BaseRecord::<[u8], [u8], Arc<CopyFate>>::with_opaque_to(
                "t.dlq",
                Arc::new(CopyFate::default()),
            )
            .payload(&b"0123456789"[..plan.value]);
            if plan.headers {
                record = record.headers(OwnedHeaders::new().insert(Header {
                    key: &long_key,
                    value: Some(&b"v"[..]),
                }));
            }
            letters.producer.send(record).map_err(|(e, _)| e)
        };
        let whole = CopyPlan::fitting(measured, origin, limit).expect("fits as measured");
        assert!(whole.headers && whole.size <= limit, "{whole:?}");
        let refused = send(whole).expect_err("librdkafka counts the whole key");
        assert_eq!(Refusal::of(&refused), Refusal::TooLarge);
        let without = CopyPlan::fitting(measured.headers_unmeasurable(), origin, limit)
            .expect("a copy without the original headers fits");
        assert!(!without.headers && without.value == 10, "{without:?}");
        send(without).expect("accepted by the size check");
        assert_eq!(letters.limit.load(Ordering::SeqCst), limit);
    }
}
