//! Environment variable names, in one place so the CLI, the server and the
//! infrastructure code agree on them.

/// Private signing key: a path to a PKCS#8 PEM file, or the PEM text itself.
pub const SIGNING_KEY: &str = "LIVESHIP_SIGNING_KEY";
/// Public key used by `verify`: a path to an SPKI PEM file, or the PEM text.
pub const PUBLIC_KEY: &str = "LIVESHIP_PUBLIC_KEY";
/// RSA private key (path or PEM) that signs zips for the Capawesome plugin.
pub const RSA_SIGNING_KEY: &str = "LIVESHIP_RSA_SIGNING_KEY";
/// Default app id for commands that take `--app-id`.
pub const APP_ID: &str = "LIVESHIP_APP_ID";
/// API token for CLI commands that talk to a server.
pub const TOKEN: &str = "LIVESHIP_TOKEN";
/// Base URL of the liveship server the CLI talks to.
pub const SERVER: &str = "LIVESHIP_SERVER";
/// The saved login (`liveship login --profile`) the CLI uses when no
/// server or token is given.
pub const PROFILE: &str = "LIVESHIP_PROFILE";
/// Where the CLI keeps saved logins (default `$XDG_CONFIG_HOME/liveship`,
/// or `~/.config/liveship`).
pub const CONFIG_DIR: &str = "LIVESHIP_CONFIG_DIR";
/// Address `liveship serve` listens on.
pub const LISTEN: &str = "LIVESHIP_LISTEN";
/// Worker threads of `liveship serve` (default: one per core).
pub const WORKERS: &str = "LIVESHIP_WORKERS";
/// `liveship serve` may share its port with another process (a rolling
/// restart); without it, a port in use is refused.
pub const SHARE_PORT: &str = "LIVESHIP_SHARE_PORT";
/// Directory of the embedded backend (SQLite file and blobs).
pub const DATA_DIR: &str = "LIVESHIP_DATA_DIR";
/// URL clients reach the server at (for the URLs it hands out).
pub const PUBLIC_URL: &str = "LIVESHIP_PUBLIC_URL";
/// Bootstrap admin token of `liveship serve`.
pub const ADMIN_TOKEN: &str = "LIVESHIP_ADMIN_TOKEN";
/// Days raw device events are kept (counters are kept forever).
pub const EVENT_RETENTION_DAYS: &str = "LIVESHIP_EVENT_RETENTION_DAYS";
/// Days audit log entries are kept (default 365).
pub const AUDIT_RETENTION_DAYS: &str = "LIVESHIP_AUDIT_RETENTION_DAYS";
/// Log filter (`info`, `liveship=debug`, ...).
pub const LOG: &str = "LIVESHIP_LOG";
/// Backend of `liveship serve`: `embedded` (SQLite + directory) or `aws`.
pub const BACKEND: &str = "LIVESHIP_BACKEND";
/// S3 bucket of the AWS backend.
pub const BUCKET: &str = "LIVESHIP_BUCKET";
/// Prefix of every DynamoDB table name of the AWS backend.
pub const TABLE_PREFIX: &str = "LIVESHIP_TABLE_PREFIX";
/// Public base URL of the bucket (the CloudFront URL); without it, download
/// URLs are presigned GETs.
pub const PUBLIC_BASE_URL: &str = "LIVESHIP_PUBLIC_BASE_URL";
/// Standard AWS variable, honoured so moto, MinIO or LocalStack work.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// Standard AWS variable: the region (the Lambda runtime sets it).
pub const AWS_REGION: &str = "AWS_REGION";
/// Standard AWS variable, read when [`AWS_REGION`] is not set.
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// Seconds a warm `latest` function keeps channel state before reading
/// DynamoDB again (0: no cache). Deploys reach devices within this time.
pub const CACHE_TTL_SECONDS: &str = "LIVESHIP_CACHE_TTL_SECONDS";
/// URL rollout guard decisions are posted to (a Slack-compatible incoming
/// webhook, or any receiver of JSON); it is a secret and never logged.
pub const WEBHOOK_URL: &str = "LIVESHIP_WEBHOOK_URL";
/// Key of the HMAC-SHA256 signature on each webhook post
/// (`X-Liveship-Signature`).
pub const WEBHOOK_SECRET: &str = "LIVESHIP_WEBHOOK_SECRET";
/// For the fleet simulator only, never in production: a file holding the
/// Unix time the server is to take as now, so simulated hours pass in
/// seconds.
pub const CLOCK_FILE: &str = "LIVESHIP_CLOCK_FILE";
/// Lambda's log level control (advanced logging), read by the functions
/// before [`RUST_LOG`].
pub const AWS_LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
/// Lambda's log format control: `JSON` makes the functions log JSON lines.
pub const AWS_LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
/// The functions' log level when Lambda sets none (`info`, or per target:
/// `liveship_core=debug,info`).
pub const RUST_LOG: &str = "RUST_LOG";
