//! Secrets from files: every secret variable is also accepted as `<NAME>_FILE`, naming a file
//! that holds the value (systemd's `LoadCredential=` puts it in `$CREDENTIALS_DIRECTORY`,
//! Docker in `/run/secrets/`), so no secret needs to sit in the process environment
//! (`/proc/<pid>/environ`). Secret variables are `SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO` and
//! every `LIBRDKAFKA_*` whose property is secret (`LIBRDKAFKA_SASL_PASSWORD_FILE`).

use std::io::Read;

use super::secret::is_secret;
use super::{ConfigError, LIBRDKAFKA_PREFIX};

/// Variables whose values are secrets, besides the secret `LIBRDKAFKA_*` properties.
const SECRET_VARIABLES: &[&str] = &["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"];

/// librdkafka properties whose own names end in `.file`: their variables name files for
/// librdkafka, not secrets for us to read.
const LIBRDKAFKA_FILE_PROPERTIES: &[&str] = &[
    "sasl.oauthbearer.assertion.file",
    "sasl.oauthbearer.assertion.jwt.template.file",
    "sasl.oauthbearer.assertion.private.key.file",
];

/// The largest secret file read: a password, a token or a PEM key fits many times over.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The secret variable `name` names the file of, if `name` is `<secret variable>_FILE`.
fn secret_of(name: &str) -> Option<&str> {
    let base = name.strip_suffix("_FILE")?;
    if SECRET_VARIABLES.contains(&base) {
        return Some(base);
    }
    let property = base
        .strip_prefix(LIBRDKAFKA_PREFIX)?
        .to_ascii_lowercase()
        .replace('_', ".");
    let own_property = format!("{property}.file");
    (is_secret(&property) && !LIBRDKAFKA_FILE_PROPERTIES.contains(&own_property.as_str()))
        .then_some(base)
}

/// Whether `name` is the `<NAME>_FILE` form of a secret variable, which the daemon reads.
pub fn is_secret_file_variable(name: &str) -> bool {
    secret_of(name).is_some()
}

/// `vars` with every `<NAME>_FILE` replaced by `<NAME>` and the file's contents (without a
/// final line break). Setting both, or a file that cannot be read, is an error naming the
/// variable; the secret itself is never shown.
pub(super) fn read(vars: &[(String, String)]) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::with_capacity(vars.len());
    for (name, value) in vars {
        let Some(secret) = secret_of(name) else {
            out.push((name.clone(), value.clone()));
            continue;
        };
        let invalid = |expected: String| ConfigError {
            variable: name.clone(),
            value: value.clone(),
            expected,
        };
        if vars
            .iter()
            .any(|(k, v)| k == secret && !v.trim().is_empty())
        {
            return Err(invalid(format!(
                "no value while {secret} is set: set one of the two"
            )));
        }
        let path = value.trim();
        let mut contents = String::new();
        std::fs::File::open(path)
            .and_then(|file| {
                file.take(MAX_SECRET_BYTES + 1)
                    .read_to_string(&mut contents)
            })
            .map_err(|e| invalid(format!("a readable file holding {secret} ({e})")))?;
        if contents.len() as u64 > MAX_SECRET_BYTES {
            return Err(invalid(format!(
                "a file of at most {MAX_SECRET_BYTES} bytes"
            )));
        }
        let contents = contents.strip_suffix('\n').unwrap_or(&contents);
        let contents = contents.strip_suffix('\r').unwrap_or(contents);
        out.push((secret.to_string(), contents.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn secret_file(contents: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).expect("write secret");
        path
    }

    #[test]
    fn a_secret_comes_from_its_file_without_the_line_break() {
        let file = secret_file("bob:s3cret\n");
        let path = file.display().to_string();
        let read = read(&vars(&[
            ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO_FILE", &path),
            ("LIBRDKAFKA_SASL_PASSWORD_FILE", &path),
            ("TEST_TOPIC_NAME", "t"),
        ]))
        .expect("readable");
        assert_eq!(
            read,
            vars(&[
                ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "bob:s3cret"),
                ("LIBRDKAFKA_SASL_PASSWORD", "bob:s3cret"),
                ("TEST_TOPIC_NAME", "t"),
            ])
        );
        let _ = std::fs::remove_file(file);
    }

    #[test]
    fn only_secrets_are_read_and_librdkafka_s_own_file_properties_pass() {
        assert_eq!(secret_of("TEST_TOPIC_NAME_FILE"), None);
        assert_eq!(secret_of("LIBRDKAFKA_SASL_USERNAME_FILE"), None);
        assert_eq!(
            secret_of("LIBRDKAFKA_SASL_OAUTHBEARER_ASSERTION_PRIVATE_KEY_FILE"),
            None
        );
        assert_eq!(
            secret_of("LIBRDKAFKA_SSL_KEY_PASSWORD_FILE"),
            Some("LIBRDKAFKA_SSL_KEY_PASSWORD")
        );
    }

    #[test]
    fn both_or_an_unreadable_file_is_an_error_that_shows_no_secret() {
        let file = secret_file("s3cret");
        let path = file.display().to_string();
        let both = read(&vars(&[
            ("LIBRDKAFKA_SASL_PASSWORD", "other"),
            ("LIBRDKAFKA_SASL_PASSWORD_FILE", &path),
        ]))
        .expect_err("both set");
        assert!(both.expected.contains("set one of the two"), "{both}");
        let missing = read(&vars(&[(
            "LIBRDKAFKA_SASL_PASSWORD_FILE",
            "/nonexistent/pw",
        )]))
        .expect_err("no file");
        assert_eq!(missing.variable, "LIBRDKAFKA_SASL_PASSWORD_FILE");
        assert!(!format!("{both}{missing}").contains("s3cret"));
        let _ = std::fs::remove_file(file);
    }
}
