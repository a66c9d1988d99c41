//! The `register` Lambda function: the CI and ops routes (apps, tokens,
//! uploads, builds, deploys, rollbacks), with write access to the stores,
//! and the rollout guard on EventBridge's schedule (infra/schedule.tf).
//!
//! State is built once per cold start from the environment (docs/deploy.md).

use liveship_core::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    liveship_core::lambda::run::<lambda::Register>().await
}
