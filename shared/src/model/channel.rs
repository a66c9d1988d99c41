//! Channels: what each serves, its history, rollout plan and guard settings.

use super::plan::{GuardSettings, PlanState, RolloutPlan};
use crate::domain::AppId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One build assignment of a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deployment {
    /// The build.
    pub build_id: u64,
    /// Percentage of devices that get it (1-100); with a plan, its step's.
    pub rollout_percent: u8,
    /// When.
    pub at: Timestamp,
    /// The rollout plan walking this deployment, if any (docs/rollouts.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RolloutPlan>,
}

impl Deployment {
    /// A plan halted it: devices that have the build keep it, no other
    /// device is given it.
    pub fn halted(&self) -> bool {
        self.plan
            .as_ref()
            .is_some_and(|p| p.state == PlanState::Halted)
    }
}

/// What happened to a channel, for its audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelLogEntry {
    /// `deploy` or `rollback`.
    pub action: String,
    /// The build the channel pointed at afterwards (`None`: nothing).
    pub build_id: Option<u64>,
    /// Rollout afterwards.
    pub rollout_percent: u8,
    /// When.
    pub at: Timestamp,
}

/// A channel: a pointer to a build, with history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Channel {
    /// The app.
    pub app_id: AppId,
    /// Channel name.
    pub name: String,
    /// What devices get now.
    pub current: Option<Deployment>,
    /// Earlier deployments, newest last. Devices outside the current rollout
    /// are served from here as the channel served them before it began;
    /// rollback returns to the newest one of another build.
    pub previous: Vec<Deployment>,
    /// Every deploy and rollback, oldest first.
    pub log: Vec<ChannelLogEntry>,
    /// Devices may switch themselves to this channel (capgo `channel_self`).
    pub allow_self_assign: bool,
    /// Incremented by every write; writes compare and set on it.
    pub revision: u64,
    /// The rollout guard's thresholds for this channel.
    #[serde(default)]
    pub guard: GuardSettings,
}

impl Channel {
    /// A new, empty channel.
    pub fn new(app_id: AppId, name: impl Into<String>) -> Self {
        Self {
            app_id,
            name: name.into(),
            current: None,
            previous: Vec::new(),
            log: Vec::new(),
            allow_self_assign: false,
            revision: 0,
            guard: GuardSettings::default(),
        }
    }

    /// Points the channel at `build_id` at one percentage, with no plan.
    pub fn deploy(&mut self, build_id: u64, rollout_percent: u8, at: Timestamp) {
        self.deploy_planned(build_id, rollout_percent, None, at);
    }

    /// Points the channel at `build_id` under a rollout plan: `steps`,
    /// `step_seconds`, `auto_rollback`. Deploying the build the channel is
    /// already rolling out changes only its plan (which keeps its health
    /// window and starts at the current percentage) or percentage: the
    /// baseline (what devices outside the rollout keep getting) stays, so
    /// widening never hands the build to devices outside the new percentage.
    pub fn deploy_plan(
        &mut self,
        build_id: u64,
        steps: Vec<u8>,
        step_seconds: u64,
        auto_rollback: bool,
        at: Timestamp,
    ) {
        let plan = match self.current.as_ref() {
            Some(cur) if cur.build_id == build_id => match &cur.plan {
                Some(old) => {
                    let mut p = RolloutPlan::edited(old, steps, step_seconds, auto_rollback, at);
                    if !old.active() {
                        p.window_start = at;
                        p.reading = None;
                    }
                    p
                }
                None => {
                    let base = self.baseline().map(|d| d.build_id);
                    RolloutPlan::new(steps, step_seconds, auto_rollback, base, at)
                }
            },
            cur => RolloutPlan::new(
                steps,
                step_seconds,
                auto_rollback,
                cur.map(|d| d.build_id),
                at,
            ),
        };
        self.deploy_planned(build_id, plan.percent(), Some(plan), at);
    }

    fn deploy_planned(
        &mut self,
        build_id: u64,
        rollout_percent: u8,
        plan: Option<RolloutPlan>,
        at: Timestamp,
    ) {
        let action = match self.current.as_mut() {
            Some(cur) if cur.build_id == build_id => {
                cur.rollout_percent = rollout_percent;
                cur.plan = plan;
                "rollout"
            }
            _ => {
                if let Some(cur) = self.current.take() {
                    self.previous.push(cur);
                }
                self.current = Some(Deployment {
                    build_id,
                    rollout_percent,
                    at,
                    plan,
                });
                "deploy"
            }
        };
        self.log.push(ChannelLogEntry {
            action: action.into(),
            build_id: Some(build_id),
            rollout_percent,
            at,
        });
    }

    /// Records a change the rollout plan made on its own (or by hand) in
    /// the channel's history, with the percentage it left.
    pub fn log_plan(&mut self, action: &str, at: Timestamp) {
        if let Some(cur) = &self.current {
            self.log.push(ChannelLogEntry {
                action: action.into(),
                build_id: Some(cur.build_id),
                rollout_percent: cur.rollout_percent,
                at,
            });
        }
    }

    /// The deployment devices outside the current rollout fall back to: the
    /// newest earlier one of another build (channels written before widening
    /// kept its baseline may hold the current build in `previous` too).
    pub fn baseline(&self) -> Option<&Deployment> {
        let cur = self.current.as_ref()?;
        self.previous
            .iter()
            .rev()
            .find(|d| d.build_id != cur.build_id)
    }

    /// Returns the channel to where it was before the current build's rollout
    /// began (its baseline, with that deployment's own rollout); false when
    /// there is none.
    pub fn rollback(&mut self, at: Timestamp) -> bool {
        let Some(cur) = self.current.as_ref().map(|d| d.build_id) else {
            return false;
        };
        let Some(pos) = self.previous.iter().rposition(|d| d.build_id != cur) else {
            return false;
        };
        self.previous.truncate(pos + 1);
        let prev = self.previous.pop().expect("pos is in range");
        self.log.push(ChannelLogEntry {
            action: "rollback".into(),
            build_id: Some(prev.build_id),
            rollout_percent: prev.rollout_percent,
            at,
        });
        self.current = Some(prev);
        true
    }

    /// The deployments a device may be served from, newest first, each build
    /// once (its newest deployment): a device outside a build's newest
    /// rollout must not get that build from an older entry.
    pub fn stack(&self) -> impl Iterator<Item = &Deployment> {
        let mut seen: Vec<u64> = Vec::new();
        self.current
            .iter()
            .chain(self.previous.iter().rev())
            .filter(move |d| {
                if seen.contains(&d.build_id) {
                    false
                } else {
                    seen.push(d.build_id);
                    true
                }
            })
    }
}
