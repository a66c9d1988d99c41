//! Release commands on channels: `deploy`, `rollback`, and `channels list |
//! create | delete`.

use crate::output::{Failure, Output};
use crate::remote::{deploy_to, resolve_build, runtime, when, AppArg, Remote};
use anyhow::Context;
use clap::{Args, Subcommand};
use liveship_core::domain::AppId;
use liveship_core::env;
use liveship_core::model::Channel;
use liveship_core::wire::{ChannelList, CreateChannel};
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

#[derive(Debug, Subcommand)]
pub enum ChannelsCmd {
    /// List channels with their current build, rollout and history.
    List(ChannelsArgs),
    /// Create a channel (deploys to it may then name it).
    Create(CreateArgs),
    /// Delete a channel (not the app's default channel).
    Delete(NamedChannel),
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
        let ch = deploy_to(
            &api,
            &a.app_id,
            &a.channel,
            build.id,
            a.rollout,
            a.allow_self_assign,
            a.create_channel,
        )
        .await?;
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
            for c in &list.channels {
                let cur = c.current.as_ref();
                out.say(format!(
                    "{}  build {}  rollout {}%{}{}",
                    c.name,
                    cur.map_or("-".into(), |d| d.build_id.to_string()),
                    cur.map_or(0, |d| d.rollout_percent),
                    match c.baseline() {
                        Some(b) if cur.is_some_and(|d| d.rollout_percent < 100) =>
                            format!("  (others: build {})", b.build_id),
                        _ => String::new(),
                    },
                    if c.allow_self_assign {
                        "  self-assign allowed"
                    } else {
                        ""
                    },
                ));
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
    }
}
