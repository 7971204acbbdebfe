//! Reading the topic back, in two consumer groups on their own threads. A message goes
//! `client` (poll) → `intake` (decode with `decoder`, apply `ON_DECODE_ERROR`) → the
//! consumer's commit policy: `single` stores each offset after handling it for auto-commit;
//! `batch` collects records in a `batch_buffer` and commits each batch synchronously.
//! [`ConsumerKind`] names each consumer.

mod batch;
mod batch_buffer;
mod client;
mod decoder;
mod intake;
mod kind;
mod single;
mod unknown_ids;

pub(crate) use batch::run_batch_consumer;
pub use decoder::DecodeError;
pub(crate) use intake::Intake;
pub use kind::ConsumerKind;
pub(crate) use single::run_single_consumer;
pub(crate) use unknown_ids::UnknownSchemaIds;
