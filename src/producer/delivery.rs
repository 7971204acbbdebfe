//! Delivery reports of the producer: one `delivered to <topic> (p=…, o=…)` line per
//! acknowledged record (log target `kafka_avro_daemon::delivery`, so it can be filtered apart),
//! an error line per record that failed for good, and the counts behind the summary. Each
//! failure is also recorded, by partition and audit sequence number (the record's delivery
//! opaque), in this process's [`OwnRun`]: the audit's only evidence that a missing record was
//! the producer's reported failure.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::audit::stamp::find_stamp;
use crate::audit::OwnRun;
use crate::kafka::headers::raw_headers;
use crate::kafka::{ClientEvents, ClientRole};
use crate::ops::latency::system_since_epoch;
use crate::ops::log_target;
use crate::ops::stats::{bump, Stats};

/// One record in this many of each partition's (by its audit sequence number, counted per
/// partition from 0) has its send-to-acknowledged time taken (`ops/stages.rs`).
const SAMPLE_EVERY: usize = 64;

/// The producer's role: count and log each delivery report into `Stats`, and record each
/// failure in the run's audit evidence.
pub(crate) struct DeliveryReports<'a> {
    pub(crate) stats: &'a Stats,
    pub(crate) own_run: &'a OwnRun,
}

impl ClientRole for DeliveryReports<'_> {}

impl ProducerContext for ClientEvents<DeliveryReports<'_>> {
    /// The record's audit sequence number.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sequence: usize) {
        let stats = self.role.stats;
        match result {
            Ok(message) => {
                bump(&stats.delivered);
                if sequence.is_multiple_of(SAMPLE_EVERY) {
                    if let Some(took) = sent_to_acknowledged(message) {
                        stats.acknowledged.record(took);
                    }
                }
                log::info!(
                    target: log_target::DELIVERY,
                    "delivered to {} (p={}, o={})",
                    message.topic(),
                    message.partition(),
                    message.offset()
                );
            }
            Err((error, message)) => {
                if let Ok(sequence) = u64::try_from(sequence) {
                    self.role
                        .own_run
                        .delivery_failed(message.partition(), sequence);
                }
                if is_purged(error) {
                    // Dropping the producer purges what the flush left: the stop's summary
                    // line has counted those records as undelivered already.
                    log::debug!(
                        target: log_target::DELIVERY,
                        "not delivered before the stop: a record to {} p={}",
                        message.topic(),
                        message.partition()
                    );
                    return;
                }
                bump(&stats.delivery_failed);
                let key = message
                    .key()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                log::error!(
                    target: log_target::DELIVERY,
                    "delivery to {} failed for the record with key {key}: {error}",
                    message.topic()
                );
            }
        }
    }
}

/// Whether a record was purged from the queue rather than refused: only dropping the producer
/// at the end of a stop purges (rdkafka's `Drop`), after the summary line counted it.
fn is_purged(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
    )
}

/// From the send time in a delivered record's own audit stamp to now (its delivery report): a
/// stage of `ops/stages.rs`. Read for a sample only: the headers are parsed on first read.
fn sent_to_acknowledged(message: &BorrowedMessage<'_>) -> Option<Duration> {
    let headers = raw_headers(message).map(|header| (header.key, header.value));
    let stamp = find_stamp(headers)?.ok()?;
    Some(system_since_epoch().saturating_sub(Duration::from_micros(stamp.sent_us)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_purge_is_left_to_the_summary_line() {
        for code in [
            RDKafkaErrorCode::PurgeQueue,
            RDKafkaErrorCode::PurgeInflight,
        ] {
            assert!(is_purged(&KafkaError::MessageProduction(code)));
        }
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::MessageSizeTooLarge,
        ] {
            assert!(!is_purged(&KafkaError::MessageProduction(code)));
        }
    }
}
