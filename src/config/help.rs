//! The `--help` text, made from the declared variables.

use std::fmt::Write as _;

use super::VARIABLES;

/// Usage, then every variable with its default and help.
pub fn help_text() -> String {
    let mut text = format!(
        "{name} {version}\n\
         Produces Avro `User` records to Kafka (Confluent wire format) and consumes them with a\n\
         single-message consumer and a batch consumer. Stop with SIGINT or SIGTERM.\n\n\
         Usage: {name} [--help | --version]\n\
         \x20      {name} consume --topic TOPIC [...]   print a topic's records as JSON (consume --help)\n\n\
         Configuration (environment variables, default in brackets):\n",
        name = env!("CARGO_PKG_NAME"),
        version = env!("CARGO_PKG_VERSION"),
    );
    for var in VARIABLES {
        let default = if var.default.is_empty() {
            "unset"
        } else {
            var.default
        };
        let _ = write!(
            text,
            "  {:<38} [{}]\n      {}\n",
            var.name, default, var.help
        );
    }
    text
}
