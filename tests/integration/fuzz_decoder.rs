//! A property/fuzz target for the decoding path a consumer runs on every message: arbitrary
//! and mutated payloads through the Confluent framing and both Avro decoders (the direct one
//! and apache-avro's generic one, with and without schema resolution). Nothing may panic, and
//! whatever decodes must be a `User` that survives re-encoding.
//!
//! `FUZZ_ITERATIONS` sets the number of inputs (default 200,000); the count run is printed.

use kafka_avro_daemon::format::{
    decode_framed, encode_framed, User, UserCodec, HEADER_LEN, USER_SCHEMA_JSON,
};

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

#[test]
fn arbitrary_payloads_never_panic_and_decoded_records_round_trip() {
    let iterations: u64 = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
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
    for _ in 0..iterations {
        let payload = payload(&mut rng, &codec);
        let Ok((_, datum)) = decode_framed(Some(&payload)) else {
            continue;
        };
        framed_ok += 1;
        let direct = codec.decode(&own, datum);
        let generic = codec.decode_generic(&own, datum);
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
        if codec.decode(&newer, datum).is_ok() {
            resolved += 1;
        }
    }
    println!(
        "fuzz: {iterations} inputs, {framed_ok} well framed, {decoded} decoded as User, \
         {resolved} decoded through schema resolution; no panic"
    );
    assert!(
        decoded > iterations / 20,
        "the generator should also make valid records"
    );
}
