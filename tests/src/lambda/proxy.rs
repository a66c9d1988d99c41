//! A reverse proxy between a function and moto that counts DynamoDB requests by operation.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    pub(crate) async fn start(&self, upstream: String) -> String {
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
