//! The `User` record and its Avro schema (`schemas/user.avsc`, compiled into the binary so the
//! daemon never runs with a schema that differs from the code that reads it).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The text of `schemas/user.avsc`.
pub const USER_SCHEMA_JSON: &str = include_str!("../../schemas/user.avsc");

/// The full name of the record in `schemas/user.avsc` (namespace and name), which the
/// record name strategies put in the subject; a test holds the two together.
pub const USER_FULL_NAME: &str = "example.avro.User";

/// One record on the topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// `user_<n>` for records the daemon produces.
    pub name: String,
}

impl User {
    /// The `n`-th record the producer sends.
    pub fn numbered(n: u64) -> User {
        User {
            name: format!("user_{n}"),
        }
    }
}

/// Shows the record as the original Python service logged it: `{'name': 'user_0'}`.
impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{'name': '")?;
        for c in self.name.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\'' => f.write_str("\\'")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("'}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_name_is_the_schema_s() {
        let schema: serde_json::Value = serde_json::from_str(USER_SCHEMA_JSON).expect("JSON");
        assert_eq!(
            format!(
                "{}.{}",
                schema["namespace"].as_str().expect("namespace"),
                schema["name"].as_str().expect("name")
            ),
            USER_FULL_NAME
        );
    }

    #[test]
    fn displays_like_a_python_dict() {
        assert_eq!(User::numbered(7).to_string(), "{'name': 'user_7'}");
    }

    #[test]
    fn display_escapes_quotes_and_control_characters() {
        let user = User {
            name: "o'neil\\\n\u{1}é".to_string(),
        };
        assert_eq!(user.to_string(), "{'name': 'o\\'neil\\\\\\n\\x01é'}");
    }

    #[test]
    fn schema_file_is_the_user_record() {
        let schema: serde_json::Value =
            serde_json::from_str(USER_SCHEMA_JSON).expect("schemas/user.avsc is JSON");
        assert_eq!(schema["type"], "record");
        assert_eq!(schema["name"], "User");
        assert_eq!(schema["fields"][0]["name"], "name");
        assert_eq!(schema["fields"][0]["type"], "string");
    }
}
