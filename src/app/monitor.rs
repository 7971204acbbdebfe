//! The monitor thread: tells systemd the daemon is ready, pings its watchdog only while every
//! loop makes progress (so a stalled loop gets the service restarted), logs the stats line
//! every `STATS_INTERVAL_S`, and tells systemd when the daemon stops.

use std::time::{Duration, Instant};

use super::metrics::{stats_line, Groups};
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::health::stalled_loops;
use crate::ops::log_target;
use crate::ops::notify::Notifier;
use crate::ops::stats::Stats;

/// Runs until shutdown.
pub(crate) fn run_monitor(
    notifier: &Notifier,
    stats: &Stats,
    groups: &Groups,
    stats_interval: Option<Duration>,
    shutdown: &Shutdown,
) {
    notifier.ready();
    // systemd's advice: ping at half the timeout.
    let ping_every = notifier.watchdog_timeout().map(|timeout| timeout / 2);
    let mut next_ping = Instant::now();
    let mut next_stats = stats_interval.map(|interval| Instant::now() + interval);
    let mut reported_stall = false;
    loop {
        let now = Instant::now();
        if let Some(every) = ping_every {
            if now >= next_ping {
                let stalled = stalled_loops(&stats.heartbeats());
                if stalled.is_empty() {
                    notifier.watchdog();
                    reported_stall = false;
                } else if !reported_stall {
                    log::error!(target: log_target::MONITOR,
                        "no progress in: {}; withholding the watchdog ping",
                        stalled.join(", ")
                    );
                    reported_stall = true;
                }
                next_ping = now + every;
            }
        }
        if let (Some(at), Some(interval)) = (next_stats, stats_interval) {
            if now >= at {
                log::info!(target: log_target::MONITOR, "{}", stats_line(stats, groups));
                next_stats = Some(now + interval);
            }
        }
        let wake = [Some(next_ping).filter(|_| ping_every.is_some()), next_stats]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + Duration::from_secs(3600));
        if shutdown.sleep_until(wake) {
            break;
        }
    }
    notifier.stopping();
}
