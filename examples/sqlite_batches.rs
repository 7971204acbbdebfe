//! An at-least-once sink, built from the library's public API only: a batch consumer whose
//! handler writes each batch of `User` records from the daemon's topic into an SQLite table,
//! in one transaction, before the consumer commits the batch's offsets.
//!
//! Guarantee: every record read from the topic becomes exactly one row of
//! `users(topic, partition, offset, name)`, keyed by its place in the log, across crashes and
//! restarts of this program:
//! - the consumer commits a batch's offsets only after the handler returned `Ok`, that is after
//!   the SQLite transaction committed; a crash before that commit leaves neither rows nor
//!   offsets, and the batch is read again;
//! - a crash between the two commits (SQLite's, then Kafka's) also makes the consumer read the
//!   batch again: `INSERT OR IGNORE` on the primary key absorbs the rows already there, and the
//!   program says so (`batch of 50 records, 0 new rows`). The same holds when a rebalance moves
//!   a partition to another member of the group between the two commits.
//!
//! Limits:
//! - Exactly once holds for the table, not for anything else the handler does: a batch read
//!   again is handled again (its line printed twice, say).
//! - The key is the record's offset, not its content: a record produced twice (a retry without
//!   idempotence, a re-publish) is two offsets and two rows.
//! - Records whose value cannot be decoded never reach the handler: `ON_DECODE_ERROR` decides
//!   (skip them, copy them to `<topic>.dlq`, or stop).
//! - A transaction that fails (the file locked past the busy timeout, a full disk) is rolled
//!   back and the batch handed to the handler again, for up to `HANDLER_RETRY_TIMEOUT_MS`; then
//!   the consumer stops with exit status 1, the batch neither committed nor in the table.
//! - A row is as durable as the file: `synchronous=FULL` makes SQLite's commit reach the disk
//!   before Kafka's commit is sent.
//!
//! ```text
//! KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9094 SCHEMA_REGISTRY_URL=http://127.0.0.1:8082/apis/ccompat/v7 \
//!   cargo run --example sqlite_batches -- --db users.sqlite --group sqlite-sink
//! ```

use std::process::ExitCode;
use std::time::Duration;

use kafka_avro_daemon::{
    BatchConsumer, BatchHandler, Config, ConsumerSettings, HandlerError, Record, Shared, Shutdown,
    User, UserCodec,
};
use rusqlite::{Connection, TransactionBehavior};

/// How long a transaction waits for another connection's lock on the file (a reader, a second
/// writer) before it fails, and the consumer hands the batch over again.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    // The consumer's own lines (retries of a failing batch, rebalances) go to stderr.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run() {
        Ok(()) => {
            println!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1).cloned()
    };
    let db = flag("--db").ok_or("--db PATH is required: the SQLite file to write to")?;
    let group = flag("--group").unwrap_or_else(|| "sqlite-batches".to_string());

    let sink = UsersTable::open(&db).map_err(|e| format!("cannot open {db}: {e}"))?;
    let config = Config::from_env()?;
    let shutdown = Shutdown::new();
    shutdown.install_signal_handler()?;
    let shared = Shared::new(&config, &shutdown)?;
    let codec = UserCodec::new()?;
    let settings = ConsumerSettings::new(group, [config.topic.clone()]);
    // On SIGINT or SIGTERM the consumer handles and commits its partial batch, then returns.
    BatchConsumer::new(&shared, &codec, settings, sink).run()?;
    Ok(())
}

/// The `users` table of one SQLite file: the batch handler.
struct UsersTable {
    db: Connection,
}

impl UsersTable {
    /// Opens (or creates) the file and the table.
    fn open(path: &str) -> rusqlite::Result<UsersTable> {
        let db = Connection::open(path)?;
        db.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers of the table never block a batch's transaction, nor it them.
        db.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        // FULL: in WAL mode, NORMAL may lose the last transactions to a power cut, after Kafka
        // committed their offsets: those records would be gone from the table for good.
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                topic TEXT NOT NULL,
                partition INTEGER NOT NULL,
                offset INTEGER NOT NULL,
                name TEXT NOT NULL,
                PRIMARY KEY (topic, partition, offset)
            )",
        )?;
        Ok(UsersTable { db })
    }
}

impl BatchHandler<User> for UsersTable {
    /// Inserts the batch in one transaction; `Ok` only once it committed. An error rolls it
    /// back (the transaction is dropped) and the consumer hands the same batch over again.
    fn handle_batch(&mut self, records: &[Record<User>]) -> Result<(), HandlerError> {
        // IMMEDIATE: the write lock is taken (or waited for) at BEGIN, not halfway through.
        let transaction = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut inserted = 0;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT OR IGNORE INTO users (topic, partition, offset, name) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for record in records {
                inserted += insert.execute((
                    &*record.topic,
                    record.partition,
                    record.offset,
                    &record.value.name,
                ))?;
            }
        }
        transaction.commit()?;
        // Fewer new rows than records: the batch, or part of it, was read again after a crash
        // or a rebalance between its two commits, and the primary key absorbed it.
        println!("batch of {} records, {inserted} new rows", records.len());
        Ok(())
    }
}
