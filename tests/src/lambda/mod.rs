//! The three Lambda functions, run as AWS runs them, on loopback:
//! - [`RuntimeApi`]: the Lambda runtime API (`/2018-06-01/runtime/...`) that
//!   a function's `bootstrap` polls for events and answers;
//! - [`Gateway`]: an API Gateway HTTP API (payload format 2.0) in front of
//!   them, routing each request by [`ROUTES`](liveship_core::http::openapi::ROUTES) to the function that owns it,
//!   so the CLI and device clients run unchanged against the real binaries;
//! - [`CountingProxy`]: a reverse proxy between a function and moto that
//!   counts DynamoDB requests by operation.

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use liveship_core::http::Function;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

mod gateway;
mod proxy;
mod runtime;

pub use gateway::{api_gateway_event, api_gateway_response, route_for, Gateway};
pub use proxy::CountingProxy;
pub use runtime::{function_bin, FunctionProcess, RuntimeApi, MAX_PAYLOAD};

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
    gateway::gateway(s, req).await
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
