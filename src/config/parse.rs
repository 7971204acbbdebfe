//! Parsers of single variable values. Each turns the trimmed text of one variable into a
//! field's type, or says what the variable expects; [`variable`] adds the variable's name and
//! default, so a parser knows nothing of either.

use std::time::Duration;

use super::secret::{without_url_secrets, Secret};
use super::{ConfigError, OnDecodeError, OnHandlerError, SubjectNameStrategy};

/// A parser of one variable's value.
pub(super) trait Parse<T> {
    /// `value` is the set value or the default, `None` when both are empty.
    fn parse(&self, value: Option<&str>) -> Result<T, String>;
}

/// A required value: an empty one is handed on as `""` for the parser to reject.
impl<T, F: Fn(&str) -> Result<T, String>> Parse<T> for F {
    fn parse(&self, value: Option<&str>) -> Result<T, String> {
        self(value.unwrap_or(""))
    }
}

/// A value that may be unset; see [`optional`].
pub(super) struct Optional<P>(P);

impl<T, P: Fn(&str) -> Result<T, String>> Parse<Option<T>> for Optional<P> {
    fn parse(&self, value: Option<&str>) -> Result<Option<T>, String> {
        value.map(&self.0).transpose()
    }
}

/// Parses variable `name` from `lookup` (blank counts as unset, then `default` applies).
pub(super) fn variable<T>(
    name: &str,
    default: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    parser: impl Parse<T>,
) -> Result<T, ConfigError> {
    let set = lookup(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let value = set.as_deref().or((!default.is_empty()).then_some(default));
    parser.parse(value).map_err(|expected| ConfigError {
        variable: name.to_string(),
        value: without_url_secrets(value.unwrap_or_default()),
        expected,
    })
}

/// Unset is `None`; a set value goes through `parser`.
pub(super) fn optional<T, P: Fn(&str) -> Result<T, String>>(parser: P) -> Optional<P> {
    Optional(parser)
}

/// Zero (the "off" or "no limit" value) is `None`.
pub(super) fn zero_is_none<T: Default + PartialEq>(
    parser: impl Fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<Option<T>, String> {
    move |value| parser(value).map(|n| (n != T::default()).then_some(n))
}

/// A whole number from `min` to `max`.
pub(super) fn number<T: TryFrom<u64>>(min: u64, max: u64) -> impl Fn(&str) -> Result<T, String> {
    move |value| {
        let expected = || format!("a whole number from {min} to {max}");
        let n = value
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(expected)?;
        T::try_from(n).map_err(|_| expected())
    }
}

/// Milliseconds from `min` to `max`.
pub(super) fn millis(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> {
    let number = number::<u64>(min, max);
    move |value| number(value).map(Duration::from_millis)
}

/// Seconds from `min` to `max`.
pub(super) fn seconds(min: u64, max: u64) -> impl Fn(&str) -> Result<Duration, String> {
    let number = number::<u64>(min, max);
    move |value| number(value).map(Duration::from_secs)
}

/// Any text, as given.
pub(super) fn text(value: &str) -> Result<String, String> {
    Ok(value.to_string())
}

/// A secret, never shown.
pub(super) fn secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

/// One of `values`.
pub(super) fn one_of(
    values: &'static [&'static str],
    expected: &'static str,
) -> impl Fn(&str) -> Result<String, String> {
    move |value| {
        if values.contains(&value) {
            Ok(value.to_string())
        } else {
            Err(expected.to_string())
        }
    }
}

pub(super) fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("true or false".to_string()),
    }
}

/// A topic or group name: Kafka's legal characters, at most 249 of them.
pub(super) fn kafka_name(value: &str) -> Result<String, String> {
    let legal = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if legal && !value.is_empty() && value.len() <= 249 && value != "." && value != ".." {
        Ok(value.to_string())
    } else {
        Err("1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'".to_string())
    }
}

/// A `host:port` to listen on.
pub(super) fn listen_address(value: &str) -> Result<String, String> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(value.to_string())
        }
        _ => Err("host:port to listen on, e.g. 127.0.0.1:9464".to_string()),
    }
}

/// A comma-separated list of `host:port`, each optionally behind a `PROTOCOL://`, and without
/// user info (`user:password@`): librdkafka takes no credentials there, and echoes the whole
/// server name in its warnings.
pub(super) fn bootstrap_servers(value: &str) -> Result<String, String> {
    if value.contains('@') {
        return Err("a comma-separated list of host:port, without credentials (use LIBRDKAFKA_SASL_USERNAME and LIBRDKAFKA_SASL_PASSWORD)".to_string());
    }
    let valid = value.split(',').all(|server| {
        let server = server.trim();
        let server = server.rsplit_once("://").map_or(server, |(_, rest)| rest);
        matches!(server.rsplit_once(':'), Some((host, port))
            if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
    });
    if valid {
        Ok(value.to_string())
    } else {
        Err("a comma-separated list of host:port, e.g. localhost:9094".to_string())
    }
}

/// An `http(s)://` base URL with a host, and no credentials, query or fragment, without a
/// trailing `/`. A fragment has no use in a base URL, and a `#` in a mistyped password would
/// make the rest of the credentials a fragment that every request URL then carries.
pub(super) fn registry_url(value: &str) -> Result<String, String> {
    let expected = "an http:// or https:// URL, e.g. http://localhost:8082";
    let parsed = reqwest::Url::parse(value).map_err(|_| expected.to_string())?;
    let usable = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some()
        && parsed.query().is_none()
        && parsed.fragment().is_none()
        && parsed.username().is_empty()
        && parsed.password().is_none();
    if usable {
        Ok(value.trim_end_matches('/').to_string())
    } else {
        Err(format!(
            "{expected}, without credentials, query or fragment (use SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO for credentials)"
        ))
    }
}

/// `ON_DECODE_ERROR`: skip, dlq or fail, in any case.
pub(super) fn decode_error_policy(value: &str) -> Result<OnDecodeError, String> {
    match value.to_ascii_lowercase().as_str() {
        "skip" => Ok(OnDecodeError::Skip),
        "dlq" => Ok(OnDecodeError::DeadLetter),
        "fail" => Ok(OnDecodeError::Fail),
        _ => Err("skip, dlq or fail".to_string()),
    }
}

/// `ON_HANDLER_ERROR`: fail or dlq, in any case.
pub(super) fn handler_error_policy(value: &str) -> Result<OnHandlerError, String> {
    match value.to_ascii_lowercase().as_str() {
        "fail" => Ok(OnHandlerError::Fail),
        "dlq" => Ok(OnHandlerError::DeadLetter),
        _ => Err("fail or dlq".to_string()),
    }
}

/// `SUBJECT_NAME_STRATEGY`: `topic`, `record`, `topic_record`, or Confluent's class names
/// (`TopicNameStrategy`, `io.confluent.kafka.serializers.subject.RecordNameStrategy`, …).
pub(super) fn subject_name_strategy(value: &str) -> Result<SubjectNameStrategy, String> {
    let class = value.rsplit('.').next().unwrap_or(value);
    match (value.to_ascii_lowercase().as_str(), class) {
        ("topic", _) | (_, "TopicNameStrategy") => Ok(SubjectNameStrategy::Topic),
        ("record", _) | (_, "RecordNameStrategy") => Ok(SubjectNameStrategy::Record),
        ("topic_record", _) | (_, "TopicRecordNameStrategy") => Ok(SubjectNameStrategy::TopicRecord),
        _ => Err("topic, record or topic_record (or Confluent's TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy)".to_string()),
    }
}

/// `CONSUMER_INSTANCE_ID`: a static member id (Kafka's legal name characters), or `hostname`
/// for this host's name. Each consumer adds its own suffix, so the longest id leaves room.
pub(super) fn instance_id(value: &str) -> Result<String, String> {
    let expected = || {
        "hostname, or 1 to 240 characters of a-z, A-Z, 0-9, '.', '_' and '-' (a static group member id)"
            .to_string()
    };
    let id = if value == "hostname" {
        host_name().ok_or_else(|| "hostname: but this host's name cannot be read".to_string())?
    } else {
        value.to_string()
    };
    let legal = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if legal && !id.is_empty() && id.len() <= 240 {
        Ok(id)
    } else if value == "hostname" {
        Err(format!(
            "hostname: but this host's name {id:?} is not a legal member id; set one"
        ))
    } else {
        Err(expected())
    }
}

/// This host's name, as `gethostname(2)` gives it.
fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: `gethostname` writes at most `buffer.len()` bytes into the buffer it is given.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8(buffer[..end].to_vec()).ok()
}
