//! The Schema Registry: a blocking client for the Confluent REST API (also served by
//! Apicurio's `/apis/ccompat/v7`) that registers the `User` schema once at start-up and fetches
//! writer schemas by id ([`client`]), made self-contained when they use types of other
//! subjects ([`references`]), and how its requests fail ([`error`]).

mod client;
mod error;
mod references;

pub use client::SchemaRegistryClient;
pub use error::RegistryError;
