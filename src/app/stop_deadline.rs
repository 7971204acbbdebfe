//! The one limit on a stop (`STOP_TIMEOUT_MS`). Flushing, the batch consumer's last commit and
//! closing the consumers all wait on the brokers; with brokers that hang instead of refusing,
//! librdkafka waits for its own timeouts and a consumer's close can wait without end. Once
//! the stop has taken its time, the process exits with status 3 after one line saying what
//! was left, instead of being killed by systemd with nothing said. The mechanism is the
//! library's opt-in [`crate::StopDeadline`]; this adds what the daemon's line names.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::app::ConsumerKind;
use crate::lifecycle::shutdown::Shutdown;
use crate::lifecycle::stop_deadline as deadline;
use crate::ops::stats::{read, Stats};

/// Waits for the stop to begin, then for the run to finish (`loops_done` disconnects: the
/// loops have returned and the producer has been dropped); exits the process if that takes
/// longer than `timeout`, naming what the daemon left.
pub(crate) fn enforce(
    timeout: Duration,
    shutdown: &Shutdown,
    loops_done: &Receiver<()>,
    stats: &Stats,
) {
    deadline::enforce(timeout, shutdown, loops_done, &|| what_was_left(stats));
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
