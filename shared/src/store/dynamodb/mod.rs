//! The DynamoDB record store (feature `aws`). Table design, access patterns
//! and which function uses each: docs/dynamodb.md.
//!
//! Records are stored as a JSON `doc` attribute beside their key attributes,
//! the same documents the SQLite store keeps. Channel moves are conditional
//! writes on `revision`; counters are atomic `ADD`s, sharded so one hot
//! build spreads its writes over [`COUNTER_SHARDS`] items; raw events expire
//! through the table's TTL attribute `expires_at`.

use super::StoreError;
use crate::domain::AppId;
use crate::model::{Grain, Timestamp, Token};
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

mod events;
mod read;
mod write;

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
