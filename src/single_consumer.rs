//! The single-message consumer (group `CONSUMER_GROUP_ID_1`): logs every record as it arrives.
//!
//! Commit policy: librdkafka auto-commits in the background, but only offsets this loop has
//! stored, and it stores a message's offset only after handling it. A crash therefore never
//! commits an unhandled message (at-least-once). On stop the consumer is closed, which commits
//! the stored offsets.

use rdkafka::consumer::Consumer;

use crate::consumer::{create_consumer, handle, poll_message, Intake, POLL_TIMEOUT};
use crate::stats::{bump, ConsumerStats};

const NAME: &str = "single-message consumer";

/// Runs the single-message consumer until shutdown.
pub fn run_single_consumer(intake: &Intake<'_>, stats: &ConsumerStats) -> Result<(), String> {
    let (config, shutdown) = (intake.config, intake.shutdown);
    let consumer = create_consumer(NAME, config, &config.single_group_id, true, shutdown, stats)?;
    let mut decoder = intake.decoder();
    let mut outcome = Ok(());
    while !shutdown.is_stopping() {
        stats.heartbeat.beat();
        let message = match poll_message(NAME, &consumer, POLL_TIMEOUT) {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        let record = match intake.take(
            NAME,
            &config.single_group_id,
            &mut decoder,
            &message,
            &stats.heartbeat,
        ) {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        handle(module_path!(), &config.topic, &record, stats);
        match consumer.store_offset_from_message(&message) {
            Ok(()) => bump(&stats.commits),
            // The partition was revoked meanwhile: its new owner reads the message again.
            Err(e) => log::warn!(
                "{NAME}: cannot store offset p={} o={}: {e}",
                record.partition,
                record.offset
            ),
        }
    }
    log::info!("{NAME} exiting");
    // Dropping the consumer leaves the group and commits the stored offsets.
    drop(consumer);
    outcome
}
