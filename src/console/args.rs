//! The `consume` subcommand's arguments: parsed from the command line into [`ConsoleArgs`],
//! or one line saying what is wrong (exit 2).

use std::fmt;

/// What `kafka-avro-daemon consume` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsoleArgs {
    pub(crate) topic: String,
    /// Start where no offset is committed (or, without a group, everywhere) at the beginning
    /// of each partition instead of its end.
    pub(crate) from_beginning: bool,
    /// Stop after this many records, printed or reported as undecodable.
    pub(crate) max_messages: Option<u64>,
    /// The path of a reader schema (an Avro schema's JSON) to resolve every value to.
    pub(crate) reader_schema: Option<String>,
    /// Read as a member of this group and commit what was printed; without one, read every
    /// partition alone and commit nothing.
    pub(crate) group: Option<String>,
    /// Print each value inside an object with its topic, partition, offset, timestamp, key
    /// and writer schema.
    pub(crate) print_metadata: bool,
}

/// The usage line of the subcommand, for `--help` and after an argument error.
pub(crate) const USAGE: &str = "Usage: kafka-avro-daemon consume --topic TOPIC [--from-beginning] [--max-messages N] [--reader-schema FILE] [--group GROUP] [--print-metadata]";

/// What `--help` of the subcommand prints.
pub(crate) fn help_text() -> String {
    format!(
        "{USAGE}\n\n\
         Prints each record of TOPIC as one line of JSON (the Avro JSON encoding) on stdout;\n\
         each record that cannot be decoded is one error line on stderr, and reading goes on.\n\
         Brokers and registry come from the daemon's variables (KAFKA_BOOTSTRAP_SERVERS,\n\
         SCHEMA_REGISTRY_*, LIBRDKAFKA_*; see kafka-avro-daemon --help).\n\n\
         \x20 --topic TOPIC          the topic to read (required)\n\
         \x20 --from-beginning       start at the beginning of each partition (else at its end)\n\
         \x20 --max-messages N       exit 0 after N records, printed or reported\n\
         \x20 --reader-schema FILE   resolve every value to this Avro schema (JSON)\n\
         \x20 --group GROUP          read as a member of GROUP and commit what was printed;\n\
         \x20                        without it every partition is read and nothing committed\n\
         \x20 --print-metadata       print {{\"topic\", \"partition\", \"offset\", \"timestamp\",\n\
         \x20                        \"key\", \"schema_id\" or \"schema_guid\", \"value\"}} per record\n\n\
         Exit status: 0 after --max-messages records, on SIGINT/SIGTERM or a closed stdout;\n\
         1 when the topic does not exist (or, without --group, is deleted), the brokers do\n\
         not answer within TOPIC_CHECK_TIMEOUT_S, or reading fails; 2 for bad arguments or\n\
         configuration; 3 when a stop takes longer than STOP_TIMEOUT_MS (which must exceed\n\
         FLUSH_TIMEOUT_MS, as for the daemon): stdout not read, brokers hung.\n"
    )
}

/// An argument the subcommand cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgsError(String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({USAGE})", self.0)
    }
}

/// What the command line asks for: the arguments, or `None` for `--help`.
pub(crate) fn parse(args: &[String]) -> Result<Option<ConsoleArgs>, ArgsError> {
    let mut topic = None;
    let mut from_beginning = false;
    let mut max_messages = None;
    let mut reader_schema = None;
    let mut group = None;
    let mut print_metadata = false;
    let mut rest = args.iter();
    let mut seen = std::collections::HashSet::new();
    while let Some(arg) = rest.next() {
        // `--flag=value` and `--flag value` alike.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, ArgsError> {
            let value = match inline.clone() {
                Some(value) => value,
                None => rest
                    .next()
                    .cloned()
                    .ok_or_else(|| ArgsError(format!("{name} needs a value")))?,
            };
            if value.is_empty() || (inline.is_none() && value.starts_with("--")) {
                return Err(ArgsError(format!("{name} needs a value")));
            }
            Ok(value)
        };
        let switch = |name: &str| match &inline {
            Some(_) => Err(ArgsError(format!("{name} takes no value"))),
            None => Ok(true),
        };
        if flag.starts_with("--") && !seen.insert(flag.to_string()) {
            return Err(ArgsError(format!("{flag} is given twice")));
        }
        match flag {
            "-h" | "--help" => return Ok(None),
            "--topic" => topic = Some(value(flag)?),
            "--from-beginning" => from_beginning = switch(flag)?,
            "--max-messages" => {
                let text = value(flag)?;
                let n: u64 = text.parse().map_err(|_| {
                    ArgsError(format!(
                        "--max-messages must be a whole number of records, not {text:?}"
                    ))
                })?;
                if n == 0 {
                    return Err(ArgsError("--max-messages must be at least 1".to_string()));
                }
                max_messages = Some(n);
            }
            "--reader-schema" => reader_schema = Some(value(flag)?),
            "--group" => group = Some(value(flag)?),
            "--print-metadata" => print_metadata = switch(flag)?,
            other => return Err(ArgsError(format!("unknown argument {other:?}"))),
        }
    }
    let Some(topic) = topic else {
        return Err(ArgsError("--topic is required".to_string()));
    };
    if !is_topic_name(&topic) {
        return Err(ArgsError(format!(
            "{topic:?} is no Kafka topic name (at most 249 of a-z, A-Z, 0-9, '.', '_', '-')"
        )));
    }
    Ok(Some(ConsoleArgs {
        topic,
        from_beginning,
        max_messages,
        reader_schema,
        group,
        print_metadata,
    }))
}

/// Kafka's rule for topic names.
fn is_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Option<ConsoleArgs>, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse(&args).map_err(|e| e.to_string())
    }

    #[test]
    fn every_flag_is_read_in_both_spellings() {
        let args = parsed(&[
            "--topic",
            "orders",
            "--from-beginning",
            "--max-messages=5",
            "--reader-schema",
            "r.avsc",
            "--group=g",
            "--print-metadata",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            args,
            ConsoleArgs {
                topic: "orders".to_string(),
                from_beginning: true,
                max_messages: Some(5),
                reader_schema: Some("r.avsc".to_string()),
                group: Some("g".to_string()),
                print_metadata: true,
            }
        );
        let plain = parsed(&["--topic=t"]).unwrap().unwrap();
        assert_eq!(
            (plain.from_beginning, plain.group, plain.max_messages),
            (false, None, None)
        );
        assert_eq!(parsed(&["--topic", "t", "--help"]).unwrap(), None);
    }

    #[test]
    fn bad_arguments_are_one_line_naming_the_argument_and_the_usage() {
        for (args, says) in [
            (&[][..], "--topic is required"),
            (&["--topic"][..], "--topic needs a value"),
            (&["--topic="][..], "--topic needs a value"),
            (
                &["--topic", "--from-beginning"][..],
                "--topic needs a value",
            ),
            (
                &["--topic", "a", "--topic", "b"][..],
                "--topic is given twice",
            ),
            (&["--topic", "a b"][..], "no Kafka topic name"),
            (&["--topic", ".."][..], "no Kafka topic name"),
            (
                &["--topic", "t", "--max-messages", "ten"][..],
                "not \"ten\"",
            ),
            (&["--topic", "t", "--max-messages", "-1"][..], "not \"-1\""),
            (&["--topic", "t", "--max-messages", "0"][..], "at least 1"),
            (
                &["--topic", "t", "--from-beginning=yes"][..],
                "takes no value",
            ),
            (
                &["--topic", "t", "--partition", "1"][..],
                "unknown argument \"--partition\"",
            ),
        ] {
            let error = parsed(args).unwrap_err();
            assert!(error.contains(says), "{args:?}: {error}");
            assert!(error.contains(USAGE), "{error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }
}
