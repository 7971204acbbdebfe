//! One client context for every Kafka client: librdkafka's log lines go to `log` under the
//! `librdkafka` target, client errors are triaged once (fatal and authentication errors stop
//! the daemon, passing connection failures stay quiet). What differs per client — delivery
//! reports, rebalances, statistics — is its [`ClientRole`].

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;

use crate::lifecycle::shutdown::Shutdown;
use crate::lifecycle::LoopError;
use crate::ops::log_target;

/// What a client does beyond logging and error triage.
pub(crate) trait ClientRole: Send + Sync {
    /// librdkafka's statistics, every `statistics.interval.ms` when that is set.
    fn on_statistics(&self, _statistics: Statistics) {}
}

/// The context of one client: its name in log lines, the daemon's shutdown, and its role.
pub(crate) struct ClientEvents<R> {
    pub(crate) name: String,
    shutdown: Shutdown,
    pub(crate) role: R,
    /// The last error warned of, and when: the same one again within
    /// [`REPEATED_WARNING_QUIET`] is only a debug line (librdkafka reports "all brokers are
    /// down" on every request while they are).
    last_warning: Mutex<Option<(String, Instant)>>,
}

/// How long the same client error is warned of only once.
const REPEATED_WARNING_QUIET: Duration = Duration::from_secs(30);

impl<R> ClientEvents<R> {
    pub(crate) fn new(name: &str, shutdown: &Shutdown, role: R) -> ClientEvents<R> {
        ClientEvents {
            name: name.to_string(),
            shutdown: shutdown.clone(),
            role,
            last_warning: Mutex::new(None),
        }
    }
}

/// librdkafka's text for FENCED_INSTANCE_ID (`rd_kafka_err2str`), in the FATAL line it logs.
const FENCED_INSTANCE_ID_TEXT: &str =
    "Static consumer fenced by other consumer with same group.instance.id";

/// The level of a librdkafka log line here. Passing connection failures come at librdkafka's
/// error level; they are warnings, because anything that really stops a client reaches
/// `error` as well. A static member's fence comes as FATAL, but the consumer is created again
/// (`StaticMemberRecovery`, which logs at `error` when it gives up): a warning too.
fn log_level(level: RDKafkaLogLevel, message: &str) -> log::Level {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical
            if message.contains(FENCED_INSTANCE_ID_TEXT) =>
        {
            log::Level::Warn
        }
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
            log::Level::Error
        }
        RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning => log::Level::Warn,
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => log::Level::Info,
        RDKafkaLogLevel::Debug => log::Level::Debug,
    }
}

impl<R: ClientRole> ClientContext for ClientEvents<R> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let level = log_level(level, message);
        log::log!(target: log_target::LIBRDKAFKA, level, "{}: {facility}: {message}", self.name);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let client = &self.name;
        let code = error.rdkafka_error_code();
        if is_connection_noise(&error) {
            // librdkafka's own log line already names the broker and the cause.
            log::debug!(target: log_target::KAFKA, "{client}: {error}: {reason}");
        } else if matches!(
            code,
            Some(RDKafkaErrorCode::UnreleasedInstanceId | RDKafkaErrorCode::FencedInstanceId)
        ) {
            // The consumer loop waits for the release, or creates a fenced consumer again, and
            // says so (`StaticMemberRecovery`).
            log::debug!(target: log_target::KAFKA, "{client}: {error}: {reason}");
        } else if code == Some(RDKafkaErrorCode::Fatal) {
            self.shutdown.fail(LoopError::FatalKafka {
                client: client.to_string(),
                reason: reason.to_string(),
            });
        } else if matches!(
            code,
            Some(RDKafkaErrorCode::Authentication)
                | Some(RDKafkaErrorCode::SaslAuthenticationFailed)
        ) {
            // Wrong credentials do not fix themselves: stop with a clear error instead of
            // retrying forever.
            self.shutdown.fail(LoopError::Authentication {
                client: client.to_string(),
                reason: reason.to_string(),
            });
        } else if code == Some(RDKafkaErrorCode::SSL) {
            log::error!(target: log_target::KAFKA, "{client}: {error}: {reason} (check the LIBRDKAFKA_SSL_* settings)");
        } else {
            let text = format!("{client}: {error}: {reason}");
            let mut last = self
                .last_warning
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let repeated = last.as_ref().is_some_and(|(previous, at)| {
                *previous == text && now.duration_since(*at) < REPEATED_WARNING_QUIET
            });
            if repeated {
                log::debug!(target: log_target::KAFKA, "{text}");
            } else {
                log::warn!(target: log_target::KAFKA, "{text}");
                *last = Some((text, now));
            }
        }
    }

    fn stats(&self, statistics: Statistics) {
        self.role.on_statistics(statistics);
    }
}

/// Connection failures to a single broker: librdkafka reconnects by itself and logs each
/// failure once, so repeating them from every callback only adds noise.
pub(crate) fn is_connection_noise(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::BrokerTransportFailure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::shutdown::StopReason;

    struct NoRole;
    impl ClientRole for NoRole {}

    /// What librdkafka reports through one client's error callback, and what the daemon does.
    fn reported(error: KafkaError) -> Option<StopReason> {
        let shutdown = Shutdown::new();
        let producer = ClientEvents::new("producer", &shutdown, NoRole);
        producer.error(error, "the broker said so");
        shutdown.reason()
    }

    #[test]
    fn a_fenced_static_member_is_a_warning_and_other_fatal_lines_errors() {
        // The line the soak saw when a quorum leader's kill fenced a static member.
        let fenced = "[thrd:main]: Fatal error: Broker: Static consumer fenced by other consumer \
                      with same group.instance.id: OffsetCommit failed: Broker: Static consumer \
                      fenced by other consumer with same group.instance.id";
        assert_eq!(
            log_level(RDKafkaLogLevel::Critical, fenced),
            log::Level::Warn
        );
        let other = "[thrd:main]: Fatal error: Broker: Producer fenced by newer instance";
        assert_eq!(
            log_level(RDKafkaLogLevel::Critical, other),
            log::Level::Error
        );
        assert_eq!(
            log_level(RDKafkaLogLevel::Error, "connection refused"),
            log::Level::Warn
        );
    }

    #[test]
    fn fatal_and_authentication_errors_of_a_client_stop_the_daemon_naming_it() {
        let reason = "the broker said so".to_string();
        assert_eq!(
            reported(KafkaError::Global(RDKafkaErrorCode::Fatal)),
            Some(StopReason::Failed(LoopError::FatalKafka {
                client: "producer".to_string(),
                reason: reason.clone(),
            }))
        );
        for code in [
            RDKafkaErrorCode::Authentication,
            RDKafkaErrorCode::SaslAuthenticationFailed,
        ] {
            assert_eq!(
                reported(KafkaError::Global(code)),
                Some(StopReason::Failed(LoopError::Authentication {
                    client: "producer".to_string(),
                    reason: reason.clone(),
                }))
            );
        }
        // Passing trouble is logged, never a stop.
        for code in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::SSL,
        ] {
            assert_eq!(reported(KafkaError::Global(code)), None, "{code:?}");
        }
    }
}
