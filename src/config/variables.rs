//! Every environment variable the daemon reads, declared once: its name, default, help text,
//! parser and the [`Config`] field it fills. Parsing, `--help`, `Debug` and the tests that
//! hold README.md, `systemd/kafka-avro-daemon.env` and the compose file to this list all come
//! from the one table below. To add a variable, add an entry here and use its field.

use std::time::Duration;

use super::parse;
use super::registry_access::{self, PemFile, TokenFile};
use super::secret::{LibrdkafkaProperties, Secret};
use super::{ConfigError, OnDecodeError, OnHandlerError, SubjectNameStrategy, Variable};

/// Declares the [`Config`] struct, the [`VARIABLES`] table and the parser of every field from
/// one list of entries `field: Type { name, default, parse, help }`.
macro_rules! variables {
    (
        $(
            $(#[$meta:meta])*
            $field:ident : $ty:ty {
                name: $name:literal,
                default: $default:literal,
                parse: $parse:expr,
                help: $help:literal $(,)?
            }
        ),* $(,)?
        ;
        $( extra { name: $extra_name:literal, default: $extra_default:literal, help: $extra_help:literal $(,)? } ),* $(,)?
    ) => {
        /// The daemon's validated configuration; see [`VARIABLES`] for what sets each field.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $( $(#[$meta])* pub $field: $ty, )*
            /// Extra librdkafka properties from `LIBRDKAFKA_*` variables, sorted by name.
            pub librdkafka_properties: LibrdkafkaProperties,
        }

        /// Every variable the daemon reads, in the order `--help` shows them.
        pub const VARIABLES: &[Variable] = &[
            $( Variable { name: $name, default: $default, help: $help }, )*
            $( Variable { name: $extra_name, default: $extra_default, help: $extra_help }, )*
        ];

        /// Parses every declared field from `lookup` (blank counts as unset).
        pub(super) fn parse_fields(
            lookup: &dyn Fn(&str) -> Option<String>,
        ) -> Result<Config, ConfigError> {
            Ok(Config {
                $( $field: parse::variable($name, $default, lookup, $parse)?, )*
                librdkafka_properties: LibrdkafkaProperties::default(),
            })
        }
    };
}

variables! {
    /// `bootstrap.servers` for every client.
    bootstrap_servers: String {
        name: "KAFKA_BOOTSTRAP_SERVERS",
        default: "localhost:9094",
        parse: parse::bootstrap_servers,
        help: "comma-separated host:port list of Kafka brokers",
    },
    /// Base URL of the registry, without a trailing slash.
    schema_registry_url: String {
        name: "SCHEMA_REGISTRY_URL",
        default: "http://localhost:8082",
        parse: parse::registry_url,
        help: "base URL of a Confluent-compatible Schema Registry; may carry a path (http://host:8082/apis/ccompat/v7)",
    },
    /// `user:password` for the registry's basic auth.
    schema_registry_user_info: Option<Secret> {
        name: "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO",
        default: "",
        parse: parse::optional(parse::secret),
        help: "user:password for the registry's HTTP basic auth (never logged)",
    },
    /// The file holding the registry's bearer token, re-read on a 401.
    schema_registry_bearer_token: Option<TokenFile> {
        name: "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE",
        default: "",
        parse: parse::optional(registry_access::token_file),
        help: "file holding a bearer token for the registry (Authorization: Bearer), read at start and again whenever the registry answers 401, so a rotated token is picked up; not with SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO (never logged)",
    },
    /// Confluent Cloud's `target-sr-cluster` header (`bearer.auth.logical.cluster`).
    schema_registry_logical_cluster: Option<String> {
        name: "SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER",
        default: "",
        parse: parse::optional(registry_access::header_value),
        help: "with a bearer token: the registry's logical cluster id (lsrc-...), sent as the target-sr-cluster header Confluent Cloud needs",
    },
    /// Confluent Cloud's `Confluent-Identity-Pool-Id` header (`bearer.auth.identity.pool.id`).
    schema_registry_identity_pool: Option<String> {
        name: "SCHEMA_REGISTRY_BEARER_AUTH_IDENTITY_POOL_ID",
        default: "",
        parse: parse::optional(registry_access::header_value),
        help: "with a bearer token: the identity pool id (pool-...), sent as the Confluent-Identity-Pool-Id header Confluent Cloud needs",
    },
    /// The CAs the registry's certificate must chain to (instead of the system's).
    schema_registry_ca: Option<PemFile> {
        name: "SCHEMA_REGISTRY_SSL_CA_LOCATION",
        default: "",
        parse: parse::optional(registry_access::ca_certificates),
        help: "PEM file of the CA certificates an https registry's certificate must chain to; replaces the system's trusted CAs (as Confluent's schema.registry.ssl.truststore does); unset = the system's",
    },
    /// The client certificate chain for mutual TLS.
    schema_registry_certificate: Option<PemFile> {
        name: "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION",
        default: "",
        parse: parse::optional(registry_access::certificate_chain),
        help: "PEM file of the client certificate (chain, leaf first) for a registry that requires mutual TLS; needs SCHEMA_REGISTRY_SSL_KEY_LOCATION",
    },
    /// The client certificate's private key.
    schema_registry_key: Option<PemFile> {
        name: "SCHEMA_REGISTRY_SSL_KEY_LOCATION",
        default: "",
        parse: parse::optional(registry_access::private_key),
        help: "the client certificate's private key: an unencrypted PKCS#8 PEM file (BEGIN PRIVATE KEY); PKCS#1 and encrypted keys are refused (convert with openssl pkcs8 -topk8 -nocrypt) (never logged)",
    },
    /// Whether the daemon registers its schema, or only looks its id up.
    schema_registry_auto_register: bool {
        name: "SCHEMA_REGISTRY_AUTO_REGISTER",
        default: "true",
        parse: parse::boolean,
        help: "true: register the schema at start-up; false: only look up its id under the subject and never write to the registry (the schema must be registered already)",
    },
    /// Whether the producer writes with the subject's latest version instead of its own schema.
    schema_registry_use_latest: bool {
        name: "SCHEMA_REGISTRY_USE_LATEST",
        default: "false",
        parse: parse::boolean,
        help: "true: produce with the subject's latest version (GET /subjects/<subject>/versions/latest) if a User can be written with it: a record whose name is a string and whose other fields have defaults, written from those defaults; needs SCHEMA_REGISTRY_AUTO_REGISTER=false (it never writes to the registry)",
    },
    /// How often a failed registry request is retried.
    schema_registry_retries: u32 {
        name: "SCHEMA_REGISTRY_RETRIES",
        default: "12",
        parse: parse::number(0, 20),
        help: "retries of the schema registration at start-up on connection errors and 5xx, with exponential backoff from 200 ms to 5 s (0-20; the default waits out at least 20 s of a registry restart); records wait for the registry as long as it takes",
    },
    /// How the subject of the schema is named.
    subject_name_strategy: SubjectNameStrategy {
        name: "SUBJECT_NAME_STRATEGY",
        default: "topic",
        parse: parse::subject_name_strategy,
        help: "subject the schema is registered under: topic (<topic>-value), record (example.avro.User) or topic_record (<topic>-example.avro.User), as Confluent's TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy",
    },
    /// How long a registry's 404 for a schema id must last before the record is undecodable.
    schema_not_found_grace: Duration {
        name: "SCHEMA_NOT_FOUND_GRACE_S",
        default: "30",
        parse: parse::seconds(0, 86_400),
        help: "how long the registry must answer 404 for a record's schema id (while serving the daemon's own schema) before the record counts as undecodable; until then it waits",
    },
    /// How long a consumer may wait for the registry before `/readyz` says degraded.
    registry_degraded_after: Duration {
        name: "REGISTRY_DEGRADED_AFTER_S",
        default: "60",
        parse: parse::seconds(1, 86_400),
        help: "seconds a consumer may wait for the registry to give a writer schema before /readyz answers 503 (degraded); /healthz stays 200 while it waits",
    },
    /// The topic produced to and consumed from.
    topic: String {
        name: "TEST_TOPIC_NAME",
        default: "test-topic-homework-1",
        parse: parse::kafka_name,
        help: "topic the producer writes and both consumers read",
    },
    /// Whether missing topics are created at start-up.
    create_topics: bool {
        name: "CREATE_TOPICS",
        default: "false",
        parse: parse::boolean,
        help: "false: a missing topic (or <topic>.dlq with ON_DECODE_ERROR=dlq) stops the start with exit 1; true: the daemon creates it with CREATE_TOPIC_PARTITIONS and CREATE_TOPIC_REPLICATION_FACTOR",
    },
    /// Partitions of a topic the daemon creates (`None`: the brokers' `num.partitions`).
    create_topic_partitions: Option<u32> {
        name: "CREATE_TOPIC_PARTITIONS",
        default: "",
        parse: parse::optional(parse::number(1, 100_000)),
        help: "partitions of a topic created with CREATE_TOPICS=true (1-100000); unset = the brokers' num.partitions",
    },
    /// Replication factor of a topic the daemon creates (`None`: the brokers' default).
    create_topic_replication_factor: Option<u16> {
        name: "CREATE_TOPIC_REPLICATION_FACTOR",
        default: "",
        // librdkafka's own limit (RD_KAFKAP_BROKERS_MAX): past it, CreateTopics fails with a
        // line that blames the brokers.
        parse: parse::optional(parse::number(1, 10_000)),
        help: "replication factor of a topic created with CREATE_TOPICS=true (1-10000, librdkafka's limit); unset = the brokers' default.replication.factor",
    },
    /// Longest wait for the brokers to answer the start-up topic check.
    topic_check_timeout: Duration {
        name: "TOPIC_CHECK_TIMEOUT_S",
        default: "30",
        parse: parse::seconds(1, 3_600),
        help: "how long the start-up check (and creation) of the topics may wait for the brokers before the daemon stops with exit 1 (1-3600)",
    },
    /// Group id of the single-message consumer.
    single_group_id: String {
        name: "CONSUMER_GROUP_ID_1",
        default: "consumer-group-1",
        parse: parse::kafka_name,
        help: "group of the single-message consumer (auto-commit)",
    },
    /// Group id of the batch consumer.
    batch_group_id: String {
        name: "CONSUMER_GROUP_ID_2",
        default: "consumer-group-2",
        parse: parse::kafka_name,
        help: "group of the batch consumer (manual synchronous commit)",
    },
    /// Static group membership: this instance's id, each consumer's derived from it.
    consumer_instance_id: Option<String> {
        name: "CONSUMER_INSTANCE_ID",
        default: "",
        parse: parse::optional(parse::instance_id),
        help: "static group membership (classic protocol): this instance's id, or hostname; each consumer uses <id>-single / <id>-batch as group.instance.id, so a restart within session.timeout.ms gets its partitions back without a rebalance; unset = dynamic members",
    },
    /// Largest batch the batch consumer collects.
    batch_size: usize {
        name: "BATCH_SIZE",
        default: "10",
        parse: parse::number(1, 100_000),
        help: "messages per batch of the batch consumer (1-100000)",
    },
    /// Longest wait, from a batch's first record, before a partial batch is processed.
    batch_max_wait: Duration {
        name: "FETCH_WAIT_MAX_MS",
        default: "1000",
        parse: parse::millis(1, 600_000),
        help: "longest wait for a batch to fill before a partial batch is processed (1-600000)",
    },
    /// Pause between produced records (zero: as fast as the queue allows).
    produce_interval: Duration {
        name: "PRODUCE_INTERVAL_MS",
        default: "100",
        parse: parse::millis(0, 86_400_000),
        help: "pause between produced records; 0 sends as fast as the local queue allows",
    },
    /// Records to produce before the producer stops (`None`: no limit).
    produce_count: Option<u64> {
        name: "PRODUCE_COUNT",
        default: "0",
        parse: parse::zero_is_none(parse::number(0, u64::MAX)),
        help: "stop producing after this many records (the consumers keep running); 0 = no limit",
    },
    /// Fixed key for every record (`None`: a random UUID per record).
    producer_key: Option<String> {
        name: "PRODUCER_KEY",
        default: "",
        parse: parse::optional(parse::text),
        help: "key of every produced record; unset = a random UUID v4 per record",
    },
    /// Cycle through this many keys (`None`: unset).
    producer_keys: Option<u64> {
        name: "PRODUCER_KEYS",
        default: "0",
        parse: parse::zero_is_none(parse::number(0, u64::MAX)),
        help: "key record n with `key-<n mod N>`, cycling through N keys (a bounded key set: each key's records in order in one partition, as a soak or a compacted topic wants); 0 = unset; not with PRODUCER_KEY",
    },
    /// librdkafka `acks`.
    acks: String {
        name: "PRODUCER_ACKS",
        default: "all",
        parse: parse::one_of(&["all", "-1", "0", "1"], "one of all, -1, 0, 1"),
        help: "acks: all, -1, 0 or 1",
    },
    /// librdkafka `enable.idempotence`.
    enable_idempotence: bool {
        name: "PRODUCER_ENABLE_IDEMPOTENCE",
        default: "true",
        parse: parse::boolean,
        help: "idempotent producer: true or false (true needs acks=all)",
    },
    /// librdkafka `message.send.max.retries`, when set.
    retries: Option<u32> {
        name: "PRODUCER_RETRIES",
        default: "",
        parse: parse::optional(parse::number(0, 2_147_483_647)),
        help: "librdkafka message.send.max.retries; unset = librdkafka's default",
    },
    /// librdkafka `linger.ms`.
    linger_ms: u32 {
        name: "PRODUCER_LINGER_MS",
        default: "5",
        parse: parse::number(0, 900_000),
        help: "linger.ms: how long the producer waits to fill a batch (0-900000)",
    },
    /// Time limit of the final producer flush.
    flush_timeout: Duration {
        name: "FLUSH_TIMEOUT_MS",
        default: "10000",
        parse: parse::millis(0, 3_600_000),
        help: "on stop, how long the producer may take to deliver what is queued",
    },
    /// The whole stop's limit: flush, the partial batch's commit, the consumers' close.
    stop_timeout: Duration {
        name: "STOP_TIMEOUT_MS",
        default: "20000",
        parse: parse::millis(1_000, 3_600_000),
        help: "on stop, how long flushing, the last commit and closing may take in all; then the daemon (and consume) exits with status 3, naming what was left (keep it more than 3 s under systemd's TimeoutStopSec: the last line may take 3 s more)",
    },
    /// How long a failing handler is called again with the same record or batch.
    handler_retry_timeout: Duration {
        name: "HANDLER_RETRY_TIMEOUT_MS",
        default: "30000",
        parse: parse::millis(0, 86_400_000),
        help: "how long a record or batch whose handler fails is handed to it again (partitions paused, /readyz degraded) before ON_HANDLER_ERROR applies",
    },
    /// What to do with a record or batch whose handler kept failing.
    on_handler_error: OnHandlerError {
        name: "ON_HANDLER_ERROR",
        default: "fail",
        parse: parse::handler_error_policy,
        help: "a record or batch whose handler failed for HANDLER_RETRY_TIMEOUT_MS: fail (stop with exit 1, left uncommitted) or dlq (copy it, every record of a batch, to <topic>.dlq with the handler's error, then commit)",
    },
    /// What to do with undecodable messages.
    on_decode_error: OnDecodeError {
        name: "ON_DECODE_ERROR",
        default: "skip",
        parse: parse::decode_error_policy,
        help: "undecodable messages: skip (warn and move on), dlq (copy to <topic>.dlq, then move on) or fail (stop with an error)",
    },
    /// How long a missing sequence number of an audited record stays pending before it is lost.
    audit_loss_grace: Duration {
        name: "AUDIT_LOSS_GRACE_S",
        default: "30",
        parse: parse::seconds(1, 86_400),
        help: "delivery audit: seconds a skipped sequence number stays pending (a late record cancels it) before it counts as lost",
    },
    /// Exit with [`crate::EXIT_AUDIT_LOSS`] at stop when the audit found a loss.
    audit_fail_on_loss: bool {
        name: "AUDIT_FAIL_ON_LOSS",
        default: "false",
        parse: parse::boolean,
        help: "delivery audit as a canary check: true = exit with status 4 at stop if any record was lost (the loops keep running meanwhile)",
    },
    /// Interval of the stats log line (`None`: off).
    stats_interval: Option<Duration> {
        name: "STATS_INTERVAL_S",
        default: "30",
        parse: parse::zero_is_none(parse::seconds(0, 86_400)),
        help: "seconds between stats log lines (produced, delivered, consumed, lag, ...); 0 = off",
    },
    /// Address of the metrics endpoint (`None`: off).
    metrics_addr: Option<String> {
        name: "METRICS_ADDR",
        default: "",
        parse: parse::optional(parse::listen_address),
        help: "host:port for the web console (/), Prometheus /metrics and /healthz over HTTP, e.g. 127.0.0.1:9464; unset = off",
    },
    /// Records per consumer the web console shows (0: none, the default).
    console_records: usize {
        name: "CONSOLE_RECORDS",
        default: "0",
        parse: parse::number(0, 20),
        help: "the web console shows each consumer's last N records (key, value, schema id), newest first; 0 = no records shown, since decoded records can be personal data; at most 20",
    },
    ;
    // Read by other code than the field parsers: the pass-through in `super`, the logger.
    extra {
        name: "LIBRDKAFKA_*",
        default: "",
        help: "any librdkafka property: LIBRDKAFKA_SASL_USERNAME=u sets sasl.username=u on every client it applies to; LIBRDKAFKA_PRODUCER_* and LIBRDKAFKA_CONSUMER_* on one kind of client (secret values never logged, <NAME>_FILE reads one from a file)",
    },
    extra {
        name: "RUST_LOG",
        default: "info",
        help: "log filter (error, warn, info, debug, trace, or per module)",
    },
}
