//! [`shares`] against many simulated devices through [`device_gets`]: for
//! random channel histories (deploys, partial rollouts, halted plans,
//! rollbacks, disabled builds, native limits, revoked keys), the predicted share of each
//! build agrees with 2,000 device ids within sampling error.

use super::*;
use crate::domain::AppId;
use crate::keys::SigningKey;
use crate::keyset::{verify_chain, KeySetChain};
use crate::model::fixtures::build;
use crate::model::NativeLimit;

/// A small seeded generator (xorshift), so a failure names its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Key sets of app `a`: one delegating keys A and B, and the next with A
/// revoked; and the two keys' ids, as builds record them.
fn key_sets() -> (Verified<KeySet>, Verified<KeySet>, [String; 2]) {
    let (root, a, b) = (
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
        SigningKey::generate().unwrap(),
    );
    let app = AppId::new("a").unwrap();
    let mut set = KeySet::first(app.clone(), root.public_key(), 0);
    set.delegate(a.public_key(), 0, None, None).unwrap();
    set.delegate(b.public_key(), 0, None, None).unwrap();
    let verify = |set: &KeySet| {
        let chain = KeySetChain {
            rotations: Vec::new(),
            current: set.sign(&[&root]),
        };
        verify_chain(root.public_key(), None, &chain, &app)
            .unwrap()
            .0
    };
    let both = verify(&set);
    let mut next = set.clone();
    next.version += 1;
    assert!(next.revoke(a.public_key().key_id()));
    let revoked = verify(&next);
    let ids = [a, b].map(|k| k.public_key().key_id().to_string());
    (both, revoked, ids)
}

/// A random history of up to 8 steps over up to 6 builds.
fn history(rng: &mut Rng) -> (Channel, HashMap<u64, Build>) {
    let mut ch = Channel::new(AppId::new("a").unwrap(), "production");
    let mut builds = HashMap::new();
    let mut next = 1;
    for t in 0..(1 + rng.below(8)) as i64 {
        match rng.below(10) {
            0..=5 => {
                let pct = [1, 5, 10, 25, 50, 75, 100, 100][rng.below(8) as usize];
                // Sometimes the same build again (a rollout edited).
                let id = if next > 1 && rng.below(4) == 0 {
                    next - 1
                } else {
                    next += 1;
                    next - 1
                };
                builds.entry(id).or_insert_with(|| build(id));
                ch.deploy_plan(id, vec![pct], 3600, false, t);
            }
            6 => {
                ch.rollback(t);
            }
            7 => {
                if let Some(p) = ch.current.as_mut().and_then(|c| c.plan.as_mut()) {
                    p.halt_by_hand(t);
                }
            }
            8 => {
                if next > 1 {
                    let id = 1 + rng.below(next - 1);
                    if let Some(b) = builds.get_mut(&id) {
                        b.disabled = !b.disabled;
                    }
                }
            }
            _ => {
                if next > 1 {
                    let id = 1 + rng.below(next - 1);
                    if let Some(b) = builds.get_mut(&id) {
                        b.native.insert(
                            "ios".into(),
                            NativeLimit {
                                min: Some(["2.0", "3.0"][rng.below(2) as usize].into()),
                                max: None,
                                eq: None,
                            },
                        );
                    }
                }
            }
        }
    }
    (ch, builds)
}

#[test]
fn shares_agree_with_simulated_devices_on_random_histories() {
    const DEVICES: usize = 2000;
    let (both, revoked, key_ids) = key_sets();
    let mut checked = 0;
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let (ch, mut builds) = history(&mut rng);
        // Signed by A or B; the app pins no root, or A is delegated, or
        // A is revoked (its builds are no longer offered).
        for b in builds.values_mut() {
            b.key_id = Some(key_ids[rng.below(2) as usize].clone());
        }
        let keys = [None, Some(&both), Some(&revoked)][rng.below(3) as usize];
        let get = |id: u64| builds.get(&id);
        let current = match rng.below(3) {
            0 => None,
            _ => Some(1 + rng.below(builds.len().max(1) as u64)),
        };
        let facts = Facts {
            platform: Some("ios".into()),
            native_version: Some(["2.5", "3.1"][rng.below(2) as usize].into()),
            current_build: current,
            within_native_limits: false,
        };
        let predicted = shares(&ch, get, keys, &facts, 0);
        let total: f64 = predicted.values().sum();
        assert!(
            (total - 1.0).abs() < 1e-9,
            "seed {seed}: shares add up to {total}"
        );
        let mut seen: BTreeMap<Option<u64>, usize> = BTreeMap::new();
        for i in 0..DEVICES {
            let q = DeviceQuery {
                device_id: format!("device-{seed}-{i}"),
                platform: facts.platform.clone(),
                native_version: facts.native_version.clone(),
                current_build: current,
            };
            let runs = match device_gets(&ch, get, keys, &q, 0) {
                Decision::UpToDate => current,
                Decision::Update { build_id, .. } => Some(build_id),
                Decision::RollbackToBuiltin => None,
            };
            *seen.entry(runs).or_default() += 1;
        }
        checked += check_observed(&predicted, &seen)
            .unwrap_or_else(|e| panic!("seed {seed}: {e} ({ch:?})"));
    }
    assert!(checked >= 300, "only {checked} outcomes compared");
}

#[test]
fn a_disabled_current_build_falls_back_as_its_rollout_said() {
    // 6 at 100%, 7 at 5%, 8 at 5%: disabling 8 sends its devices to 7
    // only where their bucket for 7 is below 5, else to 6.
    let mut ch = Channel::new(AppId::new("a").unwrap(), "production");
    let mut builds: HashMap<u64, Build> = (6..=8).map(|i| (i, build(i))).collect();
    ch.deploy_plan(6, vec![100], 3600, false, 0);
    ch.deploy_plan(7, vec![5], 3600, false, 1);
    ch.deploy_plan(8, vec![5], 3600, false, 2);
    builds.get_mut(&8).unwrap().disabled = true;
    let s = shares(&ch, |id| builds.get(&id), None, &Facts::running(Some(8)), 0);
    assert!((s[&Some(7)] - 0.05).abs() < 1e-12, "{s:?}");
    assert!((s[&Some(6)] - 0.95).abs() < 1e-12, "{s:?}");
}

#[test]
fn observations_that_disagree_are_refused() {
    let predicted = BTreeMap::from([(Some(1), 0.9), (Some(2), 0.1)]);
    let close = BTreeMap::from([(Some(1), 905), (Some(2), 95)]);
    assert_eq!(check_observed(&predicted, &close), Ok(2));
    let far = BTreeMap::from([(Some(1), 700), (Some(2), 300)]);
    assert!(check_observed(&predicted, &far)
        .unwrap_err()
        .contains("predicted 0.9000"));
    let unnamed = BTreeMap::from([(Some(1), 900), (None, 100)]);
    assert!(check_observed(&predicted, &unnamed)
        .unwrap_err()
        .contains("never names"));
}
