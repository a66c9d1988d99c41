//! The console's pages and form actions. Pages read through the API as the
//! session; actions are the API calls the CLI makes.

use super::charts;
use super::session::check_write;
use super::session::html;
use super::session::see_other;
use super::session::seg;
use super::session::session;
use super::session::Flash;
use super::session::Session;
use super::session::SESSION_SECONDS;
use crate::http::error::ApiError;
use crate::http::state::CiState;
pub(super) use crate::model::utc as when;
use crate::model::App;
use crate::model::AuditEntry;
use crate::model::Build;
use crate::model::Channel;
use crate::model::Scope;
use crate::rollout;
use crate::rollout::PlanState;
use crate::rollout::RolloutPlan;
use crate::wire::AppList;
use crate::wire::AuditList;
use crate::wire::BuildList;
use crate::wire::BuildStats;
use crate::wire::ChannelList;
use crate::wire::ErrorBody;
use crate::wire::UsageAnswer;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use maud::html as m;
use maud::Markup;
use maud::DOCTYPE;
use serde::de::DeserializeOwned;
use serde_json::json;
use serde_json::Value;
use std::collections::HashMap;

type Fields = HashMap<String, String>;

/// A page's outcome: the page, or a redirect to sign in.
type Page = Result<Response, ApiError>;

fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ErrorBody> {
    serde_json::from_value(v).map_err(|e| ErrorBody {
        error: "internal".into(),
        message: format!("unexpected answer: {e}"),
        details: None,
    })
}

async fn get<T: DeserializeOwned>(s: &CiState, sess: &Session, path: &str) -> Result<T, ErrorBody> {
    parse(sess.api(s, Method::GET, path, None).await?)
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn layout(
    title: &str,
    sess: Option<&Session>,
    crumbs: &[(String, String)],
    body: Markup,
) -> Markup {
    m! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · liveship console" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { "liveship" }
                    @if let Some(sess) = sess {
                        span.who {
                            "Signed in as " strong { (sess.who.name) } " (" (sess.who.id) ", "
                            (sess.who.scopes.iter().map(|s| format!("{s:?}").to_lowercase()).collect::<Vec<_>>().join(", "))
                            @if let Some(a) = &sess.who.app_id { " on " (a) }
                            ")"
                        }
                        form.inline method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(sess.csrf());
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                @if !crumbs.is_empty() {
                    nav aria-label="Breadcrumb" {
                        ol.crumbs {
                            li { a href="/console" { "Apps" } }
                            @for (href, label) in crumbs { li { a href=(href) { (label) } } }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A banner for an action's outcome or failure.
fn banner(flash: &Flash, error: Option<&ErrorBody>) -> Markup {
    let done = flash.done.as_deref().and_then(|d| {
        Some(match d {
            "deploy" => "Deployed. Devices on this channel get the build at their next check.",
            "rollout" => "Rollout changed.",
            "rollback" => {
                "Rolled back: devices that took the build are sent back at their next check."
            }
            "disable" => "Build disabled: no device is offered it any more.",
            "enable" => "Build enabled.",
            "mandatory" => "Mandatory flag changed.",
            "limits" => "Native-version limits saved.",
            "pause" => "Plan paused: the step clock stopped; the guard still watches.",
            "resume" => "Plan resumed.",
            "advance" => "Plan advanced to its next step.",
            "abort" => "Plan aborted: the channel went back to the build before it.",
            _ => return None,
        })
    });
    m! {
        @if let Some(e) = error {
            div.error role="alert" {
                strong { "That did not work: " }
                (e.message)
                " (" code { (e.error) } ")"
            }
        }
        @if let Some(d) = done { div.ok role="status" { (d) } }
    }
}

fn csrf(sess: &Session) -> Markup {
    m! { input type="hidden" name="csrf" value=(sess.csrf()); }
}

/// The sign-in page.
pub(super) fn sign_in(error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        &[],
        m! {
            @if let Some(e) = error { div.error role="alert" { (e) } }
            p { "Sign in with a liveship API token. The console then acts with exactly that token's rights: "
                "a " code { "read" } " token can look, a " code { "deploy" } " token can also release." }
            form method="post" action="/console/login" {
                label for="token" { "Token" }
                input id="token" name="token" type="password" autocomplete="off" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.hint { "The token is sent in the form body only and never stored in the browser: "
                "a session cookie stands in for it for " (SESSION_SECONDS / 3600) " hours." }
        },
    )
}

fn no_session() -> Page {
    Ok(see_other("/console"))
}

fn failed(sess: &Session, title: &str, e: &ErrorBody) -> Page {
    let status = match e.error.as_str() {
        "not_found" | "channel_not_found" => StatusCode::NOT_FOUND,
        "forbidden" => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_GATEWAY,
    };
    Ok(html(
        status,
        layout(
            title,
            Some(sess),
            &[],
            m! { (banner(&Flash::default(), Some(e))) p { a href="/console" { "Back to the apps" } } },
        ),
    ))
}

/// `GET /console`: the apps, or the sign-in form.
pub(super) async fn home(State(s): State<CiState>, headers: HeaderMap) -> Page {
    let Some(sess) = session(&s, &headers).await else {
        return Ok(html(StatusCode::OK, sign_in(None)));
    };
    let apps: AppList = match get(&s, &sess, "/v1/apps").await {
        Ok(a) => a,
        Err(e) => return failed(&sess, "Apps", &e),
    };
    Ok(html(
        StatusCode::OK,
        layout(
            "Apps",
            Some(&sess),
            &[],
            m! {
                @if apps.apps.is_empty() {
                    p.empty { "No apps yet. An admin creates one with "
                        code { "liveship apps create --app-id com.example.app --public-key pub.pem" } "." }
                } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "App" } th scope="col" { "Default channel" } th scope="col" { "Created" } } }
                        tbody { @for a in &apps.apps { tr {
                            td { a href=(format!("/console/apps/{}", seg(a.app_id.as_str()))) { (a.app_id) } }
                            td { (a.default_channel) }
                            td { (when(a.created_at)) }
                        } } }
                    } }
                }
            },
        ),
    ))
}

fn crumbs_app(app: &str) -> Vec<(String, String)> {
    vec![(format!("/console/apps/{}", seg(app)), app.to_owned())]
}

fn build_label(builds: &[Build], id: u64) -> String {
    builds
        .iter()
        .find(|b| b.id == id)
        .map_or(format!("build {id}"), |b| {
            format!("{} (build {id})", b.version)
        })
}

fn limits(b: &Build) -> String {
    let parts: Vec<String> = b
        .native
        .iter()
        .map(|(p, l)| {
            let mut v = Vec::new();
            if let Some(x) = &l.min {
                v.push(format!(">= {x}"));
            }
            if let Some(x) = &l.max {
                v.push(format!("<= {x}"));
            }
            if let Some(x) = &l.eq {
                v.push(format!("= {x}"));
            }
            format!("{p} {}", v.join(", "))
        })
        .collect();
    if parts.is_empty() {
        "any".into()
    } else {
        parts.join("; ")
    }
}

/// `GET /console/apps/{app}`: channels and builds.
pub(super) async fn app_page(
    State(s): State<CiState>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Page {
    let Some(sess) = session(&s, &headers).await else {
        return no_session();
    };
    let base = format!("/v1/apps/{}", seg(&app));
    let (channels, builds) = match (
        get::<ChannelList>(&s, &sess, &format!("{base}/channels")).await,
        get::<BuildList>(&s, &sess, &format!("{base}/builds")).await,
    ) {
        (Ok(c), Ok(b)) => (c.channels, b.builds),
        (Err(e), _) | (_, Err(e)) => return failed(&sess, &app, &e),
    };
    let a = seg(&app);
    Ok(html(
        StatusCode::OK,
        layout(
            &app,
            Some(&sess),
            &[],
            m! {
                p { a href=(format!("/console/apps/{a}/audit")) { "Audit log of this app" } }
                h2 { "Channels" }
                @if channels.is_empty() {
                    p.empty { "No channels yet. Deploying a build to the app's default channel creates it: "
                        code { "liveship deploy --app-id " (app) " --channel production --build-id 1" }
                        ", or open a build below." }
                } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Channel" } th scope="col" { "Current build" } th scope="col" { "Rollout" } th scope="col" { "Changed" } } }
                        tbody { @for c in &channels { tr {
                            td { a href=(format!("/console/apps/{a}/channels/{}", seg(&c.name))) { (c.name) } }
                            @if let Some(cur) = &c.current {
                                td { (build_label(&builds, cur.build_id)) }
                                td { (cur.rollout_percent) "%" }
                                td { (when(cur.at)) }
                            } @else {
                                td colspan="3" { "nothing deployed (devices keep the bundle inside the app)" }
                            }
                        } } }
                    } }
                }
                h2 { "Builds" }
                @if builds.is_empty() {
                    p.empty { "No builds yet. CI uploads one with "
                        code { "liveship live-update upload-artifact --app-id " (app) " ..." } "." }
                } @else {
                    div.scroll { table {
                        thead { tr {
                            th scope="col" { "Build" } th scope="col" { "Version" } th scope="col" { "Commit" }
                            th scope="col" { "Type" } th scope="col" { "Size" } th scope="col" { "Files" }
                            th scope="col" { "Created" } th scope="col" { "State" } th scope="col" { "Native versions" }
                        } }
                        tbody { @for b in &builds { tr {
                            td { a href=(format!("/console/apps/{a}/builds/{}", b.id)) { (b.id) } }
                            td { (b.version) }
                            td {
                                @if let Some(r) = &b.commit.r#ref { (r) " " }
                                @if let Some(sha) = &b.commit.sha { code { (sha.chars().take(10).collect::<String>()) } " " }
                                @if let Some(msg) = &b.commit.message { span.msg { (msg) } }
                            }
                            td { (format!("{:?}", b.artifact_type).to_lowercase()) }
                            td { (size(b.total_size)) }
                            td { (b.file_count) }
                            td { (when(b.created_at)) }
                            td {
                                @if b.disabled { span.tag.off { "disabled" } } @else { span.tag { "enabled" } }
                                @if b.mandatory { " " span.tag.warn { "mandatory" } }
                            }
                            td { (limits(b)) }
                        } } }
                    } }
                }
            },
        ),
    ))
}

async fn channel_view(
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
    let may = sess.can(app, Scope::Deploy);
    let enabled: Vec<&Build> = builds.iter().filter(|b| !b.disabled).collect();
    let label = |id: u64| build_label(&builds, id);
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
                            strong.rollout { (cur.rollout_percent) "%" } " of devices"
                            @if cur.rollout_percent < 100 {
                                @if let Some(base) = ch.baseline() {
                                    "; the others stay on " (label(base.build_id))
                                } @else { "; the others keep the bundle inside the app" }
                            }
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
fn plan_block(p: &RolloutPlan) -> Markup {
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
pub(super) async fn channel_page(
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

fn percent(form: &Fields) -> Result<u8, ErrorBody> {
    form.get("rollout_percent")
        .and_then(|p| p.trim().parse::<u8>().ok())
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| ErrorBody {
            error: "invalid_rollout".into(),
            message: "give a rollout of 1 to 100 %".into(),
            details: None,
        })
}

fn build_id(form: &Fields) -> Result<u64, ErrorBody> {
    form.get("build_id")
        .and_then(|b| b.trim().parse().ok())
        .ok_or_else(|| ErrorBody {
            error: "bad_request".into(),
            message: "choose a build".into(),
            details: None,
        })
}

fn unconfirmed() -> ErrorBody {
    ErrorBody {
        error: "not_confirmed".into(),
        message: "tick the confirmation box first: this changes what devices run".into(),
        details: None,
    }
}

/// `POST /console/apps/{app}/channels/{channel}`: deploy, change the
/// rollout, or roll back (the API's `PUT .../channels/{channel}` and
/// `POST .../rollback`).
pub(super) async fn channel_action(
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

async fn build_view(
    s: &CiState,
    sess: &Session,
    app: &str,
    id: &str,
    flash: &Flash,
    error: Option<&ErrorBody>,
) -> Page {
    let base = format!("/v1/apps/{}", seg(app));
    let path = format!("{base}/builds/{}", seg(id));
    let (b, stats, the_app, channels) = match (
        get::<Build>(s, sess, &path).await,
        get::<BuildStats>(s, sess, &format!("{path}/stats")).await,
        get::<App>(s, sess, &base).await,
        get::<ChannelList>(s, sess, &format!("{base}/channels")).await,
    ) {
        (Ok(b), Ok(st), Ok(a), Ok(c)) => (b, st, a, c.channels),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            return failed(sess, &format!("Build {id}"), &e)
        }
    };
    // Where it can go: every channel, and the default one even before it exists.
    let mut targets: Vec<String> = channels.into_iter().map(|c| c.name).collect();
    if !targets.contains(&the_app.default_channel) {
        targets.insert(0, the_app.default_channel.clone());
    }
    let may = sess.can(app, Scope::Deploy);
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(html(
        status,
        layout(
            &format!("Build {} ({})", b.id, b.version),
            Some(sess),
            &crumbs_app(app),
            m! {
                (banner(flash, error))
                dl.facts {
                    dt { "Version" } dd { (b.version) }
                    dt { "Commit" } dd {
                        @if let Some(r) = &b.commit.r#ref { (r) " " }
                        @if let Some(sha) = &b.commit.sha { code { (sha) } " " }
                        @if let Some(msg) = &b.commit.message { (msg) }
                        @if b.commit.r#ref.is_none() && b.commit.sha.is_none() && b.commit.message.is_none() { "not given" }
                    }
                    dt { "Type" } dd { (format!("{:?}", b.artifact_type).to_lowercase()) }
                    dt { "Size" } dd { (size(b.total_size)) ", " (b.file_count) " files" }
                    dt { "Created" } dd { (when(b.created_at)) }
                    dt { "State" } dd.state { @if b.disabled { "disabled" } @else { "enabled" } }
                    dt { "Mandatory" } dd.mandatory { @if b.mandatory { "yes" } @else { "no" } }
                    dt { "Native versions" } dd.limits { (limits(&b)) }
                }
                section aria-labelledby="funnel" {
                    h2 id="funnel" { "Devices" }
                    (charts::funnel(&stats))
                }
                @if may {
                    section aria-labelledby="act" {
                        h2 id="act" { "Change" }
                        @if !b.disabled {
                            form.card method="post" {
                                (csrf(sess))
                                input type="hidden" name="action" value="deploy";
                                label for="channel" { "Deploy to channel" }
                                select id="channel" name="channel" {
                                    @for c in &targets { option value=(c) selected[*c == the_app.default_channel] { (c) } }
                                }
                                label for="deploy_pct" { "Rollout %" }
                                input id="deploy_pct" name="rollout_percent" type="number" min="1" max="100" value="100" required;
                                button type="submit" { "Deploy" }
                            }
                        }
                        @if b.disabled {
                            form.card method="post" {
                                (csrf(sess))
                                input type="hidden" name="action" value="enable";
                                button type="submit" { "Enable build" }
                            }
                        } @else {
                            form.card.danger method="post" {
                                (csrf(sess))
                                input type="hidden" name="action" value="disable";
                                p { "Disabling stops every device from being offered this build. A build channels serve now is refused unless you force it." }
                                label.check { input type="checkbox" name="confirm" value="yes" required; " I want to disable this build" }
                                label.check { input type="checkbox" name="force" value="yes"; " even if a channel serves it now" }
                                button type="submit" { "Disable build" }
                            }
                        }
                        form.card method="post" {
                            (csrf(sess))
                            input type="hidden" name="action" value="mandatory";
                            input type="hidden" name="mandatory" value=(if b.mandatory { "no" } else { "yes" });
                            button type="submit" { @if b.mandatory { "Make optional" } @else { "Mark mandatory" } }
                        }
                        form.card method="post" {
                            (csrf(sess))
                            input type="hidden" name="action" value="limits";
                            fieldset {
                                legend { "Native-version limits (empty removes one)" }
                                label for="platform" { "Platform" }
                                select id="platform" name="platform" { option value="ios" { "ios" } option value="android" { "android" } }
                                label for="min" { "Lowest native version" }
                                input id="min" name="min" type="text" inputmode="decimal" placeholder="1.2.0";
                                label for="max" { "Highest native version" }
                                input id="max" name="max" type="text" inputmode="decimal" placeholder="2.0.0";
                            }
                            button type="submit" { "Save limits" }
                        }
                    }
                }
            },
        ),
    ))
}

/// `GET /console/apps/{app}/builds/{id}`.
pub(super) async fn build_page(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    Query(flash): Query<Flash>,
    headers: HeaderMap,
) -> Page {
    let Some(sess) = session(&s, &headers).await else {
        return no_session();
    };
    build_view(&s, &sess, &app, &id, &flash, None).await
}

/// `POST /console/apps/{app}/builds/{id}`: the API's `PATCH .../builds/{id}`.
pub(super) async fn build_action(
    State(s): State<CiState>,
    Path((app, id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Page {
    let sess = session(&s, &headers).await;
    check_write(&s, &headers, sess.as_ref(), &form)?;
    let Some(sess) = sess else {
        return no_session();
    };
    let yes = |k: &str| form.get(k).is_some_and(|v| v == "yes");
    let action = form.get("action").map(String::as_str).unwrap_or_default();
    let patch = match action {
        "deploy" => Ok(Value::Null),
        "disable" if yes("confirm") => Ok(json!({"disabled": true, "force": yes("force")})),
        "disable" => Err(unconfirmed()),
        "enable" => Ok(json!({"disabled": false})),
        "mandatory" => Ok(json!({"mandatory": yes("mandatory")})),
        "limits" => {
            let platform = form.get("platform").map(String::as_str).unwrap_or("ios");
            let v = |k: &str| form.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
            Ok(json!({"native": {platform: {"min": v("min"), "max": v("max")}}}))
        }
        _ => Err(ErrorBody {
            error: "bad_request".into(),
            message: "unknown action".into(),
            details: None,
        }),
    };
    if action == "deploy" {
        // The API's `PUT .../channels/{channel}`, then the channel's page.
        let channel = form.get("channel").cloned().unwrap_or_default();
        let result = match (id.parse::<u64>(), percent(&form)) {
            (Ok(b), Ok(p)) => sess
                .api(
                    &s,
                    Method::PUT,
                    &format!("/v1/apps/{}/channels/{}", seg(&app), seg(&channel)),
                    Some(json!({"build_id": b, "rollout_percent": p})),
                )
                .await
                .map(drop),
            (_, Err(e)) => Err(e),
            (Err(_), _) => Err(ErrorBody {
                error: "bad_request".into(),
                message: "deploy a build by its id".into(),
                details: None,
            }),
        };
        return match result {
            Ok(()) => Ok(see_other(&format!(
                "/console/apps/{}/channels/{}?done=deploy",
                seg(&app),
                seg(&channel)
            ))),
            Err(e) => build_view(&s, &sess, &app, &id, &Flash::default(), Some(&e)).await,
        };
    }
    let path = format!("/v1/apps/{}/builds/{}", seg(&app), seg(&id));
    let result = match patch {
        Ok(p) => sess.api(&s, Method::PATCH, &path, Some(p)).await.map(drop),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/console/apps/{}/builds/{}?done={action}",
            seg(&app),
            seg(&id)
        ))),
        Err(e) => build_view(&s, &sess, &app, &id, &Flash::default(), Some(&e)).await,
    }
}

fn audit_row(e: &AuditEntry) -> Markup {
    let show = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "—".into())
    };
    m! {
        tr {
            td { (when(e.at)) }
            td { (e.actor.name) br; code { (e.actor.id) } }
            td { (e.via) }
            td.action { (e.action) }
            td { (e.target) }
            td { details { summary { "before / after" } p { "before: " code { (show(&e.before)) } } p { "after: " code { (show(&e.after)) } } } }
        }
    }
}

/// `GET /console/apps/{app}/audit`.
pub(super) async fn audit_page(
    State(s): State<CiState>,
    Path(app): Path<String>,
    Query(flash): Query<Flash>,
    headers: HeaderMap,
) -> Page {
    let Some(sess) = session(&s, &headers).await else {
        return no_session();
    };
    let mut path = format!("/v1/apps/{}/audit?limit=100", seg(&app));
    if let Some(b) = &flash.before {
        path.push_str(&format!("&before={}", seg(b)));
    }
    let (list, apps) = match (
        get::<AuditList>(&s, &sess, &path).await,
        get::<AppList>(&s, &sess, "/v1/apps").await,
    ) {
        (Ok(l), Ok(a)) => (l, a),
        (Err(e), _) | (_, Err(e)) => return failed(&sess, "Audit log", &e),
    };
    Ok(html(
        StatusCode::OK,
        layout(
            &format!("Audit log of {app}"),
            Some(&sess),
            &crumbs_app(&app),
            m! {
                form.inline method="get" action="/console/audit" {
                    label for="app" { "App " }
                    select id="app" name="app" {
                        @for a in &apps.apps { option value=(a.app_id) selected[a.app_id.as_str() == app] { (a.app_id) } }
                    }
                    button type="submit" { "Show" }
                }
                @if list.entries.is_empty() {
                    p.empty { "Nothing recorded yet: every change made through the API or this console appears here." }
                } @else {
                    div.scroll { table.audit {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Via" } th scope="col" { "What" } th scope="col" { "On" } th scope="col" { "Change" } } }
                        tbody { @for e in &list.entries { (audit_row(e)) } }
                    } }
                    @if let Some(next) = &list.next {
                        p { a href=(format!("/console/apps/{}/audit?before={}", seg(&app), seg(next))) { "Older entries" } }
                    }
                }
            },
        ),
    ))
}

/// `GET /console/audit?app=`: the app picker of the audit page.
pub(super) async fn audit_pick(Query(flash): Query<Flash>) -> Response {
    match flash.app {
        Some(a) if !a.is_empty() => see_other(&format!("/console/apps/{}/audit", seg(&a))),
        _ => see_other("/console"),
    }
}
