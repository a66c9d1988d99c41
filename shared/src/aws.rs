//! Configuration of the AWS backends, read from the environment once at
//! start (the same names infra/ sets on the Lambda functions).

use crate::env;
use crate::http::guard::Guard;
use crate::http::{self, Function, Stores, Urls};
use crate::store::dynamodb::DynamoRecords;
use crate::store::s3::S3Blobs;
use crate::store::{NoBucket, ReadOnly};

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
    /// Days audit entries are kept (DynamoDB TTL).
    pub audit_retention_days: u32,
    /// `LIVESHIP_PUBLIC_URL`: where clients reach the API (required by the
    /// Lambda functions, which cannot know their API Gateway URL).
    pub public_url: Option<String>,
    /// `LIVESHIP_CACHE_TTL_SECONDS` (default 5).
    pub cache_ttl: std::time::Duration,
    /// `LIVESHIP_WEBHOOK_URL` (a secret: not printed by `Debug`).
    pub webhook_url: Option<Secret>,
    /// `LIVESHIP_WEBHOOK_SECRET`.
    pub webhook_secret: Option<Secret>,
}

/// A setting that must not reach a log.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Default of `LIVESHIP_CACHE_TTL_SECONDS`.
pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 5;

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
            audit_retention_days: var(env::AUDIT_RETENTION_DAYS)
                .and_then(|d| d.parse().ok())
                .unwrap_or(365),
            public_url: var(env::PUBLIC_URL),
            cache_ttl: std::time::Duration::from_secs(
                var(env::CACHE_TTL_SECONDS)
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(DEFAULT_CACHE_TTL_SECONDS),
            ),
            webhook_url: var(env::WEBHOOK_URL).map(Secret),
            webhook_secret: var(env::WEBHOOK_SECRET).map(Secret),
        })
        .inspect(|_| {
            if let Some(path) = var(env::CLOCK_FILE) {
                crate::model::use_clock_file(path.into());
            }
        })
    }

    /// The webhook rollout decisions are posted to, if one is set.
    pub fn webhook(&self) -> Option<http::guard::Webhook> {
        let url = self.webhook_url.as_ref()?;
        Some(http::guard::Webhook::new(
            url.0.clone(),
            self.webhook_secret.as_ref().map(|s| s.0.clone()),
        ))
    }

    /// Builds both stores from the standard AWS configuration chain
    /// (credentials, region, `AWS_ENDPOINT_URL`).
    pub async fn connect(&self) -> (S3Blobs, DynamoRecords) {
        let sdk = sdk_config().await;
        (self.blobs(&sdk), self.records(&sdk))
    }

    fn blobs(&self, sdk: &aws_config::SdkConfig) -> S3Blobs {
        let s3_conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(self.endpoint_url.is_some())
            .build();
        S3Blobs::new(
            aws_sdk_s3::Client::from_conf(s3_conf),
            self.bucket.clone(),
            self.public_base_url.clone(),
        )
    }

    fn records(&self, sdk: &aws_config::SdkConfig) -> DynamoRecords {
        DynamoRecords::new(
            aws_sdk_dynamodb::Client::new(sdk),
            self.table_prefix.clone(),
        )
        .with_event_retention_days(self.event_retention_days)
        .with_audit_retention_days(self.audit_retention_days)
    }
}

impl AwsSettings {
    /// The SDK configuration of a Lambda function, from the variables the
    /// Lambda runtime sets: the region (`AWS_REGION`) and the role's
    /// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`), and `AWS_ENDPOINT_URL` when set. Unlike
    /// [`sdk_config`] it reads no profile files, instance metadata, SSO or
    /// STS, which Lambda never needs: leaving them out keeps their code out
    /// of every bootstrap.
    pub fn lambda_sdk_config(&self) -> Result<aws_config::SdkConfig, MissingVar> {
        use aws_sdk_s3::config::{BehaviorVersion, Region, SharedCredentialsProvider};
        let region = var(env::AWS_REGION)
            .or_else(|| var(env::AWS_DEFAULT_REGION))
            .ok_or(MissingVar(env::AWS_REGION))?;
        let mut sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            ))
            .http_client(crate::https::sdk::client());
        if let Some(url) = &self.endpoint_url {
            sdk = sdk.endpoint_url(url);
        }
        Ok(sdk.build())
    }
}

/// The standard AWS configuration chain (credentials, region,
/// `AWS_ENDPOINT_URL`), with requests sent by [`crate::https`].
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_loader().load().await
}

/// [`sdk_config`] before loading, for callers that set more (a region,
/// test credentials).
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::https::sdk::client())
}

impl AwsSettings {
    /// The router of one Lambda function, on stores built once (at cold
    /// start) from these settings.
    pub async fn function_router(&self, function: Function) -> Result<axum::Router, MissingVar> {
        Ok(self.function_app(function).await?.0)
    }

    /// [`Self::function_router`] and the function's rollout guard.
    pub async fn function_app(
        &self,
        function: Function,
    ) -> Result<(axum::Router, Option<std::sync::Arc<Guard>>), MissingVar> {
        match function {
            Function::Register => self.function_app_of::<Register>().await,
            Function::Latest => self.function_app_of::<Latest>().await,
            Function::DownloadComplete => self.function_app_of::<DownloadComplete>().await,
        }
    }

    /// [`Self::function_app`] for a function known at compile time: the
    /// constant reaches the (inlined) router and store choices, so only its
    /// routes and the store operations they call are linked (see
    /// [`Deployed`]).
    pub async fn function_app_of<F: Deployed>(
        &self,
    ) -> Result<(axum::Router, Option<std::sync::Arc<Guard>>), MissingVar> {
        let (stores, urls) = self.stores::<F>()?;
        Ok(http::function_app(
            F::FUNCTION,
            stores,
            urls,
            self.cache_ttl,
            self.webhook(),
        ))
    }

    /// The stores a function may use, as infra/iam.tf grants them: the
    /// device function reads blobs and never writes one; the event function
    /// has no bucket at all (so it builds no S3 client).
    fn stores<F: Deployed>(&self) -> Result<(Stores, Urls), MissingVar> {
        let public_url = self
            .public_url
            .as_deref()
            .ok_or(MissingVar(env::PUBLIC_URL))?;
        let sdk = self.lambda_sdk_config()?;
        let blobs: std::sync::Arc<dyn crate::store::BlobWrite> = match F::FUNCTION {
            Function::Register => std::sync::Arc::new(self.blobs(&sdk)),
            Function::Latest => std::sync::Arc::new(ReadOnly(self.blobs(&sdk))),
            Function::DownloadComplete => std::sync::Arc::new(ReadOnly(NoBucket)),
        };
        let records = std::sync::Arc::new(self.records(&sdk));
        let stores = Stores {
            records: records.clone(),
            events: records,
            blobs,
        };
        Ok((stores, Urls::new(public_url)))
    }
}

/// One Lambda function, as a type: `lambda::run` is generic over it so that each
/// binary is compiled with its function as a constant and links only the
/// routes that function serves (about half the code of all three).
pub trait Deployed {
    /// Which function this is.
    const FUNCTION: Function;
}

/// The `register` function (CI, ops and console routes).
#[derive(Debug)]
pub struct Register;
/// The `latest` function (device lookups and downloads).
#[derive(Debug)]
pub struct Latest;
/// The `download-complete` function (device events).
#[derive(Debug)]
pub struct DownloadComplete;

impl Deployed for Register {
    const FUNCTION: Function = Function::Register;
}
impl Deployed for Latest {
    const FUNCTION: Function = Function::Latest;
}
impl Deployed for DownloadComplete {
    const FUNCTION: Function = Function::DownloadComplete;
}

/// DynamoDB actions a function's store capabilities call, by table suffix.
/// infra/iam.tf grants exactly these (the infra test checks it), and the
/// Lambda tests check every request a function makes is covered. Nothing
/// here deletes a table; only the device functions' own per-device rows
/// (`device_channels`) can be deleted.
pub fn dynamodb_actions(function: Function) -> &'static [(&'static str, &'static [&'static str])] {
    const READ: &[&str] = &["dynamodb:GetItem", "dynamodb:Query"];
    match function {
        Function::Register => &[
            (
                "apps",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:Scan",
                ],
            ),
            (
                "tokens",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Scan",
                ],
            ),
            (
                "builds",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:ConditionCheckItem",
                ],
            ),
            (
                "build_versions",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:ConditionCheckItem",
                ],
            ),
            (
                "channels",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                ],
            ),
            ("counters", READ),
            ("sequences", &["dynamodb:UpdateItem"]),
            ("usage", &["dynamodb:Query"]),
            ("audit", &["dynamodb:PutItem", "dynamodb:Query"]),
        ],
        Function::Latest => &[
            ("apps", READ),
            ("builds", READ),
            ("build_versions", READ),
            // The rollout guard: a lookup that finds a plan due judges it
            // (compare-and-set on the channel) and records the decision.
            (
                "channels",
                &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"],
            ),
            ("device_channels", READ),
            ("usage", &["dynamodb:Query"]),
            ("audit", &["dynamodb:PutItem"]),
        ],
        Function::DownloadComplete => &[
            ("apps", READ),
            ("builds", READ),
            // capgo stats name the build by version.
            ("build_versions", READ),
            ("channels", READ),
            (
                "device_channels",
                &[
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem",
                ],
            ),
            ("events", &["dynamodb:BatchWriteItem", "dynamodb:PutItem"]),
            ("counters", &["dynamodb:UpdateItem"]),
            ("usage", &["dynamodb:UpdateItem"]),
        ],
    }
}

/// S3 actions a function calls on the bucket's objects (`ListBucket` on the
/// bucket itself makes a missing object a 404 rather than a 403). Presigned
/// URLs act with the signer's rights, so register's `PutObject` is what
/// lets CI upload straight to S3, and latest's `GetObject` what lets devices
/// download without CloudFront.
pub fn s3_actions(function: Function) -> &'static [&'static str] {
    match function {
        Function::Register => &[
            "s3:GetObject",
            "s3:PutObject",
            "s3:AbortMultipartUpload",
            "s3:ListBucket",
        ],
        Function::Latest => &["s3:GetObject", "s3:ListBucket"],
        Function::DownloadComplete => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action granted is a real IAM action. API operations that are
    /// not IAM actions (TransactWriteItems, TransactGetItems: a transaction
    /// needs the action of each item) would be dead grants; this list is the
    /// item-level DynamoDB actions of the IAM Service Authorization
    /// Reference that a record store can use.
    #[test]
    fn granted_actions_are_iam_actions() {
        const DYNAMODB: &[&str] = &[
            "BatchGetItem",
            "BatchWriteItem",
            "ConditionCheckItem",
            "DeleteItem",
            "DescribeTable",
            "GetItem",
            "PutItem",
            "Query",
            "Scan",
            "UpdateItem",
        ];
        const S3: &[&str] = &[
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:PutObject",
        ];
        for f in Function::ALL {
            for (table, actions) in dynamodb_actions(f) {
                for a in *actions {
                    let name = a.strip_prefix("dynamodb:").expect("dynamodb: prefix");
                    assert!(
                        DYNAMODB.contains(&name),
                        "{} on {table}: {a} is not an IAM action",
                        f.name()
                    );
                }
            }
            for a in s3_actions(f) {
                assert!(S3.contains(a), "{}: {a} is not an IAM action", f.name());
            }
        }
    }
}
