//! A limit on a stop, opt-in: once the stop has begun, the loops have this long to finish;
//! past it the process exits with [`EXIT_STOP_DEADLINE`] after one line saying what was left
//! (or, when that line cannot be written within [`LAST_LINE_GRACE`], without it).
//! Flushing, a last commit and closing a consumer all wait on the brokers, and with brokers
//! that hang instead of refusing a consumer's close can wait without end. The library never
//! ends the process unless its user starts a [`StopDeadline`]; the daemon and `consume` always
//! do.

use std::time::Duration;

use crossbeam_channel::{select, Receiver, RecvTimeoutError, Sender};

use super::shutdown::Shutdown;
use crate::ops::log_target;

/// The exit status of a stop that did not finish within its deadline.
pub const EXIT_STOP_DEADLINE: u8 = 3;

/// How long a process's last line may take to be written ([`last_line`]: the deadline's
/// line, the daemon's after its loops, and `consume`'s error line): a stderr that is slow but
/// draining (journald busy) still gets it. The longest stop is `STOP_TIMEOUT_MS` and this; systemd's unit leaves 10 s
/// beyond `STOP_TIMEOUT_MS` (`TimeoutStopSec=30s`).
pub const LAST_LINE_GRACE: Duration = Duration::from_secs(3);

/// Waits for the stop to begin, then for the loops to finish (`loops_done` disconnects);
/// exits the process if they take longer than `timeout`, with a line naming what `left`
/// says. Returns when the loops finished.
pub(crate) fn enforce(
    timeout: Duration,
    shutdown: &Shutdown,
    loops_done: &Receiver<()>,
    left: &dyn Fn() -> String,
) {
    select! {
        recv(shutdown.wake_receiver()) -> _ => {},
        // The loops ended without a stop.
        recv(loops_done) -> _ => return,
    }
    if let Err(RecvTimeoutError::Timeout) = loops_done.recv_timeout(timeout) {
        // The loops may be stalled on the same stderr this line blocks on.
        last_line(EXIT_STOP_DEADLINE, || {
            log::error!(
                target: log_target::SHUTDOWN,
                "stop deadline of {timeout:?} (STOP_TIMEOUT_MS) passed; exiting with status {EXIT_STOP_DEADLINE}, left: {}",
                left()
            )
        });
        std::process::exit(i32::from(EXIT_STOP_DEADLINE));
    }
}

/// Writes a process's last line with `line` and returns `status`, for the caller to exit
/// with. The line can block (stderr a full pipe nobody reads: journald stuck, a paused pager),
/// and so can `exit`'s flush of stdout: past [`LAST_LINE_GRACE`] the process ends at once
/// with `status` (`_exit`: no exit handlers, no flush of stdio). For the lines no stop
/// deadline covers: the deadline's own, and the one after the loops have returned.
pub fn last_line(status: u8, line: impl FnOnce()) -> u8 {
    let _ = std::thread::Builder::new()
        .name("last-line-exit".to_string())
        .spawn(move || {
            std::thread::sleep(LAST_LINE_GRACE);
            // SAFETY: `_exit` ends the process at once; nothing of this process runs after.
            unsafe { libc::_exit(i32::from(status)) }
        });
    line();
    status
}

/// An opt-in limit on the stop of a program built on the library: once `shutdown` says
/// stop, the program has `timeout` to drop this guard (when its loops have returned);
/// otherwise the process exits with status [`EXIT_STOP_DEADLINE`] and one line. A line that
/// cannot be written within 3 s (stderr a full pipe) is given up, and the process ends at once
/// (`_exit`: no exit handlers, no flush of stdio). Dropping the guard ends its thread.
///
/// ```no_run
/// use std::time::Duration;
/// use kafka_avro_daemon::{Shutdown, StopDeadline};
///
/// let shutdown = Shutdown::new();
/// let deadline = StopDeadline::start(&shutdown, Duration::from_secs(20))?;
/// // … run the consumers until `shutdown` says stop …
/// drop(deadline); // the loops returned in time
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StopDeadline {
    _loops_done: Sender<()>,
}

impl StopDeadline {
    /// Starts the deadline's thread.
    pub fn start(shutdown: &Shutdown, timeout: Duration) -> std::io::Result<StopDeadline> {
        StopDeadline::naming(shutdown, timeout, "the loops had not returned")
    }

    /// [`StopDeadline::start`], its line naming `left` as what the stop left undone.
    pub(crate) fn naming(
        shutdown: &Shutdown,
        timeout: Duration,
        left: &'static str,
    ) -> std::io::Result<StopDeadline> {
        let (loops_done, done) = crossbeam_channel::bounded::<()>(0);
        let shutdown = shutdown.clone();
        std::thread::Builder::new()
            .name("stop-deadline".to_string())
            .spawn(move || enforce(timeout, &shutdown, &done, &|| left.to_string()))?;
        Ok(StopDeadline {
            _loops_done: loops_done,
        })
    }
}
