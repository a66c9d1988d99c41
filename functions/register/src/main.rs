//! The `register` Lambda function: the CI and ops routes (apps, tokens,
//! uploads, builds, deploys, rollbacks), with write access to the stores.
//!
//! State is built once per cold start from the environment (docs/deploy.md).

use liveship_core::aws::AwsSettings;
use liveship_core::http::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = AwsSettings::from_env()?;
    let router = settings.function_router(Function::Register).await?;
    lambda_http::run(router).await
}
