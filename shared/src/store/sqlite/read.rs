//! Reading records from SQLite (a pool of read-only connections).

use super::*;
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::keyset::KeySetChain;
use crate::model::{
    App, AuditEntry, Build, Channel, EventKind, Grain, Timestamp, Token, UsageBucket,
};
use crate::store::{BuildCounts, RecordRead, StoreError};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

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
