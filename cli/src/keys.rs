//! `liveship keys init-root | delegate | revoke | rotate-root | publish | show`:
//! the app's key set, signed by a root key that stays offline.
//!
//! Every signing command reads the current chain (from the server, or from
//! `--from FILE` on a machine without network), verifies it from the root
//! key given, writes the next version, and either publishes it or, with
//! `--out FILE`, leaves it to `keys publish` from a connected machine.

use crate::client::ServerError;
use crate::keyfile::{load_key_from, load_private_for, public_key_pem_for};
use crate::output::{Failure, Output};
use crate::remote::{runtime, AppArg, Remote};
use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use liveship_core::domain::AppId;
use liveship_core::fsutil::write_atomic;
use liveship_core::keys::{KeyId, PublicKey, SigningKey};
use liveship_core::keyset::{verify_chain, KeySet, KeySetChain, KeySetDocument, KeyStatus};
use liveship_core::manifest::Verified;
use liveship_core::model::{now, utc, Timestamp};
use liveship_core::predict::{self, Facts};
use liveship_core::wire::{BuildList, ChannelList};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create the root key pair: the app pins its public half; keep the
    /// private half offline (never in CI, never on the server).
    InitRoot(InitRootArgs),
    /// Let a signing key (CI's) sign builds, from now or a given time, until
    /// an expiry or until revoked.
    Delegate(DelegateArgs),
    /// Revoke a signing key: the server refuses its builds and devices
    /// refuse them even from a server that lies.
    Revoke(RevokeArgs),
    /// Hand the app over to a new root key (signed by the old and the new).
    RotateRoot(RotateRootArgs),
    /// Publish a key set signed offline (`--out` of the commands above).
    Publish(PublishArgs),
    /// Show the app's key set: version, root, keys and their windows, revoked keys.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct InitRootArgs {
    /// Where to write the root private key.
    #[arg(long, default_value = "liveship_root_private.pem")]
    private_key: PathBuf,
    /// Where to write the root public key (pin it in the app).
    #[arg(long, default_value = "liveship_root_public.pem")]
    public_key: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

/// Where the current key set comes from and where the next one goes.
#[derive(Debug, Args)]
pub struct Signing {
    #[command(flatten)]
    app: AppArg,
    /// The root private key (path or PEM).
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    root_key: String,
    /// Read the current key set from this file (`keys show --json`, or the
    /// body of GET /v1/apps/{app}/key-set) instead of the server.
    #[arg(long, value_name = "FILE")]
    from: Option<PathBuf>,
    /// Write the signed key set here instead of publishing it.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct DelegateArgs {
    #[command(flatten)]
    signing: Signing,
    /// The signing key to delegate (path or PEM of its public half).
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    public_key: String,
    /// A label for people, such as ci-2026.
    #[arg(long)]
    name: Option<String>,
    /// Valid from: a date (2027-01-31, UTC midnight), Unix seconds, or `now` [default: now].
    #[arg(long, value_parser = parse_when)]
    not_before: Option<Timestamp>,
    /// Valid until: a duration from the start (90d, 12h), a date, or Unix
    /// seconds [default: until revoked].
    #[arg(long)]
    expires: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    signing: Signing,
    /// The key id to revoke (as `keys show` lists it).
    #[arg(long, required_unless_present = "public_key", conflicts_with = "public_key", value_parser = parse_key_id)]
    key_id: Option<KeyId>,
    /// Or the key itself (path or PEM of its public half).
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    public_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct RotateRootArgs {
    #[command(flatten)]
    signing: Signing,
    /// The new root private key (path or PEM; `keys init-root` writes one).
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    new_root_key: String,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    app: AppArg,
    /// The signed key set document.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    app: AppArg,
    /// Verify the chain from this root public key (the one the app pins).
    #[arg(long, value_name = "PEM", allow_hyphen_values = true)]
    root_public_key: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

fn parse_key_id(s: &str) -> Result<KeyId, String> {
    KeyId::try_from(s.trim().to_owned())
        .map_err(|e| format!("{e} (a key id is the 64 hex characters `keys show` lists)"))
}

fn parse_when(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now());
    }
    if let Ok(n) = s.parse::<Timestamp>() {
        return Ok(n);
    }
    parse_date(s).ok_or_else(|| format!("{s:?} is not a date (YYYY-MM-DD), Unix seconds or `now`"))
}

/// `YYYY-MM-DD` as UTC midnight (Howard Hinnant's days_from_civil).
fn parse_date(s: &str) -> Option<Timestamp> {
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

fn parse_expiry(s: &str, start: Timestamp) -> anyhow::Result<Timestamp> {
    let t = s.trim();
    let unit = match t.chars().last() {
        Some('d') => Some(86_400),
        Some('h') => Some(3_600),
        Some('m') => Some(60),
        _ => None,
    };
    if let Some(mult) = unit {
        if let Ok(n) = t[..t.len() - 1].parse::<i64>() {
            if n > 0 {
                return Ok(start + n * mult);
            }
        }
    }
    parse_when(t).map_err(|e| anyhow!("--expires: {e}, or a duration such as 90d"))
}

/// The chain in force: from `--from`, or from the server (`None`: no set yet).
fn current_chain(s: &Signing) -> anyhow::Result<Option<KeySetChain>> {
    if let Some(path) = &s.from {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return chain_from_text(&text)
            .map(Some)
            .with_context(|| format!("{} is not a key set chain", path.display()));
    }
    fetch_chain(&s.app.app_id, &s.remote)
}

/// A chain from a file's text: as GET /v1/apps/{app}/key-set serves it, or
/// the `chain` of `keys show --json`.
pub fn chain_from_text(text: &str) -> anyhow::Result<KeySetChain> {
    let v: Value = serde_json::from_str(text)?;
    let v = v.get("chain").cloned().unwrap_or(v);
    Ok(serde_json::from_value(v)?)
}

fn fetch_chain(app: &AppId, remote: &Remote) -> anyhow::Result<Option<KeySetChain>> {
    let (server, token) = remote.resolve()?;
    let api = crate::client::Api::new(&server, token)?;
    match runtime()?.block_on(api.json::<(), KeySetChain>(
        Method::GET,
        &format!("/v1/apps/{app}/key-set"),
        None,
    )) {
        Ok(c) => Ok(Some(c)),
        Err(e) => match e.downcast_ref::<ServerError>() {
            Some(se) if se.status == StatusCode::NOT_FOUND && se.code() == Some("no_key_set") => {
                Ok(None)
            }
            _ => Err(e),
        },
    }
}

/// The current set, verified from `root`, or a first one.
/// The next version of the app's key set, and the set in force now (`None`:
/// the app has none yet).
fn base(s: &Signing, root: &SigningKey) -> anyhow::Result<(KeySet, Option<Verified<KeySet>>)> {
    let app = &s.app.app_id;
    match current_chain(s)? {
        None => Ok((KeySet::first(app.clone(), root.public_key(), now()), None)),
        Some(chain) => {
            let (set, _) = verify_chain(root.public_key(), None, &chain, app).context(
                "the current key set does not verify from this root key (is it the app's root, \
                 or did a later set hand over to another root?)",
            )?;
            let current = set.root_key()?;
            if current != *root.public_key() {
                return Err(anyhow!(
                    "the app's key set (version {}) is signed by root {}, not by this root key ({}): it was handed over; sign with the current root",
                    set.version,
                    current.key_id(),
                    root.public_key().key_id()
                ));
            }
            Ok((set.next(now()), Some(set)))
        }
    }
}

/// Publishes `doc`, or writes it to `--out`.
fn finish(
    s: &Signing,
    doc: &KeySetDocument,
    set: &KeySet,
    command: &str,
    out: &Output,
) -> Result<Value, Failure> {
    if let Some(path) = &s.out {
        write_atomic(path, &doc.to_json_bytes(), 0o644, true)
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.say(format!(
            "Wrote key set version {} to {}; publish it with `liveship keys publish --app-id {} --file {}`",
            set.version,
            path.display(),
            set.app_id,
            path.display()
        ));
        return Ok(
            json!({"command": command, "version": set.version, "written": path, "key_set": doc}),
        );
    }
    let chain = publish(&s.app.app_id, &s.remote, doc)?;
    out.say(format!(
        "Published key set version {} of app {}",
        set.version, set.app_id
    ));
    // Verified from the root that just signed it (the server checked it too).
    let signer = set.root_key().ok();
    for line in describe(set, signer.as_ref()) {
        out.say(line);
    }
    Ok(json!({"command": command, "version": set.version, "chain": chain}))
}

/// What a published revocation does to each channel's devices, from the
/// server's own decision (`predict::shares`) under the set in force before
/// (`before`; `None`: the app had none) and the one just published
/// (`doc`, signed by `root`, which a revocation keeps): builds that reached
/// a share of a channel's devices and no longer do (those devices keep
/// what they run).
fn revocation_impact(
    s: &Signing,
    before: Option<&Verified<KeySet>>,
    doc: &KeySetDocument,
    root: &SigningKey,
) -> anyhow::Result<Vec<String>> {
    let app = &s.app.app_id;
    let chain = KeySetChain {
        rotations: Vec::new(),
        current: doc.clone(),
    };
    let (after_set, _) = verify_chain(root.public_key(), None, &chain, app)
        .context("the published key set does not verify from the root that signed it")?;
    let api = s.remote.api()?;
    let rt = runtime()?;
    let channels: ChannelList =
        rt.block_on(api.json::<(), _>(Method::GET, &format!("/v1/apps/{app}/channels"), None))?;
    let builds: BuildList =
        rt.block_on(api.json::<(), _>(Method::GET, &format!("/v1/apps/{app}/builds"), None))?;
    let get = |id: u64| builds.builds.iter().find(|b| b.id == id);
    let at = now();
    let mut lines = Vec::new();
    for ch in &channels.channels {
        let reached = predict::shares(ch, get, before, &Facts::running(None), at);
        let after = predict::shares(ch, get, Some(&after_set), &Facts::running(None), at);
        for (runs, share) in &reached {
            let Some(build) = runs else { continue };
            let kept = after.get(runs).copied().unwrap_or(0.0);
            if kept + 1e-9 < *share {
                lines.push(format!(
                    "  channel {}: build {build} reached {:.0}% of its devices and now {:.0}%: \
                     its key is no longer allowed, so those devices keep what they run",
                    ch.name,
                    share * 100.0,
                    kept * 100.0
                ));
            }
        }
    }
    if lines.is_empty() {
        lines.push("  no channel serves a build signed by that key".into());
    }
    Ok(lines)
}

fn publish(app: &AppId, remote: &Remote, doc: &KeySetDocument) -> anyhow::Result<KeySetChain> {
    let api = remote.api()?;
    runtime()?.block_on(api.json(Method::PUT, &format!("/v1/apps/{app}/key-set"), Some(doc)))
}

fn describe(set: &KeySet, verified_from: Option<&PublicKey>) -> Vec<String> {
    let at = now();
    let root = set
        .root_key()
        .map_or("(unreadable)".into(), |k| k.key_id().to_string());
    let mut lines = vec![
        format!("Key set of app {}, version {}", set.app_id, set.version),
        format!("  root        {root}"),
        format!("  signed at   {}", utc(set.issued_at)),
        match verified_from {
            Some(k) => format!("  verified    from root {}", k.key_id()),
            None => "  verified    no (pass --root-public-key to check it)".into(),
        },
    ];
    if set.keys.is_empty() {
        lines.push("  keys        none: no build can be registered".into());
    }
    for k in &set.keys {
        let id = k
            .key()
            .map_or("(unreadable)".into(), |p| p.key_id().to_string());
        let until = k
            .not_after
            .map_or("until revoked".into(), |t| format!("until {}", utc(t)));
        let status = match KeySet::status(k, at) {
            KeyStatus::Valid => "valid now",
            KeyStatus::NotYetValid => "NOT YET VALID",
            KeyStatus::Expired => "EXPIRED",
        };
        lines.push(format!(
            "  key         {id} {} from {} {until}: {status}",
            k.name.as_deref().unwrap_or("-"),
            utc(k.not_before),
        ));
    }
    for id in &set.revoked {
        lines.push(format!("  revoked     {id}"));
    }
    lines
}

fn key_json(set: &KeySet) -> Value {
    let at = now();
    json!({
        "app_id": set.app_id,
        "version": set.version,
        "root_key_id": set.root_key().ok().map(|k| k.key_id().to_string()),
        "issued_at": set.issued_at,
        "keys": set.keys.iter().map(|k| json!({
            "key_id": k.key().ok().map(|p| p.key_id().to_string()),
            "name": k.name,
            "not_before": k.not_before,
            "not_after": k.not_after,
            "status": KeySet::status(k, at),
        })).collect::<Vec<_>>(),
        "revoked": set.revoked,
    })
}

pub fn keys(cmd: KeysCmd, out: &Output) -> Result<Value, Failure> {
    match cmd {
        KeysCmd::InitRoot(a) => init_root(a, out),
        KeysCmd::Delegate(a) => {
            let root = load_private_for(&a.signing.root_key, "--root-key")?;
            let key = PublicKey::from_pem(&public_key_pem_for(&a.public_key, "--public-key")?)
                .context("--public-key")?;
            let (mut set, _) = base(&a.signing, &root)?;
            let start = a.not_before.unwrap_or_else(now);
            let end = a
                .expires
                .as_deref()
                .map(|e| parse_expiry(e, start))
                .transpose()?;
            set.delegate(&key, start, end, a.name.clone())?;
            let doc = set.sign(&[&root]);
            finish(&a.signing, &doc, &set, "keys delegate", out)
        }
        KeysCmd::Revoke(a) => {
            let root = load_private_for(&a.signing.root_key, "--root-key")?;
            let id = match (&a.key_id, &a.public_key) {
                (Some(id), _) => id.clone(),
                (None, Some(pem)) => {
                    PublicKey::from_pem(&public_key_pem_for(pem, "--public-key")?)?
                        .key_id()
                        .clone()
                }
                (None, None) => return Err(anyhow!("give --key-id or --public-key").into()),
            };
            let (mut set, before) = base(&a.signing, &root)?;
            set.revocable(&id).map_err(|m| anyhow!(m))?;
            if !set.revoke(&id) {
                return Err(
                    anyhow!("key {id} is already revoked in version {}", set.version - 1).into(),
                );
            }
            out.note(format!(
                "Revoking {id}: the server refuses its builds from now on, and stops offering the builds it signed"
            ));
            let doc = set.sign(&[&root]);
            let mut answer = finish(&a.signing, &doc, &set, "keys revoke", out)?;
            if a.signing.out.is_none() {
                let impact = revocation_impact(&a.signing, before.as_ref(), &doc, &root)?;
                for line in &impact {
                    out.say(line);
                }
                answer["impact"] = json!(impact);
            }
            Ok(answer)
        }
        KeysCmd::RotateRoot(a) => {
            let root = load_private_for(&a.signing.root_key, "--root-key")?;
            let new_root = load_private_for(&a.new_root_key, "--new-root-key")?;
            let (mut set, _) = base(&a.signing, &root)?;
            set.rotate_root(new_root.public_key())?;
            out.note(format!(
                "Handing over from root {} to {}: devices that pinned the old root follow; sign later sets with the new one",
                root.public_key().key_id(),
                new_root.public_key().key_id()
            ));
            let doc = set.sign(&[&root, &new_root]);
            finish(&a.signing, &doc, &set, "keys rotate-root", out)
        }
        KeysCmd::Publish(a) => {
            let text = std::fs::read(&a.file)
                .with_context(|| format!("cannot read {}", a.file.display()))?;
            let doc = KeySetDocument::from_slice(&text)?;
            let set = doc.decode_unverified()?;
            let chain = publish(&a.app.app_id, &a.remote, &doc)?;
            out.say(format!(
                "Published key set version {} of app {}",
                set.version, set.app_id
            ));
            Ok(json!({"command": "keys publish", "version": set.version, "chain": chain}))
        }
        KeysCmd::Show(a) => {
            let chain = fetch_chain(&a.app.app_id, &a.remote)?.ok_or_else(|| {
                anyhow!(
                    "app {} has no key set yet; delegate a signing key with `liveship keys delegate`",
                    a.app.app_id
                )
            })?;
            let pinned = a
                .root_public_key
                .as_deref()
                .map(|k| {
                    PublicKey::from_pem(&load_key_from(k, "root public key")?)
                        .context("--root-public-key")
                })
                .transpose()?;
            let set = match &pinned {
                Some(root) => verify_chain(root, None, &chain, &a.app.app_id)
                    .context("the key set does not verify from --root-public-key")?
                    .0
                    .into_inner(),
                None => chain.current.decode_unverified()?,
            };
            for line in describe(&set, pinned.as_ref()) {
                out.say(line);
            }
            if !chain.rotations.is_empty() {
                out.say(format!("  hand-overs  {}", chain.rotations.len()));
            }
            Ok(json!({
                "command": "keys show",
                "verified": pinned.is_some(),
                "key_set": key_json(&set),
                "chain": chain,
            }))
        }
    }
}

fn init_root(a: InitRootArgs, out: &Output) -> Result<Value, Failure> {
    if !a.force {
        for p in [&a.private_key, &a.public_key] {
            if p.exists() {
                return Err(anyhow!(
                    "{} already exists; pass --force to replace it (apps that pin the old root refuse key sets signed by the new one)",
                    p.display()
                )
                .into());
            }
        }
    }
    let key = SigningKey::generate()?;
    write_atomic(&a.private_key, key.to_pem()?.as_bytes(), 0o600, a.force)
        .with_context(|| format!("cannot write {}", a.private_key.display()))?;
    write_atomic(
        &a.public_key,
        key.public_key().to_pem().as_bytes(),
        0o644,
        a.force,
    )
    .with_context(|| format!("cannot write {}", a.public_key.display()))?;
    let id = key.public_key().key_id().to_string();
    out.warn(format!(
        "{} is the app's root key: keep it OFFLINE (an encrypted USB key in a safe, a second copy elsewhere). Never put it in CI, on the server or in the app; it only signs key sets.",
        a.private_key.display()
    ));
    out.say(format!(
        "Wrote root public key {}: pin it in the app (rootPublicKey) and on the server (`liveship apps create --root-public-key {}`)",
        a.public_key.display(),
        a.public_key.display()
    ));
    out.say(format!("Root key id: {id}"));
    Ok(json!({
        "command": "keys init-root",
        "private_key": a.private_key,
        "public_key": a.public_key,
        "key_id": id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_expiries() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2027-01-31"), Some(1_801_353_600));
        assert_eq!(
            utc(parse_date("2028-02-29").unwrap()),
            "2028-02-29 00:00 UTC"
        );
        assert_eq!(parse_date("2027-13-01"), None);
        assert_eq!(parse_expiry("90d", 100).unwrap(), 100 + 90 * 86_400);
        assert_eq!(parse_expiry("12h", 0).unwrap(), 43_200);
        assert_eq!(parse_expiry("1800000000", 0).unwrap(), 1_800_000_000);
        assert!(parse_expiry("soon", 0).is_err());
        assert!(parse_expiry("0d", 0).is_err());
    }
}
