//! The channel state machine against a model of what a release manager
//! means: a stack of rollouts, where re-deploying the build being rolled out
//! only changes its percentage and rollback pops one rollout. Over random
//! sequences of deploys, re-deploys at other percentages, rollbacks,
//! disables and enables, on 200 device ids: a device outside the current
//! rollout never gets its build, widening never drops a device, and every
//! device gets what the model says.

use liveship_core::domain::AppId;
use liveship_core::lookup::{decide, in_rollout, Decision, DeviceQuery};
use liveship_core::model::{Build, Channel};
use liveship_tests::build_record;
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Deploy(u64, u8),
    Rollback,
    Disable(u64),
    Enable(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..6, 1u8..=100).prop_map(|(b, p)| Op::Deploy(b, p)),
        2 => Just(Op::Rollback),
        1 => (1u64..6).prop_map(Op::Disable),
        1 => (1u64..6).prop_map(Op::Enable),
    ]
}

fn build(id: u64) -> Build {
    build_record(&AppId::new("a").unwrap(), id, &format!("1.0.{id}"))
}

/// What the model says a device gets: newest rollout first, each build
/// judged only by its newest rollout.
fn model_offer(stack: &[(u64, u8)], disabled: &[bool; 6], device: &str) -> Option<u64> {
    let mut seen = Vec::new();
    for &(b, p) in stack.iter().rev() {
        if seen.contains(&b) {
            continue;
        }
        seen.push(b);
        if in_rollout(device, b, p) && !disabled[b as usize] {
            return Some(b);
        }
    }
    None
}

fn offered(ch: &Channel, builds: &HashMap<u64, Build>, device: &str) -> Option<u64> {
    let q = DeviceQuery {
        device_id: device.into(),
        platform: Some("ios".into()),
        native_version: Some("2.0".into()),
        current_build: None,
    };
    match decide(ch, |id| builds.get(&id), &q) {
        Decision::Update { build_id, .. } => Some(build_id),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn rollouts_widen_and_roll_back_as_meant(ops in vec(op(), 1..40)) {
        let mut ch = Channel::new(AppId::new("a").unwrap(), "production");
        let mut builds: HashMap<u64, Build> = (1..6).map(|i| (i, build(i))).collect();
        let devices: Vec<String> = (0..200).map(|i| format!("device-{i}")).collect();
        let mut model: Vec<(u64, u8)> = Vec::new();
        let mut disabled = [false; 6];
        for (t, op) in ops.into_iter().enumerate() {
            let before: Vec<Option<u64>> = devices.iter().map(|d| offered(&ch, &builds, d)).collect();
            let widening = match op {
                Op::Deploy(b, p) => model.last().filter(|(cb, cp)| *cb == b && p >= *cp).map(|_| b),
                _ => None,
            };
            match op {
                // The API refuses to deploy a disabled build.
                Op::Deploy(b, _) if disabled[b as usize] => {}
                Op::Deploy(b, p) => {
                    ch.deploy(b, p, t as i64);
                    match model.last_mut() {
                        Some(top) if top.0 == b => top.1 = p,
                        _ => model.push((b, p)),
                    }
                }
                Op::Rollback => {
                    let done = ch.rollback(t as i64);
                    let top = model.last().map(|m| m.0);
                    let target = model.iter().rposition(|(b, _)| Some(*b) != top);
                    prop_assert_eq!(done, target.is_some());
                    if let Some(pos) = target {
                        model.truncate(pos + 1);
                    }
                }
                Op::Disable(b) | Op::Enable(b) => {
                    let off = matches!(op, Op::Disable(_));
                    disabled[b as usize] = off;
                    builds.get_mut(&b).unwrap().disabled = off;
                }
            }
            let cur = ch.current.as_ref().map(|d| (d.build_id, d.rollout_percent));
            prop_assert_eq!(cur, model.last().copied());
            for (i, d) in devices.iter().enumerate() {
                let got = offered(&ch, &builds, d);
                prop_assert_eq!(got, model_offer(&model, &disabled, d), "device {}", d);
                if let Some((b, p)) = cur {
                    if !in_rollout(d, b, p) {
                        prop_assert_ne!(got, Some(b), "{} is outside the {}% rollout of {}", d, p, b);
                    }
                }
                if let Some(b) = widening {
                    if before[i] == Some(b) {
                        prop_assert_eq!(got, Some(b), "widening the rollout of {} dropped {}", b, d);
                    }
                }
            }
        }
    }
}
