//! Release commands on channels: `deploy`, `rollback`, `rollout
//! pause|resume|advance|abort`, and `channels list | create | delete |
//! guard`.

use crate::output::{Failure, Output};
use crate::remote::{deploy_to, resolve_build, runtime, when, AppArg, Remote};
use anyhow::Context;
use clap::{Args, Subcommand};
use liveship_core::domain::AppId;
use liveship_core::env;
use liveship_core::model::{now, Build, Channel, Deployment};
use liveship_core::predict::{self, Facts};
use liveship_core::rollout::{self, PlanState};
use liveship_core::wire::{
    BuildList, ChannelList, CreateChannel, Deploy, GuardPatch, PlanAction, RolloutAction,
};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// The channel (it must exist, unless it is the app's default channel
    /// or --create-channel is given).
    #[arg(long)]
    channel: String,
    /// The build to deploy: its id or its version label.
    #[arg(long, value_name = "ID|VERSION")]
    build_id: String,
    /// Staged rollout percentage (1-100) [default: 100]. Deploying the build
    /// the channel is already rolling out changes only the percentage: the
    /// devices outside it keep the build they had.
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(1..=100))]
    rollout: Option<u8>,
    /// A rollout plan: percentages walked one step at a time while the
    /// guard finds the build healthy, such as 1,5,25,100 (docs/rollouts.md).
    #[arg(long, value_name = "PCTS", conflicts_with = "rollout", value_parser = parse_steps)]
    plan: Option<Steps>,
    /// How long each step of the plan lasts at least: 90s, 30m, 2h, 1d
    /// [default: 1h].
    #[arg(long, value_name = "DURATION", value_parser = parse_step)]
    step: Option<u64>,
    /// Roll the channel back when the guard halts the plan (devices that
    /// took the build are sent back to the one before).
    #[arg(long)]
    auto_rollback: bool,
    /// Let devices switch themselves to this channel (capgo `setChannel`): true or false.
    #[arg(long, value_name = "BOOL")]
    allow_self_assign: Option<bool>,
    /// Create the channel if it does not exist.
    #[arg(long)]
    create_channel: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// The channel to return to where it was before its current rollout began.
    #[arg(long)]
    channel: String,
    #[command(flatten)]
    remote: Remote,
}

/// A plan's percentages (one clap value, not many).
#[derive(Debug, Clone)]
pub struct Steps(Vec<u8>);

fn parse_steps(s: &str) -> Result<Steps, String> {
    rollout::parse_steps(s)
        .map(Steps)
        .map_err(|e| e.to_string())
}

fn parse_step(s: &str) -> Result<u64, String> {
    rollout::parse_duration(s).map_err(|e| e.to_string())
}

/// `liveship rollout`.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// pause: stop the step clock (the guard still watches); resume: go on
    /// (after a halt, judged afresh from now); advance: take the next step
    /// now; abort: stop the plan and roll the channel back.
    #[arg(value_enum)]
    action: RolloutVerb,
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// The channel whose plan to change.
    #[arg(long)]
    channel: String,
    #[command(flatten)]
    remote: Remote,
}

/// What `liveship rollout` does.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RolloutVerb {
    /// Stop the step clock.
    Pause,
    /// Go on.
    Resume,
    /// Take the next step now.
    Advance,
    /// Stop and roll back.
    Abort,
}

/// `liveship channels guard`.
#[derive(Debug, Args)]
pub struct GuardArgs {
    #[command(flatten)]
    app: AppArg,
    /// The channel.
    #[arg(long)]
    channel: String,
    /// Judge plans on this channel at all: true or false.
    #[arg(long, value_name = "BOOL")]
    enabled: Option<bool>,
    /// Updates of the new build before it is judged [default: 200].
    #[arg(long, value_name = "N")]
    min_devices: Option<u64>,
    /// Halt whatever the baseline above this failure rate, such as 0.1 for
    /// 10% [default: 0.1].
    #[arg(long, value_name = "FRACTION")]
    max_failure_rate: Option<f64>,
    /// How many times the baseline's failure rate counts as bad [default: 4].
    #[arg(long, value_name = "TIMES")]
    relative_increase: Option<f64>,
    /// ...and at least this much above it, such as 0.005 [default: 0.005].
    #[arg(long, value_name = "FRACTION")]
    min_increase: Option<f64>,
    /// The chance a build as good as its baseline is halted [default: 0.005].
    #[arg(long, value_name = "FRACTION")]
    false_halt: Option<f64>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCmd {
    /// List channels with their current build, rollout and history.
    List(ChannelsArgs),
    /// Create a channel (deploys to it may then name it).
    Create(CreateArgs),
    /// Delete a channel (not the app's default channel).
    Delete(NamedChannel),
    /// Show or change the rollout guard's thresholds on a channel.
    Guard(GuardArgs),
}

#[derive(Debug, Args)]
pub struct ChannelsArgs {
    #[command(flatten)]
    app: AppArg,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    app: AppArg,
    /// The new channel's name: 1-64 letters, digits, '.', '_' or '-'.
    #[arg(long)]
    channel: String,
    /// Let devices switch themselves to this channel (capgo `setChannel`).
    #[arg(long)]
    allow_self_assign: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct NamedChannel {
    #[command(flatten)]
    app: AppArg,
    /// The channel.
    #[arg(long)]
    channel: String,
    #[command(flatten)]
    remote: Remote,
}

pub fn deploy(a: DeployArgs, out: &Output) -> Result<Value, Failure> {
    let api = a.remote.api()?;
    let (build, ch) = runtime()?.block_on(async {
        let build = resolve_build(&api, &a.app_id, &a.build_id).await?;
        let body = Deploy {
            build_id: build.id,
            rollout_percent: a.rollout,
            allow_self_assign: a.allow_self_assign,
            create_channel: a.create_channel.then_some(true),
            plan: a.plan.clone().map(|p| p.0),
            step_seconds: a.step,
            auto_rollback: a.auto_rollback.then_some(true),
        };
        let ch = deploy_to(&api, &a.app_id, &a.channel, &body).await?;
        anyhow::Ok((build, ch))
    })?;
    let pct = ch.current.as_ref().map_or(100, |d| d.rollout_percent);
    let rest = match ch.baseline() {
        Some(b) if pct < 100 => format!("; the other {}% keep build {}", 100 - pct, b.build_id),
        _ => String::new(),
    };
    out.say(format!(
        "Channel {} now serves build {} (version {}) to {pct}% of devices{rest}",
        ch.name, build.id, build.version
    ));
    if let Some(line) = ch.current.as_ref().and_then(plan_line) {
        out.say(line);
    }
    Ok(json!({"command": "deploy", "build_id": build.id, "version": build.version, "channel": ch}))
}

pub fn rollback(a: RollbackArgs, out: &Output) -> Result<Value, Failure> {
    let api = a.remote.api()?;
    let ch: Channel = runtime()?.block_on(api.json::<(), _>(
        Method::POST,
        &format!("/v1/apps/{}/channels/{}/rollback", a.app_id, a.channel),
        None,
    ))?;
    let cur = ch.current.as_ref();
    out.say(format!(
        "Channel {} rolled back to build {} ({}% of devices)",
        ch.name,
        cur.map_or("none".into(), |d| d.build_id.to_string()),
        cur.map_or(0, |d| d.rollout_percent),
    ));
    Ok(json!({"command": "rollback", "channel": ch}))
}

/// A plan in one line: its steps, where it is, what the guard last found.
fn plan_line(d: &Deployment) -> Option<String> {
    let p = d.plan.as_ref()?;
    let steps: Vec<String> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i == p.step {
                format!("[{s}%]")
            } else {
                format!("{s}%")
            }
        })
        .collect();
    let mut state = p.state_phrase(when);
    if p.state == PlanState::Halted {
        state = format!(
            "HALTED{}: {}",
            &state["halted".len()..],
            p.halt_reason.as_deref().unwrap_or("")
        );
    }
    let reading = match (&p.reading, p.state) {
        (Some(r), PlanState::Running | PlanState::Paused) => {
            format!("\n    guard: {}", rollout::describe(r))
        }
        _ => String::new(),
    };
    Some(format!(
        "    plan {} every {}s{}: {state}{reading}",
        steps.join(" "),
        p.step_seconds,
        if p.auto_rollback {
            ", auto-rollback"
        } else {
            ""
        }
    ))
}

pub fn rollout(a: RolloutArgs, out: &Output) -> Result<Value, Failure> {
    let api = a.remote.api()?;
    let action = match a.action {
        RolloutVerb::Pause => PlanAction::Pause,
        RolloutVerb::Resume => PlanAction::Resume,
        RolloutVerb::Advance => PlanAction::Advance,
        RolloutVerb::Abort => PlanAction::Abort,
    };
    let ch: Channel = runtime()?.block_on(api.json(
        Method::POST,
        &format!("/v1/apps/{}/channels/{}/rollout", a.app_id, a.channel),
        Some(&RolloutAction { action }),
    ))?;
    let cur = ch.current.as_ref();
    out.say(format!(
        "Channel {}: build {} at {}% of devices",
        ch.name,
        cur.map_or("none".into(), |d| d.build_id.to_string()),
        cur.map_or(0, |d| d.rollout_percent),
    ));
    if let Some(line) = cur.and_then(plan_line) {
        out.say(line);
    }
    Ok(
        json!({"command": format!("rollout {}", action.action().trim_start_matches("rollout.")), "channel": ch}),
    )
}

/// The human history of a channel, newest first.
fn history(c: &Channel) -> Vec<String> {
    c.log
        .iter()
        .rev()
        .map(|e| {
            format!(
                "    {}  {:<8} build {:>6}  {:>3}%",
                when(e.at),
                e.action,
                e.build_id.map_or("-".into(), |b| b.to_string()),
                e.rollout_percent
            )
        })
        .collect()
}

/// What the devices a channel's current build does not reach run, from
/// [`predict::shares`]: `  (others: build 2)`, or each with its share when
/// they split (a disabled fallback, a partial rollout under another).
fn others(c: &Channel, builds: &[Build]) -> String {
    let Some(cur) = &c.current else {
        return String::new();
    };
    let get = |id: u64| builds.iter().find(|b| b.id == id);
    let shares = predict::shares(c, get, None, &Facts::running(None), now());
    let rest: Vec<(&Option<u64>, &f64)> = shares
        .iter()
        .filter(|(runs, _)| **runs != Some(cur.build_id))
        .collect();
    let name =
        |runs: &Option<u64>| runs.map_or("bundle inside the app".into(), |b| format!("build {b}"));
    match rest.as_slice() {
        [] => String::new(),
        [(runs, _)] => format!("  (others: {})", name(runs)),
        many => format!(
            "  (others: {})",
            many.iter()
                .map(|(runs, s)| format!("{} {:.0}%", name(runs), **s * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn channels(cmd: ChannelsCmd, out: &Output) -> Result<Value, Failure> {
    match cmd {
        ChannelsCmd::List(a) => {
            let api = a.remote.api()?;
            let list: ChannelList = runtime()?.block_on(api.json::<(), _>(
                Method::GET,
                &format!("/v1/apps/{}/channels", a.app.app_id),
                None,
            ))?;
            if list.channels.is_empty() {
                out.say(format!("App {} has no channels yet", a.app.app_id));
            }
            // What the devices of each channel run: the server's own
            // decision (liveship_core::predict), over the builds' flags.
            let builds: BuildList = if list.channels.is_empty() {
                BuildList { builds: Vec::new() }
            } else {
                runtime()?.block_on(api.json::<(), _>(
                    Method::GET,
                    &format!("/v1/apps/{}/builds", a.app.app_id),
                    None,
                ))?
            };
            for c in &list.channels {
                let cur = c.current.as_ref();
                out.say(format!(
                    "{}  build {}  rollout {}%{}{}",
                    c.name,
                    cur.map_or("-".into(), |d| d.build_id.to_string()),
                    cur.map_or(0, |d| d.rollout_percent),
                    others(c, &builds.builds),
                    if c.allow_self_assign {
                        "  self-assign allowed"
                    } else {
                        ""
                    },
                ));
                if let Some(line) = cur.and_then(plan_line) {
                    out.say(line);
                }
                for line in history(c) {
                    out.say(line);
                }
            }
            Ok(json!({"command": "channels list", "channels": list.channels}))
        }
        ChannelsCmd::Create(a) => {
            let api = a.remote.api()?;
            let ch: Channel = runtime()?.block_on(api.json(
                Method::POST,
                &format!("/v1/apps/{}/channels", a.app.app_id),
                Some(&CreateChannel {
                    name: a.channel,
                    allow_self_assign: a.allow_self_assign,
                }),
            ))?;
            out.say(format!("Created channel {} of app {}", ch.name, ch.app_id));
            Ok(json!({"command": "channels create", "channel": ch}))
        }
        ChannelsCmd::Delete(a) => {
            let api = a.remote.api()?;
            let ch: Channel = runtime()?
                .block_on(api.json::<(), _>(
                    Method::DELETE,
                    &format!("/v1/apps/{}/channels/{}", a.app.app_id, a.channel),
                    None,
                ))
                .context("deleting the channel")?;
            out.say(format!(
                "Deleted channel {} of app {} (devices that ask for it now get no update)",
                ch.name, ch.app_id
            ));
            Ok(json!({"command": "channels delete", "channel": ch}))
        }
        ChannelsCmd::Guard(a) => {
            let api = a.remote.api()?;
            let patch = GuardPatch {
                enabled: a.enabled,
                min_devices: a.min_devices,
                max_failure_rate: a.max_failure_rate,
                relative_increase: a.relative_increase,
                min_increase: a.min_increase,
                false_halt: a.false_halt,
            };
            let ch: Channel = runtime()?.block_on(api.json(
                Method::PATCH,
                &format!("/v1/apps/{}/channels/{}/guard", a.app.app_id, a.channel),
                Some(&patch),
            ))?;
            let g = &ch.guard;
            out.say(format!(
                "Channel {} guard: {}; judges after {} updates; halts when the failure rate is \
                 surely above {:.1}%, or {}x the baseline's (and {:.1} points above it) with a \
                 {:.1}% chance of a false halt",
                ch.name,
                if g.enabled { "on" } else { "OFF" },
                g.min_devices,
                g.max_failure_rate * 100.0,
                g.relative_increase,
                g.min_increase * 100.0,
                g.false_halt * 100.0
            ));
            Ok(json!({"command": "channels guard", "channel": ch}))
        }
    }
}
