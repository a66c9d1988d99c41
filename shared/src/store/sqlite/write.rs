//! Writing records to SQLite (one writer; compare-and-set in transactions).

use super::*;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::keyset::KeySetChain;
use crate::model::{App, AuditEntry, Build, Channel, Timestamp, Token};
use crate::store::{BuildInsert, RecordWrite, StoreError};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

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
