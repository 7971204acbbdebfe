//! Values that must never reach a log line: a [`Secret`] shows as `<redacted>` in `Debug`, so
//! `Config` can derive `Debug`; [`LibrdkafkaProperties`] redacts the values of the
//! pass-through properties whose names mark them as secret.

use std::fmt;

/// A secret value; only [`Secret::expose`] gives it out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(value: &str) -> Secret {
        Secret(value.to_string())
    }

    /// The value itself, for the one place that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The `LIBRDKAFKA_*` pass-through properties as librdkafka names them (`sasl.username`),
/// sorted by name; `Debug` hides the values of secret ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LibrdkafkaProperties(pub(crate) Vec<(String, String)>);

impl LibrdkafkaProperties {
    /// `(property, value)` pairs in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for LibrdkafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| format!("{k}={}", if is_secret(k) { "<redacted>" } else { v })),
            )
            .finish()
    }
}

/// Whether a librdkafka property holds a secret that must never be logged: every property
/// librdkafka itself marks sensitive (`_RK_SENSITIVE` in rdkafka_conf.c: passwords, private
/// keys and their passphrases, `sasl.oauthbearer.config`, client secrets) except
/// `sasl.username`, which operators need to see, plus anything named like a secret.
pub(crate) fn is_secret(property: &str) -> bool {
    const SENSITIVE: &[&str] = &[
        "ssl.key.location",
        "ssl.key.password",
        "ssl.key.pem",
        "ssl_key",
        "ssl.ca.pem",
        "ssl.keystore.password",
        "sasl.password",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret",
    ];
    SENSITIVE.contains(&property)
        || property.starts_with("sasl.oauthbearer.assertion.private.key")
        || [
            "password",
            "secret",
            "passphrase",
            "private",
            "key.pem",
            "token",
            "jaas",
        ]
        .iter()
        .any(|s| property.contains(s))
}
