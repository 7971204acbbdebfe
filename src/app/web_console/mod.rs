//! The web console at `/` of the HTTP endpoint (`METRICS_ADDR`): what a Kafka UI shows of the
//! daemon's topic — partitions, groups, lag, the schema, the last records — and what none
//! shows: the delivery audit and the latency, per group. [`status`] gathers it (also served as
//! JSON at `/api/status`), [`page`] draws it; [`recent_records`] keeps the last records the
//! handlers saw, only when `CONSOLE_RECORDS` asks. The loops only publish bounded copies; the
//! HTTP thread does the rest.

pub(crate) mod page;
pub(crate) mod recent_records;
pub(crate) mod status;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use recent_records::{cut, RecentRecords};
pub(crate) use status::{SchemaShown, SchemaVersion, WebConsole};
