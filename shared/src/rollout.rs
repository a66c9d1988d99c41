//! Guarded rollouts: a plan of percentages a channel walks one step at a
//! time while the guard finds the new build healthy, and the guard's
//! statistics. Pure: the caller reads the counts and the clock, and stores
//! what comes out with compare-and-set, so the same decision is reached
//! whichever process (or Lambda function) looks first.
//!
//! The guard (docs/rollouts.md) compares the new build's failure rate with
//! the build it replaces on the same channel by Wald's sequential
//! probability ratio test: it may look after every event without the false
//! alarms that repeated fixed-sample tests pile up.

use crate::model::{EventKind, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most steps a plan may have.
pub const MAX_STEPS: usize = 20;
/// Shortest step.
pub const MIN_STEP_SECONDS: u64 = 60;
/// Longest step (30 days).
pub const MAX_STEP_SECONDS: u64 = 30 * 24 * 3600;
/// Step of a plan given without one (and of a plain `--rollout N`).
pub const DEFAULT_STEP_SECONDS: u64 = 3600;
/// How often an active plan is judged between step boundaries.
pub const CHECK_SECONDS: Timestamp = 60;
/// How far back the baseline's own history is read when the window it
/// shares with the new build holds too few of its updates.
pub const BASELINE_HISTORY_SECONDS: Timestamp = 7 * 24 * 3600;

/// Where a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    /// Walking its steps.
    Running,
    /// Stopped by hand at its step; the guard still watches.
    Paused,
    /// Stopped by the guard (or `abort`): no new device gets the build.
    Halted,
    /// Walked every step.
    Completed,
}

/// A rollout plan, kept on the channel's current deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RolloutPlan {
    /// Percentages, increasing, each 1-100.
    pub steps: Vec<u8>,
    /// How long each step lasts at least.
    pub step_seconds: u64,
    /// Index of the current step in `steps`.
    pub step: usize,
    /// When the current step began (moved on by a pause).
    pub step_started: Timestamp,
    /// Where the plan is.
    pub state: PlanState,
    /// When it entered that state.
    pub since: Timestamp,
    /// Roll the channel back when the guard halts the plan.
    pub auto_rollback: bool,
    /// Health is counted from here (the deploy, or a resume after a halt).
    pub window_start: Timestamp,
    /// The build this one replaces (what the guard compares with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_build: Option<u64>,
    /// When the guard last judged it.
    pub checked_at: Timestamp,
    /// The numbers behind that judgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<Reading>,
    /// Why the plan halted, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt_reason: Option<String>,
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The steps are empty, too many, out of 1-100 or not increasing.
    #[error(
        "a plan is 1-{MAX_STEPS} increasing percentages from 1 to 100, such as 1,5,25,100: {0}"
    )]
    Steps(String),
    /// The step duration is out of range.
    #[error("a step lasts from 1 minute to 30 days, such as 30m, 2h or 1d: {0}")]
    Step(String),
}

/// Checks a plan's steps and step length: the one rule the API, the CLI and
/// the console share.
pub fn check_plan(steps: &[u8], step_seconds: u64) -> Result<(), PlanError> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(PlanError::Steps(format!("{} steps", steps.len())));
    }
    if steps.iter().any(|p| !(1..=100).contains(p)) {
        return Err(PlanError::Steps(format!(
            "{steps:?} has a step outside 1-100"
        )));
    }
    if steps.windows(2).any(|w| w[0] >= w[1]) {
        return Err(PlanError::Steps(format!("{steps:?} does not increase")));
    }
    if !(MIN_STEP_SECONDS..=MAX_STEP_SECONDS).contains(&step_seconds) {
        return Err(PlanError::Step(format!("{step_seconds} seconds")));
    }
    Ok(())
}

/// Parses a duration such as `90s`, `30m`, `2h` or `1d` (a bare number is
/// seconds).
pub fn parse_duration(s: &str) -> Result<u64, PlanError> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| PlanError::Step(format!("{s:?} is not a duration")))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(PlanError::Step(format!("{s:?} has an unknown unit"))),
    };
    let secs = n.saturating_mul(mult);
    check_plan(&[100], secs)?;
    Ok(secs)
}

/// Parses `1,5,25,100` (a `%` after each number is allowed).
pub fn parse_steps(s: &str) -> Result<Vec<u8>, PlanError> {
    let steps = s
        .split(',')
        .map(|p| p.trim().trim_end_matches('%').parse::<u8>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| PlanError::Steps(format!("{s:?} is not a list of percentages")))?;
    check_plan(&steps, DEFAULT_STEP_SECONDS)?;
    Ok(steps)
}

/// The guard's thresholds, per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct GuardSettings {
    /// Judge at all (false: plans advance on time alone).
    pub enabled: bool,
    /// Updates of the new build (applied or failed) before it is judged.
    pub min_devices: u64,
    /// Halt whatever the baseline when the new build's failure rate is
    /// surely above this (0-1; the lower end of its 99% interval is).
    pub max_failure_rate: f64,
    /// The failure rate the test treats as bad: this many times the
    /// baseline's...
    pub relative_increase: f64,
    /// ...and at least this much above it (0-1).
    pub min_increase: f64,
    /// The chance a build as good as its baseline is halted (0-1).
    pub false_halt: f64,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            min_devices: 200,
            max_failure_rate: 0.10,
            relative_increase: 4.0,
            min_increase: 0.005,
            false_halt: 0.005,
        }
    }
}

/// Why guard settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guard settings: {0}")]
pub struct GuardError(pub String);

impl GuardSettings {
    /// Checks the ranges.
    pub fn check(&self) -> Result<(), GuardError> {
        let unit = |v: f64, what: &str, lo_open: bool| {
            let ok = v.is_finite() && v < 1.0 && if lo_open { v > 0.0 } else { v >= 0.0 };
            if ok {
                Ok(())
            } else {
                Err(GuardError(format!(
                    "{what} must be a fraction below 1, not {v}"
                )))
            }
        };
        unit(self.max_failure_rate, "max_failure_rate", true)?;
        unit(self.min_increase, "min_increase", false)?;
        unit(self.false_halt, "false_halt", true)?;
        if !(self.relative_increase > 1.0 && self.relative_increase <= 1000.0) {
            return Err(GuardError(format!(
                "relative_increase must be above 1 and at most 1000, not {}",
                self.relative_increase
            )));
        }
        if !(1..=1_000_000).contains(&self.min_devices) {
            return Err(GuardError(format!(
                "min_devices must be 1-1000000, not {}",
                self.min_devices
            )));
        }
        Ok(())
    }
}

/// Updates of one build over a window: each finished update is either
/// `applied` or `failed`; a failure is `failed` or a device-side
/// `rolled_back` (the bundle never called `notifyAppReady`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tally {
    /// Updates that finished.
    pub attempts: u64,
    /// Of which failed.
    pub failures: u64,
}

impl Tally {
    /// Adds one bucket's event counts.
    pub fn add(&mut self, events: &BTreeMap<EventKind, u64>) {
        let n = |k| events.get(&k).copied().unwrap_or(0);
        self.attempts += n(EventKind::Applied) + n(EventKind::Failed);
        self.failures += n(EventKind::Failed) + n(EventKind::RolledBack);
    }

    /// Failures per update (rolled-back applies can make it exceed 1 only
    /// in inconsistent data; it is capped).
    pub fn rate(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            (self.failures as f64 / self.attempts as f64).min(1.0)
        }
    }

    fn failures_capped(&self) -> u64 {
        self.failures.min(self.attempts)
    }
}

/// What the guard found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fewer updates than `min_devices`: not judged yet.
    Gathering,
    /// No evidence it is worse than its baseline.
    Healthy,
    /// Its failure rate is worse than the baseline's by the test.
    WorseThanBaseline,
    /// Its failure rate is surely above the ceiling.
    AboveCeiling,
    /// The guard is off for this channel.
    Unguarded,
}

impl Verdict {
    /// True when the plan must halt.
    pub fn halts(self) -> bool {
        matches!(self, Verdict::WorseThanBaseline | Verdict::AboveCeiling)
    }
    /// True when the plan may take its next step.
    pub fn allows_step(self) -> bool {
        matches!(self, Verdict::Healthy | Verdict::Unguarded)
    }
}

/// The numbers behind one judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reading {
    /// When.
    pub at: Timestamp,
    /// The new build over the window.
    pub new: Tally,
    /// The baseline over the same window (or its own history; see
    /// `baseline_history`), if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Tally>,
    /// The baseline's numbers come from its own earlier week, because the
    /// shared window held fewer than `min_devices` of its updates.
    #[serde(default)]
    pub baseline_history: bool,
    /// The baseline rate the test assumes (the upper end of its 95%
    /// interval, never below 0.1%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumed_baseline_rate: Option<f64>,
    /// The rate the test treats as bad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_rate: Option<f64>,
    /// Log-likelihood ratio of "bad" against "as good as the baseline".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_likelihood_ratio: Option<f64>,
    /// The ratio at which it halts: ln(1 / false_halt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt_at: Option<f64>,
    /// Lower end of the new rate's 99% interval (Wilson).
    pub new_rate_low: f64,
    /// What it found.
    pub verdict: Verdict,
}

/// Wilson score interval of `x` successes in `n` trials at `z` standard
/// errors; sound for small samples and rates near 0, unlike the normal one.
pub fn wilson(x: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (x, n) = (x.min(n) as f64, n as f64);
    let p = x / n;
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    ((c - h).max(0.0), (c + h).min(1.0))
}

/// z of a one-sided 99% bound.
const Z99: f64 = 2.326;
/// z of the baseline's assumed rate: the upper end of its 95% interval.
/// The baseline is a sample too, and a lucky one makes a build exactly as
/// good look worse: with one standard error (z = 1), and with 1.645, the
/// fleet benchmark's seed 1092 (a baseline failing 2 of 2,369 updates
/// where 12 were expected) falsely halted a good build (bench/README.md).
const BASELINE_Z: f64 = 1.96;
/// The floor of the assumed baseline rate: below it a handful of failures
/// would look like a large relative increase.
const BASELINE_FLOOR: f64 = 0.001;

/// Judges a build on its numbers and, when it has one, its baseline's.
pub fn judge(
    g: &GuardSettings,
    new: Tally,
    baseline: Option<(Tally, bool)>,
    at: Timestamp,
) -> Reading {
    let new_rate_low = wilson(new.failures_capped(), new.attempts, Z99).0;
    let mut r = Reading {
        at,
        new,
        baseline: baseline.map(|b| b.0),
        baseline_history: baseline.is_some_and(|b| b.1),
        assumed_baseline_rate: None,
        bad_rate: None,
        log_likelihood_ratio: None,
        halt_at: None,
        new_rate_low,
        verdict: Verdict::Gathering,
    };
    if !g.enabled {
        r.verdict = Verdict::Unguarded;
        return r;
    }
    if new.attempts < g.min_devices {
        return r;
    }
    if new_rate_low > g.max_failure_rate {
        r.verdict = Verdict::AboveCeiling;
        return r;
    }
    r.verdict = Verdict::Healthy;
    // A baseline with fewer updates than the new build needs says too
    // little; the ceiling alone then guards (a first release).
    let Some((base, _)) = baseline.filter(|b| b.0.attempts >= g.min_devices) else {
        return r;
    };
    let p0 = wilson(base.failures_capped(), base.attempts, BASELINE_Z)
        .1
        .max(BASELINE_FLOOR);
    let p1 = (p0 * g.relative_increase)
        .max(p0 + g.min_increase)
        .min(0.999);
    if p1 <= p0 {
        return r;
    }
    let x = new.failures_capped() as f64;
    let ok = (new.attempts - new.failures_capped()) as f64;
    let llr = x * (p1 / p0).ln() + ok * ((1.0 - p1) / (1.0 - p0)).ln();
    let halt_at = (1.0 / g.false_halt).ln();
    r.assumed_baseline_rate = Some(p0);
    r.bad_rate = Some(p1);
    r.log_likelihood_ratio = Some(llr);
    r.halt_at = Some(halt_at);
    if llr >= halt_at {
        r.verdict = Verdict::WorseThanBaseline;
    }
    r
}

/// What a plan did on its own, for the audit log and the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoDecision {
    /// Took its next step.
    Advanced,
    /// Walked its last step.
    Completed,
    /// The guard halted it.
    Halted,
    /// The guard halted it and the channel was rolled back.
    RolledBack,
}

impl AutoDecision {
    /// The audit action name.
    pub fn action(self) -> &'static str {
        match self {
            AutoDecision::Advanced => "guard.advance",
            AutoDecision::Completed => "guard.complete",
            AutoDecision::Halted => "guard.halt",
            AutoDecision::RolledBack => "guard.rollback",
        }
    }
}

impl RolloutPlan {
    /// A plan starting now at its first step.
    pub fn new(
        steps: Vec<u8>,
        step_seconds: u64,
        auto_rollback: bool,
        baseline_build: Option<u64>,
        now: Timestamp,
    ) -> Self {
        Self {
            steps,
            step_seconds,
            step: 0,
            step_started: now,
            state: PlanState::Running,
            since: now,
            auto_rollback,
            window_start: now,
            baseline_build,
            checked_at: now,
            reading: None,
            halt_reason: None,
        }
    }

    /// A new plan for a build already rolling out under `old`: it keeps the
    /// health window and baseline, and starts at its first step not below
    /// the percentage devices get now, so an edit never narrows by surprise.
    pub fn edited(
        old: &RolloutPlan,
        steps: Vec<u8>,
        step_seconds: u64,
        auto_rollback: bool,
        now: Timestamp,
    ) -> Self {
        let current = old.percent();
        let step = steps
            .iter()
            .position(|p| *p >= current)
            .unwrap_or(steps.len() - 1);
        Self {
            step,
            window_start: old.window_start,
            reading: old.reading.clone(),
            ..Self::new(steps, step_seconds, auto_rollback, old.baseline_build, now)
        }
    }

    /// The percentage devices get now.
    pub fn percent(&self) -> u8 {
        self.steps[self.step.min(self.steps.len() - 1)]
    }

    /// Running or paused: the guard still watches.
    pub fn active(&self) -> bool {
        matches!(self.state, PlanState::Running | PlanState::Paused)
    }

    /// When the current step may end (running plans).
    pub fn step_ends(&self) -> Timestamp {
        self.step_started
            .saturating_add(self.step_seconds as Timestamp)
    }

    /// True when the plan should be judged now: a check is due, or a step
    /// boundary has passed. A clock behind the stored times (another
    /// server's skew) makes nothing due rather than something early.
    pub fn due(&self, now: Timestamp) -> bool {
        self.active() && now >= self.next_due()
    }

    /// When the plan next falls due: its next check, or the end of the
    /// current step if a running plan reaches that first.
    pub fn next_due(&self) -> Timestamp {
        let check = self.checked_at.saturating_add(CHECK_SECONDS);
        if self.state == PlanState::Running {
            check.min(self.step_ends())
        } else {
            check
        }
    }

    /// Applies a fresh reading: halts on a bad verdict, takes the next step
    /// when the current one has lasted its time and the verdict allows it,
    /// completes after the last step. Returns what it decided, if anything.
    pub fn apply(&mut self, reading: Reading, now: Timestamp) -> Option<AutoDecision> {
        if !self.active() {
            return None;
        }
        // Never move stored times backwards on a skewed clock.
        let now = now.max(self.checked_at);
        self.checked_at = now;
        let verdict = reading.verdict;
        let decision = if verdict.halts() {
            self.halt_reason = Some(describe(&reading));
            self.state = PlanState::Halted;
            self.since = now;
            Some(if self.auto_rollback {
                AutoDecision::RolledBack
            } else {
                AutoDecision::Halted
            })
        } else if self.state == PlanState::Running
            && now >= self.step_ends()
            && verdict.allows_step()
        {
            if self.step + 1 >= self.steps.len() {
                self.state = PlanState::Completed;
                self.since = now;
                Some(AutoDecision::Completed)
            } else {
                self.step += 1;
                self.step_started = now;
                Some(AutoDecision::Advanced)
            }
        } else {
            None
        };
        self.reading = Some(reading);
        decision
    }

    /// The state in a few words, such as "paused since (a time)", with
    /// times written by `when` (the CLI and the console write them their
    /// own way).
    pub fn state_phrase(&self, when: impl Fn(Timestamp) -> String) -> String {
        match self.state {
            PlanState::Running if self.step + 1 < self.steps.len() => {
                format!("running; next step not before {}", when(self.step_ends()))
            }
            PlanState::Running => format!("running; watched until {}", when(self.step_ends())),
            PlanState::Paused => format!("paused since {}", when(self.since)),
            PlanState::Halted => format!("halted {}", when(self.since)),
            PlanState::Completed => format!("completed {}", when(self.since)),
        }
    }

    /// Stops the step clock (the guard still watches).
    pub fn pause(&mut self, now: Timestamp) -> Result<(), String> {
        match self.state {
            PlanState::Running => {
                self.state = PlanState::Paused;
                self.since = now.max(self.step_started);
                Ok(())
            }
            s => Err(format!("the plan is {s:?}, not running").to_lowercase()),
        }
    }

    /// Restarts a paused plan (the time paused does not count towards the
    /// step) or a halted one (the guard judges it afresh on what happens
    /// from now: the evidence that halted it no longer counts).
    pub fn resume(&mut self, now: Timestamp) -> Result<(), String> {
        match self.state {
            PlanState::Paused => {
                let paused = (now - self.since).max(0);
                self.step_started = self.step_started.saturating_add(paused);
            }
            PlanState::Halted => {
                self.window_start = now;
                self.step_started = now;
                self.halt_reason = None;
                self.reading = None;
            }
            s => return Err(format!("the plan is {s:?}, not paused or halted").to_lowercase()),
        }
        self.state = PlanState::Running;
        self.since = now;
        self.checked_at = now;
        Ok(())
    }

    /// Takes the next step now, by hand (a paused plan stays paused).
    pub fn advance(&mut self, now: Timestamp) -> Result<(), String> {
        if !self.active() {
            return Err(format!("the plan is {:?}; resume it first", self.state).to_lowercase());
        }
        if self.step + 1 >= self.steps.len() {
            self.state = PlanState::Completed;
        } else {
            self.step += 1;
        }
        self.step_started = now;
        self.since = now;
        Ok(())
    }

    /// Stops the plan for good at its step: no new device gets the build.
    pub fn halt_by_hand(&mut self, now: Timestamp) {
        self.state = PlanState::Halted;
        self.since = now;
        self.halt_reason = Some("aborted by hand".into());
    }
}

/// A reading in one sentence, for the audit log, the console and the webhook.
pub fn describe(r: &Reading) -> String {
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let new = format!(
        "{} of {} updates failed ({})",
        r.new.failures,
        r.new.attempts,
        pct(r.new.rate())
    );
    let base = match (&r.baseline, r.baseline_history) {
        (Some(b), h) => format!(
            "; the baseline: {} of {} ({}{})",
            b.failures,
            b.attempts,
            pct(b.rate()),
            if h {
                ", its own last week"
            } else {
                ", same window"
            }
        ),
        (None, _) => "; no baseline".into(),
    };
    let why = match r.verdict {
        Verdict::Gathering => "not judged yet: too few updates".to_owned(),
        Verdict::Healthy => "healthy".to_owned(),
        Verdict::Unguarded => "guard off".to_owned(),
        Verdict::AboveCeiling => format!(
            "above the ceiling: its failure rate is at least {} (99% sure)",
            pct(r.new_rate_low)
        ),
        Verdict::WorseThanBaseline => format!(
            "worse than its baseline: likelihood ratio {:.1} reached the halt level {:.1}",
            r.log_likelihood_ratio.unwrap_or_default(),
            r.halt_at.unwrap_or_default()
        ),
    };
    format!("{new}{base}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(attempts: u64, failures: u64) -> Tally {
        Tally { attempts, failures }
    }

    fn plan() -> RolloutPlan {
        RolloutPlan::new(vec![1, 5, 25, 100], 7200, false, Some(1), 1000)
    }

    fn healthy(at: Timestamp) -> Reading {
        judge(
            &GuardSettings::default(),
            t(500, 2),
            Some((t(5000, 25), false)),
            at,
        )
    }

    #[test]
    fn plans_and_durations_are_checked_by_one_rule() {
        assert_eq!(parse_steps("1,5,25,100").unwrap(), vec![1, 5, 25, 100]);
        assert_eq!(parse_steps("10%, 100%").unwrap(), vec![10, 100]);
        for bad in ["", "0,5", "5,5", "50,10", "1,101", "a,b", "1,,2"] {
            assert!(parse_steps(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("1d").unwrap(), 86400);
        for bad in ["59s", "31d", "2x", "h", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wilson_bounds_hold_at_the_edges() {
        assert_eq!(wilson(0, 0, 1.96), (0.0, 1.0));
        let (lo, hi) = wilson(0, 100, 1.96);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.03 && hi < 0.04, "{hi}");
        let (lo, hi) = wilson(10, 10, 1.96);
        assert!(lo > 0.7 && hi == 1.0, "{lo} {hi}");
        let (lo, hi) = wilson(50, 1000, Z99);
        assert!(lo < 0.05 && hi > 0.05 && lo > 0.03, "{lo} {hi}");
    }

    #[test]
    fn tiny_samples_are_not_judged() {
        let g = GuardSettings::default();
        // Every one of 20 updates failed: still below min_devices.
        let r = judge(&g, t(20, 20), Some((t(5000, 25), false)), 0);
        assert_eq!(r.verdict, Verdict::Gathering);
        assert!(!r.verdict.allows_step() && !r.verdict.halts());
        let r = judge(&g, t(0, 0), None, 0);
        assert_eq!(r.verdict, Verdict::Gathering);
    }

    #[test]
    fn a_bad_build_is_worse_than_its_baseline_and_a_good_one_is_not() {
        let g = GuardSettings::default();
        let base = Some((t(5000, 25), false));
        let bad = judge(&g, t(200, 10), base, 0);
        assert_eq!(
            bad.verdict,
            Verdict::WorseThanBaseline,
            "{}",
            describe(&bad)
        );
        let good = judge(&g, t(200, 1), base, 0);
        assert_eq!(good.verdict, Verdict::Healthy, "{}", describe(&good));
        // Twice the baseline's failures on a small sample is noise.
        let noisy = judge(&g, t(200, 2), base, 0);
        assert_eq!(noisy.verdict, Verdict::Healthy);
        assert!(noisy.log_likelihood_ratio.unwrap() < noisy.halt_at.unwrap());
    }

    #[test]
    fn a_lucky_baseline_does_not_halt_a_build_as_good_as_it() {
        // Seed 1092 of the fleet benchmark: both builds failing 0.5%, the
        // baseline by chance 2 of 2,369. Less cover than the upper end of
        // the baseline's 95% interval halted it near the end of the plan.
        let g = GuardSettings::default();
        let r = judge(&g, t(15506, 90), Some((t(2369, 2), false)), 0);
        assert_eq!(r.verdict, Verdict::Healthy, "{}", describe(&r));
        // And a 5% build against that same baseline still halts at once.
        let bad = judge(&g, t(201, 17), Some((t(2002, 8), false)), 0);
        assert_eq!(
            bad.verdict,
            Verdict::WorseThanBaseline,
            "{}",
            describe(&bad)
        );
    }

    #[test]
    fn a_baseline_with_no_failures_does_not_make_every_failure_fatal() {
        let g = GuardSettings::default();
        let r = judge(&g, t(300, 2), Some((t(400, 0), false)), 0);
        assert_eq!(r.verdict, Verdict::Healthy, "{}", describe(&r));
        assert!(r.assumed_baseline_rate.unwrap() >= BASELINE_FLOOR);
    }

    #[test]
    fn the_first_release_on_a_channel_is_held_to_the_ceiling_only() {
        let g = GuardSettings::default();
        // No baseline at all, or one with too little data.
        for base in [None, Some((t(50, 0), false))] {
            let ok = judge(&g, t(300, 15), base, 0);
            assert_eq!(ok.verdict, Verdict::Healthy, "{}", describe(&ok));
            assert!(ok.log_likelihood_ratio.is_none());
            let bad = judge(&g, t(300, 60), base, 0);
            assert_eq!(bad.verdict, Verdict::AboveCeiling, "{}", describe(&bad));
        }
    }

    #[test]
    fn the_guard_can_be_switched_off() {
        let g = GuardSettings {
            enabled: false,
            ..GuardSettings::default()
        };
        let r = judge(&g, t(300, 300), None, 0);
        assert_eq!(r.verdict, Verdict::Unguarded);
        assert!(r.verdict.allows_step());
    }

    #[test]
    fn rolled_back_applies_count_as_failures() {
        let mut tally = Tally::default();
        tally.add(&BTreeMap::from([
            (EventKind::DownloadComplete, 10),
            (EventKind::Applied, 9),
            (EventKind::Failed, 1),
            (EventKind::RolledBack, 2),
        ]));
        assert_eq!(tally, t(10, 3));
    }

    #[test]
    fn a_plan_steps_on_only_after_its_time_and_while_healthy() {
        let mut p = plan();
        assert!(!p.due(1000 + CHECK_SECONDS - 1));
        assert!(p.due(1000 + CHECK_SECONDS));
        // Healthy but the step has not lasted its time.
        assert_eq!(p.apply(healthy(2000), 2000), None);
        assert_eq!(p.percent(), 1);
        // Time is up but too few updates: the step waits.
        let few = judge(&GuardSettings::default(), t(50, 0), None, 8200);
        assert_eq!(p.apply(few, 8200), None);
        assert_eq!(p.percent(), 1);
        assert_eq!(p.apply(healthy(8300), 8300), Some(AutoDecision::Advanced));
        assert_eq!((p.percent(), p.step_started), (5, 8300));
        for (i, want) in [(1, 25), (2, 100)] {
            let at = 8300 + 7200 * i;
            assert_eq!(p.apply(healthy(at), at), Some(AutoDecision::Advanced));
            assert_eq!(p.percent(), want);
        }
        let at = 8300 + 7200 * 3;
        assert_eq!(p.apply(healthy(at), at), Some(AutoDecision::Completed));
        assert_eq!(p.state, PlanState::Completed);
        assert!(!p.due(at + 100_000));
        assert_eq!(p.apply(healthy(at + 1), at + 1), None);
    }

    #[test]
    fn a_late_read_takes_one_step_not_several() {
        let mut p = plan();
        // Nobody looked for a day: one step, and the next one lasts its time.
        let at = 1000 + 86400;
        assert_eq!(p.apply(healthy(at), at), Some(AutoDecision::Advanced));
        assert_eq!(p.percent(), 5);
        assert_eq!(p.apply(healthy(at + 60), at + 60), None);
    }

    #[test]
    fn a_bad_reading_halts_and_with_auto_rollback_rolls_back() {
        let bad = judge(
            &GuardSettings::default(),
            t(200, 10),
            Some((t(5000, 25), false)),
            1500,
        );
        let mut p = plan();
        assert_eq!(p.apply(bad.clone(), 1500), Some(AutoDecision::Halted));
        assert_eq!(p.state, PlanState::Halted);
        assert!(p
            .halt_reason
            .as_deref()
            .unwrap()
            .contains("worse than its baseline"));
        assert!(!p.due(99_999));
        let mut p = plan();
        p.auto_rollback = true;
        assert_eq!(p.apply(bad, 1500), Some(AutoDecision::RolledBack));
    }

    #[test]
    fn a_pause_stops_the_step_clock_and_the_guard_still_watches() {
        let mut p = plan();
        p.pause(2000).unwrap();
        assert!(p.pause(2001).is_err());
        // Past the step's end while paused: no step.
        assert!(p.due(9000), "checks stay due while paused");
        assert_eq!(p.apply(healthy(9000), 9000), None);
        assert_eq!(p.percent(), 1);
        // A bad build is still halted while paused.
        let mut q = p.clone();
        let bad = judge(
            &GuardSettings::default(),
            t(300, 30),
            Some((t(5000, 25), false)),
            9100,
        );
        assert_eq!(q.apply(bad, 9100), Some(AutoDecision::Halted));
        // Resumed at 12000 after 10000 s paused: the step ends 10000 s later.
        p.resume(12000).unwrap();
        assert_eq!(p.step_ends(), 1000 + 7200 + 10000);
        assert_eq!(p.apply(healthy(18000), 18000), None);
        assert_eq!(p.apply(healthy(18200), 18200), Some(AutoDecision::Advanced));
    }

    #[test]
    fn resuming_a_halted_plan_judges_it_afresh() {
        let mut p = plan();
        p.halt_by_hand(2000);
        assert!(p.advance(2001).is_err());
        p.resume(3000).unwrap();
        assert_eq!(
            (p.state, p.window_start, p.step_started),
            (PlanState::Running, 3000, 3000)
        );
        assert!(p.resume(3001).is_err());
    }

    #[test]
    fn advancing_by_hand_moves_one_step_and_completes_at_the_end() {
        let mut p = plan();
        for want in [5, 25, 100] {
            p.advance(2000).unwrap();
            assert_eq!(p.percent(), want);
        }
        p.advance(2000).unwrap();
        assert_eq!(p.state, PlanState::Completed);
    }

    #[test]
    fn a_skewed_clock_never_moves_stored_times_back_or_steps_early() {
        let mut p = plan();
        p.checked_at = 5000;
        // A server whose clock says 4000 (behind) judges: nothing is due,
        // and applying anyway keeps checked_at.
        assert!(!p.due(4000));
        assert_eq!(p.apply(healthy(4000), 4000), None);
        assert_eq!(p.checked_at, 5000);
        assert_eq!(p.percent(), 1);
    }

    #[test]
    fn an_edited_plan_keeps_its_clock() {
        // A plan edited mid-way (redeploying the build with a new plan)
        // keeps the health window and starts at the current percentage.
        let mut p = plan();
        p.apply(healthy(8300), 8300);
        assert_eq!(p.percent(), 5);
        let mut edited = RolloutPlan::edited(&p, vec![2, 5, 50, 100], 3600, false, 9000);
        assert_eq!((edited.window_start, edited.step_started), (1000, 9000));
        assert_eq!(edited.percent(), 5, "starts where devices are, not at 2%");
        assert_eq!(
            edited.apply(healthy(12600), 12600),
            Some(AutoDecision::Advanced)
        );
        assert_eq!(edited.percent(), 50);
    }
}
