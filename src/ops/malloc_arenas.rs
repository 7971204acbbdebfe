//! glibc's malloc arenas: enough for every thread of the process to have its own.
//!
//! librdkafka allocates each fetched message on a broker thread of its client and the consumer
//! thread frees it, a few allocations per record. Freeing a chunk of another thread's arena
//! takes that arena's lock. glibc gives each new thread an arena of its own only up to eight
//! per core (16 on two cores); past that, threads share. The daemon runs about 24 threads,
//! so a broker thread came to share its arena with other busy threads, and the consumer
//! threads' frees waited on its lock: in a 1M-record drain, futex waits in `free` were 11 %
//! of the batch consumer thread's samples (a drain with one client per group and 12 threads,
//! the bench's baseline, has an arena per thread and showed none). docs/PERFORMANCE.md has the
//! figures.

/// The fewest arenas [`malloc_arena_per_thread`] allows: more than the threads of the daemon
/// (about 24, a few more with dead-letter producers), so each of them allocates in an arena
/// of its own. Arenas are created only for threads that allocate; an arena unused costs only
/// address space.
const AT_LEAST: usize = 64;

/// What [`malloc_arena_per_thread`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MallocArenas {
    /// glibc now creates up to this many arenas.
    Capped(usize),
    /// The environment sets the cap (this variable): it is left as set.
    SetByEnvironment(&'static str),
    /// glibc refused the setting (`mallopt` returned 0): its default stays.
    Refused,
    /// Not glibc: nothing to set.
    NotGlibc,
}

impl std::fmt::Display for MallocArenas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MallocArenas::Capped(cap) => write!(f, "malloc arenas: up to {cap}, one per thread"),
            MallocArenas::SetByEnvironment(name) => {
                write!(f, "malloc arenas: as {name} sets them")
            }
            MallocArenas::Refused => {
                write!(f, "malloc arenas: glibc refused the cap; its default stays")
            }
            MallocArenas::NotGlibc => write!(f, "malloc arenas: not glibc, nothing to set"),
        }
    }
}

/// Lets glibc give every thread of the process a malloc arena of its own (up to
/// `max(64, 8 × cores)`), so that a consumer thread freeing the messages librdkafka allocated
/// on its broker threads does not wait on a lock those share with other threads (see the
/// module's docs). Call it first in `main`, before any thread starts: glibc fixes its cap once
/// the ninth arena is made, and a later call changes nothing. `MALLOC_ARENA_MAX` or a
/// `glibc.malloc.arena_max` in `GLIBC_TUNABLES` win: then nothing is set. A no-op except
/// on glibc.
pub fn malloc_arena_per_thread() -> MallocArenas {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    match set_by_environment(|name| std::env::var_os(name)) {
        Some(name) => MallocArenas::SetByEnvironment(name),
        None => cap_arenas(AT_LEAST.max(8 * cores)),
    }
}

/// The variable that sets glibc's arena cap, if the environment has one.
fn set_by_environment(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<&'static str> {
    if var("MALLOC_ARENA_MAX").is_some() {
        return Some("MALLOC_ARENA_MAX");
    }
    let tunables = var("GLIBC_TUNABLES")?;
    tunables
        .to_string_lossy()
        .split(':')
        .any(|tunable| tunable.starts_with("glibc.malloc.arena_max="))
        .then_some("GLIBC_TUNABLES")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_arenas(cap: usize) -> MallocArenas {
    let value = libc::c_int::try_from(cap).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets a field of glibc's malloc parameters; any value is accepted.
    if unsafe { libc::mallopt(libc::M_ARENA_MAX, value) } == 1 {
        MallocArenas::Capped(cap)
    } else {
        MallocArenas::Refused
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

    /// An operator's own arena setting wins; other tunables do not count as one.
    #[test]
    fn an_arena_cap_in_the_environment_is_left_as_set() {
        assert_eq!(set_by_environment(env(&[])), None);
        assert_eq!(
            set_by_environment(env(&[("MALLOC_ARENA_MAX", "2")])),
            Some("MALLOC_ARENA_MAX")
        );
        assert_eq!(
            set_by_environment(env(&[("MALLOC_ARENA_MAX", "")])),
            Some("MALLOC_ARENA_MAX")
        );
        for tunables in [
            "glibc.malloc.arena_max=4",
            "glibc.malloc.tcache_count=20:glibc.malloc.arena_max=1",
        ] {
            assert_eq!(
                set_by_environment(env(&[("GLIBC_TUNABLES", tunables)])),
                Some("GLIBC_TUNABLES"),
                "{tunables}"
            );
        }
        for tunables in [
            "",
            "glibc.malloc.tcache_count=20",
            "glibc.malloc.arena_test=2",
        ] {
            assert_eq!(
                set_by_environment(env(&[("GLIBC_TUNABLES", tunables)])),
                None,
                "{tunables}"
            );
        }
    }

    /// What the test below runs in a process of its own: caps the arenas at the cap the
    /// parent asked for, starts threads that each allocate and hold, and prints how many
    /// arenas glibc then has (`malloc_info` lists one `<heap>` per arena).
    const CHILD: &str = "KAD_TEST_MALLOC_ARENAS_CAP";
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

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn child(cap: usize) {
        assert_eq!(cap_arenas(cap), MallocArenas::Capped(cap));
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

    /// The cap takes effect when set first: in a process of its own (the test harness's
    /// threads have made an arena or two by then), 40 threads that each allocate get an arena
    /// each under a cap of 64, and share 4 under a cap of 4. Without the call glibc's default
    /// (8 per core) would give neither figure on this machine's two cores.
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
