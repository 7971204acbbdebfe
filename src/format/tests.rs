//! Tests of the resolving path as a whole (admission, the resolving decoder, through
//! [`UserCodec`](super::UserCodec)): against apache-avro ([`resolution`]), and its bounds
//! against hostile schemas and bytes ([`bounds`]); of the generic decoder ([`generic`]), and a
//! seeded fuzz of its resolution to reader schemas, against the specification and apache-avro
//! ([`resolution_fuzz`]); of the generic encoder ([`generic_encoder`]), the serde codec
//! ([`serde_codec`]) and the Avro JSON values are written as ([`avro_json`]). Each file's own
//! tests are inline in it.

mod avro_json;
mod bounds;
mod generic;
mod generic_encoder;
mod resolution;
mod resolution_fuzz;
mod serde_codec;
