//! API Gateway (HTTP API, payload format 2.0) in front of the functions: routing by the route table, and the events and answers of the Lambda proxy integration.

use super::runtime::*;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use liveship_core::http::console::CONSOLE_ROUTES;
use liveship_core::http::openapi::{Access, RouteDoc, ROUTES};
use liveship_core::http::Function;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Matches `path` against a route template; the path parameters.
fn match_template(template: &str, path: &str) -> Option<Map<String, Value>> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    let mut params = Map::new();
    // A greedy last segment (`{proxy+}`) takes the rest of the path.
    if let Some(name) = t
        .last()
        .and_then(|l| l.strip_prefix('{'))
        .and_then(|l| l.strip_suffix("+}"))
    {
        let n = t.len() - 1;
        if p.len() <= n || p[..n] != t[..n] || p[n..].iter().all(|s| s.is_empty()) {
            return None;
        }
        params.insert(name.to_owned(), json!(p[n..].join("/")));
        return Some(params);
    }
    if t.len() != p.len() {
        return None;
    }
    for (t, p) in t.iter().zip(&p) {
        match t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            Some(name) if !p.is_empty() => {
                params.insert(name.to_owned(), json!(percent_decode(p)));
            }
            Some(_) => return None,
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

/// The console's API Gateway routes (infra/api.tf, `CONSOLE_ROUTES`), as
/// route entries of the register function.
static CONSOLE: LazyLock<Vec<RouteDoc>> = LazyLock::new(|| {
    CONSOLE_ROUTES
        .iter()
        .map(|k| {
            let (method, path) = k.split_once(' ').expect("a route key");
            RouteDoc {
                method,
                path,
                access: Access::Any,
                function: Function::Register,
                summary: "release console",
                success: 200,
            }
        })
        .collect()
});

/// The route (of [`ROUTES`] and the console's, the tables infra/ wires)
/// that serves a request.
pub fn route_for(method: &str, path: &str) -> Option<(&'static RouteDoc, Map<String, Value>)> {
    ROUTES
        .iter()
        .chain(CONSOLE.iter())
        .filter(|r| r.method == method)
        .find_map(|r| match_template(r.path, path).map(|p| (r, p)))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_text(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        c.starts_with("text/")
            || c.starts_with("application/json")
            || c.starts_with("application/x-www-form-urlencoded")
    })
}

/// The API Gateway HTTP API event (payload format 2.0) for a request,
/// as API Gateway builds it: lower-case headers joined by commas, cookies
/// apart, non-text bodies base64-encoded.
pub fn api_gateway_event(
    route: &RouteDoc,
    params: Map<String, Value>,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Value {
    let mut h: Map<String, Value> = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let v = value.to_str().unwrap_or_default();
        if name == "cookie" {
            cookies.extend(v.split("; ").map(|c| json!(c)));
            continue;
        }
        match h.get_mut(name.as_str()) {
            Some(Value::String(prev)) => *prev = format!("{prev},{v}"),
            _ => {
                h.insert(name.as_str().to_owned(), json!(v));
            }
        }
    }
    let mut q: Map<String, Value> = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match q.get_mut(&k) {
            Some(Value::String(prev)) => *prev = format!("{prev},{v}"),
            _ => {
                q.insert(k, json!(v));
            }
        }
    }
    let text = is_text(headers.get("content-type").and_then(|v| v.to_str().ok()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let route_key = format!("{} {}", route.method, route.path);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": format!("local-{}", now.as_nanos()),
            "routeKey": route_key,
            "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": !body.is_empty() && !text,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !q.is_empty() {
        event["queryStringParameters"] = Value::Object(q);
    }
    if !params.is_empty() {
        event["pathParameters"] = Value::Object(params);
    }
    if !body.is_empty() {
        event["body"] = if text {
            json!(String::from_utf8_lossy(body))
        } else {
            json!(B64.encode(body))
        };
    }
    event
}

/// Turns a function's answer (payload format 2.0 response) into HTTP.
pub fn api_gateway_response(answer: &Value) -> Result<Response, String> {
    let status = answer["statusCode"]
        .as_u64()
        .ok_or_else(|| format!("no statusCode in {answer}"))?;
    let mut resp = Response::builder().status(status as u16);
    if let Some(h) = answer["headers"].as_object() {
        for (k, v) in h {
            resp = resp.header(k, v.as_str().unwrap_or_default());
        }
    }
    if let Some(h) = answer["multiValueHeaders"].as_object() {
        for (k, vs) in h {
            if answer["headers"].get(k).is_some() {
                continue;
            }
            for v in vs.as_array().into_iter().flatten() {
                resp = resp.header(k, v.as_str().unwrap_or_default());
            }
        }
    }
    for c in answer["cookies"].as_array().into_iter().flatten() {
        resp = resp.header("set-cookie", c.as_str().unwrap_or_default());
    }
    let body = match answer["body"].as_str() {
        None => Vec::new(),
        Some(b) if answer["isBase64Encoded"] == json!(true) => {
            B64.decode(b).map_err(|e| format!("bad base64 body: {e}"))?
        }
        Some(b) => b.as_bytes().to_vec(),
    };
    resp.body(axum::body::Body::from(body))
        .map_err(|e| e.to_string())
}

/// API Gateway in front of the three function processes.
#[derive(Debug)]
pub struct Gateway {
    pub(crate) functions: HashMap<Function, FunctionProcess>,
    /// Invocations per function.
    pub invocations: Mutex<HashMap<Function, u64>>,
}

impl Gateway {
    /// One function's process, to invoke with events other than requests.
    pub fn function(&self, function: Function) -> &FunctionProcess {
        &self.functions[&function]
    }
}

impl Gateway {
    /// Each function's time from process start to its first answer.
    pub fn first_answers(&self) -> Vec<(Function, Option<Duration>)> {
        Function::ALL
            .iter()
            .map(|f| (*f, *self.functions[f].first_answer.lock().unwrap()))
            .collect()
    }

    /// What every function logged.
    pub fn logs(&self) -> String {
        self.functions
            .values()
            .map(|p| format!("--- {} ---\n{}", p.function.name(), p.log()))
            .collect()
    }
}

pub(crate) async fn gateway(State(g): State<Arc<Gateway>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let Some((route, params)) = route_for(parts.method.as_str(), &path) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Not Found"})),
        )
            .into_response();
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_PAYLOAD).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(json!({"message": "Request Entity Too Large"})),
        )
            .into_response();
    };
    let event = api_gateway_event(
        route,
        params,
        &parts.method,
        &path,
        &query,
        &parts.headers,
        &body,
    );
    *g.invocations
        .lock()
        .unwrap()
        .entry(route.function)
        .or_default() += 1;
    match g.functions[&route.function].invoke(event).await {
        Ok(answer) => api_gateway_response(&answer).unwrap_or_else(|e| {
            (StatusCode::BAD_GATEWAY, axum::Json(json!({"message": e}))).into_response()
        }),
        Err(e) => {
            eprintln!("{e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "Internal Server Error"})),
            )
                .into_response()
        }
    }
}
