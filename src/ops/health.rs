//! Liveness of the loops. Each loop beats its [`Heartbeat`] on every turn (a poll that
//! returned, a record sent, a retry or the next send tick waited for); a loop whose last beat is older than
//! [`STALL_AFTER`] is stalled. The systemd watchdog and `/healthz` both ask [`stalled_loops`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A loop that has not turned for this long is stalled. Every loop turns at least every few
/// hundred milliseconds when healthy (polls time out after 100 ms), so this is far from normal.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(20);

/// The process-wide reference point for beats (monotonic).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The time of a loop's last turn.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    /// Milliseconds since [`epoch`] at the last beat.
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        let heartbeat = Heartbeat {
            last_ms: AtomicU64::new(0),
        };
        heartbeat.beat();
        heartbeat
    }
}

impl Heartbeat {
    /// Records that the loop made a turn now.
    pub(crate) fn beat(&self) {
        self.beat_at(Instant::now());
    }

    /// Records that the loop made a turn at `now`: for loops that read the clock anyway (a
    /// clock read is about 100 ns on these virtual machines, per record it shows in profiles).
    pub(crate) fn beat_at(&self, now: Instant) {
        let ms = now.saturating_duration_since(epoch()).as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last turn.
    pub(crate) fn age(&self) -> Duration {
        self.age_at(epoch().elapsed())
    }

    /// Time from the last turn to `now` (measured from the process epoch).
    fn age_at(&self, now: Duration) -> Duration {
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Since when a loop waits for a peer it cannot do without (the registry, the group's
/// coordinator, the brokers acknowledging a dead-letter copy) or for its handler: a healthy
/// wait, distinct from a stall, that readiness reports.
#[derive(Debug, Default)]
pub(crate) struct WaitClock {
    /// Milliseconds since [`epoch`] plus one when the wait began; 0 while not waiting.
    since_ms: AtomicU64,
}

impl WaitClock {
    /// The loop starts (or goes on) waiting.
    pub(crate) fn start(&self) {
        let now = epoch().elapsed().as_millis() as u64 + 1;
        let _ = self
            .since_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The wait is over.
    pub(crate) fn end(&self) {
        self.since_ms.store(0, Ordering::Relaxed);
    }

    /// Whether a wait is under way.
    pub(crate) fn is_waiting(&self) -> bool {
        self.since_ms.load(Ordering::Relaxed) != 0
    }

    /// How long the current wait has lasted; zero when not waiting.
    pub(crate) fn waited(&self) -> Duration {
        match self.since_ms.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => epoch()
                .elapsed()
                .saturating_sub(Duration::from_millis(since - 1)),
        }
    }
}

/// Names of the loops in `beats` that have not turned within [`STALL_AFTER`].
pub(crate) fn stalled_loops<'a>(beats: &[(&'a str, &Heartbeat)]) -> Vec<&'a str> {
    stalled_at(beats, epoch().elapsed())
}

fn stalled_at<'a>(beats: &[(&'a str, &Heartbeat)], now: Duration) -> Vec<&'a str> {
    beats
        .iter()
        .filter(|(_, beat)| beat.age_at(now) > STALL_AFTER)
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat_at(ms: u64) -> Heartbeat {
        Heartbeat {
            last_ms: AtomicU64::new(ms),
        }
    }

    #[test]
    fn a_wait_clock_measures_only_while_waiting() {
        let clock = WaitClock::default();
        assert_eq!(clock.waited(), Duration::ZERO);
        clock.start();
        std::thread::sleep(Duration::from_millis(20));
        clock.start(); // going on waiting keeps the first start
        assert!(clock.waited() >= Duration::from_millis(20));
        clock.end();
        assert_eq!(clock.waited(), Duration::ZERO);
    }

    #[test]
    fn a_fresh_heartbeat_is_not_stalled() {
        let beat = Heartbeat::default();
        assert!(beat.age() < Duration::from_secs(1));
        assert!(stalled_loops(&[("producer", &beat)]).is_empty());
    }

    #[test]
    fn only_loops_silent_for_longer_than_the_limit_are_stalled() {
        let (old, recent) = (beat_at(1_000), beat_at(15_000));
        let beats = [("batch", &old), ("single", &recent)];
        assert!(stalled_at(&beats, Duration::from_millis(21_000)).is_empty());
        assert_eq!(
            stalled_at(&beats, Duration::from_millis(21_001)),
            vec!["batch"]
        );
        assert_eq!(
            stalled_at(&beats, Duration::from_secs(60)),
            vec!["batch", "single"]
        );
    }

    #[test]
    fn beat_resets_the_age() {
        let beat = beat_at(0);
        beat.beat();
        assert!(beat.age() < Duration::from_secs(1));
    }
}
