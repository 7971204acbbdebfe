//! The one limit on a stop (`STOP_TIMEOUT_MS`). Flushing, the batch consumer's last commit and
//! closing the consumers all wait on the brokers; with brokers that hang instead of refusing,
//! librdkafka waits for its own timeouts and a consumer's close can wait without end. Once
//! the stop has taken its time, the process exits with [`EXIT_STOP_DEADLINE`] after one line
//! saying what was left, instead of being killed by systemd with nothing said.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, RecvTimeoutError};

use super::error::EXIT_STOP_DEADLINE;
use crate::app::ConsumerKind;
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::log_target;
use crate::ops::stats::{read, Stats};

/// Waits for the stop to begin, then for the loops to finish (`loops_done` disconnects);
/// exits the process if they take longer than `timeout`. Returns when the loops finished.
pub(crate) fn enforce(
    timeout: Duration,
    shutdown: &Shutdown,
    loops_done: &Receiver<()>,
    stats: &Stats,
) {
    select! {
        recv(shutdown.wake_receiver()) -> _ => {},
        // The loops ended without a stop (they only do on a failure to start a thread).
        recv(loops_done) -> _ => return,
    }
    if let Err(RecvTimeoutError::Timeout) = loops_done.recv_timeout(timeout) {
        log::error!(
            target: log_target::SHUTDOWN,
            "stop deadline of {timeout:?} (STOP_TIMEOUT_MS) passed; exiting with status {EXIT_STOP_DEADLINE}, left: {}",
            what_was_left(stats)
        );
        std::process::exit(i32::from(EXIT_STOP_DEADLINE));
    }
}

/// What a stop cut short leaves behind, for the operator: records the brokers never
/// acknowledged, and offsets not committed (those records are read again after a restart).
fn what_was_left(stats: &Stats) -> String {
    let (produced, delivered) = (read(&stats.produced), read(&stats.delivered));
    let batch = stats.consumer(ConsumerKind::Batch);
    format!(
        "producer: {} of {produced} records sent were not acknowledged ({} reported failed or purged); \
         batch consumer: {} records not committed; \
         single-message consumer: offsets stored since its last auto-commit may not be committed",
        produced.saturating_sub(delivered),
        read(&stats.delivery_failed),
        batch.uncommitted.load(Ordering::Relaxed),
    )
}
