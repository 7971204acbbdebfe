//! The integration tests, in one binary so that librdkafka is linked once, not once per suite.
//! Each module is one suite: `stack` (the local stack itself), `daemon` (the binary end to
//! end), `poison` (undecodable input), `faults` (a broker or the daemon killed, rebalances),
//! `security` (SASL_SSL, registry basic auth), `operations` (metrics, systemd notify, journald
//! lines), `http_endpoint` (the metrics endpoint against idle and slow clients),
//! `registry_faults` (a registry that refuses, hangs or forgot everything; read-only mode),
//! `registry_answers` (another schema under our id, a flood of unknown ids, a lagging follower),
//! `header_framing` (records whose schema a `__value_schema_id` header names),
//! `use_latest` (producing with the subject's latest version), `registry_tls` (the registry
//! over TLS, with mutual TLS, and with a rotated bearer token), `compression` (records other
//! clients compressed), `partitioning` (keys where the Java client puts them), `subjects`
//! (subject name strategies), `membership` (static members), `console` (the `consume`
//! subcommand against records of Confluent's Python serializer, hostile records, exit statuses),
//! `interface` (names operators rely on, against README.md), `deploy_files` (systemd unit,
//! Dockerfile, compose file, toolchain), `fuzz_decoder` (the decoding path on arbitrary input
//! and generated writer schemas), `hostile_schema` (a recursive writer schema and a record
//! nested 100,000 deep), `hostile_records` (header keys, Kafka keys and names that are not
//! UTF-8), `writer_schemas` (a writer schema of another type; one with schema references),
//! `topic_check` (the start-up check and creation of the topics), `audit` (the delivery
//! audit's figures), `handlers` (the library's consumers with handlers that fail, panic or
//! read two topics, each topic's dead letters in its own `.dlq`), `library` (the library's
//! producer; the examples, built by the test command, run against the stack) and
//! `sqlite_example`; `common` is what they share.
//!
//! Run one module by its path prefix, e.g. `cargo test --test integration daemon::`, or one test
//! by its full name, e.g.
//! `cargo test --test integration faults::daemon_killed_mid_batch_reprocesses_at_most_one_batch`.
//! The stack tests need `scripts/stack up` (or run everything with `scripts/test`); the modules
//! `deploy_files` and `fuzz_decoder`, and the tests that never reach the stack, run without it.
//!
//! Tests of every module run in parallel. Those that use the stack share it through
//! `common::require_stack()`; those that disturb it (the `faults` module) hold it alone through
//! `common::exclusive_cluster()`, so no other test runs meanwhile.

mod audit;
mod common;
mod compression;
mod console;
mod daemon;
mod deploy_files;
mod faults;
mod fuzz_decoder;
mod handlers;
mod header_framing;
mod hostile_records;
mod hostile_schema;
mod http_endpoint;
mod interface;
mod library;
mod membership;
mod operations;
mod partitioning;
mod poison;
mod rebalance_protocols;
mod registry_answers;
mod registry_faults;
mod registry_tls;
mod security;
mod sqlite_example;
mod stack;
mod subjects;
mod topic_check;
mod use_latest;
mod web_console;
mod writer_schemas;
