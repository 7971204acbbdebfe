//! The one way the daemon waits and tries again: until the attempt succeeds, gives a final
//! answer, or the daemon stops. The wait grows by a [`Backoff`] (with jitter, so two consumers
//! that failed together do not retry in step), wakes at once on shutdown, and beats the
//! waiting loop's heartbeat, because waiting out an outage is progress, not a stall.
//!
//! Each retry site names its own [`Backoff`] next to the reason for its numbers.

use std::ops::ControlFlow;
use std::time::Duration;

use crate::lifecycle::shutdown::Shutdown;
use crate::ops::health::Heartbeat;

/// How long to wait before each retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    /// Waits are drawn from `[d/2, d]` instead of exactly `d`.
    jitter: bool,
}

impl Backoff {
    /// Starts at `first` and doubles up to `max`, with jitter.
    pub(crate) const fn exponential(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            jitter: true,
        }
    }

    /// Always `delay`, no jitter: for short local waits (a full queue) where spreading the
    /// retries out helps nobody.
    pub(crate) const fn fixed(delay: Duration) -> Backoff {
        Backoff {
            first: delay,
            max: delay,
            jitter: false,
        }
    }

    /// The longest wait after failed attempt `attempt` (1-based).
    pub(crate) fn longest(&self, attempt: u32) -> Duration {
        self.nominal(attempt)
    }

    /// The wait after failed attempt `attempt` (1-based), before jitter.
    fn nominal(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let nominal = self.nominal(attempt);
        if !self.jitter || nominal.is_zero() {
            return nominal;
        }
        // Any spread will do; a UUID v4 is already a cheap user-space random number here.
        let random = (uuid::Uuid::new_v4().as_u128() % 1024) as u32;
        nominal / 2 + nominal / 2 * random / 1023
    }
}

/// Calls `attempt` with the attempt number (from 1) until it breaks with a result, waiting by
/// `backoff` between attempts. Before each wait `before_wait` gets the attempt's error, its
/// number and the wait (to log it). Returns `None` when shutdown began first.
pub(crate) fn retry_until_stopped<R, E>(
    backoff: &Backoff,
    shutdown: &Shutdown,
    heartbeat: Option<&Heartbeat>,
    mut attempt: impl FnMut(u32) -> ControlFlow<R, E>,
    mut before_wait: impl FnMut(E, u32, Duration),
) -> Option<R> {
    let mut number = 1;
    loop {
        let error = match attempt(number) {
            ControlFlow::Break(result) => return Some(result),
            ControlFlow::Continue(error) => error,
        };
        if shutdown.is_stopping() {
            return None;
        }
        // Beat before the wait as well as after it: an attempt may itself take a while (a
        // request timing out), and attempt plus wait must not look like a stalled loop.
        if let Some(heartbeat) = heartbeat {
            heartbeat.beat();
        }
        let delay = backoff.delay(number);
        before_wait(error, number, delay);
        if shutdown.sleep(delay) {
            return None;
        }
        if let Some(heartbeat) = heartbeat {
            heartbeat.beat();
        }
        number = number.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::shutdown::StopReason;

    #[test]
    fn exponential_doubles_up_to_the_cap_and_jitters_below_it() {
        let backoff = Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5));
        let nominal: Vec<u128> = (1..=7).map(|a| backoff.nominal(a).as_millis()).collect();
        assert_eq!(nominal, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff.nominal(u32::MAX), Duration::from_secs(5));
        for attempt in 1..=7 {
            let delay = backoff.delay(attempt);
            assert!(delay <= backoff.nominal(attempt), "{delay:?}");
            assert!(delay >= backoff.nominal(attempt) / 2, "{delay:?}");
        }
    }

    #[test]
    fn fixed_never_changes() {
        let backoff = Backoff::fixed(Duration::from_millis(5));
        assert!((1..50).all(|a| backoff.delay(a) == Duration::from_millis(5)));
    }

    #[test]
    fn retries_until_the_attempt_breaks_and_beats_while_waiting() {
        let shutdown = Shutdown::new();
        let heartbeat = Heartbeat::default();
        let mut waits = Vec::new();
        let result = retry_until_stopped(
            &Backoff::fixed(Duration::from_millis(1)),
            &shutdown,
            Some(&heartbeat),
            |n| {
                if n < 4 {
                    ControlFlow::Continue(format!("try {n}"))
                } else {
                    ControlFlow::Break(n)
                }
            },
            |error, n, _| waits.push((error, n)),
        );
        assert_eq!(result, Some(4));
        assert_eq!(waits.len(), 3);
        assert_eq!(waits[2], ("try 3".to_string(), 3));
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let shutdown = Shutdown::new();
        shutdown.stop(StopReason::Requested);
        let result: Option<()> = retry_until_stopped(
            &Backoff::fixed(Duration::from_secs(3600)),
            &shutdown,
            None,
            |_| ControlFlow::Continue(()),
            |_, _, _| {},
        );
        assert_eq!(result, None);
    }
}
