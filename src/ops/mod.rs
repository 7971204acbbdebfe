//! Running it as a service: the figures every loop writes ([`stats`], [`latency`]), liveness
//! ([`health`]), what operators read (the `stats:` line and Prometheus text in [`metrics`], the
//! endpoint in [`http`]), systemd's notify socket ([`notify`]) driven by the [`monitor`]
//! thread, and the log set-up with its pinned targets ([`logging`], [`log_target`]).

pub mod build_info;
pub(crate) mod health;
pub(crate) mod http;
pub(crate) mod latency;
pub mod log_target;
pub mod logging;
pub(crate) mod metrics;
pub(crate) mod monitor;
pub(crate) mod notify;
pub(crate) mod stats;
