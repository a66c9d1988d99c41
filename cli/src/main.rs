//! `liveship`: the command-line tool. CI commands mirror Ionic Appflow's
//! `live-update` commands and flags, so a pipeline only changes the binary name.

mod live_update;
mod output;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "liveship",
    version,
    about = "Self-hosted, signed live updates for Capacitor and Ionic apps",
    long_about = "Self-hosted, signed live updates for Capacitor and Ionic apps.\n\n\
                  Exit codes: 0 success, 1 error, 2 wrong usage, 3 verification failed."
)]
struct Cli {
    /// Print exactly one JSON object on stdout (and nothing else there).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign, bundle and verify live-update artifacts (Appflow-compatible).
    #[command(name = "live-update", subcommand)]
    LiveUpdate(live_update::LiveUpdate),
}

fn main() -> ExitCode {
    let json_requested = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::usage_error(e, json_requested),
    };
    let out = output::Output::new(cli.json);
    let result = match cli.command {
        Command::LiveUpdate(cmd) => live_update::run(cmd, &out),
    };
    out.finish(result)
}
