//! A handler that fails, retried: the same record or batch is handed to it again, after the
//! project's backoff, until it succeeds or `HANDLER_RETRY_TIMEOUT_MS` has passed; then the
//! consumer stops with [`LoopError::HandlerFailed`], nothing of it committed. A panic ends the
//! consumer at once ([`LoopError::HandlerPanicked`]). Meanwhile the consumer keeps polling with
//! its partitions paused (so it stays in its group however long the retries last), `/readyz`
//! says it is degraded, and the log has one line when the retries begin and one when they end.
//!
//! The loops drive it, so each stays readable top to bottom:
//! `match retry.attempt(|| handler.handle(..))? { Done => .., Again(wait) => poll paused }`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::handler::HandlerError;
use crate::lifecycle::retry::Backoff;
use crate::lifecycle::LoopError;
use crate::ops::stats::ConsumerStats;

use super::settings::ConsumerSettings;

/// Between calls of a failing handler: soon at first (a deadlock retried, a connection
/// reset), then every 5 s.
const HANDLER_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5));

/// What one call of the handler says the loop should do.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// It succeeded: the record or batch may be committed.
    Done,
    /// It failed: poll (paused) for this long, then call it again.
    Again(Duration),
}

/// The retries of one record or batch.
pub(crate) struct HandlerRetry<'s> {
    settings: &'s ConsumerSettings,
    stats: &'s ConsumerStats,
    retry_for: Duration,
    /// The record or batch, as log lines and errors name it.
    what: String,
    /// The first failure, and how many calls failed.
    failing_since: Option<Instant>,
    failures: u32,
}

impl<'s> HandlerRetry<'s> {
    pub(crate) fn new(
        settings: &'s ConsumerSettings,
        stats: &'s ConsumerStats,
        retry_for: Duration,
        what: String,
    ) -> HandlerRetry<'s> {
        HandlerRetry {
            settings,
            stats,
            retry_for,
            what,
            failing_since: None,
            failures: 0,
        }
    }

    /// Whether a call has failed: the loop pauses its partitions at the first failure.
    pub(crate) fn is_failing(&self) -> bool {
        self.failing_since.is_some()
    }

    /// Calls the handler once through `call`. A panic, or failures for longer than the retry
    /// time, end the consumer with an error.
    pub(crate) fn attempt(
        &mut self,
        call: impl FnOnce() -> Result<(), HandlerError>,
    ) -> Result<Attempt, LoopError> {
        let client = &self.settings.name;
        let error = match catch_unwind(AssertUnwindSafe(call)) {
            Ok(Ok(())) => {
                self.succeeded();
                return Ok(Attempt::Done);
            }
            Ok(Err(error)) => error,
            Err(_) => {
                self.stats.handler_wait.end();
                return Err(LoopError::HandlerPanicked {
                    client: client.clone(),
                    what: self.what.clone(),
                });
            }
        };
        let now = Instant::now();
        let since = *self.failing_since.get_or_insert(now);
        self.failures = self.failures.saturating_add(1);
        let failed_for = now.saturating_duration_since(since);
        if failed_for >= self.retry_for {
            self.stats.handler_wait.end();
            return Err(LoopError::HandlerFailed {
                client: client.clone(),
                what: self.what.clone(),
                retried_for: failed_for,
                error: error.to_string(),
            });
        }
        let wait = HANDLER_BACKOFF
            .delay(self.failures)
            .min(self.retry_for - failed_for);
        if self.failures == 1 {
            self.stats.handler_wait.start();
            log::warn!(
                target: &self.settings.log_target,
                "{client}: the handler failed on {}: {error}; retrying for up to {} s (HANDLER_RETRY_TIMEOUT_MS), its partitions paused",
                self.what,
                self.retry_for.as_secs()
            );
        } else {
            log::debug!(
                target: &self.settings.log_target,
                "{client}: the handler failed again on {} (call {}): {error}",
                self.what,
                self.failures
            );
        }
        Ok(Attempt::Again(wait))
    }

    /// Ends the retries without a success: the record or batch is no longer this
    /// consumer's (its partitions were revoked), or the consumer stops.
    pub(crate) fn abandon(&self, why: &str) {
        if self.is_failing() {
            self.stats.handler_wait.end();
            log::warn!(
                target: &self.settings.log_target,
                "{}: no longer retrying the handler on {}: {why}; not committed",
                self.settings.name,
                self.what
            );
        }
    }

    fn succeeded(&self) {
        if let Some(since) = self.failing_since {
            self.stats.handler_wait.end();
            log::info!(
                target: &self.settings.log_target,
                "{}: the handler succeeded on {} after {} failed calls in {:.1} s; fetching resumes",
                self.settings.name,
                self.what,
                self.failures,
                since.elapsed().as_secs_f64()
            );
        }
    }
}
