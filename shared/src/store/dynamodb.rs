//! The DynamoDB record store (feature `aws`). Table design, access patterns
//! and which function uses each: docs/dynamodb.md.
//!
//! Records are stored as a JSON `doc` attribute beside their key attributes,
//! the same documents the SQLite store keeps. Channel moves are conditional
//! writes on `revision`; counters are atomic `ADD`s, sharded so one hot
//! build spreads its writes over [`COUNTER_SHARDS`] items; raw events expire
//! through the table's TTL attribute `expires_at`.

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
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};

/// Items each hot counter is spread over; reads sum them.
pub const COUNTER_SHARDS: u8 = 8;
/// The TTL attribute of the events table (infra/database.tf enables it).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Default days raw events are kept before TTL removes them.
pub const DEFAULT_EVENT_RETENTION_DAYS: i64 = 30;
/// Default days audit entries are kept before TTL removes them.
pub const DEFAULT_AUDIT_RETENTION_DAYS: i64 = 365;
/// Tables whose items expire through [`TTL_ATTRIBUTE`]: raw events and
/// their markers, audit entries, and console session tokens.
pub const TTL_TABLES: &[&str] = &["events", "audit", "tokens"];
/// The partition of global audit entries (no app id starts with `*`).
const GLOBAL_AUDIT: &str = "*";
/// The usage attribute that counts distinct devices.
const DEVICES: &str = "devices";

type Item = HashMap<String, AttributeValue>;

/// A key attribute: name and type.
pub type KeyAttr = (&'static str, ScalarKind);

/// Every table, by its suffix after the prefix: (suffix, partition key, sort key).
pub const TABLES: &[(&str, KeyAttr, Option<KeyAttr>)] = &[
    ("apps", ("app_id", ScalarKind::S), None),
    ("tokens", ("secret_sha256", ScalarKind::S), None),
    (
        "builds",
        ("app_id", ScalarKind::S),
        Some(("build_id", ScalarKind::N)),
    ),
    (
        "build_versions",
        ("app_id", ScalarKind::S),
        Some(("version", ScalarKind::S)),
    ),
    (
        "channels",
        ("app_id", ScalarKind::S),
        Some(("name", ScalarKind::S)),
    ),
    (
        "events",
        ("app_build", ScalarKind::S),
        Some(("event_key", ScalarKind::S)),
    ),
    (
        "counters",
        ("app_build", ScalarKind::S),
        Some(("kind_shard", ScalarKind::S)),
    ),
    (
        "device_channels",
        ("app_id", ScalarKind::S),
        Some(("device_id", ScalarKind::S)),
    ),
    ("sequences", ("name", ScalarKind::S), None),
    (
        "usage",
        ("app_channel", ScalarKind::S),
        Some(("bucket", ScalarKind::S)),
    ),
    (
        "audit",
        ("app_id", ScalarKind::S),
        Some(("id", ScalarKind::S)),
    ),
];

/// Key attribute types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// String.
    S,
    /// Number.
    N,
}

/// Records in DynamoDB tables named `{prefix}{table}`.
#[derive(Debug, Clone)]
pub struct DynamoRecords {
    client: Client,
    prefix: String,
    event_retention_secs: i64,
    audit_retention_secs: i64,
}

fn ddb_err<E, R>(context: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        StoreError::backend(
            context,
            std::io::Error::other(DisplayErrorContext(&e).to_string()),
        )
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn doc<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let text = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("item without doc".into()))?;
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn num(item: &Item, name: &str) -> Result<u64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("item without number {name}")))
}

fn to_doc<T: serde::Serialize>(v: &T) -> AttributeValue {
    s(serde_json::to_string(v).expect("records always serialise"))
}

/// A token: its document, with `last_used_at` kept as its own attribute (so
/// noting a use is one small UpdateItem that cannot resurrect a revoked token).
fn token_doc(item: &Item) -> Result<Token, StoreError> {
    let mut t: Token = doc(item)?;
    if item.contains_key("last_used_at") {
        t.last_used_at = Some(num(item, "last_used_at")? as i64);
    }
    Ok(t)
}

fn app_build(app: &AppId, build: u64) -> String {
    format!("{app}#{build}")
}

fn app_channel(app: &AppId, channel: &str) -> String {
    format!("{app}#{channel}")
}

/// The sort key of a usage item: grain, bucket start, build, shard, so one
/// range query reads a channel's buckets in time order.
fn usage_bucket(grain: Grain, start: Timestamp, build: u64, shard: u8) -> String {
    format!("{}#{start:011}#{build:020}#{shard}", grain.code())
}

fn random_shard() -> Result<u8, StoreError> {
    let mut rnd = [0u8; 1];
    getrandom::fill(&mut rnd)
        .map_err(|x| StoreError::backend("random", std::io::Error::other(x.to_string())))?;
    Ok(rnd[0] % COUNTER_SHARDS)
}

fn is_conditional_failure<E: std::fmt::Debug, R: std::fmt::Debug>(e: &SdkError<E, R>) -> bool {
    format!("{e:?}").contains("ConditionalCheckFailed")
}

/// The outcome of a conditional write: true when it was applied, false when
/// its condition did not hold (another writer got there first, or the item
/// is not in the state the write expects).
fn applied<T, E, R>(r: Result<T, SdkError<E, R>>, context: &'static str) -> Result<bool, StoreError>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match r {
        Ok(_) => Ok(true),
        Err(e) if is_conditional_failure(&e) => Ok(false),
        Err(e) => Err(ddb_err(context)(e)),
    }
}

impl DynamoRecords {
    /// A store over tables named `{prefix}apps`, `{prefix}builds`, ...
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            event_retention_secs: DEFAULT_EVENT_RETENTION_DAYS * 86_400,
            audit_retention_secs: DEFAULT_AUDIT_RETENTION_DAYS * 86_400,
        }
    }

    /// Sets how long audit entries live (TTL).
    pub fn with_audit_retention_days(mut self, days: u32) -> Self {
        self.audit_retention_secs = i64::from(days) * 86_400;
        self
    }

    /// Sets how long raw events live (TTL).
    pub fn with_event_retention_days(mut self, days: u32) -> Self {
        self.event_retention_secs = i64::from(days) * 86_400;
        self
    }

    fn t(&self, table: &str) -> String {
        format!("{}{table}", self.prefix)
    }

    /// Creates every table (on-demand, TTL on events), for development
    /// against moto or DynamoDB Local; production tables come from infra/.
    pub async fn create_tables(&self) -> Result<(), StoreError> {
        for (table, pk, sk) in TABLES {
            let mut req = self
                .client
                .create_table()
                .table_name(self.t(table))
                .billing_mode(BillingMode::PayPerRequest);
            for (name, kind, key_type) in std::iter::once((pk.0, pk.1, KeyType::Hash))
                .chain(sk.map(|(nm, k)| (nm, k, KeyType::Range)))
            {
                let attr_type = if kind == ScalarKind::S {
                    ScalarAttributeType::S
                } else {
                    ScalarAttributeType::N
                };
                req = req
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name(name)
                            .attribute_type(attr_type)
                            .build()
                            .map_err(|e| StoreError::backend("table definition", e))?,
                    )
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name(name)
                            .key_type(key_type)
                            .build()
                            .map_err(|e| StoreError::backend("table definition", e))?,
                    );
            }
            match req.send().await {
                Ok(_) => {}
                Err(e) if format!("{e:?}").contains("ResourceInUse") => {}
                Err(e) => return Err(ddb_err("creating a table")(e)),
            }
        }
        for table in TTL_TABLES {
            self.client
                .update_time_to_live()
                .table_name(self.t(table))
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(TTL_ATTRIBUTE)
                        .build()
                        .map_err(|e| StoreError::backend("ttl", e))?,
                )
                .send()
                .await
                .map_err(ddb_err("enabling TTL"))?;
        }
        Ok(())
    }

    async fn get(
        &self,
        table: &str,
        key: Item,
        context: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.t(table))
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err(context))?;
        Ok(out.item)
    }

    /// All items of one partition, following pagination.
    async fn query_all(
        &self,
        table: &str,
        pk_name: &str,
        pk: AttributeValue,
        forward: bool,
        context: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_items(table, (pk_name, pk), None, forward, None, context)
            .await
    }

    /// Items of one partition, only those whose sort key lies in
    /// `from..=to` when a range is given, up to `limit` items (`None`: all),
    /// following pagination.
    async fn query_items(
        &self,
        table: &str,
        (pk_name, pk): (&str, AttributeValue),
        range: Option<(&str, String, String)>,
        forward: bool,
        limit: Option<usize>,
        context: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(self.t(table))
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_values(":pk", pk.clone());
            query = match &range {
                None => query.key_condition_expression("#pk = :pk"),
                Some((sk_name, from, to)) => query
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                    .expression_attribute_names("#sk", *sk_name)
                    .expression_attribute_values(":from", s(from.clone()))
                    .expression_attribute_values(":to", s(to.clone())),
            };
            let out = query
                .scan_index_forward(forward)
                .consistent_read(true)
                .set_limit(limit.map(|l| (l - items.len()).min(1000) as i32))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(ddb_err(context))?;
            items.extend(out.items.unwrap_or_default());
            if limit.is_some_and(|l| items.len() >= l) {
                return Ok(items);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Every item of a table, following pagination (small ops tables only).
    async fn scan_all(&self, table: &str, context: &'static str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(self.t(table))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(ddb_err(context))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Puts a distinct-device marker in the events table if it is absent:
    /// true on the first sighting. It expires at `expires`.
    async fn put_marker(
        &self,
        pk: String,
        sk: String,
        at: Timestamp,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        let r = self
            .client
            .put_item()
            .table_name(self.t("events"))
            .item("app_build", s(pk))
            .item("event_key", s(sk))
            .item("at", n(at))
            .item(TTL_ATTRIBUTE, n(expires))
            .condition_expression("attribute_not_exists(event_key)")
            .send()
            .await;
        applied(r, "counting devices")
    }

    async fn next_build_id(&self) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(self.t("sequences"))
            .key("name", s("build_id"))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(ddb_err("allocating a build id"))?;
        num(&out.attributes.unwrap_or_default(), "value")
    }
}

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

/// Most items in one BatchWriteItem call (a DynamoDB limit).
const BATCH_WRITE_MAX: usize = 25;

#[async_trait]
impl EventWrite for DynamoRecords {
    /// Counters first, one atomic `ADD` per distinct counter (on a random
    /// shard), then the raw events in batches. Counters are what stats
    /// report; raw events are a bounded trail, so a crash between the two
    /// loses at most trail entries, never counts. (Not a transaction: it
    /// would double the write cost of the busiest path.)
    async fn record_events(&self, events: &[Event]) -> Result<(), StoreError> {
        let mut increments: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in events {
            *increments
                .entry((app_build(&e.app_id, e.build_id), e.kind.as_str().to_owned()))
                .or_default() += 1;
        }
        // Distinct devices: a marker item per (build, kind, device) in the
        // events table, put only if absent; each first sighting counts once.
        let mut sightings: Vec<&Event> = events.iter().collect();
        sightings.sort_by(|a, b| {
            (a.app_id.as_str(), a.build_id, a.kind, &a.device_id).cmp(&(
                b.app_id.as_str(),
                b.build_id,
                b.kind,
                &b.device_id,
            ))
        });
        sightings.dedup_by(|a, b| {
            (a.app_id.as_str(), a.build_id, a.kind, &a.device_id)
                == (b.app_id.as_str(), b.build_id, b.kind, &b.device_id)
        });
        let markers = sightings.into_iter().map(|e| async move {
            let sk = format!("seen#{}#{}", e.kind.as_str(), e.device_id);
            let expires = e.at + self.event_retention_secs;
            let first = self
                .put_marker(app_build(&e.app_id, e.build_id), sk, e.at, expires)
                .await?;
            Ok::<_, StoreError>(
                first.then(|| (app_build(&e.app_id, e.build_id), devices_counter(e.kind))),
            )
        });
        // Usage: hourly items per channel and build with a count per kind,
        // and distinct devices per hour and per day through markers like
        // the ones above.
        type UsageKey = (String, Grain, Timestamp, u64);
        let mut usage: BTreeMap<UsageKey, BTreeMap<&'static str, u64>> = BTreeMap::new();
        let mut usage_sightings = std::collections::BTreeSet::new();
        for e in events {
            let pk = app_channel(&e.app_id, &e.channel);
            let hour = Grain::Hour.start(e.at);
            *usage
                .entry((pk.clone(), Grain::Hour, hour, e.build_id))
                .or_default()
                .entry(e.kind.as_str())
                .or_default() += 1;
            for grain in [Grain::Hour, Grain::Day] {
                usage_sightings.insert((
                    pk.clone(),
                    app_build(&e.app_id, e.build_id),
                    grain,
                    grain.start(e.at),
                    e.build_id,
                    e.device_id.as_str(),
                ));
            }
        }
        let usage_markers =
            usage_sightings
                .into_iter()
                .map(|(pk, ab, grain, start, build, device)| async move {
                    let sk = format!("usage#{}#{start}#{pk}#{device}", grain.code());
                    // Needed only while the bucket is open: TTL removes it
                    // (for free) a day after the bucket has closed.
                    let expires = start + grain.seconds() + 86_400;
                    let first = self.put_marker(ab, sk, start, expires).await?;
                    Ok::<_, StoreError>(first.then_some((pk, grain, start, build)))
                });
        let (firsts, usage_firsts) = futures::future::try_join(
            futures::future::try_join_all(markers),
            futures::future::try_join_all(usage_markers),
        )
        .await?;
        for first in firsts.into_iter().flatten() {
            *increments.entry(first).or_default() += 1;
        }
        for first in usage_firsts.into_iter().flatten() {
            *usage.entry(first).or_default().entry(DEVICES).or_default() += 1;
        }
        let updates = increments.into_iter().map(|((pk, kind), by)| async move {
            self.client
                .update_item()
                .table_name(self.t("counters"))
                .key("app_build", s(pk))
                .key("kind_shard", s(format!("{kind}#{}", random_shard()?)))
                .update_expression("ADD #c :by")
                .expression_attribute_names("#c", "count")
                .expression_attribute_values(":by", n(by))
                .send()
                .await
                .map(|_| ())
                .map_err(ddb_err("counting events"))
        });
        let usage_updates =
            usage
                .into_iter()
                .map(|((pk, grain, start, build), counts)| async move {
                    let mut update = self
                        .client
                        .update_item()
                        .table_name(self.t("usage"))
                        .key("app_channel", s(pk))
                        .key(
                            "bucket",
                            s(usage_bucket(grain, start, build, random_shard()?)),
                        );
                    let mut adds = Vec::new();
                    for (i, (name, by)) in counts.into_iter().enumerate() {
                        adds.push(format!("#a{i} :v{i}"));
                        update = update
                            .expression_attribute_names(format!("#a{i}"), name)
                            .expression_attribute_values(format!(":v{i}"), n(by));
                    }
                    update
                        .update_expression(format!("ADD {}", adds.join(", ")))
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(ddb_err("counting usage"))
                });
        futures::future::try_join(
            futures::future::try_join_all(updates),
            futures::future::try_join_all(usage_updates),
        )
        .await?;
        for chunk in events.chunks(BATCH_WRITE_MAX) {
            let mut requests = Vec::with_capacity(chunk.len());
            for e in chunk {
                let mut rnd = [0u8; 8];
                getrandom::fill(&mut rnd).map_err(|x| {
                    StoreError::backend("random", std::io::Error::other(x.to_string()))
                })?;
                let put = PutRequest::builder()
                    .item("app_build", s(app_build(&e.app_id, e.build_id)))
                    .item(
                        "event_key",
                        s(format!(
                            "{:012}#{}#{}",
                            e.at,
                            e.kind.as_str(),
                            hex::encode(rnd)
                        )),
                    )
                    .item("device_id", s(e.device_id.as_str()))
                    .item("kind", s(e.kind.as_str()))
                    .item("at", n(e.at))
                    .item(TTL_ATTRIBUTE, n(e.at + self.event_retention_secs))
                    .build()
                    .map_err(|e| StoreError::backend("recording events", e))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let mut pending = HashMap::from([(self.t("events"), requests)]);
            for attempt in 0..8u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .set_request_items(Some(pending))
                    .send()
                    .await
                    .map_err(ddb_err("recording events"))?;
                match out.unprocessed_items {
                    Some(left) if !left.is_empty() => {
                        pending = left;
                        tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                    }
                    _ => break,
                }
            }
        }
        Ok(())
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StoreError> {
        // TTL removes expired events on its own; this explicit pass serves
        // development stores and retention changes.
        let mut removed = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(self.t("events"))
                .filter_expression("#at < :b")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":b", n(before))
                .projection_expression("app_build, event_key")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(ddb_err("pruning events"))?;
            for item in out.items.unwrap_or_default() {
                self.client
                    .delete_item()
                    .table_name(self.t("events"))
                    .set_key(Some(item))
                    .send()
                    .await
                    .map_err(ddb_err("pruning events"))?;
                removed += 1;
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(removed),
            }
        }
    }

    async fn set_device_channel(
        &self,
        app: &AppId,
        device_id: &str,
        channel: Option<&str>,
    ) -> Result<(), StoreError> {
        match channel {
            Some(c) => self
                .client
                .put_item()
                .table_name(self.t("device_channels"))
                .item("app_id", s(app.as_str()))
                .item("device_id", s(device_id))
                .item("channel", s(c))
                .send()
                .await
                .map(|_| ())
                .map_err(ddb_err("storing a device channel")),
            None => self
                .client
                .delete_item()
                .table_name(self.t("device_channels"))
                .key("app_id", s(app.as_str()))
                .key("device_id", s(device_id))
                .send()
                .await
                .map(|_| ())
                .map_err(ddb_err("storing a device channel")),
        }
    }
}
