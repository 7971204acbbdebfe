//! Writing to Kafka: the [`Producer`] handle with its poll thread and final flush
//! ([`handle`]), the schema it writes with, asked of the registry once ([`registration`]), the
//! partition of each record, as the Java client chooses it ([`partitioner`]), and the delivery
//! reports it is judged by ([`delivery`]). The dead-letter copies the consumers make are in
//! `consumer/dead_letter.rs`: only the consumers use them.

pub(crate) mod delivery;
pub(crate) mod handle;
pub(crate) mod partitioner;
pub(crate) mod registration;

pub use handle::{Producer, ProducerError, SendError};
pub use partitioner::java_partition;
pub use registration::RegistrationError;
