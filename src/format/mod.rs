//! What a record looks like on the wire: the Confluent frame (magic byte, schema id) written
//! by hand ([`frame`]), the `User` record and its schema ([`user`]), and its Avro encoding,
//! with schema resolution for other writers ([`avro`]).

mod avro;
mod frame;
mod user;

pub use avro::{AvroError, UserCodec, WriterSchema};
pub use frame::{decode_framed, encode_framed, write_header, FrameError, HEADER_LEN, MAGIC_BYTE};
pub use user::{User, USER_FULL_NAME, USER_SCHEMA_JSON};
