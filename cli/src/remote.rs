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

/// The server of a command that names none and has no saved login.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// Where the server is and how to authenticate (every server command).
/// Flags and environment variables win; otherwise the saved login of
/// `--profile` (`liveship login`) fills in what is missing.
#[derive(Debug, Args, Clone)]
pub struct Remote {
    /// liveship server URL [default: the saved login's, else http://127.0.0.1:8080].
    #[arg(long, env = env::SERVER)]
    pub server: Option<String>,
    /// API token (Appflow's --token) [default: the saved login's].
    #[arg(long, env = env::TOKEN, hide_env_values = true)]
    pub token: Option<String>,
    /// Saved login to use (`liveship login --profile NAME`).
    #[arg(long, env = env::PROFILE, default_value = crate::profiles::DEFAULT_PROFILE)]
    pub profile: String,
}

impl Remote {
    /// The server and token to use: flags and environment first, then the
    /// saved login. A saved token is only ever sent to the server it was
    /// saved for.
    pub fn resolve(&self) -> anyhow::Result<(String, Option<String>)> {
        let saved = crate::profiles::load()?.profiles.remove(&self.profile);
        let server = self
            .server
            .clone()
            .or_else(|| saved.as_ref().map(|p| p.server.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let token = self.token.clone().or_else(|| {
            saved
                .filter(|p| p.server.trim_end_matches('/') == server.trim_end_matches('/'))
                .map(|p| p.token)
        });
        Ok((server, token))
    }

    /// A client for the server, with a token.
    pub fn api(&self) -> anyhow::Result<Api> {
        let (server, token) = self.resolve()?;
        let api = Api::new(&server, token)?;
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
    body: &Deploy,
) -> anyhow::Result<Channel> {
    api.json(
        Method::PUT,
        &format!("/v1/apps/{app}/channels/{channel}"),
        Some(body),
    )
    .await
}

/// A deploy of `build_id` at one percentage, with no plan.
pub fn plain_deploy(build_id: u64, rollout: Option<u8>, create_channel: bool) -> Deploy {
    Deploy {
        build_id,
        rollout_percent: rollout,
        allow_self_assign: None,
        create_channel: create_channel.then_some(true),
        plan: None,
        step_seconds: None,
        auto_rollback: None,
    }
}

pub use liveship_core::model::utc as when;

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_795_462_080), "2026-11-23 19:28 UTC");
        assert_eq!(super::when(951_782_400), "2000-02-29 00:00 UTC");
    }
}
