//! The embedded record store: one SQLite file (WAL mode).
//!
//! Records are stored as JSON documents keyed like the DynamoDB tables, so
//! both backends share one model. One writer connection (SQLite allows one
//! writer at a time anyway) and a small pool of reader connections, which WAL
//! lets run beside the writer. All calls run on Tokio's blocking pool.
//!
//! Durability: `synchronous=NORMAL` in WAL mode. A committed write survives
//! the process being killed at any moment (the tests `kill -9` the server);
//! after a power failure the last commits before it may roll back.

use super::{
    devices_counter, BuildCounts, BuildInsert, EventWrite, RecordRead, RecordWrite, StoreError,
};
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::keyset::KeySetChain;
use crate::model::{
    App, AuditEntry, Build, Channel, Event, EventKind, Grain, Timestamp, Token, UsageBucket,
};
use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS key_sets (
    app_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    secret_sha256 TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    version TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (app_id, version)
);
CREATE TABLE IF NOT EXISTS channels (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, name)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    build_id INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);
CREATE TABLE IF NOT EXISTS device_channels (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    PRIMARY KEY (app_id, device_id)
);
CREATE TABLE IF NOT EXISTS event_devices (
    app_id TEXT NOT NULL,
    build_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (app_id, build_id, kind, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
    app_id TEXT NOT NULL,
    build_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (app_id, build_id, kind)
);
CREATE TABLE IF NOT EXISTS usage (
    app_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    grain TEXT NOT NULL,
    start INTEGER NOT NULL,
    build_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (app_id, channel, grain, start, build_id, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_devices (
    app_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    grain TEXT NOT NULL,
    start INTEGER NOT NULL,
    build_id INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (app_id, channel, grain, start, build_id, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_app ON audit (app_id, id);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
";

/// The usage-bucket kind under which distinct devices are counted.
const DEVICES: &str = "devices";

const READERS: usize = 4;

/// Records in one SQLite database file.
#[derive(Clone)]
pub struct SqliteRecords {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteRecords({})", self.inner.path.display())
    }
}

fn db_err(context: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::backend(context.to_owned(), e)
}

fn open_connection(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

impl SqliteRecords {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let writer =
            open_connection(path, OpenFlags::default()).map_err(db_err("opening the database"))?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err("enabling WAL"))?;
        writer
            .execute_batch(SCHEMA)
            .map_err(db_err("creating the schema"))?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            readers.push(
                open_connection(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(db_err("opening a reader"))?,
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
            }),
        })
    }

    async fn read<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().expect("reader pool lock").pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(
                    &inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(db_err(what))?,
            };
            let result = f(&conn).map_err(db_err(what));
            let mut pool = inner.readers.lock().expect("reader pool lock");
            if pool.len() < READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::backend(what, e))?
    }

    async fn write<T, F>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().expect("writer lock");
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::backend(what, e))?
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records always serialise")
}

fn from_json<T: DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn build_from_row(id: i64, doc: &str) -> rusqlite::Result<Build> {
    let mut b: Build = from_json(doc)?;
    b.id = id as u64;
    Ok(b)
}

fn channel_from_row(revision: i64, doc: &str) -> rusqlite::Result<Channel> {
    let mut c: Channel = from_json(doc)?;
    c.revision = revision as u64;
    Ok(c)
}

#[async_trait]
impl RecordRead for SqliteRecords {
    async fn app(&self, app: &AppId) -> Result<Option<App>, StoreError> {
        let app = app.to_string();
        self.read("reading an app", move |c| {
            c.prepare_cached("SELECT doc FROM apps WHERE app_id = ?1")?
                .query_row([app], |r| from_json(&r.get::<_, String>(0)?))
                .optional()
        })
        .await
    }

    async fn key_sets(&self, app: &AppId) -> Result<Option<KeySetChain>, StoreError> {
        let app = app.to_string();
        self.read("reading a key set", move |c| {
            c.prepare_cached("SELECT doc FROM key_sets WHERE app_id = ?1")?
                .query_row([app], |r| from_json(&r.get::<_, String>(0)?))
                .optional()
        })
        .await
    }

    async fn build(&self, app: &AppId, id: u64) -> Result<Option<Build>, StoreError> {
        let app = app.to_string();
        self.read("reading a build", move |c| {
            c.prepare_cached("SELECT id, doc FROM builds WHERE app_id = ?1 AND id = ?2")?
                .query_row(params![app, id as i64], |r| {
                    build_from_row(r.get(0)?, &r.get::<_, String>(1)?)
                })
                .optional()
        })
        .await
    }

    async fn builds(&self, app: &AppId) -> Result<Vec<Build>, StoreError> {
        let app = app.to_string();
        self.read("listing builds", move |c| {
            let mut stmt =
                c.prepare_cached("SELECT id, doc FROM builds WHERE app_id = ?1 ORDER BY id DESC")?;
            let rows = stmt.query_map([app], |r| {
                build_from_row(r.get(0)?, &r.get::<_, String>(1)?)
            })?;
            rows.collect()
        })
        .await
    }

    async fn build_by_version(
        &self,
        app: &AppId,
        version: &BuildVersion,
    ) -> Result<Option<Build>, StoreError> {
        let (app, version) = (app.to_string(), version.to_string());
        self.read("reading a build by version", move |c| {
            c.prepare_cached("SELECT id, doc FROM builds WHERE app_id = ?1 AND version = ?2")?
                .query_row(params![app, version], |r| {
                    build_from_row(r.get(0)?, &r.get::<_, String>(1)?)
                })
                .optional()
        })
        .await
    }

    async fn channel(&self, app: &AppId, name: &str) -> Result<Option<Channel>, StoreError> {
        let (app, name) = (app.to_string(), name.to_owned());
        self.read("reading a channel", move |c| {
            c.prepare_cached("SELECT revision, doc FROM channels WHERE app_id = ?1 AND name = ?2")?
                .query_row(params![app, name], |r| {
                    channel_from_row(r.get(0)?, &r.get::<_, String>(1)?)
                })
                .optional()
        })
        .await
    }

    async fn channels(&self, app: &AppId) -> Result<Vec<Channel>, StoreError> {
        let app = app.to_string();
        self.read("listing channels", move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT revision, doc FROM channels WHERE app_id = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map([app], |r| {
                channel_from_row(r.get(0)?, &r.get::<_, String>(1)?)
            })?;
            rows.collect()
        })
        .await
    }

    async fn token_by_secret_hash(
        &self,
        secret_sha256: &Sha256Digest,
    ) -> Result<Option<Token>, StoreError> {
        let h = secret_sha256.to_hex();
        self.read("reading a token", move |c| {
            c.prepare_cached("SELECT doc FROM tokens WHERE secret_sha256 = ?1")?
                .query_row([h], |r| from_json(&r.get::<_, String>(0)?))
                .optional()
        })
        .await
    }

    async fn token_count(&self) -> Result<u64, StoreError> {
        self.read("counting tokens", |c| {
            c.query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        })
        .await
    }

    async fn device_channel(
        &self,
        app: &AppId,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let (app, device) = (app.to_string(), device_id.to_owned());
        self.read("reading a device channel", move |c| {
            c.prepare_cached(
                "SELECT channel FROM device_channels WHERE app_id = ?1 AND device_id = ?2",
            )?
            .query_row(params![app, device], |r| r.get(0))
            .optional()
        })
        .await
    }

    async fn counters(&self, app: &AppId, build_id: u64) -> Result<BuildCounts, StoreError> {
        let app = app.to_string();
        self.read("reading counters", move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT kind, count FROM counters WHERE app_id = ?1 AND build_id = ?2",
            )?;
            let rows = stmt.query_map(params![app, build_id as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            let mut out = BuildCounts::default();
            for row in rows {
                let (name, n) = row?;
                out.add(&name, n as u64);
            }
            Ok(out)
        })
        .await
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        self.read("listing apps", |c| {
            let mut stmt = c.prepare_cached("SELECT doc FROM apps ORDER BY app_id")?;
            let rows = stmt.query_map([], |r| from_json(&r.get::<_, String>(0)?))?;
            rows.collect()
        })
        .await
    }

    async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.read("listing tokens", |c| {
            let mut stmt = c.prepare_cached("SELECT doc FROM tokens ORDER BY id")?;
            let rows = stmt.query_map([], |r| from_json(&r.get::<_, String>(0)?))?;
            rows.collect()
        })
        .await
    }

    async fn usage(
        &self,
        app: &AppId,
        channel: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        let (app, channel) = (app.to_string(), channel.to_owned());
        let width = grain.seconds();
        self.read("reading usage", move |c| {
            // Events are counted hourly and summed into days here; distinct
            // devices are counted per bucket of each grain.
            let mut stmt = c.prepare_cached(
                "SELECT start - (start % ?5), build_id, kind, SUM(count) FROM usage \
                 WHERE app_id = ?1 AND channel = ?2 AND grain = 'h' AND kind != 'devices' \
                   AND start >= ?3 AND start < ?4 \
                 GROUP BY 1, 2, 3 \
                 UNION ALL \
                 SELECT start, build_id, kind, count FROM usage \
                 WHERE app_id = ?1 AND channel = ?2 AND grain = ?6 AND kind = 'devices' \
                   AND start >= ?3 AND start < ?4",
            )?;
            let rows =
                stmt.query_map(params![app, channel, from, to, width, grain.code()], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)? as u64,
                    ))
                })?;
            let mut out = std::collections::BTreeMap::<(i64, u64), UsageBucket>::new();
            for row in rows {
                let (start, build_id, kind, n) = row?;
                let b = out.entry((start, build_id)).or_insert_with(|| UsageBucket {
                    start,
                    build_id,
                    ..UsageBucket::default()
                });
                if kind == DEVICES {
                    b.devices += n;
                } else if let Some(k) = EventKind::parse(&kind) {
                    *b.events.entry(k).or_default() += n;
                }
            }
            Ok(out.into_values().collect())
        })
        .await
    }

    async fn audit(
        &self,
        app: Option<&AppId>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let app = app.map(|a| a.to_string()).unwrap_or_default();
        let before = before.map(str::to_owned);
        self.read("reading the audit log", move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM audit WHERE app_id = ?1 AND (?2 IS NULL OR id < ?2) \
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![app, before, limit as i64], |r| {
                from_json(&r.get::<_, String>(0)?)
            })?;
            rows.collect()
        })
        .await
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

#[async_trait]
impl RecordWrite for SqliteRecords {
    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        let (id, doc) = (app.app_id.to_string(), to_json(app));
        self.write("creating an app", move |c| {
            match c.execute(
                "INSERT INTO apps (app_id, doc) VALUES (?1, ?2)",
                params![id, doc],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!("app {id}"))),
                Err(e) => Err(db_err("creating an app")(e)),
            }
        })
        .await
    }

    async fn create_token(&self, token: &Token) -> Result<(), StoreError> {
        let (h, id, doc) = (
            token.secret_sha256.to_hex(),
            token.id.clone(),
            to_json(token),
        );
        self.write("creating a token", move |c| {
            match c.execute(
                "INSERT INTO tokens (secret_sha256, id, doc) VALUES (?1, ?2, ?3)",
                params![h, id, doc],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("token {id}")))
                }
                Err(e) => Err(db_err("creating a token")(e)),
            }
        })
        .await
    }

    async fn insert_build(&self, build: Build) -> Result<BuildInsert, StoreError> {
        self.write("registering a build", move |c| {
            let err = db_err("registering a build");
            let tx = c.transaction().map_err(db_err("registering a build"))?;
            let existing = tx
                .query_row(
                    "SELECT id, doc FROM builds WHERE app_id = ?1 AND version = ?2",
                    params![build.app_id.as_str(), build.version.as_str()],
                    |r| build_from_row(r.get(0)?, &r.get::<_, String>(1)?),
                )
                .optional()
                .map_err(db_err("registering a build"))?;
            if let Some(existing) = existing {
                return Ok(if existing.manifest_sha256 == build.manifest_sha256 {
                    BuildInsert::Existing(existing)
                } else {
                    BuildInsert::VersionTaken(existing)
                });
            }
            tx.execute(
                "INSERT INTO builds (app_id, version, doc) VALUES (?1, ?2, ?3)",
                params![
                    build.app_id.as_str(),
                    build.version.as_str(),
                    to_json(&build)
                ],
            )
            .map_err(db_err("registering a build"))?;
            let id = tx.last_insert_rowid() as u64;
            tx.commit().map_err(err)?;
            Ok(BuildInsert::Created(Build { id, ..build }))
        })
        .await
    }

    async fn update_build(&self, build: &Build) -> Result<bool, StoreError> {
        let (app, id) = (build.app_id.to_string(), build.id);
        let build = build.clone();
        self.write("updating a build", move |c| {
            let tx = c.transaction().map_err(db_err("updating a build"))?;
            let current = tx
                .query_row(
                    "SELECT id, doc FROM builds WHERE app_id = ?1 AND id = ?2",
                    params![app, id as i64],
                    |r| build_from_row(r.get(0)?, &r.get::<_, String>(1)?),
                )
                .optional()
                .map_err(db_err("updating a build"))?;
            let Some(current) = current else {
                return Ok(false);
            };
            let updated = Build {
                disabled: build.disabled,
                native: build.native,
                mandatory: build.mandatory,
                ..current
            };
            tx.execute(
                "UPDATE builds SET doc = ?1 WHERE app_id = ?2 AND id = ?3",
                params![to_json(&updated), app, id as i64],
            )
            .map_err(db_err("updating a build"))?;
            tx.commit().map_err(db_err("updating a build"))?;
            Ok(true)
        })
        .await
    }

    async fn put_channel(&self, channel: &Channel) -> Result<bool, StoreError> {
        let expected = channel.revision as i64;
        let (app, name) = (channel.app_id.to_string(), channel.name.clone());
        let doc = to_json(channel);
        self.write("storing a channel", move |c| {
            let changed = if expected == 0 {
                match c.execute(
                    "INSERT INTO channels (app_id, name, revision, doc) VALUES (?1, ?2, 1, ?3)",
                    params![app, name, doc],
                ) {
                    Ok(n) => n,
                    Err(e) if is_unique_violation(&e) => 0,
                    Err(e) => return Err(db_err("storing a channel")(e)),
                }
            } else {
                c.execute(
                    "UPDATE channels SET doc = ?1, revision = revision + 1 \
                     WHERE app_id = ?2 AND name = ?3 AND revision = ?4",
                    params![doc, app, name, expected],
                )
                .map_err(db_err("storing a channel"))?
            };
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_channel(&self, channel: &Channel) -> Result<bool, StoreError> {
        let (app, name, rev) = (
            channel.app_id.to_string(),
            channel.name.clone(),
            channel.revision as i64,
        );
        self.write("deleting a channel", move |c| {
            c.execute(
                "DELETE FROM channels WHERE app_id = ?1 AND name = ?2 AND revision = ?3",
                params![app, name, rev],
            )
            .map(|n| n == 1)
            .map_err(db_err("deleting a channel"))
        })
        .await
    }

    async fn update_app(&self, app: &App) -> Result<bool, StoreError> {
        let (id, doc) = (app.app_id.to_string(), to_json(app));
        self.write("updating an app", move |c| {
            c.execute(
                "UPDATE apps SET doc = ?1 WHERE app_id = ?2",
                params![doc, id],
            )
            .map(|n| n == 1)
            .map_err(db_err("updating an app"))
        })
        .await
    }

    async fn put_key_sets(
        &self,
        app: &AppId,
        chain: &KeySetChain,
        version: u64,
        previous: u64,
    ) -> Result<bool, StoreError> {
        let (id, doc) = (app.to_string(), to_json(chain));
        self.write("storing a key set", move |c| {
            let n = if previous == 0 {
                c.execute(
                    "INSERT INTO key_sets (app_id, version, doc) \
                     SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM apps WHERE app_id = ?1) \
                     ON CONFLICT (app_id) DO NOTHING",
                    params![id, version as i64, doc],
                )
            } else {
                c.execute(
                    "UPDATE key_sets SET version = ?2, doc = ?3 WHERE app_id = ?1 AND version = ?4",
                    params![id, version as i64, doc, previous as i64],
                )
            };
            n.map(|n| n == 1).map_err(db_err("storing a key set"))
        })
        .await
    }

    async fn delete_token(&self, secret_sha256: &Sha256Digest) -> Result<bool, StoreError> {
        let h = secret_sha256.to_hex();
        self.write("revoking a token", move |c| {
            c.execute("DELETE FROM tokens WHERE secret_sha256 = ?1", [h])
                .map(|n| n == 1)
                .map_err(db_err("revoking a token"))
        })
        .await
    }

    async fn touch_token(
        &self,
        secret_sha256: &Sha256Digest,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let h = secret_sha256.to_hex();
        self.write("noting a token's use", move |c| {
            c.execute(
                "UPDATE tokens SET doc = json_set(doc, '$.last_used_at', ?1) WHERE secret_sha256 = ?2",
                params![at, h],
            )
            .map(|_| ())
            .map_err(db_err("noting a token's use"))
        })
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let (id, at, doc) = (entry.id.clone(), entry.at, to_json(entry));
        let app = entry
            .app_id
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_default();
        self.write("appending to the audit log", move |c| {
            match c.execute(
                "INSERT INTO audit (id, app_id, at, doc) VALUES (?1, ?2, ?3, ?4)",
                params![id, app, at, doc],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict(format!("audit entry {id}")))
                }
                Err(e) => Err(db_err("appending to the audit log")(e)),
            }
        })
        .await
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write("pruning the audit log", move |c| {
            c.execute("DELETE FROM audit WHERE at < ?1", [before])
                .map(|n| n as u64)
                .map_err(db_err("pruning the audit log"))
        })
        .await
    }
}

#[async_trait]
impl EventWrite for SqliteRecords {
    async fn record_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let events = events.to_vec();
        self.write("recording events", move |c| {
            let err = || db_err("recording events");
            let tx = c.transaction().map_err(err())?;
            {
                let mut raw = tx
                    .prepare_cached(
                        "INSERT INTO events (app_id, build_id, device_id, kind, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(err())?;
                let mut count = tx
                    .prepare_cached(
                        "INSERT INTO counters (app_id, build_id, kind, count) VALUES (?1, ?2, ?3, 1) \
                         ON CONFLICT (app_id, build_id, kind) DO UPDATE SET count = count + 1",
                    )
                    .map_err(err())?;
                let mut seen = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO event_devices (app_id, build_id, kind, device_id) VALUES (?1, ?2, ?3, ?4)",
                    )
                    .map_err(err())?;
                let mut usage = tx
                    .prepare_cached(
                        "INSERT INTO usage (app_id, channel, grain, start, build_id, kind, count) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1) \
                         ON CONFLICT (app_id, channel, grain, start, build_id, kind) \
                         DO UPDATE SET count = count + 1",
                    )
                    .map_err(err())?;
                let mut usage_seen = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO usage_devices \
                         (app_id, channel, grain, start, build_id, device_id) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(err())?;
                for e in &events {
                    let (app, build) = (e.app_id.as_str(), e.build_id as i64);
                    let hour = Grain::Hour.start(e.at);
                    usage
                        .execute(params![app, e.channel, "h", hour, build, e.kind.as_str()])
                        .map_err(err())?;
                    for grain in [Grain::Hour, Grain::Day] {
                        let (g, start) = (grain.code(), grain.start(e.at));
                        let first = usage_seen
                            .execute(params![app, e.channel, g, start, build, e.device_id])
                            .map_err(err())?;
                        if first == 1 {
                            usage
                                .execute(params![app, e.channel, g, start, build, DEVICES])
                                .map_err(err())?;
                        }
                    }
                    let first = seen
                        .execute(params![
                            e.app_id.as_str(),
                            e.build_id as i64,
                            e.kind.as_str(),
                            e.device_id
                        ])
                        .map_err(err())?;
                    if first == 1 {
                        count
                            .execute(params![
                                e.app_id.as_str(),
                                e.build_id as i64,
                                devices_counter(e.kind)
                            ])
                            .map_err(err())?;
                    }
                    raw.execute(params![
                        e.app_id.as_str(),
                        e.build_id as i64,
                        e.device_id,
                        e.kind.as_str(),
                        e.at
                    ])
                    .map_err(err())?;
                    count
                        .execute(params![e.app_id.as_str(), e.build_id as i64, e.kind.as_str()])
                        .map_err(err())?;
                }
            }
            tx.commit().map_err(err())
        })
        .await
    }

    async fn set_device_channel(
        &self,
        app: &AppId,
        device_id: &str,
        channel: Option<&str>,
    ) -> Result<(), StoreError> {
        let (app, device, channel) = (
            app.to_string(),
            device_id.to_owned(),
            channel.map(str::to_owned),
        );
        self.write("storing a device channel", move |c| {
            let r = match channel {
                Some(ch) => c.execute(
                    "INSERT INTO device_channels (app_id, device_id, channel) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (app_id, device_id) DO UPDATE SET channel = excluded.channel",
                    params![app, device, ch],
                ),
                None => c.execute(
                    "DELETE FROM device_channels WHERE app_id = ?1 AND device_id = ?2",
                    params![app, device],
                ),
            };
            r.map(|_| ()).map_err(db_err("storing a device channel"))
        })
        .await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.write("pruning events", move |c| {
            // Distinct-device markers are needed only while their bucket
            // is open: a day after it began, it has closed.
            c.execute(
                "DELETE FROM usage_devices WHERE start + 86400 <= ?1",
                [before],
            )
            .map_err(db_err("pruning usage markers"))?;
            c.execute("DELETE FROM events WHERE at < ?1", [before])
                .map(|n| n as u64)
                .map_err(db_err("pruning events"))
        })
        .await
    }
}
