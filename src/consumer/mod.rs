//! Reading the topic back, in two consumer groups on their own threads. A message goes
//! `client` (poll) → `intake` (decode with `decoder`, apply `ON_DECODE_ERROR`) → the
//! consumer's commit policy: `single` stores each offset after handling it for auto-commit;
//! `batch` collects records in a `batch_buffer` and commits each batch synchronously. Under
//! `ON_DECODE_ERROR=dlq`, `dead_letter` copies what cannot be decoded to `<topic>.dlq`.
//! [`ConsumerKind`] names each consumer.

mod batch;
mod batch_buffer;
mod client;
mod dead_letter;
mod decoder;
mod intake;
mod kind;
mod single;
mod unknown_ids;

pub(crate) use batch::run_batch_consumer;
pub(crate) use dead_letter::DeadLetters;
pub use dead_letter::{
    HEADER_ERROR, HEADER_GROUP, HEADER_OFFSET, HEADER_ORIGINAL_HEADERS_SIZE,
    HEADER_ORIGINAL_KEY_SIZE, HEADER_ORIGINAL_VALUE_SIZE, HEADER_PARTITION, HEADER_TOPIC,
};
pub use decoder::DecodeError;
pub(crate) use intake::Intake;
pub use kind::ConsumerKind;
pub(crate) use single::run_single_consumer;
pub(crate) use unknown_ids::UnknownSchemaIds;
