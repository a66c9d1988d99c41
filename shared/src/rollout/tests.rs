//! Unit tests of the guard and plans.

use super::*;
use crate::model::EventKind;
use std::collections::BTreeMap;

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
