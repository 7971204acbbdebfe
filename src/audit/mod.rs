//! The delivery audit: the producer stamps each record with its run, its partition's sequence
//! number, its send time and the producer's count of failed deliveries ([`stamp`],
//! [`stamper`]); each consumer group checks the numbers it handles for losses, duplicate
//! writes and reorderings ([`ledger`], driven by [`auditor`]) and publishes [`figures`].
//! docs/AUDIT.md explains the design, its limits and how to use the daemon as a canary.

pub(crate) mod auditor;
mod by_partition;
pub(crate) mod figures;
pub(crate) mod ledger;
pub(crate) mod sequence;
pub(crate) mod stamp;
pub(crate) mod stamper;

pub(crate) use auditor::{Auditor, FoundStamp};
pub(crate) use figures::AuditFigures;
pub use stamp::HEADER_AUDIT;
pub(crate) use stamper::Stamper;
