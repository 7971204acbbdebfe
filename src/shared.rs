//! What the producers and consumers of one process share ([`Shared`]): the configuration,
//! the stop handle, the registry client, the budget of unknown schema ids and the audit's
//! view of this process's own producer run.

use crate::audit::OwnRun;
use crate::config::Config;
use crate::lifecycle::shutdown::Shutdown;
use crate::ops::stats::Stats;
use crate::registry::{RegistryError, SchemaRegistryClient, UnknownSchemaIds};

/// What the producers and consumers of one process share; build it once, lend it to each.
/// They borrow it for as long as they run.
pub struct Shared {
    pub(crate) config: Config,
    pub(crate) shutdown: Shutdown,
    pub(crate) registry: SchemaRegistryClient,
    /// Ids the registry answered 404 for: one budget of waits for every consumer, so
    /// invented ids cost the process a bounded share of its time (`SCHEMA_NOT_FOUND_GRACE_S`).
    pub(crate) unknown_ids: UnknownSchemaIds,
    /// This process's producer run: the audits put losses down to its failed deliveries.
    pub(crate) own_run: OwnRun,
    /// The process's figures: its producers count into them (the daemon's consumers too).
    pub(crate) stats: Stats,
}

impl Shared {
    /// Creates the registry client for producers and consumers configured by `config` that
    /// stop when `shutdown` says. Nothing is sent to the brokers or the registry yet.
    pub fn new(config: &Config, shutdown: &Shutdown) -> Result<Shared, RegistryError> {
        let registry = SchemaRegistryClient::new(config, shutdown.clone())?;
        Ok(Shared {
            config: config.clone(),
            shutdown: shutdown.clone(),
            registry,
            unknown_ids: UnknownSchemaIds::new(config.schema_not_found_grace),
            own_run: OwnRun::new(config.enable_idempotence),
            stats: Stats::default(),
        })
    }

    /// The configuration they run with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The stop handle every loop watches.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }
}
