//! Configuration from environment variables.
//!
//! - `variables.rs`: every variable, declared once (name, default, help, parser, field);
//! - `parse.rs`: the parsers of single values;
//! - `secret.rs`: values that never reach a log line;
//! - `registry_access.rs`: the registry's TLS files and bearer token file;
//! - `help.rs`: the `--help` text;
//! - `property_scope.rs`: which `LIBRDKAFKA_*` properties reach which kind of client;
//! - here: reading the process environment, the checks across variables, and the
//!   `LIBRDKAFKA_*` pass-through.
//!
//! Parsing is a pure function of `(name, value)` pairs ([`Config::from_vars`]) so tests need
//! no process environment.

mod help;
mod parse;
pub mod property_scope;
mod registry_access;
mod secret;
mod secret_files;
mod variables;

use std::fmt;

pub use help::help_text;
pub use property_scope::ClientKind;
pub use registry_access::{PemFile, TokenFile};
pub use secret::{LibrdkafkaProperties, Secret};
pub use secret_files::is_secret_file_variable;

use secret::PassThrough;
pub use variables::{Config, VARIABLES};

pub(crate) use registry_access::identity as registry_identity;
pub(crate) use secret::{is_secret, without_url_secrets};

/// Prefix for pass-through librdkafka properties: `LIBRDKAFKA_SECURITY_PROTOCOL=SASL_SSL`
/// becomes `security.protocol=SASL_SSL` on every Kafka client. A dedicated prefix (rather than
/// `KAFKA_`) keeps unrelated variables such as `KAFKA_HOME` or `KAFKA_OPTS` out of the clients.
pub const LIBRDKAFKA_PREFIX: &str = "LIBRDKAFKA_";

/// One environment variable the daemon understands, as `--help` and the docs show it.
#[derive(Debug)]
pub struct Variable {
    /// The variable's name (`LIBRDKAFKA_*` stands for the pass-through family).
    pub name: &'static str,
    /// Its default, as the user would write it (empty: unset by default).
    pub default: &'static str,
    /// What it sets and which values it accepts.
    pub help: &'static str,
}

/// Whether the daemon reads variable `name`: one of [`VARIABLES`], a `LIBRDKAFKA_*` property
/// or a secret's `<NAME>_FILE`.
fn is_read(name: &str) -> bool {
    name.starts_with(LIBRDKAFKA_PREFIX)
        || secret_files::is_secret_file_variable(name)
        || VARIABLES.iter().any(|v| v.name == name)
}

/// The declared default of variable `name` (empty when unset by default or unknown).
pub fn default_of(name: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|v| v.name == name)
        .map_or("", |v| v.default)
}

/// What the consumers do with a message they cannot decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDecodeError {
    /// Log a warning and move past it.
    Skip,
    /// Copy it to `<topic>.dlq`, then move past it.
    DeadLetter,
    /// Stop the daemon with an error; the message stays uncommitted.
    Fail,
}

/// What a consumer does with a record (or batch) whose handler kept failing for
/// `HANDLER_RETRY_TIMEOUT_MS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHandlerError {
    /// Stop the consumer with an error (the daemon: exit 1); the record or batch stays
    /// uncommitted and is read again after a restart.
    Fail,
    /// Copy the record (every record of the batch) to `<topic>.dlq` with the handler's error,
    /// then commit it and move on.
    DeadLetter,
}

impl Config {
    /// Whether some consumer may copy records to `<topic>.dlq`.
    pub(crate) fn dead_letters_used(&self) -> bool {
        self.on_decode_error == OnDecodeError::DeadLetter
            || self.on_handler_error == OnHandlerError::DeadLetter
    }
}

/// The dead-letter topic of `topic` (`ON_DECODE_ERROR=dlq`): `<topic>.dlq`. Named here, with
/// the other topic names, because both the start-up topic check and the dead-letter producer
/// need it.
pub(crate) fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// How the subject the schema is registered under is named, as Confluent's serializers name
/// it (`value.subject.name.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectNameStrategy {
    /// `TopicNameStrategy`: `<topic>-value`.
    Topic,
    /// `RecordNameStrategy`: the record's full name, e.g. `example.avro.User`.
    Record,
    /// `TopicRecordNameStrategy`: `<topic>-<record full name>`.
    TopicRecord,
}

impl SubjectNameStrategy {
    /// The subject of the value schema of record `record_full_name` on `topic`.
    pub fn subject(self, topic: &str, record_full_name: &str) -> String {
        match self {
            SubjectNameStrategy::Topic => format!("{topic}-value"),
            SubjectNameStrategy::Record => record_full_name.to_string(),
            SubjectNameStrategy::TopicRecord => format!("{topic}-{record_full_name}"),
        }
    }
}

/// A variable whose value the daemon cannot use; shown as one line for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub variable: String,
    /// The value found (empty for a missing one).
    pub value: String,
    /// What the variable accepts.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is invalid: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration from the process environment. A variable the daemon reads whose
    /// value is not valid UTF-8 is an error (ignored, its default would be used silently);
    /// other variables that are not are ignored.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_os_vars(std::env::vars_os())
    }

    fn from_os_vars(
        os_vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Config, ConfigError> {
        let mut vars = Vec::new();
        for (name, value) in os_vars {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => vars.push((name, value)),
                // The value is not shown: it may be a secret, most of which a lossy form shows.
                Err(_) if is_read(&name) => {
                    return Err(ConfigError {
                        variable: name,
                        value: "<not UTF-8>".to_string(),
                        expected: "a value in UTF-8".to_string(),
                    })
                }
                Err(_) => {}
            }
        }
        Config::from_vars(&vars)
    }

    /// Builds the configuration from `(name, value)` pairs; the last pair of a name wins. A
    /// secret may come from a file instead (`<NAME>_FILE`, see `config/secret_files.rs`), which is read
    /// here.
    pub fn from_vars(vars: &[(String, String)]) -> Result<Config, ConfigError> {
        let read_secrets = secret_files::read(vars)?;
        let vars = &read_secrets;
        let lookup = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut config = variables::parse_fields(&lookup)?;
        config.check_across_variables()?;
        config.librdkafka_properties = librdkafka_properties(vars)?;
        Ok(config)
    }

    /// What single variables cannot check: idempotence needs `acks=all` (librdkafka would
    /// refuse to start otherwise, with a line that does not name our variables), the flush
    /// must fit in the stop deadline, or a stop would always end at the deadline, and the
    /// registry's credentials and client certificate come in whole sets.
    fn check_across_variables(&self) -> Result<(), ConfigError> {
        if self.flush_timeout >= self.stop_timeout {
            return Err(ConfigError {
                variable: "FLUSH_TIMEOUT_MS".to_string(),
                value: self.flush_timeout.as_millis().to_string(),
                expected: format!(
                    "less than STOP_TIMEOUT_MS ({}), which covers the flush and the consumers' close",
                    self.stop_timeout.as_millis()
                ),
            });
        }
        if let (Some(_), Some(keys)) = (&self.producer_key, self.producer_keys) {
            return Err(ConfigError {
                variable: "PRODUCER_KEYS".to_string(),
                value: keys.to_string(),
                expected: "unset while PRODUCER_KEY is set (one fixed key, or N keys in turn)"
                    .to_string(),
            });
        }
        if self.schema_registry_use_latest && self.schema_registry_auto_register {
            return Err(ConfigError {
                variable: "SCHEMA_REGISTRY_AUTO_REGISTER".to_string(),
                value: "true".to_string(),
                expected: "false while SCHEMA_REGISTRY_USE_LATEST=true, which produces with the version already under the subject and never registers one".to_string(),
            });
        }
        if self.enable_idempotence && self.acks != "all" && self.acks != "-1" {
            return Err(ConfigError {
                variable: "PRODUCER_ACKS".to_string(),
                value: self.acks.clone(),
                expected: "all (or -1) while PRODUCER_ENABLE_IDEMPOTENCE=true".to_string(),
            });
        }
        registry_access::check(self)
    }
}

/// Properties the daemon's guarantees depend on, which no `LIBRDKAFKA_*` variable may
/// change: with what to use instead.
const REFUSED_PROPERTIES: &[(&str, &str)] = &[
    (
        "group.id",
        "use CONSUMER_GROUP_ID_1 and CONSUMER_GROUP_ID_2",
    ),
    (
        "enable.auto.commit",
        "each consumer's commit policy depends on it",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored only after a record is handled",
    ),
    ("enable.idempotence", "use PRODUCER_ENABLE_IDEMPOTENCE"),
    (
        "acks",
        "use PRODUCER_ACKS; dead letters always use acks=all",
    ),
    (
        "request.required.acks",
        "use PRODUCER_ACKS; dead letters always use acks=all",
    ),
    (
        "partitioner",
        "the producer picks each record's partition itself, from its key, as the Java client does",
    ),
    // A Java client's setting: librdkafka refuses it, and its error quotes the whole value,
    // password included.
    (
        "sasl.jaas.config",
        "librdkafka has no JAAS: use LIBRDKAFKA_SASL_MECHANISM, LIBRDKAFKA_SASL_USERNAME and LIBRDKAFKA_SASL_PASSWORD",
    ),
];

/// What to use instead of `property`, if the daemon refuses it.
fn refused_property(property: &str) -> Option<&'static str> {
    REFUSED_PROPERTIES
        .iter()
        .find(|(name, _)| *name == property)
        .map(|(_, instead)| *instead)
}

/// The `LIBRDKAFKA_*` pass-through properties, named as librdkafka names them:
/// `LIBRDKAFKA_<NAME>` for every client it applies to, `LIBRDKAFKA_PRODUCER_<NAME>` for the
/// producers only, `LIBRDKAFKA_CONSUMER_<NAME>` for the consumers only.
fn librdkafka_properties(vars: &[(String, String)]) -> Result<LibrdkafkaProperties, ConfigError> {
    let mut properties: Vec<PassThrough> = Vec::new();
    for (name, value) in vars {
        let Some(suffix) = name.strip_prefix(LIBRDKAFKA_PREFIX) else {
            continue;
        };
        let (scope, suffix) = match (
            suffix.strip_prefix("PRODUCER_"),
            suffix.strip_prefix("CONSUMER_"),
        ) {
            (Some(rest), _) => (Some(ClientKind::Producer), rest),
            (_, Some(rest)) => (Some(ClientKind::Consumer), rest),
            _ => (None, suffix),
        };
        let property = suffix.to_ascii_lowercase().replace('_', ".");
        let invalid = |expected: String| ConfigError {
            variable: name.clone(),
            value: if is_secret(&property) {
                "<redacted>".to_string()
            } else {
                value.clone()
            },
            expected,
        };
        let valid = !suffix.is_empty()
            && suffix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(invalid(
                "a name like LIBRDKAFKA_SECURITY_PROTOCOL (upper case, '_' for '.')".to_string(),
            ));
        }
        if let Some(instead) = refused_property(&property) {
            return Err(invalid(format!(
                "no value: {property} is set by the daemon ({instead})"
            )));
        }
        if let Some(kind) = scope {
            if !kind.accepts(&property) {
                let (other, prefix) = match kind {
                    ClientKind::Producer => ("consumers", "LIBRDKAFKA_CONSUMER_"),
                    ClientKind::Consumer => ("producers", "LIBRDKAFKA_PRODUCER_"),
                };
                return Err(invalid(format!(
                    "no value: {property} applies to {other} only (use {prefix}{suffix} or {LIBRDKAFKA_PREFIX}{suffix})"
                )));
            }
        }
        properties.retain(|p| !(p.scope == scope && p.property == property));
        properties.push(PassThrough {
            scope,
            property,
            value: value.clone(),
        });
    }
    // Unscoped first, so a scoped value of the same property is set after it and wins.
    properties.sort();
    Ok(LibrdkafkaProperties(properties))
}

impl Config {
    /// What the configuration allows but the guarantees do not survive: one line each, for a
    /// WARN at start.
    pub(crate) fn weakened_guarantees(&self) -> Vec<String> {
        // The consumers' value: a scoped one is sorted after, and wins over, an unscoped one.
        let reset =
            self.librdkafka_properties.0.iter().rfind(|p| {
                p.scope != Some(ClientKind::Producer) && p.property == "auto.offset.reset"
            });
        // librdkafka's names for the end of a partition.
        let at_end = |p: &&PassThrough| {
            ["latest", "largest", "end"].contains(&p.value.to_ascii_lowercase().as_str())
        };
        reset
            .filter(at_end)
            .map(|reset| {
                let scope = if reset.scope.is_some() { "CONSUMER_" } else { "" };
                format!(
                    "{LIBRDKAFKA_PREFIX}{scope}AUTO_OFFSET_RESET={}: a new consumer group, and a partition added while the daemon runs, start at the end, so records written before the group's first commit there are never consumed (at-least-once holds only after it)",
                    reset.value
                )
            })
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
impl Config {
    /// [`Config::from_vars`] from `(name, value)` string pairs: for the tests of every module.
    pub(crate) fn from_pairs(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_vars(&vars)
    }
}

#[cfg(test)]
mod tests;
