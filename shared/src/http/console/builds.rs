//! A build's page (its files, limits and device funnel) and its actions
//! (disable, enable, mandatory).

use super::charts;
use super::layout::*;
use super::session::check_write;
use super::session::html;
use super::session::see_other;
use super::session::seg;
use super::session::session;
use super::session::Flash;
use super::session::Session;
use crate::http::state::CiState;
use crate::model::App;
use crate::model::Build;
use crate::model::Scope;
use crate::wire::BuildStats;
use crate::wire::ChannelList;
use crate::wire::ErrorBody;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::StatusCode;
use axum::Form;
use maud::html as m;
use serde_json::json;
use serde_json::Value;

pub(crate) async fn build_view(
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
pub(crate) async fn build_page(
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
pub(crate) async fn build_action(
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
