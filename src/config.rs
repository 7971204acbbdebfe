//! Configuration from environment variables.
//!
//! Every variable the daemon reads is listed once, in [`VARIABLES`], with its default and what
//! it expects; parsing and `--help` both come from that table, so they cannot drift apart.
//! Parsing is a pure function of a lookup closure ([`Config::from_lookup`]) so tests need no
//! process environment.

use std::fmt;
use std::time::Duration;

/// Prefix for pass-through librdkafka properties: `LIBRDKAFKA_SECURITY_PROTOCOL=SASL_SSL`
/// becomes `security.protocol=SASL_SSL` on every Kafka client. A dedicated prefix (rather than
/// `KAFKA_`) keeps unrelated variables such as `KAFKA_HOME` or `KAFKA_OPTS` out of the clients.
pub const LIBRDKAFKA_PREFIX: &str = "LIBRDKAFKA_";

/// One environment variable the daemon understands.
pub struct Variable {
    /// The variable's name.
    pub name: &'static str,
    /// Its default, as the user would write it (empty: unset by default).
    pub default: &'static str,
    /// What it sets and which values it accepts.
    pub help: &'static str,
}

/// Every variable the daemon reads, in the order `--help` shows them.
pub const VARIABLES: &[Variable] = &[
    Variable { name: "KAFKA_BOOTSTRAP_SERVERS", default: "localhost:9094", help: "comma-separated host:port list of Kafka brokers" },
    Variable { name: "SCHEMA_REGISTRY_URL", default: "http://localhost:8082", help: "base URL of a Confluent-compatible Schema Registry; may carry a path (http://host:8082/apis/ccompat/v7)" },
    Variable { name: "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", default: "", help: "user:password for the registry's HTTP basic auth (never logged)" },
    Variable { name: "SCHEMA_REGISTRY_RETRIES", default: "5", help: "retries of a registry request on connection errors and 5xx, with exponential backoff (0-20)" },
    Variable { name: "TEST_TOPIC_NAME", default: "test-topic-homework-1", help: "topic the producer writes and both consumers read" },
    Variable { name: "CONSUMER_GROUP_ID_1", default: "consumer-group-1", help: "group of the single-message consumer (auto-commit)" },
    Variable { name: "CONSUMER_GROUP_ID_2", default: "consumer-group-2", help: "group of the batch consumer (manual synchronous commit)" },
    Variable { name: "BATCH_SIZE", default: "10", help: "messages per batch of the batch consumer (1-100000)" },
    Variable { name: "FETCH_WAIT_MAX_MS", default: "1000", help: "longest wait for a batch to fill before a partial batch is processed (1-600000)" },
    Variable { name: "PRODUCE_INTERVAL_MS", default: "100", help: "pause between produced records; 0 sends as fast as the local queue allows" },
    Variable { name: "PRODUCE_COUNT", default: "0", help: "stop producing after this many records (the consumers keep running); 0 = no limit" },
    Variable { name: "PRODUCER_KEY", default: "", help: "key of every produced record; unset = a random UUID v4 per record" },
    Variable { name: "PRODUCER_ACKS", default: "all", help: "acks: all, -1, 0 or 1" },
    Variable { name: "PRODUCER_ENABLE_IDEMPOTENCE", default: "true", help: "idempotent producer: true or false (true needs acks=all)" },
    Variable { name: "PRODUCER_RETRIES", default: "", help: "librdkafka message.send.max.retries; unset = librdkafka's default" },
    Variable { name: "PRODUCER_LINGER_MS", default: "5", help: "linger.ms: how long the producer waits to fill a batch (0-900000)" },
    Variable { name: "FLUSH_TIMEOUT_MS", default: "10000", help: "on stop, how long the producer may take to deliver what is queued" },
    Variable { name: "ON_DECODE_ERROR", default: "skip", help: "undecodable messages: skip (warn and move on), dlq (copy to <topic>.dlq, then move on) or fail (stop with an error)" },
    Variable { name: "STATS_INTERVAL_S", default: "30", help: "seconds between stats log lines (produced, delivered, consumed, lag, ...); 0 = off" },
    Variable { name: "METRICS_ADDR", default: "", help: "host:port for Prometheus /metrics and /healthz over HTTP, e.g. 127.0.0.1:9464; unset = off" },
    Variable { name: "LIBRDKAFKA_*", default: "", help: "any librdkafka property for all clients: LIBRDKAFKA_SASL_USERNAME=u sets sasl.username=u (values never logged)" },
    Variable { name: "RUST_LOG", default: "info", help: "log filter (error, warn, info, debug, trace, or per module)" },
];

/// `acks` values librdkafka accepts.
const ACKS_VALUES: &[&str] = &["all", "-1", "0", "1"];

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

/// The daemon's validated configuration.
#[derive(Clone, PartialEq)]
pub struct Config {
    /// `bootstrap.servers` for every client.
    pub bootstrap_servers: String,
    /// Base URL of the registry, without a trailing slash.
    pub schema_registry_url: String,
    /// `user:password` for the registry, if it needs basic auth.
    pub schema_registry_user_info: Option<String>,
    /// How often a failed registry request is retried.
    pub schema_registry_retries: u32,
    /// The topic produced to and consumed from.
    pub topic: String,
    /// Group id of the single-message consumer.
    pub single_group_id: String,
    /// Group id of the batch consumer.
    pub batch_group_id: String,
    /// Largest batch the batch consumer collects.
    pub batch_size: usize,
    /// Longest wait for a batch to fill.
    pub batch_max_wait: Duration,
    /// Pause between produced records (zero: as fast as the queue allows).
    pub produce_interval: Duration,
    /// Records to produce before the producer stops (`None`: no limit).
    pub produce_count: Option<u64>,
    /// Fixed key for every record (`None`: a random UUID per record).
    pub producer_key: Option<String>,
    /// librdkafka `acks`.
    pub acks: String,
    /// librdkafka `enable.idempotence`.
    pub enable_idempotence: bool,
    /// librdkafka `message.send.max.retries`, when set.
    pub retries: Option<u32>,
    /// librdkafka `linger.ms`.
    pub linger_ms: u32,
    /// Time limit of the final producer flush.
    pub flush_timeout: Duration,
    /// What to do with undecodable messages.
    pub on_decode_error: OnDecodeError,
    /// Interval of the stats log line (`None`: off).
    pub stats_interval: Option<Duration>,
    /// Address of the metrics endpoint (`None`: off).
    pub metrics_addr: Option<String>,
    /// Extra librdkafka properties from `LIBRDKAFKA_*` variables, sorted by name.
    pub librdkafka_properties: Vec<(String, String)>,
}

/// A variable whose value the daemon cannot use.
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
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Config::from_vars(&vars)
    }

    /// Builds the configuration from `(name, value)` pairs; the last pair of a name wins.
    pub fn from_vars(vars: &[(String, String)]) -> Result<Config, ConfigError> {
        let lookup = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut config = Config::from_lookup(lookup)?;
        config.librdkafka_properties = librdkafka_properties(vars)?;
        Ok(config)
    }

    /// Builds the configuration from a lookup of single variables (no `LIBRDKAFKA_*`
    /// pass-through: that needs the full list, see [`Config::from_vars`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env { lookup: &lookup };
        let acks = env.string("PRODUCER_ACKS")?;
        if !ACKS_VALUES.contains(&acks.as_str()) {
            return Err(env.invalid("PRODUCER_ACKS", &acks, "one of all, -1, 0, 1"));
        }
        let enable_idempotence = env.boolean("PRODUCER_ENABLE_IDEMPOTENCE")?;
        if enable_idempotence && acks != "all" && acks != "-1" {
            return Err(env.invalid(
                "PRODUCER_ACKS",
                &acks,
                "all (or -1) while PRODUCER_ENABLE_IDEMPOTENCE=true",
            ));
        }
        let produce_count = env.number("PRODUCE_COUNT", 0, u64::MAX)?;
        let stats_interval = env.number("STATS_INTERVAL_S", 0, 86_400)?;
        Ok(Config {
            bootstrap_servers: env.bootstrap_servers()?,
            schema_registry_url: env.url("SCHEMA_REGISTRY_URL")?,
            schema_registry_user_info: env.optional("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"),
            schema_registry_retries: env.number("SCHEMA_REGISTRY_RETRIES", 0, 20)? as u32,
            topic: env.name("TEST_TOPIC_NAME")?,
            single_group_id: env.name("CONSUMER_GROUP_ID_1")?,
            batch_group_id: env.name("CONSUMER_GROUP_ID_2")?,
            batch_size: env.number("BATCH_SIZE", 1, 100_000)? as usize,
            batch_max_wait: Duration::from_millis(env.number("FETCH_WAIT_MAX_MS", 1, 600_000)?),
            produce_interval: Duration::from_millis(env.number(
                "PRODUCE_INTERVAL_MS",
                0,
                86_400_000,
            )?),
            produce_count: (produce_count > 0).then_some(produce_count),
            producer_key: env.optional("PRODUCER_KEY"),
            acks,
            enable_idempotence,
            retries: match env.optional("PRODUCER_RETRIES") {
                Some(_) => Some(env.number("PRODUCER_RETRIES", 0, 2_147_483_647)? as u32),
                None => None,
            },
            linger_ms: env.number("PRODUCER_LINGER_MS", 0, 900_000)? as u32,
            flush_timeout: Duration::from_millis(env.number("FLUSH_TIMEOUT_MS", 0, 3_600_000)?),
            on_decode_error: match env.string("ON_DECODE_ERROR")?.to_ascii_lowercase().as_str() {
                "skip" => OnDecodeError::Skip,
                "dlq" => OnDecodeError::DeadLetter,
                "fail" => OnDecodeError::Fail,
                _ => {
                    let value = env.string("ON_DECODE_ERROR")?;
                    return Err(env.invalid("ON_DECODE_ERROR", &value, "skip, dlq or fail"));
                }
            },
            stats_interval: (stats_interval > 0).then(|| Duration::from_secs(stats_interval)),
            metrics_addr: env.socket_address("METRICS_ADDR")?,
            librdkafka_properties: Vec::new(),
        })
    }
}

/// Shows the configuration with every secret replaced, so it can be logged.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: Vec<String> = self
            .librdkafka_properties
            .iter()
            .map(|(k, v)| format!("{k}={}", if is_secret(k) { "<redacted>" } else { v }))
            .collect();
        f.debug_struct("Config")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("schema_registry_url", &self.schema_registry_url)
            .field(
                "schema_registry_user_info",
                &self
                    .schema_registry_user_info
                    .as_ref()
                    .map(|_| "<redacted>"),
            )
            .field("topic", &self.topic)
            .field("single_group_id", &self.single_group_id)
            .field("batch_group_id", &self.batch_group_id)
            .field("batch_size", &self.batch_size)
            .field("batch_max_wait", &self.batch_max_wait)
            .field("produce_interval", &self.produce_interval)
            .field("produce_count", &self.produce_count)
            .field("acks", &self.acks)
            .field("enable_idempotence", &self.enable_idempotence)
            .field("linger_ms", &self.linger_ms)
            .field("on_decode_error", &self.on_decode_error)
            .field("stats_interval", &self.stats_interval)
            .field("metrics_addr", &self.metrics_addr)
            .field("librdkafka_properties", &properties)
            .finish_non_exhaustive()
    }
}

/// Whether a librdkafka property holds a secret that must never be logged.
pub fn is_secret(property: &str) -> bool {
    ["password", "secret", "key.pem", "token", "jaas"]
        .iter()
        .any(|s| property.contains(s))
}

/// The `--help` text: usage, then every variable with its default.
pub fn help_text() -> String {
    let mut text = format!(
        "{name} {version}\n\
         Produces Avro `User` records to Kafka (Confluent wire format) and consumes them with a\n\
         single-message consumer and a batch consumer. Stop with SIGINT or SIGTERM.\n\n\
         Usage: {name} [--help | --version]\n\n\
         Configuration (environment variables, default in brackets):\n",
        name = env!("CARGO_PKG_NAME"),
        version = env!("CARGO_PKG_VERSION"),
    );
    for var in VARIABLES {
        let default = if var.default.is_empty() {
            "unset"
        } else {
            var.default
        };
        text.push_str(&format!(
            "  {:<38} [{}]\n      {}\n",
            var.name, default, var.help
        ));
    }
    text
}

/// Typed access to variables, falling back to the defaults in [`VARIABLES`].
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    /// The value if set and not blank, else the table's default.
    fn string(&self, name: &str) -> Result<String, ConfigError> {
        Ok(self
            .optional(name)
            .unwrap_or_else(|| default_of(name).to_string()))
    }

    /// The value if set and not blank.
    fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn invalid(&self, name: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError {
            variable: name.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    fn number(&self, name: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        let value = self.string(name)?;
        match value.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.invalid(name, &value, &format!("a whole number from {min} to {max}"))),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, ConfigError> {
        let value = self.string(name)?;
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(self.invalid(name, &value, "true or false")),
        }
    }

    /// A topic or group name: Kafka's legal characters, at most 249 of them.
    fn name(&self, name: &str) -> Result<String, ConfigError> {
        let value = self.string(name)?;
        let legal = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if legal && value.len() <= 249 && value != "." && value != ".." {
            Ok(value)
        } else {
            Err(self.invalid(
                name,
                &value,
                "1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'",
            ))
        }
    }

    /// An optional `host:port` to listen on.
    fn socket_address(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let Some(value) = self.optional(name) else {
            return Ok(None);
        };
        match value.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Some(value))
            }
            _ => Err(self.invalid(name, &value, "host:port to listen on, e.g. 127.0.0.1:9464")),
        }
    }

    fn bootstrap_servers(&self) -> Result<String, ConfigError> {
        let name = "KAFKA_BOOTSTRAP_SERVERS";
        let value = self.string(name)?;
        let valid = value.split(',').all(|server| {
            let server = server.trim();
            let server = server.rsplit_once("://").map_or(server, |(_, rest)| rest);
            matches!(server.rsplit_once(':'), Some((host, port))
                if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
        });
        if valid {
            Ok(value)
        } else {
            Err(self.invalid(
                name,
                &value,
                "a comma-separated list of host:port, e.g. localhost:9094",
            ))
        }
    }

    fn url(&self, name: &str) -> Result<String, ConfigError> {
        let value = self.string(name)?;
        let expected = "an http:// or https:// URL, e.g. http://localhost:8082";
        let parsed =
            reqwest::Url::parse(&value).map_err(|_| self.invalid(name, &value, expected))?;
        let usable = matches!(parsed.scheme(), "http" | "https")
            && parsed.host_str().is_some()
            && parsed.query().is_none()
            && parsed.username().is_empty();
        if usable {
            Ok(value.trim_end_matches('/').to_string())
        } else {
            Err(self.invalid(
                name,
                &value,
                &format!("{expected}, without query or credentials (use SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)"),
            ))
        }
    }
}

fn default_of(name: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|v| v.name == name)
        .map_or("", |v| v.default)
}

/// The `LIBRDKAFKA_*` pass-through properties, named as librdkafka names them.
fn librdkafka_properties(vars: &[(String, String)]) -> Result<Vec<(String, String)>, ConfigError> {
    let mut properties: Vec<(String, String)> = Vec::new();
    for (name, value) in vars {
        let Some(suffix) = name.strip_prefix(LIBRDKAFKA_PREFIX) else {
            continue;
        };
        let valid = !suffix.is_empty()
            && suffix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(ConfigError {
                variable: name.clone(),
                value: if is_secret(&suffix.to_ascii_lowercase()) {
                    "<redacted>".to_string()
                } else {
                    value.clone()
                },
                expected: "a name like LIBRDKAFKA_SECURITY_PROTOCOL (upper case, '_' for '.')"
                    .to_string(),
            });
        }
        let property = suffix.to_ascii_lowercase().replace('_', ".");
        properties.retain(|(k, _)| *k != property);
        properties.push((property, value.clone()));
    }
    properties.sort();
    Ok(properties)
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
mod tests {
    use super::*;

    fn error_for(name: &str, value: &str) -> ConfigError {
        Config::from_pairs(&[(name, value)])
            .expect_err(&format!("{name}={value} should be rejected"))
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
        assert_eq!(c.acks, "all");
        assert!(c.enable_idempotence);
        assert_eq!(c.retries, None);
        assert_eq!(c.linger_ms, 5);
        assert_eq!(c.schema_registry_retries, 5);
        assert!(c.librdkafka_properties.is_empty());
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
        assert_eq!(c.schema_registry_user_info.as_deref(), Some("u:p"));
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
                format!(
                    "BATCH_SIZE=\"{bad}\" is invalid: expected a whole number from 1 to 100000"
                )
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
    fn librdkafka_pass_through_maps_names_and_hides_secrets() {
        let c = Config::from_pairs(&[
            ("LIBRDKAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("LIBRDKAFKA_SASL_PASSWORD", "hunter2"),
            ("LIBRDKAFKA_SASL_USERNAME", "alice"),
            ("KAFKA_HOME", "/opt/kafka"),
        ])
        .expect("valid");
        assert_eq!(
            c.librdkafka_properties,
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
    fn help_lists_every_variable_with_its_default() {
        let help = help_text();
        for var in VARIABLES {
            assert!(help.contains(var.name), "{} missing from --help", var.name);
        }
        assert!(help.contains("[localhost:9094]"));
        assert!(help.contains("[10]"));
    }
}
