//! Whether the registry still serves the daemon's own schema under its id, unchanged. It is
//! the one answer the daemon can check: it registered (or looked up) that schema at start-up.
//! A registry that serves it is the same, healthy registry, so its 404 for another id can be
//! believed; a registry that serves *another* schema under our id (an in-memory registry
//! restarted and reusing ids, a restored backup, a misrouted proxy) contradicts what it told
//! us, and every reader of our records would decode them with the wrong schema.
//!
//! Shared by both consumers and the producer. The consumers ask before they believe a 404
//! (answered from memory for [`FRESH_FOR`], so a flood of unknown ids costs no extra
//! request each) and report what they fetched for our id themselves; the `registry-check`
//! thread (`producer/handle.rs`) asks every [`CHECK_EVERY`], so the producer, which holds
//! its records while the registry contradicts us, learns of a change within that time plus
//! one request (at most the registry client's timeout).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{RegistryError, SchemaRegistryClient};
use crate::format::canonical_form;

/// How long an answer about our id is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// How often the `registry-check` thread asks.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);

/// What the registry answered for our id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnAnswer {
    /// Our schema, unchanged.
    Agrees,
    /// Another schema (or a non-Avro one, or text that is no schema at all).
    Contradicts,
    /// No schema: an outage, a refusal, a 404.
    Unanswered,
}

/// Whether the registry still serves a schema known to be there (the producer's) under its
/// id, unchanged: while it does, it is the same, healthy registry, and the consumers believe
/// its 404 for another id (after that id's wait); while it serves another schema under that
/// id, the producer holds its records. A [`crate::Producer`] keeps one
/// ([`crate::Producer::registry_probe`]); give it to the consumers of the same process
/// (`with_registry_probe`). Without one, a consumer believes a 404 once the id's wait is over.
pub struct RegistryProbe<'a> {
    registry: &'a SchemaRegistryClient,
    /// The id checked, and the Parsing Canonical Form of the schema expected under it.
    id: u32,
    canonical: String,
    /// The newest answer and when it came.
    last: Mutex<Option<(Instant, OwnAnswer)>>,
    /// Whether the newest definite answer was [`OwnAnswer::Contradicts`]: read by the
    /// producer before each record, without a lock.
    contradicted: AtomicBool,
}

impl<'a> RegistryProbe<'a> {
    /// A check that the registry serves, under `id`, the schema whose Parsing Canonical Form
    /// is `canonical`.
    pub(crate) fn new(registry: &'a SchemaRegistryClient, id: u32, canonical: String) -> Self {
        RegistryProbe {
            registry,
            id,
            canonical,
            last: Mutex::new(None),
            contradicted: AtomicBool::new(false),
        }
    }

    /// The id checked.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Whether the newest definite answer said the registry serves another schema under our id.
    pub(crate) fn contradicted(&self) -> bool {
        self.contradicted.load(Ordering::Relaxed)
    }

    /// What the registry answers for our id: from memory if asked within [`FRESH_FOR`], else
    /// asked now. The lock is not held during the request: a hung registry must not hold up a
    /// consumer behind another caller's request (two callers may then both ask, rarely).
    pub(crate) fn ask(&self, now: Instant) -> OwnAnswer {
        self.remembered_or_asked(|at| now.saturating_duration_since(at) < FRESH_FOR)
    }

    /// What the registry answers for our id, asked after `since`: from memory only if that
    /// answer came later. A decision that must not rest on an answer older than the fault it
    /// judges (an oversized answer, taken for the schema's size) asks this.
    pub(crate) fn ask_after(&self, since: Instant) -> OwnAnswer {
        self.remembered_or_asked(|at| at >= since)
    }

    /// The remembered answer if `usable` says its time will do, else the registry's now.
    fn remembered_or_asked(&self, usable: impl FnOnce(Instant) -> bool) -> OwnAnswer {
        if let Some((at, answer)) = *self.last.lock().unwrap_or_else(PoisonError::into_inner) {
            if usable(at) {
                return answer;
            }
        }
        let answer = self.judge(&self.registry.schema_by_id(self.id));
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        self.record(&mut last, Instant::now(), answer);
        answer
    }

    /// Takes note of what a consumer fetched for our id itself, and says what it means.
    pub(crate) fn fetched(&self, fetched: &Result<String, RegistryError>) -> OwnAnswer {
        let answer = self.judge(fetched);
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        self.record(&mut last, Instant::now(), answer);
        answer
    }

    fn judge(&self, fetched: &Result<String, RegistryError>) -> OwnAnswer {
        match fetched {
            Ok(text) => match canonical_form(text) {
                Ok(canonical) if canonical == self.canonical => OwnAnswer::Agrees,
                _ => OwnAnswer::Contradicts,
            },
            Err(RegistryError::NotAvro { .. }) => OwnAnswer::Contradicts,
            Err(_) => OwnAnswer::Unanswered,
        }
    }

    /// Keeps the newest answer; a definite one sets the flag either way.
    fn record(&self, last: &mut Option<(Instant, OwnAnswer)>, at: Instant, answer: OwnAnswer) {
        if last.is_some_and(|(previous, _)| previous > at) {
            return;
        }
        *last = Some((at, answer));
        match answer {
            OwnAnswer::Agrees => self.contradicted.store(false, Ordering::Relaxed),
            OwnAnswer::Contradicts => self.contradicted.store(true, Ordering::Relaxed),
            OwnAnswer::Unanswered => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::format::{UserCodec, USER_SCHEMA_JSON};
    use crate::lifecycle::shutdown::Shutdown;

    const OTHER: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}"#;

    fn check_test(test: impl FnOnce(&RegistryProbe<'_>)) {
        // Nothing listens there: every request fails at once.
        let config = Config::from_pairs(&[
            ("SCHEMA_REGISTRY_URL", "http://127.0.0.1:9"),
            ("SCHEMA_REGISTRY_RETRIES", "0"),
        ])
        .expect("config");
        let registry = SchemaRegistryClient::new(&config, Shutdown::new()).expect("client");
        let codec = UserCodec::new().expect("codec");
        let canonical = codec.reader_canonical().to_string();
        test(&RegistryProbe::new(&registry, 1, canonical));
    }

    #[test]
    fn another_schema_under_our_id_contradicts_until_ours_is_served_again() {
        check_test(|check| {
            assert!(!check.contradicted());
            let other = check.fetched(&Ok(OTHER.to_string()));
            assert_eq!(other, OwnAnswer::Contradicts);
            assert!(check.contradicted());
            // An outage says nothing either way.
            let outage = Err(RegistryError::Interrupted);
            assert_eq!(check.fetched(&outage), OwnAnswer::Unanswered);
            assert!(check.contradicted());
            // Ours again, formatted otherwise.
            let ours = format!("  {USER_SCHEMA_JSON}\n");
            assert_eq!(check.fetched(&Ok(ours)), OwnAnswer::Agrees);
            assert!(!check.contradicted());
            let junk = check.fetched(&Ok("not a schema".to_string()));
            assert_eq!(junk, OwnAnswer::Contradicts);
        });
    }

    #[test]
    fn an_answer_is_reused_for_a_second() {
        check_test(|check| {
            check.fetched(&Ok(USER_SCHEMA_JSON.to_string()));
            // Within a second: from memory (asking would fail: nothing listens).
            assert_eq!(check.ask(Instant::now()), OwnAnswer::Agrees);
            let later = Instant::now() + FRESH_FOR;
            assert_eq!(check.ask(later), OwnAnswer::Unanswered);
            assert!(!check.contradicted(), "an outage is not a contradiction");
        });
    }
}
