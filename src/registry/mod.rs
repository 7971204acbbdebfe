//! The Schema Registry: a blocking client for the Confluent REST API (also served by
//! Apicurio's `/apis/ccompat/v7`) that registers the `User` schema once at start-up and fetches
//! writer schemas by id ([`client`]), made self-contained when they use types of other
//! subjects ([`references`]), how its requests fail ([`error`]), and whether it still serves
//! the daemon's own schema under its id ([`own_check`]).

mod client;
mod error;
#[cfg(test)]
pub(crate) mod fake_registry;
mod own_check;
mod references;
pub(crate) mod unknown_ids;

pub use client::SchemaRegistryClient;
pub(crate) use client::{ATTEMPT_BUDGET, REQUEST_TIMEOUT};
pub use error::RegistryError;
pub use own_check::RegistryProbe;
pub(crate) use own_check::{OwnAnswer, CHECK_EVERY};
#[cfg(test)]
pub(crate) use references::MAX_REFERENCES;
pub(crate) use unknown_ids::UnknownSchemaIds;
