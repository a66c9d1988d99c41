//! `liveship`: the command-line tool. CI commands mirror Ionic Appflow's
//! `live-update` commands and flags, so a pipeline only changes the binary name.

mod apps;
mod audit;
mod builds;
mod channels;
mod client;
mod compress;
mod h1;
mod health;
mod keyfile;
mod keys;
mod listen;
mod live_update;
mod login;
mod output;
mod profiles;
mod progress;
mod publish;
mod remote;
mod s3_upload;
mod serve;
mod tokens;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// `liveship --version`: the version and the commit it was built from
/// (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("LIVESHIP_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "liveship",
    version = VERSION,
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
    /// Sign, bundle, verify, upload and register live-update artifacts
    /// (Appflow-compatible commands and flags).
    #[command(name = "live-update", subcommand)]
    LiveUpdate(live_update::LiveUpdate),
    /// Release: point a channel at a build, optionally as a staged rollout.
    Deploy(channels::DeployArgs),
    /// Release: return a channel to where it was before its current rollout.
    Rollback(channels::RollbackArgs),
    /// Release: pause, resume, advance or abort a channel's rollout plan.
    Rollout(channels::RolloutArgs),
    /// Release: list, show, disable, enable builds; mandatory flag, native
    /// version limits, install statistics.
    #[command(subcommand)]
    Builds(builds::BuildsCmd),
    /// Release: list, create and delete channels.
    #[command(subcommand)]
    Channels(channels::ChannelsCmd),
    /// Install statistics of a build (the same as `builds stats`).
    #[command(hide = true)]
    Stats(builds::BuildCmdArgs),
    /// Ops: create, list, show and update apps.
    #[command(subcommand)]
    Apps(apps::AppsCmd),
    /// Ops: create, list, revoke and rotate API tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCmd),
    /// Release: the app's signing keys, delegated by an offline root key:
    /// init-root, delegate, revoke, rotate-root, publish, show.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Release: the audit log of an app (every write, who, before and after).
    Audit(audit::AuditArgs),
    /// Check a token against a server and save both for later commands
    /// (per --profile; file mode 0600).
    Login(login::LoginArgs),
    /// Forget a saved login.
    Logout(login::LogoutArgs),
    /// Show which token and server commands use.
    Whoami(remote::Remote),
    /// Ops: run the update service on this machine (SQLite and a directory).
    Serve(serve::ServeConfig),
    /// Ops: prepare a deployment's data without serving it: create the
    /// first admin token (printed once), and with --create-resources the
    /// bucket and tables. Run once after `terraform apply`.
    Bootstrap(serve::BootstrapArgs),
    /// Ops: ask a running server for /healthz; exit 0 when it answers 200
    /// (the container image's health check).
    Healthcheck(health::HealthArgs),
}

fn main() -> ExitCode {
    liveship_core::https::install_ring_provider();
    let json_requested = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::usage_error(e, json_requested),
    };
    let out = output::Output::new(cli.json);
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
        Command::LiveUpdate(cmd) => live_update::run(cmd, &out),
        Command::Deploy(a) => channels::deploy(a, &out),
        Command::Rollback(a) => channels::rollback(a, &out),
        Command::Rollout(a) => channels::rollout(a, &out),
        Command::Builds(c) => builds::builds(c, &out),
        Command::Channels(c) => channels::channels(c, &out),
        Command::Stats(a) => builds::stats(a, &out),
        Command::Apps(c) => apps::apps(c, &out),
        Command::Tokens(c) => tokens::tokens(c, &out),
        Command::Keys(c) => keys::keys(c, &out),
        Command::Audit(a) => audit::audit(a, &out),
        Command::Login(a) => login::login(a, &out),
        Command::Logout(a) => login::logout(a, &out),
        Command::Whoami(r) => login::whoami(r, &out),
        Command::Healthcheck(a) => health::healthcheck(a, &out),
    };
    out.finish(result)
}
