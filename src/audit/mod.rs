//! The delivery audit: the producer stamps each record with its run, its partition's sequence
//! number, its send time and the run's count of failed deliveries in the partition ([`stamp`],
//! [`stamper`]); each consumer group checks the numbers it handles for losses, duplicate
//! writes and reorderings ([`ledger`], driven by [`auditor`]) and publishes its figures
//! (`ops/audit_figures.rs`, with the other counters). A
//! loss is put down to the producer only on this process's own delivery reports ([`own_run`]).
//! docs/AUDIT.md explains the design, its limits and how to use the daemon as a canary.

pub(crate) mod auditor;
mod by_partition;
pub(crate) mod ledger;
pub(crate) mod own_run;
pub(crate) mod sequence;
pub(crate) mod stamp;
pub(crate) mod stamper;

pub(crate) use auditor::{Auditor, FoundStamp};
pub(crate) use own_run::OwnRun;
pub use stamp::HEADER_AUDIT;
#[cfg(test)]
pub(crate) use stamp::{RunId, Stamp, StampError};
pub(crate) use stamper::Stamper;
