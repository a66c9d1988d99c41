//! Channel changes: every one a compare-and-set on the channel record, so
//! two writers (two deploys, a deploy and the guard) never lose an update.

use super::{OpError, Refusal};
use crate::domain::{AppId, ChannelName};
use crate::model::{now, Build, Channel, Deployment};
use crate::store::RecordWrite;
use crate::wire::{GuardPatch, PlanAction};

/// A channel after a change, with the deployment it replaced (for the
/// audit log).
pub type Changed = (Option<Deployment>, Channel);

/// Reads, changes and compare-and-sets a channel until it wins (bounded).
/// A channel that does not exist is created only with `create`; otherwise
/// the answer is `None`, decided on the same read the change applies to, so
/// a channel deleted meanwhile is never brought back. With the channel as
/// stored, the current deployment it replaced.
pub async fn update_channel(
    records: &dyn RecordWrite,
    app: &AppId,
    name: &str,
    create: bool,
    mut change: impl FnMut(&mut Channel) -> Result<(), OpError>,
) -> Result<Option<Changed>, OpError> {
    for attempt in 0..64u32 {
        let mut ch = match records.channel(app, name).await? {
            Some(ch) => ch,
            None if create => Channel::new(app.clone(), name),
            None => return Ok(None),
        };
        let was = ch.current.clone();
        change(&mut ch)?;
        if records.put_channel(&ch).await? {
            ch.revision += 1;
            return Ok(Some((was, ch)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(
            u64::from(attempt.min(10)) * 2,
        ))
        .await;
    }
    Err(OpError::conflict(
        "the channel is being changed by many writers at once; try again",
    ))
}

/// The one wording of "no such channel".
pub fn no_channel(app: &AppId, channel: &str) -> OpError {
    OpError::not_found(format!("app {app} has no channel {channel:?}"))
}

/// How a build is deployed.
#[derive(Debug, Clone)]
pub struct DeployPlan {
    /// The plan's percentages (a plain percentage is a plan of one step).
    pub steps: Vec<u8>,
    /// Length of each step.
    pub step_seconds: u64,
    /// Roll back, not just halt, when the guard finds the build unhealthy.
    pub auto_rollback: bool,
    /// Whether devices may choose this channel themselves (unchanged: `None`).
    pub allow_self_assign: Option<bool>,
    /// Create the channel when it does not exist.
    pub create: bool,
}

/// Deploys `build` to `channel` with `plan`. A disabled build is refused;
/// a channel that does not exist (and may not be created) is refused with
/// the app's channel names.
pub async fn deploy(
    records: &dyn RecordWrite,
    app: &AppId,
    channel: &ChannelName,
    build: &Build,
    plan: &DeployPlan,
) -> Result<Changed, OpError> {
    if build.disabled {
        return Err(OpError::unprocessable(
            "build_disabled",
            format!("build {} is disabled; enable it first", build.id),
        ));
    }
    let changed = update_channel(records, app, channel.as_str(), plan.create, |ch| {
        ch.deploy_plan(
            build.id,
            plan.steps.clone(),
            plan.step_seconds,
            plan.auto_rollback,
            now(),
        );
        if let Some(a) = plan.allow_self_assign {
            ch.allow_self_assign = a;
        }
        Ok(())
    })
    .await?;
    if let Some(changed) = changed {
        return Ok(changed);
    }
    let names: Vec<String> = records
        .channels(app)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    Err(OpError::refused(
        Refusal::NotFound,
        "channel_not_found",
        format!(
            "app {app} has no channel {:?} (channels: {}); check the name, or create it \
             (`--create-channel`, or `liveship channels create`)",
            channel.as_str(),
            if names.is_empty() {
                "none yet".to_owned()
            } else {
                names.join(", ")
            }
        ),
    )
    .with_details(serde_json::json!({ "channels": names })))
}

/// Rolls `channel` back to the build it served before.
pub async fn rollback(
    records: &dyn RecordWrite,
    app: &AppId,
    channel: &ChannelName,
) -> Result<Changed, OpError> {
    update_channel(records, app, channel.as_str(), false, |ch| {
        if ch.rollback(now()) {
            Ok(())
        } else {
            Err(OpError::conflict(format!(
                "channel {:?} has no earlier build to roll back to",
                ch.name
            )))
        }
    })
    .await?
    .ok_or_else(|| no_channel(app, channel.as_str()))
}

/// Pauses, resumes, advances or aborts the rollout plan of the build
/// `channel` serves. Aborting also rolls the devices that took it back.
pub async fn plan_action(
    records: &dyn RecordWrite,
    app: &AppId,
    channel: &ChannelName,
    action: PlanAction,
) -> Result<Changed, OpError> {
    update_channel(records, app, channel.as_str(), false, |ch| {
        let at = now();
        let cur = ch.current.as_mut().ok_or_else(|| {
            OpError::refused(
                Refusal::Conflict,
                "no_plan",
                format!("channel {:?} serves no build", ch.name),
            )
        })?;
        let plan = cur.plan.as_mut().ok_or_else(|| {
            OpError::refused(
                Refusal::Conflict,
                "no_plan",
                "the channel's build has no rollout plan; deploy it with a plan (`--plan 1,5,25,100`)",
            )
        })?;
        match action {
            PlanAction::Pause => plan.pause(at),
            PlanAction::Resume => plan.resume(at),
            PlanAction::Advance => plan.advance(at),
            PlanAction::Abort if plan.active() => {
                plan.halt_by_hand(at);
                Ok(())
            }
            PlanAction::Abort => {
                Err(format!("the plan is {:?}: nothing to abort", plan.state).to_lowercase())
            }
        }
        .map_err(|m| OpError::refused(Refusal::Conflict, "plan_state", m))?;
        cur.rollout_percent = plan.percent();
        ch.log_plan(action.action(), at);
        if action == PlanAction::Abort {
            // Devices that took the build go back; with nothing to go back
            // to the halt alone stands (no new device gets the build).
            ch.rollback(at);
        }
        Ok(())
    })
    .await?
    .ok_or_else(|| no_channel(app, channel.as_str()))
}

/// Changes the guard settings of `channel`; with the settings before.
pub async fn set_guard(
    records: &dyn RecordWrite,
    app: &AppId,
    channel: &ChannelName,
    patch: &GuardPatch,
) -> Result<(Option<serde_json::Value>, Channel), OpError> {
    let mut before = None;
    let (_, ch) = update_channel(records, app, channel.as_str(), false, |ch| {
        before = super::audit::snapshot(&ch.guard);
        patch.apply(&mut ch.guard);
        ch.guard
            .check()
            .map_err(|e| OpError::unprocessable("invalid_guard", e.to_string()))
    })
    .await?
    .ok_or_else(|| no_channel(app, channel.as_str()))?;
    Ok((before, ch))
}
