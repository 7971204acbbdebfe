//! A commit whose answer the batch consumer waits for in slices of its own choosing.
//!
//! librdkafka's synchronous commit (`rd_kafka_commit`, not async) waits for the coordinator's
//! answer without a bound of its own: with a hung coordinator, until the client gives up the
//! connection (20–28 s in the test; librdkafka's session and socket timeouts allow more).
//! Meanwhile the loop neither turned nor beat its heartbeat: `/healthz` named
//! it stalled after 20 s, and systemd's watchdog would have restarted the daemon
//! (`faults::a_hung_group_coordinator_keeps_the_batch_consumer_alive_and_loses_nothing`).
//! Here the answer comes to a queue of the commit's own (`rd_kafka_commit_queue`), which the
//! loop waits on for as long as it chooses. The request and its answer are the synchronous
//! commit's: the same error code, the last failing partition's when some failed.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::TopicPartitionList;

use super::client::ConsumerClient;

/// A commit sent and not yet answered. Dropped unanswered, its answer is discarded when it
/// comes (librdkafka drops a reply to a queue its owner destroyed); the request itself goes
/// on. Must be dropped before the client it was sent with.
pub(crate) struct CommitInFlight {
    queue: NonNull<rd::rd_kafka_queue_t>,
    /// The client it was sent with: it is waited for with that one only.
    client: *mut rd::rd_kafka_t,
    sent: Instant,
}

impl CommitInFlight {
    /// Sends the commit of `offsets` (per partition, the next offset to read).
    pub(crate) fn send(
        client: &ConsumerClient<'_>,
        offsets: &TopicPartitionList,
    ) -> KafkaResult<CommitInFlight> {
        let handle = client.client().native_ptr();
        // SAFETY: `handle` is the live client's; the queue is this value's until its drop.
        let queue = NonNull::new(unsafe { rd::rd_kafka_queue_new(handle) })
            .ok_or(KafkaError::ConsumerCommit(RDKafkaErrorCode::Fail))?;
        let commit = CommitInFlight {
            queue,
            client: handle,
            sent: Instant::now(),
        };
        // SAFETY: the list and the queue are valid for the call; librdkafka copies the list,
        // and keeps its own reference to the queue until it has answered.
        let error = unsafe {
            rd::rd_kafka_commit_queue(
                handle,
                offsets.ptr(),
                commit.queue.as_ptr(),
                None,
                std::ptr::null_mut(),
            )
        };
        match RDKafkaErrorCode::from(error) {
            RDKafkaErrorCode::NoError => Ok(commit),
            code => Err(KafkaError::ConsumerCommit(code)),
        }
    }

    /// When it was sent.
    pub(crate) fn sent(&self) -> Instant {
        self.sent
    }

    /// Waits up to `wait` for the answer: `None` while there is none. `client`: the one it was
    /// sent with.
    pub(crate) fn answer(
        &self,
        client: &ConsumerClient<'_>,
        wait: Duration,
    ) -> Option<KafkaResult<()>> {
        debug_assert_eq!(client.client().native_ptr(), self.client);
        // Rounded up: a wait of under a millisecond is not a busy poll of 0.
        let wait_ms = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: the queue is this value's.
        let event = unsafe { rd::rd_kafka_queue_poll(self.queue.as_ptr(), wait_ms) };
        if event.is_null() {
            return None;
        }
        // SAFETY: `event` came from the poll and is destroyed once, here.
        let (kind, error) = unsafe {
            let answer = (
                rd::rd_kafka_event_type(event),
                rd::rd_kafka_event_error(event),
            );
            rd::rd_kafka_event_destroy(event);
            answer
        };
        // The commit's answer is the only event this queue is given; anything else is not
        // an answer.
        if kind != rd::RD_KAFKA_EVENT_OFFSET_COMMIT {
            return None;
        }
        Some(match RDKafkaErrorCode::from(error) {
            RDKafkaErrorCode::NoError => Ok(()),
            code => Err(KafkaError::ConsumerCommit(code)),
        })
    }
}

impl Drop for CommitInFlight {
    fn drop(&mut self) {
        // SAFETY: the queue is this value's, destroyed once.
        unsafe { rd::rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }
}
