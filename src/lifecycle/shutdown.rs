//! The one shared answer to "are we stopping?".
//!
//! A [`Shutdown`] is an `AtomicBool` for cheap checks in poll loops, plus a channel whose only
//! sender is dropped on shutdown: a thread that sleeps (send interval, retry backoff) waits on
//! that channel and wakes at once instead of finishing its sleep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::lifecycle::LoopError;
use crate::ops::log_target;

/// Why the daemon stops, recorded by whoever stops it first.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// SIGINT or SIGTERM, or a clean end of work: exit 0.
    Requested,
    /// A loop hit an error it cannot recover from: exit non-zero with it.
    Failed(LoopError),
}

/// A cloneable handle shared by every loop; all clones see the same state.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    stopping: AtomicBool,
    /// Dropped (set to `None`) on shutdown so that every receiver wakes with `Disconnected`.
    wake_sender: Mutex<Option<Sender<()>>>,
    wake: Receiver<()>,
    reason: Mutex<Option<StopReason>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A handle in the running state.
    pub fn new() -> Shutdown {
        let (sender, receiver) = crossbeam_channel::bounded(0);
        Shutdown {
            inner: Arc::new(Inner {
                stopping: AtomicBool::new(false),
                wake_sender: Mutex::new(Some(sender)),
                wake: receiver,
                reason: Mutex::new(None),
            }),
        }
    }

    /// Installs the SIGINT / SIGTERM handler that requests a clean stop.
    pub fn install_signal_handler(&self) -> Result<(), ctrlc::Error> {
        let shutdown = self.clone();
        ctrlc::set_handler(move || {
            if !shutdown.is_stopping() {
                log_before_the_stop();
            }
            shutdown.stop(StopReason::Requested);
        })
    }

    /// Starts the shutdown. The first reason is kept, except that a failure replaces a
    /// requested stop: a loop that fails (or panics) while stopping still makes the exit
    /// status non-zero. Returns whether `reason` was recorded.
    pub fn stop(&self, reason: StopReason) -> bool {
        let recorded = {
            let mut current = self
                .inner
                .reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let replace = match (&*current, &reason) {
                (None, _) => true,
                (Some(StopReason::Requested), StopReason::Failed(_)) => true,
                (Some(_), _) => false,
            };
            if replace {
                *current = Some(reason);
            }
            replace
        };
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner
            .wake_sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        recorded
    }

    /// Stops the daemon because of an unrecoverable error; logs it once, here, so the error
    /// that the daemon's `run` returns is marked as already reported. Only the first failure is
    /// logged: later ones usually follow from it.
    pub fn fail(&self, error: LoopError) {
        self.fail_with(error, true);
    }

    /// Starts the stop at once when a loop's `outcome` is a failure: called by the loop itself
    /// before it flushes or closes its client, which waits on the brokers (without end when
    /// they hang), so the other loops stop and the stop deadline runs meanwhile. The thread
    /// that runs the loop reports the same error again when the loop returns; only the first
    /// report counts.
    pub(crate) fn fail_on_error(&self, outcome: &Result<(), LoopError>) {
        if let Err(error) = outcome {
            self.fail(error.clone());
        }
    }

    /// Like [`Shutdown::fail`] for an error whose line was already logged (a panic, by the
    /// panic hook the binary installs).
    pub fn fail_logged(&self, error: LoopError) {
        self.fail_with(error, false);
    }

    fn fail_with(&self, error: LoopError, log_it: bool) {
        let was_stopping = self.is_stopping();
        let line = error.to_string();
        if self.stop(StopReason::Failed(error)) {
            if log_it {
                log::error!(target: log_target::SHUTDOWN, "{line}");
            }
            if !was_stopping {
                log::info!(target: log_target::SHUTDOWN, "Shutting down...");
            }
        }
    }

    /// Whether a shutdown has started.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// The reason recorded by the first [`Shutdown::stop`], if any.
    pub fn reason(&self) -> Option<StopReason> {
        self.inner
            .reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sleeps for `duration` or until shutdown, whichever comes first. Returns `true` when
    /// woken by shutdown.
    pub fn sleep(&self, duration: Duration) -> bool {
        if self.is_stopping() {
            return true;
        }
        match self.inner.wake.recv_timeout(duration) {
            Err(RecvTimeoutError::Timeout) => self.is_stopping(),
            // Nobody ever sends: any other outcome means the sender was dropped.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        }
    }

    /// Sleeps until `deadline` or until shutdown; `true` when woken by shutdown.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        self.sleep(deadline.saturating_duration_since(Instant::now()))
    }

    /// A receiver that becomes disconnected on shutdown, for `crossbeam_channel::select!`.
    pub fn wake_receiver(&self) -> &Receiver<()> {
        &self.inner.wake
    }
}

/// How long the signal's line may hold the stop.
const STOP_LINE_WAIT: Duration = Duration::from_millis(200);

/// Writes "Shutting down..." before the stop begins, so it comes before the loops' last lines;
/// on a thread of its own, waited for at most [`STOP_LINE_WAIT`]: writing to a stderr nobody
/// reads (journald stuck, a paused pager) blocks, and the stop must not wait for it.
fn log_before_the_stop() {
    let (written, wait) = crossbeam_channel::bounded::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("stop-line".to_string())
        .spawn(move || {
            log::info!(target: log_target::SHUTDOWN, "Shutting down...");
            let _ = written.send(());
        });
    if spawned.is_ok() {
        let _ = wait.recv_timeout(STOP_LINE_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn sleep_returns_early_on_stop() {
        let shutdown = Shutdown::new();
        let other = shutdown.clone();
        let start = Instant::now();
        let sleeper = thread::spawn(move || other.sleep(Duration::from_secs(30)));
        thread::sleep(Duration::from_millis(50));
        shutdown.stop(StopReason::Requested);
        assert!(sleeper.join().expect("sleeper thread"));
        assert!(start.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn sleep_without_stop_times_out() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.sleep(Duration::from_millis(10)));
        assert!(!shutdown.is_stopping());
        assert_eq!(shutdown.reason(), None);
    }

    #[test]
    fn a_failure_while_stopping_still_counts() {
        let shutdown = Shutdown::new();
        shutdown.stop(StopReason::Requested);
        let failure = LoopError::Panicked {
            thread: "batch-consumer",
        };
        shutdown.fail_logged(failure.clone());
        shutdown.fail(LoopError::Panicked { thread: "producer" });
        assert_eq!(shutdown.reason(), Some(StopReason::Failed(failure)));
    }

    #[test]
    fn a_failed_outcome_starts_the_stop_once_and_an_ok_one_does_not() {
        let shutdown = Shutdown::new();
        shutdown.fail_on_error(&Ok(()));
        assert!(!shutdown.is_stopping());
        let failure = LoopError::Panicked { thread: "producer" };
        shutdown.fail_on_error(&Err(failure.clone()));
        // The thread's own report of the same error afterwards changes nothing.
        shutdown.fail(failure.clone());
        assert!(shutdown.sleep(Duration::from_secs(30)));
        assert_eq!(shutdown.reason(), Some(StopReason::Failed(failure)));
    }

    #[test]
    fn first_reason_wins() {
        let shutdown = Shutdown::new();
        let failure = LoopError::Panicked { thread: "producer" };
        shutdown.fail(failure.clone());
        shutdown.stop(StopReason::Requested);
        assert!(shutdown.is_stopping());
        assert_eq!(shutdown.reason(), Some(StopReason::Failed(failure)));
        assert!(shutdown.sleep(Duration::from_secs(30)));
    }
}
