//! The two traits that say how values of a record type are read and written: a
//! [`ValueDecoder`] admits a writer schema once and decodes many values with it; a
//! [`ValueEncoder`] names the schema it writes with and encodes values with it. The consumers
//! and the producer are generic over them; [`crate::format::UserCodec`] implements both for
//! [`crate::format::User`].

use super::avro::{UserCodec, WriterSchema};
use super::error::AvroError;
use super::layout::UserLayout;
use super::user::{User, USER_FULL_NAME};

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

/// Writes values of one type as Avro bodies, with the schema it registers or a later version
/// of it (`SCHEMA_REGISTRY_USE_LATEST`).
pub trait ValueEncoder: Sync {
    /// The value a producer sends.
    type Value: ?Sized;
    /// How values are written with one writer schema.
    type WriterPlan: Send + Sync;

    /// The schema registered (or looked up) under the producer's subject.
    fn schema(&self) -> &str;

    /// The record's full name (namespace and name), for the record-name subject strategies,
    /// and its name in error lines.
    fn full_name(&self) -> &str;

    /// How values are written with [`ValueEncoder::schema`] itself.
    fn own_plan(&self) -> Self::WriterPlan;

    /// How values are written with `writer_schema` (the subject's latest version), or why they
    /// cannot be: a field the value lacks must have a default.
    fn plan_for(&self, writer_schema: &str) -> Result<Self::WriterPlan, AvroError>;

    /// Whether `plan` writes fields the value lacks from their defaults (said in the log).
    fn fills_defaults(&self, _plan: &Self::WriterPlan) -> bool {
        false
    }

    /// Appends the Avro body of `value` written as `plan` says to `out`.
    fn encode(
        &self,
        plan: &Self::WriterPlan,
        value: &Self::Value,
        out: &mut Vec<u8>,
    ) -> Result<(), AvroError>;
}

impl ValueEncoder for UserCodec {
    type Value = User;
    type WriterPlan = UserLayout;

    fn schema(&self) -> &str {
        self.registration_text()
    }

    fn full_name(&self) -> &str {
        USER_FULL_NAME
    }

    fn own_plan(&self) -> UserLayout {
        UserLayout::own()
    }

    fn plan_for(&self, writer_schema: &str) -> Result<UserLayout, AvroError> {
        self.layout_for(writer_schema).map(|(layout, _)| layout)
    }

    fn fills_defaults(&self, plan: &UserLayout) -> bool {
        plan.has_defaults()
    }

    fn encode(&self, plan: &UserLayout, value: &User, out: &mut Vec<u8>) -> Result<(), AvroError> {
        plan.encode(value, out);
        Ok(())
    }
}
