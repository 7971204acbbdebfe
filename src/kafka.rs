//! What every Kafka client of the daemon shares: the base librdkafka configuration and the
//! handling of client-level errors.

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::Config;
use crate::shutdown::Shutdown;

/// The librdkafka configuration of one client: bootstrap servers, the client's own settings,
/// then the `LIBRDKAFKA_*` pass-through properties last, so an operator can override any of them.
pub fn client_config_with(config: &Config, own: &[(&str, String)]) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap_servers);
    for (key, value) in own {
        client.set(*key, value);
    }
    for (key, value) in &config.librdkafka_properties {
        client.set(key, value);
    }
    client
}

/// Handles an error event of a client: fatal errors stop the daemon; the rest are logged as
/// warnings because librdkafka retries them by itself (an unreachable broker, for one).
pub fn handle_client_error(client: &str, shutdown: &Shutdown, error: &KafkaError, reason: &str) {
    let code = error.rdkafka_error_code();
    if is_connection_noise(error) {
        // librdkafka's own log line (target `librdkafka`) already names the broker and cause.
        log::debug!("{client}: {error}: {reason}");
    } else if code == Some(RDKafkaErrorCode::Fatal) {
        shutdown.fail(format!("{client}: fatal Kafka error: {reason}"));
    } else if matches!(
        code,
        Some(RDKafkaErrorCode::Authentication) | Some(RDKafkaErrorCode::SaslAuthenticationFailed)
    ) {
        // Wrong credentials do not fix themselves: stop with a clear error instead of
        // retrying forever.
        shutdown.fail(format!(
            "{client}: Kafka authentication failed: {reason} (check LIBRDKAFKA_SASL_USERNAME and LIBRDKAFKA_SASL_PASSWORD)"
        ));
    } else if code == Some(RDKafkaErrorCode::SSL) {
        log::error!("{client}: {error}: {reason} (check the LIBRDKAFKA_SSL_* settings)");
    } else {
        log::warn!("{client}: {error}: {reason}");
    }
}

/// Connection failures to a single broker: librdkafka reconnects by itself and logs each
/// failure once, so repeating them from every callback only adds noise.
pub fn is_connection_noise(error: &KafkaError) -> bool {
    error.rdkafka_error_code() == Some(RDKafkaErrorCode::BrokerTransportFailure)
}

/// Forwards a librdkafka log line to `log` under the target `librdkafka`. librdkafka logs
/// passing connection failures at its error level; they are warnings here, because anything
/// that really stops a client reaches [`handle_client_error`] as well.
pub fn log_librdkafka(client: &str, level: RDKafkaLogLevel, facility: &str, message: &str) {
    let level = match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
            log::Level::Error
        }
        RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning => log::Level::Warn,
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => log::Level::Info,
        RDKafkaLogLevel::Debug => log::Level::Debug,
    };
    log::log!(target: "librdkafka", level, "{client}: {facility}: {message}");
}
