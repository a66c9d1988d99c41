//! Builds: loading them by id or label, changing their flags, and what
//! disabling one would do to the devices that run it.

use super::{OpError, Refusal};
use crate::domain::{AppId, BuildVersion};
use crate::keyset::KeySet;
use crate::manifest::Verified;
use crate::model::EventKind;
use crate::model::{apply_native_changes, now};
use crate::model::{App, Build, NativeLimitError};
use crate::model::{Channel, Timestamp};
use crate::predict::{shares, Facts};
use crate::store::{RecordRead, RecordWrite};
use crate::wire::LiveOn;
use crate::wire::{DisableImpact, PatchBuild};
use std::collections::BTreeMap;

/// Where a build is live now (channels serving it as their current build,
/// or as the baseline of a partial rollout), the share of each channel's
/// devices it reaches, and what the devices running it would run once it
/// is disabled: all from [`crate::predict::shares`], the decision the
/// lookups make, so the native limits, rollout percentages and key set of
/// the fallbacks count.
pub fn live_on(
    build_id: u64,
    channels: &[Channel],
    builds: &[Build],
    keys: Option<&Verified<KeySet>>,
    at: Timestamp,
) -> Vec<(LiveOn, BTreeMap<Option<u64>, f64>)> {
    let get = |id: u64| builds.iter().find(|b| b.id == id);
    // The same builds, with this one disabled.
    let disabled = get(build_id).map(|b| Build {
        disabled: true,
        ..b.clone()
    });
    let get_without = |id: u64| {
        if id == build_id {
            disabled.as_ref()
        } else {
            get(id)
        }
    };
    let mut out = Vec::new();
    for ch in channels {
        let Some(cur) = &ch.current else { continue };
        let role = if cur.build_id == build_id {
            "current"
        } else if cur.rollout_percent < 100 && ch.baseline().is_some_and(|b| b.build_id == build_id)
        {
            "baseline"
        } else {
            continue;
        };
        let reach = shares(ch, get, keys, &Facts::running(None), at)
            .get(&Some(build_id))
            .copied()
            .unwrap_or(0.0);
        let after = shares(ch, get_without, keys, &Facts::running(Some(build_id)), at);
        let falls_back_to = after
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .and_then(|(runs, _)| *runs);
        out.push((
            LiveOn {
                channel: ch.name.clone(),
                role: role.into(),
                percent: (reach * 100.0).round() as u8,
                falls_back_to,
            },
            after,
        ));
    }
    out
}

/// Changes a build's flags (disabled, mandatory, native limits); with the
/// build before and after. Disabling a build that channels serve now is
/// refused (`build_live`, with what the devices would get instead) unless
/// the request forces it.
pub async fn patch(
    records: &dyn RecordWrite,
    app: &App,
    build_ref: &str,
    req: &PatchBuild,
) -> Result<(Build, Build), OpError> {
    let app_id = &app.app_id;
    let mut build = load_build_ref(records, app_id, build_ref).await?;
    let before = build.clone();
    if req.disabled == Some(true) && !build.disabled && req.force != Some(true) {
        let keys = super::keys::app_keys(records, app).await?;
        let live = live_on(
            build.id,
            &records.channels(app_id).await?,
            &records.builds(app_id).await?,
            keys.as_ref().map(|k| &k.set),
            now(),
        );
        if !live.is_empty() {
            let said: Vec<String> = live.iter().map(|(l, after)| say_live(l, after)).collect();
            let counts = records.counters(app_id, build.id).await?;
            let impact = DisableImpact {
                build_id: build.id,
                devices_applied: counts.devices[&EventKind::Applied],
                devices_downloaded: counts.devices[&EventKind::DownloadComplete],
                channels: live.into_iter().map(|(l, _)| l).collect(),
            };
            return Err(OpError::refused(
                Refusal::Conflict,
                "build_live",
                format!(
                    "build {} is live: {}; {} device(s) have reported applying it. \
                     Roll back or deploy another build first, or disable it anyway with force \
                     (`--force`)",
                    build.id,
                    said.join("; "),
                    impact.devices_applied
                ),
            )
            .with_details(impact));
        }
    }
    if let Some(d) = req.disabled {
        build.disabled = d;
    }
    if let Some(m) = req.mandatory {
        build.mandatory = m;
    }
    if let Some(changes) = &req.native {
        build.native = apply_native_changes(&build.native, changes).map_err(native_error)?;
    }
    if !records.update_build(&build).await? {
        return Err(OpError::not_found(format!(
            "app {app_id} has no build {}",
            build.id
        )));
    }
    Ok((before, build))
}

/// One channel of [`live_on`] in words: `channel production serves it to
/// 95% of its devices (baseline), who would get build 6 (95%), build 7 (5%)`.
pub fn say_live(l: &LiveOn, after: &BTreeMap<Option<u64>, f64>) -> String {
    let name = |runs: &Option<u64>| {
        runs.map_or("the bundle inside the app".to_owned(), |b| {
            format!("build {b}")
        })
    };
    let mut parts: Vec<(&Option<u64>, &f64)> = after.iter().collect();
    parts.sort_by(|a, b| b.1.total_cmp(a.1));
    let gets = match parts.as_slice() {
        [(runs, _)] => name(runs),
        _ => parts
            .iter()
            .map(|(runs, s)| format!("{} ({:.0}%)", name(runs), *s * 100.0))
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "channel {} serves it to {}% of its devices ({}), who would get {gets}",
        l.channel, l.percent, l.role
    )
}

/// A build as the audit log records its registration.
pub fn build_summary(b: &Build) -> serde_json::Value {
    serde_json::json!({
        "id": b.id, "version": b.version, "artifact_type": b.artifact_type,
        "manifest_sha256": b.manifest_sha256, "commit": b.commit,
    })
}

/// The fields of a build a patch changes.
pub fn build_flags(b: &Build) -> serde_json::Value {
    serde_json::json!({ "disabled": b.disabled, "mandatory": b.mandatory, "native": b.native })
}

/// The refusal of bad native limits.
pub fn native_error(e: NativeLimitError) -> OpError {
    OpError::unprocessable("invalid_native_limits", e.to_string())
}

/// A build named in a path: a number is a build id, anything else a version
/// label.
pub async fn load_build_ref(
    records: &dyn RecordRead,
    app: &AppId,
    r: &str,
) -> Result<Build, OpError> {
    if let Ok(id) = r.parse::<u64>() {
        return load_build(records, app, id).await;
    }
    let version = BuildVersion::new(r).map_err(|_| {
        OpError::not_found(format!(
            "no build {r:?}: name a build by its id (a number) or its version label"
        ))
    })?;
    records
        .build_by_version(app, &version)
        .await?
        .ok_or_else(|| OpError::not_found(format!("app {app} has no build with version {r:?}")))
}

/// Loads build `id` of `app`, or refuses with not found.
pub async fn load_build(records: &dyn RecordRead, app: &AppId, id: u64) -> Result<Build, OpError> {
    records
        .build(app, id)
        .await?
        .ok_or_else(|| OpError::not_found(format!("app {app} has no build {id}")))
}
