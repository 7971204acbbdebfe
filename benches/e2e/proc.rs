//! Processes: CPU and memory from the kernel, children waited for with their resource usage.

use std::process::Child;
use std::time::{Duration, Instant};

fn cpu_of(usage: &libc::rusage) -> f64 {
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// CPU seconds (utime + stime) of a running process, from /proc/PID/stat.
pub(crate) fn cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) closed by ") ".
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / per_s)
}

/// A field of /proc/PID/status in MB (VmRSS, VmHWM).
pub(crate) fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// How a child ended and what it used.
pub(crate) struct Ended {
    pub(crate) code: Option<i32>,
    pub(crate) cpu_s: f64,
    pub(crate) hwm_mb: f64,
}

/// Waits for `child` (at most `limit`; then kills it) and returns its resource usage, which
/// `Child::wait` does not give.
pub(crate) fn wait_with_usage(child: &mut Child, limit: Duration) -> Ended {
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: wait4 on our own child, into values we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let got = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if got == pid {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            return Ended {
                code,
                cpu_s: cpu_of(&usage),
                hwm_mb: usage.ru_maxrss as f64 / 1024.0,
            };
        }
        if got < 0 {
            return Ended {
                code: None,
                cpu_s: f64::NAN,
                hwm_mb: f64::NAN,
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGINT to `pid`.
pub(crate) fn interrupt(pid: u32) {
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
}
