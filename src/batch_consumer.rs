//! The batch consumer (group `CONSUMER_GROUP_ID_2`): collects up to `BATCH_SIZE` records,
//! waiting at most `FETCH_WAIT_MAX_MS` for a batch to fill, processes them, then commits.
//!
//! Commit policy (at-least-once): auto-commit is off; after a batch is processed, exactly its
//! offsets are committed synchronously, so nothing unprocessed is ever committed. A crash
//! between processing and commit means that batch is processed again after restart (at most
//! one batch of duplicates per partition). When partitions are revoked or lost, their buffered
//! records are dropped unprocessed and uncommitted; their new owner reads them. On stop, the
//! partial batch is processed and committed.

use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::batch::{offsets_to_commit, Batch};
use crate::config::Config;
use crate::consumer::{
    create_consumer, handle, poll_message, ConsumerEvents, Intake, POLL_TIMEOUT,
};
use crate::stats::{bump, ConsumerStats};

const NAME: &str = "batch consumer";

/// Runs the batch consumer until shutdown.
pub fn run_batch_consumer(intake: &Intake<'_>, stats: &ConsumerStats) -> Result<(), String> {
    let (config, shutdown) = (intake.config, intake.shutdown);
    let consumer = create_consumer(NAME, config, &config.batch_group_id, false, shutdown, stats)?;
    let mut decoder = intake.decoder();
    let mut batch = Batch::new(config.batch_size, config.batch_max_wait);
    let mut outcome = Ok(());
    while !shutdown.is_stopping() {
        stats.heartbeat.beat();
        let now = Instant::now();
        let timeout = batch
            .time_left(now)
            .map_or(POLL_TIMEOUT, |left| left.min(POLL_TIMEOUT));
        let polled = poll_message(NAME, &consumer, timeout);
        let revoked = consumer.context().take_revoked();
        if !revoked.is_empty() {
            let dropped = batch.forget_partitions(&revoked);
            if dropped > 0 {
                log::info!("{NAME}: dropped {dropped} unprocessed records of revoked partitions");
            }
        }
        // Read the clock again after the poll (it may have blocked); shared below.
        let now = Instant::now();
        match polled {
            Ok(Some(message)) => {
                match intake.take(
                    NAME,
                    &config.batch_group_id,
                    &mut decoder,
                    &message,
                    &stats.heartbeat,
                ) {
                    Ok(Some(record)) => batch.push(record, now),
                    Ok(None) => break,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
        if batch.is_due(now) {
            process_and_commit(&consumer, config, &mut batch, stats);
        }
    }
    if outcome.is_ok() && !batch.is_empty() {
        log::info!("{NAME}: processing the partial batch before exiting");
        process_and_commit(&consumer, config, &mut batch, stats);
    }
    log::info!("{NAME} exiting");
    drop(consumer);
    outcome
}

/// Processes every record of the batch, then commits their offsets synchronously.
fn process_and_commit(
    consumer: &BaseConsumer<ConsumerEvents<'_>>,
    config: &Config,
    batch: &mut Batch,
    stats: &ConsumerStats,
) {
    let records = batch.take();
    log::info!("received {} messages", records.len());
    for record in &records {
        handle(module_path!(), &config.topic, record, stats);
    }
    let mut offsets = TopicPartitionList::new();
    for (partition, next) in offsets_to_commit(&records) {
        if let Err(e) = offsets.add_partition_offset(&config.topic, partition, Offset::Offset(next))
        {
            log::error!("{NAME}: cannot build the commit for p={partition}: {e}");
            return;
        }
    }
    match consumer.commit(&offsets, CommitMode::Sync) {
        Ok(()) => bump(&stats.commits),
        // Not committed means read again after a restart or rebalance: duplicates, no loss.
        Err(e) => log::warn!(
            "{NAME}: commit of {} records failed, they may be processed again: {e}",
            records.len()
        ),
    }
}
