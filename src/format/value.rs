//! The two traits that say how values of a record type are read and written: a
//! [`ValueDecoder`] admits a writer schema once and decodes many values with it; a
//! [`ValueEncoder`] names the schema it writes with and encodes values with it. The consumers
//! and the producer are generic over them; [`crate::format::UserCodec`] implements both for
//! [`crate::format::User`].

use super::avro::{UserCodec, WriterSchema};
use super::error::AvroError;
use super::user::User;

/// Reads values of one type from Avro bodies written with any (compatible) writer schema.
///
/// The consumer fetches each writer schema once per id, calls [`ValueDecoder::admit`] once with
/// its text, keeps the plan (or the refusal: every record with that id is then a decode error
/// under `ON_DECODE_ERROR`, without asking the registry again), and calls
/// [`ValueDecoder::decode`] per record. Both must be bounded in time and memory for any input:
/// schema texts and bodies come from other producers.
pub trait ValueDecoder: Sync {
    /// The decoded value handed to handlers.
    type Value: Send;
    /// What `admit` prepared for one writer schema.
    type WriterPlan: Send + Sync;

    /// Prepares the decoding of bodies written with `writer_schema` (the registry's text), or
    /// refuses a schema that cannot be read into [`ValueDecoder::Value`].
    fn admit(&self, writer_schema: &str) -> Result<Self::WriterPlan, AvroError>;

    /// Decodes one Avro body (the bytes after the Confluent frame).
    fn decode(&self, plan: &Self::WriterPlan, body: &[u8]) -> Result<Self::Value, AvroError>;
}

impl ValueDecoder for UserCodec {
    type Value = User;
    type WriterPlan = WriterSchema;

    fn admit(&self, writer_schema: &str) -> Result<WriterSchema, AvroError> {
        self.writer_schema(writer_schema)
    }

    fn decode(&self, plan: &WriterSchema, body: &[u8]) -> Result<User, AvroError> {
        UserCodec::decode(self, plan, body)
    }
}
