//! One place that decides what goes to stdout and stderr, and the exit code.
//!
//! Success: human text on stdout, or with `--json` exactly one JSON object.
//! Failure: a one-line reason on stderr (`error: ...`), plus with `--json` a
//! JSON object `{"ok": false, "error": <code>, "message": ...}` on stdout.

use liveship_core::tree::Problem;
use serde_json::{json, Value};
use std::process::ExitCode;

/// Exit code for errors (I/O, bad input).
pub const EXIT_ERROR: u8 = 1;
/// Exit code for wrong usage (unknown flag, missing argument).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when verification failed (tampering, wrong key, unsafe entries).
pub const EXIT_VERIFY: u8 = 3;

/// A failed command: what to say, and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub code: &'static str,
    pub exit: u8,
    pub error: anyhow::Error,
    pub problems: Vec<Problem>,
}

impl Failure {
    pub fn verification(error: impl Into<anyhow::Error>, problems: Vec<Problem>) -> Self {
        Self {
            code: "verification_failed",
            exit: EXIT_VERIFY,
            error: error.into(),
            problems,
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Self {
            code: "error",
            exit: EXIT_ERROR,
            error: e.into(),
            problems: Vec::new(),
        }
    }
}

/// Where a command's results go.
#[derive(Debug)]
pub struct Output {
    pub json: bool,
}

/// Writes one line to stdout. A reader that went away (`liveship ... |
/// head`) ends the process quietly with success, as other command-line
/// tools do, instead of the panic `println!` would raise.
pub fn stdout_line(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// A human line on stdout (nothing in `--json` mode).
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.json {
            stdout_line(line.as_ref());
        }
    }

    /// A human note on stderr (nothing in `--json` mode).
    pub fn note(&self, line: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", line.as_ref());
        }
    }

    /// A warning on stderr, in both modes (stderr is never parsed).
    pub fn warn(&self, line: impl AsRef<str>) {
        eprintln!("warning: {}", line.as_ref());
    }

    pub fn finish(&self, result: Result<Value, Failure>) -> ExitCode {
        match result {
            Ok(mut value) => {
                if self.json {
                    if let Value::Object(map) = &mut value {
                        map.insert("ok".into(), Value::Bool(true));
                    }
                    stdout_line(&value);
                }
                ExitCode::SUCCESS
            }
            Err(f) => {
                let message = one_line(&format!("{:#}", f.error));
                eprintln!("error: {message}");
                if self.json {
                    let mut v = json!({"ok": false, "error": f.code, "message": message});
                    if !f.problems.is_empty() {
                        v["problems"] = json!(f.problems);
                    }
                    if let Some(e) = f.error.downcast_ref::<crate::client::ServerError>() {
                        v["status"] = json!(e.status.as_u16());
                        if let Some(b) = &e.body {
                            v["server_error"] = json!(b.error);
                            if let Some(d) = &b.details {
                                v["details"] = d.clone();
                            }
                        }
                    }
                    stdout_line(&v);
                }
                ExitCode::from(f.exit)
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Clap could not parse the command line: help and version print as usual;
/// anything else is a usage error (exit 2), with a JSON object under `--json`.
pub fn usage_error(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::SUCCESS
        };
    }
    let _ = e.print();
    if json {
        let first = e.to_string();
        let message = one_line(
            first
                .lines()
                .next()
                .unwrap_or("invalid usage")
                .trim_start_matches("error: "),
        );
        stdout_line(json!({"ok": false, "error": "usage", "message": message}));
    }
    ExitCode::from(EXIT_USAGE)
}
