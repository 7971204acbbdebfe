//! What a consumer hands to user code: a [`Record`], and the two handler traits that process
//! records, one at a time ([`RecordHandler`]) or a batch at a time ([`BatchHandler`]).
//!
//! The guarantee both consumers build on these traits: a record's offset is stored (single
//! consumer) or committed (batch consumer) only after its handler returned `Ok`. A handler
//! that returns `Err` is called again with the same record or batch (the consumer keeps
//! polling meanwhile with its partitions paused, so it stays in its group); a handler that
//! panics ends the consumer with an error and nothing of that record or batch committed.

use std::sync::Arc;

use crate::format::SchemaRef;

/// An error returned by a handler: anything that explains the failure in one line.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// One Kafka header as it was on the wire: its key need not be UTF-8, its value may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The header's key, as bytes (Kafka does not require UTF-8).
    pub key: Vec<u8>,
    /// The header's value; `None` for a null value.
    pub value: Option<Vec<u8>>,
}

/// A consumed record whose value was decoded: where it was in the log, what Kafka carried
/// with it, and its value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Record<V> {
    /// Its topic (one of the consumer's topics).
    pub topic: Arc<str>,
    /// Its partition.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Its Kafka timestamp, in milliseconds since the Unix epoch, if it has one.
    pub timestamp_ms: Option<i64>,
    /// Its key, as bytes; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Its headers, in the order they were written (the daemon's own `kad.audit` stamp
    /// included).
    pub headers: Vec<Header>,
    /// The writer schema its value was written with: the id (or GUID) in its Confluent frame
    /// or its `__value_schema_id` header.
    pub writer_schema: SchemaRef,
    /// The decoded value.
    pub value: V,
}

/// Processes records one at a time (the single-message consumer).
///
/// `handle` returning `Ok` is what lets the consumer store the record's offset for the next
/// auto-commit; until then the record is not committed, and after a crash it is read again
/// (at-least-once). `Err` is retried (see [`crate::SingleConsumer`]): make handling
/// idempotent, or keyed by (topic, partition, offset).
pub trait RecordHandler<V>: Send {
    /// Handles one record.
    fn handle(&mut self, record: &Record<V>) -> Result<(), HandlerError>;
}

/// Processes records a batch at a time (the batch consumer).
///
/// `handle_batch` returning `Ok` is what lets the consumer commit the batch's offsets; until
/// then none of them is committed, and after a crash the whole batch is read again
/// (at-least-once). A batch never holds records of partitions the consumer no longer owns.
pub trait BatchHandler<V>: Send {
    /// Handles one batch: records in the order they were read (per partition, by offset).
    fn handle_batch(&mut self, records: &[Record<V>]) -> Result<(), HandlerError>;

    /// Called once per batch, before its first [`BatchHandler::handle_batch`], with how many
    /// messages the batch was read from: its records, and the messages that could not be
    /// decoded (skipped or dead-lettered under `ON_DECODE_ERROR`; not handed over). Does
    /// nothing unless implemented.
    fn batch_read(&mut self, _messages: usize) {}
}

impl<V> Record<V> {
    /// A record of `topic` at `partition` and `offset` with `value`, written with schema
    /// `writer_schema`, without key, headers or timestamp: for testing a handler.
    pub fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        writer_schema: SchemaRef,
        value: V,
    ) -> Record<V> {
        Record {
            topic: Arc::from(topic),
            partition,
            offset,
            timestamp_ms: None,
            key: None,
            headers: Vec::new(),
            writer_schema,
            value,
        }
    }
}

impl<V, F> RecordHandler<V> for F
where
    F: FnMut(&Record<V>) -> Result<(), HandlerError> + Send,
{
    fn handle(&mut self, record: &Record<V>) -> Result<(), HandlerError> {
        self(record)
    }
}

impl<V, F> BatchHandler<V> for F
where
    F: FnMut(&[Record<V>]) -> Result<(), HandlerError> + Send,
{
    fn handle_batch(&mut self, records: &[Record<V>]) -> Result<(), HandlerError> {
        self(records)
    }
}
