//! kafka-avro-daemon: a synchronous Kafka + Avro daemon.
//!
//! Start reading at [`daemon::run`]. The data path is
//! [`config`] → [`registry`] (schema id) → [`codec`] + [`wire`] → [`producer`], and
//! consumer → [`decode`] → [`consumer::handle`], with the commit policy of each consumer in
//! [`single_consumer`] and [`batch_consumer`]. [`shutdown`] is shared by every loop; [`monitor`] and [`metrics`] report on them.

#![warn(missing_docs)]

pub mod batch;
pub mod batch_consumer;
pub mod codec;
pub mod config;
pub mod consumer;
pub mod daemon;
pub mod dead_letter;
pub mod decode;
pub mod delivery;
pub mod health;
pub mod kafka;
pub mod latency;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod producer;
pub mod registry;
pub mod shutdown;
pub mod single_consumer;
pub mod stats;
pub mod user;
pub mod wire;
