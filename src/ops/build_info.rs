//! What this binary is: its version, the librdkafka it links and the features that librdkafka
//! was built with (compression codecs, SSL, SASL mechanisms). `--version` prints it and
//! `/metrics` carries it as `kafka_avro_daemon_build_info`, so an operator can tell from a
//! running daemon whether, say, zstd records can be read.

use std::ffi::{c_char, CStr};
use std::sync::OnceLock;

use rdkafka::bindings;

/// The version of the daemon, of librdkafka, and librdkafka's `builtin.features`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// This crate's version.
    pub version: &'static str,
    /// The librdkafka version linked in, e.g. `2.12.1`.
    pub librdkafka: String,
    /// librdkafka's `builtin.features`, comma-separated (`gzip,snappy,ssl,…,zstd,…`).
    pub features: String,
}

impl BuildInfo {
    /// Read once from librdkafka.
    pub fn get() -> &'static BuildInfo {
        static INFO: OnceLock<BuildInfo> = OnceLock::new();
        INFO.get_or_init(|| BuildInfo {
            version: env!("CARGO_PKG_VERSION"),
            librdkafka: rdkafka::util::get_rdkafka_version().1,
            features: builtin_features().unwrap_or_else(|| "unknown".to_string()),
        })
    }
}

/// librdkafka's `builtin.features` property, from a fresh default configuration.
fn builtin_features() -> Option<String> {
    let name = c"builtin.features";
    let mut buffer = [0 as c_char; 512];
    let mut size = buffer.len();
    // SAFETY: the configuration is created, read and destroyed here and never shared;
    // `rd_kafka_conf_get` writes at most `size` bytes, NUL included, into `buffer` and sets
    // `size`; the result is read only when it reports success.
    unsafe {
        let conf = bindings::rd_kafka_conf_new();
        if conf.is_null() {
            return None;
        }
        let result =
            bindings::rd_kafka_conf_get(conf, name.as_ptr(), buffer.as_mut_ptr(), &mut size);
        bindings::rd_kafka_conf_destroy(conf);
        if result != bindings::rd_kafka_conf_res_t::RD_KAFKA_CONF_OK {
            return None;
        }
        Some(
            CStr::from_ptr(buffer.as_ptr())
                .to_string_lossy()
                .into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_librdkafka_and_every_compression_codec() {
        let info = BuildInfo::get();
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert!(info.librdkafka.starts_with("2."), "{info:?}");
        for codec in ["gzip", "snappy", "lz4", "zstd", "ssl"] {
            assert!(
                info.features.split(',').any(|f| f == codec),
                "{codec} missing: {info:?}"
            );
        }
    }
}
