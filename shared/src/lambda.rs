//! How a Lambda function answers its events. API Gateway requests go to
//! the function's router through lambda_http, exactly as `lambda_http::run`
//! would send them; EventBridge's scheduled events (infra/schedule.tf) run
//! the rollout guard over every due plan instead, so plans step and halt on
//! time on channels nobody is reading.

use crate::aws::AwsSettings;
use crate::http::guard::Guard;
use crate::http::Function;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::LambdaEvent;
use serde_json::{json, Value};
use std::sync::Arc;

/// The function EventBridge's schedule invokes (infra/schedule.tf): it has
/// every write a decision needs. Any function with a guard would do; the
/// infra test holds the rule to this one.
pub const SCHEDULED_FUNCTION: Function = Function::Register;

/// `lambda_http::run`'s own wrapper of a router (public but hidden there):
/// taking the raw event first is what lets scheduled events past it.
type Adapter = lambda_http::Adapter<'static, axum::response::Response, axum::Router>;

/// True for an EventBridge scheduled event (its `source` and `detail-type`).
pub fn is_scheduled(event: &Value) -> bool {
    event["source"] == "aws.events" && event["detail-type"] == "Scheduled Event"
}

// The function types live beside the settings that assemble them.
pub use crate::aws::{Deployed, DownloadComplete, Latest, Register};

/// A function's whole life: settings from the environment once (the cold
/// start), then one event at a time until the runtime stops it.
pub async fn run<F: Deployed>() -> Result<(), lambda_http::Error> {
    init_logs();
    let settings = AwsSettings::from_env()?;
    let (router, guard) = settings.function_app_of::<F>().await?;
    let adapter = Adapter::from(router);
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event| {
        handle(adapter.clone(), guard.clone(), event)
    }))
    .await
}

/// Logs as `lambda_http`'s default subscriber writes them (stdout, no time
/// or target, JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`), at the level of
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else info. Per-target levels
/// (`liveship_core=debug,info`) work; span and field filters do not, since
/// they need env-filter's regex engine in every bootstrap.
fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = std::env::var(crate::env::AWS_LAMBDA_LOG_LEVEL)
        .or_else(|_| std::env::var(crate::env::RUST_LOG))
        .unwrap_or_default();
    let filter = log_filter(&level);
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(false);
    let json = std::env::var(crate::env::AWS_LAMBDA_LOG_FORMAT)
        .is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
}

/// The level filter of a log setting: `debug`, `INFO`, or per target
/// (`liveship_core=debug,warn`); unreadable or empty means info.
pub fn log_filter(setting: &str) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    let setting = setting.trim().to_ascii_lowercase();
    setting
        .parse::<Targets>()
        .ok()
        .filter(|_| !setting.is_empty())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

async fn handle(
    adapter: Adapter,
    guard: Option<Arc<Guard>>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_http::Error> {
    let LambdaEvent { payload, context } = event;
    if is_scheduled(&payload) {
        let guard = guard
            .ok_or("this function has no scheduled work: point the EventBridge rule at register")?;
        let changed = guard
            .tick()
            .await
            .map_err(|e| format!("the rollout tick failed: {} ({})", e.message, e.code))?;
        tracing::info!(changed, "rollout tick");
        return Ok(json!({ "rollout_tick": { "changed": changed } }));
    }
    let request: LambdaRequest = serde_json::from_value(payload)
        .map_err(|e| format!("not an API Gateway request or a scheduled event: {e}"))?;
    let Ok(response) = adapter.oneshot(LambdaEvent::new(request, context)).await;
    Ok(serde_json::to_value(response)?)
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn log_settings_read_as_lambda_writes_them() {
        // Lambda's advanced logging control sends upper case.
        let f = log_filter("DEBUG");
        assert!(f.would_enable("liveship_core::http", &Level::DEBUG));
        assert!(!f.would_enable("liveship_core::http", &Level::TRACE));
        let f = log_filter("liveship_core=debug,warn");
        assert!(f.would_enable("liveship_core::store", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
        assert!(f.would_enable("hyper", &Level::WARN));
        // Empty or unreadable settings fall back to info, not to silence.
        for setting in ["", "  ", "x=y=z"] {
            let f = log_filter(setting);
            assert!(f.would_enable("liveship_core", &Level::INFO), "{setting:?}");
            assert!(
                !f.would_enable("liveship_core", &Level::DEBUG),
                "{setting:?}"
            );
        }
    }
}
