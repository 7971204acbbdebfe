//! The `LIBRDKAFKA_*` pass-through (names, scopes, refused properties) and secrets: what is
//! never shown.

use crate::config::*;

fn error_for(name: &str, value: &str) -> ConfigError {
    Config::from_pairs(&[(name, value)]).expect_err(&format!("{name}={value} should be rejected"))
}

#[test]
fn librdkafka_pass_through_maps_names_and_hides_secrets() {
    let c = Config::from_pairs(&[
        ("LIBRDKAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("LIBRDKAFKA_SASL_PASSWORD", "hunter2"),
        ("LIBRDKAFKA_SASL_USERNAME", "alice"),
        ("KAFKA_HOME", "/opt/kafka"),
    ])
    .expect("valid");
    let all: Vec<(String, String)> = c
        .librdkafka_properties
        .for_client(ClientKind::Consumer)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        all,
        vec![
            ("sasl.password".to_string(), "hunter2".to_string()),
            ("sasl.username".to_string(), "alice".to_string()),
            ("security.protocol".to_string(), "SASL_SSL".to_string()),
        ]
    );
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("sasl.username=alice"), "{shown}");
    let err = error_for("LIBRDKAFKA_sasl_password", "hunter2");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn registry_credentials_are_not_shown() {
    let c = Config::from_pairs(&[("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "bob:s3cret")])
        .expect("valid");
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn properties_the_guarantees_depend_on_are_refused() {
    for (name, hint) in [
        ("LIBRDKAFKA_GROUP_ID", "CONSUMER_GROUP_ID_1"),
        ("LIBRDKAFKA_ENABLE_AUTO_COMMIT", "commit policy"),
        ("LIBRDKAFKA_ENABLE_AUTO_OFFSET_STORE", "handled"),
        (
            "LIBRDKAFKA_ENABLE_IDEMPOTENCE",
            "PRODUCER_ENABLE_IDEMPOTENCE",
        ),
        ("LIBRDKAFKA_ACKS", "PRODUCER_ACKS"),
        ("LIBRDKAFKA_REQUEST_REQUIRED_ACKS", "PRODUCER_ACKS"),
        (
            "LIBRDKAFKA_PARTITIONER",
            "picks each record's partition itself",
        ),
        (
            "LIBRDKAFKA_PRODUCER_PARTITIONER",
            "picks each record's partition itself",
        ),
    ] {
        let err = error_for(name, "x");
        assert_eq!(err.variable, name);
        assert!(err.expected.contains(hint), "{err}");
    }
    assert!(Config::from_pairs(&[("LIBRDKAFKA_GROUP_INSTANCE_ID", "a")]).is_ok());
}

#[test]
fn starting_consumers_at_the_end_is_allowed_with_one_warning() {
    let warnings = |pairs: &[(&str, &str)]| {
        Config::from_pairs(pairs)
            .expect("allowed")
            .weakened_guarantees()
    };
    assert!(warnings(&[]).is_empty());
    assert!(warnings(&[("LIBRDKAFKA_AUTO_OFFSET_RESET", "earliest")]).is_empty());
    for (name, value) in [
        ("LIBRDKAFKA_CONSUMER_AUTO_OFFSET_RESET", "latest"),
        ("LIBRDKAFKA_AUTO_OFFSET_RESET", "LARGEST"),
        ("LIBRDKAFKA_CONSUMER_AUTO_OFFSET_RESET", "end"),
    ] {
        let lines = warnings(&[(name, value)]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!("{name}={value}: ")),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("never consumed"), "{}", lines[0]);
    }
    // The scoped value is the one the consumers get.
    let scoped_wins = warnings(&[
        ("LIBRDKAFKA_AUTO_OFFSET_RESET", "latest"),
        ("LIBRDKAFKA_CONSUMER_AUTO_OFFSET_RESET", "earliest"),
    ]);
    assert!(scoped_wins.is_empty(), "{scoped_wins:?}");
}

#[test]
fn every_property_librdkafka_marks_sensitive_is_hidden_but_the_user_name() {
    for property in [
        "ssl.key.location",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl.keystore.password",
        "sasl.password",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.assertion.private.key.file",
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "sasl.oauthbearer.assertion.private.key.pem",
    ] {
        assert!(is_secret(property), "{property} is shown");
    }
    assert!(!is_secret("sasl.username"));
    assert!(!is_secret("security.protocol"));
}

#[test]
fn a_jaas_config_is_refused_without_showing_it() {
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="Secr3t";"#;
    for name in [
        "LIBRDKAFKA_SASL_JAAS_CONFIG",
        "LIBRDKAFKA_PRODUCER_SASL_JAAS_CONFIG",
        "LIBRDKAFKA_CONSUMER_SASL_JAAS_CONFIG",
    ] {
        let err = error_for(name, jaas);
        let line = err.to_string();
        assert_eq!(err.variable, name);
        assert!(!line.contains("Secr3t"), "{line}");
        assert_eq!(err.value, "<redacted>");
        for instead in ["LIBRDKAFKA_SASL_USERNAME", "LIBRDKAFKA_SASL_PASSWORD"] {
            assert!(err.expected.contains(instead), "{line}");
        }
    }
}

#[test]
fn a_rejected_url_never_shows_its_password() {
    for bad in [
        "http://bob:s3cret@registry:8082?x=1",
        "http://:s3cret@registry:8082",
        "htp//bob:s3cret@registry",
        "ftp://bob:s3cret@registry/path@x",
    ] {
        let err = error_for("SCHEMA_REGISTRY_URL", bad);
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(
            err.expected.contains("without query or credentials") || err.expected.contains("URL")
        );
    }
    let err = error_for("SCHEMA_REGISTRY_URL", "http://:s3cret@registry:8082");
    assert_eq!(err.value, "http://<redacted>@registry:8082");
}

fn for_client(c: &Config, kind: ClientKind) -> Vec<String> {
    c.librdkafka_properties
        .for_client(kind)
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[test]
fn each_client_gets_only_the_properties_that_apply_to_it() {
    let c = Config::from_pairs(&[
        ("LIBRDKAFKA_SESSION_TIMEOUT_MS", "30000"),
        ("LIBRDKAFKA_LINGER_MS", "20"),
        ("LIBRDKAFKA_CLIENT_ID", "everyone"),
        ("LIBRDKAFKA_CONSUMER_CLIENT_ID", "consumers"),
        ("LIBRDKAFKA_PRODUCER_COMPRESSION_TYPE", "zstd"),
    ])
    .expect("valid");
    assert_eq!(
        for_client(&c, ClientKind::Producer),
        [
            "client.id=everyone",
            "linger.ms=20",
            "compression.type=zstd"
        ]
    );
    // The scoped client.id comes after the unscoped one, so it wins.
    assert_eq!(
        for_client(&c, ClientKind::Consumer),
        [
            "client.id=everyone",
            "session.timeout.ms=30000",
            "client.id=consumers"
        ]
    );
}

#[test]
fn a_scoped_property_for_the_wrong_client_or_a_refused_one_is_an_error() {
    let err = error_for("LIBRDKAFKA_PRODUCER_SESSION_TIMEOUT_MS", "30000");
    assert!(err.expected.contains("applies to consumers only"), "{err}");
    assert!(
        err.expected
            .contains("LIBRDKAFKA_CONSUMER_SESSION_TIMEOUT_MS"),
        "{err}"
    );
    let err = error_for("LIBRDKAFKA_CONSUMER_LINGER_MS", "5");
    assert!(err.expected.contains("applies to producers only"), "{err}");
    for refused in [
        "LIBRDKAFKA_CONSUMER_GROUP_ID",
        "LIBRDKAFKA_CONSUMER_ENABLE_AUTO_COMMIT",
        "LIBRDKAFKA_PRODUCER_ACKS",
        "LIBRDKAFKA_PRODUCER_ENABLE_IDEMPOTENCE",
    ] {
        assert!(
            error_for(refused, "x")
                .expected
                .contains("set by the daemon"),
            "{refused}"
        );
    }
    let c = Config::from_pairs(&[("LIBRDKAFKA_PRODUCER_SASL_PASSWORD", "hunter2")]).expect("valid");
    assert!(!format!("{c:?}").contains("hunter2"));
}
