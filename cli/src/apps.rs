//! `liveship apps create | list | show | update`.

use crate::keyfile::{public_key_pem_for, public_key_pems, rsa_public_key_pem};
use crate::output::{Failure, Output};
use crate::remote::{runtime, when, AppArg, Remote};
use anyhow::anyhow;
use clap::{Args, Subcommand};
use liveship_core::domain::AppId;
use liveship_core::env;
use liveship_core::keys::PublicKey;
use liveship_core::model::App;
use liveship_core::wire::{AppList, CreateApp, PatchApp};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum AppsCmd {
    /// Create an app (needs a global admin token).
    Create(CreateAppArgs),
    /// List the apps this token may see.
    List(Remote),
    /// Show an app: its public keys and default channel.
    Show(ShowArgs),
    /// Change an app's public keys or default channel (needs admin).
    Update(UpdateArgs),
}

#[derive(Debug, Args)]
pub struct CreateAppArgs {
    /// The new app's id, such as com.example.app (Capacitor's appId).
    #[arg(long, env = env::APP_ID)]
    app_id: AppId,
    /// Public key (path or PEM) that must sign every build; repeat for several.
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    public_key: Vec<String>,
    /// Channel for devices that name none [default: production].
    #[arg(long)]
    default_channel: Option<String>,
    /// RSA public key (path or PEM) whose private half signs every zip in
    /// CI, for the stock Capawesome plugin's `publicKey` check.
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    rsa_public_key: Option<String>,
    /// Root public key (path or PEM) the app pins, from `liveship keys
    /// init-root`: builds must then be signed by a key its key set allows.
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    root_public_key: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    app: AppArg,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    app: AppArg,
    /// Replace the public keys with these (path or PEM; repeat for several,
    /// for example the old and the new key while apps move to the new one).
    #[arg(
        long,
        value_name = "PEM",
        allow_hyphen_values = true,
        conflicts_with = "no_public_keys"
    )]
    public_key: Vec<String>,
    /// Remove every public key: unsigned builds are accepted again.
    #[arg(long)]
    no_public_keys: bool,
    /// Channel for devices that name none.
    #[arg(long)]
    default_channel: Option<String>,
    /// Replace the RSA public key (path or PEM) that checks zip signatures.
    #[arg(
        long,
        value_name = "PEM",
        allow_hyphen_values = true,
        conflicts_with = "no_rsa_public_key"
    )]
    rsa_public_key: Option<String>,
    /// Remove the RSA public key: zips need no RSA signature again.
    #[arg(long)]
    no_rsa_public_key: bool,
    /// Set or replace the root public key (path or PEM) the app pins. Replace
    /// it only with a native release that pins the new one: devices keep
    /// trusting the root they pinned.
    #[arg(
        long,
        value_name = "PEM",
        allow_hyphen_values = true,
        conflicts_with = "no_root_public_key"
    )]
    root_public_key: Option<String>,
    /// Remove the root key: the plain public keys apply again.
    #[arg(long)]
    no_root_public_key: bool,
    #[command(flatten)]
    remote: Remote,
}

fn describe(app: &App) -> Vec<String> {
    let mut lines = vec![
        format!("App {}", app.app_id),
        format!("  created          {}", when(app.created_at)),
        format!("  default channel  {}", app.default_channel),
    ];
    if let Some(pem) = &app.root_public_key {
        let id = PublicKey::from_pem(pem).map_or("(unreadable)".into(), |k| k.key_id().to_string());
        lines.push(format!(
            "  root key         {id}: builds must be signed by a key its key set allows (`liveship keys show`)"
        ));
    } else if app.public_keys.is_empty() {
        lines.push("  public keys      none: builds need not be signed".into());
    }
    for pem in &app.public_keys {
        let id = PublicKey::from_pem(pem).map_or("(unreadable)".into(), |k| k.key_id().to_string());
        lines.push(format!("  public key       {id}"));
    }
    if let Some(pem) = &app.rsa_public_key {
        let bits = liveship_core::rsakey::RsaPublic::from_pem(pem)
            .map_or("(unreadable)".into(), |k| format!("{} bits", k.bits()));
        lines.push(format!(
            "  RSA public key   {bits}: zips must carry its signature"
        ));
    }
    lines
}

pub fn apps(cmd: AppsCmd, out: &Output) -> Result<Value, Failure> {
    match cmd {
        AppsCmd::Create(a) => {
            let api = a.remote.api()?;
            let body = CreateApp {
                app_id: a.app_id,
                public_keys: public_key_pems(&a.public_key)?,
                default_channel: a.default_channel,
                rsa_public_key: a
                    .rsa_public_key
                    .as_deref()
                    .map(rsa_public_key_pem)
                    .transpose()?,
                root_public_key: a
                    .root_public_key
                    .as_deref()
                    .map(|k| public_key_pem_for(k, "--root-public-key"))
                    .transpose()?,
            };
            let app: App = runtime()?.block_on(api.json(Method::POST, "/v1/apps", Some(&body)))?;
            if app.root_public_key.is_some() {
                out.say(format!(
                    "Created app {} with a root key: delegate the CI signing key next (`liveship keys delegate --app-id {} --root-key ... --public-key ...`)",
                    app.app_id, app.app_id
                ));
            } else {
                out.say(format!(
                    "Created app {} ({} public key(s); builds {} be signed)",
                    app.app_id,
                    app.public_keys.len(),
                    if app.public_keys.is_empty() {
                        "need not"
                    } else {
                        "must"
                    }
                ));
            }
            Ok(json!({"command": "apps create", "app": app}))
        }
        AppsCmd::List(remote) => {
            let api = remote.api()?;
            let list: AppList =
                runtime()?.block_on(api.json::<(), _>(Method::GET, "/v1/apps", None))?;
            out.say(format!(
                "{:<40} {:<16} {:>4}  CREATED",
                "APP", "DEFAULT CHANNEL", "KEYS"
            ));
            for app in &list.apps {
                out.say(format!(
                    "{:<40} {:<16} {:>4}  {}",
                    app.app_id.as_str(),
                    app.default_channel,
                    app.public_keys.len(),
                    when(app.created_at)
                ));
            }
            Ok(json!({"command": "apps list", "apps": list.apps}))
        }
        AppsCmd::Show(a) => {
            let api = a.remote.api()?;
            let app: App = runtime()?.block_on(api.json::<(), _>(
                Method::GET,
                &format!("/v1/apps/{}", a.app.app_id),
                None,
            ))?;
            for line in describe(&app) {
                out.say(line);
            }
            Ok(json!({"command": "apps show", "app": app}))
        }
        AppsCmd::Update(a) => {
            let public_keys = if a.no_public_keys {
                Some(Vec::new())
            } else if a.public_key.is_empty() {
                None
            } else {
                Some(public_key_pems(&a.public_key)?)
            };
            let rsa_public_key = if a.no_rsa_public_key {
                Some(String::new())
            } else {
                a.rsa_public_key
                    .as_deref()
                    .map(rsa_public_key_pem)
                    .transpose()?
            };
            let root_public_key = if a.no_root_public_key {
                Some(String::new())
            } else {
                a.root_public_key
                    .as_deref()
                    .map(|k| public_key_pem_for(k, "--root-public-key"))
                    .transpose()?
            };
            if public_keys.is_none()
                && a.default_channel.is_none()
                && rsa_public_key.is_none()
                && root_public_key.is_none()
            {
                return Err(anyhow!(
                    "nothing to change: give --public-key, --no-public-keys, --default-channel, --rsa-public-key, --no-rsa-public-key, --root-public-key or --no-root-public-key"
                )
                .into());
            }
            let api = a.remote.api()?;
            let body = PatchApp {
                public_keys,
                default_channel: a.default_channel,
                rsa_public_key,
                root_public_key,
            };
            let app: App = runtime()?.block_on(api.json(
                Method::PATCH,
                &format!("/v1/apps/{}", a.app.app_id),
                Some(&body),
            ))?;
            for line in describe(&app) {
                out.say(line);
            }
            Ok(json!({"command": "apps update", "app": app}))
        }
    }
}
