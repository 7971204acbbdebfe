//! The daemon's records: `User { name: "user_<n>" }`, one every `PRODUCE_INTERVAL_MS` (as fast
//! as the queue allows at 0), up to `PRODUCE_COUNT`, keyed by `PRODUCER_KEY`, by `key-<n mod
//! PRODUCER_KEYS>`, or a random UUID each (the application the daemon re-implements does the
//! same), sent through the
//! library's [`Producer`] handle.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
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
    let ticker: Option<Receiver<Instant>> = (!config.produce_interval.is_zero())
        .then(|| crossbeam_channel::tick(config.produce_interval));
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
        if wait_for_tick(ticker.as_ref(), shutdown, stats) == Turn::Stop {
            return Ok(());
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

/// Waits for the next tick (or shutdown), beating the heartbeat meanwhile: waiting for the
/// next tick is progress, and `PRODUCE_INTERVAL_MS` may be far longer than the stall limit.
fn wait_for_tick(ticker: Option<&Receiver<Instant>>, shutdown: &Shutdown, stats: &Stats) -> Turn {
    let Some(ticker) = ticker else {
        return Turn::Continue;
    };
    loop {
        stats.producer_heartbeat.beat();
        select! {
            recv(ticker) -> _ => return Turn::Continue,
            recv(shutdown.wake_receiver()) -> _ => return Turn::Stop,
            default(TICK_WAIT_BEAT_EVERY) => {},
        }
    }
}
