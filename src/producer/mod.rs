//! Writing to Kafka: the send loop with its poll thread and final flush ([`send_loop`]), the
//! partition of each record, as the Java client chooses it ([`partitioner`]), the delivery
//! reports it is judged by ([`delivery`]), and the dead-letter copies the consumers make under
//! `ON_DECODE_ERROR=dlq` ([`dead_letter`]).

pub(crate) mod dead_letter;
pub(crate) mod delivery;
pub(crate) mod partitioner;
pub(crate) mod send_loop;

pub(crate) use dead_letter::{Copied, DeadLetters};
pub use dead_letter::{
    HEADER_ERROR, HEADER_GROUP, HEADER_OFFSET, HEADER_ORIGINAL_HEADERS_SIZE,
    HEADER_ORIGINAL_KEY_SIZE, HEADER_ORIGINAL_VALUE_SIZE, HEADER_PARTITION, HEADER_TOPIC,
};
pub use partitioner::java_partition;
pub(crate) use send_loop::run_producer;
