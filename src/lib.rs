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

#![deny(missing_docs)]

mod app;
mod audit;
mod config;
mod consumer;
mod format;
mod handler;
mod kafka;
mod lifecycle;
mod ops;
mod producer;
mod registry;
mod shared;

pub use app::error::{
    DaemonError, LoopError, StartError, EXIT_AUDIT_LOSS, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK,
    EXIT_STOP_DEADLINE,
};
pub use app::run;
pub use config::{Config, ConfigError, OnDecodeError, SubjectNameStrategy};
pub use consumer::{BatchConsumer, ConsumerSettings, DecodeError, SingleConsumer};
pub use format::{
    AvroError, AvroErrorKind, FrameError, SchemaRef, User, UserCodec, ValueDecoder, ValueEncoder,
};
pub use handler::{BatchHandler, HandlerError, Header, Record, RecordHandler};
pub use lifecycle::{Shutdown, StopReason};
pub use producer::{Producer, ProducerError, RegistrationError, SendError};
pub use registry::RegistryError;
pub use shared::Shared;

/// What the binary, the tests and the benchmarks use beyond the library's surface: not part
/// of the API, and may change in any release.
#[doc(hidden)]
pub mod internals {
    /// The daemon's configuration table and helpers.
    pub mod config {
        pub use crate::config::*;
    }
    /// The wire format and the codec's internals.
    pub mod format {
        pub use crate::format::*;
    }
    pub use crate::app::ConsumerKind;
    pub use crate::audit::HEADER_AUDIT;
    pub use crate::config::property_scope;
    pub use crate::consumer::{
        HEADER_ERROR, HEADER_GROUP, HEADER_OFFSET, HEADER_ORIGINAL_HEADERS_SIZE,
        HEADER_ORIGINAL_KEY_SIZE, HEADER_ORIGINAL_VALUE_SIZE, HEADER_PARTITION, HEADER_TOPIC,
    };
    pub use crate::ops::build_info::BuildInfo;
    pub use crate::ops::{log_target, logging};
    pub use crate::producer::java_partition;
}
