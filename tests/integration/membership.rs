//! Static group membership (`CONSUMER_INSTANCE_ID`): a daemon killed with `kill -9` and
//! restarted under the same id gets its partitions back at once, where a dynamic member waits
//! for the broker to expire the dead one (`session.timeout.ms`, 45 s by default).

use std::time::{Duration, Instant};

use crate::common::*;

/// Kills a daemon that has consumed in both groups, starts another with the same `extra`
/// settings, and returns how long the new one took to handle a record in each group.
fn restart_after_kill_9(topic: &str, extra: &[(&str, &str)]) -> Duration {
    let mut settings = vec![("PRODUCE_INTERVAL_MS", "50")];
    settings.extend_from_slice(extra);
    let env = env_with(topic, &settings);
    let mut first = Daemon::start(&env);
    first.wait_for_received(10, Duration::from_secs(60));
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));

    let restarted = Instant::now();
    let mut second = Daemon::start(&env);
    second.wait_for_received(1, Duration::from_secs(120));
    let took = restarted.elapsed();
    second.stop_cleanly();
    took
}

#[test]
fn a_static_member_restarted_after_kill_9_gets_its_partitions_back_at_once() {
    let _cluster = require_stack();
    let static_topic = unique("static-member");
    ensure_topic(&static_topic);
    let instance = unique("instance");
    let static_took = restart_after_kill_9(&static_topic, &[("CONSUMER_INSTANCE_ID", &instance)]);

    let dynamic_topic = unique("dynamic-member");
    ensure_topic(&dynamic_topic);
    let dynamic_took = restart_after_kill_9(&dynamic_topic, &[]);

    println!(
        "figures: records flowing again after kill -9 and restart: static member {static_took:?}, dynamic member {dynamic_took:?} (session.timeout.ms 45 s)"
    );
    // Far below the 45 s a dynamic member waits for, however slow the machine.
    assert!(
        static_took < Duration::from_secs(30),
        "the static member waited {static_took:?}"
    );
}
