//! The names operators rely on, held to README.md: the configuration table and `--help`
//! against the one declaration in `config/variables.rs`; the log targets against
//! `log_target::ALL`; and, from a real run through start, records, a rebalance and a stop,
//! every line's target, the `RUST_LOG` example, the metric names and the `stats:` fields; and
//! the layers docs/ARCHITECTURE.md draws against the imports in `src/`.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use kafka_avro_daemon::internals::config::VARIABLES;
use kafka_avro_daemon::internals::log_target;

use crate::common::*;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The rows of the first Markdown table after `heading`, as trimmed cells.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has no {heading:?}"));
    text[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// `` `x` `` → `x`.
fn unquote(cell: &str) -> &str {
    cell.trim().trim_matches('`')
}

#[test]
fn readme_variable_table_and_help_match_the_declaration() {
    let rows = table_after(&readme(), "## Configuration");
    let documented: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let default = match unquote(&r[1]) {
                "unset" => "",
                other => other,
            };
            (unquote(&r[0]).to_string(), default.to_string())
        })
        .collect();
    let declared: Vec<(String, String)> = VARIABLES
        .iter()
        .map(|v| (v.name.to_string(), v.default.to_string()))
        .collect();
    assert_eq!(
        documented, declared,
        "README's configuration table (name, default) differs from config/variables.rs"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_kafka-avro-daemon"))
        .arg("--help")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in VARIABLES {
        let default = if variable.default.is_empty() {
            "unset"
        } else {
            variable.default
        };
        let line = help
            .lines()
            .find(|l| l.split_whitespace().next() == Some(variable.name))
            .unwrap_or_else(|| panic!("{} missing from --help:\n{help}", variable.name));
        assert!(line.ends_with(&format!("[{default}]")), "{line}");
    }
}

/// The targets README.md documents.
fn documented_targets() -> BTreeSet<String> {
    table_after(&readme(), "### Log lines and their targets")
        .iter()
        .map(|r| unquote(&r[0]).to_string())
        .collect()
}

#[test]
fn readme_log_targets_match_the_code() {
    let code: BTreeSet<String> = log_target::ALL.iter().map(|t| t.to_string()).collect();
    assert_eq!(documented_targets(), code);
}

/// The level and target of an env_logger line `[<time> <LEVEL> <target>] <message>`.
fn level_and_target(line: &str) -> Option<(&str, &str)> {
    let header = line.strip_prefix('[')?.split_once(']')?.0;
    let mut parts = header.split_whitespace();
    let (_time, level, target) = (parts.next()?, parts.next()?, parts.next()?);
    Some((level, target))
}

/// The README's `RUST_LOG` example that silences per-record lines.
const QUIET_EXAMPLE: &str =
    "RUST_LOG=info,kafka_avro_daemon::delivery=warn,kafka_avro_daemon::single_consumer=warn";

/// `(name, type, label names)` of every metric family in Prometheus text.
fn metric_families(text: &str) -> BTreeSet<(String, String, String)> {
    let mut families = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        let sample = text
            .lines()
            .find(|l| l.starts_with(name) && !l.starts_with('#'))
            .unwrap_or_else(|| panic!("no sample of {name}"));
        let labels: Vec<&str> = sample
            .split_once('{')
            .map(|(_, rest)| rest.split_once('}').expect("closing brace").0)
            .map(|labels| {
                labels
                    .split("\",")
                    .filter_map(|l| l.split_once('=').map(|(k, _)| k))
                    .collect()
            })
            .unwrap_or_default();
        families.insert((name.to_string(), kind.to_string(), labels.join(", ")));
    }
    families
}

/// The metric families README.md documents, in the form of [`metric_families`].
fn documented_metrics() -> BTreeSet<(String, String, String)> {
    table_after(&readme(), "### Metrics and health")
        .iter()
        .map(|r| {
            let labels: Vec<&str> = r[2]
                .split(',')
                .map(unquote)
                .filter(|l| !l.is_empty())
                .collect();
            (unquote(&r[0]).to_string(), r[1].clone(), labels.join(", "))
        })
        .collect()
}

/// The field names of a `stats:` line, in order, each consumer's once.
fn stats_fields(line: &str) -> Vec<String> {
    let body = line.split_once("stats: ").expect("stats line").1;
    let mut fields = Vec::new();
    for (i, part) in body.split(" | ").enumerate() {
        let part = if i == 0 {
            part
        } else {
            part.split_once("): ").expect("consumer (group): fields").1
        };
        for field in part.split_whitespace() {
            let name = field.split_once('=').expect("name=value").0.to_string();
            if !fields.contains(&name) {
                fields.push(name);
            }
        }
    }
    fields
}

/// The `stats:` fields README.md lists, in order.
fn documented_stats_fields() -> Vec<String> {
    let text = readme();
    let start = text
        .find("The `stats:` line has the fields")
        .expect("stats fields");
    let paragraph = text[start..].split("\n\n").next().expect("paragraph");
    let (before, after) = paragraph
        .split_once("then per consumer")
        .expect("then per consumer");
    let after = after.split_once(':').expect("colon").1;
    [before, after]
        .iter()
        .flat_map(|p| p.split('`').skip(1).step_by(2))
        .filter(|f| *f != "stats:")
        .map(str::to_string)
        .collect()
}

/// The field names of an `audit: <consumer> (<group>): …` line, in order.
fn audit_fields(line: &str) -> Vec<String> {
    let fields = line.split_once("): ").expect("consumer (group): fields").1;
    fields
        .split_whitespace()
        .map(|f| f.split_once('=').expect("name=value").0.to_string())
        .collect()
}

/// The `audit:` fields README.md lists, in order.
fn documented_audit_fields() -> Vec<String> {
    let text = readme();
    let start = text
        .find("The `audit:` line each group logs at stop has the fields")
        .expect("audit fields");
    let paragraph = text[start..].split("\n\n").next().expect("paragraph");
    let paragraph = paragraph.split_once(" (see").expect("(see").0;
    paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|f| *f != "audit:")
        .map(str::to_string)
        .collect()
}

#[test]
fn a_run_logs_only_documented_targets_and_names() {
    let _cluster = require_stack();
    assert!(
        readme().contains(QUIET_EXAMPLE),
        "README.md no longer shows {QUIET_EXAMPLE}"
    );
    let topic = unique("interface");
    ensure_topic(&topic);
    let first_env = env_with(
        &topic,
        &[
            // Everything the daemon writes at debug, everything else at info.
            ("RUST_LOG", "info,kafka_avro_daemon=debug"),
            ("METRICS_ADDR", "127.0.0.1:0"),
            ("STATS_INTERVAL_S", "1"),
            ("PRODUCE_INTERVAL_MS", "20"),
        ],
    );
    let mut first = Daemon::start(&first_env);
    first.wait_for_received(20, Duration::from_secs(60));

    // A second member joins both groups: a rebalance in each, and its log uses the example.
    let rust_log = QUIET_EXAMPLE.trim_start_matches("RUST_LOG=");
    let mut second = Daemon::start(&env_with(
        &topic,
        &[("RUST_LOG", rust_log), ("PRODUCE_INTERVAL_MS", "20")],
    ));
    let batch_received = |lines: &[String]| {
        lines.iter().any(|l| {
            level_and_target(l) == Some(("INFO", log_target::BATCH_CONSUMER))
                && l.contains("] received {'name': 'user_")
        })
    };
    second.wait_until(
        "the second member's batch consumer handling records",
        Duration::from_secs(90),
        batch_received,
    );
    first.wait_until(
        "the first member giving partitions up",
        Duration::from_secs(60),
        |lines| lines.iter().any(|l| l.contains(" revoked")),
    );
    second.stop_cleanly();
    first.wait_until(
        "a stats line after the rebalance",
        Duration::from_secs(30),
        |lines| {
            lines
                .iter()
                .filter(|l| l.contains("] stats: produced="))
                .count()
                >= 2
        },
    );

    let port = metrics_port(&first);
    let metrics = http_get(port, "/metrics");
    let stats_line = first
        .lines()
        .into_iter()
        .rev()
        .find(|l| l.contains("] stats: produced="))
        .expect("a stats line");
    first.stop_cleanly();

    let documented = documented_targets();
    for (who, daemon) in [("first", &first), ("second", &second)] {
        for line in daemon.lines() {
            let (_, target) =
                level_and_target(&line).unwrap_or_else(|| panic!("{who}: not a log line: {line}"));
            assert!(
                documented.contains(target),
                "{who}: target {target} is not in README.md: {line}"
            );
        }
    }
    // The first member logged at debug: its lines show every kind the run produced.
    let first_lines = first.lines();
    for wanted in [
        log_target::DELIVERY,
        log_target::SINGLE_CONSUMER,
        log_target::BATCH_CONSUMER,
        log_target::CONSUMER,
        log_target::MONITOR,
        log_target::SHUTDOWN,
        log_target::MAIN,
    ] {
        assert!(
            first_lines
                .iter()
                .any(|l| level_and_target(l).is_some_and(|(_, t)| t == wanted)),
            "no {wanted} line in the first member's log"
        );
    }
    // The example keeps everything but delivery reports and the single consumer's lines.
    let second_lines = second.lines();
    for line in &second_lines {
        let (level, target) = level_and_target(line).expect("log line");
        assert!(
            !(target == log_target::DELIVERY || target == log_target::SINGLE_CONSUMER)
                || level == "WARN"
                || level == "ERROR",
            "{QUIET_EXAMPLE} let through: {line}"
        );
        assert_ne!(level, "DEBUG", "{QUIET_EXAMPLE} let through: {line}");
    }
    for (what, target, text) in [
        ("the schema id", log_target::DAEMON, "] schema registered"),
        ("a rebalance", log_target::CONSUMER, " assigned"),
        (
            "the producer's summary",
            log_target::PRODUCER,
            "] producer: sent ",
        ),
        ("Shutting down", log_target::SHUTDOWN, "] Shutting down..."),
    ] {
        assert!(
            second_lines.iter().any(|l| {
                level_and_target(l).is_some_and(|(_, t)| t == target) && l.contains(text)
            }),
            "{QUIET_EXAMPLE} hid {what}"
        );
    }

    assert_eq!(
        metric_families(&metrics),
        documented_metrics(),
        "/metrics differs from README.md's table:\n{metrics}"
    );
    assert_eq!(
        stats_fields(&stats_line),
        documented_stats_fields(),
        "{stats_line}"
    );
    let audit_lines: Vec<&String> = first_lines
        .iter()
        .filter(|l| l.contains("] audit: ") && l.contains("): audited="))
        .collect();
    assert_eq!(audit_lines.len(), 2, "one audit: line per group");
    for line in audit_lines {
        assert_eq!(audit_fields(line), documented_audit_fields(), "{line}");
    }
}

/// The variables assigned in the fenced `sh` blocks of `docs/SECURED_PLATFORM.md`, with their
/// values: `NAME=value` words, `export` or not.
fn secured_platform_assignments() -> Vec<(String, String)> {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/SECURED_PLATFORM.md"
    ))
    .expect("docs/SECURED_PLATFORM.md");
    let mut in_block = false;
    let mut assignments = Vec::new();
    for line in page.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        for word in line.trim_start_matches("export ").split_whitespace() {
            let Some((name, value)) = word.split_once('=') else {
                continue;
            };
            let upper = name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if upper && !name.is_empty() {
                assignments.push((name.to_string(), value.trim_matches('"').to_string()));
            }
        }
    }
    assignments
}

#[test]
fn secured_platform_examples_name_only_declared_variables() {
    use kafka_avro_daemon::internals::config::{is_secret_file_variable, LIBRDKAFKA_PREFIX};
    let assignments = secured_platform_assignments();
    assert!(
        assignments.len() > 20,
        "no env blocks found: {assignments:?}"
    );
    let mut problems = Vec::new();
    for (name, value) in &assignments {
        if VARIABLES.iter().any(|v| v.name == name) {
            continue;
        }
        let Some(rest) = name.strip_prefix(LIBRDKAFKA_PREFIX) else {
            if !is_secret_file_variable(name) {
                problems.push(format!("{name} is not a variable the daemon reads"));
            }
            continue;
        };
        // The property as librdkafka names it; the linked librdkafka must accept it.
        let rest = rest
            .strip_prefix("PRODUCER_")
            .or_else(|| rest.strip_prefix("CONSUMER_"))
            .unwrap_or(rest);
        let (rest, value) = match rest.strip_suffix("_FILE") {
            Some(base) if is_secret_file_variable(name) => (base, "from-a-file"),
            _ => (rest, value.as_str()),
        };
        let property = rest.to_ascii_lowercase().replace('_', ".");
        if let Err(e) = rdkafka::ClientConfig::new()
            .set(&property, value)
            .create_native_config()
        {
            problems.push(format!(
                "{name}: librdkafka refuses {property}={value}: {e}"
            ));
        }
    }
    // The page shows every registry setting, so it cannot fall behind the declaration.
    for variable in VARIABLES
        .iter()
        .filter(|v| v.name.starts_with("SCHEMA_REGISTRY_"))
        .filter(|v| !["SCHEMA_REGISTRY_RETRIES"].contains(&v.name))
    {
        let shown = assignments.iter().any(|(name, _)| {
            name == variable.name || name.strip_suffix("_FILE") == Some(variable.name)
        });
        if !shown {
            problems.push(format!("{} is in no example", variable.name));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/SECURED_PLATFORM.md:\n{}",
        problems.join("\n")
    );
}

/// Every `#[test]` function of the crate, by the path `cargo test` filters on: unit tests as
/// `<module>::…::<name>` (from `src/`), integration tests as `<suite>::<name>`.
fn test_paths() -> BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = BTreeSet::new();
    for (dir, is_src) in [("src", true), ("tests/integration", false)] {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        for file in files {
            let relative = file.strip_prefix(root.join(dir)).expect("under dir");
            let text = std::fs::read_to_string(&file).expect("read source");
            let module = module_of(relative, is_src, &root.join(dir));
            test_fns_of(&text, &module, &mut paths);
        }
    }
    paths
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `a/b.rs` and `a/b/mod.rs` are `a::b`; a file another
/// one includes with `#[path = "<file>"] mod <name>;` is `<that module>::<name>`.
fn module_of(relative: &std::path::Path, is_src: bool, dir: &std::path::Path) -> String {
    let file_name = relative.file_name().and_then(|n| n.to_str()).expect("name");
    let parent = relative.parent().expect("parent");
    let mut segments: Vec<String> = parent
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // A file named by a `#[path]` attribute in a sibling `x.rs`: module `x::<name>`.
    for sibling in std::fs::read_dir(dir.join(parent))
        .expect("read dir")
        .flatten()
    {
        let text = std::fs::read_to_string(sibling.path()).unwrap_or_default();
        let attribute = format!("#[path = \"{file_name}\"]");
        if let Some((_, after)) = text.split_once(&attribute) {
            let name = after
                .split_once("mod ")
                .and_then(|(_, rest)| rest.split_once(';'))
                .map(|(name, _)| name.trim().to_string())
                .expect("mod after #[path]");
            let stem = sibling
                .path()
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            if stem != "mod" && !(is_src && stem == "lib") {
                segments.push(stem);
            }
            segments.push(name);
            return segments.join("::");
        }
    }
    let stem = file_name.trim_end_matches(".rs");
    if stem != "mod" && stem != "main" && !(is_src && stem == "lib") {
        segments.push(stem.to_string());
    }
    segments.join("::")
}

/// Adds `<module>::<name>` for every `#[test]` fn of `text` (`<module>::tests::<name>` inside
/// an inline `mod tests {`).
fn test_fns_of(text: &str, module: &str, out: &mut BTreeSet<String>) {
    let mut inline: Option<String> = None;
    let mut is_test = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .and_then(|rest| rest.strip_suffix(" {"))
        {
            inline = Some(name.to_string());
        }
        if line == "#[test]" {
            is_test = true;
        } else if is_test && !line.starts_with("#[") {
            let name = line
                .strip_prefix("fn ")
                .and_then(|rest| rest.split_once('('))
                .map(|(name, _)| name)
                .unwrap_or_else(|| panic!("#[test] before {line:?} in {module}"));
            let path = [Some(module), inline.as_deref(), Some(name)]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("::");
            out.insert(path);
            is_test = false;
        }
    }
}

/// The test paths and filters README.md and docs/*.md cite: every `` `a::b…` `` whose first
/// segment is an integration suite or with a `tests` module in it; `::*` and a trailing `…`
/// are filters.
fn cited_tests(text: &str, suites: &BTreeSet<String>) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(expand_braces)
        .filter(|span| {
            span.contains("::")
                && span
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_:*…".contains(c))
        })
        .filter(|span| {
            let first = span.split("::").next().unwrap_or_default();
            suites.contains(first)
                || span
                    .split("::")
                    .any(|s| s == "tests" || s.ends_with("_tests"))
        })
        .collect()
}

/// `a::b::{c, d}` as `a::b::c` and `a::b::d`; any other span as itself.
fn expand_braces(span: &str) -> Vec<String> {
    match span.split_once("::{") {
        Some((prefix, rest)) if rest.ends_with('}') => rest
            .trim_end_matches('}')
            .split(',')
            .map(|name| format!("{prefix}::{}", name.trim()))
            .collect(),
        _ => vec![span.to_string()],
    }
}

#[test]
fn cited_brace_lists_are_each_checked() {
    let suites = BTreeSet::from(["faults".to_string()]);
    let text = "see `kafka::admin::tests::{one_case, other_case}` and `faults::x`";
    assert_eq!(
        cited_tests(text, &suites),
        [
            "kafka::admin::tests::one_case",
            "kafka::admin::tests::other_case",
            "faults::x"
        ]
    );
}

#[test]
fn every_test_the_docs_cite_exists_and_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests = test_paths();
    let suites: BTreeSet<String> = tests
        .iter()
        .filter_map(|t| t.split_once("::").map(|(s, _)| s.to_string()))
        .filter(|s| root.join(format!("tests/integration/{s}.rs")).exists())
        .collect();
    let mut documents = vec![root.join("README.md")];
    documents.extend(
        std::fs::read_dir(root.join("docs"))
            .expect("docs/")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut wrong = Vec::new();
    let mut checked = 0;
    for document in &documents {
        let text = std::fs::read_to_string(document).expect("read document");
        for cited in cited_tests(&text, &suites) {
            checked += 1;
            let filter = cited.trim_end_matches('*').trim_end_matches('…');
            let runs = if filter.len() < cited.len() {
                tests.iter().any(|t| t.starts_with(filter))
            } else {
                tests.contains(&cited)
            };
            if !runs {
                wrong.push(format!("{}: `{cited}`", document.display()));
            }
        }
        // The suites table names files (the soak's and the stack's among them).
        for file in text.split('`').skip(1).step_by(2) {
            let source = [".rs", ".py", ".sh"].iter().any(|e| file.ends_with(e));
            if file.starts_with("tests/") && source && !file.contains(char::is_whitespace) {
                checked += 1;
                if !root.join(file).exists() {
                    wrong.push(format!("{}: `{file}`", document.display()));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} citations found: the parser lost them"
    );
    assert!(
        wrong.is_empty(),
        "cited as evidence but no such test (filters run nothing):\n{}",
        wrong.join("\n")
    );
}

/// A source text without its comments (`//` to the end of the line, outside string literals)
/// and without its `#[cfg(test)] mod` items (`mod x;`, or `mod x { … }` to its closing brace):
/// intra-doc links are not dependencies, and test code may reach anywhere.
fn production_code(text: &str) -> String {
    let uncommented: String = text
        .lines()
        .map(|line| {
            let mut quoted = false;
            let mut previous = ' ';
            for (i, c) in line.char_indices() {
                match c {
                    '"' if previous != '\\' => quoted = !quoted,
                    '/' if !quoted && line[i..].starts_with("//") => return &line[..i],
                    _ => {}
                }
                previous = c;
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut code = String::new();
    let mut rest = uncommented.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        let after = &rest[at + "#[cfg(test)]".len()..];
        let item = after.trim_start();
        if !(item.starts_with("mod ") || item.starts_with("pub(crate) mod ")) {
            code.push_str(&rest[..at + "#[cfg(test)]".len()]);
            rest = after;
            continue;
        }
        code.push_str(&rest[..at]);
        let (semicolon, brace) = (item.find(';'), item.find('{'));
        rest = match (semicolon, brace) {
            (Some(end), Some(open)) if end < open => &item[end + 1..],
            (Some(end), None) => &item[end + 1..],
            (_, Some(open)) => {
                let mut depth = 0usize;
                let close = item[open..]
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(item.len(), |(i, _)| open + i + 1);
                &item[close..]
            }
            (None, None) => "",
        };
    }
    code.push_str(rest);
    code
}

/// The first path segment of each item a source text names through `crate::` (each item of a
/// group: `crate::{ops::x, config}` names `ops` and `config`), and through `super::` chains
/// that climb from `depth` (the module's depth below the crate root: 1 for `src/ops/mod.rs`
/// and `src/shared.rs`, 2 for `src/ops/stats.rs`) up to the root.
fn root_paths(code: &str, depth: usize) -> BTreeSet<String> {
    let identifier = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let group_items = |group: &str, named: &mut BTreeSet<String>| {
        let (mut level, mut item_start) = (0usize, true);
        for (i, c) in group.char_indices() {
            match c {
                '{' => level += 1,
                '}' if level == 0 => break,
                '}' => level -= 1,
                ',' if level == 0 => item_start = true,
                c if c.is_whitespace() => {}
                _ if item_start && level == 0 => {
                    named.insert(identifier(&group[i..]));
                    item_start = false;
                }
                _ => {}
            }
        }
    };
    let mut named = BTreeSet::new();
    let at_root = |rest: &str, named: &mut BTreeSet<String>| match rest.strip_prefix('{') {
        Some(group) => group_items(group, named),
        None => {
            named.insert(identifier(rest));
        }
    };
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with('$') {
            continue;
        }
        at_root(&code[at + "crate::".len()..], &mut named);
    }
    for (at, _) in code.match_indices("super::") {
        // Only the start of a chain: `super::super::x` is one.
        if code[..at].ends_with("::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut climbed = 0;
        while let Some(next) = rest.strip_prefix("super::") {
            climbed += 1;
            rest = next;
        }
        if climbed >= depth {
            at_root(rest, &mut named);
        }
    }
    named
}

/// The names `src/lib.rs` re-exports (`pub use ops::x::{A, B};`, and `pub use crate::…` in its
/// modules), each with the unit it comes from: `crate::A` is a path into that unit.
fn root_reexports(lib: &str) -> std::collections::BTreeMap<String, String> {
    let mut names = std::collections::BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement
            .trim_start()
            .split_once("pub use ")
            .map(|(_, p)| p)
        else {
            continue;
        };
        let path = path.trim().trim_start_matches("crate::");
        let unit: String = path
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let exported = match path.split_once('{') {
            Some((_, group)) => group.trim_end_matches('}').to_string(),
            None => path.rsplit("::").next().unwrap_or("").to_string(),
        };
        for name in exported
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != "*")
        {
            names.insert(name.to_string(), unit.clone());
        }
    }
    names
}

/// docs/ARCHITECTURE.md's "What may import what" against the code: each unit of `src/` (a
/// folder, or a file beside `lib.rs` and `main.rs`) names in its production code only the
/// units its row allows — through `crate::`, a name `lib.rs` re-exports, or `super::` up to
/// the root — and every unit has a row. Test code is left out (`tests` folders, `tests.rs`
/// files, `#[cfg(test)] mod` items); so are comments.
#[test]
fn the_layers_architecture_md_draws_hold_in_the_code() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("ARCHITECTURE");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let unit_of = |cell: &str| {
        let cell = cell.split('(').next().unwrap_or("");
        unquote(cell)
            .trim_end_matches('/')
            .trim_end_matches(".rs")
            .to_string()
    };
    let units: BTreeSet<String> = std::fs::read_dir(&src)
        .expect("src")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() || !["lib.rs", "main.rs"].iter().any(|name| p.ends_with(name)))
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("name");
            name.trim_end_matches(".rs").to_string()
        })
        .collect();
    let mut allowed = std::collections::BTreeMap::new();
    for row in table_after(&doc, "What may import what") {
        let unit = unit_of(&row[0]);
        // The parenthesised notes say what of a unit is used; the row allows the whole unit.
        let may: String = row[1]
            .split('(')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    part.split_once(')').map_or("", |(_, after)| after)
                }
            })
            .collect();
        let may = may.as_str();
        let set: BTreeSet<String> = if let Some(but) = may.strip_prefix("any folder but ") {
            let excluded = unit_of(but);
            assert!(
                units.contains(&excluded),
                "{unit}'s row excludes {excluded:?}, no unit"
            );
            units
                .iter()
                .filter(|u| **u != unit && **u != excluded)
                .cloned()
                .collect()
        } else if may.starts_with("nothing") {
            BTreeSet::new()
        } else {
            may.split(',').map(unit_of).collect()
        };
        for named in &set {
            assert!(
                units.contains(named),
                "{unit}'s row names {named:?}, no unit of src/"
            );
        }
        allowed.insert(unit, set);
    }
    assert_eq!(
        allowed.keys().cloned().collect::<BTreeSet<_>>(),
        units,
        "docs/ARCHITECTURE.md's table and the units of src/"
    );
    let reexported = root_reexports(&production_code(&lib));
    for (name, unit) in &reexported {
        assert!(
            units.contains(unit),
            "lib.rs re-exports {name} from {unit:?}, no unit"
        );
    }

    let (mut broken, mut unknown, mut files_read) = (Vec::new(), Vec::new(), 0);
    for unit in &units {
        let mut files = Vec::new();
        if src.join(unit).is_dir() {
            rust_files(&src.join(unit), &mut files);
        }
        if src.join(format!("{unit}.rs")).is_file() {
            files.push(src.join(format!("{unit}.rs")));
        }
        for file in files {
            let relative = file.strip_prefix(&src).expect("under src");
            let test_code = relative
                .iter()
                .any(|part| part == "tests" || part == "tests.rs");
            if test_code {
                continue;
            }
            files_read += 1;
            // `a.rs` and `a/mod.rs` are module `a`, one below its folder.
            let depth = relative.components().count()
                - usize::from(relative.file_name().is_some_and(|n| n == "mod.rs"));
            let code = production_code(&std::fs::read_to_string(&file).expect("read source"));
            for named in root_paths(&code, depth) {
                let target = match reexported.get(&named) {
                    Some(unit) => unit.clone(),
                    None if units.contains(&named) => named.clone(),
                    None => {
                        unknown.push(format!("{} names crate::{named}", relative.display()));
                        continue;
                    }
                };
                if target != *unit && !allowed[unit].contains(&target) {
                    broken.push(format!(
                        "{} names crate::{named} ({target})",
                        relative.display()
                    ));
                }
            }
        }
    }
    assert!(files_read > 50, "only {files_read} source files read");
    assert!(
        unknown.is_empty(),
        "paths to nothing lib.rs declares or re-exports:\n{}",
        unknown.join("\n")
    );
    assert!(
        broken.is_empty(),
        "imports docs/ARCHITECTURE.md does not allow:\n{}",
        broken.join("\n")
    );
}
