//! Values that must never reach a log line: a [`Secret`] shows as `<redacted>` in `Debug`, so
//! `Config` can derive `Debug`; [`LibrdkafkaProperties`] redacts the values of the
//! pass-through properties whose names mark them as secret.

use std::fmt;

use super::ClientKind;

/// A secret value; only `Secret::expose` gives it out.
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

/// `text` (a rejected value, or an error line that holds a URL) with what a URL in it may
/// carry as a secret hidden: everything from the scheme's `://` (or the start, without one) to
/// the last `@`, however broken the URL (a password may hold `#`, `/` or `?`, which end the
/// authority for a URL parser); and after a scheme, the query (`?api_key=…`) or fragment
/// (where a `#` in a mistyped password leaves the rest of it) and everything after it, as
/// where a URL ends in an error line cannot be told.
pub(crate) fn without_url_secrets(text: &str) -> String {
    let (prefix, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let mut shown = match rest.rfind('@') {
        Some(at) => format!("{prefix}<redacted>@{}", &rest[at + 1..]),
        None => text.to_string(),
    };
    if !prefix.is_empty() {
        if let Some(start) = shown[prefix.len()..].find(['?', '#']) {
            let start = prefix.len() + start;
            let mark = if shown[start..].starts_with('?') {
                "?"
            } else {
                "#"
            };
            shown.truncate(start);
            shown.push_str(mark);
            shown.push_str("<redacted>");
        }
    }
    shown
}

/// One pass-through property: for which clients (`None`: every client it applies to), its
/// librdkafka name (`sasl.username`) and value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PassThrough {
    pub(crate) scope: Option<ClientKind>,
    pub(crate) property: String,
    pub(crate) value: String,
}

/// The `LIBRDKAFKA_*`, `LIBRDKAFKA_PRODUCER_*` and `LIBRDKAFKA_CONSUMER_*` properties, those for
/// every client first, each group sorted by name; `Debug` hides the values of secret ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LibrdkafkaProperties(pub(crate) Vec<PassThrough>);

impl LibrdkafkaProperties {
    /// `(property, value)` pairs for a client of `kind`: only those that apply to it, a scoped
    /// value after (so over) an unscoped one.
    pub(crate) fn for_client(&self, kind: ClientKind) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter(move |p| p.scope.is_none_or(|scope| scope == kind))
            .filter(move |p| kind.accepts(&p.property))
            .map(|p| (p.property.as_str(), p.value.as_str()))
    }
}

impl fmt::Debug for LibrdkafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|p| {
                let scope = match p.scope {
                    None => "",
                    Some(ClientKind::Producer) => "producer:",
                    Some(ClientKind::Consumer) => "consumer:",
                };
                let value = if is_secret(&p.property) {
                    "<redacted>"
                } else {
                    &p.value
                };
                format!("{scope}{}={value}", p.property)
            }))
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
