//! The Lambda runtime API (`/2018-06-01/runtime/...`) that a function's
//! `bootstrap` polls for events and answers, and the function processes.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use liveship_core::http::Function;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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
