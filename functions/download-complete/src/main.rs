//! The `download-complete` Lambda function: device events (liveship, capgo
//! stats and channel self-assignment, Cartona-style completion); it reads
//! records and appends events, nothing else.
//!
//! State is built once per cold start from the environment (docs/deploy.md).

use liveship_core::aws::AwsSettings;
use liveship_core::http::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = AwsSettings::from_env()?;
    let router = settings.function_router(Function::DownloadComplete).await?;
    lambda_http::run(router).await
}
