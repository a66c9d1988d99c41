//! The `latest` Lambda function: device update lookups (liveship, capgo and
//! Cartona-style) and file downloads, with read-only stores and a short-lived
//! cache of channel state kept while the function is warm.
//!
//! State is built once per cold start from the environment (docs/deploy.md).

use liveship_core::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    liveship_core::lambda::run::<lambda::Latest>().await
}
