//! `liveship tokens create | list | revoke | rotate`.

use crate::output::{Failure, Output};
use crate::remote::{runtime, when, Remote};
use clap::{Args, Subcommand};
use liveship_core::domain::AppId;
use liveship_core::env;
use liveship_core::model::Scope;
use liveship_core::wire::{CreateToken, CreatedToken, RevokedToken, RotatedToken, TokenList};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; its secret is printed once.
    Create(CreateTokenArgs),
    /// List tokens: name, scopes, app, created, last used (never a secret).
    List(Remote),
    /// Revoke a token; it stops working at once.
    Revoke(TokenIdArgs),
    /// Replace a token with a new secret (same name, app and scopes); the
    /// old secret stops working at once. The new secret is printed once.
    Rotate(TokenIdArgs),
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// A name to recognise it by, such as "ci" or "alice".
    #[arg(long)]
    name: String,
    /// Limit it to one app [default: every app].
    #[arg(long, env = env::APP_ID)]
    app_id: Option<AppId>,
    /// Comma-separated: admin, upload, deploy.
    #[arg(long, value_delimiter = ',', required = true)]
    scopes: Vec<Scope>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct TokenIdArgs {
    /// The token's id (tok_..., from `liveship tokens list`), not its secret.
    #[arg(long, value_name = "ID")]
    id: String,
    #[command(flatten)]
    remote: Remote,
}

fn scopes(s: &[Scope]) -> String {
    s.iter()
        .map(|x| format!("{x:?}").to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

fn created(out: &Output, t: &CreatedToken) {
    out.say(format!("Token {} ({}), shown once:", t.id, t.name));
    out.say(&t.token);
}

pub fn tokens(cmd: TokensCmd, out: &Output) -> Result<Value, Failure> {
    match cmd {
        TokensCmd::Create(a) => {
            let api = a.remote.api()?;
            let body = CreateToken {
                name: a.name,
                app_id: a.app_id,
                scopes: a.scopes,
            };
            let t: CreatedToken =
                runtime()?.block_on(api.json(Method::POST, "/v1/tokens", Some(&body)))?;
            created(out, &t);
            Ok(
                json!({"command": "tokens create", "id": t.id, "name": t.name, "app_id": t.app_id, "scopes": t.scopes, "token": t.token}),
            )
        }
        TokensCmd::List(remote) => {
            let api = remote.api()?;
            let list: TokenList =
                runtime()?.block_on(api.json::<(), _>(Method::GET, "/v1/tokens", None))?;
            out.say(format!(
                "{:<18} {:<20} {:<20} {:<24} {:<20} LAST USED",
                "ID", "NAME", "SCOPES", "APP", "CREATED"
            ));
            for t in &list.tokens {
                out.say(format!(
                    "{:<18} {:<20} {:<20} {:<24} {:<20} {}",
                    t.id,
                    t.name,
                    scopes(&t.scopes),
                    t.app_id.as_ref().map_or("(every app)", |a| a.as_str()),
                    when(t.created_at),
                    t.last_used_at.map_or("never".into(), when)
                ));
            }
            Ok(json!({"command": "tokens list", "tokens": list.tokens}))
        }
        TokensCmd::Revoke(a) => {
            let api = a.remote.api()?;
            let r: RevokedToken = runtime()?.block_on(api.json::<(), _>(
                Method::DELETE,
                &format!("/v1/tokens/{}", a.id),
                None,
            ))?;
            out.say(format!("Token {} is revoked", r.id));
            Ok(json!({"command": "tokens revoke", "id": r.id, "revoked": r.revoked}))
        }
        TokensCmd::Rotate(a) => {
            let api = a.remote.api()?;
            let r: RotatedToken = runtime()?.block_on(api.json::<(), _>(
                Method::POST,
                &format!("/v1/tokens/{}/rotate", a.id),
                None,
            ))?;
            out.say(format!("Token {} is revoked; its replacement:", r.replaces));
            created(out, &r.token);
            let t = &r.token;
            Ok(
                json!({"command": "tokens rotate", "replaces": r.replaces, "id": t.id, "name": t.name, "app_id": t.app_id, "scopes": t.scopes, "token": t.token}),
            )
        }
    }
}
