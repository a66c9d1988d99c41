//! Device events in DynamoDB: sharded atomic counters first, then the raw trail.

use super::*;
use crate::domain::AppId;
use crate::model::{Event, Grain, Timestamp};
use crate::store::{devices_counter, EventWrite, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use std::collections::{BTreeMap, HashMap};

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
