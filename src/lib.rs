//! kafka-avro-daemon: a synchronous Kafka + Avro daemon — one producer and two consumer
//! groups on OS threads, records in the Confluent wire format.
//!
//! # Layout
//!
//! The folders follow one record's path; start at [`run`] (`app/mod.rs`):
//!
//! - `config/` — every environment variable, declared once, and its parsing;
//! - `registry/` — the Schema Registry client (the schema id once at start-up, writer schemas
//!   by id);
//! - `format/` — the Confluent frame, the `User` record and its Avro codec;
//! - `producer/` — the send loop, delivery reports, dead letters;
//! - `kafka/` — what every Kafka client shares (settings, one client context);
//! - `consumer/` — poll → intake (decode, `ON_DECODE_ERROR`) → each consumer's commit policy;
//! - `audit/` — the delivery audit: the producer's stamps, each group's ledger of them;
//! - `ops/` — stats, health, metrics and their HTTP endpoint, systemd notify, logging;
//! - `app/` — start-up, threads, shutdown, the retry helper, typed errors.
//!
//! docs/ARCHITECTURE.md draws the data path and the stop sequence. The public surface is
//! what the binary, the tests and the benchmarks use; everything else is crate-private.

mod app;
mod audit;
pub mod config;
mod consumer;
pub mod format;
mod kafka;
mod ops;
mod producer;
mod registry;

pub use app::error::{
    DaemonError, LoopError, StartError, EXIT_AUDIT_LOSS, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK,
    EXIT_STOP_DEADLINE,
};
pub use app::run;
pub use app::shutdown::{Shutdown, StopReason};
pub use audit::HEADER_AUDIT;
pub use config::property_scope;
pub use consumer::{ConsumerKind, DecodeError};
pub use consumer::{
    HEADER_ERROR, HEADER_GROUP, HEADER_OFFSET, HEADER_ORIGINAL_HEADERS_SIZE,
    HEADER_ORIGINAL_KEY_SIZE, HEADER_ORIGINAL_VALUE_SIZE, HEADER_PARTITION, HEADER_TOPIC,
};
pub use ops::build_info::BuildInfo;
pub use ops::{log_target, logging};
pub use producer::java_partition;
pub use registry::RegistryError;
