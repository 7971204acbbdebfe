//! The building blocks every loop shares, at the bottom of the crate: the stop handle
//! ([`Shutdown`]) and its opt-in deadline ([`StopDeadline`]), the one retry policy
//! ([`retry`]), and what a loop returns ([`LoopError`], [`Turn`]). It imports nothing of
//! the crate but the log targets of `ops/`.

mod loop_error;
pub(crate) mod retry;
pub(crate) mod shutdown;
pub(crate) mod stop_deadline;

pub use loop_error::LoopError;
pub(crate) use loop_error::{turn_until_stopped, Turn};
pub use shutdown::{Shutdown, StopReason};
pub use stop_deadline::{last_line, StopDeadline, EXIT_STOP_DEADLINE, LAST_LINE_GRACE};
