//! Schema ids (and GUIDs) the registry answered 404 for. Such an answer is the record's fault only when
//! it lasts: a restarted in-memory registry, a restored backup, a lagging follower or a wrong
//! URL answer 404 too. An id becomes *confirmed* unknown once its 404s have lasted the grace
//! period (`SCHEMA_NOT_FOUND_GRACE_S`) and the registry meanwhile still serves the daemon's
//! own schema (checked by the decoder). A confirmed id is not asked for again for
//! [`CONFIRMED_FOR`], so a flood of records with random ids costs no registry round trips
//! once confirmed. Shared by both consumers, bounded in size.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::format::SchemaRef;

/// How long a confirmed unknown id is answered from memory.
const CONFIRMED_FOR: Duration = Duration::from_secs(300);

/// Most ids tracked at once; a writer inventing ids cannot grow the map past this.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
enum Entry {
    /// 404s since this time, not confirmed yet.
    Pending { since: Instant },
    /// Confirmed unknown until this time.
    Confirmed { until: Instant },
}

/// The ids the registry did not know, and since when.
#[derive(Debug)]
pub(crate) struct UnknownSchemaIds {
    grace: Duration,
    entries: Mutex<HashMap<SchemaRef, Entry>>,
}

impl UnknownSchemaIds {
    pub(crate) fn new(grace: Duration) -> UnknownSchemaIds {
        UnknownSchemaIds {
            grace,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long 404s must last before an id can be confirmed unknown.
    pub(crate) fn grace(&self) -> Duration {
        self.grace
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<SchemaRef, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `id` is confirmed unknown (no need to ask the registry again).
    pub(crate) fn is_confirmed(&self, id: SchemaRef, now: Instant) -> bool {
        matches!(self.entries().get(&id), Some(Entry::Confirmed { until }) if *until > now)
    }

    /// Records a 404 for `id`; returns whether its 404s have lasted the grace period.
    pub(crate) fn not_found(&self, id: SchemaRef, now: Instant) -> bool {
        let mut entries = self.entries();
        if !entries.contains_key(&id) && entries.len() >= MAX_TRACKED {
            let grace = self.grace;
            entries.retain(|_, entry| match entry {
                Entry::Confirmed { until } => *until > now,
                // A pending id dropped here starts its grace again: it waits longer, never less.
                Entry::Pending { since } => now.saturating_duration_since(*since) <= grace,
            });
            if entries.len() >= MAX_TRACKED {
                entries.retain(|_, entry| matches!(entry, Entry::Confirmed { .. }));
            }
            if entries.len() >= MAX_TRACKED {
                entries.clear();
            }
        }
        let entry = entries.entry(id).or_insert(Entry::Pending { since: now });
        match entry {
            Entry::Pending { since } => now.saturating_duration_since(*since) >= self.grace,
            Entry::Confirmed { until } if *until > now => true,
            Entry::Confirmed { .. } => {
                // Expired: the id starts over.
                *entry = Entry::Pending { since: now };
                self.grace.is_zero()
            }
        }
    }

    /// Confirms `id` unknown from `now` on.
    pub(crate) fn confirm(&self, id: SchemaRef, now: Instant) {
        self.entries().insert(
            id,
            Entry::Confirmed {
                until: now + CONFIRMED_FOR,
            },
        );
    }

    /// The registry knows `id` after all.
    pub(crate) fn found(&self, id: SchemaRef) {
        self.entries().remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEVEN: SchemaRef = SchemaRef::Id(7);

    #[test]
    fn an_id_is_unknown_only_after_its_404s_last_the_grace_period() {
        let ids = UnknownSchemaIds::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert!(!ids.not_found(SEVEN, t0));
        assert!(!ids.not_found(SEVEN, t0 + Duration::from_secs(29)));
        assert!(ids.not_found(SEVEN, t0 + Duration::from_secs(30)));
        assert!(!ids.is_confirmed(SEVEN, t0 + Duration::from_secs(30)));
        ids.confirm(SEVEN, t0 + Duration::from_secs(30));
        assert!(ids.is_confirmed(SEVEN, t0 + Duration::from_secs(31)));
        assert!(!ids.is_confirmed(SEVEN, t0 + Duration::from_secs(30) + CONFIRMED_FOR));
    }

    #[test]
    fn a_found_id_starts_over() {
        let ids = UnknownSchemaIds::new(Duration::from_secs(30));
        let t0 = Instant::now();
        ids.not_found(SEVEN, t0);
        ids.found(SEVEN);
        assert!(!ids.not_found(SEVEN, t0 + Duration::from_secs(31)));
    }

    #[test]
    fn a_flood_of_ids_stays_bounded_and_never_shortens_a_grace() {
        let ids = UnknownSchemaIds::new(Duration::from_secs(30));
        let t0 = Instant::now();
        for id in 0..(3 * MAX_TRACKED as u32) {
            assert!(!ids.not_found(SchemaRef::Id(id), t0 + Duration::from_millis(u64::from(id))));
        }
        assert!(ids.entries().len() <= MAX_TRACKED);
    }
}
