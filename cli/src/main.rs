//! `liveship`: the command-line tool. CI commands mirror Ionic Appflow's
//! `live-update` commands and flags, so a pipeline only changes the binary name.

mod client;
mod live_update;
mod output;
mod progress;
mod remote;
mod s3_upload;
mod serve;

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

    #[command(flatten)]
    remote: remote::Remote,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign, bundle and verify live-update artifacts (Appflow-compatible).
    #[command(name = "live-update", subcommand)]
    LiveUpdate(live_update::LiveUpdate),
    /// Run the update service on this machine (SQLite and a directory).
    Serve(serve::ServeConfig),
    /// Prepare a deployment's data without serving it: create the first
    /// admin token (printed once), and with --create-resources the bucket
    /// and tables. Run once after `terraform apply`.
    Bootstrap(serve::StoreConfig),
    /// Point a channel at a build, optionally as a staged rollout.
    Deploy(remote::DeployArgs),
    /// Put a channel back on its previous build.
    Rollback(remote::RollbackArgs),
    /// List, disable and enable builds.
    #[command(subcommand)]
    Builds(remote::BuildsCmd),
    /// List channels.
    #[command(subcommand)]
    Channels(remote::ChannelsCmd),
    /// Install statistics of a build.
    Stats(remote::StatsArgs),
    /// Create apps.
    #[command(subcommand)]
    Apps(remote::AppsCmd),
    /// Create API tokens.
    #[command(subcommand)]
    Tokens(remote::TokensCmd),
}

fn main() -> ExitCode {
    let json_requested = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::usage_error(e, json_requested),
    };
    let out = output::Output::new(cli.json);
    let r = &cli.remote;
    let result = match cli.command {
        Command::Serve(cfg) => {
            return match serve::run(cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => out.finish(Err(e.into())),
            }
        }
        Command::Bootstrap(cfg) => {
            return match serve::bootstrap(cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => out.finish(Err(e.into())),
            }
        }
        Command::LiveUpdate(cmd) => live_update::run(cmd, r, &out),
        Command::Deploy(a) => remote::deploy(a, r, &out),
        Command::Rollback(a) => remote::rollback(a, r, &out),
        Command::Builds(c) => remote::builds(c, r, &out),
        Command::Channels(c) => remote::channels(c, r, &out),
        Command::Stats(a) => remote::stats(a, r, &out),
        Command::Apps(c) => remote::apps(c, r, &out),
        Command::Tokens(c) => remote::tokens(c, r, &out),
    };
    out.finish(result)
}
