//! Device events in SQLite: counters and the raw trail in one transaction.

use super::*;
use crate::domain::AppId;
use crate::model::{Event, Grain, Timestamp};
use crate::store::{devices_counter, EventWrite, StoreError};
use async_trait::async_trait;
use rusqlite::params;

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
