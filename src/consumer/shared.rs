//! What the consumers of one process share ([`Shared`]): the configuration, the stop handle,
//! the registry client, the budget of unknown schema ids, the dead-letter producer and the
//! audit's view of this process's own producer run.

use crate::audit::OwnRun;
use crate::config::{Config, OnDecodeError};
use crate::lifecycle::shutdown::Shutdown;
use crate::registry::{RegistryError, SchemaRegistryClient};
use rdkafka::error::KafkaError;

use super::dead_letter::DeadLetters;
use super::unknown_ids::UnknownSchemaIds;

/// What the consumers (and the producer) of one process share; build it once, lend it to
/// each. The consumers borrow it for as long as they run.
pub struct Shared {
    pub(crate) config: Config,
    pub(crate) shutdown: Shutdown,
    pub(crate) registry: SchemaRegistryClient,
    /// Ids the registry answered 404 for: one budget of waits for every consumer, so
    /// invented ids cost the process a bounded share of its time (`SCHEMA_NOT_FOUND_GRACE_S`).
    pub(crate) unknown_ids: UnknownSchemaIds,
    /// This process's producer run: the audits put losses down to its failed deliveries.
    pub(crate) own_run: OwnRun,
    /// The dead-letter producer, with `ON_DECODE_ERROR=dlq`.
    pub(crate) dead_letters: Option<DeadLetters>,
}

impl Shared {
    /// Creates the registry client (and, with `ON_DECODE_ERROR=dlq`, the dead-letter
    /// producer) for consumers configured by `config` that stop when `shutdown` says. Nothing
    /// is sent to the brokers or the registry yet.
    pub fn new(config: &Config, shutdown: &Shutdown) -> Result<Shared, SharedError> {
        let registry =
            SchemaRegistryClient::new(config, shutdown.clone()).map_err(SharedError::Registry)?;
        let dead_letters = match config.on_decode_error {
            OnDecodeError::DeadLetter => Some(
                DeadLetters::create(config, shutdown).map_err(SharedError::DeadLetterProducer)?,
            ),
            OnDecodeError::Skip | OnDecodeError::Fail => None,
        };
        Ok(Shared {
            config: config.clone(),
            shutdown: shutdown.clone(),
            registry,
            unknown_ids: UnknownSchemaIds::new(config.schema_not_found_grace),
            own_run: OwnRun::new(config.enable_idempotence),
            dead_letters,
        })
    }

    /// The configuration the consumers run with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The stop handle every consumer watches.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
}

/// Why the shared pieces could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum SharedError {
    /// The registry client could not be built (a bad URL, TLS files, credentials).
    Registry(RegistryError),
    /// The dead-letter producer (`ON_DECODE_ERROR=dlq`) could not be created.
    DeadLetterProducer(KafkaError),
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SharedError::Registry(e) => write!(f, "schema registry client: {e}"),
            SharedError::DeadLetterProducer(e) => {
                write!(
                    f,
                    "dead-letter producer: cannot create the Kafka client: {e}"
                )
            }
        }
    }
}

impl std::error::Error for SharedError {}
