//! A property/fuzz target for the decoding path a consumer runs on every message.
//!
//! - Payloads: arbitrary and mutated payloads through the Confluent framing and both Avro
//!   decoders (the direct one and the resolving one, with our own schema and a newer one).
//!   Nothing may panic, and whatever decodes must be a `User` that survives re-encoding.
//!   `FUZZ_ITERATIONS` sets the number of payloads (default 200,000).
//! - Writer schemas: generated ones ([`writer_schemas`], [`records`]: evolutions of `User` with every kind
//!   of field, recursive ones, ones that cannot become a `User`), each with valid records
//!   encoded by hand, mutations of them, random bytes, and, for recursive schemas, records
//!   nested as deep as the schema allows. Admission must refuse exactly the schemas that
//!   cannot become a `User`; a valid record must become the `User` it was written with; and
//!   where apache-avro (the reference here) resolves a record of a schema that is not
//!   recursive, the decoder must give the same `User` — or have found the datum truncated,
//!   which apache-avro tolerates at its very end. `FUZZ_SCHEMAS` sets the number of schemas
//!   (default 4,000). `FUZZ_COMPARE=0` leaves apache-avro out for the invalid records:
//!   apache-avro reserves memory by the counts a record claims (a 20-byte record can make it
//!   ask for 680 MB), so a run under a memory limit (`ulimit -v`) that shows what the
//!   daemon's decoder needs must do without it.
//!
//! Each test prints a `figures:` line with its counts and the slowest decode of one record.

mod records;
mod writer_schemas;

use std::time::{Duration, Instant};

use apache_avro::Schema;
use kafka_avro_daemon::internals::format::{
    decode_framed, encode_framed, AvroError, AvroErrorKind, User, UserCodec, HEADER_LEN,
    USER_SCHEMA_JSON,
};

use records::Expected;

/// xorshift64*: deterministic, so a failure is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A payload: random bytes, or a valid framed record with a random mutation.
fn payload(rng: &mut Rng, codec: &UserCodec) -> Vec<u8> {
    if rng.below(4) == 0 {
        let len = rng.below(40) as usize;
        return rng.bytes(len);
    }
    let name_len = rng.below(24) as usize;
    let name: String = (0..name_len)
        .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('x'))
        .collect();
    let mut datum = Vec::new();
    codec.encode(&User { name }, &mut datum);
    if rng.below(2) == 0 {
        // The same record as the newer schema writes it: age = null, tags = [].
        datum.extend([0x00, 0x00]);
    }
    let mut framed = encode_framed(1, &datum);
    match rng.below(6) {
        0 => {
            let at = rng.below(framed.len() as u64) as usize;
            framed[at] ^= 1 << rng.below(8);
        }
        1 => framed.truncate(rng.below(framed.len() as u64) as usize),
        2 => {
            let extra = rng.below(8) as usize;
            framed.extend(rng.bytes(extra));
        }
        3 if framed.len() > HEADER_LEN => framed[HEADER_LEN] = rng.next() as u8,
        4 => {
            let at = rng.below(framed.len() as u64) as usize;
            let inserted = 1 + rng.below(10) as usize;
            framed.splice(at..at, rng.bytes(inserted));
        }
        _ => {}
    }
    framed
}

fn env_count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The slowest decode of one record so far, and that record's size. A decode that seems the
/// slowest is timed four times more and counts with its fastest run: on a shared machine a
/// thread may lose its core for milliseconds in the middle of a microsecond's work.
#[derive(Default)]
struct Slowest(Duration, usize);

impl Slowest {
    fn time<T>(&mut self, datum: &[u8], mut decode: impl FnMut(&[u8]) -> T) -> T {
        let started = Instant::now();
        let result = decode(datum);
        let mut took = started.elapsed();
        if took > self.0 {
            for _ in 0..4 {
                let again = Instant::now();
                decode(datum);
                took = took.min(again.elapsed());
            }
            if took > self.0 {
                *self = Slowest(took, datum.len());
            }
        }
        result
    }
}

impl std::fmt::Display for Slowest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} (a {}-byte record)", self.0, self.1)
    }
}

#[test]
fn arbitrary_payloads_never_panic_and_decoded_records_round_trip() {
    let iterations = env_count("FUZZ_ITERATIONS", 200_000);
    let codec = UserCodec::new().expect("codec");
    let own = codec.writer_schema(USER_SCHEMA_JSON).expect("own schema");
    let newer = codec
        .writer_schema(
            r#"{"namespace":"example.avro","type":"record","name":"User","fields":[
                {"name":"name","type":"string"},
                {"name":"age","type":["null","int"],"default":null},
                {"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}"#,
        )
        .expect("newer schema");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut framed_ok, mut decoded, mut resolved) = (0u64, 0u64, 0u64);
    let mut slowest = Slowest::default();
    let started = Instant::now();
    for _ in 0..iterations {
        let payload = payload(&mut rng, &codec);
        let Ok((_, datum)) = decode_framed(Some(&payload)) else {
            continue;
        };
        framed_ok += 1;
        let direct = slowest.time(datum, |d| codec.decode(&own, d));
        let generic = slowest.time(datum, |d| codec.decode_generic(&own, d));
        assert_eq!(
            direct.is_ok(),
            generic.is_ok(),
            "paths disagree on {datum:02x?}"
        );
        if let Ok(user) = direct {
            assert_eq!(Ok(user.clone()), generic, "paths disagree on {datum:02x?}");
            // Not byte equality: a length may arrive as a non-minimal varint, which both
            // decoders accept and the encoder never writes.
            let mut again = Vec::new();
            codec.encode(&user, &mut again);
            assert_eq!(
                codec.decode(&own, &again),
                Ok(user),
                "re-encoded record differs"
            );
            decoded += 1;
        }
        if slowest.time(datum, |d| codec.decode(&newer, d)).is_ok() {
            resolved += 1;
        }
    }
    println!(
        "figures: fuzz_decoder payloads: {iterations} inputs, {framed_ok} well framed, \
         {decoded} decoded as User, {resolved} decoded through schema resolution; no panic; \
         slowest decode {}; {:.1} s in all",
        slowest,
        started.elapsed().as_secs_f64()
    );
    assert!(
        decoded > iterations / 20,
        "the generator should also make valid records"
    );
}

/// What apache-avro's resolution into `User` gives, trailing bytes an error as in the daemon.
fn apache(writer: &Schema, reader: &Schema, datum: &[u8]) -> Result<User, String> {
    let mut rest = datum;
    let value =
        apache_avro::from_avro_datum(writer, &mut rest, Some(reader)).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes left over", rest.len()));
    }
    apache_avro::from_value::<User>(&value).map_err(|e| e.to_string())
}

/// A valid datum must become the `User` it was written with; only the depth bound may refuse
/// it, and only when it nests deeper than the bound.
fn check_valid(ours: &Result<User, AvroError>, expected: &Expected, what: &str) {
    match (ours, expected) {
        (Ok(user), Some(name)) => assert_eq!(&user.name, name, "{what}"),
        (Err(e), _) if e.kind() == AvroErrorKind::Limit => {}
        (Err(_), None) => {}
        _ => panic!("{what}: decoded {ours:?}, written as {expected:?}"),
    }
}

/// Tallies of how the decoder and apache-avro compared on records that may be invalid.
#[derive(Default)]
struct Comparison {
    same_user: u64,
    both_refused: u64,
    /// apache-avro read a datum that ends early (it reads a missing boolean, string or union
    /// index at the very end as null) or a 10-byte varint with bits past 64.
    apache_lenient: u64,
    /// apache-avro refused what we read: it parses skipped `uuid` strings, and refuses counts
    /// over its allocation limit even for items that take no bytes.
    apache_stricter: u64,
}

impl Comparison {
    fn add(
        &mut self,
        ours: &Result<User, AvroError>,
        theirs: &Result<User, String>,
        schema: &str,
        what: &dyn Fn() -> String,
    ) {
        match (ours, theirs) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{}", what());
                self.same_user += 1;
            }
            (Err(_), Err(_)) => self.both_refused += 1,
            (Err(e), Ok(_)) => {
                let lenient = e.kind() == AvroErrorKind::Truncated
                    || (e.kind() == AvroErrorKind::Malformed
                        && e.to_string().contains("overflows 64 bits"));
                assert!(
                    lenient,
                    "{}: we refused ({e}) what apache-avro resolved",
                    what()
                );
                self.apache_lenient += 1;
            }
            (Ok(_), Err(e)) => {
                let stricter = schema.contains(r#""logicalType":"uuid""#) || e.contains("allocate");
                assert!(
                    stricter,
                    "{}: we read what apache-avro refused ({e})",
                    what()
                );
                self.apache_stricter += 1;
            }
        }
    }
}

/// A mutation of a valid datum: bits flipped, cut, extended, bytes spliced in, or a huge
/// number (a count or length) written over a byte.
fn mutate(rng: &mut Rng, datum: &[u8]) -> Vec<u8> {
    let mut out = datum.to_vec();
    let at = |rng: &mut Rng, len: usize| rng.below(len as u64 + 1) as usize;
    match rng.below(6) {
        0 if !out.is_empty() => {
            let i = at(rng, out.len() - 1);
            out[i] ^= 1 << rng.below(8);
        }
        1 => out.truncate(at(rng, datum.len())),
        2 => {
            let extra = 1 + rng.below(6) as usize;
            out.extend(rng.bytes(extra));
        }
        3 => {
            let i = at(rng, out.len());
            let inserted = 1 + rng.below(10) as usize;
            out.splice(i..i, rng.bytes(inserted));
        }
        4 if !out.is_empty() => {
            let i = at(rng, out.len() - 1);
            let mut huge = Vec::new();
            records::write_long(1 << (20 + rng.below(43)), &mut huge);
            out.splice(i..=i, huge);
        }
        _ => {
            let i = at(rng, out.len());
            out.insert(i, rng.next() as u8);
        }
    }
    out
}

#[test]
fn generated_writer_schemas_are_admitted_and_resolved_as_avro_says_and_nothing_panics() {
    let schemas = env_count("FUZZ_SCHEMAS", 4_000);
    let compare_invalid = env_count("FUZZ_COMPARE", 1) != 0;
    let codec = UserCodec::new().expect("codec");
    let reader = Schema::parse_str(USER_SCHEMA_JSON).expect("reader schema");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut admitted, mut recursive, mut valid, mut mutated, mut random, mut deep) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut deep_refused, mut valid_refused_by_apache) = (0u64, 0u64);
    let mut comparison = Comparison::default();
    let mut slowest = Slowest::default();
    let started = Instant::now();
    for n in 0..schemas {
        let model = writer_schemas::generate(&mut rng);
        let text = model.json();
        let writer = Schema::parse_str(&text)
            .unwrap_or_else(|e| panic!("schema {n} is not valid Avro ({e}): {text}"));
        let ours = codec.writer_schema(&text);
        assert_eq!(
            ours.is_ok(),
            model.admissible,
            "schema {n}: {text}\n{:?}",
            ours.err()
        );
        recursive += u64::from(model.recursive);
        let Ok(ours) = ours else {
            // Refused: apache-avro could not resolve its records either.
            for _ in 0..4 {
                let (datum, _) = model.datum(&mut rng, 2, false);
                assert!(
                    apache(&writer, &reader, &datum).is_err(),
                    "schema {n}: {text}\n{datum:02x?}"
                );
            }
            continue;
        };
        admitted += 1;
        for _ in 0..3 {
            let (datum, expected) = model.datum(&mut rng, 3, false);
            valid += 1;
            let result = slowest.time(&datum, |d| codec.decode(&ours, d));
            let what = || format!("schema {n}: {text}\ndatum {datum:02x?}");
            check_valid(&result, &expected, &what());
            // Valid records nest at most 3 `User`s: shallow enough for apache-avro's stack.
            let theirs = apache(&writer, &reader, &datum);
            assert_eq!(
                theirs.as_ref().ok().map(|u| &u.name),
                expected.as_ref(),
                "apache-avro: {}",
                what()
            );
            valid_refused_by_apache += u64::from(theirs.is_err());
            for _ in 0..4 {
                let bad = mutate(&mut rng, &datum);
                mutated += 1;
                let result = slowest.time(&bad, |d| codec.decode(&ours, d));
                if compare_invalid && !model.recursive {
                    let theirs = apache(&writer, &reader, &bad);
                    comparison.add(&result, &theirs, &text, &|| {
                        format!("schema {n}: {text}\nmutated {bad:02x?}")
                    });
                }
            }
        }
        for _ in 0..2 {
            let len = rng.below(48) as usize;
            let bytes = rng.bytes(len);
            random += 1;
            let result = slowest.time(&bytes, |d| codec.decode(&ours, d));
            if compare_invalid && !model.recursive {
                let theirs = apache(&writer, &reader, &bytes);
                comparison.add(&result, &theirs, &text, &|| {
                    format!("schema {n}: {text}\nrandom {bytes:02x?}")
                });
            }
        }
        if model.recursive {
            // As deep as the schema lets a writer go; not given to apache-avro, whose stack
            // this would overflow.
            let (datum, expected) = model.datum(&mut rng, 150, true);
            deep += 1;
            let result = slowest.time(&datum, |d| codec.decode(&ours, d));
            check_valid(
                &result,
                &expected,
                &format!("schema {n}: {text}\ndeep datum of {} bytes", datum.len()),
            );
            deep_refused += u64::from(result.is_err());
        }
    }
    println!(
        "figures: fuzz_decoder schemas: {schemas} writer schemas ({admitted} admitted, {recursive} \
         recursive), {} records ({valid} valid, {mutated} mutated, {random} random, {deep} nested \
         as deep as allowed, {deep_refused} of them past the depth bound); valid records: all \
         became the User written, apache-avro agreed on every one ({valid_refused_by_apache} \
         refused by both); invalid ones against apache-avro{}: {} same User, {} refused by \
         both, {} truncated ones apache-avro read anyway, {} apache-avro refused and we read; \
         no panic; slowest decode {}; {:.1} s in all",
        valid + mutated + random + deep,
        if compare_invalid { "" } else { " (off: FUZZ_COMPARE=0)" },
        comparison.same_user,
        comparison.both_refused,
        comparison.apache_lenient,
        comparison.apache_stricter,
        slowest,
        started.elapsed().as_secs_f64()
    );
    assert!(
        admitted > schemas / 2 && recursive > schemas / 10,
        "the generator should vary"
    );
    assert!(
        deep_refused > 0,
        "some deep records should reach the depth bound"
    );
}
