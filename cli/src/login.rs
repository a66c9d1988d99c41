//! `liveship login | logout | whoami`, like `gh auth login`: check a token
//! against the server and keep it, per profile, for later commands.

use crate::client::Api;
use crate::output::{Failure, Output};
use crate::profiles::{self, Profile, DEFAULT_PROFILE};
use crate::remote::{runtime, when, Remote, DEFAULT_SERVER};
use anyhow::Context;
use clap::Args;
use liveship_core::env;
use liveship_core::wire::WhoAmI;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// liveship server URL [default: http://127.0.0.1:8080].
    #[arg(long, env = env::SERVER)]
    server: Option<String>,
    /// The token; without it, it is read from stdin (prompted for on a terminal).
    #[arg(long, env = env::TOKEN, hide_env_values = true)]
    token: Option<String>,
    /// Name to save the login under, to keep several servers.
    #[arg(long, env = env::PROFILE, default_value = DEFAULT_PROFILE)]
    profile: String,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The saved login to forget.
    #[arg(long, env = env::PROFILE, default_value = DEFAULT_PROFILE)]
    profile: String,
}

/// Turns the terminal's echo off or on (Unix `stty`), so a pasted token is
/// not shown; elsewhere the token shows as it is typed.
fn echo(on: bool) {
    #[cfg(unix)]
    {
        let _ = std::process::Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(std::process::Stdio::inherit())
            .status();
    }
    #[cfg(not(unix))]
    let _ = on;
}

fn read_token() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("Paste a liveship token and press Enter (it is not shown): ");
        std::io::stderr().flush().ok();
        echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        echo(true);
        eprintln!();
    }
    read.context("reading the token from stdin")?;
    let token = line.trim().to_owned();
    anyhow::ensure!(
        !token.is_empty(),
        "no token given: pass --token, set {}, or pipe it on stdin",
        env::TOKEN
    );
    Ok(token)
}

fn describe(w: &WhoAmI) -> String {
    let scopes: Vec<String> = w
        .scopes
        .iter()
        .map(|s| format!("{s:?}").to_lowercase())
        .collect();
    format!(
        "{} ({}), scopes {} on {}",
        w.name,
        w.id,
        scopes.join(","),
        w.app_id.as_ref().map_or("every app", |a| a.as_str())
    )
}

pub fn login(a: LoginArgs, out: &Output) -> Result<Value, Failure> {
    let server = a.server.unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let token = match a.token {
        Some(t) => t,
        None => read_token()?,
    };
    let api = Api::new(&server, Some(token.clone()))?;
    let who: WhoAmI = runtime()?.block_on(api.json::<(), _>(Method::GET, "/v1/whoami", None))?;
    let mut all = profiles::load()?;
    all.profiles.insert(
        a.profile.clone(),
        Profile {
            server: server.trim_end_matches('/').to_owned(),
            token,
        },
    );
    let path = profiles::save(&all)?;
    out.say(format!("Signed in to {server} as {}", describe(&who)));
    out.note(format!(
        "Saved as profile {:?} in {} (readable by you only)",
        a.profile,
        path.display()
    ));
    Ok(
        json!({"command": "login", "server": server, "profile": a.profile,
        "token_id": who.id, "name": who.name, "app_id": who.app_id, "scopes": who.scopes,
        "path": path}),
    )
}

pub fn logout(a: LogoutArgs, out: &Output) -> Result<Value, Failure> {
    let mut all = profiles::load()?;
    let removed = all.profiles.remove(&a.profile);
    if removed.is_some() {
        profiles::save(&all)?;
        out.say(format!(
            "Forgot the login of profile {:?}. The token itself still works: \
             revoke it with `liveship tokens revoke` if it should not.",
            a.profile
        ));
    } else {
        out.say(format!("No saved login named {:?}", a.profile));
    }
    Ok(json!({"command": "logout", "profile": a.profile, "removed": removed.is_some()}))
}

pub fn whoami(remote: Remote, out: &Output) -> Result<Value, Failure> {
    let (server, _) = remote.resolve()?;
    let api = remote.api()?;
    let who: WhoAmI = runtime()?.block_on(api.json::<(), _>(Method::GET, "/v1/whoami", None))?;
    out.say(format!("{server}: {}", describe(&who)));
    if let Some(e) = who.expires_at {
        out.say(format!("expires {}", when(e)));
    }
    Ok(
        json!({"command": "whoami", "server": server, "id": who.id, "name": who.name,
        "app_id": who.app_id, "scopes": who.scopes}),
    )
}
