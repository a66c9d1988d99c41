//! `liveship healthcheck`: asks a running `liveship serve` for `/healthz`,
//! for container health checks (the image has no curl) and scripts.

use crate::output::{Failure, Output};
use anyhow::{anyhow, Context};
use clap::Args;
use liveship_core::env;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server's listen address, as `serve --listen` takes it; a
    /// wildcard host (0.0.0.0 or ::) is asked on loopback.
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Ask this URL instead (a server elsewhere, or behind a proxy).
    #[arg(long)]
    url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

/// The `/healthz` URL of a server listening on `listen`.
fn health_url(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8080"));
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "[::]" => "[::1]",
        h => h,
    };
    format!("http://{host}:{port}/healthz")
}

/// Exit 0 when the server answers 200, 1 otherwise, saying why.
pub fn healthcheck(a: HealthArgs, out: &Output) -> Result<Value, Failure> {
    let url = a.url.unwrap_or_else(|| health_url(&a.listen));
    let status = crate::remote::runtime()?.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(a.timeout))
            .build()?;
        let status = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("no answer from {url}; is `liveship serve` running?"))?
            .status();
        anyhow::Ok(status)
    })?;
    if !status.is_success() {
        return Err(
            anyhow!("{url} answered {status}: the server is not healthy; see its log").into(),
        );
    }
    out.say(format!("{url}: healthy"));
    Ok(json!({"url": url, "status": status.as_u16()}))
}

#[cfg(test)]
mod tests {
    use super::health_url;

    #[test]
    fn wildcard_listen_addresses_are_asked_on_loopback() {
        assert_eq!(health_url("0.0.0.0:8080"), "http://127.0.0.1:8080/healthz");
        assert_eq!(health_url("[::]:9000"), "http://[::1]:9000/healthz");
        assert_eq!(health_url("10.0.0.5:80"), "http://10.0.0.5:80/healthz");
    }
}
