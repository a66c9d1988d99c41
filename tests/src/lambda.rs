//! The three Lambda functions, run as AWS runs them, on loopback:
//! - [`RuntimeApi`]: the Lambda runtime API (`/2018-06-01/runtime/...`) that
//!   a function's `bootstrap` polls for events and answers;
//! - [`Gateway`]: an API Gateway HTTP API (payload format 2.0) in front of
//!   them, routing each request by [`ROUTES`] to the function that owns it,
//!   so the CLI and device clients run unchanged against the real binaries;
//! - [`CountingProxy`]: a reverse proxy between a function and moto that
//!   counts DynamoDB requests by operation.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use liveship_core::http::console::CONSOLE_ROUTES;
use liveship_core::http::openapi::{Access, RouteDoc, ROUTES};
use liveship_core::http::Function;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Largest request payload Lambda accepts (synchronous invocation).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// The binary of a function (`target/<profile>/<name>`), built on first use
/// with `cargo build -p <name>`; `LIVESHIP_FUNCTIONS_DIR` overrides the
/// directory (scripts/test sets it, and the benchmark points it at release
/// builds). A directory in cargo-lambda's layout, `<dir>/<name>/bootstrap`,
/// works too, so the packaged arm64 bootstraps can be tested as deployed
/// (scripts/check-arm64).
pub fn function_bin(function: Function) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let name = function.name();
    if let Ok(dir) = std::env::var("LIVESHIP_FUNCTIONS_DIR") {
        let packaged = PathBuf::from(&dir).join(name).join("bootstrap");
        if packaged.is_file() {
            return packaged;
        }
        return PathBuf::from(dir).join(name);
    }
    BUILT.get_or_init(|| crate::build::cargo_build(&Function::ALL.map(Function::name)));
    crate::build::profile_dir().join(name)
}

type Reply = oneshot::Sender<Result<Value, String>>;

struct Invocation {
    event: Value,
    reply: Reply,
}

#[derive(Clone)]
struct RuntimeState {
    queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Invocation>>>,
    pending: Arc<Mutex<HashMap<String, Reply>>>,
    init_error: Arc<Mutex<Option<String>>>,
    next_id: Arc<AtomicU64>,
}

/// The Lambda runtime API of one function instance.
#[derive(Debug)]
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub addr: String,
    sender: mpsc::Sender<Invocation>,
}

impl RuntimeApi {
    /// Serves the runtime API on a free loopback port (on the current runtime).
    pub async fn start() -> Self {
        let (sender, rx) = mpsc::channel(64);
        let state = RuntimeState {
            queue: Arc::new(tokio::sync::Mutex::new(rx)),
            pending: Arc::default(),
            init_error: Arc::default(),
            next_id: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|s, p, b| finish(s, p, b, true)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|s, p, b| finish(s, p, b, false)),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, sender }
    }

    /// Hands `event` to the function and waits for its answer (the response
    /// payload), or the error it reported.
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Invocation { event, reply })
            .await
            .map_err(|_| "the runtime API has stopped".to_owned())?;
        match tokio::time::timeout(Duration::from_secs(60), answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the invocation was dropped".into()),
            Err(_) => Err("the function did not answer within 60 s".into()),
        }
    }
}

async fn next(State(s): State<RuntimeState>) -> Response {
    let Some(inv) = s.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let id = format!("req-{}", s.next_id.fetch_add(1, Ordering::SeqCst));
    s.pending.lock().unwrap().insert(id.clone(), inv.reply);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    headers.insert("lambda-runtime-deadline-ms", (deadline as u64).into());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:liveship"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (headers, inv.event.to_string()).into_response()
}

async fn finish(
    State(s): State<RuntimeState>,
    Path(id): Path<String>,
    body: Bytes,
    ok: bool,
) -> StatusCode {
    let Some(reply) = s.pending.lock().unwrap().remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let _ = reply.send(if ok {
        serde_json::from_str(&text).map_err(|e| format!("response is not JSON ({e}): {text}"))
    } else {
        Err(text)
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<RuntimeState>, body: Bytes) -> StatusCode {
    *s.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// One function process: its `bootstrap` binary polling its own runtime API.
#[derive(Debug)]
pub struct FunctionProcess {
    /// Which function.
    pub function: Function,
    runtime: RuntimeApi,
    child: std::process::Child,
    started: Instant,
    /// Process start to the first answered request.
    pub first_answer: Mutex<Option<Duration>>,
    log: PathBuf,
}

impl FunctionProcess {
    /// Starts `function` with the Lambda environment and `env`.
    pub async fn start(
        function: Function,
        env: &[(String, String)],
        log_dir: &std::path::Path,
    ) -> Self {
        let runtime = RuntimeApi::start().await;
        let log = log_dir.join(format!("{}.log", function.name()));
        let out = std::fs::File::create(&log).expect("function log");
        let started = Instant::now();
        // LIVESHIP_FUNCTION_RUNNER runs the binary through another program,
        // as cargo's target runner does (words split on whitespace):
        // `qemu-aarch64-static -L /usr/aarch64-linux-gnu` runs the arm64
        // bootstraps on an x86_64 machine.
        let runner = std::env::var("LIVESHIP_FUNCTION_RUNNER").unwrap_or_default();
        let mut words = runner.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut c = std::process::Command::new(program);
                c.args(words).arg(function_bin(function));
                c
            }
            None => std::process::Command::new(function_bin(function)),
        };
        let child = cmd
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", &runtime.addr)
            .env(
                "AWS_LAMBDA_FUNCTION_NAME",
                format!("liveship-{}", function.name()),
            )
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/liveship-{}", function.name()),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", function.name()));
        Self {
            function,
            runtime,
            child,
            started,
            first_answer: Mutex::new(None),
            log,
        }
    }

    /// Invokes the function with an API Gateway event; the response payload.
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let r = self.runtime.invoke(event).await;
        let mut first = self.first_answer.lock().unwrap();
        if first.is_none() {
            *first = Some(self.started.elapsed());
        }
        r.map_err(|e| format!("{e}\n--- {} log ---\n{}", self.function.name(), self.log()))
    }

    /// What the function logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    functions: HashMap<Function, FunctionProcess>,
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

async fn gateway(State(g): State<Arc<Gateway>>, req: Request) -> Response {
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

/// A reverse proxy to moto that counts DynamoDB requests by operation
/// (`X-Amz-Target`), so tests can measure what a function reads.
#[derive(Debug, Clone, Default)]
pub struct CountingProxy {
    counts: Arc<Mutex<HashMap<String, u64>>>,
    /// Requests by (operation, table).
    by_table: Arc<Mutex<HashMap<(String, String), u64>>>,
    /// (IAM action, table name) of every DynamoDB request; ("s3:METHOD", "")
    /// of every other request.
    calls: Arc<Mutex<std::collections::BTreeSet<(String, String)>>>,
}

/// Tables a DynamoDB request body names.
/// The IAM (action, table) pairs one DynamoDB request needs. A transaction
/// is not an IAM action of its own: each of its items needs the action of
/// its kind (Put: PutItem, ConditionCheck: ConditionCheckItem, ...).
fn actions_of(op: &str, body: &[u8]) -> Vec<(String, String)> {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(t) = v["TableName"].as_str() {
        out.push((format!("dynamodb:{op}"), t.to_owned()));
    }
    if let Some(m) = v["RequestItems"].as_object() {
        out.extend(m.keys().map(|t| (format!("dynamodb:{op}"), t.clone())));
    }
    for item in v["TransactItems"].as_array().into_iter().flatten() {
        for (kind, inner) in item.as_object().into_iter().flatten() {
            if let Some(t) = inner["TableName"].as_str() {
                let action = match kind.as_str() {
                    "ConditionCheck" => "ConditionCheckItem".to_owned(),
                    other => format!("{other}Item"),
                };
                out.push((format!("dynamodb:{action}"), t.to_owned()));
            }
        }
    }
    out
}

impl CountingProxy {
    /// DynamoDB requests so far, by operation.
    pub fn dynamodb(&self) -> HashMap<String, u64> {
        self.counts.lock().unwrap().clone()
    }

    /// DynamoDB requests so far by (operation, table name).
    pub fn dynamodb_by_table(&self) -> HashMap<(String, String), u64> {
        self.by_table.lock().unwrap().clone()
    }

    /// Total DynamoDB requests so far.
    pub fn dynamodb_total(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    /// Every (action, table) seen so far.
    pub fn calls(&self) -> std::collections::BTreeSet<(String, String)> {
        self.calls.lock().unwrap().clone()
    }

    /// Starts forwarding from a free loopback port to `upstream`; its URL.
    async fn start(&self, upstream: String) -> String {
        let client = crate::build::http();
        let (counts, calls, by_table) = (
            self.counts.clone(),
            self.calls.clone(),
            self.by_table.clone(),
        );
        let app = Router::new().fallback(move |req: Request| {
            let (client, counts, calls, by_table, upstream) = (
                client.clone(),
                counts.clone(),
                calls.clone(),
                by_table.clone(),
                upstream.clone(),
            );
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                if let Some(op) = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
                {
                    *counts.lock().unwrap().entry(op.to_owned()).or_default() += 1;
                    let actions = actions_of(op, &body);
                    for (_, table) in &actions {
                        *by_table
                            .lock()
                            .unwrap()
                            .entry((op.to_owned(), table.clone()))
                            .or_default() += 1;
                    }
                    calls.lock().unwrap().extend(actions);
                } else {
                    calls
                        .lock()
                        .unwrap()
                        .insert((format!("s3:{}", parts.method), String::new()));
                }
                let url = format!(
                    "{upstream}{}",
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/")
                );
                let mut rb = client.request(parts.method.clone(), url).body(body);
                for (k, v) in &parts.headers {
                    if k != "host" && k != "content-length" {
                        rb = rb.header(k, v);
                    }
                }
                match rb.send().await {
                    Ok(r) => {
                        let mut resp = Response::builder().status(r.status());
                        for (k, v) in r.headers() {
                            // content-length stays: a HEAD answer's size is in it.
                            if k != "transfer-encoding" {
                                resp = resp.header(k, v);
                            }
                        }
                        let bytes = r.bytes().await.unwrap_or_default();
                        resp.body(axum::body::Body::from(bytes)).unwrap()
                    }
                    Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }
}

/// The whole Lambda deployment on loopback: API Gateway, the three function
/// processes, moto behind a counting proxy. Runs on its own thread and
/// runtime, so tests may block (running the CLI) while it serves.
#[derive(Debug)]
pub struct Stack {
    /// The API URL (what `LIVESHIP_SERVER` and devices use).
    pub url: String,
    /// The gateway, for invocation counts, start times and logs.
    pub gateway: Arc<Gateway>,
    /// What each function asked of moto (DynamoDB and S3).
    pub proxies: HashMap<Function, CountingProxy>,
    /// The environment the functions run with.
    pub env: Vec<(String, String)>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stack {
    /// Starts the functions with `env` (bucket, table prefix, credentials)
    /// against `moto_url`; the bucket and tables must exist.
    pub fn start(moto_url: &str, env: &[(String, String)], log_dir: &std::path::Path) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let (moto_url, env, log_dir) = (moto_url.to_owned(), env.to_vec(), log_dir.to_owned());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = format!("http://{}", listener.local_addr().unwrap());
                let mut env = env;
                env.push(("LIVESHIP_PUBLIC_URL".into(), url.clone()));
                let mut functions = HashMap::new();
                let mut proxies = HashMap::new();
                for f in Function::ALL {
                    // Each function reaches moto through its own proxy.
                    let proxy = CountingProxy::default();
                    let mut env = env.clone();
                    env.push((
                        "AWS_ENDPOINT_URL".into(),
                        proxy.start(moto_url.clone()).await,
                    ));
                    functions.insert(f, FunctionProcess::start(f, &env, &log_dir).await);
                    proxies.insert(f, proxy);
                }
                env.push(("AWS_ENDPOINT_URL".into(), moto_url.clone()));
                let gateway = Arc::new(Gateway {
                    functions,
                    invocations: Mutex::default(),
                });
                let app = Router::new()
                    .fallback(gateway_handler)
                    .with_state(gateway.clone());
                tokio::spawn(async move { axum::serve(listener, app).await });
                tx.send((url, gateway, proxies, env)).unwrap();
                let _ = stopped.await;
            });
        });
        let (url, gateway, proxies, env) = rx.recv().expect("the Lambda stack did not start");
        Self {
            url,
            gateway,
            proxies,
            env,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

async fn gateway_handler(s: State<Arc<Gateway>>, req: Request) -> Response {
    gateway(s, req).await
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Pushes an API Gateway event through lambda_http into `router`, as the
/// runtime does inside a function; the response payload it would return.
pub async fn invoke_in_process(router: Router, event: Value) -> Value {
    use tower::ServiceExt;
    let request: lambda_http::request::LambdaRequest =
        serde_json::from_value(event).expect("an API Gateway v2 event");
    let adapter = lambda_http::Adapter::from(router);
    let answer = adapter
        .oneshot(lambda_http::LambdaEvent::new(
            request,
            lambda_http::Context::default(),
        ))
        .await
        .expect("infallible");
    serde_json::to_value(answer).expect("a response payload")
}
