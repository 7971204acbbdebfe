//! The resolving decoder's bounds: hostile schemas and bytes are ordinary errors, quickly,
//! never a stack overflow, a long loop or a large allocation.

use std::time::{Duration, Instant};

use super::resolution::{apache, codec, nested_users, ours, RECURSIVE_USER};
use crate::format::error::AvroErrorKind;
use crate::format::resolve::{MAX_DECODE_ALLOCATION, MAX_DEPTH, MAX_VISITS};
use crate::format::user::{User, USER_SCHEMA_JSON};
use crate::format::varint::write_long;

/// `User` nested `depth` times through an array of children before `name`.
const ARRAY_NESTED_USER: &str = r#"{"type":"record","name":"User","fields":[
    {"name":"kids","type":{"type":"array","items":"User"}},{"name":"name","type":"string"}]}"#;

fn nested_kids(depth: usize) -> Vec<u8> {
    let mut datum = vec![0x02; depth];
    datum.extend([0x00, 0x00]);
    datum.extend([0x00, 0x00].repeat(depth));
    datum
}

#[test]
fn recursion_100000_deep_is_an_error_not_a_stack_overflow() {
    for (schema, datum) in [
        (RECURSIVE_USER, nested_users(100_000)),
        (ARRAY_NESTED_USER, nested_kids(100_000)),
    ] {
        let started = Instant::now();
        let error = ours(schema, &datum).expect_err("too deep");
        assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
        assert!(
            error
                .to_string()
                .contains(&format!("deeper than {MAX_DEPTH}")),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

#[test]
fn the_depth_bound_is_exact() {
    // The top record is level 1; each nested `User` through `next` one more. (Not compared
    // with apache-avro: 63 levels overflow a test thread's 2 MiB stack in its debug build.)
    assert_eq!(
        ours(RECURSIVE_USER, &nested_users(MAX_DEPTH - 1)),
        Ok(User {
            name: String::new()
        })
    );
    let error = ours(RECURSIVE_USER, &nested_users(MAX_DEPTH)).expect_err("one too deep");
    assert_eq!(error.kind(), AvroErrorKind::Limit);
    // Through an array, each `User` is two levels: the array and the record.
    assert!(ours(ARRAY_NESTED_USER, &nested_kids((MAX_DEPTH - 1) / 2)).is_ok());
    assert!(ours(ARRAY_NESTED_USER, &nested_kids((MAX_DEPTH - 1) / 2 + 1)).is_err());
}

#[test]
fn the_deepest_datum_fits_in_a_small_fraction_of_a_consumer_threads_stack() {
    // Consumer threads have Rust's default 2 MiB; the bound must fit in far less, even in a
    // debug build.
    let codec = codec();
    let users = codec.writer_schema(RECURSIVE_USER).expect("admitted");
    let kids = codec.writer_schema(ARRAY_NESTED_USER).expect("admitted");
    let (deepest_users, deepest_kids) = (
        nested_users(MAX_DEPTH - 1),
        nested_kids((MAX_DEPTH - 1) / 2),
    );
    let too_deep = nested_users(100_000);
    let decoded = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn_scoped(scope, || {
                (
                    codec.decode_generic(&users, &deepest_users).is_ok(),
                    codec.decode_generic(&kids, &deepest_kids).is_ok(),
                    codec.decode_generic(&users, &too_deep).is_err(),
                )
            })
            .expect("thread")
            .join()
            .expect("no stack overflow")
    });
    assert_eq!(decoded, (true, true, true));
}

#[test]
fn a_record_that_holds_itself_through_required_fields_is_an_error() {
    for schema in [
        r#"{"type":"record","name":"User","fields":[{"name":"me","type":"User"},{"name":"name","type":"string"}]}"#,
        r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"me","type":"User"}]}"#,
    ] {
        let error = ours(schema, &[0x00; 1000]).expect_err("no finite value");
        assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
    }
}

/// A datum of `fields` before `name` = "x".
fn with_prefix(prefix: &[i64], tail: &[u8]) -> Vec<u8> {
    let mut datum = Vec::new();
    for &n in prefix {
        write_long(n, &mut datum);
    }
    datum.extend_from_slice(tail);
    datum
}

#[test]
fn huge_claimed_counts_and_lengths_are_errors_at_once() {
    let array = r#"{"type":"record","name":"User","fields":[{"name":"xs","type":{"type":"array","items":"long"}},{"name":"name","type":"string"}]}"#;
    let map = r#"{"type":"record","name":"User","fields":[{"name":"m","type":{"type":"map","values":"null"}},{"name":"name","type":"string"}]}"#;
    let string = r#"{"type":"record","name":"User","fields":[{"name":"s","type":"string"},{"name":"name","type":"string"}]}"#;
    let cases = [
        (array, with_prefix(&[1 << 60], &[2, 2, 2])),
        (array, with_prefix(&[i64::MAX], &[])),
        (array, with_prefix(&[-(1 << 60), 3], &[2, 2, 2])),
        (map, with_prefix(&[1 << 40], &[0x02, b'k'])),
        (string, with_prefix(&[1 << 62], b"abc")),
        (string, with_prefix(&[1 << 62], &[])),
        (USER_SCHEMA_JSON, with_prefix(&[1 << 62], b"abc")),
        (RECURSIVE_USER, with_prefix(&[i64::MAX], b"abc")),
    ];
    for (schema, datum) in cases {
        let started = Instant::now();
        let error = ours(schema, &datum).expect_err("claims more than it has");
        assert_eq!(error.kind(), AvroErrorKind::Truncated, "{error}");
        assert!(started.elapsed() < Duration::from_millis(100), "{schema}");
        // apache-avro fails too (after reserving by the claim: up to 16 MiB of items here).
        assert!(apache(schema, &datum).is_err());
    }
}

#[test]
fn the_name_is_the_only_allocation_and_it_is_capped() {
    let big = MAX_DECODE_ALLOCATION + 1;
    let mut datum = Vec::new();
    write_long(big as i64, &mut datum);
    datum.resize(datum.len() + big, b'a');
    let codec = codec();
    // The direct path reads our own schema and is bounded by the datum; the resolving one
    // also by the cap.
    let writer = codec.writer_schema(USER_SCHEMA_JSON).expect("own schema");
    let error = codec
        .decode_generic(&writer, &datum)
        .expect_err("over the cap");
    assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
}

#[test]
fn blocks_of_items_that_take_no_bytes_cost_one_visit_each() {
    for items in [
        r#""null""#,
        r#"{"type":"record","name":"E","fields":[]}"#,
        r#"{"type":"fixed","name":"Z","size":0}"#,
    ] {
        let schema = format!(
            r#"{{"type":"record","name":"User","fields":[{{"name":"xs","type":{{"type":"array","items":{items}}}}},{{"name":"name","type":"string"}}]}}"#
        );
        // 100,000 blocks each claiming i64::MAX items: 4 * 10^5 bytes, 9 * 10^23 items.
        let mut datum = Vec::new();
        for _ in 0..100_000 {
            write_long(i64::MAX, &mut datum);
        }
        datum.extend([0x00, 0x02, b'x']);
        let started = Instant::now();
        assert_eq!(ours(&schema, &datum), Ok(User { name: "x".into() }));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn fixed_of_huge_size_is_an_error_not_an_allocation() {
    let skipped = r#"{"type":"record","name":"User","fields":[{"name":"blob","type":{"type":"fixed","name":"Huge","size":1099511627776}},{"name":"name","type":"string"}]}"#;
    let error = ours(skipped, &[0x02, b'x']).expect_err("1 TiB fixed");
    assert_eq!(error.kind(), AvroErrorKind::Truncated, "{error}");
    let as_name = r#"{"type":"record","name":"User","fields":[{"name":"name","type":{"type":"fixed","name":"Huge","size":1099511627776}}]}"#;
    let error = ours(as_name, &[0x02, b'x']).expect_err("1 TiB name");
    assert_eq!(error.kind(), AvroErrorKind::Truncated, "{error}");
}

#[test]
fn visits_per_record_are_capped() {
    // R0 holds R1 holds … R34 holds a boolean: 36 visits per one-byte item of the array, the
    // most apache-avro's JSON parser lets a schema nest (it stops at 128 levels of JSON).
    const LEVELS: usize = 35;
    let mut nested = r#""boolean""#.to_string();
    for i in (0..LEVELS).rev() {
        nested = format!(
            r#"{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":{nested}}}]}}"#
        );
    }
    let schema = format!(
        r#"{{"type":"record","name":"User","fields":[{{"name":"xs","type":{{"type":"array","items":{nested}}}}},{{"name":"name","type":"string"}}]}}"#
    );
    let datum = |items: usize| {
        let mut datum = Vec::new();
        write_long(items as i64, &mut datum);
        datum.resize(datum.len() + items, 1);
        datum.extend([0x00, 0x02, b'x']);
        datum
    };
    let per_item = LEVELS + 1;
    let under = datum(MAX_VISITS / per_item - 10);
    assert_eq!(ours(&schema, &under), Ok(User { name: "x".into() }));
    let over = datum(MAX_VISITS / per_item + 10);
    let started = Instant::now();
    let error = ours(&schema, &over).expect_err("over the cap");
    assert_eq!(error.kind(), AvroErrorKind::Limit, "{error}");
    println!(
        "figures: a {}-byte record refused after {MAX_VISITS} visits in {:?} (this build)",
        over.len(),
        started.elapsed()
    );
}
