//! The `register` Lambda function: the CI and ops routes (apps, tokens,
//! uploads, builds, deploys, rollbacks), with write access to the stores,
//! and the rollout guard on EventBridge's schedule (infra/schedule.tf).
//!
//! State is built once per cold start from the environment (docs/deploy.md).

use liveship_core::http::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    liveship_core::lambda::run(Function::Register).await
}
