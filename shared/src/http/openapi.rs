//! The API description: one table of routes, from which `GET
//! /v1/openapi.json` is generated and against which the tests check the
//! router (every listed route answers, and with the listed authorisation).

use serde_json::{json, Map, Value};

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
        access: Access::Deploy,
        summary: "List builds, newest first",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/builds/{id}",
        access: Access::Deploy,
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
        access: Access::Deploy,
        summary: "Event counts of a build",
        function: Function::Register,
        success: 200,
    },
    RouteDoc {
        method: "GET",
        path: "/v1/apps/{app}/channels",
        access: Access::Deploy,
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
        summary: "Go back to the channel's previous build",
        function: Function::Register,
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

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

/// The OpenAPI 3 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method, r.path),
            "parameters": path_params(r.path),
            "responses": {
                r.success.to_string(): {"description": "success", "content": {"application/json": {}}},
                "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if r.access != Access::Public {
            op["security"] = json!([{"bearer": []}]);
            op["x-liveship-scope"] = json!(format!("{:?}", r.access).to_lowercase());
        }
        if r.path.ends_with("/latest") {
            let params = op["parameters"].as_array_mut().expect("array");
            for (name, required) in [
                ("device_id", true),
                ("platform", false),
                ("native_version", false),
                ("current_build", false),
            ] {
                params.push(json!({"name": name, "in": "query", "required": required, "schema": {"type": "string"}}));
            }
        }
        if matches!(r.method, "POST" | "PUT" | "PATCH") && !r.path.ends_with("/rollback") {
            let content = if r.path.contains("/files/") {
                json!({"application/octet-stream": {}})
            } else {
                json!({"application/json": {}})
            };
            op["requestBody"] = json!({"required": true, "content": content});
        }
        paths
            .entry(r.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(r.method.to_lowercase(), op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "liveship", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Self-hosted, signed live updates for Capacitor apps."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}}
        }
    })
}
