//! Where a record's time goes between its send and its commit, stage by stage, for a sample of
//! records: the produce-to-handled latency (`ops/latency.rs`) says how long, these say where.
//! A consumer takes the stages of at most one record per [`SAMPLE_EVERY`] (a clock comparison
//! per record; the extra clock reads only for the sampled one), so they cost the drain nothing
//! measurable and describe any rate alike.

use std::time::{Duration, Instant};

use super::latency::LatencyHistogram;

/// At most one sampled record per this much of a consumer's time: 100 a second.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// A consumer's stages of its sampled records.
#[derive(Debug, Default)]
pub(crate) struct StageFigures {
    /// From the send (the audit stamp's time) to the poll that returned the record: the
    /// producer's batching, the brokers' replication and the fetch.
    pub(crate) sent_to_polled: LatencyHistogram,
    /// From the poll to the decoded value (a writer schema fetch or a registry wait included).
    pub(crate) polled_to_decoded: LatencyHistogram,
    /// From the decoded value until the handler returned: for the batch consumer, the wait
    /// for its batch to fill as well.
    pub(crate) decoded_to_handled: LatencyHistogram,
    /// From the handler's return until the offset was committed: the batch consumer's
    /// synchronous commit; for the single consumer, the wait for the next auto-commit
    /// (`auto.commit.interval.ms`) and the commit itself.
    pub(crate) handled_to_committed: LatencyHistogram,
}

impl StageFigures {
    /// The stages by the name `/metrics` gives them, in a record's order.
    pub(crate) fn named(&self) -> [(&'static str, &LatencyHistogram); 4] {
        [
            ("sent_to_polled", &self.sent_to_polled),
            ("polled_to_decoded", &self.polled_to_decoded),
            ("decoded_to_handled", &self.decoded_to_handled),
            ("handled_to_committed", &self.handled_to_committed),
        ]
    }
}

/// Whether a loop takes the stages of the record it just polled: once per [`SAMPLE_EVERY`].
#[derive(Debug)]
pub(crate) struct Sampler {
    next: Instant,
}

impl Sampler {
    pub(crate) fn new() -> Sampler {
        Sampler {
            next: Instant::now(),
        }
    }

    /// `true` for the first record polled at or after the time the last sample allowed.
    pub(crate) fn take(&mut self, polled: Instant) -> bool {
        if polled < self.next {
            return false;
        }
        self.next = polled + SAMPLE_EVERY;
        true
    }
}

/// The times of one sampled record up to its handling.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Times {
    /// From its send to the poll, if its send time is known.
    pub(crate) sent_to_polled: Option<Duration>,
    pub(crate) polled: Instant,
    pub(crate) decoded: Instant,
    pub(crate) handled: Instant,
}

impl Times {
    /// Records the stages up to the handling.
    pub(crate) fn record_handled(&self, figures: &StageFigures) {
        if let Some(sent_to_polled) = self.sent_to_polled {
            figures.sent_to_polled.record(sent_to_polled);
        }
        figures
            .polled_to_decoded
            .record(self.decoded.saturating_duration_since(self.polled));
        figures
            .decoded_to_handled
            .record(self.handled.saturating_duration_since(self.decoded));
    }

    /// Records the commit's stage.
    pub(crate) fn record_committed(&self, figures: &StageFigures, committed: Instant) {
        figures
            .handled_to_committed
            .record(committed.saturating_duration_since(self.handled));
    }

    /// The record's stages, committed at `committed`, for the log at `debug` (target
    /// `kafka_avro_daemon::stages`).
    pub(crate) fn describe(&self, committed: Instant) -> String {
        let handled_to_committed = committed.saturating_duration_since(self.handled);
        let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
        format!(
            "sent→polled {}, polled→decoded {}, decoded→handled {}, handled→committed {}",
            self.sent_to_polled
                .map_or_else(|| "unknown".to_string(), ms),
            ms(self.decoded.saturating_duration_since(self.polled)),
            ms(self.handled.saturating_duration_since(self.decoded)),
            ms(handled_to_committed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_takes_one_record_per_interval() {
        let start = Instant::now();
        let mut sampler = Sampler { next: start };
        assert!(sampler.take(start));
        assert!(!sampler.take(start + SAMPLE_EVERY / 2));
        assert!(sampler.take(start + SAMPLE_EVERY));
        // A quiet spell does not bank samples: the next record after it is taken, one only.
        let later = start + SAMPLE_EVERY * 100;
        assert!(sampler.take(later));
        assert!(!sampler.take(later));
    }

    #[test]
    fn each_stage_is_the_time_between_two_of_the_record_s_moments() {
        let figures = StageFigures::default();
        let polled = Instant::now();
        let times = Times {
            sent_to_polled: Some(Duration::from_millis(7)),
            polled,
            decoded: polled + Duration::from_micros(40),
            handled: polled + Duration::from_millis(3),
        };
        times.record_handled(&figures);
        let committed = polled + Duration::from_millis(1003);
        times.record_committed(&figures, committed);
        let line = times.describe(committed);
        let only = |h: &LatencyHistogram| (h.count(), h.max());
        assert_eq!(only(&figures.sent_to_polled), (1, Duration::from_millis(7)));
        assert_eq!(
            only(&figures.polled_to_decoded),
            (1, Duration::from_micros(40))
        );
        assert_eq!(
            only(&figures.decoded_to_handled),
            (1, Duration::from_micros(2960))
        );
        assert_eq!(
            only(&figures.handled_to_committed),
            (1, Duration::from_secs(1))
        );
        assert_eq!(
            line,
            "sent→polled 7.000 ms, polled→decoded 0.040 ms, decoded→handled 2.960 ms, handled→committed 1000.000 ms"
        );
        // Without a send time that stage is left out, the others kept.
        let unknown = Times {
            sent_to_polled: None,
            ..times
        };
        unknown.record_handled(&figures);
        assert_eq!(figures.sent_to_polled.count(), 1);
        assert_eq!(figures.polled_to_decoded.count(), 2);
    }
}
