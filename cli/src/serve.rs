//! `liveship serve`: the whole API on the embedded backend (SQLite and a
//! directory), on one machine.

use anyhow::{Context, Result};
use clap::Args;
use liveship_core::aws::AwsSettings;
use liveship_core::env;
use liveship_core::http::cache::LookupCache;
use liveship_core::http::fast::FastLookup;
use liveship_core::http::guard::{Guard, Webhook};
use liveship_core::http::{self, CiState, DeviceState, EventState, Urls, DEFAULT_MAX_FILE};
use liveship_core::model::Scope;
use liveship_core::store::fs::FsBlobs;
use liveship_core::store::sqlite::SqliteRecords;
use liveship_core::store::{BlobWrite, EventWrite, RecordWrite};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Workers when `--workers` is not given: one per core, up to this many.
const MAX_DEFAULT_WORKERS: usize = 16;

/// Where `liveship serve` keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// SQLite and a local directory (no cloud account).
    Embedded,
    /// DynamoDB and S3, configured by LIVESHIP_BUCKET, LIVESHIP_TABLE_PREFIX,
    /// LIVESHIP_PUBLIC_BASE_URL and the standard AWS variables.
    Aws,
}

/// Where the data lives: shared by `liveship serve` and `liveship bootstrap`.
#[derive(Debug, Args)]
pub struct StoreConfig {
    /// Storage backend.
    #[arg(long, env = env::BACKEND, value_enum, default_value = "embedded")]
    backend: Backend,
    /// With `--backend aws`: create the bucket and tables if missing (for
    /// development against moto or MinIO; production uses infra/).
    #[arg(long)]
    create_resources: bool,
    /// Where the SQLite database and the blobs live.
    #[arg(long, env = env::DATA_DIR, default_value = "./liveship-data")]
    data_dir: PathBuf,
    /// Days raw device events are kept; counters are kept forever.
    #[arg(long, env = env::EVENT_RETENTION_DAYS, default_value_t = 30)]
    event_retention_days: u32,
    /// Days audit log entries are kept.
    #[arg(long, env = env::AUDIT_RETENTION_DAYS, default_value_t = 365)]
    audit_retention_days: u32,
    /// Bootstrap admin token, stored when the deployment has no tokens yet
    /// (later only with `bootstrap --add-admin`). Without it, the first
    /// start generates one and prints it once.
    #[arg(long, env = env::ADMIN_TOKEN, hide_env_values = true)]
    admin_token: Option<String>,
}

/// `liveship bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(flatten)]
    store: StoreConfig,
    /// Store the token of LIVESHIP_ADMIN_TOKEN (or --admin-token) as another
    /// admin token even though admin tokens already exist. Without it, a
    /// deployment that has tokens is left as it is.
    #[arg(long)]
    add_admin: bool,
}

/// Configuration of `liveship serve`, read once at start (flags or environment).
#[derive(Debug, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    store: StoreConfig,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8080")]
    listen: String,
    /// URL devices and CI reach this server at [default: http://LISTEN].
    #[arg(long, env = env::PUBLIC_URL)]
    public_url: Option<String>,
    /// Largest file accepted by an upload, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FILE)]
    max_file_size: u64,
    /// Seconds a lookup may serve cached channel state (writes through this
    /// server invalidate it at once; the time bounds writes made elsewhere,
    /// such as another process on the same AWS tables); 0: no cache.
    #[arg(long, env = env::CACHE_TTL_SECONDS, default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    cache_ttl_seconds: u64,
    /// Where rollout guard decisions are posted (Slack-compatible JSON).
    #[arg(long, env = env::WEBHOOK_URL, hide_env_values = true)]
    webhook_url: Option<String>,
    /// Key of the HMAC-SHA256 signature on each webhook post.
    #[arg(long, env = env::WEBHOOK_SECRET, hide_env_values = true)]
    webhook_secret: Option<String>,
    /// Worker threads answering requests, each with its own listening
    /// socket [default: one per core, at most 16].
    #[arg(long, env = env::WORKERS, value_parser = clap::value_parser!(u64).range(1..=256))]
    workers: Option<u64>,
    /// Share the port with a server already listening there (as for a
    /// rolling restart); without it, a port in use is refused.
    #[arg(long, env = env::SHARE_PORT)]
    share_port: bool,
    /// For the fleet simulator only: take "now" from this file.
    #[arg(long, env = env::CLOCK_FILE, hide = true)]
    clock_file: Option<PathBuf>,
}

/// `liveship bootstrap`: prepares a deployment's data without serving it,
/// such as the DynamoDB tables behind the Lambda functions.
pub fn bootstrap(args: BootstrapArgs) -> Result<()> {
    let cfg = args.store;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async {
            let (records, _, _) = open_stores(&cfg, false).await?;
            match bootstrap_admin(&*records, cfg.admin_token.as_deref(), args.add_admin).await? {
                Bootstrapped::Created => {}
                Bootstrapped::AlreadyThere => {
                    crate::output::stdout_line("liveship: tokens already exist; nothing to do")
                }
                Bootstrapped::Refused => anyhow::bail!(
                    "tokens already exist and {} is not one of them (new, or revoked): nothing \
                     was added. To add it as another admin token, run again with --add-admin; \
                     to give someone access, prefer `liveship tokens create`",
                    env::ADMIN_TOKEN
                ),
            }
            Ok(())
        })
}

pub fn run(cfg: ServeConfig) -> Result<()> {
    // Kept to the end: dropping it flushes the log lines still queued.
    let _log = init_logging();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(cfg))
}

/// Logs go to stderr through a writer thread: a request only queues its
/// line (never drops it: a full queue waits), and the thread writes what is
/// queued in one buffered batch (flushed whenever the queue runs dry), not
/// one unbuffered write per line under stderr's lock.
fn init_logging() -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_timer(Timestamp)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .init();
    guard
}

/// The default log timestamp (RFC 3339 in UTC, to the microsecond), with
/// the part up to the second formatted once a second per thread: under load
/// formatting the date was a tenth of the request log line's cost.
struct Timestamp;

thread_local! {
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

impl tracing_subscriber::fmt::time::FormatTime for Timestamp {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        SECOND.with(|s| {
            let mut s = s.borrow_mut();
            if s.0 != now.as_secs() {
                *s = (now.as_secs(), utc_second(now.as_secs()));
            }
            write!(w, "{}.{:06}Z", s.1, now.subsec_micros())
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time.
fn utc_second(unix: u64) -> String {
    let (y, m, d, hour, minute, second) =
        liveship_core::model::utc_parts(i64::try_from(unix).unwrap_or(i64::MAX));
    format!("{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}")
}

type Opened = (
    Arc<dyn RecordWrite>,
    Arc<dyn EventWrite>,
    Arc<dyn BlobWrite>,
);

/// Opens the configured stores; `serving`: also start the embedded
/// backend's hourly pruning of old events.
async fn open_stores(cfg: &StoreConfig, serving: bool) -> Result<Opened> {
    Ok(match cfg.backend {
        Backend::Embedded => {
            std::fs::create_dir_all(&cfg.data_dir).with_context(|| {
                format!("cannot create data directory {}", cfg.data_dir.display())
            })?;
            let records = Arc::new(
                SqliteRecords::open(&cfg.data_dir.join("liveship.db"))
                    .context("opening the database")?,
            );
            let blobs = Arc::new(
                FsBlobs::open(&cfg.data_dir.join("blobs")).context("opening the blob directory")?,
            );
            if serving {
                spawn_pruning(
                    records.clone(),
                    cfg.event_retention_days,
                    cfg.audit_retention_days,
                );
            }
            (records.clone(), records, blobs)
        }
        Backend::Aws => {
            let settings = AwsSettings::from_env()?;
            let (blobs, records) = settings.connect().await;
            if cfg.create_resources {
                blobs.create_bucket().await.context("creating the bucket")?;
                records
                    .create_tables()
                    .await
                    .context("creating the tables")?;
            }
            // Raw events expire through the DynamoDB TTL.
            let records = Arc::new(records);
            (records.clone(), records, Arc::new(blobs))
        }
    })
}

async fn serve(cfg: ServeConfig) -> Result<()> {
    let (records, events, blobs) = open_stores(&cfg.store, true).await?;
    let workers = cfg.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_DEFAULT_WORKERS)),
        |n| n as usize,
    );
    // Bound before the router is built (the public URL defaults to the
    // bound address; early connections wait in the backlog), and before
    // the one-time admin token is made and shown: a server that cannot
    // listen must not spend it.
    let listeners = crate::listen::bind_all(&cfg.listen, workers, cfg.share_port).await?;
    if bootstrap_admin(&*records, cfg.store.admin_token.as_deref(), false).await?
        == Bootstrapped::Refused
    {
        // Never resurrect a revoked token on restart: say so, and go on.
        tracing::warn!(
            "{} is not a stored token (new, or revoked) and tokens exist: ignored; \
             use `liveship bootstrap --add-admin` to add it",
            env::ADMIN_TOKEN
        );
    }

    let addr = listeners.addr;
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let urls = Urls::new(&public_url);
    // Writes in this process invalidate the cache at once; the TTL only
    // bounds how long an entry may live.
    let cache = (cfg.cache_ttl_seconds > 0).then(|| {
        Arc::new(LookupCache::new(std::time::Duration::from_secs(
            cfg.cache_ttl_seconds,
        )))
    });
    if let Some(path) = cfg.clock_file.clone() {
        tracing::warn!(path = %path.display(), "taking the time from a file (fleet simulation)");
        liveship_core::model::use_clock_file(path);
    }
    let webhook = cfg
        .webhook_url
        .clone()
        .map(|url| Webhook::new(url, cfg.webhook_secret.clone()));
    let guard = Arc::new(Guard::new(
        records.clone(),
        webhook,
        cache.as_ref().map(|c| c.invalidator()),
    ));
    spawn_guard_ticker(guard.clone());
    let device = DeviceState {
        records: records.clone(),
        blobs: blobs.clone(),
        urls: urls.clone(),
        cache: cache.clone(),
        guard: Some(guard.clone()),
    };
    let router = http::router(
        CiState {
            records: records.clone(),
            blobs: blobs.clone(),
            urls: urls.clone(),
            max_file: cfg.max_file_size,
            invalidate: cache.as_ref().map(|c| c.invalidator()),
            guard: Some(guard.clone()),
        },
        device.clone(),
        EventState {
            records: records.clone(),
            events,
        },
    );
    let data = match cfg.store.backend {
        Backend::Embedded => format!("data in {}", cfg.store.data_dir.display()),
        Backend::Aws => "data in S3 and DynamoDB".to_owned(),
    };
    crate::output::stdout_line(format!(
        "liveship listening on http://{addr} (public URL {public_url}, {data})"
    ));
    crate::output::stdout_line(format!("liveship release console: {public_url}/console"));
    std::io::stdout().flush().ok();
    let server = listeners.serve(router, Some(FastLookup::new(device)))?;
    tracing::info!(%addr, workers, "listening");
    shutdown_signal().await;
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// What [`bootstrap_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bootstrapped {
    /// A token was stored.
    Created,
    /// The configured token is stored already, or tokens exist and none was
    /// configured.
    AlreadyThere,
    /// Tokens exist and the configured one is not among them (and adding
    /// it was not asked for).
    Refused,
}

/// Makes sure an admin token exists: on a deployment without tokens, the
/// configured one, or a new one printed once on stdout (never to the log).
/// Once tokens exist, a configured token that is not stored is only added
/// with `add` (it may be one an admin revoked).
async fn bootstrap_admin(
    records: &dyn RecordWrite,
    configured: Option<&str>,
    add: bool,
) -> Result<Bootstrapped> {
    use liveship_core::hash::Sha256Digest;
    let first = records.token_count().await? == 0;
    if let Some(secret) = configured.filter(|s| !s.is_empty()) {
        if secret.len() < 16 {
            anyhow::bail!(
                "{} is too short: use at least 16 random characters",
                env::ADMIN_TOKEN
            );
        }
        let hash = Sha256Digest::of(secret.as_bytes());
        if records.token_by_secret_hash(&hash).await?.is_some() {
            return Ok(Bootstrapped::AlreadyThere);
        }
        if !first && !add {
            return Ok(Bootstrapped::Refused);
        }
        let token =
            liveship_core::http::token_record(secret, "bootstrap admin", None, vec![Scope::Admin]);
        records.create_token(&token).await?;
        return Ok(Bootstrapped::Created);
    }
    if first {
        let secret =
            liveship_core::http::new_secret().map_err(|e| anyhow::anyhow!(e.to_string()))?;
        let token =
            liveship_core::http::token_record(&secret, "bootstrap admin", None, vec![Scope::Admin]);
        records.create_token(&token).await?;
        crate::output::stdout_line(format!(
            "liveship: admin token (shown once; store it now): {secret}"
        ));
        std::io::stdout().flush().ok();
        return Ok(Bootstrapped::Created);
    }
    if add {
        anyhow::bail!("--add-admin needs the token to add in {}", env::ADMIN_TOKEN);
    }
    Ok(Bootstrapped::AlreadyThere)
}

/// Hourly: removes raw events and audit entries past their retention (the
/// AWS backend has DynamoDB's TTL do this).
fn spawn_pruning(records: Arc<SqliteRecords>, event_days: u32, audit_days: u32) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let now = liveship_core::model::now();
            match records
                .prune_events(now - i64::from(event_days) * 86_400)
                .await
            {
                Ok(n) if n > 0 => tracing::info!(pruned = n, "old device events removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning events failed"),
            }
            match records
                .prune_audit(now - i64::from(audit_days) * 86_400)
                .await
            {
                Ok(n) if n > 0 => tracing::info!(pruned = n, "old audit entries removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning the audit log failed"),
            }
        }
    });
}

/// Every 20 seconds: judges due rollout plans, so decisions (and their
/// webhook posts) come on time even when no device or CI call reads the
/// channel. Correctness does not depend on it: every read judges too.
fn spawn_guard_ticker(guard: Arc<Guard>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(20));
        loop {
            tick.tick().await;
            if let Err(e) = guard.tick().await {
                tracing::warn!(error = %e.message, "judging rollout plans failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::utc_second;

    #[test]
    fn log_timestamps_are_utc_seconds_as_date_prints_them() {
        // `date -u -d @N +%Y-%m-%dT%H:%M:%S`, across leap days and centuries.
        for (unix, want) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_796_187_455, "2026-12-02T04:57:35"),
            (4_107_542_399, "2100-02-28T23:59:59"),
        ] {
            assert_eq!(utc_second(unix), want);
        }
    }
}
