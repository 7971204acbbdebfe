//! Writing to Kafka: the send loop with its poll thread and final flush ([`send_loop`]), the
//! partition of each record, as the Java client chooses it ([`partitioner`]), and the delivery
//! reports it is judged by ([`delivery`]). The dead-letter copies the consumers make are in
//! `consumer/dead_letter.rs`: only the consumers use them.

pub(crate) mod delivery;
pub(crate) mod partitioner;
pub(crate) mod send_loop;

pub use partitioner::java_partition;
pub(crate) use send_loop::run_producer;
