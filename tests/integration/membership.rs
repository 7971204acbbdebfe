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

/// Under the consumer protocol (KIP-848) the broker refuses a static member id until the dead
/// member's session expires (UNRELEASED_INSTANCE_ID, fatal in librdkafka). The restarted daemon
/// says it waits, creates its consumers again until the id is released, and then consumes in
/// both groups, instead of exiting.
#[test]
fn under_the_consumer_protocol_a_restart_waits_for_the_instance_id_and_then_consumes() {
    let _cluster = require_stack();
    let topic = unique("kip848-static");
    ensure_topic(&topic);
    let instance = unique("instance");
    let env = env_with(
        &topic,
        &[
            ("PRODUCE_INTERVAL_MS", "50"),
            ("CONSUMER_INSTANCE_ID", &instance),
            ("LIBRDKAFKA_CONSUMER_GROUP_PROTOCOL", "consumer"),
        ],
    );
    let both_groups_received = |lines: &[String]| {
        ["single_consumer] received", "batch_consumer] received"]
            .iter()
            .all(|group| lines.iter().any(|l| l.contains(group)))
    };
    let mut first = Daemon::start(&env);
    first.wait_until(
        "both groups consume",
        Duration::from_secs(60),
        both_groups_received,
    );
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));

    let restarted = Instant::now();
    let mut second = Daemon::start(&env);
    // The broker's session timeout (45 s) plus the wait's retries, with room for a slow machine.
    second.wait_until(
        "both groups consume again",
        Duration::from_secs(150),
        both_groups_received,
    );
    let took = restarted.elapsed();
    let lines = second.lines();
    let waited = lines
        .iter()
        .filter(|l| l.contains("is still held by a previous member") && l.contains(&instance))
        .count();
    second.stop_cleanly();
    println!(
        "figures: consumer protocol, static member restarted after kill -9: records flowing again after {took:?}; {waited} consumers waited for their instance id"
    );
    // A broker that releases the id at once needs no wait; one that holds it must be waited
    // out with the line saying so, by each consumer.
    assert!(
        waited == 2 || (waited == 0 && took < Duration::from_secs(10)),
        "{waited} waiting lines, records after {took:?}:\n{}",
        second.tail(40)
    );
}
