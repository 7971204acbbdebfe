//! The librdkafka configuration of a client: bootstrap servers, the client's own settings,
//! then the `LIBRDKAFKA_*` pass-through properties last, so an operator can override any of
//! them.

use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

use super::ClientKind;
use crate::config::{is_secret, Config};

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

/// Creates a client from `client`: every client of the daemon is created here, so that no
/// error of librdkafka's, which quotes the values it refuses, shows a secret property's value.
pub(crate) fn create_client<C, T>(client: &ClientConfig, context: C) -> Result<T, KafkaError>
where
    C: ClientContext,
    T: FromClientConfigAndContext<C>,
{
    client
        .create_with_context(context)
        .map_err(|error| without_secret_values(client, error))
}

/// `error` with the value of every secret property of `client` ([`is_secret`]: those
/// librdkafka marks sensitive, and more) replaced by `<redacted>` wherever it appears: in the
/// refused value, the description, or a creation error's message (a key file's path).
pub(crate) fn without_secret_values(client: &ClientConfig, error: KafkaError) -> KafkaError {
    // `config_map` itself hides the values librdkafka marks sensitive: `get` gives them.
    let mut secrets: Vec<&str> = client
        .config_map()
        .into_keys()
        .filter(|key| is_secret(key))
        .filter_map(|key| client.get(key))
        .filter(|value| !value.is_empty())
        .collect();
    // Longest first: a secret that holds another is hidden whole.
    secrets.sort_by_key(|value| std::cmp::Reverse(value.len()));
    let hide = |text: &str| {
        secrets.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret, "<redacted>")
        })
    };
    match error {
        KafkaError::ClientConfig(result, description, key, value) => {
            let value = if is_secret(&key) {
                "<redacted>".to_string()
            } else {
                hide(&value)
            };
            KafkaError::ClientConfig(result, hide(&description), key, value)
        }
        KafkaError::ClientCreation(message) => KafkaError::ClientCreation(hide(&message)),
        other => {
            let shown = other.to_string();
            if hide(&shown) == shown {
                other
            } else {
                KafkaError::ClientCreation(hide(&shown))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::producer::{BaseProducer, DefaultProducerContext};

    use super::*;

    fn creation_error(properties: &[(&str, &str)]) -> String {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("log_level", "0");
        for (key, value) in properties {
            client.set(*key, *value);
        }
        let created: Result<BaseProducer, _> = create_client(&client, DefaultProducerContext);
        let error = created.err().expect("librdkafka refuses the configuration");
        format!("{error} {error:?}")
    }

    #[test]
    fn a_refused_secret_property_is_not_quoted() {
        let jaas = r#"PlainLoginModule required username="u" password="Secr3t";"#;
        let line = creation_error(&[("sasl.jaas.config", jaas)]);
        assert!(line.contains("sasl.jaas.config"), "{line}");
        assert!(!line.contains("Secr3t"), "{line}");
    }

    #[test]
    fn a_java_secret_property_librdkafka_does_not_know_is_not_quoted() {
        // librdkafka has no truststore: its error names the property, rdkafka adds the value.
        let line = creation_error(&[("ssl.truststore.password", "Secr3tStore")]);
        assert!(line.contains("ssl.truststore.password"), "{line}");
        assert!(!line.contains("Secr3tStore"), "{line}");
    }

    #[test]
    fn a_secret_value_in_a_creation_message_is_hidden() {
        let mut client = ClientConfig::new();
        client
            .set("ssl.key.location", "/etc/keys/Secr3t-key.pem")
            .set("ssl.key.password", "hunter22");
        let error = KafkaError::ClientCreation(
            "ssl.key.location failed: /etc/keys/Secr3t-key.pem: bad decrypt with hunter22"
                .to_string(),
        );
        let line = format!("{0} {0:?}", without_secret_values(&client, error));
        assert!(!line.contains("Secr3t"), "{line}");
        assert!(!line.contains("hunter22"), "{line}");
        assert!(
            line.contains("ssl.key.location failed: <redacted>: bad decrypt"),
            "{line}"
        );
    }

    #[test]
    fn a_secret_in_another_propertys_error_is_hidden_too() {
        // A value that is not a secret's own, but holds one, as an operator's paste can.
        let mut client = ClientConfig::new();
        client.set("sasl.password", "Secr3t");
        let error = KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"user:Secr3t\" for configuration property".to_string(),
            "sasl.username".to_string(),
            "user:Secr3t".to_string(),
        );
        let line = format!("{0} {0:?}", without_secret_values(&client, error));
        assert!(!line.contains("Secr3t"), "{line}");
        assert!(line.contains("sasl.username"), "{line}");
        let created: Result<BaseProducer, _> = create_client(&client, DefaultProducerContext);
        assert!(
            created.is_ok(),
            "a valid configuration is created as before"
        );
    }
}
