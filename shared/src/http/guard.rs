//! The rollout guard at work: judges channels whose plan is due, stores the
//! outcome with compare-and-set, and records every automatic decision in
//! the audit log and on the webhook.
//!
//! Nothing here needs a process awake at a step boundary: lookups, CI
//! reads and writes, the console, `liveship serve`'s ticker and the
//! optional scheduled trigger on AWS all call [`Guard::refresh`], and
//! whichever comes first after a check falls due decides. Two deciding at
//! once race on the channel's revision; the loser reads the winner's result.

use super::cache::Invalidator;
use super::error::ApiError;
use crate::domain::AppId;
use crate::model::now;
use crate::model::AuditEntry;
use crate::model::Channel;
use crate::model::Grain;
use crate::model::Timestamp;
use crate::model::TokenRef;
use crate::ops;
use crate::rollout;
use crate::rollout::AutoDecision;
use crate::rollout::PlanDecisions;
use crate::rollout::Reading;
use crate::rollout::RolloutPlan;
use crate::rollout::Tally;
use crate::store::RecordWrite;
use sha2::Digest;
use sha2::Sha256;
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Where automatic decisions are posted.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    secret: Option<Arc<zeroize::Zeroizing<String>>>,
    client: crate::https::Https,
}

impl std::fmt::Debug for Webhook {
    // The URL of a Slack incoming webhook is itself a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").finish_non_exhaustive()
    }
}

/// Header with the Unix time the webhook body was signed at.
pub const TIMESTAMP_HEADER: &str = "x-liveship-timestamp";
/// Header with `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}`.
pub const SIGNATURE_HEADER: &str = "x-liveship-signature";

impl Webhook {
    /// A webhook posting to `url`, signing with `secret` when given.
    pub fn new(url: String, secret: Option<String>) -> Self {
        let client = crate::https::Https::new(WEBHOOK_TIMEOUT);
        Self {
            url,
            secret: secret.map(|s| Arc::new(zeroize::Zeroizing::new(s))),
            client,
        }
    }

    /// Posts one JSON body; a failure is logged (without the URL), never
    /// answered: the decision is made and stored either way.
    async fn post(&self, body: &serde_json::Value) {
        let body = body.to_string();
        let ts = now().to_string();
        let mut req = ::http::Request::post(&self.url)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, &ts);
        if let Some(secret) = &self.secret {
            req = req.header(SIGNATURE_HEADER, signature(secret.as_bytes(), &ts, &body));
        }
        let req = match req.body(crate::https::full(body)) {
            Ok(req) => req,
            // Never the URL in the log: it is a secret.
            Err(_) => {
                tracing::warn!("the webhook URL is not a valid URL; no rollout decision is posted");
                return;
            }
        };
        match tokio::time::timeout(WEBHOOK_TIMEOUT, self.client.send(req)).await {
            Ok(Ok(r)) if r.status().is_success() => {}
            Ok(Ok(r)) => tracing::warn!(
                status = r.status().as_u16(),
                "the webhook refused a rollout decision"
            ),
            // hyper's errors never carry the URL.
            Ok(Err(e)) => {
                tracing::warn!(error = %super::error::error_chain(&e), "could not post a rollout decision to the webhook")
            }
            Err(_) => tracing::warn!(
                seconds = WEBHOOK_TIMEOUT.as_secs(),
                "the webhook did not answer in time; the rollout decision stands"
            ),
        }
    }
}

/// How long one webhook post may take, connection included.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The value of [`SIGNATURE_HEADER`] for a body sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: &str, body: &str) -> String {
    let msg = format!("{timestamp}.{body}");
    format!("v1={}", hex::encode(hmac_sha256(secret, msg.as_bytes())))
}

/// Judges due plans. One per process, shared by its routes.
pub struct Guard {
    records: Arc<dyn RecordWrite>,
    webhook: Option<Webhook>,
    invalidate: Option<Invalidator>,
    busy: Mutex<HashSet<(AppId, String)>>,
    /// When each channel's plan falls due next, as last read from the
    /// store: a lookup served from a cached (older) channel need not read
    /// the store again before then.
    next_due: Mutex<HashMap<(AppId, String), Timestamp>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// The actor automatic decisions are recorded under.
pub fn guard_actor() -> TokenRef {
    TokenRef {
        id: "guard".into(),
        name: "rollout guard".into(),
        secret_sha256: None,
    }
}

impl Guard {
    /// A guard writing through `records`; `invalidate` refreshes this
    /// process's lookup cache after a decision.
    pub fn new(
        records: Arc<dyn RecordWrite>,
        webhook: Option<Webhook>,
        invalidate: Option<Invalidator>,
    ) -> Self {
        Self {
            records,
            webhook,
            invalidate,
            busy: Mutex::new(HashSet::new()),
            next_due: Mutex::new(HashMap::new()),
        }
    }

    /// True when a lookup holding this (possibly cached) channel should ask
    /// the guard: its plan looks due and the stored one was not known to
    /// be judged already.
    pub fn worth_judging(&self, app: &AppId, ch: &Channel, at: Timestamp) -> bool {
        if !due(ch, at) {
            return false;
        }
        let key = (app.clone(), ch.name.clone());
        self.next_due
            .lock()
            .expect("guard lock")
            .get(&key)
            .is_none_or(|next| at >= *next)
    }

    fn remember(&self, ch: &Channel) {
        let next = ch
            .current
            .as_ref()
            .and_then(|d| d.plan.as_ref())
            .filter(|p| p.active())
            .map(RolloutPlan::next_due)
            .unwrap_or(Timestamp::MAX);
        let mut m = self.next_due.lock().expect("guard lock");
        if m.len() > 4096 {
            m.clear();
        }
        m.insert((ch.app_id.clone(), ch.name.clone()), next);
    }

    /// Judges the channel if its plan is due and stores the outcome; returns
    /// true when it changed the channel. Another task of this process
    /// judging the same channel makes this one return at once.
    pub async fn refresh(&self, app: &AppId, name: &str) -> Result<bool, ApiError> {
        let key = (app.clone(), name.to_owned());
        if !self.busy.lock().expect("guard lock").insert(key.clone()) {
            return Ok(false);
        }
        let result = self.judge_and_store(app, name).await;
        self.busy.lock().expect("guard lock").remove(&key);
        result
    }

    async fn judge_and_store(&self, app: &AppId, name: &str) -> Result<bool, ApiError> {
        for attempt in 0..16u64 {
            let Some(mut ch) = self.records.channel(app, name).await? else {
                return Ok(false);
            };
            let at = now();
            let Some(plan) = ch.current.as_ref().and_then(|d| d.plan.as_ref()) else {
                self.remember(&ch);
                return Ok(false);
            };
            if !plan.due(at) {
                self.remember(&ch);
                return Ok(false);
            }
            let build = ch.current.as_ref().map(|d| d.build_id).unwrap_or_default();
            let reading = self.read(&ch, build, plan, at).await?;
            let before = ch.current.clone();
            let decision = apply(&mut ch, reading, at);
            let halted = ch.current.clone();
            if decision == Some(AutoDecision::RolledBack) && !ch.rollback(at) {
                // Nothing to roll back to: the halt stands alone.
                tracing::warn!(app = %app, channel = %name, "halted with no earlier build to roll back to");
            }
            if self.records.put_channel(&ch).await? {
                ch.revision += 1;
                self.remember(&ch);
                if let Some(inv) = &self.invalidate {
                    inv.bump();
                }
                if let Some(d) = decision {
                    self.announce(&ch, build, before, halted, d, at).await;
                }
                return Ok(true);
            }
            // Another writer won: read again, which sees its decision.
            tokio::time::sleep(Duration::from_millis(attempt.min(10) * 3)).await;
        }
        Err(ApiError::conflict(
            "the channel is being changed by many writers at once; try again",
        ))
    }

    /// Reads the counts behind a judgement: the new build and its baseline
    /// over the plan's window (hourly buckets: the window begins at the top
    /// of the hour the plan's health window started in), and the baseline's
    /// own earlier week when the shared window holds too little of it.
    async fn read(
        &self,
        ch: &Channel,
        build: u64,
        plan: &RolloutPlan,
        at: Timestamp,
    ) -> Result<Reading, ApiError> {
        let from = Grain::Hour.start(plan.window_start);
        let to = Grain::Hour.start(at.max(from)) + Grain::Hour.seconds();
        let buckets = self
            .records
            .usage(&ch.app_id, &ch.name, Grain::Hour, from, to)
            .await?;
        let tally = |id: u64, buckets: &[crate::model::UsageBucket]| {
            let mut t = Tally::default();
            for b in buckets.iter().filter(|b| b.build_id == id) {
                t.add(&b.events);
            }
            t
        };
        let new = tally(build, &buckets);
        let baseline = match plan.baseline_build {
            None => None,
            Some(b) => {
                let same = tally(b, &buckets);
                if same.attempts >= ch.guard.min_devices {
                    Some((same, false))
                } else {
                    let earlier = self
                        .records
                        .usage(
                            &ch.app_id,
                            &ch.name,
                            Grain::Hour,
                            from - rollout::BASELINE_HISTORY_SECONDS,
                            from,
                        )
                        .await?;
                    let mut hist = tally(b, &earlier);
                    hist.attempts += same.attempts;
                    hist.failures += same.failures;
                    Some((hist, true))
                }
            }
        };
        Ok(rollout::judge(&ch.guard, new, baseline, at))
    }

    async fn announce(
        &self,
        ch: &Channel,
        build: u64,
        before: Option<crate::model::Deployment>,
        halted: Option<crate::model::Deployment>,
        decision: AutoDecision,
        at: Timestamp,
    ) {
        let plan = halted.as_ref().and_then(|d| d.plan.clone());
        let reading = plan.as_ref().and_then(|p| p.reading.clone());
        let said = reading.as_ref().map(rollout::describe).unwrap_or_default();
        let percent = halted.as_ref().map_or(0, |d| d.rollout_percent);
        let verb = match decision {
            AutoDecision::Advanced => format!("moved build {build} to {percent}%"),
            AutoDecision::Completed => {
                format!("finished the rollout of build {build} at {percent}%")
            }
            AutoDecision::Halted => format!("halted build {build} at {percent}%"),
            AutoDecision::RolledBack => format!(
                "halted build {build} at {percent}% and rolled the channel back to build {}",
                ch.current.as_ref().map_or(0, |d| d.build_id)
            ),
        };
        let text = format!(
            "liveship rollout guard: app {} channel {}: {verb}. {said}.",
            ch.app_id, ch.name
        );
        tracing::info!(app = %ch.app_id, channel = %ch.name, build, decision = decision.action(), "{text}");
        let mut after = serde_json::to_value(&halted).unwrap_or_default();
        if decision == AutoDecision::RolledBack {
            if let Some(o) = after.as_object_mut() {
                o.insert(
                    "rolled_back_to".into(),
                    serde_json::to_value(&ch.current).unwrap_or_default(),
                );
            }
        }
        let entry = AuditEntry {
            id: ops::audit::entry_id(),
            at,
            app_id: Some(ch.app_id.clone()),
            actor: guard_actor(),
            via: "guard".into(),
            action: decision.action().into(),
            target: format!("channel {}", ch.name),
            before: serde_json::to_value(&before).ok(),
            after: Some(after),
        };
        if let Err(e) = self.records.append_audit(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "could not record a rollout decision");
        }
        if let Some(hook) = &self.webhook {
            hook.post(&serde_json::json!({
                "text": text,
                "liveship": {
                    "app_id": ch.app_id,
                    "channel": ch.name,
                    "build_id": build,
                    "decision": decision,
                    "action": decision.action(),
                    "rollout_percent": percent,
                    "at": at,
                    "reading": reading,
                    "plan": plan,
                    "rolled_back_to": (decision == AutoDecision::RolledBack)
                        .then(|| ch.current.as_ref().map(|d| d.build_id)).flatten(),
                }
            }))
            .await;
        }
    }

    /// Judges every due plan of every app (the ticker of `liveship serve`
    /// and the scheduled trigger on AWS). Returns how many channels changed.
    pub async fn tick(&self) -> Result<usize, ApiError> {
        let at = now();
        let mut changed = 0;
        for app in self.records.apps().await? {
            for ch in self.records.channels(&app.app_id).await? {
                let due = ch
                    .current
                    .as_ref()
                    .and_then(|d| d.plan.as_ref())
                    .is_some_and(|p| p.due(at));
                if due && self.refresh(&app.app_id, &ch.name).await? {
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }
}

/// Applies a reading to the channel's plan and keeps the deployment's
/// percentage and the channel's history in step with it.
fn apply(ch: &mut Channel, reading: Reading, at: Timestamp) -> Option<AutoDecision> {
    let cur = ch.current.as_mut()?;
    let plan = cur.plan.as_mut()?;
    let decision = plan.apply(reading, at);
    cur.rollout_percent = plan.percent();
    if let Some(d) = decision {
        let action = match d {
            AutoDecision::RolledBack => AutoDecision::Halted.action(),
            other => other.action(),
        };
        ch.log_plan(action, at);
    }
    decision
}

/// True when the channel's plan is due for judging.
pub fn due(ch: &Channel, at: Timestamp) -> bool {
    ch.current
        .as_ref()
        .and_then(|d| d.plan.as_ref())
        .is_some_and(|p| p.due(at))
}

/// Judges the channel's rollout plan if it is due, so what a CI call reads
/// or changes is up to date. The guard failing to judge never fails the
/// call: the next read judges again.
pub(crate) async fn judge(guard: Option<&Guard>, app: &AppId, channel: &str) {
    if let Some(g) = guard {
        if let Err(e) = g.refresh(app, channel).await {
            tracing::warn!(app = %app, channel, error = %e.message, "could not judge a rollout plan");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert!(signature(b"k", "1", "{}").starts_with("v1="));
        assert_ne!(signature(b"k", "1", "{}"), signature(b"k", "2", "{}"));
    }
}
