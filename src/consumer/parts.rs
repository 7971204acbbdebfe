//! What both consumers are built from ([`Parts`]), and what they set up the same way before
//! their loop runs: the figures they count into, the dead-letter producer, the intake, the
//! Kafka client and the audit; and the same steps after it.

use super::audits::Audits;
use super::client::{create_consumer, ConsumerClient};
use super::dead_letter::DeadLetters;
use super::intake::{Entry, Intake};
use super::settings::{ConsumerSettings, Topics};
use crate::format::ValueDecoder;
use crate::lifecycle::LoopError;
use crate::ops::stats::ConsumerStats;
use crate::registry::RegistryProbe;
use crate::shared::Shared;

/// A consumer before it runs: the process's shared pieces, the value decoder, its settings
/// and its handler; the daemon adds its registry probe and its figures.
pub(crate) struct Parts<'s, D, H> {
    pub(crate) shared: &'s Shared,
    pub(crate) codec: &'s D,
    pub(crate) settings: ConsumerSettings,
    pub(crate) handler: H,
    pub(crate) probe: Option<&'s RegistryProbe<'s>>,
    pub(crate) stats: Option<&'s ConsumerStats>,
    /// Called after each record is accounted for, decoded or not (the console's count).
    pub(crate) after_each: Option<AfterEach<'s>>,
}

/// What [`Parts::after_each`] calls, with the consumer's figures and the record's entry.
pub(crate) type AfterEach<'s> = &'s (dyn Fn(&ConsumerStats, &Entry) + Sync);

/// What a consumer's loop starts with.
pub(crate) struct Started<'i, D> {
    pub(crate) intake: &'i Intake<'i, D>,
    pub(crate) client: ConsumerClient<'i>,
    pub(crate) audits: Audits<'i>,
    pub(crate) stats: &'i ConsumerStats,
}

impl<'s, D: ValueDecoder, H> Parts<'s, D, H> {
    pub(crate) fn new(
        shared: &'s Shared,
        codec: &'s D,
        settings: ConsumerSettings,
        handler: H,
    ) -> Parts<'s, D, H> {
        Parts {
            shared,
            codec,
            settings,
            handler,
            probe: None,
            stats: None,
            after_each: None,
        }
    }

    /// Sets up what the loop needs (its client subscribed, with `auto_commit` or not) and
    /// runs `body` with it and the handler; `body` ends with [`wind_up`], then closes the
    /// client.
    pub(crate) fn run(
        self,
        auto_commit: bool,
        body: impl for<'i> FnOnce(Started<'i, D>, H) -> Result<(), LoopError>,
    ) -> Result<(), LoopError> {
        let own_stats;
        let stats = match self.stats {
            Some(stats) => stats,
            None => {
                own_stats = ConsumerStats::default();
                &own_stats
            }
        };
        let shared = self.shared;
        let dead_letters = match shared.config.dead_letters_used() {
            true => Some(
                DeadLetters::create(&shared.config, &shared.shutdown).map_err(|error| {
                    LoopError::CreateClient {
                        client: "dead-letter producer".to_string(),
                        error,
                    }
                })?,
            ),
            false => None,
        };
        let settings = &self.settings;
        let intake = Intake {
            config: &shared.config,
            settings,
            topics: Topics::new(&settings.topics),
            registry: &shared.registry,
            codec: self.codec,
            dead_letters: dead_letters.as_ref(),
            unknown_ids: &shared.unknown_ids,
            own_check: self.probe,
            shutdown: &shared.shutdown,
            after_each: self.after_each,
        };
        let started = Started {
            intake: &intake,
            client: create_consumer(
                settings,
                auto_commit,
                &shared.config,
                &shared.shutdown,
                stats,
            )?,
            audits: Audits::new(
                &settings.name,
                settings.topics.len(),
                shared.config.audit_loss_grace,
                stats,
                &shared.own_run,
            ),
            stats,
        };
        body(started, self.handler)
    }
}

/// How both loops end, before their client is closed: a failure starts the shared stop
/// first (the close waits on the brokers, without end when they hang), then the audit's line
/// and the exit line.
pub(crate) fn wind_up<D>(
    outcome: &Result<(), LoopError>,
    audits: &mut Audits<'_>,
    intake: &Intake<'_, D>,
) {
    intake.shutdown.fail_on_error(outcome);
    let settings = intake.settings;
    audits.finish(&settings.group);
    log::info!(target: &settings.log_target, "{} exiting", settings.name);
}
