//! A process the bench measures through its /metrics endpoint (Prometheus text, parsed here):
//! the daemon, started with the bench's environment and stopped with SIGINT (exit status 0
//! expected), or the same-work baseline, which serves the same counters and ends when its
//! stdin closes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::proc::{interrupt, wait_with_usage};

pub(crate) struct Measured {
    child: Child,
    port: u16,
    pub(crate) log: String,
    /// Set to end the console poller (`--console`), if one runs.
    console_poller: Option<Arc<AtomicBool>>,
}

/// What the bench reads from /metrics, at the time of the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counts {
    pub(crate) at: Instant,
    pub(crate) produced: f64,
    pub(crate) delivered: f64,
    pub(crate) single: f64,
    pub(crate) batch: f64,
}

impl Measured {
    /// Starts `bin` on `topic` with groups `<groups>-g1` and `<groups>-g2`, its log to `log`.
    pub(crate) fn start(
        bin: &str,
        bootstrap: &str,
        registry: &str,
        topic: &str,
        groups: &str,
        log: &str,
        extra: &[(&str, String)],
    ) -> Result<Measured, String> {
        let port = free_port()?;
        let file = std::fs::File::create(log).map_err(|e| format!("{log}: {e}"))?;
        let err = file.try_clone().map_err(|e| format!("{log}: {e}"))?;
        let mut command = Command::new(bin);
        command
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("SCHEMA_REGISTRY_URL", registry)
            .env("TEST_TOPIC_NAME", topic)
            .env("CONSUMER_GROUP_ID_1", format!("{groups}-g1"))
            .env("CONSUMER_GROUP_ID_2", format!("{groups}-g2"))
            .env("METRICS_ADDR", format!("127.0.0.1:{port}"))
            .env("STATS_INTERVAL_S", "0")
            .env("RUST_LOG", "warn");
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        Ok(Measured {
            child,
            port,
            log: log.to_string(),
            console_poller: None,
        })
    }

    /// Fetches the web console's page (`/`) once a second while it runs, as a browser left
    /// open on it would (`scripts/bench --console`): what the page costs the daemon shows in
    /// its figures.
    pub(crate) fn poll_console(mut self) -> Measured {
        let stop = Arc::new(AtomicBool::new(false));
        let port = self.port;
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
                    let _ = stream.read_to_end(&mut Vec::new());
                }
            }
        });
        self.console_poller = Some(stop);
        self
    }

    /// Starts the baseline (this program's `baseline` command) with `args`, serving its counts
    /// on a port of its own; its log (stderr) to `log`.
    pub(crate) fn baseline(me: &str, args: &[String], log: &str) -> Result<Measured, String> {
        let port = free_port()?;
        let err = std::fs::File::create(log).map_err(|e| format!("{log}: {e}"))?;
        let child = Command::new(me)
            .arg("baseline")
            .args(args)
            .args(["--metrics-port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start the baseline: {e}"))?;
        Ok(Measured {
            child,
            port,
            log: log.to_string(),
            console_poller: None,
        })
    }

    /// Closes the baseline's stdin, which ends it, and returns what it printed.
    pub(crate) fn finish_baseline(mut self) -> Result<String, String> {
        drop(self.child.stdin.take());
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let ended = wait_with_usage(&mut self.child, Duration::from_secs(60));
        if ended.code != Some(0) {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            return Err(format!(
                "the baseline failed: {} (log: {})",
                log.lines().last().unwrap_or(""),
                self.log
            ));
        }
        Ok(out)
    }

    /// The last line of its log, to say why it ended.
    pub(crate) fn last_words(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("{} (log: {})", log.lines().last().unwrap_or(""), self.log)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The /metrics text, if the daemon answers.
    pub(crate) fn metrics(&self) -> Option<(String, Instant)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        let at = Instant::now();
        if !(text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200")) {
            return None;
        }
        Some((text, at))
    }

    pub(crate) fn counts(&self) -> Option<Counts> {
        let (text, at) = self.metrics()?;
        let get = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels).unwrap_or(0.0);
        Some(Counts {
            at,
            produced: get("kafka_avro_daemon_produced_total", &[]),
            delivered: get("kafka_avro_daemon_delivered_total", &[]),
            single: get(
                "kafka_avro_daemon_consumed_total",
                &[("consumer", "single")],
            ),
            batch: get("kafka_avro_daemon_consumed_total", &[("consumer", "batch")]),
        })
    }

    /// Waits until /metrics answers (the daemon registered its schema and started).
    pub(crate) fn wait_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.counts().is_none() {
            if !self.alive() || Instant::now() > deadline {
                return Err(format!("the daemon did not start (log: {})", self.log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Waits until both groups handled a record.
    pub(crate) fn wait_receiving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if self
                .counts()
                .is_some_and(|c| c.single > 0.0 && c.batch > 0.0)
            {
                return Ok(());
            }
            if !self.alive() || Instant::now() > deadline {
                return Err(format!(
                    "the daemon did not start consuming (log: {})",
                    self.log
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGINT, then at most 60 s for exit status 0.
    pub(crate) fn stop(mut self) -> Result<(), String> {
        interrupt(self.pid());
        let ended = wait_with_usage(&mut self.child, Duration::from_secs(60));
        match ended.code {
            Some(0) => Ok(()),
            code => Err(format!(
                "the daemon exited with {} after SIGINT (log: {})",
                code.map_or("a signal or a timeout".to_string(), |c| format!(
                    "status {c}"
                )),
                self.log
            )),
        }
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        if let Some(stop) = &self.console_poller {
            stop.store(true, Ordering::Relaxed);
        }
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port nobody listens on now (below Linux's ephemeral range is not needed: the kernel picks
/// a free one and we release it just before the daemon binds it).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// The value of the first sample of `name` whose labels include `labels`, in Prometheus text.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        if series_name != name {
            return None;
        }
        let has = |(k, v): &(&str, &str)| {
            series_labels
                .split(',')
                .any(|pair| pair.split_once('=') == Some((k, &format!("\"{v}\""))))
        };
        labels.iter().all(has).then(|| value.parse().ok())?
    })
}
