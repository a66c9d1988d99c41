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

use super::StoreError;
use crate::model::{Build, Channel};
use rusqlite::{Connection, OpenFlags};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod events;
mod read;
mod write;

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
