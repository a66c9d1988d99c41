//! Writing records to DynamoDB (conditional writes for every compare-and-set).

use super::*;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::keyset::KeySetChain;
use crate::model::{App, AuditEntry, Build, Channel, Timestamp, Token};
use crate::store::{BuildInsert, RecordRead, RecordWrite, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};

#[async_trait]
impl RecordWrite for DynamoRecords {
    async fn create_app(&self, app: &App) -> Result<(), StoreError> {
        let r = self
            .client
            .put_item()
            .table_name(self.t("apps"))
            .item("app_id", s(app.app_id.as_str()))
            .item("doc", to_doc(app))
            .condition_expression("attribute_not_exists(app_id)")
            .send()
            .await;
        if applied(r, "creating an app")? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("app {}", app.app_id)))
        }
    }

    async fn create_token(&self, token: &Token) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(self.t("tokens"))
            .item("secret_sha256", s(token.secret_sha256.to_hex()))
            .item("doc", to_doc(token));
        if let Some(at) = token.expires_at {
            // Expired console sessions are removed by the table's TTL.
            put = put.item(TTL_ATTRIBUTE, n(at));
        }
        let r = put
            .condition_expression("attribute_not_exists(secret_sha256)")
            .send()
            .await;
        if applied(r, "creating a token")? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("token {}", token.id)))
        }
    }

    async fn insert_build(&self, build: Build) -> Result<BuildInsert, StoreError> {
        let existing = |b: Build, new: &Build| {
            if b.manifest_sha256 == new.manifest_sha256 {
                BuildInsert::Existing(b)
            } else {
                BuildInsert::VersionTaken(b)
            }
        };
        if let Some(b) = self.build_by_version(&build.app_id, &build.version).await? {
            return Ok(existing(b, &build));
        }
        let id = self.next_build_id().await?;
        let stored = Build { id, ..build };
        let err = |e| StoreError::backend("registering a build", e);
        let version_item = Put::builder()
            .table_name(self.t("build_versions"))
            .item("app_id", s(stored.app_id.as_str()))
            .item("version", s(stored.version.as_str()))
            .item("build_id", n(id))
            .condition_expression("attribute_not_exists(version)")
            .build()
            .map_err(err)?;
        let build_item = Put::builder()
            .table_name(self.t("builds"))
            .item("app_id", s(stored.app_id.as_str()))
            .item("build_id", n(id))
            .item("doc", to_doc(&stored))
            .condition_expression("attribute_not_exists(build_id)")
            .build()
            .map_err(err)?;
        let r = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(version_item).build())
            .transact_items(TransactWriteItem::builder().put(build_item).build())
            .send()
            .await;
        match r {
            Ok(_) => Ok(BuildInsert::Created(stored)),
            Err(e) if is_conditional_failure(&e) => {
                // Another writer registered this version first.
                match self
                    .build_by_version(&stored.app_id, &stored.version)
                    .await?
                {
                    Some(b) => Ok(existing(b, &stored)),
                    None => Err(ddb_err("registering a build")(e)),
                }
            }
            Err(e) => Err(ddb_err("registering a build")(e)),
        }
    }

    async fn update_build(&self, build: &Build) -> Result<bool, StoreError> {
        let Some(current) = RecordRead::build(self, &build.app_id, build.id).await? else {
            return Ok(false);
        };
        let updated = Build {
            disabled: build.disabled,
            native: build.native.clone(),
            mandatory: build.mandatory,
            ..current
        };
        let r = self
            .client
            .put_item()
            .table_name(self.t("builds"))
            .item("app_id", s(updated.app_id.as_str()))
            .item("build_id", n(updated.id))
            .item("doc", to_doc(&updated))
            .condition_expression("attribute_exists(build_id)")
            .send()
            .await;
        applied(r, "updating a build")
    }

    async fn put_channel(&self, channel: &Channel) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(self.t("channels"))
            .item("app_id", s(channel.app_id.as_str()))
            .item("name", s(channel.name.as_str()))
            .item("revision", n(channel.revision + 1))
            .item("doc", to_doc(channel));
        req = if channel.revision == 0 {
            req.condition_expression("attribute_not_exists(app_id)")
        } else {
            req.condition_expression("revision = :expected")
                .expression_attribute_values(":expected", n(channel.revision))
        };
        applied(req.send().await, "storing a channel")
    }

    async fn delete_channel(&self, channel: &Channel) -> Result<bool, StoreError> {
        let r = self
            .client
            .delete_item()
            .table_name(self.t("channels"))
            .key("app_id", s(channel.app_id.as_str()))
            .key("name", s(channel.name.as_str()))
            .condition_expression("revision = :expected")
            .expression_attribute_values(":expected", n(channel.revision))
            .send()
            .await;
        applied(r, "deleting a channel")
    }

    async fn update_app(&self, app: &App) -> Result<bool, StoreError> {
        // SET, not a whole-item put: the key set beside the doc stays.
        let r = self
            .client
            .update_item()
            .table_name(self.t("apps"))
            .key("app_id", s(app.app_id.as_str()))
            .update_expression("SET doc = :doc")
            .expression_attribute_values(":doc", to_doc(app))
            .condition_expression("attribute_exists(app_id)")
            .send()
            .await;
        applied(r, "updating an app")
    }

    async fn put_key_sets(
        &self,
        app: &AppId,
        chain: &KeySetChain,
        version: u64,
        previous: u64,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(self.t("apps"))
            .key("app_id", s(app.as_str()))
            .update_expression("SET key_sets = :chain, key_set_version = :version")
            .expression_attribute_values(":chain", to_doc(chain))
            .expression_attribute_values(":version", n(version));
        req = if previous == 0 {
            req.condition_expression(
                "attribute_exists(app_id) AND attribute_not_exists(key_set_version)",
            )
        } else {
            req.condition_expression("key_set_version = :previous")
                .expression_attribute_values(":previous", n(previous))
        };
        applied(req.send().await, "storing a key set")
    }

    async fn delete_token(&self, secret_sha256: &Sha256Digest) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(self.t("tokens"))
            .key("secret_sha256", s(secret_sha256.to_hex()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(ddb_err("revoking a token"))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn touch_token(
        &self,
        secret_sha256: &Sha256Digest,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(self.t("tokens"))
            .key("secret_sha256", s(secret_sha256.to_hex()))
            .update_expression("SET last_used_at = :at")
            .condition_expression("attribute_exists(secret_sha256)")
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        // A revoked token's condition fails: nothing to note.
        applied(r, "noting a token's use").map(|_| ())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let pk = entry
            .app_id
            .as_ref()
            .map_or_else(|| GLOBAL_AUDIT.to_owned(), |a| a.to_string());
        let r = self
            .client
            .put_item()
            .table_name(self.t("audit"))
            .item("app_id", s(pk))
            .item("id", s(entry.id.clone()))
            .item("doc", to_doc(entry))
            .item(TTL_ATTRIBUTE, n(entry.at + self.audit_retention_secs))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        if applied(r, "appending to the audit log")? {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!("audit entry {}", entry.id)))
        }
    }

    async fn prune_audit(&self, _before: Timestamp) -> Result<u64, StoreError> {
        // The table's TTL expires entries (infra/database.tf).
        Ok(0)
    }
}
