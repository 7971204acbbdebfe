//! Checks of the deployment files: the systemd unit and its environment file, the Dockerfile
//! and the compose stack. They need no Kafka and no Docker engine, only the tools that
//! `scripts/ensure-deploy-tools` installs (systemd-analyze, docker-compose 1.29 or Compose v2,
//! hadolint, PyYAML). A missing tool fails the test loudly; nothing is skipped.
//!
//! Every check is a function that returns the problems it found, so the `*_catch_*` tests can
//! run the same checks on deliberately broken copies (in a temporary directory, never the real
//! files) and prove that they do fail when they should.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kafka_avro_daemon::internals::config::{Config, VARIABLES};
use kafka_avro_daemon::internals::{property_scope, LAST_LINE_GRACE};
use serde_json::Value;

const INSTALL_HINT: &str = "run scripts/ensure-deploy-tools to install it";
const UNIT: &str = "systemd/kafka-avro-daemon.service";
const ENV_FILE: &str = "systemd/kafka-avro-daemon.env";
const DOCKERFILE: &str = "docker/Dockerfile";
const DOCKERIGNORE: &str = ".dockerignore";
const COMPOSE: &str = "docker/docker-compose.yaml";
const MAX_EXPOSURE: f64 = 2.0;

// ---- helpers -------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A tool on PATH or in the repo's `.cache/tools/venv/bin`; panics (never skips) if missing.
fn tool(name: &str) -> PathBuf {
    let venv = repo().join(".cache/tools/venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([venv])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!("`{name}` is not on PATH nor in .cache/tools/venv/bin: {INSTALL_HINT}")
        })
}

/// Runs a command; a command that cannot start is a missing tool.
fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}; {INSTALL_HINT}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A temporary directory removed again when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("deploy-files-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
        fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `text` with `from` replaced by `to` once; panics if `from` is not there, so a broken copy
/// is really broken.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not found: update this test");
    text.replacen(from, to, 1)
}

fn assert_no_problems(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}:\n  - {}",
        problems.join("\n  - ")
    );
}

fn assert_problem(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

/// A systemd time span ("30s", "1min 30s", "500ms", bare seconds) or a compose duration
/// ("30s", "1m30s").
fn parse_duration(span: &str) -> Option<Duration> {
    let span = span.trim();
    if let Ok(seconds) = span.parse::<f64>() {
        return Some(Duration::from_secs_f64(seconds));
    }
    let mut total = 0.0;
    let mut rest = span;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = rest[number_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "us" | "usec" => 1e-6,
            "ms" | "msec" => 1e-3,
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// The longest stop at the defaults: STOP_TIMEOUT_MS (which covers the flush and the
/// consumers' close; its default from the same table `--help` and parsing use), then at most
/// LAST_LINE_GRACE for the last line.
fn longest_stop() -> Duration {
    let variable = VARIABLES
        .iter()
        .find(|v| v.name == "STOP_TIMEOUT_MS")
        .expect("STOP_TIMEOUT_MS in config::VARIABLES");
    Duration::from_millis(variable.default.parse().expect("numeric default")) + LAST_LINE_GRACE
}

fn is_known_variable(name: &str) -> bool {
    VARIABLES.iter().any(|v| v.name == name)
        || name
            .strip_prefix("LIBRDKAFKA_")
            .is_some_and(|rest| !rest.is_empty())
}

// ---- systemd -------------------------------------------------------------------------------

/// `[section]` -> key -> every value assigned, in order (an empty one resets a list).
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn parse_unit(source: &str) -> Unit {
    let mut unit = Unit::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in source.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
        {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        let logical = std::mem::take(&mut pending) + line;
        if let Some(name) = logical.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((key, value)) = logical.split_once('=') {
            unit.entry(section.clone())
                .or_default()
                .entry(key.trim().to_string())
                .or_default()
                .push(value.trim().to_string());
        }
    }
    unit
}

/// The last value of `[section] key`, as systemd applies it.
fn unit_value<'a>(unit: &'a Unit, section: &str, key: &str) -> Option<&'a str> {
    unit.get(section)?.get(key)?.last().map(String::as_str)
}

/// What the daemon needs from its unit: notify protocol, SIGINT stop with room for the flush,
/// watchdog, restart on failure, an environment file and an unprivileged user.
fn unit_essentials_problems(source: &str) -> Vec<String> {
    let unit = parse_unit(source);
    let service = |key: &str| unit_value(&unit, "Service", key);
    let mut problems = Vec::new();
    let mut expect = |key: &str, wanted: &[&str]| match service(key) {
        Some(value) if wanted.contains(&value) => {}
        other => problems.push(format!(
            "[Service] {key}= is {other:?}, expected one of {wanted:?}"
        )),
    };
    expect("Type", &["notify", "notify-reload"]);
    expect("NotifyAccess", &["main"]);
    expect("KillSignal", &["SIGINT", "INT"]);
    expect("Restart", &["on-failure"]);
    match service("WatchdogSec").map(|s| (s, parse_duration(s))) {
        Some((_, Some(span))) if !span.is_zero() => {}
        other => problems.push(format!(
            "[Service] WatchdogSec= must be set and non-zero: {other:?}"
        )),
    }
    let stop = longest_stop();
    match service("TimeoutStopSec").map(|s| (s, parse_duration(s))) {
        Some((_, Some(span))) if span > stop => {}
        other => problems.push(format!(
            "[Service] TimeoutStopSec= must exceed the longest stop, {stop:?} (STOP_TIMEOUT_MS and the last line's grace): {other:?}"
        )),
    }
    // Statuses a restart cannot fix (configuration) or would hide (the audit's verdict).
    let no_restart: Vec<&str> = service("RestartPreventExitStatus")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    for status in [
        kafka_avro_daemon::EXIT_CONFIG,
        kafka_avro_daemon::EXIT_AUDIT_LOSS,
    ] {
        if !no_restart.contains(&status.to_string().as_str()) {
            problems.push(format!(
                "[Service] RestartPreventExitStatus= must list exit status {status}: {no_restart:?}"
            ));
        }
    }
    match service("EnvironmentFile") {
        Some(path) if !path.is_empty() => {}
        other => problems.push(format!("[Service] EnvironmentFile= is missing: {other:?}")),
    }
    let dynamic = service("DynamicUser") == Some("yes");
    let user = service("User").filter(|u| !u.is_empty() && *u != "root" && *u != "0");
    if !dynamic && user.is_none() {
        problems.push("[Service] needs DynamicUser=yes or a non-root User=".to_string());
    }
    match service("ExecStart") {
        Some(exec)
            if exec.split_whitespace().next() == Some("/usr/local/bin/kafka-avro-daemon") => {}
        other => problems.push(format!("[Service] ExecStart= is {other:?}")),
    }
    let after = unit_value(&unit, "Unit", "After").unwrap_or_default();
    let wants = unit_value(&unit, "Unit", "Wants").unwrap_or_default();
    if !after.contains("network-online.target") || !wants.contains("network-online.target") {
        problems.push("[Unit] needs After= and Wants=network-online.target".to_string());
    }
    problems
}

/// A copy of the unit that `systemd-analyze verify` can check on this machine: ExecStart runs
/// the freshly built binary and the environment file is optional.
fn verifiable_unit(source: &str) -> String {
    let binary = env!("CARGO_BIN_EXE_kafka-avro-daemon");
    let mut exec_starts = 0;
    let lines: Vec<String> = source
        .lines()
        .map(|line| {
            if let Some(command) = line.strip_prefix("ExecStart=") {
                exec_starts += 1;
                let args = command.split_once(' ').map_or("", |(_, args)| args);
                format!("ExecStart={binary} {args}").trim_end().to_string()
            } else if let Some(path) = line.strip_prefix("EnvironmentFile=") {
                format!("EnvironmentFile=-{}", path.trim_start_matches('-'))
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(
        exec_starts, 1,
        "the unit should have exactly one ExecStart="
    );
    lines.join("\n") + "\n"
}

/// Runs `systemd-analyze verify` on a unit text (as kafka-avro-daemon.service in a temp dir).
/// Lines on stderr that do not name our unit are about the host's own units (verify loads the
/// targets we depend on): they are printed, not counted.
fn verify_problems(source: &str) -> Vec<String> {
    let dir = TempDir::new();
    let path = dir.write("kafka-avro-daemon.service", source);
    let output = run(Command::new(tool("systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(&path));
    let stderr = text(&output.stderr);
    let mut problems = Vec::new();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        if line.contains("kafka-avro-daemon") || line.contains(&*dir.0.to_string_lossy()) {
            problems.push(format!("systemd-analyze verify: {line}"));
        } else {
            eprintln!("systemd-analyze verify (about another unit, ignored): {line}");
        }
    }
    if !output.status.success() {
        problems.push(format!(
            "systemd-analyze verify exited with {}: {stderr}{}",
            output.status,
            text(&output.stdout)
        ));
    }
    problems
}

/// `systemd-analyze security --offline=yes` exposure score of a unit text.
fn exposure(source: &str) -> f64 {
    let dir = TempDir::new();
    let path = dir.write("kafka-avro-daemon.service", source);
    let output = run(Command::new(tool("systemd-analyze"))
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path));
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "systemd-analyze security failed ({}): {}{stdout}",
        output.status,
        text(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no 'Overall exposure level' in:\n{stdout}"));
    line.rsplit(": ")
        .next()
        .and_then(|score| score.split_whitespace().next())
        .and_then(|score| score.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score from {line:?}"))
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let problems = verify_problems(&verifiable_unit(&read(UNIT)));
    assert_no_problems(UNIT, &problems);
}

#[test]
fn systemd_unit_exposure_is_at_most_2() {
    let score = exposure(&read(UNIT));
    println!("systemd-analyze security exposure of {UNIT}: {score}");
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} > {MAX_EXPOSURE}: see `systemd-analyze security --offline=yes {UNIT}`"
    );
}

#[test]
fn systemd_unit_has_the_daemon_essentials() {
    assert_no_problems(UNIT, &unit_essentials_problems(&read(UNIT)));
}

#[test]
fn systemd_env_file_documents_every_variable_with_its_default() {
    let env = read(ENV_FILE);
    let lines: Vec<&str> = env.lines().map(str::trim).collect();
    let mut problems = Vec::new();
    for variable in VARIABLES.iter().filter(|v| !v.name.ends_with('*')) {
        let wanted = format!("#{}={}", variable.name, variable.default);
        if !lines.contains(&wanted.as_str()) {
            problems.push(format!("no line `{wanted}`"));
        }
    }
    if !lines.iter().any(|l| l.starts_with("#LIBRDKAFKA_")) {
        problems.push("no commented LIBRDKAFKA_* example".to_string());
    }
    for line in lines
        .iter()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line.split_once('=') {
            Some((name, _)) if is_known_variable(name) => {}
            _ => problems.push(format!("unknown setting `{line}`")),
        }
    }
    let unit = parse_unit(&read(UNIT));
    let path = unit_value(&unit, "Service", "EnvironmentFile").unwrap_or_default();
    if !path.ends_with("/kafka-avro-daemon.env") {
        problems.push(format!(
            "the unit's EnvironmentFile= {path:?} is not this file"
        ));
    }
    assert_no_problems(ENV_FILE, &problems);
}

#[test]
fn systemd_checks_catch_broken_units() {
    let unit = read(UNIT);

    let typo = replace_once(&unit, "[Service]\n", "[Service]\nKilSignal=SIGINT\n");
    assert_problem(&verify_problems(&verifiable_unit(&typo)), "KilSignal");
    assert_problem(&verify_problems(&unit), "/usr/local/bin/kafka-avro-daemon");

    let bare = "[Service]\nType=notify\nExecStart=/usr/local/bin/kafka-avro-daemon\n";
    let score = exposure(bare);
    assert!(score > MAX_EXPOSURE, "an unhardened unit scored {score}");

    let short_stop = replace_once(&unit, "TimeoutStopSec=30s", "TimeoutStopSec=15s");
    assert_problem(&unit_essentials_problems(&short_stop), "TimeoutStopSec");
    let term = replace_once(&unit, "KillSignal=SIGINT", "KillSignal=SIGTERM");
    assert_problem(&unit_essentials_problems(&term), "KillSignal");
    let simple = replace_once(&unit, "Type=notify", "Type=simple");
    assert_problem(&unit_essentials_problems(&simple), "Type");
    let root = replace_once(&unit, "DynamicUser=yes", "User=root");
    assert_problem(&unit_essentials_problems(&root), "DynamicUser");
    let restarts_away = replace_once(
        &unit,
        "RestartPreventExitStatus=2 4",
        "RestartPreventExitStatus=2",
    );
    assert_problem(&unit_essentials_problems(&restarts_away), "exit status 4");
}

// ---- Dockerfile ----------------------------------------------------------------------------

/// hadolint at its default failure threshold; returns its findings if it fails.
fn hadolint_problems(path: &Path) -> Vec<String> {
    let output = run(Command::new(tool("hadolint"))
        .arg("--no-color")
        .arg(path)
        .current_dir(repo()));
    if output.status.success() {
        return Vec::new();
    }
    let findings = text(&output.stdout) + &text(&output.stderr);
    vec![format!(
        "hadolint exited with {}:\n{findings}",
        output.status
    )]
}

/// Dockerfile instructions: (INSTRUCTION, arguments), continuation lines joined.
fn instructions(source: &str) -> Vec<(String, String)> {
    let mut result = Vec::new();
    let mut pending = String::new();
    for raw in source.lines() {
        let line = raw.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        let logical = std::mem::take(&mut pending) + line;
        if let Some((instruction, args)) = logical.split_once(char::is_whitespace) {
            result.push((instruction.to_ascii_uppercase(), args.trim().to_string()));
        }
    }
    result
}

fn dockerfile_essentials_problems(source: &str) -> Vec<String> {
    let all = instructions(source);
    let mut problems = Vec::new();
    let froms: Vec<usize> = (0..all.len()).filter(|&i| all[i].0 == "FROM").collect();
    if froms.len() < 2 {
        problems.push(format!(
            "{} FROM stage(s); expected a multi-stage build",
            froms.len()
        ));
    }
    let Some(&last_from) = froms.last() else {
        problems.push("no FROM at all".to_string());
        return problems;
    };
    let base = all[last_from]
        .1
        .split_whitespace()
        .next()
        .unwrap_or_default();
    if !(base.starts_with("debian:") && base.contains("slim")) {
        problems.push(format!(
            "final stage is FROM {base}, expected debian:bookworm-slim"
        ));
    }
    let final_stage = &all[last_from + 1..];
    let of = |name: &str| -> Vec<&str> {
        final_stage
            .iter()
            .filter(|(i, _)| i == name)
            .map(|(_, args)| args.as_str())
            .collect()
    };
    match of("USER").last() {
        Some(user) => {
            let name = user.split(':').next().unwrap_or_default();
            if name == "root" || name == "0" {
                problems.push(format!("final stage runs as USER {user}"));
            }
        }
        None => problems.push("final stage has no USER (runs as root)".to_string()),
    }
    if !of("STOPSIGNAL").contains(&"SIGINT") {
        problems.push("final stage has no STOPSIGNAL SIGINT".to_string());
    }
    let copies_binary = of("COPY")
        .iter()
        .any(|args| args.contains("--from=") && args.contains("kafka-avro-daemon"));
    if !copies_binary {
        problems.push("final stage has no COPY --from=<build stage> of the binary".to_string());
    }
    let entry = of("ENTRYPOINT")
        .into_iter()
        .chain(of("CMD"))
        .collect::<Vec<_>>();
    if !entry.iter().any(|e| e.contains("kafka-avro-daemon")) {
        problems.push("no ENTRYPOINT/CMD running kafka-avro-daemon".to_string());
    }
    let builds = all[..last_from]
        .iter()
        .any(|(i, args)| i == "RUN" && args.contains("cargo build --release --locked"));
    if !builds {
        problems.push("no `cargo build --release --locked` in a build stage".to_string());
    }
    if all.iter().any(|(i, _)| i == "HEALTHCHECK") {
        problems
            .push("HEALTHCHECK in the image (the image has no curl; compose checks)".to_string());
    }
    problems
}

#[test]
fn dockerfile_passes_hadolint() {
    assert_no_problems(DOCKERFILE, &hadolint_problems(&repo().join(DOCKERFILE)));
}

#[test]
fn dockerfile_has_the_essentials() {
    assert_no_problems(
        DOCKERFILE,
        &dockerfile_essentials_problems(&read(DOCKERFILE)),
    );
}

#[test]
fn dockerignore_keeps_build_output_and_caches_out() {
    let ignore = read(DOCKERIGNORE);
    let entries: Vec<&str> = ignore
        .lines()
        .map(|l| l.trim().trim_start_matches('/').trim_end_matches('/'))
        .collect();
    for wanted in ["target", ".cache", ".stack", ".git"] {
        assert!(
            entries.contains(&wanted),
            "{DOCKERIGNORE} does not exclude {wanted}/"
        );
    }
}

#[test]
fn dockerfile_checks_catch_broken_files() {
    let dockerfile = read(DOCKERFILE);
    let dir = TempDir::new();

    let root = replace_once(&dockerfile, "USER 10001:10001", "USER root");
    assert_problem(&dockerfile_essentials_problems(&root), "USER root");
    assert_problem(
        &hadolint_problems(&dir.write("Dockerfile.root", &root)),
        "DL3002",
    );

    let unpinned = dockerfile.replace("# hadolint ignore=DL3008\n", "");
    assert_ne!(unpinned, dockerfile, "update this test");
    assert_problem(
        &hadolint_problems(&dir.write("Dockerfile.apt", &unpinned)),
        "DL3008",
    );

    let single_stage = "FROM debian:bookworm-slim\nCOPY kafka-avro-daemon /usr/local/bin/\n\
         ENTRYPOINT [\"/usr/local/bin/kafka-avro-daemon\"]\n";
    let problems = dockerfile_essentials_problems(single_stage);
    for needle in [
        "multi-stage",
        "USER",
        "STOPSIGNAL",
        "COPY --from",
        "cargo build",
    ] {
        assert_problem(&problems, needle);
    }
    let fat = replace_once(
        &dockerfile,
        "FROM debian:bookworm-slim",
        "FROM rust:1.95.0-bookworm",
    );
    assert_problem(&dockerfile_essentials_problems(&fat), "final stage is FROM");
}

// ---- compose -------------------------------------------------------------------------------

/// The interpreter that runs docker-compose 1.x (it needs PyYAML itself), else python3.
fn python_with_yaml(compose: &Path) -> Vec<String> {
    let first_line = fs::read(compose)
        .ok()
        .and_then(|bytes| {
            let end = bytes
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(bytes.len());
            String::from_utf8(bytes[..end].to_vec()).ok()
        })
        .unwrap_or_default();
    match first_line.strip_prefix("#!") {
        Some(shebang) if shebang.contains("python") => {
            shebang.split_whitespace().map(String::from).collect()
        }
        _ if Path::new("/usr/bin/python3").exists() => vec!["/usr/bin/python3".to_string()],
        _ => vec!["python3".to_string()],
    }
}

/// The normalized compose configuration of a file, as JSON. Fails if `config` rejects it.
fn compose_config(file: &Path) -> Result<Value, String> {
    let compose = tool("docker-compose");
    let version = run(Command::new(&compose).args(["version", "--short"]));
    let v1 = text(&version.stdout).trim().starts_with("1.");
    let mut command = Command::new(&compose);
    command.arg("-f").arg(file).arg("config");
    if !v1 {
        command.args(["--format", "json"]);
    }
    let output = run(&mut command);
    if !output.status.success() {
        return Err(format!(
            "docker-compose config exited with {}: {}",
            output.status,
            text(&output.stderr)
        ));
    }
    let json = if v1 {
        let python = python_with_yaml(&compose);
        let mut child = Command::new(&python[0])
            .args(&python[1..])
            .args([
                "-c",
                "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python:?}: {e}; {INSTALL_HINT}"));
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&output.stdout)
            .expect("write YAML");
        let converted = child.wait_with_output().expect("python3");
        assert!(
            converted.status.success(),
            "YAML -> JSON with {python:?} failed (PyYAML missing? {INSTALL_HINT}): {}",
            text(&converted.stderr)
        );
        converted.stdout
    } else {
        output.stdout
    };
    serde_json::from_slice(&json).map_err(|e| format!("compose config is not JSON: {e}"))
}

/// A scalar (number or string) as a string.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// (published, target) ports of a service, from the long or the short syntax.
fn ports(service: &Value) -> Vec<(u16, u16)> {
    let entries = service["ports"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| {
            if entry.is_object() {
                let published = scalar(&entry["published"])?.parse().ok()?;
                let target = scalar(&entry["target"])?.parse().ok()?;
                Some((published, target))
            } else {
                let spec = scalar(entry)?;
                let spec = spec.split('/').next()?;
                let mut parts = spec.rsplit(':');
                let target = parts.next()?.parse().ok()?;
                let published = parts.next()?.parse().ok()?;
                Some((published, target))
            }
        })
        .collect()
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), scalar(v).unwrap_or_default()))
            .collect(),
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn has_healthcheck(service: &Value) -> bool {
    let check = &service["healthcheck"];
    let disabled = check["disable"].as_bool() == Some(true)
        || check["test"]
            .as_array()
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            == Some("NONE");
    (check["test"].is_array() || check["test"].is_string()) && !disabled
}

fn image(service: &Value) -> &str {
    service["image"].as_str().unwrap_or_default()
}

fn is_pinned(image: &str) -> bool {
    image
        .rsplit_once(':')
        .is_some_and(|(_, tag)| !tag.is_empty() && tag != "latest" && !tag.contains('/'))
}

/// What the stack must be, given `root` (the directory `build.context` must resolve to).
fn compose_problems(config: &Value, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(services) = config["services"].as_object() else {
        return vec!["no services".to_string()];
    };
    let by_image = |prefixes: &[&str]| -> Vec<(&String, &Value)> {
        services
            .iter()
            .filter(|(_, s)| prefixes.iter().any(|p| image(s).starts_with(p)))
            .collect()
    };

    let brokers = by_image(&[
        "apache/kafka:",
        "confluentinc/cp-kafka:",
        "apache/kafka-native:",
    ]);
    if brokers.len() != 3 {
        problems.push(format!(
            "{} Kafka broker services, expected 3",
            brokers.len()
        ));
    }
    let mut broker_ports: Vec<u16> = Vec::new();
    for (name, broker) in &brokers {
        let published: Vec<u16> = ports(broker).iter().map(|p| p.0).collect();
        broker_ports.extend(&published);
        let env = environment(broker);
        let advertised = env
            .get("KAFKA_ADVERTISED_LISTENERS")
            .cloned()
            .unwrap_or_default();
        for port in &published {
            if !advertised.contains(&format!("localhost:{port}")) {
                problems.push(format!(
                    "broker {name} publishes {port} but advertises {advertised:?}"
                ));
            }
        }
        for (key, wanted) in [
            ("KAFKA_DEFAULT_REPLICATION_FACTOR", "3"),
            ("KAFKA_MIN_INSYNC_REPLICAS", "2"),
            ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
        ] {
            if env.get(key).map(String::as_str) != Some(wanted) {
                problems.push(format!(
                    "broker {name}: {key} is {:?}, expected {wanted}",
                    env.get(key)
                ));
            }
        }
        if !env
            .get("KAFKA_PROCESS_ROLES")
            .is_some_and(|r| r.contains("broker") && r.contains("controller"))
        {
            problems.push(format!(
                "broker {name} is not a combined KRaft broker+controller"
            ));
        }
    }
    broker_ports.sort_unstable();
    if broker_ports != [9094, 9095, 9096] {
        problems.push(format!(
            "brokers publish {broker_ports:?}, expected [9094, 9095, 9096]"
        ));
    }

    let registries = by_image(&["confluentinc/cp-schema-registry:"]);
    if registries.len() != 1 {
        problems.push(format!(
            "{} schema registry services, expected 1",
            registries.len()
        ));
    }
    for (name, registry) in &registries {
        if !ports(registry).contains(&(8082, 8081)) {
            problems.push(format!(
                "{name} does not publish host 8082 -> 8081: {:?}",
                ports(registry)
            ));
        }
    }

    let uis = by_image(&[
        "provectuslabs/kafka-ui:",
        "kafbat/kafka-ui:",
        "ghcr.io/kafbat/kafka-ui:",
    ]);
    match uis.as_slice() {
        [(name, ui)] => {
            if !ports(ui).iter().any(|p| p.0 == 8081) {
                problems.push(format!("{name} does not publish host port 8081"));
            }
            let env = environment(ui);
            if !env.keys().any(|k| k.contains("BOOTSTRAPSERVERS"))
                || !env.keys().any(|k| k.contains("SCHEMAREGISTRY"))
            {
                problems.push(format!(
                    "{name} is not configured for the cluster and the registry"
                ));
            }
        }
        _ => problems.push(format!("{} Kafka UI services, expected 1", uis.len())),
    }

    for (name, service) in brokers.iter().chain(&registries) {
        if !has_healthcheck(service) {
            problems.push(format!("{name} has no healthcheck"));
        }
    }
    for (name, service) in services {
        if !service["build"].is_object() && !is_pinned(image(service)) {
            problems.push(format!(
                "{name}: image {:?} is not pinned to a tag",
                image(service)
            ));
        }
    }

    let apps: Vec<(&String, &Value)> = services
        .iter()
        .filter(|(_, s)| s["build"].is_object())
        .collect();
    let [(app_name, app)] = apps.as_slice() else {
        problems.push(format!(
            "{} services built from source, expected 1 (the daemon)",
            apps.len()
        ));
        return problems;
    };
    let build = &app["build"];
    let context = PathBuf::from(build["context"].as_str().unwrap_or_default());
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if canonical(&context) != canonical(root) {
        problems.push(format!(
            "{app_name}: build context {context:?} is not the repo root {root:?}"
        ));
    }
    let dockerfile = build["dockerfile"].as_str().unwrap_or_default();
    if canonical(&context.join(dockerfile)) != canonical(&root.join(DOCKERFILE)) {
        problems.push(format!(
            "{app_name}: dockerfile {dockerfile:?} is not {DOCKERFILE}"
        ));
    }
    let env = environment(app);
    // The web console, on the address the daemon listens on.
    let listens = env
        .get("METRICS_ADDR")
        .and_then(|address| address.rsplit_once(':'))
        .and_then(|(_, port)| port.parse::<u16>().ok());
    match listens {
        Some(port) if ports(app).iter().any(|p| p.1 == port) => {}
        _ => problems.push(format!(
            "{app_name}: the console's METRICS_ADDR port is not published: {:?} {:?}",
            env.get("METRICS_ADDR"),
            ports(app)
        )),
    }
    let broker_names: Vec<&str> = brokers.iter().map(|(n, _)| n.as_str()).collect();
    match env.get("KAFKA_BOOTSTRAP_SERVERS") {
        Some(servers) => {
            let hosts: Vec<&str> = servers
                .split(',')
                .map(|s| s.trim().rsplit_once(':').map_or(s, |(h, _)| h))
                .collect();
            for broker in &broker_names {
                if !hosts.contains(broker) {
                    problems.push(format!(
                        "{app_name}: KAFKA_BOOTSTRAP_SERVERS {servers:?} lacks {broker}"
                    ));
                }
            }
        }
        None => problems.push(format!("{app_name}: KAFKA_BOOTSTRAP_SERVERS is not set")),
    }
    match (env.get("SCHEMA_REGISTRY_URL"), registries.first()) {
        (Some(url), Some((registry, _))) if url.contains(&format!("//{registry}:")) => {}
        (url, _) => problems.push(format!(
            "{app_name}: SCHEMA_REGISTRY_URL {url:?} is not the registry service"
        )),
    }
    for key in env.keys().filter(|k| !is_known_variable(k)) {
        problems.push(format!(
            "{app_name}: environment {key} is no variable the daemon reads"
        ));
    }
    // Every value must be one the daemon accepts (RUST_LOG is env_logger's, not ours).
    let vars: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.as_str() != "RUST_LOG")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Err(e) = Config::from_vars(&vars) {
        problems.push(format!("{app_name}: {e}"));
    }
    for dependency in broker_names
        .iter()
        .copied()
        .chain(registries.iter().map(|(n, _)| n.as_str()))
    {
        let condition = app["depends_on"][dependency]["condition"].as_str();
        if condition != Some("service_healthy") {
            problems.push(format!(
                "{app_name}: depends_on {dependency} has condition {condition:?}, expected service_healthy"
            ));
        }
    }
    if app["restart"].as_str() != Some("unless-stopped") {
        problems.push(format!(
            "{app_name}: restart is {}, expected unless-stopped",
            app["restart"]
        ));
    }
    if !matches!(app["stop_signal"].as_str(), Some("SIGINT" | "INT")) {
        problems.push(format!(
            "{app_name}: stop_signal is {}, expected SIGINT",
            app["stop_signal"]
        ));
    }
    let grace = scalar(&app["stop_grace_period"]).and_then(|g| parse_duration(&g));
    if grace.is_none_or(|g| g <= longest_stop()) {
        problems.push(format!(
            "{app_name}: stop_grace_period {} must exceed the longest stop, {:?} (STOP_TIMEOUT_MS and the last line's grace)",
            app["stop_grace_period"],
            longest_stop()
        ));
    }
    problems
}

/// The file itself, not its normalized form: Compose Specification, so no `version:` key.
fn compose_source_problems(source: &str) -> Vec<String> {
    if source.lines().any(|l| l.starts_with("version:")) {
        vec!["top-level `version:` key (the Compose Specification has none)".to_string()]
    } else {
        Vec::new()
    }
}

#[test]
fn compose_file_is_valid_and_describes_the_stack() {
    let file = repo().join(COMPOSE);
    let quiet = run(Command::new(tool("docker-compose"))
        .arg("-f")
        .arg(&file)
        .args(["config", "-q"]));
    assert!(
        quiet.status.success(),
        "docker-compose -f {COMPOSE} config -q failed: {}",
        text(&quiet.stderr)
    );
    let config = compose_config(&file).unwrap_or_else(|e| panic!("{e}"));
    let mut problems = compose_source_problems(&read(COMPOSE));
    problems.extend(compose_problems(&config, &repo()));
    assert_no_problems(COMPOSE, &problems);
}

#[test]
fn compose_checks_catch_broken_files() {
    let source = read(COMPOSE);
    let dir = TempDir::new();
    let check = |contents: &str| -> Vec<String> {
        let file = dir.write(COMPOSE, contents);
        dir.write(DOCKERFILE, "FROM scratch\n");
        match compose_config(&file) {
            Ok(config) => compose_problems(&config, &dir.0),
            Err(e) => vec![e],
        }
    };
    assert_no_problems("unchanged copy", &check(&source));

    let port = replace_once(&source, "\"9096:9096\"", "\"9097:9096\"");
    assert_problem(&check(&port), "expected [9094, 9095, 9096]");

    let unhealthy = replace_once(
        &source,
        "  kafka-3:\n    <<: *kafka-service\n",
        "  kafka-3:\n    <<: *kafka-service\n    healthcheck:\n      disable: true\n",
    );
    assert_problem(&check(&unhealthy), "kafka-3 has no healthcheck");

    let at = source
        .rfind("schema-registry:\n        condition: service_healthy")
        .expect("app depends_on");
    let started = format!(
        "{}{}",
        &source[..at],
        source[at..].replacen("service_healthy", "service_started", 1)
    );
    assert_problem(&check(&started), "depends_on schema-registry");

    let quick = replace_once(&source, "stop_grace_period: 30s", "stop_grace_period: 15s");
    assert_problem(&check(&quick), "stop_grace_period");

    let typo = replace_once(
        &source,
        "      STATS_INTERVAL_S: 30\n",
        "      STATS_INTERVAL: 30\n",
    );
    assert_problem(&check(&typo), "STATS_INTERVAL is no variable");

    let bad_value = replace_once(&source, "      BATCH_SIZE: 10\n", "      BATCH_SIZE: 0\n");
    assert_problem(&check(&bad_value), "BATCH_SIZE=\"0\" is invalid");

    let invalid = replace_once(
        &source,
        "    stop_signal: SIGINT\n",
        "    stop_signal: [SIGINT]\n",
    );
    assert_problem(&check(&invalid), "docker-compose config exited");

    let versioned = format!("version: \"3.9\"\n{source}");
    assert_problem(&compose_source_problems(&versioned), "version");
}

/// A `major.minor[.patch]` version as numbers, for comparing.
fn version_numbers(version: &str) -> [u64; 3] {
    let mut numbers = [0; 3];
    for (slot, n) in numbers.iter_mut().zip(version.split('.')) {
        *slot = n
            .parse()
            .unwrap_or_else(|_| panic!("bad version {version}"));
    }
    numbers
}

/// The triple of the machine that builds, from `rustc -vV` (`host: x86_64-unknown-linux-gnu`).
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = run(Command::new(&rustc).arg("-vV"));
    assert!(
        output.status.success(),
        "{rustc} -vV: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|host| host.trim().to_string())
        .unwrap_or_else(|| panic!("no host line in {rustc} -vV"))
}

/// `cargo metadata` of the locked tree as this machine builds it: it reads the lock and the
/// manifests already downloaded, so no network and no other toolchain is needed. Filtered to
/// the host's platform, because a build downloads only the packages its platform uses (never
/// Windows-only ones such as anstyle-wincon), and unfiltered metadata needs them all.
fn cargo_metadata() -> Value {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(repo())
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("metadata JSON")
}

#[test]
fn librdkafka_property_scopes_match_its_configuration_md() {
    let metadata = cargo_metadata();
    let manifest = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "rdkafka-sys")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("rdkafka-sys in the locked tree");
    let doc = Path::new(manifest)
        .with_file_name("librdkafka")
        .join("CONFIGURATION.md");
    let text = std::fs::read_to_string(&doc)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", doc.display()));
    // Table rows: `property | C/P | range | default | importance | description`.
    let scoped = |mark: &str| -> BTreeSet<String> {
        text.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| {
                let mut cells = l.split('|').map(str::trim);
                let (property, scope) = (cells.next()?, cells.next()?);
                (scope == mark).then(|| property.to_string())
            })
            .collect()
    };
    let ours = |list: &[&str]| -> BTreeSet<String> { list.iter().map(|p| p.to_string()).collect() };
    assert_eq!(
        ours(property_scope::CONSUMER_ONLY),
        scoped("C"),
        "consumer-only properties"
    );
    assert_eq!(
        ours(property_scope::PRODUCER_ONLY),
        scoped("P"),
        "producer-only properties"
    );
}

#[test]
fn declared_rust_version_covers_every_locked_dependency() {
    let metadata = cargo_metadata();
    let packages = metadata["packages"].as_array().expect("packages");
    let declared = packages
        .iter()
        .find(|p| p["name"] == "kafka-avro-daemon")
        .and_then(|p| p["rust_version"].as_str())
        .expect("rust-version in Cargo.toml");
    let newer: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let wanted = p["rust_version"].as_str()?;
            (version_numbers(wanted) > version_numbers(declared))
                .then(|| format!("{} {} needs Rust {wanted}", p["name"], p["version"]))
                .map(|line| line.replace('"', ""))
        })
        .collect();
    assert!(
        newer.is_empty(),
        "Cargo.toml declares rust-version {declared}, but: {newer:#?}"
    );
}
