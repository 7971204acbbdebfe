//! Reading topics back: the two consumers a user builds — [`SingleConsumer`] (a handler per
//! record, offsets stored for auto-commit after it) and [`BatchConsumer`] (a handler per
//! batch, a synchronous commit after it) — built on the process's [`crate::Shared`] pieces. A message goes `client`
//! (poll) → `intake` (decode with `decoder`, apply `ON_DECODE_ERROR`; under `dlq`,
//! `dead_letter` copies what cannot be decoded to `<topic>.dlq`) → the consumer's handler,
//! retried by `handler_retry` → its commit policy (`single`, or `batch` with `batch_buffer`
//! and `commit_in_flight`, a commit's answer waited for in slices).

mod audits;
mod batch;
mod batch_buffer;
mod client;
mod commit_in_flight;
mod dead_letter;
mod decoder;
mod handler_retry;
mod intake;
mod parts;
mod settings;
mod single;
mod stages;

pub use batch::BatchConsumer;
pub use dead_letter::{
    HEADER_ERROR, HEADER_GROUP, HEADER_OFFSET, HEADER_ORIGINAL_HEADERS_SIZE,
    HEADER_ORIGINAL_KEY_SIZE, HEADER_ORIGINAL_VALUE_SIZE, HEADER_PARTITION, HEADER_TOPIC,
};
pub use decoder::DecodeError;
pub(crate) use intake::Entry;
pub use settings::ConsumerSettings;
pub(crate) use settings::Membership;
pub use single::SingleConsumer;
