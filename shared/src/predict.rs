//! What devices get: the one decision every lookup route makes
//! ([`device_gets`]), and the same decision over a channel's whole
//! population of devices ([`shares`]), from which every statement the
//! product makes about devices is drawn (the disable warning, the console).
//!
//! [`device_gets`] is [`crate::lookup::decide`] (channel, rollout bucket,
//! halted plans, native limits, disabled builds) followed by the key set:
//! a build whose signing key the app's key set no longer allows is not
//! offered, since every device would refuse it.
//!
//! [`shares`] computes, without sampling, what share of devices with random
//! ids and the given facts ends up running each build: a device's rollout
//! bucket is uniform over 0-99 for each build id and independent across
//! build ids (a hash of both), so the chance of each step of the channel's
//! stack is exact.

use crate::keys::KeyId;
use crate::keyset::KeySet;
use crate::lookup::{decide, eligible, Decision, DeviceQuery};
use crate::manifest::Verified;
use crate::model::{Build, Channel, Timestamp};
use std::collections::{BTreeMap, HashMap};

/// Whether a device of an app with key set `keys` may be offered `build`:
/// not when its signing key is revoked, expired or not in the set.
pub fn key_allows(keys: &Verified<KeySet>, build: &Build, at: Timestamp) -> bool {
    let Some(id) = build
        .key_id
        .as_ref()
        .and_then(|k| KeyId::try_from(k.clone()).ok())
    else {
        return false;
    };
    match keys.allowed(&id, at) {
        Ok(_) => true,
        Err(e) => {
            // Debug, not warn: it holds for every lookup until a good build
            // is deployed; `keys revoke` says so when it happens.
            tracing::debug!(app = %build.app_id, build = build.id, reason = e.code(),
                "not offering a build its app's key set no longer allows");
            false
        }
    }
}

/// What one device gets from `channel` now: every lookup route answers
/// from this.
pub fn device_gets<'a>(
    channel: &Channel,
    build: impl Fn(u64) -> Option<&'a Build>,
    keys: Option<&Verified<KeySet>>,
    q: &DeviceQuery,
    at: Timestamp,
) -> Decision {
    match decide(channel, &build, q) {
        Decision::Update { build_id, .. }
            if keys.is_some_and(|k| build(build_id).is_none_or(|b| !key_allows(k, b, at))) =>
        {
            Decision::UpToDate
        }
        d => d,
    }
}

/// What is known of the devices a statement is about (their ids are not:
/// [`shares`] covers every id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Their platform, as they report it.
    pub platform: Option<String>,
    /// Their native version, as they report it.
    pub native_version: Option<String>,
    /// The build they run now (`None`: the bundle inside the app).
    pub current_build: Option<u64>,
    /// True for a statement about devices whose native version every
    /// build's limits allow (the platform mix is not known to the server).
    pub within_native_limits: bool,
}

impl Facts {
    /// Devices running `current`, within every native limit.
    pub fn running(current: Option<u64>) -> Self {
        Self {
            current_build: current,
            within_native_limits: true,
            ..Self::default()
        }
    }
}

/// The share (0-1) of devices with `facts` that run each build after their
/// next lookup on `channel` (`None`: the bundle inside the app). The shares
/// add up to 1.
pub fn shares<'a>(
    channel: &Channel,
    build: impl Fn(u64) -> Option<&'a Build>,
    keys: Option<&Verified<KeySet>>,
    facts: &Facts,
    at: Timestamp,
) -> BTreeMap<Option<u64>, f64> {
    let q = DeviceQuery {
        device_id: "any".into(),
        platform: facts.platform.clone(),
        native_version: facts.native_version.clone(),
        current_build: facts.current_build,
    };
    let fits = |b: &Build| {
        if facts.within_native_limits {
            !b.disabled
        } else {
            eligible(b, &q)
        }
    };
    // The decision's walk down the stack, with a chance per step: the
    // device is in a step's rollout when its bucket for that build is below
    // the step's percentage, given that it was not below the percentages of
    // the earlier steps of the same build that it fell through.
    let mut out: BTreeMap<Option<u64>, f64> = BTreeMap::new();
    let mut left = 1.0;
    let mut below: HashMap<u64, u8> = HashMap::new();
    let stays = facts.current_build;
    for d in channel.stack() {
        if d.halted() && facts.current_build != Some(d.build_id) {
            continue;
        }
        let Some(b) = build(d.build_id).filter(|b| fits(b)) else {
            continue;
        };
        let floor = below.get(&d.build_id).copied().unwrap_or(0);
        let p = if d.rollout_percent >= 100 {
            1.0
        } else if floor >= 100 || d.rollout_percent <= floor {
            0.0
        } else {
            f64::from(d.rollout_percent - floor) / f64::from(100 - floor)
        };
        below.insert(d.build_id, floor.max(d.rollout_percent));
        if p > 0.0 {
            let runs = if Some(b.id) == facts.current_build
                || keys.is_some_and(|k| !key_allows(k, b, at))
            {
                stays
            } else {
                Some(b.id)
            };
            *out.entry(runs).or_default() += left * p;
            left *= 1.0 - p;
        }
        if left <= 0.0 {
            break;
        }
    }
    if left > 0.0 {
        let running_disabled = facts
            .current_build
            .and_then(&build)
            .is_some_and(|r| r.disabled);
        let runs = if running_disabled { None } else { stays };
        *out.entry(runs).or_default() += left;
    }
    out.retain(|_, s| *s > 0.0);
    out
}

/// Holds observed lookups against a prediction: every outcome seen is one
/// the prediction names, and each predicted share is within five standard
/// deviations (plus one device) of its count. The number of outcomes
/// compared, or what disagrees. (The property tests, here and against the
/// router, check [`shares`] with it.)
pub fn check_observed(
    predicted: &BTreeMap<Option<u64>, f64>,
    seen: &BTreeMap<Option<u64>, usize>,
) -> Result<usize, String> {
    let n = seen.values().sum::<usize>() as f64;
    if let Some((runs, count)) = seen.iter().find(|(runs, _)| !predicted.contains_key(*runs)) {
        return Err(format!(
            "{count} devices run {runs:?}, which the prediction {predicted:?} never names"
        ));
    }
    for (runs, p) in predicted {
        let got = *seen.get(runs).unwrap_or(&0) as f64;
        let slack = 5.0 * (n * p * (1.0 - p)).sqrt() + 1.0;
        if (got - n * p).abs() > slack {
            return Err(format!(
                "{runs:?} predicted {p:.4} of {n} lookups, {got} got it"
            ));
        }
    }
    Ok(predicted.len())
}

#[cfg(test)]
mod tests;
