//! The two system calls the endpoint needs that std does not offer: `poll(2)`, which waits
//! until any of many sockets is ready, so one thread can serve every connection without
//! blocking on any of them; and `listen(2)` with a backlog of the endpoint's choosing.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Sets how many connections the kernel queues for `listener` before it is accepted (std
/// listens with 128). Calling `listen(2)` again on a listening socket only changes its
/// backlog; the kernel caps it at `net.core.somaxconn`.
pub(crate) fn set_backlog(listener: &TcpListener, backlog: u16) -> io::Result<()> {
    // SAFETY: a plain system call on a descriptor `listener` owns and keeps open.
    let result = unsafe { libc::listen(listener.as_raw_fd(), libc::c_int::from(backlog)) };
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// What a socket is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Bytes to read (or a new connection, for a listener).
    Read,
    /// Room in the send buffer.
    Write,
}

/// The sockets of one wait, in the order they were added. Rebuilt every turn: it holds a few
/// dozen entries at most, so rebuilding costs less than keeping it in step with the table.
#[derive(Default)]
pub(crate) struct PollSet {
    fds: Vec<libc::pollfd>,
}

impl PollSet {
    /// Empties the set for the next turn.
    pub(crate) fn clear(&mut self) {
        self.fds.clear();
    }

    /// Adds `socket`; after [`PollSet::wait`], [`PollSet::is_ready`] at the returned index
    /// says whether it is ready.
    pub(crate) fn add(&mut self, socket: &impl AsRawFd, interest: Interest) -> usize {
        let events = match interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        self.fds.push(libc::pollfd {
            fd: socket.as_raw_fd(),
            events,
            revents: 0,
        });
        self.fds.len() - 1
    }

    /// Waits until a socket is ready or `timeout` has passed. The timeout is rounded up to
    /// whole milliseconds: rounded down, a deadline less than 1 ms away would spin.
    pub(crate) fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let millis = timeout
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int;
        // SAFETY: `fds` is a live, exclusively borrowed buffer of `pollfd`s, passed with its
        // length; poll(2) writes only their `revents`. A descriptor that is not open is
        // reported as POLLNVAL, never undefined behaviour.
        let ready = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                millis,
            )
        };
        if ready < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Whether the socket at `index` is ready after the last wait: for its interest, or
    /// because it was hung up or failed (the next read or write then says how).
    pub(crate) fn is_ready(&self, index: usize) -> bool {
        self.fds.get(index).is_some_and(|fd| fd.revents != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

    #[test]
    fn a_socket_is_ready_when_bytes_arrive_and_not_before() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client =
            TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let mut set = PollSet::default();
        let index = set.add(&server, Interest::Read);

        let started = Instant::now();
        set.wait(Duration::from_millis(50)).expect("poll");
        assert!(!set.is_ready(index), "nothing was sent yet");
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "waited the timeout"
        );

        client.write_all(b"x").expect("write");
        set.wait(Duration::from_secs(10)).expect("poll");
        assert!(set.is_ready(index));
    }
}
