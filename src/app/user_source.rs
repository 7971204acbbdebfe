//! The daemon's records: `User { name: "user_<n>" }`, one every `PRODUCE_INTERVAL_MS` (as fast
//! as the queue allows at 0), up to `PRODUCE_COUNT`, keyed by `PRODUCER_KEY`, by `key-<n mod
//! PRODUCER_KEYS>`, or a random UUID each (the application the daemon re-implements does the
//! same), sent through the
//! library's [`Producer`] handle.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::config::Config;
use crate::format::{User, UserCodec};
use crate::lifecycle::shutdown::Shutdown;
use crate::lifecycle::{LoopError, Turn};
use crate::ops::log_target;
use crate::ops::stats::Stats;
use crate::producer::{Producer, SendError};

/// While waiting for the next tick, beat the heartbeat this often: well within the stall
/// limit ([`crate::ops::health::STALL_AFTER`]) whatever the interval.
const TICK_WAIT_BEAT_EVERY: Duration = Duration::from_secs(1);

/// Sends until shutdown or until `PRODUCE_COUNT` records are sent; after the count, idles
/// (alive for the watchdog) until shutdown, so the stop sequence stays the same.
pub(crate) fn send_users(
    producer: &Producer<'_, '_, UserCodec>,
    config: &Config,
    shutdown: &Shutdown,
    stats: &Stats,
) -> Result<(), LoopError> {
    let mut schedule = (!config.produce_interval.is_zero())
        .then(|| Schedule::new(config.produce_interval, Instant::now()));
    let mut user = User::numbered(0);
    let mut key_buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let mut cycled_key = String::new();
    let mut next: u64 = 0;
    let all_sent = |next: u64| config.produce_count.is_some_and(|count| next >= count);
    while !shutdown.is_stopping() && !all_sent(next) {
        stats.producer_heartbeat.beat();
        user.name.clear();
        let _ = write!(user.name, "user_{next}");
        let key: &str = match (&config.producer_key, config.producer_keys) {
            (Some(key), _) => key,
            (None, Some(keys)) => {
                cycled_key.clear();
                let _ = write!(cycled_key, "key-{}", next % keys);
                &cycled_key
            }
            (None, None) => Uuid::new_v4().hyphenated().encode_lower(&mut key_buffer),
        };
        match producer.send(&user, Some(key.as_bytes())) {
            Ok(()) => next += 1,
            Err(SendError::Stopped) => return Ok(()),
            Err(SendError::Refused(error)) => return Err(error),
            Err(error) => {
                return Err(LoopError::Encode {
                    topic: config.topic.clone(),
                    error: error.to_string(),
                })
            }
        }
        if let Some(schedule) = &mut schedule {
            if schedule.wait(shutdown, stats) == Turn::Stop {
                return Ok(());
            }
        }
    }
    if all_sent(next) {
        log::info!(
            target: log_target::PRODUCER,
            "producer: sent all {next} records of PRODUCE_COUNT; idle until shutdown"
        );
        while !shutdown.sleep(Duration::from_secs(1)) {
            stats.producer_heartbeat.beat();
        }
    }
    Ok(())
}

/// When the next record is due: one `PRODUCE_INTERVAL_MS` after the one before, so that the
/// time a send takes and a late wake-up are not added to every interval (a ticker that counts
/// from when its tick was taken, as `crossbeam_channel::tick` does under `select!`, sent 908
/// records a second at 1 ms); after a stall longer than an interval the schedule starts again
/// from now instead of sending the missed records in a burst.
#[derive(Debug)]
struct Schedule {
    interval: Duration,
    due: Instant,
}

impl Schedule {
    /// The first record is due one interval after `now` (the record before it went at once).
    fn new(interval: Duration, now: Instant) -> Schedule {
        Schedule {
            interval,
            due: now + interval,
        }
    }

    /// The record now due, and the next one's time: an interval after this one, or after
    /// `now` when `now` is already past this one.
    fn take(&mut self, now: Instant) -> Instant {
        let due = self.due;
        self.due = due.max(now) + self.interval;
        due
    }

    /// Waits until the next record is due (or shutdown), beating the heartbeat meanwhile:
    /// waiting is progress, and `PRODUCE_INTERVAL_MS` may be far longer than the stall limit.
    fn wait(&mut self, shutdown: &Shutdown, stats: &Stats) -> Turn {
        let due = self.take(Instant::now());
        loop {
            stats.producer_heartbeat.beat();
            let left = due.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Turn::Continue;
            }
            if shutdown.sleep(left.min(TICK_WAIT_BEAT_EVERY)) {
                return Turn::Stop;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record is due an interval after the one before, whenever the loop got to it: a
    /// late wake-up is not added to the next interval, and the rate holds. (`take` is called
    /// right after a send, for the record after it.)
    #[test]
    fn records_are_due_an_interval_apart_however_late_the_loop_wakes() {
        let (ms, us) = (Duration::from_millis, Duration::from_micros);
        let start = Instant::now();
        let mut schedule = Schedule::new(ms(10), start);
        assert_eq!(schedule.take(start + us(100)), start + ms(10));
        // Woken 300 µs late for it, sent, asks for the next.
        assert_eq!(schedule.take(start + ms(10) + us(400)), start + ms(20));
        assert_eq!(schedule.take(start + ms(20) + us(900)), start + ms(30));
        assert_eq!(schedule.due, start + ms(40));
    }

    /// After a stall of many intervals the record due is sent at once and the schedule starts
    /// again from then: the records the stall held back are not sent in a burst.
    #[test]
    fn after_a_stall_the_schedule_starts_again_instead_of_catching_up() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut schedule = Schedule::new(ms(10), start);
        assert_eq!(schedule.take(start), start + ms(10));
        assert_eq!(schedule.take(start + ms(500)), start + ms(20));
        assert_eq!(schedule.take(start + ms(500)), start + ms(510));
        assert_eq!(schedule.due, start + ms(520));
    }
}
