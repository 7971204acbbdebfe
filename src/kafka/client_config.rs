//! The librdkafka configuration of a client: bootstrap servers, the client's own settings,
//! then the `LIBRDKAFKA_*` pass-through properties last, so an operator can override any of
//! them.

use rdkafka::config::ClientConfig;

use super::ClientKind;
use crate::config::Config;

/// The configuration of one client of `kind` with its own settings `own`, then the
/// pass-through properties that apply to that kind.
pub(crate) fn client_config_with(
    config: &Config,
    kind: ClientKind,
    own: &[(&str, String)],
) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap_servers);
    for (key, value) in own {
        client.set(*key, value);
    }
    for (key, value) in config.librdkafka_properties.for_client(kind) {
        client.set(key, value);
    }
    client
}

/// Settings of a producer whose acknowledged records are on every in-sync replica exactly
/// once: `acks=all` with idempotence. The dead-letter producer always uses them; the main
/// producer by default.
pub(crate) fn durable_producer_settings() -> [(&'static str, String); 2] {
    [
        ("acks", "all".to_string()),
        ("enable.idempotence", "true".to_string()),
    ]
}
