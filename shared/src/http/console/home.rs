//! The console's home (the apps) and each app's page.

use super::layout::*;
use super::session::html;
use super::session::seg;
use super::session::session;
use crate::http::state::CiState;
use crate::wire::AppList;
use crate::wire::BuildList;
use crate::wire::ChannelList;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use maud::html as m;

/// `GET /console`: the apps, or the sign-in form.
pub(crate) async fn home(State(s): State<CiState>, headers: HeaderMap) -> Page {
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

/// `GET /console/apps/{app}`: channels and builds.
pub(crate) async fn app_page(
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
