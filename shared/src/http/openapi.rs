//! The API description: one table of routes, from which `GET
//! /v1/openapi.json` is generated and against which the tests check the
//! router (every listed route answers, and with the listed authorisation).

use super::error::Json;
use crate::wire::ErrorBody;
use crate::wire::Status;
use serde_json::json;
use serde_json::Value;
use utoipa::openapi::security::HttpAuthScheme;
use utoipa::openapi::security::HttpBuilder;
use utoipa::openapi::security::SecurityScheme;
use utoipa::Modify;
use utoipa::OpenApi;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (devices).
    Public,
    /// A global admin token.
    GlobalAdmin,
    /// A global admin, or an admin token of the app in the body.
    Admin,
    /// A token with `upload` (or `admin`) on the app.
    Upload,
    /// A token with `deploy` (or `admin`) on the app.
    Deploy,
    /// A token with `read` (or `deploy` or `admin`) on the app.
    Read,
    /// Like [`Access::Read`] with a token; with no `Authorization` header
    /// at all, a public answer with less in it (the channels devices may
    /// choose, for the stock Capawesome plugin, which calls this path).
    ReadOrAnonymous,
    /// Any valid token (the answer covers what it may see).
    Any,
}

/// The three Lambda functions of the AWS deployment. Each serves one slice
/// of the router with only the store capabilities that slice needs, so each
/// can have its own minimal IAM policy; infra/ wires every route in
/// [`ROUTES`] to its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// CI and ops routes (authenticated writes), plus liveness and this
    /// description.
    Register,
    /// Device lookups and file downloads (read-only).
    Latest,
    /// Device events (read records, append events).
    DownloadComplete,
}

impl Function {
    /// All functions.
    pub const ALL: [Function; 3] = [Self::Register, Self::Latest, Self::DownloadComplete];

    /// Name of the package, binary and (after the name prefix) Lambda function.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Latest => "latest",
            Self::DownloadComplete => "download-complete",
        }
    }

    /// The routes this function serves.
    pub fn routes(self) -> impl Iterator<Item = &'static RouteDoc> {
        ROUTES.iter().filter(move |r| r.function == self)
    }
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// HTTP method.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The Lambda function that serves it.
    pub function: Function,
    /// What it does.
    pub summary: &'static str,
    /// Success status.
    pub success: u16,
}

/// Every route of the API.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        method: "GET",
        path: "/healthz",
        access: Access::Public,
        summary: "Liveness",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/openapi.json",
        access: Access::Public,
        summary: "This description",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/apps",
        access: Access::GlobalAdmin,
        summary: "Create an app, with optional public keys that must sign every build",
        function: Function::Register,
        success: 201,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/tokens",
        access: Access::Admin,
        summary: "Create a token (the secret is in the answer, once)",
        function: Function::Register,
        success: 201,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps",
        access: Access::Any,
        summary: "List the apps this token may see",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}",
        access: Access::Read,
        summary: "Show an app: public keys, default channel",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "PATCH",
        path: "/v1/apps/{app}",
        access: Access::Admin,
        summary: "Change an app's public keys or default channel",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/tokens",
        access: Access::Admin,
        summary: "List the tokens this token administers (never their secrets)",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "DELETE",
        path: "/v1/tokens/{id}",
        access: Access::Admin,
        summary: "Revoke a token, at once",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/whoami",
        access: Access::Any,
        summary: "The token that authenticated the request: id, name, app, scopes",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/audit",
        access: Access::Read,
        summary:
            "The audit log of an app, newest first: every write, who made it, before and after",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/channels/{channel}/usage",
        access: Access::Read,
        summary: "Device events and distinct devices per build of a channel, hourly or daily",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/tokens/{id}/rotate",
        access: Access::Admin,
        summary:
            "Replace a token with a new secret (same name, app, scopes); the old one is revoked",
        function: Function::Register,
        success: 201,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/apps/{app}/channels",
        access: Access::Deploy,
        summary: "Create a channel",
        function: Function::Register,
        success: 201,
    },
    RouteDoc {
        method: "DELETE",
        path: "/v1/apps/{app}/channels/{channel}",
        access: Access::Deploy,
        summary: "Delete a channel (not the app's default)",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/apps/{app}/uploads",
        access: Access::Upload,
        summary: "Which of these files are missing, and where to PUT each",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "PUT",
        path: "/v1/apps/{app}/files/{sha256}",
        access: Access::Upload,
        summary: "Store one file; bytes whose SHA-256 differs are refused",
        function: Function::Register,
        success: 201,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/files/{sha256}",
        access: Access::Public,
        summary: "One file: immutable cache headers, ETag, Range",
        function: Function::Latest,
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/apps/{app}/builds",
        access: Access::Upload,
        summary: "Register a build from its signed manifest",
        function: Function::Register,
        success: 201,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/builds",
        access: Access::Read,
        summary: "List builds, newest first",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/builds/{id}",
        access: Access::Read,
        summary: "Show a build",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "PATCH",
        path: "/v1/apps/{app}/builds/{id}",
        access: Access::Deploy,
        summary: "Disable or enable a build, mark it mandatory, set native-version limits",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/builds/{id}/stats",
        access: Access::Read,
        summary: "Event counts of a build",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/channels",
        access: Access::ReadOrAnonymous,
        summary: "Channels with current build, rollout and history",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "PUT",
        path: "/v1/apps/{app}/channels/{channel}",
        access: Access::Deploy,
        summary: "Point a channel at a build, with an optional staged rollout",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/apps/{app}/channels/{channel}/rollback",
        access: Access::Deploy,
        summary: "Return the channel to where it was before its current rollout began",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/apps/{app}/channels/{channel}/rollout",
        access: Access::Deploy,
        summary: "Pause, resume, advance or abort the channel's rollout plan",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "PATCH",
        path: "/v1/apps/{app}/channels/{channel}/guard",
        access: Access::Deploy,
        summary: "Change the rollout guard's thresholds on a channel",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "PUT",
        path: "/v1/apps/{app}/key-set",
        access: Access::Admin,
        summary: "Store the next root-signed key set (its version must grow)",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/key-set",
        access: Access::Public,
        summary: "The app's key set chain: root hand-overs and the set in force",
        function: Function::Latest,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/channels/{channel}/latest",
        access: Access::Public,
        summary: "Device update lookup",
        function: Function::Latest,
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/v1/apps/{app}/events",
        access: Access::Public,
        summary: "Device event: download_complete, applied, failed, rolled_back",
        function: Function::DownloadComplete,
        success: 202,
    },
    RouteDoc {
        method: "POST",
        path: "/capgo/updates",
        access: Access::Public,
        function: Function::Latest,
        summary: "capgo-compatible update lookup (@capgo/capacitor-updater updateUrl)",
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/capgo/stats",
        access: Access::Public,
        function: Function::DownloadComplete,
        summary: "capgo-compatible device statistics (statsUrl)",
        success: 200,
    },
    RouteDoc {
        method: "POST",
        path: "/capgo/channel_self",
        access: Access::Public,
        function: Function::DownloadComplete,
        summary: "capgo-compatible: a device assigns itself to a channel that allows it",
        success: 200,
    },
    RouteDoc {
        method: "PUT",
        path: "/capgo/channel_self",
        access: Access::Public,
        function: Function::DownloadComplete,
        summary: "capgo-compatible: the device's channel",
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/capgo/channel_self",
        access: Access::Public,
        function: Function::DownloadComplete,
        summary: "capgo-compatible: channels a device may assign itself to",
        success: 200,
    },
    RouteDoc {
        method: "DELETE",
        path: "/capgo/channel_self",
        access: Access::Public,
        function: Function::DownloadComplete,
        summary:
            "capgo-compatible: back to the default channel (unsetChannel before 5.34/6.34/7.34)",
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/bundles/latest",
        access: Access::Public,
        function: Function::Latest,
        summary:
            "Capawesome-compatible update lookup (@capawesome/capacitor-live-update serverDomain)",
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/bundles/{id}/files",
        access: Access::Public,
        function: Function::Latest,
        summary: "Capawesome-compatible manifest bundle: the file list, or a redirect to one file",
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/build/latest",
        access: Access::Public,
        function: Function::Latest,
        summary: "Cartona-style update lookup",
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/build/download",
        access: Access::Public,
        function: Function::Latest,
        summary: "Cartona-style download: redirect to the build's zip",
        success: 302,
    },
    RouteDoc {
        method: "GET",
        path: "/build/download/complete",
        access: Access::Public,
        function: Function::DownloadComplete,
        summary: "Cartona-style download completion",
        success: 200,
    },
];

/// The document's operations come from the handlers' own annotations and
/// types (`#[utoipa::path]` beside each handler; `ToSchema` on the wire and
/// record types; `IntoParams` on the query types the extractors parse), so
/// parameters, bodies and answers cannot drift from the code. The route
/// table adds what the table owns (summary, required token scope, Lambda
/// function); a test holds the two to the same set of routes.
#[derive(OpenApi)]
#[openapi(
    info(title = "liveship", description = "Self-hosted, signed live updates for Capacitor apps."),
    paths(
        healthz, openapi_json,
        super::apps::create_app, super::tokens::create_token, super::uploads::uploads, super::uploads::put_file,
        super::builds::register_build, super::builds::list_builds, super::builds::show_build,
        super::builds::patch_build, super::builds::build_stats, super::channels::list_channels,
        super::channels::deploy, super::channels::rollback, super::rollouts::rollout_action, super::rollouts::patch_guard,
        super::apps::list_apps, super::apps::show_app, super::apps::patch_app,
        super::tokens::list_tokens, super::tokens::revoke_token, super::tokens::rotate_token,
        super::tokens::whoami, super::audit::list_audit, super::usage::channel_usage,
        super::channels::create_channel, super::channels::delete_channel,
        super::keys::put_key_set, super::keys::get_key_set,
        super::lookups::latest, super::files::get_file, super::events::event,
        super::capgo::capgo_updates, super::capgo::capgo_stats,
        super::capgo::capgo_channel_set, super::capgo::capgo_channel_get,
        super::capgo::capgo_channel_list, super::capgo::capgo_channel_unset,
        super::capawesome::latest_bundle, super::capawesome::bundle_files,
        super::cartona::cartona_latest,
        super::cartona::cartona_download, super::cartona::cartona_complete,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Status)))]
pub(super) async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// `GET /v1/openapi.json`.
#[utoipa::path(get, path = "/v1/openapi.json", responses((status = 200, description = "This document", body = Object)))]
pub(super) async fn openapi_json() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        DOCUMENT,
    )
}

/// The OpenAPI 3.1 document as served: [`document`], generated from the
/// code and committed (`shared/openapi.json`). Serving the committed text
/// keeps utoipa's generator, one of the largest functions in each Lambda
/// bootstrap, out of the binaries; the `the_committed_document_is_current`
/// test fails when the code and the file disagree, and
/// `LIVESHIP_BLESS=1 cargo test -p liveship-core openapi` rewrites it.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

/// The OpenAPI 3.1 document, generated from the handlers' annotations and
/// the route table.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    for r in ROUTES {
        let Some(op) = doc["paths"]
            .get_mut(r.path)
            .and_then(|p| p.get_mut(r.method.to_lowercase()))
            .and_then(Value::as_object_mut)
        else {
            continue; // the routes_match_the_annotations test fails instead
        };
        op.remove("tags"); // utoipa names the Rust module; meaningless to clients
        op.insert("summary".into(), json!(r.summary));
        op.insert(
            "operationId".into(),
            json!(format!("{} {}", r.method, r.path)),
        );
        op.insert("x-liveship-function".into(), json!(r.function.name()));
        if r.access != Access::Public {
            op.insert(
                "x-liveship-scope".into(),
                json!(format!("{:?}", r.access).to_lowercase()),
            );
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_document_is_current() {
        let generated = document();
        let committed: Value = serde_json::from_str(DOCUMENT).expect("shared/openapi.json is JSON");
        if committed != generated {
            if std::env::var_os("LIVESHIP_BLESS").is_some() {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
                let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
                std::fs::write(path, text).unwrap();
                return;
            }
            panic!(
                "shared/openapi.json is not the document the code generates: \
                 run `LIVESHIP_BLESS=1 cargo test -p liveship-core openapi` and commit it"
            );
        }
        // Byte for byte, as the bless step writes it: a refactor of the
        // handlers that changes nothing leaves the file untouched.
        assert_eq!(
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
            DOCUMENT,
            "shared/openapi.json is not byte-identical to the generated document"
        );
    }

    #[test]
    fn routes_match_the_annotations() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.to_uppercase(), p.clone()))
            })
            .collect();
        let mut table: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        documented.sort();
        table.sort();
        assert_eq!(documented, table);
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_lowercase()];
            assert_eq!(
                op.get("security").is_some(),
                r.access != Access::Public,
                "{} {}: the annotation's security and the table's access disagree",
                r.method,
                r.path
            );
        }
    }
}
