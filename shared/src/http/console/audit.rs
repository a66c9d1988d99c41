//! The audit log pages.

use super::layout::*;
use super::session::html;
use super::session::see_other;
use super::session::seg;
use super::session::session;
use super::session::Flash;
use crate::http::state::CiState;
use crate::model::AuditEntry;
use crate::wire::AppList;
use crate::wire::AuditList;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html as m;
use maud::Markup;
use serde_json::Value;

pub(crate) fn audit_row(e: &AuditEntry) -> Markup {
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
pub(crate) async fn audit_page(
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
pub(crate) async fn audit_pick(Query(flash): Query<Flash>) -> Response {
    match flash.app {
        Some(a) if !a.is_empty() => see_other(&format!("/console/apps/{}/audit", seg(&a))),
        _ => see_other("/console"),
    }
}
