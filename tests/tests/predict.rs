//! The one prediction against the router: for random channel histories made
//! through the API of a real `liveship serve` (deploys, partial rollouts,
//! rollbacks, disabled builds, native limits), `predict::shares` over what
//! the API lists agrees, per build, with 1,000 device lookups through the
//! router within sampling error.

use futures::StreamExt;
use liveship_core::model::{now, Build, Channel};
use liveship_core::predict::{check_observed, shares, Facts};
use liveship_core::wire::{BuildList, ChannelList, Latest};
use liveship_tests::world::{deploy, register, World};
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;

/// A small seeded generator (xorshift), so a failure names its seed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const DEVICES: usize = 1000;

/// Makes a random history on `app`'s `production` channel; the build ids.
async fn history(w: &World, token: &str, admin: &str, app: &str, rng: &mut Rng) -> Vec<u64> {
    let mut ids: Vec<u64> = Vec::new();
    let steps = 3 + rng.below(6);
    for step in 0..steps {
        let kind = if ids.is_empty() { 0 } else { rng.below(10) };
        match kind {
            0..=4 => {
                let (s, v) = register(
                    w,
                    token,
                    app,
                    &format!("1.0.{step}"),
                    format!("<p>{app} {step}</p>").as_bytes(),
                    json!({}),
                )
                .await;
                assert!(s.is_success(), "{v}");
                let id = v["build"]["id"].as_u64().unwrap();
                ids.push(id);
                let pct = [1u8, 5, 10, 25, 50, 75, 100, 100][rng.below(8) as usize];
                deploy(w, token, app, "production", id, pct).await;
            }
            5 => {
                let pct = [5u8, 30, 60, 100][rng.below(4) as usize];
                let id = ids[rng.below(ids.len() as u64) as usize];
                // Redeploying an older build, or a new percentage for the
                // current one; a disabled build is refused, which is fine.
                let _ = w
                    .call(
                        Method::PUT,
                        &format!("/v1/apps/{app}/channels/production"),
                        Some(token),
                        Some(json!({"build_id": id, "rollout_percent": pct})),
                    )
                    .await;
            }
            6 => {
                let _ = w
                    .call(
                        Method::POST,
                        &format!("/v1/apps/{app}/channels/production/rollback"),
                        Some(token),
                        None,
                    )
                    .await;
            }
            7 | 8 => {
                let id = ids[rng.below(ids.len() as u64) as usize];
                let disabled = rng.below(3) != 0;
                let (s, v) = w
                    .call(
                        Method::PATCH,
                        &format!("/v1/apps/{app}/builds/{id}"),
                        Some(admin),
                        Some(json!({"disabled": disabled, "force": true})),
                    )
                    .await;
                assert!(s.is_success(), "{v}");
            }
            _ => {
                let id = ids[rng.below(ids.len() as u64) as usize];
                let min = ["2.0", "3.0"][rng.below(2) as usize];
                let (s, v) = w
                    .call(
                        Method::PATCH,
                        &format!("/v1/apps/{app}/builds/{id}"),
                        Some(admin),
                        Some(json!({"native": {"ios": {"min": min}}})),
                    )
                    .await;
                assert!(s.is_success(), "{v}");
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shares_agree_with_lookups_through_the_router() {
    let w = World::new();
    let mut compared = 0;
    for seed in 1..=12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let app = format!("com.example.predict{seed}");
        let t = w.app(&app);
        let ids = history(&w, &t.ci, &t.admin, &app, &mut rng).await;
        let (_, v) = w
            .call(
                Method::GET,
                &format!("/v1/apps/{app}/channels"),
                Some(&t.admin),
                None,
            )
            .await;
        let channels: ChannelList = serde_json::from_value(v).unwrap();
        let ch: Channel = channels
            .channels
            .into_iter()
            .find(|c| c.name == "production")
            .unwrap();
        let (_, v) = w
            .call(
                Method::GET,
                &format!("/v1/apps/{app}/builds"),
                Some(&t.admin),
                None,
            )
            .await;
        let builds: Vec<Build> = serde_json::from_value::<BuildList>(v).unwrap().builds;
        let current = match rng.below(3) {
            0 => None,
            _ => Some(ids[rng.below(ids.len() as u64) as usize]),
        };
        let native = ["2.5", "3.1"][rng.below(2) as usize];
        let facts = Facts {
            platform: Some("ios".into()),
            native_version: Some(native.into()),
            current_build: current,
            within_native_limits: false,
        };
        let get = |id: u64| builds.iter().find(|b| b.id == id);
        let predicted = shares(&ch, get, None, &facts, now());

        let w = &w;
        let app = &app;
        let seen: BTreeMap<Option<u64>, usize> = futures::stream::iter(0..DEVICES)
            .map(|i| async move {
                let mut q =
                    format!("device_id=dev-{seed}-{i}&platform=ios&native_version={native}");
                if let Some(c) = current {
                    q.push_str(&format!("&current_build={c}"));
                }
                let latest: Latest = w.latest(app, "production", &q).await;
                match latest.status.as_str() {
                    "up_to_date" => current,
                    "rollback_to_builtin" => None,
                    _ => Some(latest.build.expect("an update names its build").id),
                }
            })
            .buffer_unordered(32)
            .fold(BTreeMap::new(), |mut m, runs| async move {
                *m.entry(runs).or_default() += 1;
                m
            })
            .await;
        compared += check_observed(&predicted, &seen)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}; channel {ch:?}"));
    }
    assert!(compared >= 12, "only {compared} outcomes compared");
}
