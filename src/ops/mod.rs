//! Running it as a service, the building blocks: the figures every loop writes ([`stats`],
//! [`latency`], the audit's [`audit_figures`], the consumers' [`partitions_view`] and
//! [`writer_schemas`] for the web console), liveness ([`health`]), systemd's notify socket
//! ([`notify`]), the build's identity ([`build_info`]), glibc's malloc arenas
//! ([`malloc_arenas`]) and the log set-up with its pinned
//! targets ([`logging`], [`log_target`]). What reads all of them — the `stats:` line and
//! Prometheus text, the HTTP endpoint, the monitor thread — is the composition's, in `app/`;
//! nothing here imports a folder above it.

pub(crate) mod audit_figures;
pub mod build_info;
pub(crate) mod health;
pub(crate) mod latency;
pub mod log_target;
pub mod logging;
pub(crate) mod malloc_arenas;
pub(crate) mod notify;
pub(crate) mod partitions_view;
pub(crate) mod stages;
pub(crate) mod stats;
pub(crate) mod writer_schemas;
