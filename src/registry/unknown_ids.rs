//! Schema ids (and GUIDs) the registry answered 404 for, and what they may cost. Such an
//! answer is the record's fault only when it lasts: a restarted in-memory registry, a restored
//! backup, a lagging follower or a wrong URL answer 404 too. But waiting is what a writer who
//! invents ids can make the daemon do, so the waiting is bounded in total, not per id:
//!
//! - **Every id is asked for at least once [`FOLLOWER_CATCH_UP`] after its record was known
//!   to be in the log** ([`LogAnchors`]: by the assigned partitions' ends, all noted at
//!   once): if its first 404 came sooner, it is asked again then. A registry follower a few
//!   seconds behind its leader has caught up with a schema registered before the record was
//!   written by then. The records of a backlog were all in the log when the first of them was
//!   read, so only the first unknown id of a backlog waits for this, and ids invented in many
//!   partitions keep a consumer within seconds of the log, not a catch-up per partition.
//! - **Beyond that, an id waits only what it draws from a budget** shared by every id and both
//!   consumers: at most `SCHEMA_NOT_FOUND_GRACE_S` for one id, the budget holding that much and
//!   refilling at that much per [`REFILL_PERIOD`], or per 20 graces for a longer grace, so a
//!   writer can hold the consumers a twentieth of the time at most (drawn in amounts of
//!   [`MIN_DRAW`] or more).
//!   A found id gives back what it did not use. While an id waits it is asked again every
//!   [`RECHECK_EVERY`] by either consumer.
//! - **One consumer asks for an id at a time**: the other waits for that answer rather than
//!   send the same request, so an id confirmed by one costs the other nothing.
//!
//! So records with unknown ids delay the others by at most the grace, one catch-up wait per
//! backlog, the budget's refill and about one registry request per id. An id whose 404s lasted
//! its wait is *confirmed* unknown when the registry meanwhile still serves the daemon's own
//! schema (checked by the decoder), and is not asked for again for [`CONFIRMED_FOR`]. Shared
//! by both consumers, bounded in size. Pure: the caller passes the time.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::format::SchemaRef;
use crate::registry::RegistryError;

/// How long a confirmed unknown id is answered from memory.
const CONFIRMED_FOR: Duration = Duration::from_secs(300);

/// Most ids tracked at once; a writer inventing ids cannot grow the map past this.
const MAX_TRACKED: usize = 10_000;

/// How long after a record was known to be in the log its unknown id is asked for again, at
/// the earliest: a registry follower (or a cache in front of the registry) that lags its
/// leader by a few seconds knows a schema registered before the record was written by then.
pub(crate) const FOLLOWER_CATCH_UP: Duration = Duration::from_secs(3);

/// The budget refills from empty to full in this time at the least, and in
/// [`REFILL_PERIODS_PER_GRACE`] graces for a longer grace: a writer flooding the topic with
/// unknown ids can hold the consumers for at most the grace period per refill, and never more
/// than a twentieth of the time, whatever `SCHEMA_NOT_FOUND_GRACE_S` says.
pub(crate) const REFILL_PERIOD: Duration = Duration::from_secs(600);
const REFILL_PERIODS_PER_GRACE: u32 = 20;

/// The time the budget of `capacity` (the grace) takes to refill from empty.
fn refill_period(capacity: Duration) -> Duration {
    REFILL_PERIOD.max(capacity.saturating_mul(REFILL_PERIODS_PER_GRACE))
}

/// The least an id draws from the budget: a trickle of refill is not worth a request more.
const MIN_DRAW: Duration = Duration::from_secs(1);

/// While an id waits, it is asked for again this often (by whichever consumer comes first).
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(1);

/// While the other consumer asks for an id, this one looks again this often; and gives the
/// other's answer up (asks itself) after [`ASKING_FOR_AT_MOST`].
const OTHERS_ANSWER_POLL: Duration = Duration::from_millis(1);
const ASKING_FOR_AT_MOST: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Entry {
    /// A consumer is asking for the id for the first time.
    Asking { since: Instant },
    /// 404s since `since`, not confirmed yet: lasted once asked for at `until` or later;
    /// `drawn` of that wait came from the budget.
    Pending {
        since: Instant,
        until: Instant,
        drawn: Duration,
        /// When a consumer last asked, and whether that request is still under way.
        last_asked: Instant,
        asking: bool,
    },
    /// Confirmed unknown until this time.
    Confirmed { until: Instant },
}

/// Whether a consumer should ask the registry for an id now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// Ask now, then report the answer ([`UnknownSchemaIds::not_found`],
    /// [`UnknownSchemaIds::found`] or [`UnknownSchemaIds::unanswered`]).
    Now,
    /// Not now (the other consumer is asking, or the id waits): look again at this time.
    At(Instant),
    /// Confirmed unknown: no need to ask.
    Confirmed,
}

/// What a 404 for an id means now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotFound {
    /// Ask the registry again at this time.
    RetryAt(Instant),
    /// The id's 404s have lasted its whole wait, its late-enough ask included.
    Lasted {
        /// Since its first 404.
        waited: Duration,
    },
}

/// Waiting that unknown ids may still cost.
#[derive(Debug)]
struct Budget {
    available: Duration,
    /// When `available` was last brought up to date.
    at: Instant,
}

/// The ids the registry did not know, since when, and the budget they wait from.
#[derive(Debug)]
pub(crate) struct UnknownSchemaIds {
    grace: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    entries: HashMap<SchemaRef, Entry>,
    budget: Budget,
    /// Since when the registry is known to lack a GUID endpoint, and its answer.
    no_guid_endpoint: Option<(Instant, RegistryError)>,
}

/// How long the registry's lack of a GUID endpoint is believed before it is asked again (a
/// registry upgraded in place): bounds the requests a flood of GUID-framed records costs.
const NO_GUID_ENDPOINT_FOR: Duration = Duration::from_secs(60);

impl UnknownSchemaIds {
    pub(crate) fn new(grace: Duration) -> UnknownSchemaIds {
        UnknownSchemaIds::starting_at(grace, Instant::now())
    }

    fn starting_at(grace: Duration, now: Instant) -> UnknownSchemaIds {
        let budget = Budget {
            available: grace,
            at: now,
        };
        UnknownSchemaIds {
            grace,
            state: Mutex::new(State {
                entries: HashMap::new(),
                budget,
                no_guid_endpoint: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether to ask the registry for `id` now; [`Ask::Now`] marks the request under way.
    pub(crate) fn ask(&self, id: SchemaRef, now: Instant) -> Ask {
        let mut state = self.state();
        let entries = &mut state.entries;
        let others_answer = now + OTHERS_ANSWER_POLL;
        match entries.get_mut(&id) {
            Some(Entry::Confirmed { until }) if *until > now => return Ask::Confirmed,
            Some(Entry::Asking { since }) if now < *since + ASKING_FOR_AT_MOST => {
                return Ask::At(others_answer)
            }
            Some(Entry::Pending {
                until,
                last_asked,
                asking,
                ..
            }) => {
                if *asking && now < *last_asked + ASKING_FOR_AT_MOST {
                    return Ask::At(others_answer);
                }
                let next = (*last_asked + RECHECK_EVERY).min(*until);
                if now < next {
                    return Ask::At(next);
                }
                *asking = true;
                *last_asked = now;
                return Ask::Now;
            }
            _ => {}
        }
        if !entries.contains_key(&id) && entries.len() >= MAX_TRACKED {
            make_room(entries, now);
        }
        entries.insert(id, Entry::Asking { since: now });
        Ask::Now
    }

    /// Records a 404 for `id`, whose record has been in the log since `in_log_since`.
    pub(crate) fn not_found(&self, id: SchemaRef, now: Instant, in_log_since: Instant) -> NotFound {
        let grace = self.grace;
        let mut state = self.state();
        let State {
            entries, budget, ..
        } = &mut *state;
        match entries.get_mut(&id) {
            Some(Entry::Pending {
                since,
                until,
                last_asked,
                asking,
                ..
            }) => {
                *asking = false;
                *last_asked = now;
                if now >= *until {
                    NotFound::Lasted {
                        waited: now.saturating_duration_since(*since),
                    }
                } else {
                    NotFound::RetryAt((now + RECHECK_EVERY).min(*until))
                }
            }
            Some(Entry::Confirmed { until }) if *until > now => NotFound::Lasted {
                waited: Duration::ZERO,
            },
            // The first 404 (or the first after a confirmation expired).
            _ => {
                budget.refill(grace, now);
                let drawn = budget.draw(grace);
                let until = (in_log_since.min(now) + FOLLOWER_CATCH_UP).max(now + drawn);
                if until <= now {
                    // Asked late enough, and nothing to wait from the budget.
                    entries.remove(&id);
                    return NotFound::Lasted {
                        waited: Duration::ZERO,
                    };
                }
                entries.insert(
                    id,
                    Entry::Pending {
                        since: now,
                        until,
                        drawn,
                        last_asked: now,
                        asking: false,
                    },
                );
                NotFound::RetryAt((now + RECHECK_EVERY).min(until))
            }
        }
    }

    /// Notes that the registry has no GUID endpoint (`error`, its answer), as a GUID's wait
    /// ended with it: believed by every consumer for [`NO_GUID_ENDPOINT_FOR`].
    pub(crate) fn lacks_guid_endpoint(&self, error: RegistryError, now: Instant) {
        self.state().no_guid_endpoint = Some((now, error));
    }

    /// The registry's answer that it has no GUID endpoint, while believed.
    pub(crate) fn no_guid_endpoint(&self, now: Instant) -> Option<RegistryError> {
        let state = self.state();
        let (since, error) = state.no_guid_endpoint.as_ref()?;
        (now.saturating_duration_since(*since) < NO_GUID_ENDPOINT_FOR).then(|| error.clone())
    }

    /// Confirms `id` unknown from `now` on.
    pub(crate) fn confirm(&self, id: SchemaRef, now: Instant) {
        self.state().entries.insert(
            id,
            Entry::Confirmed {
                until: now + CONFIRMED_FOR,
            },
        );
    }

    /// The registry knows `id` after all: what it drew from the budget and did not wait goes
    /// back.
    pub(crate) fn found(&self, id: SchemaRef, now: Instant) {
        let grace = self.grace;
        let mut state = self.state();
        if let Some(Entry::Pending { until, drawn, .. }) = state.entries.remove(&id) {
            let unused = until.saturating_duration_since(now).min(drawn);
            state.budget.refill(grace, now);
            state.budget.available = (state.budget.available + unused).min(grace);
        }
    }

    /// The request for `id` got no answer about it (an outage, a refusal): the next consumer
    /// may ask.
    pub(crate) fn unanswered(&self, id: SchemaRef) {
        let mut state = self.state();
        match state.entries.get_mut(&id) {
            Some(Entry::Asking { .. }) => {
                state.entries.remove(&id);
            }
            Some(Entry::Pending { asking, .. }) => *asking = false,
            _ => {}
        }
    }
}

/// Drops what is no longer needed to make room for a new id: expired confirmations and
/// pending ids whose wait is over (such an id starts over: it waits again, never less), then
/// every pending id, then everything.
fn make_room(entries: &mut HashMap<SchemaRef, Entry>, now: Instant) {
    entries.retain(|_, entry| match entry {
        Entry::Confirmed { until } => *until > now,
        Entry::Pending { until, .. } => *until > now,
        Entry::Asking { since } => now < *since + ASKING_FOR_AT_MOST,
    });
    if entries.len() >= MAX_TRACKED {
        entries.retain(|_, entry| matches!(entry, Entry::Confirmed { .. }));
    }
    if entries.len() >= MAX_TRACKED {
        entries.clear();
    }
}

impl Budget {
    /// Adds what refilled since the last update, up to `capacity`.
    fn refill(&mut self, capacity: Duration, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at);
        let refilled = capacity
            .mul_f64((elapsed.as_secs_f64() / refill_period(capacity).as_secs_f64()).min(1.0));
        self.available = (self.available + refilled).min(capacity);
        self.at = now;
    }

    /// Takes up to `want`; nothing if less than [`MIN_DRAW`] is left (and `want` is more).
    fn draw(&mut self, want: Duration) -> Duration {
        let drawn = want.min(self.available);
        if drawn < MIN_DRAW.min(want) {
            return Duration::ZERO;
        }
        self.available -= drawn;
        drawn
    }
}

/// Since when a consumer's records have been in the log, as far as it can tell without a
/// request and without believing a writer: when an unknown id is met in a record no anchor
/// covers, the ends of every assigned partition as librdkafka last heard them from a fetch
/// (cached high watermarks) say every record before them was in the log by then. One per
/// consumer.
///
/// Every partition is anchored at once, not only the record's: a writer spreading invented
/// ids over many partitions otherwise had each such record, read after its partition's last
/// anchor, anchored "now" and waiting the whole catch-up, and kept the consumer
/// `FOLLOWER_CATCH_UP` × partitions behind for as long as it went on. Anchored together, the
/// records written during one catch-up wait are covered by the next anchor and share its
/// wait. (A record's timestamp is not used: a writer can date it in the future, which undid
/// this, or in the past, which cut a legitimate record's catch-up short.)
#[derive(Debug, Default)]
pub(crate) struct LogAnchors {
    /// Per (topic index, partition): anchors `(end, at)` by increasing end and time — the log
    /// reached `end` by `at`; those a [`FOLLOWER_CATCH_UP`] old or more merged into the
    /// newest of them.
    by_partition: HashMap<(usize, i32), Vec<(i64, Instant)>>,
    /// Per (topic index, partition): its end as last read, to see it go back.
    last_ends: HashMap<(usize, i32), i64>,
}

/// Anchors kept per partition; past it the oldest two merge (the later time: a record
/// between them may then wait longer, never shorter).
const ANCHORS_PER_PARTITION: usize = 4;

impl LogAnchors {
    /// Since when the record at `offset` of `partition` (of the consumer's topic `topic`) has
    /// been in the log at the latest; `now` is when `log_ends` (the cached ends of the
    /// assigned partitions, by (topic index, partition)) is read, at each call: one per 404.
    pub(crate) fn since(
        &mut self,
        (topic, partition): (usize, i32),
        offset: i64,
        now: Instant,
        log_ends: impl FnOnce() -> Vec<((usize, i32), i64)>,
    ) -> Instant {
        let ends = log_ends();
        for &(key, end) in &ends {
            // An end that went back (the topic deleted and created again, the log truncated
            // by an unclean election): the anchors date records of a log that is gone.
            if self
                .last_ends
                .insert(key, end)
                .is_some_and(|last| end < last)
            {
                self.by_partition.remove(&key);
            }
        }
        let covering = self
            .by_partition
            .get(&(topic, partition))
            .and_then(|anchors| {
                anchors
                    .iter()
                    .find(|(end, _)| offset < *end)
                    .map(|(_, at)| *at)
            });
        if let Some(at) = covering {
            return at;
        }
        for (key, end) in ends {
            self.anchor(key, end, now);
        }
        // The record itself is in the log now, whatever the cached ends say.
        self.anchor((topic, partition), offset.saturating_add(1), now);
        now
    }

    /// Notes that the log of `key` reached `end` by `now`.
    fn anchor(&mut self, key: (usize, i32), end: i64, now: Instant) {
        let anchors = self.by_partition.entry(key).or_default();
        if anchors.last().is_some_and(|(last, _)| end <= *last) {
            return;
        }
        // Anchors a catch-up old or more are as good as any older one: merged into one.
        let settled = anchors
            .iter()
            .take_while(|(_, at)| now.saturating_duration_since(*at) >= FOLLOWER_CATCH_UP)
            .count();
        if settled > 1 {
            anchors.drain(..settled - 1);
        }
        anchors.push((end, now));
        if anchors.len() > ANCHORS_PER_PARTITION {
            // The next one's end is larger (ends only grow here): it covers what this did.
            anchors.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEVEN: SchemaRef = SchemaRef::Id(7);
    const GRACE: Duration = Duration::from_secs(30);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// One consumer's request for `id` at `now`, answered 404; the record in the log since
    /// `written`.
    fn ask_404(ids: &UnknownSchemaIds, id: SchemaRef, now: Instant, written: Instant) -> NotFound {
        assert_eq!(ids.ask(id, now), Ask::Now, "{id} at {now:?}");
        ids.not_found(id, now, written)
    }

    #[test]
    fn an_id_waits_its_grace_from_a_full_budget_asked_every_second_then_is_unknown() {
        let t0 = Instant::now();
        let ids = UnknownSchemaIds::starting_at(GRACE, t0);
        let written = t0 - secs(60);
        assert_eq!(
            ask_404(&ids, SEVEN, t0, written),
            NotFound::RetryAt(t0 + secs(1))
        );
        // Not asked again before a second, by either consumer.
        assert_eq!(ids.ask(SEVEN, t0), Ask::At(t0 + secs(1)));
        let at = |s| t0 + secs(s);
        assert_eq!(
            ask_404(&ids, SEVEN, at(1), written),
            NotFound::RetryAt(at(2))
        );
        assert_eq!(
            ask_404(&ids, SEVEN, at(29), written),
            NotFound::RetryAt(at(30))
        );
        assert_eq!(
            ask_404(&ids, SEVEN, at(30), written),
            NotFound::Lasted { waited: secs(30) }
        );
        ids.confirm(SEVEN, at(30));
        assert_eq!(ids.ask(SEVEN, at(31)), Ask::Confirmed);
        assert_eq!(ids.ask(SEVEN, at(30) + CONFIRMED_FOR), Ask::Now);
    }

    #[test]
    fn one_consumer_asks_at_a_time_and_the_other_waits_for_its_answer() {
        let t0 = Instant::now();
        let ids = UnknownSchemaIds::starting_at(Duration::ZERO, t0);
        assert_eq!(ids.ask(SEVEN, t0), Ask::Now);
        assert_eq!(ids.ask(SEVEN, t0), Ask::At(t0 + OTHERS_ANSWER_POLL));
        // An outage: the other may ask.
        ids.unanswered(SEVEN);
        assert_eq!(ids.ask(SEVEN, t0), Ask::Now);
        // A 404 late enough confirms it at once: the other asks nothing.
        let lasted = ids.not_found(SEVEN, t0, t0 - secs(60));
        assert_eq!(lasted, NotFound::Lasted { waited: secs(0) });
        ids.confirm(SEVEN, t0);
        assert_eq!(ids.ask(SEVEN, t0), Ask::Confirmed);
        // A consumer that never answers is not waited for forever.
        let eight = SchemaRef::Id(8);
        assert_eq!(ids.ask(eight, t0), Ask::Now);
        assert_eq!(ids.ask(eight, t0 + ASKING_FOR_AT_MOST), Ask::Now);
    }

    #[test]
    fn a_flood_of_a_backlog_costs_the_grace_and_one_request_per_id() {
        let t0 = Instant::now();
        let ids = UnknownSchemaIds::starting_at(GRACE, t0);
        // A consumer reading a backlog: every record was in the log at t0.
        let (mut now, mut requests) = (t0, 0u32);
        for id in (0..100_000u32).map(SchemaRef::Id) {
            loop {
                match ids.ask(id, now) {
                    Ask::Confirmed => break,
                    Ask::At(at) => now = at,
                    Ask::Now => {
                        requests += 1;
                        // A request takes a millisecond.
                        now += Duration::from_millis(1);
                        match ids.not_found(id, now, t0) {
                            NotFound::Lasted { .. } => ids.confirm(id, now),
                            NotFound::RetryAt(at) => now = now.max(at),
                        }
                    }
                }
            }
        }
        let waited = now - t0 - Duration::from_millis(u64::from(requests));
        // The grace of the first id, and what refilled meanwhile.
        let refill = GRACE.mul_f64((now - t0).as_secs_f64() / REFILL_PERIOD.as_secs_f64());
        assert!(waited <= GRACE + refill, "{waited:?}");
        assert!(refill < GRACE / 4, "{refill:?}");
        // The first id is asked each second of its wait, a few others a second more.
        assert!(requests <= 100_000 + 31 + 10, "{requests} requests");
    }

    #[test]
    fn an_id_is_asked_again_a_catch_up_after_its_record_was_in_the_log() {
        let t0 = Instant::now();
        let ids = UnknownSchemaIds::starting_at(Duration::ZERO, t0);
        // An empty budget (grace 0): a record written a second ago is still asked for again
        // once a follower has caught up.
        let written = t0 - secs(1);
        let due = written + FOLLOWER_CATCH_UP;
        assert_eq!(
            ask_404(&ids, SEVEN, t0, written),
            NotFound::RetryAt(t0 + secs(1))
        );
        assert_eq!(
            ask_404(&ids, SEVEN, t0 + secs(1), written),
            NotFound::RetryAt(due)
        );
        assert_eq!(
            ask_404(&ids, SEVEN, due, written),
            NotFound::Lasted { waited: secs(2) }
        );
    }

    #[test]
    fn the_budget_refills_over_time_and_a_found_id_gives_back_what_it_did_not_wait() {
        let t0 = Instant::now();
        let ids = UnknownSchemaIds::starting_at(GRACE, t0);
        let old = t0 - secs(60);
        assert_eq!(
            ask_404(&ids, SEVEN, t0, old),
            NotFound::RetryAt(t0 + secs(1))
        );
        // Nothing left for the next id: lasted at its first, late-enough 404.
        let eight = SchemaRef::Id(8);
        assert!(matches!(
            ask_404(&ids, eight, t0, old),
            NotFound::Lasted { .. }
        ));
        // Seven is found after 10 s: 20 s come back, with 0.5 s refilled.
        let t10 = t0 + secs(10);
        assert_eq!(ids.ask(SEVEN, t10), Ask::Now);
        ids.found(SEVEN, t10);
        let nine = SchemaRef::Id(9);
        assert_eq!(
            ask_404(&ids, nine, t10, old),
            NotFound::RetryAt(t10 + secs(1))
        );
        let refilled = GRACE.mul_f64(10.0 / REFILL_PERIOD.as_secs_f64());
        assert_eq!(
            ask_404(&ids, nine, t10 + secs(20) + refilled, old),
            NotFound::Lasted {
                waited: secs(20) + refilled
            }
        );
        // After a whole refill period the budget is full again, and no fuller.
        let later = t10 + REFILL_PERIOD * 3;
        let ten = SchemaRef::Id(10);
        assert_eq!(
            ask_404(&ids, ten, later, old),
            NotFound::RetryAt(later + secs(1))
        );
        assert_eq!(
            ask_404(&ids, ten, later + GRACE, old),
            NotFound::Lasted { waited: GRACE }
        );
    }

    #[test]
    fn a_flood_of_ids_stays_bounded_and_never_shortens_a_wait() {
        let t0 = Instant::now();
        let ids = UnknownSchemaIds::starting_at(GRACE, t0);
        for id in 0..(3 * MAX_TRACKED as u32) {
            let now = t0 + Duration::from_millis(u64::from(id));
            assert!(matches!(
                ask_404(&ids, SchemaRef::Id(id), now, now),
                NotFound::RetryAt(_)
            ));
        }
        assert!(ids.state().entries.len() <= MAX_TRACKED);
    }

    #[test]
    fn an_anchor_covers_the_records_that_were_in_the_log_when_it_was_taken() {
        let mut anchors = LogAnchors::default();
        let t0 = Instant::now();
        let ends = |list: &[((usize, i32), i64)]| list.to_vec();
        // Every partition whose end the client knows is anchored with the record's.
        let known = [((0, 0), 1_010), ((0, 1), 50), ((1, 0), 7)];
        assert_eq!(anchors.since((0, 0), 10, t0, || ends(&known)), t0);
        let later = t0 + secs(5);
        let grown = [((0, 0), 1_010), ((0, 1), 60), ((1, 0), 7)];
        assert_eq!(anchors.since((0, 0), 1_009, later, || ends(&grown)), t0);
        assert_eq!(anchors.since((0, 1), 49, later, || ends(&grown)), t0);
        assert_eq!(anchors.since((1, 0), 6, later, || ends(&grown)), t0);
        // Beyond them, in a partition not known, or in the same partition of another topic:
        // a new anchor.
        assert_eq!(anchors.since((0, 0), 1_010, later, || ends(&[])), later);
        assert_eq!(anchors.since((0, 2), 0, later, || ends(&[])), later);
        assert_eq!(anchors.since((1, 1), 0, later, || ends(&[])), later);
        // The older anchor still dates what it covered.
        assert_eq!(anchors.since((0, 0), 1_009, later, || ends(&grown)), t0);
        // An unknown end still covers the record itself.
        assert_eq!(
            anchors.since((0, 2), 0, later + secs(1), || ends(&[])),
            later
        );
        // An end that went back (the topic created again): its old anchors date nothing.
        let again = later + secs(600);
        let recreated = [((0, 1), 5)];
        assert_eq!(anchors.since((0, 1), 3, again, || ends(&recreated)), again);
        assert_eq!(anchors.since((0, 0), 3, again, || ends(&grown)), t0);
    }

    /// A partition's anchors stay few: those a catch-up old merge (the later time, which is
    /// as good: past the catch-up either way), and past the bound the oldest two do.
    #[test]
    fn a_partition_keeps_a_few_anchors_and_merged_ones_never_date_a_record_earlier() {
        let mut anchors = LogAnchors::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for n in 0..20u64 {
            let offset = i64::try_from(n).expect("small");
            assert_eq!(
                anchors.since((0, 0), offset, at(100 * n), Vec::new),
                at(100 * n)
            );
        }
        assert!(anchors.by_partition[&(0, 0)].len() <= ANCHORS_PER_PARTITION);
        for n in 0..20u64 {
            let offset = i64::try_from(n).expect("small");
            let dated = anchors.since((0, 0), offset, at(2_000), Vec::new);
            assert!(dated >= at(100 * n), "o={offset} dated {dated:?}");
        }
        // Seconds later, every anchor a catch-up old is one.
        anchors.since((0, 0), 20, at(10_000), Vec::new);
        assert_eq!(anchors.by_partition[&(0, 0)].len(), 2);
        assert_eq!(anchors.since((0, 0), 0, at(10_000), Vec::new), at(1_900));
    }

    /// A writer inventing an id for one record a second, spread over the partitions of a
    /// topic. Anchored one partition at a time, each record was read after its partition's
    /// last anchor, so got a fresh one at its read, waited the whole catch-up, and the
    /// consumer fell `FOLLOWER_CATCH_UP` × partitions behind the log for as long as the writer
    /// went on (35 s with 12 partitions, 287 s with 100, after half an hour). Anchored all at
    /// once, it stays within two catch-ups, a recheck and a draw of the log (8 s; 7.1 s in this
    /// simulation), whatever the number of partitions.
    #[test]
    fn invented_ids_spread_over_many_partitions_keep_the_consumer_within_seconds_of_the_log() {
        for partitions in [1u32, 12, 100] {
            let t0 = Instant::now();
            let ids = UnknownSchemaIds::starting_at(GRACE, t0);
            let mut anchors = LogAnchors::default();
            // Record k: written at t0 + k s, to partition k % partitions, at offset
            // k / partitions there.
            let written = |k: u32| t0 + secs(u64::from(k));
            // librdkafka's cached ends at `at`: every record written by then, per partition.
            let ends = |at: Instant| -> Vec<((usize, i32), i64)> {
                let seconds = i64::try_from(at.duration_since(t0).as_secs()).expect("secs");
                (0..partitions)
                    .map(|p| {
                        let p = i64::from(p);
                        let end = if seconds < p {
                            0
                        } else {
                            (seconds - p) / i64::from(partitions) + 1
                        };
                        ((0, i32::try_from(p).expect("partition")), end)
                    })
                    .collect()
            };
            let mut now = t0;
            let mut lag_after_the_grace = Duration::ZERO;
            for k in 0..1_800u32 {
                let (p, offset) = (k % partitions, i64::from(k / partitions));
                now = now.max(written(k));
                let p = i32::try_from(p).expect("partition");
                let since = anchors.since((0, p), offset, now, || ends(now));
                let id = SchemaRef::Id(1_000_000 + k);
                loop {
                    match ids.ask(id, now) {
                        Ask::Confirmed => break,
                        Ask::At(at) => now = now.max(at),
                        Ask::Now => match ids.not_found(id, now, since) {
                            NotFound::Lasted { .. } => {
                                ids.confirm(id, now);
                                break;
                            }
                            NotFound::RetryAt(at) => now = now.max(at),
                        },
                    }
                }
                // The budget's grace is spent in the first minute or so; what remains is the
                // catch-up, and the budget's refill.
                if k >= 120 {
                    let lag = now.saturating_duration_since(written(k));
                    lag_after_the_grace = lag_after_the_grace.max(lag);
                }
            }
            assert!(
                lag_after_the_grace <= 2 * FOLLOWER_CATCH_UP + RECHECK_EVERY + MIN_DRAW,
                "{partitions} partitions: {lag_after_the_grace:?} behind the log"
            );
        }
    }

    /// A grace of ten minutes or more (allowed up to a day) refills in 20 graces: one invented
    /// id per refill period held the consumers all the time before.
    #[test]
    fn a_long_grace_lets_invented_ids_hold_the_consumers_a_twentieth_of_the_time_at_most() {
        let grace = secs(3600);
        let t0 = Instant::now();
        let ids = UnknownSchemaIds::starting_at(grace, t0);
        let mut held = Duration::ZERO;
        let mut now = t0;
        for n in 0..30u32 {
            let id = SchemaRef::Id(1_000_000 + n);
            // A backlog record: no catch-up wait, only what the budget gives.
            let written = now - secs(7200);
            let mut t = now;
            loop {
                if let NotFound::Lasted { waited } = ask_404(&ids, id, t, written) {
                    held += waited;
                    break;
                }
                t += RECHECK_EVERY;
            }
            // The attacker's next id comes as soon as the last one is given up.
            now = t + secs(1);
        }
        let elapsed = now - t0;
        let share = held.as_secs_f64() / elapsed.as_secs_f64();
        // The first grace comes from a full budget; after it, a twentieth at most.
        assert!(
            held <= grace + elapsed / 20 + secs(30),
            "held {held:?} of {elapsed:?} ({share:.2})"
        );
    }
}
