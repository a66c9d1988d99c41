//! `liveship audit`: the audit log of an app, newest first.

use crate::output::{Failure, Output};
use crate::remote::{runtime, when, AppArg, Remote};
use clap::Args;
use liveship_core::wire::AuditList;
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    app: AppArg,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    #[command(flatten)]
    remote: Remote,
}

pub fn audit(a: AuditArgs, out: &Output) -> Result<Value, Failure> {
    let api = a.remote.api()?;
    let rt = runtime()?;
    let mut entries = Vec::new();
    let mut before: Option<String> = None;
    // Pages of at most 500 until the limit or the end of the log.
    while entries.len() < a.limit as usize {
        let want = (a.limit as usize - entries.len()).min(500);
        let mut path = format!("/v1/apps/{}/audit?limit={want}", a.app.app_id);
        if let Some(b) = &before {
            path.push_str(&format!("&before={b}"));
        }
        let page: AuditList = rt.block_on(api.json::<(), _>(Method::GET, &path, None))?;
        entries.extend(page.entries);
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    if entries.is_empty() {
        out.say(format!("Nothing recorded for app {} yet", a.app.app_id));
    }
    for e in &entries {
        out.say(format!(
            "{}  {:<24} {:<22} {:<22} {} ({})",
            when(e.at),
            e.action,
            e.target,
            format!("{} {}", e.actor.name, e.actor.id),
            e.via,
            e.id
        ));
    }
    Ok(json!({"command": "audit", "app_id": a.app.app_id, "entries": entries}))
}
