//! The schema a producer writes with, asked of the registry once, before its first record:
//! its own schema, registered or looked up under the topic's subject
//! (`SCHEMA_REGISTRY_AUTO_REGISTER`), or the subject's latest version
//! (`SCHEMA_REGISTRY_USE_LATEST`), which its values must fit (every field they lack has a
//! default).

use std::fmt;

use crate::config::Config;
use crate::format::{canonical_form, AvroError, ValueEncoder};
use crate::ops::log_target;
use crate::registry::{RegistryError, SchemaRegistryClient};

/// The schema a producer writes with: its id (in every record's prefix), its subject, its
/// text as registered (or as the registry served it), its Parsing Canonical Form (to recognise
/// it when the registry serves it back) and how values are written with it.
pub(crate) struct Registered<P> {
    pub(crate) id: u32,
    pub(crate) subject: String,
    pub(crate) text: String,
    pub(crate) canonical: String,
    pub(crate) plan: P,
}

/// Why the schema to write with could not be had from the registry.
#[derive(Debug)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The schema could not be registered.
    Register {
        /// The record's name.
        record: String,
        /// The subject asked for.
        subject: String,
        /// What the registry said.
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_AUTO_REGISTER=false` and the schema is not under the subject.
    Lookup {
        /// The record's name.
        record: String,
        /// The subject asked for.
        subject: String,
        /// What the registry said.
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_USE_LATEST=true` and the subject's latest version cannot be fetched.
    Latest {
        /// The record's name.
        record: String,
        /// The subject asked for.
        subject: String,
        /// What the registry said.
        error: RegistryError,
    },
    /// `SCHEMA_REGISTRY_USE_LATEST=true` and the values cannot be written with the latest
    /// version.
    LatestUnusable {
        /// The subject asked for.
        subject: String,
        /// The latest version's schema id.
        id: u32,
        /// Why not.
        error: AvroError,
    },
    /// The producer's own schema does not parse.
    OwnSchema(AvroError),
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationError::Register { record, subject, error } => write!(
                f,
                "cannot register the {record} schema under subject {subject}: {error}"
            ),
            RegistrationError::Lookup { record, subject, error } if error.is_not_found() => write!(
                f,
                "the {record} schema is not registered under subject {subject} and SCHEMA_REGISTRY_AUTO_REGISTER=false: {error}; register {} under {subject} first (POST {{\"schema\": …}} to <registry>/subjects/{subject}/versions), or let the daemon register it (SCHEMA_REGISTRY_AUTO_REGISTER=true)",
                if record == "User" { "schemas/user.avsc" } else { "its schema" }
            ),
            RegistrationError::Lookup { record, subject, error } => write!(
                f,
                "cannot look up the {record} schema under subject {subject}: {error}"
            ),
            RegistrationError::Latest { record, subject, error } if error.is_not_found() => write!(
                f,
                "SCHEMA_REGISTRY_USE_LATEST=true but subject {subject} has no version to produce with: {error}; register a version of the {record} schema under {subject} first"
            ),
            RegistrationError::Latest { subject, error, .. } => write!(
                f,
                "cannot fetch the latest version under subject {subject} (SCHEMA_REGISTRY_USE_LATEST=true): {error}"
            ),
            RegistrationError::LatestUnusable { subject, id, error } => write!(
                f,
                "SCHEMA_REGISTRY_USE_LATEST=true but the latest version under subject {subject} (schema id {id}) does not fit: {error}"
            ),
            RegistrationError::OwnSchema(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for RegistrationError {}

/// The schema to write `encoder`'s values to `topic` with, from the registry. `Ok(None)`:
/// stopped while waiting for the registry.
pub(crate) fn schema_to_write_with<E: ValueEncoder>(
    config: &Config,
    registry: &SchemaRegistryClient,
    encoder: &E,
    topic: &str,
) -> Result<Option<Registered<E::WriterPlan>>, RegistrationError> {
    let full_name = encoder.full_name();
    let record = full_name
        .rsplit('.')
        .next()
        .unwrap_or(full_name)
        .to_string();
    let subject = config.subject_name_strategy.subject(topic, full_name);
    if config.schema_registry_use_latest {
        return latest_to_write_with(registry, encoder, record, subject);
    }
    let schema = encoder.schema();
    let canonical = canonical_form(schema).map_err(RegistrationError::OwnSchema)?;
    let (found, verb) = if config.schema_registry_auto_register {
        (registry.register(&subject, schema), "registered")
    } else {
        (registry.lookup(&subject, schema), "found")
    };
    let id = match found {
        Ok(id) => id,
        Err(RegistryError::Interrupted) => return Ok(None),
        Err(error) if config.schema_registry_auto_register => {
            return Err(RegistrationError::Register {
                record,
                subject,
                error,
            })
        }
        Err(error) => {
            return Err(RegistrationError::Lookup {
                record,
                subject,
                error,
            })
        }
    };
    log::info!(
        target: log_target::DAEMON,
        "schema {verb} under subject {subject} with id {id}"
    );
    Ok(Some(Registered {
        id,
        subject,
        text: schema.to_string(),
        canonical,
        plan: encoder.own_plan(),
    }))
}

/// The subject's latest version, if `encoder`'s values can be written with it
/// (`SCHEMA_REGISTRY_USE_LATEST`). `Ok(None)`: stopped while waiting for the registry.
fn latest_to_write_with<E: ValueEncoder>(
    registry: &SchemaRegistryClient,
    encoder: &E,
    record: String,
    subject: String,
) -> Result<Option<Registered<E::WriterPlan>>, RegistrationError> {
    let (id, text) = match registry.latest(&subject) {
        Ok(latest) => latest,
        Err(RegistryError::Interrupted) => return Ok(None),
        Err(error) => {
            return Err(RegistrationError::Latest {
                record,
                subject,
                error,
            })
        }
    };
    let unusable = |error| RegistrationError::LatestUnusable {
        subject: subject.clone(),
        id,
        error,
    };
    let plan = encoder.plan_for(&text).map_err(unusable)?;
    let canonical = canonical_form(&text).map_err(unusable)?;
    let defaults = if encoder.fills_defaults(&plan) {
        ", its other fields written from their defaults"
    } else {
        ""
    };
    log::info!(
        target: log_target::DAEMON,
        "producing with the latest version under subject {subject}, id {id}{defaults}"
    );
    Ok(Some(Registered {
        id,
        subject,
        text,
        canonical,
        plan,
    }))
}
