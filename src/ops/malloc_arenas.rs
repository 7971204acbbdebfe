//! glibc's malloc arenas: enough for every thread of the process to have its own.
//!
//! librdkafka allocates each fetched message on a broker thread of its client and the consumer
//! thread frees it, a few allocations per record. Freeing a chunk of another thread's arena
//! takes that arena's lock. glibc gives each new thread an arena of its own only up to eight
//! per core (16 on two cores); past that, threads share. The daemon runs 22 threads on one
//! broker, so a broker thread came to share its arena with other busy threads, and the
//! consumer threads' frees waited on its lock: in a 1M-record drain, futex waits in `free`
//! were 11 % of the batch consumer thread's samples (a drain with one client per group and 12
//! threads, the bench's baseline, has an arena per thread and showed few). docs/PERFORMANCE.md
//! has the figures.

/// The fewest arenas [`malloc_arena_per_thread`] allows: more than the threads of the daemon
/// on any cluster it is likely to meet (22 on one broker: librdkafka starts a thread per
/// broker in each of its three clients, so about 80 on twenty brokers). Arenas are made only
/// for threads that allocate, so a cap above the thread count costs nothing by itself.
const FEWEST_ARENAS: usize = 256;

/// The cap for a machine of `cores` processors: [`FEWEST_ARENAS`], or glibc's own default of
/// 8 per processor where that is more, so the cap is never lowered.
fn cap_for(cores: usize) -> usize {
    FEWEST_ARENAS.max(cores.saturating_mul(8))
}

/// What [`malloc_arena_per_thread`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MallocArenas {
    /// glibc now makes up to this many arenas.
    Capped(usize),
    /// Capped, but other threads were running already: if they had made nine arenas, glibc
    /// had fixed its cap and this one changes nothing.
    MaybeTooLate(usize),
    /// The environment sets the cap: left as set.
    SetByEnvironment {
        /// The variable that sets it.
        variable: &'static str,
        /// The cap it gives.
        cap: u64,
        /// The cap the call would have set.
        ours: usize,
    },
    /// Not glibc: nothing to set.
    NotGlibc,
}

impl MallocArenas {
    /// Whether an operator should hear of it: the environment's cap is used instead, or the
    /// call may have come too late. (The cap set, or nothing to set, is no news.)
    pub fn is_unusual(&self) -> bool {
        matches!(
            self,
            MallocArenas::SetByEnvironment { .. } | MallocArenas::MaybeTooLate(_)
        )
    }
}

impl std::fmt::Display for MallocArenas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MallocArenas::Capped(cap) => {
                write!(f, "malloc arenas: up to {cap}, one per thread")
            }
            MallocArenas::MaybeTooLate(cap) => write!(
                f,
                "malloc arenas: up to {cap}, set after other threads started (it may not apply)"
            ),
            MallocArenas::SetByEnvironment {
                variable,
                cap,
                ours,
            } => write!(
                f,
                "malloc arenas: up to {cap}, as {variable} sets them (the daemon would allow {ours})"
            ),
            MallocArenas::NotGlibc => write!(f, "malloc arenas: not glibc, nothing to set"),
        }
    }
}

/// Lets glibc give every thread of the process a malloc arena of its own (up to
/// `max(256, 8 × cores)`, never below glibc's own default), so that a consumer thread freeing
/// the messages librdkafka allocated on its broker threads does not wait on a lock those share
/// with other threads (see the module's docs). Call it first in `main`, before any thread
/// starts: glibc fixes its cap once its ninth arena is made, and a later call changes nothing
/// ([`MallocArenas::MaybeTooLate`] says so when other threads are running). A valid
/// `MALLOC_ARENA_MAX`, or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`, wins: then nothing is
/// set (glibc ignores an empty, zero or malformed one, and so does this). A no-op except on
/// glibc.
pub fn malloc_arena_per_thread() -> MallocArenas {
    let ours = cap_for(cores());
    match set_by_environment(|name| std::env::var_os(name)) {
        Some((variable, cap)) => MallocArenas::SetByEnvironment {
            variable,
            cap,
            ours,
        },
        None => cap_arenas(ours),
    }
}

/// The variable that sets glibc's arena cap, and the cap, if the environment has a valid one.
fn set_by_environment(
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<(&'static str, u64)> {
    if let Some(cap) =
        var("MALLOC_ARENA_MAX").and_then(|value| parse_arena_max(&value.to_string_lossy()))
    {
        return Some(("MALLOC_ARENA_MAX", cap));
    }
    let tunables = var("GLIBC_TUNABLES")?;
    // The last setting wins, as glibc reads them in order.
    let cap = tunables
        .to_string_lossy()
        .rsplit(':')
        .find_map(|tunable| tunable.strip_prefix("glibc.malloc.arena_max="))
        .and_then(parse_arena_max)?;
    Some(("GLIBC_TUNABLES", cap))
}

/// An arena cap as glibc reads one: a number in C's notation (decimal, `0x` hexadecimal or
/// `0` octal), at least 1; anything else is ignored.
fn parse_arena_max(value: &str) -> Option<u64> {
    let parsed = if let Some(hex) = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16)
    } else if value.len() > 1 && value.starts_with('0') {
        u64::from_str_radix(&value[1..], 8)
    } else {
        value.parse()
    };
    parsed.ok().filter(|&cap| cap >= 1)
}

/// The processors glibc counts for its default cap — the online ones, or, in some releases
/// (2.35 to 2.38), those this process may run on — whichever is more: the cap must never fall
/// below glibc's own default.
fn cores() -> usize {
    let usable = std::thread::available_parallelism().map_or(1, usize::from);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: sysconf only reads a system value.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        usable.max(usize::try_from(online).unwrap_or(0))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    usable
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_arenas(cap: usize) -> MallocArenas {
    let value = libc::c_int::try_from(cap).unwrap_or(libc::c_int::MAX);
    // Other threads may have made arenas already (see `MaybeTooLate`); the main thread alone
    // is the case `main` calls this in. Without /proc (not mounted) this cannot be told, and
    // the call is taken to be in time.
    let alone = std::fs::read_dir("/proc/self/task").map_or(true, |tasks| tasks.count() <= 1);
    // SAFETY: mallopt only sets a field of glibc's malloc parameters. For M_ARENA_MAX it
    // accepts any value above 0 and always returns 1, so there is nothing to check.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, value) };
    if alone {
        MallocArenas::Capped(cap)
    } else {
        MallocArenas::MaybeTooLate(cap)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_arenas(_cap: usize) -> MallocArenas {
    MallocArenas::NotGlibc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(pairs: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    /// An operator's own valid arena setting wins; an empty, zero or malformed one is ignored,
    /// as glibc ignores it, and other tunables do not count as one.
    #[test]
    fn a_valid_arena_cap_in_the_environment_is_left_as_set() {
        assert_eq!(set_by_environment(env(&[])), None);
        for (value, cap) in [("2", 2), ("0x10", 16), ("010", 8), ("1", 1)] {
            assert_eq!(
                set_by_environment(env(&[("MALLOC_ARENA_MAX", value)])),
                Some(("MALLOC_ARENA_MAX", cap)),
                "{value:?}"
            );
        }
        for value in ["", "0", "-1", "two", "0x", "08", "99999999999999999999999"] {
            assert_eq!(
                set_by_environment(env(&[("MALLOC_ARENA_MAX", value)])),
                None,
                "{value:?}"
            );
        }
        for (tunables, cap) in [
            ("glibc.malloc.arena_max=4", 4),
            ("glibc.malloc.tcache_count=20:glibc.malloc.arena_max=1", 1),
            ("glibc.malloc.arena_max=3:glibc.malloc.arena_max=5", 5),
        ] {
            assert_eq!(
                set_by_environment(env(&[("GLIBC_TUNABLES", tunables)])),
                Some(("GLIBC_TUNABLES", cap)),
                "{tunables}"
            );
        }
        for tunables in [
            "",
            "glibc.malloc.tcache_count=20",
            "glibc.malloc.arena_test=2",
            "glibc.malloc.arena_max=",
            "glibc.malloc.arena_max=0",
        ] {
            assert_eq!(
                set_by_environment(env(&[("GLIBC_TUNABLES", tunables)])),
                None,
                "{tunables}"
            );
        }
        // An invalid MALLOC_ARENA_MAX does not hide a valid tunable.
        assert_eq!(
            set_by_environment(env(&[
                ("MALLOC_ARENA_MAX", ""),
                ("GLIBC_TUNABLES", "glibc.malloc.arena_max=6")
            ])),
            Some(("GLIBC_TUNABLES", 6))
        );
    }

    /// The cap is never below glibc's default of 8 arenas per processor, nor below 256.
    #[test]
    fn the_cap_is_never_below_glibc_s_default() {
        assert_eq!(cap_for(1), 256);
        assert_eq!(cap_for(32), 256);
        assert_eq!(cap_for(33), 264);
        assert_eq!(cap_for(64), 512);
        assert_eq!(cap_for(usize::MAX), usize::MAX);
    }

    /// Set in the test's child process: the cap it is to set.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    const CHILD: &str = "KAD_TEST_MALLOC_ARENAS_CAP";
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    const THREADS: usize = 40;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn arenas_in_this_process() -> usize {
        let mut buffer: *mut libc::c_char = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        // SAFETY: open_memstream allocates the buffer it writes to; it is read once the
        // stream is closed, and freed.
        unsafe {
            let stream = libc::open_memstream(&mut buffer, &mut size);
            assert!(!stream.is_null(), "open_memstream failed");
            assert_eq!(libc::malloc_info(0, stream), 0, "malloc_info failed");
            libc::fclose(stream);
            let bytes = std::slice::from_raw_parts(buffer.cast::<u8>(), size);
            let text = String::from_utf8_lossy(bytes).into_owned();
            libc::free(buffer.cast());
            text.matches("<heap nr=").count()
        }
    }

    /// What the test below runs in a process of its own: caps the arenas at the cap the
    /// parent asked for, starts threads that each allocate and hold, and prints how many
    /// arenas glibc then has (`malloc_info` lists one `<heap>` per arena).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn child(cap: usize) {
        // Where libtest runs the test on a thread of its own, that thread runs beside this one:
        // "maybe too late", though glibc has made only two arenas and not fixed its cap yet.
        let set = cap_arenas(cap);
        assert!(
            set == MallocArenas::Capped(cap) || set == MallocArenas::MaybeTooLate(cap),
            "{set:?}"
        );
        let barrier = std::sync::Barrier::new(THREADS + 1);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    let held = std::hint::black_box(vec![1u8; 256]);
                    barrier.wait(); // allocated
                    barrier.wait(); // counted
                    drop(held);
                });
            }
            barrier.wait();
            println!("arenas={}", arenas_in_this_process());
            barrier.wait();
        });
    }

    /// The cap takes effect when set first: in a process of its own (libtest's main and test
    /// threads have made two arenas by then, fewer than the nine after which glibc fixes its
    /// cap), 40 threads that each allocate get an arena each under a cap of 64 (42 in all), and
    /// share 4 under a cap of 4. Without the cap glibc allows 8 per core: the cap of 4 catches
    /// that on any machine, the cap of 64 on fewer than 6 cores (16 arenas here, on 2).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn each_thread_gets_an_arena_of_its_own_under_the_cap_set_first() {
        if let Some(cap) = std::env::var_os(CHILD) {
            let cap = cap.to_string_lossy().parse().expect("a cap");
            child(cap);
            return;
        }
        let arenas_under = |cap: usize| -> usize {
            let name = "ops::malloc_arenas::tests::each_thread_gets_an_arena_of_its_own_under_the_cap_set_first";
            let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", name, "--nocapture", "--test-threads=1"])
                .env(CHILD, cap.to_string())
                // A cap in the environment would be fixed before the child's own.
                .env_remove("MALLOC_ARENA_MAX")
                .env_remove("GLIBC_TUNABLES")
                .output()
                .expect("run the test binary");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "child failed: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            // libtest prints the count on the test's own line.
            stdout
                .split_once("arenas=")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|count| count.parse().ok())
                .unwrap_or_else(|| panic!("no count in {stdout}"))
        };
        let many = arenas_under(64);
        assert!(
            many > THREADS,
            "{many} arenas for {THREADS} threads under a cap of 64"
        );
        let few = arenas_under(4);
        assert!(few <= 4, "{few} arenas under a cap of 4");
    }
}
