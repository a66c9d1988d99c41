//! Configuration of the AWS backends, read from the environment once at
//! start (the same names infra/ sets on the Lambda functions).

use crate::env;
use crate::store::dynamodb::DynamoRecords;
use crate::store::s3::S3Blobs;

/// A required variable is missing.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not set; the AWS backend needs it (see docs/deploy.md)")]
pub struct MissingVar(pub &'static str);

/// Everything the AWS backends need.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `LIVESHIP_BUCKET`.
    pub bucket: String,
    /// `LIVESHIP_TABLE_PREFIX`.
    pub table_prefix: String,
    /// `LIVESHIP_PUBLIC_BASE_URL`.
    pub public_base_url: Option<String>,
    /// `AWS_ENDPOINT_URL`: when set, S3 uses path-style addressing, which
    /// moto and MinIO need.
    pub endpoint_url: Option<String>,
    /// `LIVESHIP_EVENT_RETENTION_DAYS` (default 30).
    pub event_retention_days: u32,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl AwsSettings {
    /// Reads the settings from the environment.
    pub fn from_env() -> Result<Self, MissingVar> {
        Ok(Self {
            bucket: var(env::BUCKET).ok_or(MissingVar(env::BUCKET))?,
            table_prefix: var(env::TABLE_PREFIX).ok_or(MissingVar(env::TABLE_PREFIX))?,
            public_base_url: var(env::PUBLIC_BASE_URL),
            endpoint_url: var(env::AWS_ENDPOINT_URL),
            event_retention_days: var(env::EVENT_RETENTION_DAYS)
                .and_then(|d| d.parse().ok())
                .unwrap_or(30),
        })
    }

    /// Builds both stores from the standard AWS configuration chain
    /// (credentials, region, `AWS_ENDPOINT_URL`).
    pub async fn connect(&self) -> (S3Blobs, DynamoRecords) {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let s3_conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(self.endpoint_url.is_some())
            .build();
        let blobs = S3Blobs::new(
            aws_sdk_s3::Client::from_conf(s3_conf),
            self.bucket.clone(),
            self.public_base_url.clone(),
        );
        let records = DynamoRecords::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            self.table_prefix.clone(),
        )
        .with_event_retention_days(self.event_retention_days);
        (blobs, records)
    }
}
