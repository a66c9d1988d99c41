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

use crate::model::Timestamp;
pub use crate::model::{Reading, RolloutPlan, Tally, Verdict};
use serde::{Deserialize, Serialize};

// The plan and guard records, re-exported where the decisions over them are.
pub use crate::model::{
    check_plan, parse_duration, parse_steps, GuardError, GuardSettings, PlanError, PlanState,
    BASELINE_HISTORY_SECONDS, CHECK_SECONDS, DEFAULT_STEP_SECONDS, MAX_STEPS, MAX_STEP_SECONDS,
    MIN_STEP_SECONDS,
};

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

/// The guard's decisions over a plan.
pub trait PlanDecisions {
    /// Applies a reading at `now`: halts (or rolls back) when the verdict
    /// says so, advances a step when its time is up and the verdict allows
    /// it, completes after the last step. Returns what it decided, if anything.
    fn apply(&mut self, reading: Reading, now: Timestamp) -> Option<AutoDecision>;
}

impl PlanDecisions for RolloutPlan {
    fn apply(&mut self, reading: Reading, now: Timestamp) -> Option<AutoDecision> {
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
mod tests;
