//! Parsing, defaults and error lines of every variable; the `LIBRDKAFKA_*` pass-through in
//! [`pass_through`].
use std::time::Duration;

use super::*;

mod pass_through;

fn error_for(name: &str, value: &str) -> ConfigError {
    Config::from_pairs(&[(name, value)]).expect_err(&format!("{name}={value} should be rejected"))
}

#[test]
fn defaults_match_the_design() {
    let c = Config::from_pairs(&[]).expect("defaults are valid");
    assert_eq!(c.bootstrap_servers, "localhost:9094");
    assert_eq!(c.schema_registry_url, "http://localhost:8082");
    assert_eq!(c.topic, "test-topic-homework-1");
    assert_eq!(c.single_group_id, "consumer-group-1");
    assert_eq!(c.batch_group_id, "consumer-group-2");
    assert_eq!(c.batch_size, 10);
    assert_eq!(c.batch_max_wait, Duration::from_millis(1000));
    assert_eq!(c.produce_interval, Duration::from_millis(100));
    assert_eq!(c.produce_count, None);
    assert_eq!(c.producer_key, None);
    assert_eq!(c.producer_keys, None);
    assert_eq!(c.acks, "all");
    assert!(c.enable_idempotence);
    assert_eq!(c.retries, None);
    assert_eq!(c.linger_ms, 5);
    assert_eq!(c.schema_registry_retries, 12);
    assert!(c.librdkafka_properties.0.is_empty());
    assert_eq!(c.stats_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.metrics_addr, None);
    assert_eq!(c.on_decode_error, OnDecodeError::Skip);
}

#[test]
fn decode_error_policies() {
    for (value, policy) in [
        ("skip", OnDecodeError::Skip),
        ("DLQ", OnDecodeError::DeadLetter),
        ("fail", OnDecodeError::Fail),
    ] {
        assert_eq!(
            Config::from_pairs(&[("ON_DECODE_ERROR", value)])
                .expect("valid")
                .on_decode_error,
            policy
        );
    }
    assert_eq!(
        error_for("ON_DECODE_ERROR", "ignore").expected,
        "skip, dlq or fail"
    );
}

#[test]
fn operations_variables() {
    let c = Config::from_pairs(&[("STATS_INTERVAL_S", "0"), ("METRICS_ADDR", "0.0.0.0:9464")])
        .expect("valid");
    assert_eq!(c.stats_interval, None);
    assert_eq!(c.metrics_addr.as_deref(), Some("0.0.0.0:9464"));
    assert_eq!(error_for("METRICS_ADDR", "9464").variable, "METRICS_ADDR");
    assert_eq!(
        error_for("STATS_INTERVAL_S", "-5").variable,
        "STATS_INTERVAL_S"
    );
}

#[test]
fn every_variable_is_read() {
    let c = Config::from_pairs(&[
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9094,127.0.0.1:9095"),
        (
            "SCHEMA_REGISTRY_URL",
            "http://127.0.0.1:8082/apis/ccompat/v7/",
        ),
        ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "u:p"),
        ("SCHEMA_REGISTRY_RETRIES", "0"),
        ("TEST_TOPIC_NAME", "t.1"),
        ("CONSUMER_GROUP_ID_1", "g1"),
        ("CONSUMER_GROUP_ID_2", "g2"),
        ("BATCH_SIZE", "3"),
        ("FETCH_WAIT_MAX_MS", "50"),
        ("PRODUCE_INTERVAL_MS", "0"),
        ("PRODUCE_COUNT", "7"),
        ("PRODUCER_KEY", "k"),
        ("PRODUCER_ACKS", "1"),
        ("PRODUCER_ENABLE_IDEMPOTENCE", "false"),
        ("PRODUCER_RETRIES", "3"),
        ("PRODUCER_LINGER_MS", "0"),
        ("FLUSH_TIMEOUT_MS", "20"),
    ])
    .expect("valid");
    assert_eq!(c.bootstrap_servers, "127.0.0.1:9094,127.0.0.1:9095");
    assert_eq!(
        c.schema_registry_url,
        "http://127.0.0.1:8082/apis/ccompat/v7"
    );
    assert_eq!(
        c.schema_registry_user_info.as_ref().map(Secret::expose),
        Some("u:p")
    );
    assert_eq!(c.schema_registry_retries, 0);
    assert_eq!(
        (
            c.topic.as_str(),
            c.single_group_id.as_str(),
            c.batch_group_id.as_str()
        ),
        ("t.1", "g1", "g2")
    );
    assert_eq!(c.batch_size, 3);
    assert_eq!(c.batch_max_wait, Duration::from_millis(50));
    assert_eq!(c.produce_interval, Duration::ZERO);
    assert_eq!(c.produce_count, Some(7));
    assert_eq!(c.producer_key.as_deref(), Some("k"));
    assert_eq!(c.acks, "1");
    assert!(!c.enable_idempotence);
    assert_eq!(c.retries, Some(3));
    assert_eq!(c.linger_ms, 0);
    assert_eq!(c.flush_timeout, Duration::from_millis(20));
}

#[test]
fn blank_values_fall_back_to_defaults() {
    let c = Config::from_pairs(&[("BATCH_SIZE", "  "), ("PRODUCER_KEY", "")]).expect("valid");
    assert_eq!(c.batch_size, 10);
    assert_eq!(c.producer_key, None);
}

#[test]
fn batch_size_errors_name_the_variable_and_range() {
    for bad in ["0", "abc", "-1", "1.5", "100001"] {
        let err = error_for("BATCH_SIZE", bad);
        assert_eq!(err.variable, "BATCH_SIZE");
        assert_eq!(err.value, bad);
        assert_eq!(
            err.to_string(),
            format!("BATCH_SIZE=\"{bad}\" is invalid: expected a whole number from 1 to 100000")
        );
    }
}

#[test]
fn numeric_variables_reject_garbage() {
    for name in [
        "FETCH_WAIT_MAX_MS",
        "PRODUCE_INTERVAL_MS",
        "PRODUCE_COUNT",
        "PRODUCER_RETRIES",
        "PRODUCER_LINGER_MS",
        "FLUSH_TIMEOUT_MS",
        "SCHEMA_REGISTRY_RETRIES",
    ] {
        assert_eq!(error_for(name, "ten").variable, name);
    }
    assert_eq!(
        error_for("FETCH_WAIT_MAX_MS", "0").variable,
        "FETCH_WAIT_MAX_MS"
    );
    assert_eq!(
        error_for("SCHEMA_REGISTRY_RETRIES", "21").variable,
        "SCHEMA_REGISTRY_RETRIES"
    );
}

#[test]
fn registry_url_must_be_http_with_a_host() {
    for bad in [
        "not a url",
        "localhost:8082",
        "ftp://host/x",
        "http://",
        "http://u:p@host:8082",
        "http://h/?q=1",
    ] {
        let err = error_for("SCHEMA_REGISTRY_URL", bad);
        assert!(err.expected.contains("http://"), "{err}");
    }
    let c = Config::from_pairs(&[("SCHEMA_REGISTRY_URL", "https://sr.example.com/prefix/")])
        .expect("valid");
    assert_eq!(c.schema_registry_url, "https://sr.example.com/prefix");
}

#[test]
fn a_registry_url_with_a_fragment_is_refused_without_showing_its_secrets() {
    // A `#` in a password: the URL parser ends the authority there, so the rest of the
    // credentials is a fragment (or the port is the password's start).
    for (bad, secrets) in [
        (
            "https://bob:pa#ss99@sr.example.com",
            &["bob", "pa#", "ss99"][..],
        ),
        (
            "http://bob:1234#s3cret@127.0.0.1:8082/apis/ccompat/v7",
            &["bob", "1234", "s3cret"],
        ),
        ("http://sr.example.com/apis#t0ken", &["t0ken"]),
        ("https://bob:p/a?s#s@sr.example.com", &["bob", "p/a"]),
    ] {
        let err = error_for("SCHEMA_REGISTRY_URL", bad);
        let line = err.to_string();
        for secret in secrets {
            assert!(!line.contains(secret), "{secret} shown: {line}");
        }
        assert!(err.expected.contains("http://"), "{line}");
    }
    let err = error_for("SCHEMA_REGISTRY_URL", "http://sr.example.com/apis#t0ken");
    assert!(err.expected.contains("fragment"), "{err}");
    assert_eq!(err.value, "http://sr.example.com/apis#<redacted>");
    let err = error_for(
        "SCHEMA_REGISTRY_URL",
        "http://bob:1234#s3cret@127.0.0.1:8082/apis/ccompat/v7",
    );
    assert_eq!(
        err.value,
        "http://<redacted>@127.0.0.1:8082/apis/ccompat/v7"
    );
}

#[test]
fn a_replication_factor_past_librdkafkas_limit_is_a_configuration_error() {
    for bad in ["0", "10001", "32767"] {
        let err = error_for("CREATE_TOPIC_REPLICATION_FACTOR", bad);
        assert!(err.expected.contains("from 1 to 10000"), "{err}");
    }
    let c = Config::from_pairs(&[("CREATE_TOPIC_REPLICATION_FACTOR", "10000")]).expect("valid");
    assert_eq!(c.create_topic_replication_factor, Some(10_000));
}

#[test]
fn a_registry_url_with_a_query_is_refused_without_showing_it() {
    for (bad, shown) in [
        (
            "http://host:8082/?api_key=SECRET1",
            "http://host:8082/?<redacted>",
        ),
        (
            "https://sr.example.com/apis?token=SECRET1#frag",
            "https://sr.example.com/apis?<redacted>",
        ),
        (
            "http://bob:pw@host:8082/x?api_key=SECRET1",
            "http://<redacted>@host:8082/x?<redacted>",
        ),
    ] {
        let err = error_for("SCHEMA_REGISTRY_URL", bad);
        let line = err.to_string();
        assert!(!line.contains("SECRET1"), "{line}");
        assert!(err.expected.contains("query"), "{line}");
        assert_eq!(err.value, shown);
    }
}

#[test]
fn bootstrap_servers_with_credentials_are_refused_without_showing_them() {
    for (bad, shown) in [
        (
            "SASL_SSL://user:Secr3t@broker:9092",
            "SASL_SSL://<redacted>@broker:9092",
        ),
        ("user:Secr3t@broker:9092", "<redacted>@broker:9092"),
        (
            "b1:9092,SASL_SSL://user:Secr3t@b2:9092",
            "b1:9092,SASL_SSL://<redacted>@b2:9092",
        ),
    ] {
        let err = error_for("KAFKA_BOOTSTRAP_SERVERS", bad);
        let line = err.to_string();
        assert!(!line.contains("Secr3t"), "{line}");
        assert!(!line.contains("user"), "{line}");
        assert!(err.expected.contains("LIBRDKAFKA_SASL_PASSWORD"), "{line}");
        assert_eq!(err.value, shown);
    }
}

#[test]
fn bootstrap_servers_need_host_and_port() {
    for bad in [
        "localhost",
        "localhost:",
        ":9094",
        "h:99999",
        "h:9094,,h:9095",
        "h:abc",
    ] {
        assert_eq!(
            error_for("KAFKA_BOOTSTRAP_SERVERS", bad).variable,
            "KAFKA_BOOTSTRAP_SERVERS"
        );
    }
    assert!(Config::from_pairs(&[(
        "KAFKA_BOOTSTRAP_SERVERS",
        "SASL_SSL://broker-1:9093, broker-2:9093"
    )])
    .is_ok());
}

#[test]
fn names_follow_kafka_rules() {
    for name in [
        "TEST_TOPIC_NAME",
        "CONSUMER_GROUP_ID_1",
        "CONSUMER_GROUP_ID_2",
    ] {
        assert_eq!(error_for(name, "has space").variable, name);
        assert_eq!(error_for(name, "..").variable, name);
        assert_eq!(error_for(name, &"x".repeat(250)).variable, name);
    }
}

#[test]
fn acks_and_idempotence_must_agree() {
    assert_eq!(error_for("PRODUCER_ACKS", "2").variable, "PRODUCER_ACKS");
    let err =
        Config::from_pairs(&[("PRODUCER_ACKS", "1")]).expect_err("idempotence needs acks=all");
    assert!(
        err.expected.contains("PRODUCER_ENABLE_IDEMPOTENCE"),
        "{err}"
    );
    assert_eq!(
        error_for("PRODUCER_ENABLE_IDEMPOTENCE", "maybe").expected,
        "true or false"
    );
    assert!(Config::from_pairs(&[("PRODUCER_ACKS", "-1")]).is_ok());
}

#[test]
fn using_the_latest_version_excludes_registering() {
    let err = Config::from_pairs(&[("SCHEMA_REGISTRY_USE_LATEST", "true")])
        .expect_err("auto-register is on by default");
    assert_eq!(err.variable, "SCHEMA_REGISTRY_AUTO_REGISTER");
    assert!(
        err.expected.contains("SCHEMA_REGISTRY_USE_LATEST=true"),
        "{err}"
    );
    let config = Config::from_pairs(&[
        ("SCHEMA_REGISTRY_USE_LATEST", "true"),
        ("SCHEMA_REGISTRY_AUTO_REGISTER", "false"),
    ])
    .expect("a read-only producer with the latest version");
    assert!(config.schema_registry_use_latest);
    assert!(
        !Config::from_pairs(&[])
            .expect("defaults")
            .schema_registry_use_latest
    );
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let help = help_text();
    for var in VARIABLES {
        assert!(help.contains(var.name), "{} missing from --help", var.name);
    }
    assert!(help.contains("[localhost:9094]"));
    assert!(help.contains("[10]"));
}

#[test]
fn debug_shows_every_field_but_no_secret() {
    let c = Config::from_pairs(&[
        ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "bob:s3cret"),
        ("PRODUCER_KEY", "fixed-key"),
        ("PRODUCER_RETRIES", "3"),
    ])
    .expect("valid");
    let shown = format!("{c:?}");
    // The fields a hand-written Debug once left out, and the redacted secret.
    for part in [
        "producer_key: Some(\"fixed-key\")",
        "retries: Some(3)",
        "flush_timeout:",
        "schema_registry_retries: 12",
        "schema_registry_user_info: Some(<redacted>)",
    ] {
        assert!(shown.contains(part), "{part} missing from {shown}");
    }
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn every_declared_variable_has_a_unique_name_and_help() {
    let mut names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), VARIABLES.len(), "a variable is declared twice");
    assert!(VARIABLES.iter().all(|v| !v.help.is_empty()));
    assert_eq!(default_of("BATCH_SIZE"), "10");
    assert_eq!(default_of("RUST_LOG"), "info");
}

#[test]
fn the_flush_must_fit_in_the_stop_deadline() {
    let err = Config::from_pairs(&[("FLUSH_TIMEOUT_MS", "20000")]).expect_err("flush = stop");
    assert_eq!(err.variable, "FLUSH_TIMEOUT_MS");
    assert!(err.expected.contains("STOP_TIMEOUT_MS (20000)"), "{err}");
    let c = Config::from_pairs(&[("FLUSH_TIMEOUT_MS", "20000"), ("STOP_TIMEOUT_MS", "25000")])
        .expect("valid");
    assert_eq!(c.stop_timeout, Duration::from_secs(25));
    assert_eq!(
        error_for("STOP_TIMEOUT_MS", "999").variable,
        "STOP_TIMEOUT_MS"
    );
}

#[test]
fn subject_name_strategies_name_subjects_as_confluent_does() {
    for (value, subject) in [
        ("topic", "t-value"),
        ("TopicNameStrategy", "t-value"),
        ("record", "example.avro.User"),
        (
            "io.confluent.kafka.serializers.subject.RecordNameStrategy",
            "example.avro.User",
        ),
        ("topic_record", "t-example.avro.User"),
        ("TopicRecordNameStrategy", "t-example.avro.User"),
    ] {
        let c = Config::from_pairs(&[("SUBJECT_NAME_STRATEGY", value)]).expect("valid");
        assert_eq!(
            c.subject_name_strategy.subject("t", "example.avro.User"),
            subject,
            "{value}"
        );
    }
    assert_eq!(
        error_for("SUBJECT_NAME_STRATEGY", "by_topic").variable,
        "SUBJECT_NAME_STRATEGY"
    );
}

#[test]
fn an_instance_id_is_a_legal_name_or_the_host_s() {
    let c = Config::from_pairs(&[("CONSUMER_INSTANCE_ID", "node-1.eu")]).expect("valid");
    assert_eq!(c.consumer_instance_id.as_deref(), Some("node-1.eu"));
    let host = Config::from_pairs(&[("CONSUMER_INSTANCE_ID", "hostname")]).expect("host name");
    assert!(host
        .consumer_instance_id
        .is_some_and(|h| !h.is_empty() && h != "hostname"));
    for bad in ["has space", "ü", &"x".repeat(241)] {
        assert_eq!(
            error_for("CONSUMER_INSTANCE_ID", bad).variable,
            "CONSUMER_INSTANCE_ID"
        );
    }
}

#[test]
fn producer_keys_is_a_count_and_not_with_a_fixed_key() {
    let c = Config::from_pairs(&[("PRODUCER_KEYS", "16")]).expect("valid");
    assert_eq!(c.producer_keys, Some(16));
    let error =
        Config::from_pairs(&[("PRODUCER_KEYS", "16"), ("PRODUCER_KEY", "k")]).expect_err("both");
    assert_eq!(error.variable, "PRODUCER_KEYS");
    assert!(Config::from_pairs(&[("PRODUCER_KEYS", "-1")]).is_err());
}

/// A value that is not UTF-8 (a Latin-1 topic name or password) was dropped, and the default
/// used without a word: now an error naming the variable, for the variables the daemon reads.
#[test]
fn a_value_that_is_not_utf8_is_an_error_for_a_variable_the_daemon_reads() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let latin1 = || OsString::from_vec(b"caf\xe9".to_vec());
    for name in [
        "TEST_TOPIC_NAME",
        "BATCH_SIZE",
        "LIBRDKAFKA_SASL_PASSWORD",
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO_FILE",
    ] {
        let error =
            Config::from_os_vars([(OsString::from(name), latin1())]).expect_err("not UTF-8");
        assert_eq!(
            error.to_string(),
            format!("{name}=\"<not UTF-8>\" is invalid: expected a value in UTF-8")
        );
    }
    let others = [
        (OsString::from("LANG_OF_SOMETHING_ELSE"), latin1()),
        (OsString::from_vec(b"N\xe4ME".to_vec()), latin1()),
        (OsString::from("BATCH_SIZE"), OsString::from("7")),
    ];
    let config = Config::from_os_vars(others).expect("only BATCH_SIZE read");
    assert_eq!(config.batch_size, 7);
}
