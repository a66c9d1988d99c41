//! A small client for the liveship HTTP API, with clear errors and retries.

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Talks to one server with one token.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// Transient failures are retried this many times, with exponential backoff.
const RETRIES: u32 = 4;

impl Api {
    pub fn new(server: &str, token: Option<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .user_agent(concat!("liveship-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("creating the HTTP client")?;
        Ok(Self {
            base: server.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn require_token(&self) -> Result<()> {
        if self.token.is_none() {
            bail!("this command needs a token: pass --token, set LIVESHIP_TOKEN, or save one with `liveship login`");
        }
        Ok(())
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, url);
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends a JSON request and decodes the JSON answer; retries connection
    /// failures and 5xx answers. Errors carry the server's message.
    pub async fn json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            let mut rb = self.request(method.clone(), &url);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            match rb.send().await {
                Ok(resp) if resp.status().is_server_error() && attempt < RETRIES => {}
                Ok(resp) => return decode(method.as_str(), path, resp).await,
                Err(e) if attempt < RETRIES && (e.is_connect() || e.is_timeout()) => {}
                Err(e) => {
                    return Err(anyhow!(e)).with_context(|| {
                        format!(
                        "cannot reach the liveship server at {} (is it running? check --server)",
                        self.base
                    )
                    })
                }
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// Uploads a file to a target from `POST .../uploads`, streaming it from
    /// disk, with retries.
    pub async fn upload_file(
        &self,
        target: &liveship_core::wire::UploadTarget,
        path: &std::path::Path,
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            let file = tokio::fs::File::open(path)
                .await
                .with_context(|| format!("cannot read {}", path.display()))?;
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
            let method = Method::from_bytes(target.method.as_bytes()).unwrap_or(Method::PUT);
            let mut rb = if target.auth == "bearer" {
                self.request(method, &target.url)
            } else {
                self.http.request(method, &target.url)
            };
            for (k, v) in &target.headers {
                rb = rb.header(k, v);
            }
            rb = rb.header(reqwest::header::CONTENT_LENGTH, target.size);
            match rb.body(body).send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) if resp.status().is_server_error() && attempt < RETRIES => {}
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    return Err(ServerError {
                        status,
                        what: format!("upload of {}", path.display()),
                        body: serde_json::from_str(&text).ok(),
                        text,
                    }
                    .into());
                }
                Err(_) if attempt < RETRIES => {}
                Err(e) => {
                    return Err(anyhow!(e)).with_context(|| format!("uploading {}", path.display()))
                }
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2u64.pow(attempt.min(6)))
}

/// An error answer from the server, kept whole so commands can react to
/// its code (and `--json` output can carry its details).
#[derive(Debug)]
pub struct ServerError {
    pub status: StatusCode,
    pub what: String,
    pub body: Option<liveship_core::wire::ErrorBody>,
    pub text: String,
}

impl ServerError {
    /// The server's error code, such as `build_live`.
    pub fn code(&self) -> Option<&str> {
        self.body.as_ref().map(|b| b.error.as_str())
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hint = match self.status {
            StatusCode::UNAUTHORIZED => " (check --token / LIVESHIP_TOKEN)",
            StatusCode::FORBIDDEN => " (the token lacks the scope or app for this)",
            _ => "",
        };
        let message = match &self.body {
            Some(b) => format!("{}: {}", b.error, b.message),
            None => self.text.chars().take(300).collect(),
        };
        write!(f, "{} failed ({}): {message}{hint}", self.what, self.status)
    }
}

impl std::error::Error for ServerError {}

async fn decode<T: DeserializeOwned>(
    method: &str,
    path: &str,
    resp: reqwest::Response,
) -> Result<T> {
    let status = resp.status();
    let text = resp.text().await.context("reading the server's answer")?;
    if !status.is_success() {
        return Err(ServerError {
            status,
            what: format!("{method} {path}"),
            body: serde_json::from_str(&text).ok(),
            text,
        }
        .into());
    }
    serde_json::from_str(&text).with_context(|| {
        format!("the server's answer to {method} {path} is not what this CLI expects")
    })
}
