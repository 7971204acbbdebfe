//! Tests of the resolving path as a whole (admission, the resolving decoder, through
//! [`UserCodec`](super::UserCodec)): against apache-avro ([`resolution`]), and its bounds
//! against hostile schemas and bytes ([`bounds`]). Each file's own tests are inline in it.

mod bounds;
mod generic;
mod resolution;
