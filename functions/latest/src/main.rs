//! The `latest` Lambda function: device update lookups (liveship, capgo and
//! Cartona-style) and file downloads, with read-only stores and a short-lived
//! cache of channel state kept while the function is warm.
//!
//! State is built once per cold start from the environment (docs/deploy.md).

use liveship_core::aws::AwsSettings;
use liveship_core::http::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = AwsSettings::from_env()?;
    let router = settings.function_router(Function::Latest).await?;
    lambda_http::run(router).await
}
