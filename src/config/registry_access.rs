//! How the daemon reaches a secured registry, from files named by variables: the CA it trusts,
//! a client certificate and key for mutual TLS, and a bearer token file.
//!
//! Every file is read (and its PEM checked) while the configuration is parsed, so a missing,
//! unreadable or malformed file stops the daemon with exit 2 and one line naming the variable
//! and the file, never its contents. The TLS backend is native-tls on OpenSSL: it takes
//! certificates as PEM and a private key only as unencrypted PKCS#8 PEM
//! (`-----BEGIN PRIVATE KEY-----`), so other key formats are refused here with the command
//! that converts them.
//!
//! The token is different from a `<NAME>_FILE` secret: tokens expire and are rotated on disk
//! by an agent, so the registry client re-reads the file when the registry answers 401
//! ([`TokenFile::read`]); the file is only checked here.

use std::fmt;
use std::io::Read;

use super::secret::Secret;
use super::ConfigError;

/// The largest PEM file read: a system CA bundle is about 200 KiB.
const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// The largest token file read: a JWT with many claims is a few KiB.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// A PEM file named by a variable: where it is, for messages, and what it holds. `Debug`
/// shows the path only (a key's contents are a secret).
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    pub(crate) path: String,
    pub(crate) pem: Vec<u8>,
}

impl fmt::Debug for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PemFile({:?})", self.path)
    }
}

/// The file that holds the registry's bearer token; read again whenever the registry answers
/// 401, because the agent that renews the token rewrites it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenFile {
    pub(crate) path: String,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenFile({:?})", self.path)
    }
}

impl TokenFile {
    /// The token now in the file: one line of visible ASCII (a header value), without the
    /// final line break. The error says what is wrong, never the contents.
    pub(crate) fn read(&self) -> Result<Secret, String> {
        let text = read_bounded(&self.path, MAX_TOKEN_BYTES)?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("{} is empty", self.path));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{} holds more than one token: expected one line of visible ASCII",
                self.path
            ));
        }
        Ok(Secret::new(token))
    }
}

/// `path`'s contents as text, at most `limit` bytes of it.
fn read_bounded(path: &str, limit: u64) -> Result<String, String> {
    let mut contents = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit + 1).read_to_string(&mut contents))
        .map_err(|e| format!("{path} cannot be read ({e})"))?;
    if contents.len() as u64 > limit {
        return Err(format!("{path} is larger than {limit} bytes"));
    }
    Ok(contents)
}

/// `SCHEMA_REGISTRY_SSL_CA_LOCATION`: a PEM file of one or more CA certificates.
pub(super) fn ca_certificates(path: &str) -> Result<PemFile, String> {
    let pem = read_bounded(path, MAX_PEM_BYTES)?.into_bytes();
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(PemFile {
            path: path.to_string(),
            pem,
        }),
        Ok(_) => Err(format!(
            "a PEM file of CA certificates (-----BEGIN CERTIFICATE-----); {path} holds none"
        )),
        Err(e) => Err(format!(
            "a PEM file of CA certificates; {path} does not parse ({})",
            cause_of(&e)
        )),
    }
}

/// `SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION`: the client's certificate chain, leaf first.
pub(super) fn certificate_chain(path: &str) -> Result<PemFile, String> {
    let pem = read_bounded(path, MAX_PEM_BYTES)?.into_bytes();
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "a PEM file of the client certificate chain, leaf first (-----BEGIN CERTIFICATE-----); {path} holds none"
        ));
    }
    Ok(PemFile {
        path: path.to_string(),
        pem,
    })
}

/// `SCHEMA_REGISTRY_SSL_KEY_LOCATION`: the client's private key, unencrypted PKCS#8 PEM. Other
/// formats are named and refused with the conversion, since native-tls would only say
/// "expected PKCS#8 PEM".
pub(super) fn private_key(path: &str) -> Result<PemFile, String> {
    let text = read_bounded(path, MAX_PEM_BYTES)?;
    let convert =
        format!("convert it with: openssl pkcs8 -topk8 -nocrypt -in {path} -out key.pkcs8.pem");
    let trimmed = text.trim_start();
    if trimmed.starts_with("-----BEGIN PRIVATE KEY-----") {
        // native-tls wants the marker at the very start.
        return Ok(PemFile {
            path: path.to_string(),
            pem: trimmed.as_bytes().to_vec(),
        });
    }
    let found = if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        "an encrypted PKCS#8 key (keys with a passphrase are not supported)"
    } else if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        "a PKCS#1 RSA key (BEGIN RSA PRIVATE KEY)"
    } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
        "a SEC1 EC key (BEGIN EC PRIVATE KEY)"
    } else {
        "no PEM private key"
    };
    Err(format!(
        "an unencrypted PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); {path} holds {found}: {convert}"
    ))
}

/// `SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE`: a file that holds a token now.
pub(super) fn token_file(path: &str) -> Result<TokenFile, String> {
    let file = TokenFile {
        path: path.to_string(),
    };
    file.read()
        .map(|_| file)
        .map_err(|e| format!("a file holding the registry's bearer token; {e}"))
}

/// A header value Confluent Cloud needs next to the bearer token (a cluster or pool id).
pub(super) fn header_value(value: &str) -> Result<String, String> {
    if value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(value.to_string())
    } else {
        Err("an id of visible ASCII characters, e.g. lsrc-abc123 or pool-AbCd".to_string())
    }
}

/// The registry settings that only make sense together.
pub(super) fn check(config: &super::Config) -> Result<(), ConfigError> {
    let invalid = |variable: &str, value: &str, expected: String| ConfigError {
        variable: variable.to_string(),
        value: value.to_string(),
        expected,
    };
    if let Some(token) = &config.schema_registry_bearer_token {
        if config.schema_registry_user_info.is_some() {
            return Err(invalid(
                "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE",
                &token.path,
                "no value while SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO is set: the registry takes one kind of credentials, set one of the two".to_string(),
            ));
        }
    } else {
        for (variable, value) in [
            (
                "SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER",
                &config.schema_registry_logical_cluster,
            ),
            (
                "SCHEMA_REGISTRY_BEARER_AUTH_IDENTITY_POOL_ID",
                &config.schema_registry_identity_pool,
            ),
        ] {
            if let Some(value) = value {
                return Err(invalid(
                    variable,
                    value,
                    "no value without SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE: it goes with the bearer token".to_string(),
                ));
            }
        }
    }
    match (
        &config.schema_registry_certificate,
        &config.schema_registry_key,
    ) {
        (None, None) => Ok(()),
        (Some(certificate), None) => Err(invalid(
            "SCHEMA_REGISTRY_SSL_KEY_LOCATION",
            "",
            format!(
                "the client certificate's key, since SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION={} is set",
                certificate.path
            ),
        )),
        (None, Some(key)) => Err(invalid(
            "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION",
            "",
            format!(
                "the client certificate, since SCHEMA_REGISTRY_SSL_KEY_LOCATION={} is set",
                key.path
            ),
        )),
        (Some(certificate), Some(key)) => identity(certificate, key)
            .map(|_| ())
            .map_err(|e| invalid("SCHEMA_REGISTRY_SSL_KEY_LOCATION", &key.path, e)),
    }
}

/// The client identity for mutual TLS from a checked certificate chain and key. The key must
/// belong to the chain's first certificate: OpenSSL would otherwise refuse it only when the
/// HTTP client is built, with a line naming no variable.
pub(crate) fn identity(certificate: &PemFile, key: &PemFile) -> Result<reqwest::Identity, String> {
    let belongs = openssl::x509::X509::from_pem(&certificate.pem)
        .and_then(|leaf| leaf.public_key())
        .and_then(|public| {
            openssl::pkey::PKey::private_key_from_pem(&key.pem)
                .map(|private| public.public_eq(&private))
        })
        .map_err(|e| {
            format!(
                "the private key of the certificate in {} ({e})",
                certificate.path
            )
        })?;
    if !belongs {
        return Err(format!(
            "the private key of the certificate in {}; {} holds another key",
            certificate.path, key.path
        ));
    }
    reqwest::Identity::from_pkcs8_pem(&certificate.pem, &key.pem).map_err(|e| {
        format!(
            "the private key of the certificate in {} ({})",
            certificate.path,
            cause_of(&e)
        )
    })
}

/// The innermost cause of `error`: reqwest's own message says only "builder error".
fn cause_of(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &str) -> String {
        let path = std::env::temp_dir().join(format!("registry-access-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).expect("write");
        path.display().to_string()
    }

    #[test]
    fn a_token_file_is_one_line_and_read_again_each_time() {
        let path = file("first-token\n");
        let token = token_file(&path).expect("readable");
        assert_eq!(token.read().expect("read").expose(), "first-token");
        std::fs::write(&path, "second-token").expect("rotate");
        assert_eq!(token.read().expect("read").expose(), "second-token");
        std::fs::write(&path, "two\ntokens").expect("write");
        let error = token.read().expect_err("two lines");
        assert!(!error.contains("tokens"), "no contents shown: {error}");
        std::fs::write(&path, "  \n").expect("write");
        assert!(token.read().expect_err("empty").contains("is empty"));
        let _ = std::fs::remove_file(path);
        assert!(token_file("/nonexistent/token")
            .expect_err("missing")
            .contains("/nonexistent/token cannot be read"));
    }

    #[test]
    fn keys_other_than_unencrypted_pkcs8_are_refused_with_the_conversion() {
        for (header, named) in [
            ("RSA PRIVATE KEY", "PKCS#1"),
            ("EC PRIVATE KEY", "SEC1"),
            ("ENCRYPTED PRIVATE KEY", "encrypted"),
        ] {
            let path = file(&format!(
                "-----BEGIN {header}-----\nc2VjcmV0\n-----END {header}-----\n"
            ));
            let error = private_key(&path).expect_err(header);
            assert!(error.contains(named), "{error}");
            assert!(error.contains("openssl pkcs8 -topk8 -nocrypt"), "{error}");
            assert!(!error.contains("c2VjcmV0"), "no key material: {error}");
            let _ = std::fs::remove_file(path);
        }
        let path = file("\n-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
        let key = private_key(&path).expect("PKCS#8 accepted");
        assert!(key.pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
        assert_eq!(format!("{key:?}"), format!("PemFile({path:?})"));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn credentials_and_client_certificates_come_in_whole_sets() {
        use crate::config::Config;
        let token = file("t0k3n");
        let key = file("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
        let refused = |pairs: &[(&str, &str)]| Config::from_pairs(pairs).expect_err("refused");
        let both = refused(&[
            ("SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE", &token),
            ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "u:pa55word"),
        ]);
        assert_eq!(both.variable, "SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE");
        assert!(!both.to_string().contains("pa55word") && !both.to_string().contains("t0k3n"));
        let header = refused(&[("SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER", "lsrc-1")]);
        assert_eq!(
            header.variable,
            "SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER"
        );
        let no_certificate = refused(&[("SCHEMA_REGISTRY_SSL_KEY_LOCATION", &key)]);
        assert_eq!(
            no_certificate.variable,
            "SCHEMA_REGISTRY_SSL_CERTIFICATE_LOCATION"
        );
        let config = Config::from_pairs(&[
            ("SCHEMA_REGISTRY_BEARER_AUTH_TOKEN_FILE", &token),
            ("SCHEMA_REGISTRY_BEARER_AUTH_LOGICAL_CLUSTER", "lsrc-1"),
            ("SCHEMA_REGISTRY_BEARER_AUTH_IDENTITY_POOL_ID", "pool-1"),
        ])
        .expect("a token with its headers");
        assert!(!format!("{config:?}").contains("t0k3n"));
        let _ = std::fs::remove_file(token);
        let _ = std::fs::remove_file(key);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let path = file("not a certificate\n");
        assert!(ca_certificates(&path)
            .expect_err("no certificate")
            .contains("holds none"));
        let _ = std::fs::remove_file(path);
    }
}
