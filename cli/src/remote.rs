//! Helpers every command that talks to a liveship server shares: where the
//! server is, the token, the app and build arguments, the async runtime.
//! The command groups (publish, builds, channels, apps, tokens) sit above
//! this module and never import each other's internals.

use crate::client::Api;
use anyhow::Context;
use clap::Args;
use liveship_core::domain::AppId;
use liveship_core::env;
use liveship_core::model::{Build, Channel};
use liveship_core::wire::Deploy;
use reqwest::Method;

/// Where the server is and how to authenticate (every server command).
#[derive(Debug, Args, Clone)]
pub struct Remote {
    /// liveship server URL.
    #[arg(long, env = env::SERVER, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API token (Appflow's --token).
    #[arg(long, env = env::TOKEN, hide_env_values = true)]
    pub token: Option<String>,
}

impl Remote {
    /// A client for the server, with a token.
    pub fn api(&self) -> anyhow::Result<Api> {
        let api = Api::new(&self.server, self.token.clone())?;
        api.require_token()?;
        Ok(api)
    }
}

/// The app a command acts on.
#[derive(Debug, Args, Clone)]
pub struct AppArg {
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    pub app_id: AppId,
}

/// One build of an app.
#[derive(Debug, Args, Clone)]
pub struct BuildArg {
    /// The app id.
    #[arg(long, env = env::APP_ID)]
    pub app_id: AppId,
    /// The build: its id (a number) or its version label.
    #[arg(long, value_name = "ID|VERSION")]
    pub build_id: String,
}

/// A multi-threaded runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The path of a build on the API (ids and version labels alike: the
/// server resolves both, and both are URL-safe by their rules).
pub fn build_path(app: &AppId, build: &str) -> String {
    format!("/v1/apps/{app}/builds/{build}")
}

/// Looks a build up by id or version label.
pub async fn resolve_build(api: &Api, app: &AppId, build: &str) -> anyhow::Result<Build> {
    api.json::<(), _>(Method::GET, &build_path(app, build), None)
        .await
}

/// Points a channel at a build (the call `deploy` and `upload-artifact
/// --channel` make).
pub async fn deploy_to(
    api: &Api,
    app: &AppId,
    channel: &str,
    build_id: u64,
    rollout: Option<u8>,
    allow_self_assign: Option<bool>,
    create_channel: bool,
) -> anyhow::Result<Channel> {
    let body = Deploy {
        build_id,
        rollout_percent: rollout,
        allow_self_assign,
        create_channel: create_channel.then_some(true),
    };
    api.json(
        Method::PUT,
        &format!("/v1/apps/{app}/channels/{channel}"),
        Some(&body),
    )
    .await
}

/// A Unix time as `2026-11-23 19:48 UTC`.
pub fn when(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_795_462_080), "2026-11-23 19:28 UTC");
        assert_eq!(super::when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
