//! The daemon's handlers: they log what they are given, as the application it re-implements
//! does — `received {'name': 'user_N'} (p=…, o=…)` per record, and `received N messages`
//! before the lines of a batch — under the consumer's own log target — and keep the last
//! records for the web console when `CONSOLE_RECORDS` asks for them.

use std::fmt::Display;
use std::sync::Arc;

use super::web_console::RecentRecords;
use crate::handler::{BatchHandler, HandlerError, Record, RecordHandler};

/// Logs each record at `info` under `target`.
pub(crate) struct LogRecords {
    pub(crate) target: &'static str,
    pub(crate) recent: Arc<RecentRecords>,
}

/// Logs each batch at `info` under `target`: its size, then each record.
pub(crate) struct LogBatches {
    pub(crate) target: &'static str,
    pub(crate) recent: Arc<RecentRecords>,
}

fn log_record<V: Display>(target: &str, record: &Record<V>, recent: &RecentRecords) {
    log::info!(target: target, "received {} (p={}, o={})", record.value, record.partition, record.offset);
    recent.keep(record);
}

impl<V: Display> RecordHandler<V> for LogRecords {
    fn handle(&mut self, record: &Record<V>) -> Result<(), HandlerError> {
        log_record(self.target, record, &self.recent);
        Ok(())
    }
}

impl<V: Display> BatchHandler<V> for LogBatches {
    /// Every message of the batch counts, decoded or not, as the line always did.
    fn batch_read(&mut self, messages: usize) {
        log::info!(target: self.target, "received {messages} messages");
    }

    fn handle_batch(&mut self, records: &[Record<V>]) -> Result<(), HandlerError> {
        for record in records {
            log_record(self.target, record, &self.recent);
        }
        Ok(())
    }
}
