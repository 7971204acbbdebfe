//! kafka-avro-daemon: a synchronous Kafka + Avro daemon — one producer and two consumer
//! groups on OS threads, records in the Confluent wire format — and the library it is
//! composed of, for your own records and handlers with the same guarantees.
//!
//! # The library
//!
//! - [`Shared`]: what the producers and consumers of one process share (the configuration,
//!   the stop handle, the registry client); build it once from a [`Config`] and a
//!   [`Shutdown`].
//! - [`Producer`]: sends values from any thread, Avro in the Confluent frame, with the schema
//!   id asked of the registry once; never drops a record on a full queue; [`Producer::close`]
//!   flushes within `FLUSH_TIMEOUT_MS`.
//! - [`SingleConsumer`] with a [`RecordHandler`]: a record's offset is stored for auto-commit
//!   only after its handler returned `Ok`.
//! - [`BatchConsumer`] with a [`BatchHandler`]: a batch is committed synchronously only after
//!   its handler returned `Ok`.
//! - A handler's `Err` is retried with the consumer's partitions paused (it stays in its
//!   group) for `HANDLER_RETRY_TIMEOUT_MS`; then, by `ON_HANDLER_ERROR`, the consumer stops
//!   with an error, nothing of that record or batch committed (`fail`), or copies it to
//!   `<topic>.dlq` and commits (`dlq`); a panic stops it at once, nothing committed. Every undecodable
//!   record goes by `ON_DECODE_ERROR`; decoding is bounded for any bytes and any writer
//!   schema; a registry outage is waited out, never a reason to skip.
//! - [`Shutdown`]: the one stop handle. The library never ends the process: signal handling
//!   ([`Shutdown::install_signal_handler`]) and a deadline on the stop ([`StopDeadline`]) are
//!   opt-in, and errors come back as values.
//!
//! # Layout
//!
//! Folders depend one way, from the daemon's composition down to building blocks
//! (docs/ARCHITECTURE.md draws it): `app/` (the daemon: [`run`]) and `console/` (the
//! `consume` subcommand) → `producer/`, `consumer/`
//! → `shared.rs` → `audit/`, `kafka/`, `registry/` → `handler.rs`, `lifecycle/` (the stop
//! handle, the retry policy, [`LoopError`]) → `ops/` (counters, health, logging), `format/`
//! (the frame, the Avro codec, [`ValueDecoder`], [`ValueEncoder`]) → `config/` (every
//! variable, declared once).
//!
//! What only the binary, the tests and the benchmarks use is in `internals`, hidden and
//! not part of the API.

#![deny(missing_docs)]

mod app;
mod audit;
mod config;
mod console;
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
pub use config::{Config, ConfigError, OnDecodeError, OnHandlerError, SubjectNameStrategy};
pub use consumer::{BatchConsumer, ConsumerSettings, DecodeError, SingleConsumer};
pub use format::{
    AvroError, AvroErrorKind, FrameError, GenericCodec, GenericEncoder, GenericPlan,
    GenericWritePlan, SchemaRef, SerdeCodec, User, UserCodec, ValueDecoder, ValueEncoder,
};
pub use handler::{BatchHandler, HandlerError, Headers, Record, RecordHandler};
pub use lifecycle::{Shutdown, StopDeadline, StopReason};
pub use ops::malloc_arenas::{malloc_arena_per_thread, MallocArenas};
pub use producer::{Producer, ProducerError, RegistrationError, SendError};
pub use registry::{RegistryError, RegistryProbe};
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
    pub use crate::console::run as consume;
    pub use crate::consumer::{
        HEADER_ERROR, HEADER_GROUP, HEADER_OFFSET, HEADER_ORIGINAL_HEADERS_SIZE,
        HEADER_ORIGINAL_KEY_SIZE, HEADER_ORIGINAL_VALUE_SIZE, HEADER_PARTITION, HEADER_TOPIC,
    };
    pub use crate::lifecycle::{last_line, LAST_LINE_GRACE};
    pub use crate::ops::build_info::BuildInfo;
    pub use crate::ops::latency::LatencyHistogram;
    pub use crate::ops::{log_target, logging};
    pub use crate::producer::java_partition;
}
