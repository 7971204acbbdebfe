//! The writer schemas of the records a consumer decoded, and how many records each: for the
//! web console. Only decoded records count (those that could not be decoded are the consumer's
//! decode errors), so records naming made-up ids cannot take the slots of real schemas. Bounded: the first [`SLOTS`] schemas get a count each, every other one is
//! counted together in `others`, so a flood of records naming made-up ids costs nothing more.
//!
//! Written by one consumer thread per record, read by the HTTP thread: a slot is claimed once
//! (its schema written, then `used` set with `Release`) and never changes, and a count is a
//! relaxed atomic, so a record costs a few loads and one add — no lock.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use super::stats::bump_own;

/// A writer schema as a record names it: a registry id, or a GUID (`format::SchemaRef`, which
/// this bottom layer does not import).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaKey {
    Id(u32),
    Guid(u128),
}

impl fmt::Display for SchemaKey {
    /// As the log lines show a schema: an id as its number, a GUID as `guid <uuid>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaKey::Id(id) => write!(f, "{id}"),
            SchemaKey::Guid(guid) => write!(f, "guid {}", uuid::Uuid::from_u128(*guid)),
        }
    }
}

/// Schemas counted one by one; more than a topic's history of compatible versions.
pub(crate) const SLOTS: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct WriterSchemaCounts {
    slots: [Slot; SLOTS],
    /// Records naming a schema beyond the first [`SLOTS`].
    others: AtomicU64,
    /// Slots claimed, in order; only the consumer thread writes it.
    claimed: AtomicU64,
}

#[derive(Debug, Default)]
struct Slot {
    schema: OnceLock<SchemaKey>,
    used: AtomicBool,
    records: AtomicU64,
}

impl WriterSchemaCounts {
    /// Counts one record written with `schema`. Called by one thread only (the consumer's).
    pub(crate) fn count(&self, schema: &SchemaKey) {
        let claimed = self.claimed.load(Ordering::Relaxed) as usize;
        if let Some(slot) = self.slots[..claimed]
            .iter()
            .find(|slot| slot.schema.get() == Some(schema))
        {
            bump_own(&slot.records);
            return;
        }
        let Some(slot) = self.slots.get(claimed) else {
            bump_own(&self.others);
            return;
        };
        let _ = slot.schema.set(*schema);
        slot.records.store(1, Ordering::Relaxed);
        slot.used.store(true, Ordering::Release);
        self.claimed.store(claimed as u64 + 1, Ordering::Relaxed);
    }

    /// Each schema counted with its records, in the order first seen, and the records of the
    /// schemas beyond the first [`SLOTS`].
    pub(crate) fn snapshot(&self) -> (Vec<(SchemaKey, u64)>, u64) {
        let counted = self
            .slots
            .iter()
            .take_while(|slot| slot.used.load(Ordering::Acquire))
            .filter_map(|slot| Some((*slot.schema.get()?, slot.records.load(Ordering::Relaxed))))
            .collect();
        (counted, self.others.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_schema_is_counted_and_a_flood_of_ids_past_the_slots_counted_together() {
        let counts = WriterSchemaCounts::default();
        for _ in 0..3 {
            counts.count(&SchemaKey::Id(7));
        }
        counts.count(&SchemaKey::Id(9));
        let guid = SchemaKey::Guid(5);
        counts.count(&guid);
        assert_eq!(
            counts.snapshot(),
            (
                vec![(SchemaKey::Id(7), 3), (SchemaKey::Id(9), 1), (guid, 1)],
                0
            )
        );
        assert_eq!(
            guid.to_string(),
            "guid 00000000-0000-0000-0000-000000000005"
        );
        // 100,000 more ids: 13 more slots, the rest in `others`.
        for id in 1_000..101_000 {
            counts.count(&SchemaKey::Id(id));
        }
        counts.count(&SchemaKey::Id(7));
        let (counted, others) = counts.snapshot();
        assert_eq!(counted.len(), SLOTS);
        assert_eq!(counted[0], (SchemaKey::Id(7), 4));
        assert_eq!(others, 100_000 - 13);
    }
}
