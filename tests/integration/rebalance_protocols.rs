//! Both group protocols — the classic one with eager and with cooperative assignment, and the
//! consumer protocol of KIP-848 (Kafka 4) — each while a second daemon joins both groups with
//! records flowing and leaves again: no record is lost, the redeliveries are counted, the
//! delivery audit finds no fault, and the broker says which protocol and assignor the groups
//! really use (asked through the Java Admin client from the stack's jars, not the daemon).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;

const DESCRIBE_GROUPS: &str = r#"
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import java.util.Arrays;
import java.util.Map;
import java.util.Properties;

/** For each group named: its type (CLASSIC or CONSUMER), its assignor and its member count. */
public class DescribeGroups {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put("bootstrap.servers", args[0]);
        try (Admin admin = Admin.create(config)) {
            Map<String, ConsumerGroupDescription> groups = admin
                .describeConsumerGroups(Arrays.asList(args).subList(1, args.length)).all().get();
            for (String group : Arrays.asList(args).subList(1, args.length)) {
                ConsumerGroupDescription d = groups.get(group);
                System.out.println(group + " " + d.type() + " " + d.partitionAssignor() + " " + d.members().size());
            }
        }
    }
}
"#;

/// `(type, assignor, members)` of each group, as the broker describes it.
fn describe(groups: &[String]) -> Vec<(String, String, usize)> {
    let mut args = vec![bootstrap()];
    args.extend(groups.iter().cloned());
    run_java("DescribeGroups", DESCRIBE_GROUPS, &args, "")
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            (
                cells.get(1).unwrap_or(&"").to_string(),
                cells.get(2).unwrap_or(&"").to_string(),
                cells.get(3).and_then(|n| n.parse().ok()).unwrap_or(0),
            )
        })
        .collect()
}

/// One protocol's run, each daemon producing `count` records: returns (records on the topic,
/// redeliveries per group). `count` must keep records flowing until the second member has
/// its partitions.
fn join_and_leave(
    settings: &[(&str, &str)],
    count: u32,
    want_type: &str,
    want_assignor: &str,
) -> (i64, [usize; 2]) {
    let topic = unique("protocol");
    ensure_topic(&topic);
    let groups = [format!("{topic}-g1"), format!("{topic}-g2")];
    let count_text = count.to_string();
    let mut vars = vec![
        ("PRODUCE_INTERVAL_MS", "10"),
        ("PRODUCE_COUNT", count_text.as_str()),
    ];
    vars.extend_from_slice(settings);
    let env = env_with(&topic, &vars);
    let mut first = Daemon::start(&env);
    first.wait_for_received(20, Duration::from_secs(60));
    let mut second = Daemon::start(&env);
    second.wait_for_received(1, Duration::from_secs(90));

    // Both members in both groups, as the broker sees them.
    let described = describe(&groups);
    for (group, (kind, assignor, members)) in groups.iter().zip(&described) {
        assert!(
            kind.eq_ignore_ascii_case(want_type),
            "{group}: {described:?}"
        );
        assert!(
            assignor.contains(want_assignor),
            "{group}: assignor {assignor}"
        );
        assert_eq!(*members, 2, "{group}: {described:?}");
    }

    for daemon in [&first, &second] {
        daemon.wait_for_line(
            &format!("sent all {count} records"),
            Duration::from_secs(120),
        );
    }
    second.stop_cleanly();
    let on_topic = count_messages(&topic);
    assert_eq!(
        on_topic,
        2 * i64::from(count),
        "both producers' records on the topic"
    );
    let handled =
        |first: &Daemon, second: &Daemon, group: Group| -> (BTreeSet<(i32, i64)>, usize) {
            let mut all: Vec<(i32, i64)> = Vec::new();
            for daemon in [first, second] {
                all.extend(
                    daemon
                        .received()
                        .into_iter()
                        .filter(|r| r.group == group)
                        .map(|r| (r.partition, r.offset)),
                );
            }
            let distinct: BTreeSet<(i32, i64)> = all.iter().copied().collect();
            let redelivered = all.len() - distinct.len();
            (distinct, redelivered)
        };
    first.wait_until(
        "every record handled by each group",
        Duration::from_secs(90),
        |_| {
            [Group::Single, Group::Batch]
                .iter()
                .all(|&g| handled(&first, &second, g).0.len() as i64 >= on_topic)
        },
    );
    first.stop_cleanly();
    // The delivery audit agrees: nothing lost, written twice or reordered, in either instance.
    for daemon in [&first, &second] {
        for (_, group) in groups_of(&topic) {
            assert_audit_clean(&audit_summary(&daemon.lines(), &group), &group);
        }
    }
    let single = handled(&first, &second, Group::Single);
    let batch = handled(&first, &second, Group::Batch);
    assert_eq!(single.0.len() as i64, on_topic, "single group lost records");
    assert_eq!(batch.0.len() as i64, on_topic, "batch group lost records");
    (on_topic, [single.1, batch.1])
}

#[test]
fn classic_eager_assignment_loses_nothing_when_a_member_joins_and_leaves() {
    let _cluster = require_stack();
    let (n, again) = join_and_leave(
        &[("LIBRDKAFKA_CONSUMER_PARTITION_ASSIGNMENT_STRATEGY", "range")],
        300,
        "CLASSIC",
        "range",
    );
    println!("figures: classic protocol, range (eager): {n} records, 0 lost, handled again: single {}, batch {}", again[0], again[1]);
}

#[test]
fn classic_cooperative_sticky_loses_nothing_when_a_member_joins_and_leaves() {
    let _cluster = require_stack();
    let (n, again) = join_and_leave(
        &[(
            "LIBRDKAFKA_CONSUMER_PARTITION_ASSIGNMENT_STRATEGY",
            "cooperative-sticky",
        )],
        300,
        "CLASSIC",
        "cooperative-sticky",
    );
    println!("figures: classic protocol, cooperative-sticky: {n} records, 0 lost, handled again: single {}, batch {}", again[0], again[1]);
}

#[test]
fn consumer_protocol_loses_nothing_when_a_member_joins_and_leaves() {
    let _cluster = require_stack();
    // KIP-848: the broker assigns (its default assignor, `uniform`), rebalances are
    // incremental, and the members' heartbeats carry them; no client-side strategy. A new
    // member gets its partitions a few heartbeats after joining (about 4 s here, where the
    // classic protocol took under 1 s), so the records flow for longer.
    let (n, again) = join_and_leave(
        &[("LIBRDKAFKA_CONSUMER_GROUP_PROTOCOL", "consumer")],
        1500,
        "CONSUMER",
        "uniform",
    );
    println!("figures: consumer protocol (KIP-848), uniform: {n} records, 0 lost, handled again: single {}, batch {}", again[0], again[1]);
}
