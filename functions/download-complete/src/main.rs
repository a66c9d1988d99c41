//! The `download-complete` Lambda function: device events (liveship, capgo
//! stats and channel self-assignment, Cartona-style completion); it reads
//! records and appends events, nothing else.
//!
//! State is built once per cold start from the environment (docs/deploy.md).

use liveship_core::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    liveship_core::lambda::run::<lambda::DownloadComplete>().await
}
