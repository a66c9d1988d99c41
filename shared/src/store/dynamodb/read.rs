//! Reading records from DynamoDB.

use super::*;
use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::keyset::KeySetChain;
use crate::model::{
    App, AuditEntry, Build, Channel, EventKind, Grain, Timestamp, Token, UsageBucket,
};
use crate::store::{BuildCounts, RecordRead, StoreError};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

#[async_trait]
impl RecordRead for DynamoRecords {
    async fn app(&self, app: &AppId) -> Result<Option<App>, StoreError> {
        let item = self
            .get(
                "apps",
                HashMap::from([("app_id".into(), s(app.as_str()))]),
                "reading an app",
            )
            .await?;
        item.as_ref().map(doc).transpose()
    }

    async fn key_sets(&self, app: &AppId) -> Result<Option<KeySetChain>, StoreError> {
        // Beside the app's doc, in the same item: a lookup of an app with a
        // key set reads it with no other table to grant.
        let item = self
            .get(
                "apps",
                HashMap::from([("app_id".into(), s(app.as_str()))]),
                "reading a key set",
            )
            .await?;
        let Some(text) = item
            .as_ref()
            .and_then(|i| i.get("key_sets"))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        serde_json::from_str(text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn build(&self, app: &AppId, id: u64) -> Result<Option<Build>, StoreError> {
        let key = HashMap::from([
            ("app_id".into(), s(app.as_str())),
            ("build_id".into(), n(id)),
        ]);
        let item = self.get("builds", key, "reading a build").await?;
        item.as_ref().map(doc).transpose()
    }

    async fn builds(&self, app: &AppId) -> Result<Vec<Build>, StoreError> {
        let items = self
            .query_all("builds", "app_id", s(app.as_str()), false, "listing builds")
            .await?;
        items.iter().map(doc).collect()
    }

    async fn build_by_version(
        &self,
        app: &AppId,
        version: &BuildVersion,
    ) -> Result<Option<Build>, StoreError> {
        let key = HashMap::from([
            ("app_id".into(), s(app.as_str())),
            ("version".into(), s(version.as_str())),
        ]);
        match self
            .get("build_versions", key, "reading a build version")
            .await?
        {
            Some(item) => self.build(app, num(&item, "build_id")?).await,
            None => Ok(None),
        }
    }

    async fn channel(&self, app: &AppId, name: &str) -> Result<Option<Channel>, StoreError> {
        let key = HashMap::from([("app_id".into(), s(app.as_str())), ("name".into(), s(name))]);
        match self.get("channels", key, "reading a channel").await? {
            Some(item) => {
                let mut c: Channel = doc(&item)?;
                c.revision = num(&item, "revision")?;
                Ok(Some(c))
            }
            None => Ok(None),
        }
    }

    async fn channels(&self, app: &AppId) -> Result<Vec<Channel>, StoreError> {
        let items = self
            .query_all(
                "channels",
                "app_id",
                s(app.as_str()),
                true,
                "listing channels",
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let mut c: Channel = doc(item)?;
                c.revision = num(item, "revision")?;
                Ok(c)
            })
            .collect()
    }

    async fn token_by_secret_hash(
        &self,
        secret_sha256: &Sha256Digest,
    ) -> Result<Option<Token>, StoreError> {
        let item = self
            .get(
                "tokens",
                HashMap::from([("secret_sha256".into(), s(secret_sha256.to_hex()))]),
                "reading a token",
            )
            .await?;
        item.as_ref().map(token_doc).transpose()
    }

    async fn token_count(&self) -> Result<u64, StoreError> {
        let out = self
            .client
            .scan()
            .table_name(self.t("tokens"))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .map_err(ddb_err("counting tokens"))?;
        Ok(out.count.max(0) as u64)
    }

    async fn device_channel(
        &self,
        app: &AppId,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = HashMap::from([
            ("app_id".into(), s(app.as_str())),
            ("device_id".into(), s(device_id)),
        ]);
        let item = self
            .get("device_channels", key, "reading a device channel")
            .await?;
        Ok(item.and_then(|i| i.get("channel").and_then(|v| v.as_s().ok()).cloned()))
    }

    async fn counters(&self, app: &AppId, build_id: u64) -> Result<BuildCounts, StoreError> {
        let items = self
            .query_all(
                "counters",
                "app_build",
                s(app_build(app, build_id)),
                true,
                "reading counters",
            )
            .await?;
        let mut out = BuildCounts::default();
        for item in &items {
            let ks = item
                .get("kind_shard")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let name = ks.split('#').next().unwrap_or_default();
            out.add(name, num(item, "count")?);
        }
        Ok(out)
    }

    async fn apps(&self) -> Result<Vec<App>, StoreError> {
        let mut apps: Vec<App> = self
            .scan_all("apps", "listing apps")
            .await?
            .iter()
            .map(doc)
            .collect::<Result<_, _>>()?;
        apps.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        Ok(apps)
    }

    async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        let mut tokens: Vec<Token> = self
            .scan_all("tokens", "listing tokens")
            .await?
            .iter()
            .map(token_doc)
            .collect::<Result<_, _>>()?;
        tokens.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tokens)
    }

    async fn usage(
        &self,
        app: &AppId,
        channel: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageBucket>, StoreError> {
        let pk = ("app_channel", s(app_channel(app, channel)));
        let range = |g: Grain| {
            (
                "bucket",
                format!("{}#{from:011}", g.code()),
                format!("{}#{:011}", g.code(), to - 1),
            )
        };
        let mut out = BTreeMap::<(i64, u64), UsageBucket>::new();
        // Adds an item to its bucket of `grain`: its event counts when
        // `events`, its distinct devices when `devices`.
        let mut add = |item: &Item, events: bool, devices: bool| {
            let (start, build_id) = item
                .get("bucket")
                .and_then(|v| v.as_s().ok())
                .and_then(|b| {
                    let mut parts = b.split('#').skip(1);
                    let start = parts.next()?.parse::<i64>().ok()?;
                    Some((start, parts.next()?.parse::<u64>().ok()?))
                })
                .ok_or_else(|| StoreError::Corrupt("usage item without its bucket".into()))?;
            let start = grain.start(start);
            let b = out.entry((start, build_id)).or_insert_with(|| UsageBucket {
                start,
                build_id,
                ..UsageBucket::default()
            });
            for (name, value) in item {
                let Some(v) = value.as_n().ok().and_then(|v| v.parse::<u64>().ok()) else {
                    continue;
                };
                if name == DEVICES {
                    if devices {
                        b.devices += v;
                    }
                } else if let Some(kind) = EventKind::parse(name).filter(|_| events) {
                    *b.events.entry(kind).or_default() += v;
                }
            }
            Ok::<(), StoreError>(())
        };
        // Events are counted hourly (and summed into days here); distinct
        // devices are counted per bucket of each grain.
        let read = |g: Grain| {
            self.query_items(
                "usage",
                pk.clone(),
                Some(range(g)),
                true,
                None,
                "reading usage",
            )
        };
        for item in &read(Grain::Hour).await? {
            add(item, true, grain == Grain::Hour)?;
        }
        if grain == Grain::Day {
            for item in &read(Grain::Day).await? {
                add(item, false, true)?;
            }
        }
        Ok(out.into_values().collect())
    }

    async fn audit(
        &self,
        app: Option<&AppId>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let pk = app.map_or_else(|| GLOBAL_AUDIT.to_owned(), |a| a.to_string());
        // Ids are `{millis:013}-{hex}`: "0" sorts at or before every id
        // and "~" after (a key value cannot be empty); `before` itself is
        // dropped below.
        let to = before.unwrap_or("~").to_owned();
        let items = self
            .query_items(
                "audit",
                ("app_id", s(pk)),
                Some(("id", "0".to_owned(), to)),
                false,
                Some(limit + 1),
                "reading the audit log",
            )
            .await?;
        let mut entries: Vec<AuditEntry> = items.iter().map(doc).collect::<Result<_, _>>()?;
        entries.retain(|e| before.is_none_or(|b| e.id.as_str() < b));
        entries.truncate(limit);
        Ok(entries)
    }
}
