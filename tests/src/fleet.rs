//! A fleet simulator: thousands of devices open the app over simulated time
//! against a real server (`liveship serve`, or the Lambda stack), download
//! what it offers and report events with a chosen failure rate, while a
//! release manager's rollout plan runs under the guard.
//!
//! The server takes its time from a file (`LIVESHIP_CLOCK_FILE`) that the
//! simulator moves forward tick by tick, so a day passes in seconds. Every
//! random choice comes from the scenario's seed: a run is repeatable.
//! Several scenarios run in lockstep on one server, each on its own channel.

use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The server's clock: a file holding the simulated Unix time.
#[derive(Debug)]
pub struct Clock {
    path: PathBuf,
}

impl Clock {
    /// A clock file in `dir`, set to `t`.
    pub fn new(dir: &Path, t: i64) -> Self {
        let c = Self {
            path: dir.join("clock"),
        };
        c.set(t);
        c
    }
    /// The file's path (for `LIVESHIP_CLOCK_FILE`).
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Moves the clock (written beside, then renamed: a reader never sees
    /// half a number).
    pub fn set(&self, t: i64) {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, t.to_string()).expect("clock file");
        std::fs::rename(&tmp, &self.path).expect("clock file");
    }
}

/// SplitMix64: small, fast, and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` and a purpose (so streams do not overlap).
    pub fn new(seed: u64, stream: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One simulated rollout.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Seed of every random choice.
    pub seed: u64,
    /// Devices.
    pub fleet: usize,
    /// Share of devices not yet on the baseline when the new build ships
    /// (new installs, devices back from a long time offline): they take
    /// the baseline during the rollout, which gives the guard its numbers
    /// for the same window.
    pub stale_share: f64,
    /// Chance an update to the baseline fails.
    pub baseline_failure: f64,
    /// Chance an update to the new build fails.
    pub new_failure: f64,
    /// The plan's percentages.
    pub plan: Vec<u8>,
    /// Each step's length.
    pub step_seconds: u64,
    /// A device opens the app every this many seconds on average.
    pub open_every: f64,
    /// Simulated seconds per tick.
    pub tick: i64,
    /// Give up after this long.
    pub max_seconds: i64,
}

impl Scenario {
    /// The scenario: 25,000 devices opening the app every 2 hours
    /// on average, plan 1,5,25,100 with 2-hour steps, the baseline failing
    /// 0.5% of updates, the new build `new_failure`.
    pub fn standard(seed: u64, new_failure: f64) -> Self {
        Self {
            seed,
            fleet: 25_000,
            stale_share: 0.10,
            baseline_failure: 0.005,
            new_failure,
            plan: vec![1, 5, 25, 100],
            step_seconds: 7200,
            open_every: 7200.0,
            tick: 600,
            max_seconds: 36 * 3600,
        }
    }
}

impl Scenario {
    /// [`Scenario::standard`] with a fifth of the fleet (5,000 devices) and
    /// a fifth of the requests, for the Lambda stack on moto. The guard
    /// judges counts, not shares, so the counts are kept: the plan 5,25,100
    /// puts as many devices (250) in the first step as 1% of 25,000, and
    /// half the fleet not yet on the baseline gives the baseline as many
    /// updates (2,500). "Before 2% of 25,000" becomes "before 500 devices",
    /// which is 10% of this fleet.
    pub fn fifth(seed: u64, new_failure: f64) -> Self {
        Self {
            fleet: 5_000,
            stale_share: 0.5,
            plan: vec![5, 25, 100],
            ..Self::standard(seed, new_failure)
        }
    }
}

/// What happened in one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario.
    pub seed: u64,
    /// The new build's failure rate.
    pub new_failure: f64,
    /// Devices.
    pub fleet: usize,
    /// Devices that downloaded the new build.
    pub received: usize,
    /// The guard halted the plan (simulated seconds after the deploy).
    pub halted_at: Option<i64>,
    /// The plan walked every step.
    pub completed_at: Option<i64>,
    /// The first failed update of the new build.
    pub first_failure_at: Option<i64>,
    /// Percentage when the run ended.
    pub final_percent: u8,
    /// Why it halted.
    pub halt_reason: Option<String>,
    /// Requests sent.
    pub requests: u64,
}

impl Outcome {
    /// Share of the fleet that received the new build.
    pub fn received_share(&self) -> f64 {
        self.received as f64 / self.fleet as f64
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Device {
    current: Option<u64>,
    /// Tried the new build (a device that failed it does not retry).
    tried_new: bool,
    tried_base: bool,
    /// Its update to the new build fails (drawn once, from the seed).
    fails_new: bool,
    /// Its update to the baseline fails.
    fails_base: bool,
}

/// What the simulator talks to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Base URL.
    pub url: String,
    /// A token with upload and deploy rights on the app (and read).
    pub token: String,
    /// The app.
    pub app: String,
    /// The baseline build.
    pub baseline: u64,
    /// The new build.
    pub new: u64,
}

struct Run {
    s: Scenario,
    channel: String,
    devices: Vec<Device>,
    opens: Rng,
    out: Outcome,
    done: bool,
}

/// Runs the scenarios in lockstep on one server and clock. `t0`: the
/// simulated time the baseline is deployed at.
pub async fn run(
    target: &Target,
    clock: &Clock,
    t0: i64,
    scenarios: &[Scenario],
    concurrency: usize,
) -> Vec<Outcome> {
    let http = crate::build::http_builder()
        .pool_max_idle_per_host(concurrency * 2)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut t = t0;
    clock.set(t);
    let mut runs: Vec<Run> = Vec::new();
    for s in scenarios {
        let channel = format!(
            "sim-{}-{}",
            s.seed,
            (s.new_failure * 10_000.0).round() as u64
        );
        let mut fates = Rng::new(s.seed, 1);
        let devices = (0..s.fleet)
            .map(|_| Device {
                current: (fates.unit() >= s.stale_share).then_some(target.baseline),
                fails_new: fates.unit() < s.new_failure,
                fails_base: fates.unit() < s.baseline_failure,
                ..Device::default()
            })
            .collect();
        deploy(
            &http,
            target,
            &channel,
            json!({"build_id": target.baseline, "create_channel": true}),
        )
        .await;
        runs.push(Run {
            s: s.clone(),
            channel,
            devices,
            opens: Rng::new(s.seed, 2),
            out: Outcome {
                seed: s.seed,
                new_failure: s.new_failure,
                fleet: s.fleet,
                received: 0,
                halted_at: None,
                completed_at: None,
                first_failure_at: None,
                final_percent: 0,
                halt_reason: None,
                requests: 0,
            },
            done: false,
        });
    }
    // The new build ships ten minutes later.
    t += 600;
    clock.set(t);
    let deployed = t;
    for r in &runs {
        deploy(
            &http,
            target,
            &r.channel,
            json!({"build_id": target.new, "plan": r.s.plan, "step_seconds": r.s.step_seconds}),
        )
        .await;
    }
    let started = Instant::now();
    while runs.iter().any(|r| !r.done) {
        let tick = runs.iter().map(|r| r.s.tick).min().unwrap_or(600);
        t += tick;
        clock.set(t);
        // Who opens the app this tick, in every running scenario.
        let mut opens: Vec<(usize, usize)> = Vec::new();
        for (ri, r) in runs.iter_mut().enumerate().filter(|(_, r)| !r.done) {
            let p = r.s.tick as f64 / r.s.open_every;
            for di in 0..r.devices.len() {
                if r.opens.unit() < p {
                    opens.push((ri, di));
                }
            }
        }
        // The first device of each scenario asks alone: its lookup judges a
        // due plan, so every other lookup of the tick reads the same state
        // (and runs stay repeatable).
        let mut firsts = Vec::new();
        for &(ri, di) in &opens {
            if firsts.last().is_none_or(|&(r, _)| r != ri) {
                firsts.push((ri, di));
            }
        }
        let mut answers = Vec::new();
        for &(ri, di) in &firsts {
            answers.push((
                ri,
                di,
                lookup(&http, &lookup_url(target, &runs[ri], di)).await,
            ));
        }
        let rest: Vec<(usize, usize)> = opens
            .iter()
            .copied()
            .filter(|o| !firsts.contains(o))
            .collect();
        answers.extend({
            use futures::StreamExt;
            let reqs = rest.iter().map(|&(ri, di)| {
                let url = lookup_url(target, &runs[ri], di);
                let http = http.clone();
                async move { (ri, di, lookup(&http, &url).await) }
            });
            futures::stream::iter(reqs)
                .buffer_unordered(concurrency)
                .collect::<Vec<_>>()
                .await
        });
        // Act in device order, whatever order the answers came in.
        answers.sort_by_key(|&(ri, di, _)| (ri, di));
        // Devices act on what they were offered; the events go out together.
        let mut events: Vec<(usize, Value)> = Vec::new();
        for (ri, di, offered) in answers {
            let r = &mut runs[ri];
            r.out.requests += 1;
            let Some(build) = offered else { continue };
            let dev = &mut r.devices[di];
            let (fails, is_new) = if build == target.new {
                if dev.tried_new {
                    continue;
                }
                dev.tried_new = true;
                (dev.fails_new, true)
            } else if build == target.baseline {
                if dev.tried_base {
                    continue;
                }
                dev.tried_base = true;
                (dev.fails_base, false)
            } else {
                continue;
            };
            let device_id = format!("sim{}-{di}", r.s.seed);
            let ev = |kind: &str| json!({"device_id": device_id, "build_id": build, "event": kind, "channel": r.channel});
            events.push((ri, ev("download_complete")));
            if is_new {
                r.out.received += 1;
            }
            if fails {
                events.push((ri, ev("failed")));
                if is_new && r.out.first_failure_at.is_none() {
                    r.out.first_failure_at = Some(t - deployed);
                }
            } else {
                events.push((ri, ev("applied")));
                dev.current = Some(build);
            }
        }
        {
            use futures::StreamExt;
            let url = format!("{}/v1/apps/{}/events", target.url, target.app);
            let sent: Vec<usize> = futures::stream::iter(events.into_iter().map(|(ri, body)| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let r = http.post(&url).json(&body).send().await.expect("event");
                    assert_eq!(
                        r.status(),
                        202,
                        "event: {}",
                        r.text().await.unwrap_or_default()
                    );
                    ri
                }
            }))
            .buffer_unordered(concurrency)
            .collect()
            .await;
            for ri in sent {
                runs[ri].out.requests += 1;
            }
        }
        // Where each plan is now (the CI read judges a due plan too).
        let list: Value = get(&http, target, &format!("/v1/apps/{}/channels", target.app)).await;
        for r in runs.iter_mut().filter(|r| !r.done) {
            let ch = list["channels"]
                .as_array()
                .and_then(|a| a.iter().find(|c| c["name"] == r.channel.as_str()))
                .expect("channel listed");
            let cur = &ch["current"];
            r.out.final_percent = cur["rollout_percent"].as_u64().unwrap_or(0) as u8;
            if cur["build_id"] != target.new {
                // Rolled back (auto-rollback scenarios).
                r.out.halted_at.get_or_insert(t - deployed);
                r.done = true;
                continue;
            }
            match cur["plan"]["state"].as_str() {
                Some("halted") => {
                    r.out.halted_at = Some(t - deployed);
                    r.out.halt_reason = cur["plan"]["halt_reason"].as_str().map(str::to_owned);
                    r.done = true;
                }
                Some("completed") => {
                    r.out.completed_at = Some(t - deployed);
                    r.done = true;
                }
                _ if t - deployed >= r.s.max_seconds => r.done = true,
                _ => {}
            }
        }
        if std::env::var_os("LIVESHIP_FLEET_VERBOSE").is_some() {
            eprintln!(
                "t+{:>5} min: {} opens, {:.1}s so far, {} running",
                (t - deployed) / 60,
                opens.len(),
                started.elapsed().as_secs_f64(),
                runs.iter().filter(|r| !r.done).count()
            );
        }
    }
    runs.into_iter().map(|r| r.out).collect()
}

fn lookup_url(target: &Target, r: &Run, di: usize) -> String {
    format!(
        "{}/v1/apps/{}/channels/{}/latest?device_id=sim{}-{}{}",
        target.url,
        target.app,
        r.channel,
        r.s.seed,
        di,
        r.devices[di]
            .current
            .map(|b| format!("&current_build={b}"))
            .unwrap_or_default()
    )
}

async fn lookup(http: &reqwest::Client, url: &str) -> Option<u64> {
    let r = http.get(url).send().await.expect("lookup");
    assert_eq!(r.status(), 200, "lookup {url}");
    let v: Value = r.json().await.expect("lookup JSON");
    (v["status"] == "update_available")
        .then(|| v["build"]["id"].as_u64())
        .flatten()
}

async fn deploy(http: &reqwest::Client, target: &Target, channel: &str, body: Value) {
    let r = http
        .request(
            Method::PUT,
            format!("{}/v1/apps/{}/channels/{channel}", target.url, target.app),
        )
        .bearer_auth(&target.token)
        .json(&body)
        .send()
        .await
        .expect("deploy");
    let status = r.status();
    assert_eq!(
        status,
        200,
        "deploy: {}",
        r.text().await.unwrap_or_default()
    );
}

async fn get(http: &reqwest::Client, target: &Target, path: &str) -> Value {
    let r = http
        .get(format!("{}{path}", target.url))
        .bearer_auth(&target.token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("JSON")
}

/// Figures over many runs, for bench/README.md.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Runs.
    pub runs: usize,
    /// Halted.
    pub halted: usize,
    /// Halted before more than `limit` of the fleet received the build.
    pub halted_within: usize,
    /// Completed the plan.
    pub completed: usize,
    /// Largest share of the fleet that received the build.
    pub max_received_share: f64,
    /// Median and largest minutes from the first failure to the halt.
    pub minutes_to_halt: (f64, f64),
    /// Median and largest hours to complete.
    pub hours_to_complete: (f64, f64),
}

/// Summarises outcomes; `limit`: the share of the fleet a halt must come
/// before.
pub fn summarize(outcomes: &[Outcome], limit: f64) -> Summary {
    let med_max = |mut v: Vec<f64>| {
        if v.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() - 1])
    };
    Summary {
        runs: outcomes.len(),
        halted: outcomes.iter().filter(|o| o.halted_at.is_some()).count(),
        halted_within: outcomes
            .iter()
            .filter(|o| o.halted_at.is_some() && o.received_share() <= limit)
            .count(),
        completed: outcomes.iter().filter(|o| o.completed_at.is_some()).count(),
        max_received_share: outcomes
            .iter()
            .map(Outcome::received_share)
            .fold(0.0, f64::max),
        minutes_to_halt: med_max(
            outcomes
                .iter()
                .filter_map(|o| Some((o.halted_at? - o.first_failure_at?) as f64 / 60.0))
                .collect(),
        ),
        hours_to_complete: med_max(
            outcomes
                .iter()
                .filter_map(|o| Some(o.completed_at? as f64 / 3600.0))
                .collect(),
        ),
    }
}
