//! What every console page shares: the frame, banners, forms and the
//! in-process API reads a page makes as its session.

use super::session::html;
use super::session::see_other;
use super::session::seg;
use super::session::Flash;
use super::session::Session;
use super::session::SESSION_SECONDS;
use crate::http::error::ApiError;
use crate::http::state::CiState;
pub(crate) use crate::model::utc as when;
use crate::model::Build;
use crate::wire::ErrorBody;
use axum::http::Method;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html as m;
use maud::Markup;
use maud::DOCTYPE;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;

pub(crate) type Fields = HashMap<String, String>;

/// A page's outcome: the page, or a redirect to sign in.
pub(crate) type Page = Result<Response, ApiError>;

pub(crate) fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ErrorBody> {
    serde_json::from_value(v).map_err(|e| ErrorBody {
        error: "internal".into(),
        message: format!("unexpected answer: {e}"),
        details: None,
    })
}

pub(crate) async fn get<T: DeserializeOwned>(
    s: &CiState,
    sess: &Session,
    path: &str,
) -> Result<T, ErrorBody> {
    parse(sess.api(s, Method::GET, path, None).await?)
}

pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub(crate) fn layout(
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
pub(crate) fn banner(flash: &Flash, error: Option<&ErrorBody>) -> Markup {
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

pub(crate) fn csrf(sess: &Session) -> Markup {
    m! { input type="hidden" name="csrf" value=(sess.csrf()); }
}

/// The sign-in page.
pub(crate) fn sign_in(error: Option<&str>) -> Markup {
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

pub(crate) fn no_session() -> Page {
    Ok(see_other("/console"))
}

pub(crate) fn failed(sess: &Session, title: &str, e: &ErrorBody) -> Page {
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

pub(crate) fn crumbs_app(app: &str) -> Vec<(String, String)> {
    vec![(format!("/console/apps/{}", seg(app)), app.to_owned())]
}

pub(crate) fn build_label(builds: &[Build], id: u64) -> String {
    builds
        .iter()
        .find(|b| b.id == id)
        .map_or(format!("build {id}"), |b| {
            format!("{} (build {id})", b.version)
        })
}

pub(crate) fn limits(b: &Build) -> String {
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

pub(crate) fn percent(form: &Fields) -> Result<u8, ErrorBody> {
    form.get("rollout_percent")
        .and_then(|p| p.trim().parse::<u8>().ok())
        .filter(|p| (1..=100).contains(p))
        .ok_or_else(|| ErrorBody {
            error: "invalid_rollout".into(),
            message: "give a rollout of 1 to 100 %".into(),
            details: None,
        })
}

pub(crate) fn build_id(form: &Fields) -> Result<u64, ErrorBody> {
    form.get("build_id")
        .and_then(|b| b.trim().parse().ok())
        .ok_or_else(|| ErrorBody {
            error: "bad_request".into(),
            message: "choose a build".into(),
            details: None,
        })
}

pub(crate) fn unconfirmed() -> ErrorBody {
    ErrorBody {
        error: "not_confirmed".into(),
        message: "tick the confirmation box first: this changes what devices run".into(),
        details: None,
    }
}
