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
    /// The writer schema its value was written with: the id (or GUID) in its Confluent frame
    /// or its `__value_schema_id` header.
    pub writer_schema: SchemaRef,
    /// The decoded value.
    pub value: V,
    /// Its key and headers, copied in one buffer (one allocation per record): see
    /// [`Record::key`] and [`Record::headers`].
    wire: Wire,
}

/// A record's key and headers as bytes, in one buffer: the key, then per header its key's
/// length (4 bytes), its key, its value's length (4 bytes; `u32::MAX` for a null value) and
/// its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Wire {
    bytes: Vec<u8>,
    /// The key's length; `None` for a null key.
    key: Option<usize>,
}

const NULL_VALUE: u32 = u32::MAX;

impl Wire {
    /// A buffer that starts with `key`, for `capacity` bytes in all.
    pub(crate) fn with_key(key: Option<&[u8]>, capacity: usize) -> Wire {
        let mut bytes = Vec::with_capacity(capacity);
        if let Some(key) = key {
            bytes.extend_from_slice(key);
        }
        Wire {
            bytes,
            key: key.map(<[u8]>::len),
        }
    }

    /// Adds the next header.
    pub(crate) fn push_header(&mut self, name: &[u8], value: Option<&[u8]>) {
        // A header's parts come from librdkafka's buffers, far below 4 GiB each.
        let name = &name[..name.len().min(NULL_VALUE as usize - 1)];
        self.bytes
            .extend_from_slice(&(name.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(name);
        match value {
            Some(value) => {
                let value = &value[..value.len().min(NULL_VALUE as usize - 1)];
                self.bytes
                    .extend_from_slice(&(value.len() as u32).to_le_bytes());
                self.bytes.extend_from_slice(value);
            }
            None => self.bytes.extend_from_slice(&NULL_VALUE.to_le_bytes()),
        }
    }
}

/// The headers of a [`Record`], in the order they were written: each key (as bytes: Kafka
/// does not require UTF-8) and value (`None` for a null value).
#[derive(Debug, Clone)]
pub struct Headers<'r> {
    rest: &'r [u8],
}

impl<'r> Iterator for Headers<'r> {
    type Item = (&'r [u8], Option<&'r [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, rest) = take_sized(self.rest)?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let value = match u32::from_le_bytes(*len) {
            NULL_VALUE => {
                self.rest = rest;
                return Some((name, None));
            }
            len => {
                let (value, rest) = rest.split_at_checked(len as usize)?;
                self.rest = rest;
                value
            }
        };
        Some((name, Some(value)))
    }
}

/// A length-prefixed slice at the start of `bytes`, and what follows it.
fn take_sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    rest.split_at_checked(u32::from_le_bytes(*len) as usize)
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
        Record::with_wire(
            Arc::from(topic),
            partition,
            offset,
            None,
            writer_schema,
            value,
            Wire::default(),
        )
    }

    pub(crate) fn with_wire(
        topic: Arc<str>,
        partition: i32,
        offset: i64,
        timestamp_ms: Option<i64>,
        writer_schema: SchemaRef,
        value: V,
        wire: Wire,
    ) -> Record<V> {
        Record {
            topic,
            partition,
            offset,
            timestamp_ms,
            writer_schema,
            value,
            wire,
        }
    }

    /// Its key, as bytes; `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.wire.key.and_then(|len| self.wire.bytes.get(..len))
    }

    /// Its headers, in the order they were written (the daemon's own `kad.audit` stamp
    /// included).
    pub fn headers(&self) -> Headers<'_> {
        let start = self.wire.key.unwrap_or(0);
        Headers {
            rest: self.wire.bytes.get(start..).unwrap_or_default(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_headers_come_back_as_written_from_one_buffer() {
        let headers: Vec<(&[u8], Option<&[u8]>)> = vec![
            (b"kad.audit", Some(b"\x02stamp")),
            (b"\xff\xfe", None),
            (b"", Some(b"")),
        ];
        let mut wire = Wire::with_key(Some(b"key-1"), 64);
        for (name, value) in &headers {
            wire.push_header(name, *value);
        }
        let record = Record::with_wire("t".into(), 0, 7, None, SchemaRef::Id(1), (), wire);
        assert_eq!(record.key(), Some(&b"key-1"[..]));
        assert_eq!(record.headers().collect::<Vec<_>>(), headers);
        let bare = Record::new("t", 0, 8, SchemaRef::Id(1), ());
        assert_eq!((bare.key(), bare.headers().count()), (None, 0));
        let empty_key = Wire::with_key(Some(b""), 0);
        let record = Record::with_wire("t".into(), 0, 9, None, SchemaRef::Id(1), (), empty_key);
        assert_eq!(record.key(), Some(&b""[..]));
    }
}
