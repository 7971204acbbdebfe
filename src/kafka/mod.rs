//! What every Kafka client of the daemon shares: its librdkafka settings
//! ([`client_config`]) and one client context for librdkafka's log and error hooks
//! ([`context`]), which each client extends with its own role (delivery reports, rebalances);
//! and the start-up check of the topics ([`topic_check`], on the synchronous admin requests of
//! [`admin`]).

pub(crate) mod admin;
pub(crate) mod client_config;
pub(crate) mod context;
pub(crate) mod headers;
pub(crate) mod topic_check;
mod topic_description;
mod topic_propagation;

pub(crate) use crate::config::ClientKind;
pub(crate) use client_config::{client_config_with, create_client, durable_producer_settings};
pub(crate) use context::{is_connection_noise, ClientEvents, ClientRole};
pub use topic_check::TopicCheckError;
