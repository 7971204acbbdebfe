//! A handler that fails, retried: the same record or batch is handed to it again, after the
//! project's backoff, until it succeeds or `HANDLER_RETRY_TIMEOUT_MS` has passed; then
//! `ON_HANDLER_ERROR` applies: the consumer stops with [`LoopError::HandlerFailed`], nothing
//! of it committed (`fail`), or it is copied to the dead-letter topic and committed (`dlq`). A panic ends the
//! consumer at once ([`LoopError::HandlerPanicked`]). Meanwhile the consumer keeps polling with
//! its partitions paused (so it stays in its group however long the retries last), `/readyz`
//! says it is degraded, and the log has one line when the retries begin and one when they end.
//!
//! The loops drive it, so each stays readable top to bottom:
//! `match retry.attempt(|| handler.handle(..))? { Done => .., Again(wait) => poll paused }`.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, OnHandlerError};
use crate::handler::HandlerError;
use crate::lifecycle::retry::Backoff;
use crate::lifecycle::LoopError;
use crate::ops::stats::ConsumerStats;

use super::settings::ConsumerSettings;

/// Between calls of a failing handler: soon at first (a deadlock retried, a connection
/// reset), then every 5 s.
const HANDLER_BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5));

/// What a handler was given, as log lines and errors name it: put into words only when they
/// are written (a retry is made for every record, a line only for one that fails).
#[derive(Debug, Clone)]
pub(crate) enum Given {
    Record {
        topic: Arc<str>,
        partition: i32,
        offset: i64,
    },
    Batch {
        records: usize,
    },
}

impl fmt::Display for Given {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Given::Record {
                topic,
                partition,
                offset,
            } => write!(f, "the record at {topic} p={partition} o={offset}"),
            Given::Batch { records } => write!(f, "a batch of {records} records"),
        }
    }
}

/// What one call of the handler says the loop should do.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// It succeeded: the record or batch may be committed.
    Done,
    /// It failed: poll (paused) for this long, then call it again.
    Again(Duration),
    /// It kept failing for the retry time and `ON_HANDLER_ERROR=dlq`: copy the record (every
    /// record of the batch) to the dead-letter topic with this reason, then commit.
    GiveUp(String),
}

/// A handler call's outcome: its result, or its panic.
pub(crate) type Called = std::thread::Result<Result<(), HandlerError>>;

/// Calls a handler, catching a panic: the consumer ends with an error then, not the thread.
pub(crate) fn call_handler(call: impl FnOnce() -> Result<(), HandlerError>) -> Called {
    catch_unwind(AssertUnwindSafe(call))
}

/// Whether a call returned `Ok`.
pub(crate) fn succeeded(outcome: &Called) -> bool {
    matches!(outcome, Ok(Ok(())))
}

/// The retries of one record or batch.
pub(crate) struct HandlerRetry<'s> {
    settings: &'s ConsumerSettings,
    stats: &'s ConsumerStats,
    retry_for: Duration,
    policy: OnHandlerError,
    /// The record or batch, as log lines and errors name it.
    what: Given,
    /// The first failure, and how many calls failed.
    failing_since: Option<Instant>,
    failures: u32,
}

impl<'s> HandlerRetry<'s> {
    pub(crate) fn new(
        settings: &'s ConsumerSettings,
        stats: &'s ConsumerStats,
        config: &Config,
        what: Given,
    ) -> HandlerRetry<'s> {
        HandlerRetry {
            settings,
            stats,
            retry_for: config.handler_retry_timeout,
            policy: config.on_handler_error,
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
        self.judge(call_handler(call))
    }

    /// What the outcome of a call (made by [`call_handler`]) means; see [`Self::attempt`].
    pub(crate) fn judge(&mut self, outcome: Called) -> Result<Attempt, LoopError> {
        let client = &self.settings.name;
        let error = match outcome {
            Ok(Ok(())) => {
                self.succeeded();
                return Ok(Attempt::Done);
            }
            Ok(Err(error)) => error,
            Err(_) => {
                self.stats.handler_wait.end();
                return Err(LoopError::HandlerPanicked {
                    client: client.clone(),
                    what: self.what.to_string(),
                });
            }
        };
        let now = Instant::now();
        let since = *self.failing_since.get_or_insert(now);
        self.failures = self.failures.saturating_add(1);
        let failed_for = now.saturating_duration_since(since);
        if failed_for >= self.retry_for {
            self.stats.handler_wait.end();
            if self.policy == OnHandlerError::DeadLetter {
                log::warn!(
                    target: &self.settings.log_target,
                    "{client}: the handler failed on {} for {} s: {error}; copying it to the dead-letter topic (ON_HANDLER_ERROR=dlq)",
                    self.what,
                    failed_for.as_secs()
                );
                return Ok(Attempt::GiveUp(format!(
                    "the handler failed for {} s: {error}",
                    failed_for.as_secs()
                )));
            }
            return Err(LoopError::HandlerFailed {
                client: client.clone(),
                what: self.what.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_pairs(vars).expect("config")
    }

    fn record() -> Given {
        Given::Record {
            topic: "t".into(),
            partition: 2,
            offset: 7,
        }
    }

    fn failing() -> Result<(), HandlerError> {
        Err("the database is locked".into())
    }

    #[test]
    fn a_failure_is_retried_while_the_retry_time_lasts_and_readiness_says_so() {
        let (settings, stats) = (ConsumerSettings::new("g", ["t"]), ConsumerStats::default());
        let config = config(&[("HANDLER_RETRY_TIMEOUT_MS", "60000")]);
        let mut retry = HandlerRetry::new(&settings, &stats, &config, record());
        let Ok(Attempt::Again(wait)) = retry.attempt(failing) else {
            panic!("retried");
        };
        assert!(wait <= Duration::from_secs(5));
        assert!(stats.handler_wait.is_waiting(), "/readyz degraded");
        assert!(matches!(retry.attempt(|| Ok(())), Ok(Attempt::Done)));
        assert!(!stats.handler_wait.is_waiting(), "ready again");
    }

    #[test]
    fn past_the_retry_time_the_policy_applies() {
        let (settings, stats) = (ConsumerSettings::new("g", ["t"]), ConsumerStats::default());
        let fail = config(&[("HANDLER_RETRY_TIMEOUT_MS", "0")]);
        let mut retry = HandlerRetry::new(&settings, &stats, &fail, record());
        match retry.attempt(failing) {
            Err(LoopError::HandlerFailed { error, what, .. }) => {
                assert_eq!(
                    (error.as_str(), what.as_str()),
                    ("the database is locked", "the record at t p=2 o=7")
                )
            }
            other => panic!("{other:?}"),
        }
        let dlq = config(&[
            ("HANDLER_RETRY_TIMEOUT_MS", "0"),
            ("ON_HANDLER_ERROR", "dlq"),
        ]);
        let mut retry = HandlerRetry::new(&settings, &stats, &dlq, Given::Batch { records: 3 });
        match retry.attempt(failing) {
            Ok(Attempt::GiveUp(reason)) => assert!(reason.contains("the database is locked")),
            other => panic!("{other:?}"),
        }
        assert!(!stats.handler_wait.is_waiting());
    }

    #[test]
    fn a_panic_is_an_error_at_once_whatever_the_policy() {
        let (settings, stats) = (ConsumerSettings::new("g", ["t"]), ConsumerStats::default());
        let dlq = config(&[("ON_HANDLER_ERROR", "dlq")]);
        let mut retry = HandlerRetry::new(&settings, &stats, &dlq, Given::Batch { records: 3 });
        let outcome = retry.attempt(|| panic!("a bug in the handler"));
        assert!(
            matches!(outcome, Err(LoopError::HandlerPanicked { .. })),
            "{outcome:?}"
        );
    }
}
