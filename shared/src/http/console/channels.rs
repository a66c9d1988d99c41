//! A channel's page (what it serves, its plan, guard and adoption) and
//! its actions (deploy, roll back, plan actions).

use super::charts;
use super::layout::*;
use super::session::check_write;
use super::session::html;
use super::session::see_other;
use super::session::seg;
use super::session::session;
use super::session::Flash;
use super::session::Session;
use crate::domain::AppId;
use crate::http::state::CiState;
use crate::keyset::KeySet;
use crate::manifest::Verified;
use crate::model::now;
use crate::model::Build;
use crate::model::Channel;
use crate::model::Scope;
use crate::ops;
use crate::predict::{self, Facts};
use crate::rollout;
use crate::rollout::PlanState;
use crate::rollout::RolloutPlan;
use crate::wire::BuildList;
use crate::wire::ChannelList;
use crate::wire::ErrorBody;
use crate::wire::UsageAnswer;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::StatusCode;
use axum::Form;
use maud::html as m;
use maud::Markup;
use serde_json::json;

/// The "Now" line's numbers: the share of devices the current build
/// reaches, and what the others run, in words. A halted plan keeps the
/// devices that took its build and takes no new one: its share is the
/// rollout it was halted at.
fn now_serving(
    ch: &Channel,
    builds: &[Build],
    keys: Option<&Verified<KeySet>>,
    label: &dyn Fn(u64) -> String,
) -> (u32, String) {
    let Some(cur) = &ch.current else {
        return (0, String::new());
    };
    let get = |id: u64| builds.iter().find(|b| b.id == id);
    let shares = predict::shares(ch, get, keys, &Facts::running(None), now());
    let pct = |s: f64| (s * 100.0).round() as u32;
    let reach = if cur.halted() {
        u32::from(cur.rollout_percent)
    } else {
        pct(shares.get(&Some(cur.build_id)).copied().unwrap_or(0.0))
    };
    let name = |runs: &Option<u64>| runs.map_or("the bundle inside the app".to_owned(), label);
    let rest: Vec<(&Option<u64>, &f64)> = shares
        .iter()
        .filter(|(runs, _)| **runs != Some(cur.build_id))
        .collect();
    let others = match rest.as_slice() {
        [] => String::new(),
        [(None, _)] => "; the others keep the bundle inside the app".to_owned(),
        [(runs, _)] => format!("; the others stay on {}", name(runs)),
        many => format!(
            "; the others: {}",
            many.iter()
                .map(|(runs, s)| format!("{} ({}%)", name(runs), pct(**s)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    (reach, others)
}

pub(crate) async fn channel_view(
    s: &CiState,
    sess: &Session,
    app: &str,
    channel: &str,
    flash: &Flash,
    error: Option<&ErrorBody>,
) -> Page {
    let base = format!("/v1/apps/{}", seg(app));
    let chan_path = format!("{base}/channels/{}", seg(channel));
    let (channels, builds) = match (
        get::<ChannelList>(s, sess, &format!("{base}/channels")).await,
        get::<BuildList>(s, sess, &format!("{base}/builds")).await,
    ) {
        (Ok(c), Ok(b)) => (c.channels, b.builds),
        (Err(e), _) | (_, Err(e)) => return failed(sess, channel, &e),
    };
    let Some(ch): Option<Channel> = channels.into_iter().find(|c| c.name == channel) else {
        return failed(
            sess,
            channel,
            &ErrorBody {
                error: "not_found".into(),
                message: format!("app {app} has no channel {channel:?}"),
                details: None,
            },
        );
    };
    let (hours, days) = match (
        get::<UsageAnswer>(s, sess, &format!("{chan_path}/usage?grain=hour&buckets=48")).await,
        get::<UsageAnswer>(s, sess, &format!("{chan_path}/usage?grain=day&buckets=90")).await,
    ) {
        (Ok(h), Ok(d)) => (h, d),
        (Err(e), _) | (_, Err(e)) => return failed(sess, channel, &e),
    };
    // What devices get, from the decision the lookups make (rollout
    // buckets, native limits, disabled builds, the key set).
    let keys = match AppId::new(app) {
        Ok(id) => match s.records.app(&id).await {
            Ok(Some(a)) => ops::keys::app_keys(&*s.records, &a).await.ok().flatten(),
            _ => None,
        },
        Err(_) => None,
    };
    let label = |id: u64| build_label(&builds, id);
    let (reach, others) = now_serving(&ch, &builds, keys.as_ref().map(|k| &k.set), &label);
    let may = sess.can(app, Scope::Deploy);
    let enabled: Vec<&Build> = builds.iter().filter(|b| !b.disabled).collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let a = seg(app);
    Ok(html(
        status,
        layout(
            &format!("Channel {channel}"),
            Some(sess),
            &crumbs_app(app),
            m! {
                (banner(flash, error))
                section aria-labelledby="now" {
                    h2 id="now" { "Now" }
                    @if let Some(cur) = &ch.current {
                        p.current {
                            "Serving " strong { (label(cur.build_id)) } " to "
                            strong.rollout { (reach) "%" } " of devices"
                            (others)
                            ", since " (when(cur.at)) "."
                        }
                        @if let Some(plan) = &cur.plan { (plan_block(plan)) }
                    } @else {
                        p.empty { "Nothing is deployed on this channel: its devices keep the bundle inside the app. "
                            @if may { "Deploy a build below." } @else { "A token with the deploy scope can deploy one." } }
                    }
                }
                @if may {
                    section aria-labelledby="act" {
                        h2 id="act" { "Release" }
                        @if enabled.is_empty() {
                            p.empty { "No enabled build to deploy: CI uploads one with " code { "liveship live-update upload-artifact" } "." }
                        } @else {
                            form.card method="post" {
                                (csrf(sess))
                                input type="hidden" name="action" value="deploy";
                                label for="build_id" { "Build" }
                                select id="build_id" name="build_id" {
                                    @for b in &enabled { option value=(b.id) { (b.version) " (build " (b.id) ")" } }
                                }
                                label for="deploy_pct" { "Rollout %" }
                                input id="deploy_pct" name="rollout_percent" type="number" min="1" max="100" value="100" required;
                                label for="deploy_plan" { "Or a plan (percentages; the guard walks it)" }
                                input id="deploy_plan" name="plan" type="text" placeholder="1,5,25,100" inputmode="numeric" pattern="[0-9, %]*";
                                label for="deploy_step" { "Each step at least" }
                                input id="deploy_step" name="step" type="text" placeholder="1h" pattern="[0-9]+[smhd]?";
                                label.check { input type="checkbox" name="auto_rollback" value="yes"; " Roll back if the guard halts it" }
                                button type="submit" { "Deploy" }
                            }
                        }
                        @if let Some(cur) = &ch.current {
                            form.card method="post" {
                                (csrf(sess))
                                input type="hidden" name="action" value="rollout";
                                input type="hidden" name="build_id" value=(cur.build_id);
                                label for="rollout_pct" { "Change the rollout of " (label(cur.build_id)) " to %" }
                                input id="rollout_pct" name="rollout_percent" type="number" min="1" max="100" value=(cur.rollout_percent) required;
                                button type="submit" { "Change rollout" }
                            }
                            // A plain deploy is a plan of one step: its controls
                            // would only be noise until the guard halts it.
                            @if let Some(plan) = cur.plan.as_ref().filter(|p| {
                                p.state != PlanState::Completed && (p.steps.len() > 1 || p.state == PlanState::Halted)
                            }) {
                                div.card {
                                    p { "Rollout plan of " (label(cur.build_id)) ":" }
                                    @for (verb, text, show) in [
                                        ("pause", "Pause", plan.state == PlanState::Running),
                                        ("resume", "Resume", matches!(plan.state, PlanState::Paused | PlanState::Halted)),
                                        ("advance", "Next step now", plan.active()),
                                    ] {
                                        @if show {
                                            form.inline method="post" {
                                                (csrf(sess))
                                                input type="hidden" name="action" value=(verb);
                                                button type="submit" { (text) }
                                            }
                                        }
                                    }
                                    @if plan.active() {
                                        form.danger method="post" {
                                            (csrf(sess))
                                            input type="hidden" name="action" value="abort";
                                            label.check { input type="checkbox" name="confirm" value="yes" required; " Abort the plan and roll back" }
                                            button type="submit" { "Abort" }
                                        }
                                    }
                                }
                            }
                            @if let Some(base) = ch.baseline() {
                                form.card.danger method="post" {
                                    (csrf(sess))
                                    input type="hidden" name="action" value="rollback";
                                    p { "Roll back to " (label(base.build_id)) ": devices that took "
                                        (label(cur.build_id)) " are sent back at their next check." }
                                    label.check { input type="checkbox" name="confirm" value="yes" required; " I want to roll back" }
                                    button type="submit" { "Roll back" }
                                }
                            }
                        }
                    }
                }
                section aria-labelledby="adoption" {
                    h2 id="adoption" { "Adoption" }
                    p.hint { "Share of the devices that reported events on this channel in each period, by the build they reported about." }
                    h3 { "Hourly, last 48 hours" }
                    (charts::adoption(&hours, &label, "hourly"))
                    h3 { "Daily, last 90 days" }
                    (charts::adoption(&days, &label, "daily"))
                }
                section aria-labelledby="history" {
                    h2 id="history" { "History" }
                    @if ch.log.is_empty() { p.empty { "No changes yet." } } @else {
                        div.scroll { table {
                            thead { tr { th scope="col" { "When" } th scope="col" { "Change" } th scope="col" { "Build" } th scope="col" { "Rollout" } } }
                            tbody { @for e in ch.log.iter().rev() { tr {
                                td { (when(e.at)) } td { (e.action) }
                                td { @if let Some(b) = e.build_id { a href=(format!("/console/apps/{a}/builds/{b}")) { (label(b)) } } @else { "bundle inside the app" } }
                                td { (e.rollout_percent) "%" }
                            } } }
                        } }
                    }
                }
            },
        ),
    ))
}

/// A rollout plan: its steps, where it is, and the guard's last numbers.
pub(crate) fn plan_block(p: &RolloutPlan) -> Markup {
    let state = p.state_phrase(when);
    m! {
        div.plan.(if p.state == PlanState::Halted { "halted" } else { "" }) {
            p {
                "Plan: "
                @for (i, pct) in p.steps.iter().enumerate() {
                    @if i > 0 { " → " }
                    @if i == p.step { strong { (pct) "%" } } @else { (pct) "%" }
                }
                " in steps of at least " (p.step_seconds / 60) " min"
                @if p.auto_rollback { ", rolled back if halted" }
                ". " strong.state { (state) } "."
            }
            @if let Some(why) = &p.halt_reason { p role="alert" { "Halted: " (why) "." } }
            @if let Some(r) = &p.reading {
                p.hint { "Guard, " (when(r.at)) ": " (rollout::describe(r)) "." }
            }
        }
    }
}

/// `GET /console/apps/{app}/channels/{channel}`.
pub(crate) async fn channel_page(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    Query(flash): Query<Flash>,
    headers: HeaderMap,
) -> Page {
    let Some(sess) = session(&s, &headers).await else {
        return no_session();
    };
    channel_view(&s, &sess, &app, &channel, &flash, None).await
}

/// `POST /console/apps/{app}/channels/{channel}`: deploy, change the
/// rollout, or roll back (the API's `PUT .../channels/{channel}` and
/// `POST .../rollback`).
pub(crate) async fn channel_action(
    State(s): State<CiState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Page {
    let sess = session(&s, &headers).await;
    check_write(&s, &headers, sess.as_ref(), &form)?;
    let Some(sess) = sess else {
        return no_session();
    };
    let path = format!("/v1/apps/{}/channels/{}", seg(&app), seg(&channel));
    let action = form.get("action").map(String::as_str).unwrap_or_default();
    let plan = form
        .get("plan")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let steps = rollout::parse_steps(p)?;
            let step = match form.get("step").map(|s| s.trim()).filter(|s| !s.is_empty()) {
                Some(s) => rollout::parse_duration(s)?,
                None => rollout::DEFAULT_STEP_SECONDS,
            };
            Ok::<_, rollout::PlanError>((steps, step))
        })
        .transpose()
        .map_err(|e| ErrorBody {
            error: "invalid_plan".into(),
            message: e.to_string(),
            details: None,
        });
    let result = match action {
        "deploy" if plan.as_ref().is_ok_and(Option::is_some) || plan.is_err() => {
            match (build_id(&form), plan) {
                (Ok(b), Ok(Some((steps, step)))) => sess
                    .api(
                        &s,
                        Method::PUT,
                        &path,
                        Some(json!({"build_id": b, "plan": steps, "step_seconds": step,
                            "auto_rollback": form.get("auto_rollback").is_some_and(|v| v == "yes")})),
                    )
                    .await
                    .map(drop),
                (Err(e), _) | (_, Err(e)) => Err(e),
                (_, Ok(None)) => unreachable!("a plan was given"),
            }
        }
        "pause" | "resume" | "advance" => sess
            .api(
                &s,
                Method::POST,
                &format!("{path}/rollout"),
                Some(json!({"action": action})),
            )
            .await
            .map(drop),
        "abort" if form.get("confirm").is_some_and(|c| c == "yes") => sess
            .api(
                &s,
                Method::POST,
                &format!("{path}/rollout"),
                Some(json!({"action": "abort"})),
            )
            .await
            .map(drop),
        "abort" => Err(unconfirmed()),
        "deploy" | "rollout" => match (build_id(&form), percent(&form)) {
            (Ok(b), Ok(p)) => sess
                .api(
                    &s,
                    Method::PUT,
                    &path,
                    Some(json!({"build_id": b, "rollout_percent": p})),
                )
                .await
                .map(drop),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        "rollback" if form.get("confirm").is_some_and(|c| c == "yes") => sess
            .api(&s, Method::POST, &format!("{path}/rollback"), None)
            .await
            .map(drop),
        "rollback" => Err(unconfirmed()),
        _ => Err(ErrorBody {
            error: "bad_request".into(),
            message: "unknown action".into(),
            details: None,
        }),
    };
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/console/apps/{}/channels/{}?done={action}",
            seg(&app),
            seg(&channel)
        ))),
        Err(e) => channel_view(&s, &sess, &app, &channel, &Flash::default(), Some(&e)).await,
    }
}
