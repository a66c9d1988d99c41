//! What a device gets: the update rules, as pure functions of a channel, its
//! builds and the device's report. Every backend and every route (our own
//! lookup, the capgo and Cartona-style ones) decides through [`decide`].

pub use crate::model::native_cmp;
use crate::model::{Build, Channel, NativeLimit, NativeLimits};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

/// What the device says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceQuery {
    /// Opaque, stable device id.
    pub device_id: String,
    /// `ios`, `android`, `web`, ...
    pub platform: Option<String>,
    /// The native (binary) app version, such as `2.3.0`.
    pub native_version: Option<String>,
    /// The build it runs now, if it runs a live update.
    pub current_build: Option<u64>,
}

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    UpToDate,
    /// Install this build.
    Update {
        /// The build id.
        build_id: u64,
        /// Apply at once: this build, or one the device skips over, is mandatory.
        mandatory: bool,
    },
    /// The device runs a disabled build and nothing eligible is left: go back
    /// to the bundle inside the app.
    RollbackToBuiltin,
}

/// True when the build's limits for the device's platform hold. A build with
/// limits is not offered to a device that does not say what it runs (no
/// platform), nor, when its platform is limited, to one that does not say
/// its native version: better no update than one that crashes.
pub fn native_allows(limits: &NativeLimits, platform: Option<&str>, native: Option<&str>) -> bool {
    let Some(platform) = platform else {
        return limits.values().all(NativeLimit::is_empty);
    };
    let Some(limit) = limits.get(&platform.to_ascii_lowercase()) else {
        return true;
    };
    if limit.is_empty() {
        return true;
    }
    let Some(v) = native else {
        return false;
    };
    limit
        .min
        .as_deref()
        .is_none_or(|m| native_cmp(v, m) != Ordering::Less)
        && limit
            .max
            .as_deref()
            .is_none_or(|m| native_cmp(v, m) != Ordering::Greater)
        && limit
            .eq
            .as_deref()
            .is_none_or(|m| native_cmp(v, m) == Ordering::Equal)
}

/// The device's bucket (0-99) for a build: a stable hash of both ids, so a
/// device keeps its answer while the rollout stays, and different builds
/// pick different devices.
pub fn rollout_bucket(device_id: &str, build_id: u64) -> u8 {
    let mut h = Sha256::new();
    h.update(device_id.as_bytes());
    h.update([0u8]);
    h.update(build_id.to_string().as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(first) % 100) as u8
}

/// True when the device is inside a rollout of `percent` for the build. A
/// device without an id (the capgo plugin on iOS sends `""` when
/// `identifierForVendor` is nil) is outside every partial rollout: all such
/// devices would otherwise share one bucket and move together.
pub fn in_rollout(device_id: &str, build_id: u64, percent: u8) -> bool {
    percent >= 100 || (!device_id.is_empty() && rollout_bucket(device_id, build_id) < percent)
}

/// True when the build may be offered to this device.
pub fn eligible(build: &Build, q: &DeviceQuery) -> bool {
    !build.disabled
        && native_allows(
            &build.native,
            q.platform.as_deref(),
            q.native_version.as_deref(),
        )
}

/// Decides what a device gets from a channel. `build` looks up a build the
/// channel refers to.
pub fn decide<'a>(
    channel: &Channel,
    build: impl Fn(u64) -> Option<&'a Build>,
    q: &DeviceQuery,
) -> Decision {
    // Newest first, as the channel served this device before each newer
    // rollout began: a device outside a rollout keeps what it had. A
    // rollout its plan halted keeps the devices that took it and takes no
    // new one.
    let offer = channel
        .stack()
        .filter(|d| in_rollout(&q.device_id, d.build_id, d.rollout_percent))
        .filter(|d| !d.halted() || q.current_build == Some(d.build_id))
        .filter_map(|d| build(d.build_id))
        .find(|b| eligible(b, q));
    let running = q.current_build.and_then(&build);
    match offer {
        Some(b) if Some(b.id) == q.current_build => Decision::UpToDate,
        Some(b) => Decision::Update {
            build_id: b.id,
            mandatory: mandatory_between(channel, &build, q.current_build, b),
        },
        None if running.is_some_and(|r| r.disabled) => Decision::RollbackToBuiltin,
        None => Decision::UpToDate,
    }
}

/// Mandatory is transitive: moving forward from `from` to `to`, any build
/// deployed to this channel in between that is mandatory makes the move
/// mandatory, so a device that skipped a mandatory build still applies it
/// at once.
fn mandatory_between<'a>(
    channel: &Channel,
    build: &impl Fn(u64) -> Option<&'a Build>,
    from: Option<u64>,
    to: &Build,
) -> bool {
    if to.mandatory {
        return true;
    }
    let Some(from) = from else {
        return false;
    };
    if to.id <= from {
        return false;
    }
    channel
        .log
        .iter()
        .filter_map(|e| e.build_id)
        .filter(|id| *id > from && *id < to.id)
        .filter_map(build)
        .any(|b| b.mandatory && !b.disabled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppId;
    use crate::model::fixtures::build;
    use std::collections::HashMap;

    fn q(device: &str, current: Option<u64>) -> DeviceQuery {
        DeviceQuery {
            device_id: device.into(),
            platform: Some("ios".into()),
            native_version: Some("2.0.0".into()),
            current_build: current,
        }
    }

    struct World {
        builds: HashMap<u64, Build>,
        channel: Channel,
    }

    impl World {
        fn new(ids: &[u64]) -> Self {
            let mut channel = Channel::new(AppId::new("a").unwrap(), "production");
            for id in ids {
                channel.deploy(*id, 100, 0);
            }
            Self {
                builds: ids.iter().map(|i| (*i, build(*i))).collect(),
                channel,
            }
        }
        fn decide(&self, q: &DeviceQuery) -> Decision {
            decide(&self.channel, |id| self.builds.get(&id), q)
        }
    }

    #[test]
    fn version_compare_is_numeric() {
        assert_eq!(native_cmp("1.10.0", "1.9.2"), Ordering::Greater);
        assert_eq!(native_cmp("1.2", "1.2.0"), Ordering::Equal);
        assert_eq!(native_cmp("v2.0.0-beta.1", "2"), Ordering::Equal);
        assert_eq!(native_cmp("10", "9.99.99"), Ordering::Greater);
    }

    #[test]
    fn native_limits() {
        let mut limits = NativeLimits::new();
        limits.insert(
            "ios".into(),
            NativeLimit {
                min: Some("2.0".into()),
                max: Some("2.5".into()),
                eq: None,
            },
        );
        assert!(native_allows(&limits, Some("ios"), Some("2.0.0")));
        assert!(native_allows(&limits, Some("iOS"), Some("2.5")));
        assert!(!native_allows(&limits, Some("ios"), Some("1.9.9")));
        assert!(!native_allows(&limits, Some("ios"), Some("2.10")));
        assert!(!native_allows(&limits, Some("ios"), None));
        assert!(native_allows(&limits, Some("android"), Some("0.1")));
        // A device that does not say what it runs gets no limited build.
        assert!(!native_allows(&limits, None, Some("2.0.0")));
        assert!(!native_allows(&limits, None, None));
        assert!(native_allows(&NativeLimits::new(), None, None));
        limits.insert(
            "android".into(),
            NativeLimit {
                eq: Some("3.1".into()),
                ..Default::default()
            },
        );
        assert!(native_allows(&limits, Some("android"), Some("3.1.0")));
        assert!(!native_allows(&limits, Some("android"), Some("3.1.1")));
    }

    #[test]
    fn rollout_is_stable_and_close_to_the_percentage() {
        let n = 10_000;
        let inside = (0..n)
            .filter(|i| in_rollout(&format!("device-{i}"), 42, 10))
            .count();
        assert!((800..=1200).contains(&inside), "{inside}");
        assert_eq!(rollout_bucket("d", 1), rollout_bucket("d", 1));
        assert!(in_rollout("anything", 1, 100));
        assert!(!in_rollout("anything", 1, 0));
    }

    #[test]
    fn newest_eligible_build_offered() {
        let mut w = World::new(&[1, 2, 3]);
        assert_eq!(
            w.decide(&q("d", None)),
            Decision::Update {
                build_id: 3,
                mandatory: false
            }
        );
        assert_eq!(w.decide(&q("d", Some(3))), Decision::UpToDate);
        w.builds.get_mut(&3).unwrap().native.insert(
            "ios".into(),
            NativeLimit {
                min: Some("3.0".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            w.decide(&q("d", Some(1))),
            Decision::Update {
                build_id: 2,
                mandatory: false
            }
        );
        w.builds.get_mut(&2).unwrap().disabled = true;
        assert_eq!(
            w.decide(&q("d", Some(2))),
            Decision::Update {
                build_id: 1,
                mandatory: false
            }
        );
    }

    #[test]
    fn rollback_to_builtin_only_from_a_disabled_build() {
        let mut w = World::new(&[1]);
        w.builds.get_mut(&1).unwrap().disabled = true;
        assert_eq!(w.decide(&q("d", Some(1))), Decision::RollbackToBuiltin);
        assert_eq!(w.decide(&q("d", None)), Decision::UpToDate);
    }

    #[test]
    fn devices_outside_the_rollout_get_the_previous_build() {
        let mut w = World::new(&[1]);
        w.channel.deploy(2, 30, 0);
        w.builds.insert(2, build(2));
        let (mut got1, mut got2) = (0, 0);
        for i in 0..1000 {
            match w.decide(&q(&format!("dev{i}"), None)) {
                Decision::Update { build_id: 1, .. } => got1 += 1,
                Decision::Update { build_id: 2, .. } => got2 += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!((230..=370).contains(&got2), "{got2}");
        assert_eq!(got1 + got2, 1000);
    }

    #[test]
    fn a_halted_rollout_keeps_its_devices_and_takes_no_new_one() {
        let mut w = World::new(&[1]);
        w.channel.deploy_plan(2, vec![50, 100], 3600, false, 0);
        w.builds.insert(2, build(2));
        let inside: Vec<String> = (0..200)
            .map(|i| format!("dev{i}"))
            .filter(|d| in_rollout(d, 2, 50))
            .collect();
        assert!(inside.len() > 50);
        w.channel
            .current
            .as_mut()
            .unwrap()
            .plan
            .as_mut()
            .unwrap()
            .halt_by_hand(10);
        for d in &inside {
            // Had build 2: keeps it. Had build 1 (or nothing): stays on 1.
            assert_eq!(w.decide(&q(d, Some(2))), Decision::UpToDate);
            assert_eq!(w.decide(&q(d, Some(1))), Decision::UpToDate);
            assert!(matches!(
                w.decide(&q(d, None)),
                Decision::Update { build_id: 1, .. }
            ));
        }
    }

    #[test]
    fn mandatory_is_transitive() {
        let mut w = World::new(&[1, 2, 3, 4]);
        w.builds.get_mut(&2).unwrap().mandatory = true;
        assert_eq!(
            w.decide(&q("d", Some(1))),
            Decision::Update {
                build_id: 4,
                mandatory: true
            }
        );
        assert_eq!(
            w.decide(&q("d", Some(2))),
            Decision::Update {
                build_id: 4,
                mandatory: false
            }
        );
        assert_eq!(
            w.decide(&q("d", None)),
            Decision::Update {
                build_id: 4,
                mandatory: false
            }
        );
    }
}
