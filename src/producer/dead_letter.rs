//! The dead-letter queue for `ON_DECODE_ERROR=dlq`: an undecodable message is copied, key,
//! value and headers untouched (a `__value_schema_id` header is half of a header-framed
//! record), to `<topic>.dlq` with headers added naming where it came from and why it failed.
//! The copy is acknowledged by all in-sync replicas before the source offset may move, so a
//! poison message is never lost, only moved aside.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use crate::app::retry::{retry_until_stopped, Backoff};
use crate::app::shutdown::Shutdown;
use crate::config::Config;
use crate::consumer::DecodeError;
use crate::kafka::{
    client_config_with, create_client, durable_producer_settings, ClientEvents, ClientKind,
    ClientRole,
};
use crate::ops::health::Heartbeat;
use crate::ops::log_target;

/// The dead-letter topic of `topic`: `<topic>.dlq`.
pub(crate) fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// Header naming the topic the message was read from.
pub const HEADER_TOPIC: &str = "dlq.source.topic";
/// Header with the source partition.
pub const HEADER_PARTITION: &str = "dlq.source.partition";
/// Header with the source offset.
pub const HEADER_OFFSET: &str = "dlq.source.offset";
/// Header naming the consumer group that gave up on the message (each group decides on its
/// own, so a poison message is copied once per group).
pub const HEADER_GROUP: &str = "dlq.consumer.group";
/// Header with the decode error.
pub const HEADER_ERROR: &str = "dlq.error";

/// Name of this client in log lines.
const CLIENT: &str = "dead-letter producer";

/// How long one attempt waits for the acknowledgement.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Between attempts to get a copy acknowledged.
const RETRY_BACKOFF: Backoff = Backoff::fixed(Duration::from_secs(1));

/// The fate of one dead-letter copy, told by its own delivery report, so each sender knows
/// about its copy alone even while the other consumer sends one too.
#[derive(Debug)]
pub(crate) struct CopyFate(AtomicU8);

impl Default for CopyFate {
    fn default() -> Self {
        CopyFate(AtomicU8::new(Self::QUEUED))
    }
}

impl CopyFate {
    const QUEUED: u8 = 0;
    const ACKNOWLEDGED: u8 = 1;
    const FAILED: u8 = 2;

    fn get(&self) -> u8 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The dead-letter producer's role: report each copy's fate to its sender.
pub(crate) struct CopyReports;

impl ClientRole for CopyReports {}

impl ProducerContext for ClientEvents<CopyReports> {
    type DeliveryOpaque = Arc<CopyFate>;

    fn delivery(&self, result: &DeliveryResult<'_>, fate: Arc<CopyFate>) {
        match result {
            Ok(_) => fate.0.store(CopyFate::ACKNOWLEDGED, Ordering::SeqCst),
            Err((error, _)) => {
                fate.0.store(CopyFate::FAILED, Ordering::SeqCst);
                log::error!(target: log_target::DEAD_LETTER, "{CLIENT}: delivery failed: {error}");
            }
        }
    }
}

/// A producer for the dead-letter topic, shared by both consumers.
pub(crate) struct DeadLetters {
    producer: BaseProducer<ClientEvents<CopyReports>>,
    topic: String,
}

impl DeadLetters {
    /// Creates the producer for `<topic>.dlq` (acks=all, idempotent).
    pub(crate) fn create(config: &Config, shutdown: &Shutdown) -> Result<DeadLetters, KafkaError> {
        let mut own = durable_producer_settings().to_vec();
        own.push(("linger.ms", "0".to_string()));
        let producer = create_client(
            &client_config_with(config, ClientKind::Producer, &own),
            ClientEvents::new(CLIENT, shutdown, CopyReports),
        )?;
        Ok(DeadLetters {
            producer,
            topic: dead_letter_topic(&config.topic),
        })
    }

    /// The dead-letter topic.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Copies `message` to the dead-letter topic and waits until it is acknowledged, trying
    /// again until it is or shutdown begins. A copy still queued (the brokers slow to answer)
    /// is waited for, not sent again, so an outage leaves no duplicates in the dead-letter
    /// topic; only a copy whose delivery failed is sent anew. Returns whether the copy was
    /// acknowledged.
    pub(crate) fn send(
        &self,
        message: &BorrowedMessage<'_>,
        group: &str,
        error: &DecodeError,
        shutdown: &Shutdown,
        heartbeat: &Heartbeat,
    ) -> bool {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let reason = error.to_string();
        let mut copy: Option<Arc<CopyFate>> = None;
        let acknowledged = retry_until_stopped(
            &RETRY_BACKOFF,
            shutdown,
            Some(heartbeat),
            |_| {
                if copy
                    .as_ref()
                    .is_none_or(|fate| fate.get() == CopyFate::FAILED)
                {
                    copy = self.enqueue(message, group, &partition, &offset, &reason);
                }
                let Some(fate) = &copy else {
                    return ControlFlow::Continue(());
                };
                // Serves delivery reports until the queue is empty or ACK_WAIT has passed.
                let _ = self.producer.flush(ACK_WAIT);
                match fate.get() {
                    CopyFate::ACKNOWLEDGED => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                }
            },
            |(), _, _| {
                log::warn!(
                    target: log_target::DEAD_LETTER,
                    "{CLIENT}: copy of p={partition} o={offset} to {} not acknowledged yet; waiting",
                    self.topic
                );
            },
        );
        acknowledged.is_some()
    }

    /// Enqueues one copy with the message's own headers and the origin headers; `None` if the queue refused it.
    fn enqueue(
        &self,
        message: &BorrowedMessage<'_>,
        group: &str,
        partition: &str,
        offset: &str,
        reason: &str,
    ) -> Option<Arc<CopyFate>> {
        let headers = message
            .headers()
            .map_or_else(OwnedHeaders::new, BorrowedHeaders::detach)
            .insert(Header {
                key: HEADER_TOPIC,
                value: Some(message.topic()),
            })
            .insert(Header {
                key: HEADER_PARTITION,
                value: Some(partition),
            })
            .insert(Header {
                key: HEADER_OFFSET,
                value: Some(offset),
            })
            .insert(Header {
                key: HEADER_GROUP,
                value: Some(group),
            })
            .insert(Header {
                key: HEADER_ERROR,
                value: Some(reason),
            });
        let fate = Arc::new(CopyFate::default());
        let mut record =
            BaseRecord::<[u8], [u8], Arc<CopyFate>>::with_opaque_to(&self.topic, Arc::clone(&fate))
                .headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        match self.producer.send(record) {
            Ok(()) => Some(fate),
            Err((e, _)) => {
                log::warn!(
                    target: log_target::DEAD_LETTER,
                    "{CLIENT}: cannot enqueue for {}: {e}",
                    self.topic
                );
                None
            }
        }
    }
}
