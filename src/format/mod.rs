//! What a record looks like on the wire: the Confluent frame (magic byte, schema id) written
//! by hand ([`frame`]), the `User` record and its schema ([`user`]), and its Avro encoding
//! ([`avro`]), with schema resolution for other writers: which writer schemas can become a
//! `User` ([`admission`]) and the bounded decoder that reads them ([`resolve`]); and how a
//! `User` is written with another schema, the subject's latest version ([`layout`]). Schema
//! text from outside is parsed only through [`schema_text`], which refuses what would panic
//! apache-avro. Records of any type are decoded by [`generic`] (resolved to a reader schema by
//! [`reader_schema`]) and written as Avro JSON by [`avro_json`]. They all return the one
//! [`AvroError`] ([`error`]), which imports nothing, so imports inside `format/` point one way:
//! `avro` uses the others, none uses `avro`.

mod admission;
mod avro;
mod avro_json;
mod error;
mod frame;
mod generic;
mod generic_encoder;
mod layout;
mod nodes;
mod reader_schema;
mod resolve;
mod schema_text;
mod serde_codec;
#[cfg(test)]
mod tests;
mod user;
mod value;
mod varint;

pub use avro::{canonical_form, UserCodec, WriterSchema};
pub(crate) use avro_json::{push_latin1, push_string, write_avro_json};
pub use error::{AvroError, AvroErrorKind};
pub use frame::{
    decode_framed, encode_framed, locate_datum, parse_schema_id_header, write_header, FrameError,
    SchemaRef, HEADER_LEN, MAGIC_BYTE, VALUE_SCHEMA_ID_HEADER,
};
pub use generic::{GenericCodec, GenericPlan};
pub use generic_encoder::{GenericEncoder, GenericWritePlan};
pub use layout::{OwnSchema, UserLayout};
pub use serde_codec::SerdeCodec;
pub use user::{User, USER_FULL_NAME, USER_SCHEMA_JSON};
pub use value::{ValueDecoder, ValueEncoder};
