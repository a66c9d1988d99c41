//! Rollout plans and guard settings: the records a channel keeps about a
//! guarded rollout (the decisions over them are in [`crate::rollout`]).

use super::event::EventKind;
use crate::time::Timestamp;
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

    pub(crate) fn failures_capped(&self) -> u64 {
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
