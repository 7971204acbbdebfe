//! The systemd notify protocol (`sd_notify`), written against the socket directly: a datagram
//! with `READY=1`, `WATCHDOG=1` or `STOPPING=1` to the socket named by `NOTIFY_SOCKET`.
//! Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use super::log_target;

/// A connection to the service manager, or nothing when not run by one.
#[derive(Debug)]
pub(crate) struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    pub(crate) fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let target = socket.and_then(|path| match connect(&path) {
            Ok(target) => Some(target),
            Err(e) => {
                log::warn!(target: log_target::NOTIFY, "cannot use NOTIFY_SOCKET {path:?}: {e}; systemd will not hear from us");
                None
            }
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .map(|pid| pid.trim() == std::process::id().to_string())
            .unwrap_or(true);
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us)
            .map(Duration::from_micros);
        Notifier { target, watchdog }
    }

    /// The watchdog timeout systemd expects pings within, if it asked for any.
    pub(crate) fn watchdog_timeout(&self) -> Option<Duration> {
        self.target.as_ref().and(self.watchdog)
    }

    /// Tells systemd that start-up may take `longest` from now (beyond `TimeoutStartSec=`),
    /// with what it is doing.
    pub(crate) fn extend_start(&self, longest: Duration, doing: &str) {
        self.send(&format!(
            "EXTEND_TIMEOUT_USEC={}\nSTATUS={doing}",
            longest.as_micros()
        ));
    }

    /// Tells systemd the service is up.
    pub(crate) fn ready(&self) {
        self.send("READY=1\nSTATUS=running");
    }

    /// Pings the watchdog.
    pub(crate) fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Tells systemd the service is stopping.
    pub(crate) fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    fn send(&self, message: &str) {
        if let Some((socket, address)) = &self.target {
            if let Err(e) = socket.send_to_addr(message.as_bytes(), address) {
                log::warn!(target: log_target::NOTIFY, "cannot notify systemd ({message:?}): {e}");
            }
        }
    }
}

/// An unbound datagram socket and the address of `NOTIFY_SOCKET` (a path, or `@name` for the
/// abstract namespace).
fn connect(path: &std::ffi::OsStr) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_bytes();
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    Ok((UnixDatagram::unbound()?, address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_socket_in_order() {
        let dir = std::env::temp_dir().join(format!("notify-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).expect("bind");
        let (socket, address) = connect(path.as_os_str()).expect("connect");
        let notifier = Notifier {
            target: Some((socket, address)),
            watchdog: Some(Duration::from_secs(30)),
        };
        notifier.ready();
        notifier.watchdog();
        notifier.stopping();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = listener.recv(&mut buf).expect("recv");
            got.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
        assert_eq!(
            got,
            [
                "READY=1\nSTATUS=running",
                "WATCHDOG=1",
                "STOPPING=1\nSTATUS=stopping"
            ]
        );
        assert_eq!(notifier.watchdog_timeout(), Some(Duration::from_secs(30)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_a_socket_nothing_happens() {
        let notifier = Notifier {
            target: None,
            watchdog: Some(Duration::from_secs(1)),
        };
        notifier.ready();
        assert_eq!(notifier.watchdog_timeout(), None);
    }
}
