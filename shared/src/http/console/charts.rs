//! Charts as inline SVG (no script, no external asset; presentation
//! attributes only, which the strict CSP allows), each with the table of
//! its numbers beside it for screen readers and tests.

use crate::model::utc as when;
use crate::model::EventKind;
use crate::wire::BuildStats;
use crate::wire::UsageAnswer;
use maud::html;
use maud::Markup;
use std::collections::BTreeMap;

const PALETTE: [&str; 8] = [
    "#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#65a30d", "#db2777",
];
const W: f64 = 720.0;
const H: f64 = 180.0;

/// Per bucket start: devices per build.
fn by_bucket(u: &UsageAnswer) -> BTreeMap<i64, BTreeMap<u64, u64>> {
    let mut out: BTreeMap<i64, BTreeMap<u64, u64>> = BTreeMap::new();
    for b in &u.buckets {
        *out.entry(b.start)
            .or_default()
            .entry(b.build_id)
            .or_default() += b.devices;
    }
    out
}

/// Failure rate of a build: devices that reported a failure or a rollback,
/// per device that downloaded it (`None` before any download).
pub(super) fn failure_rate(stats: &BuildStats) -> Option<f64> {
    let downloaded = devices_of(stats, EventKind::DownloadComplete);
    let bad = devices_of(stats, EventKind::Failed) + devices_of(stats, EventKind::RolledBack);
    (downloaded > 0).then(|| (bad as f64 / downloaded as f64).min(1.0))
}

/// Stacked bars: the share of reporting devices on each build, per bucket.
pub(super) fn adoption(u: &UsageAnswer, label: &dyn Fn(u64) -> String, name: &str) -> Markup {
    let data = by_bucket(u);
    if data.is_empty() {
        return html! {
            p.empty { "No device has reported on this channel in this period. Devices report when they "
                "download, apply, fail or roll back a build." }
        };
    }
    let step = if u.grain == "hour" { 3_600 } else { 86_400 };
    let n = ((u.to - u.from) / step).max(1);
    let bar = W / n as f64;
    let builds: Vec<u64> = {
        let mut v: Vec<u64> = data.values().flat_map(|m| m.keys().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let color = |id: u64| {
        let i = builds.iter().position(|b| *b == id).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    // Each bucket's bars stack from the bottom, one per build.
    let mut rects = Vec::new();
    for (start, per) in &data {
        let total: u64 = per.values().sum();
        let x = ((start - u.from) / step) as f64 * bar;
        let mut y = H;
        for (build, devices) in per {
            let h = H * *devices as f64 / total.max(1) as f64;
            y -= h;
            let title = format!(
                "{}: {} {devices} of {total} devices",
                when(*start),
                label(*build)
            );
            rects.push((x, y, h, *build, title));
        }
    }
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {}", H + 20.0)) role="img"
                aria-label=(format!("{name} adoption by build")) {
                rect x="0" y="0" width=(W) height=(H) fill="#f8fafc" {}
                @for (x, y, h, build, title) in &rects {
                    rect x=(format!("{x:.2}")) y=(format!("{y:.2}")) width=(format!("{:.2}", (bar - 1.0).max(1.0)))
                        height=(format!("{h:.2}")) fill=(color(*build)) { title { (title) } }
                }
                text x="4" y="14" font-size="12" fill="#475569" { "100%" }
                text x="0" y=(H + 15.0) font-size="12" fill="#475569" { (when(u.from)) }
                text x=(W) y=(H + 15.0) font-size="12" fill="#475569" text-anchor="end" { "now" }
            }
            figcaption {
                ul.legend { @for b in &builds {
                    li { svg width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(color(*b)) {} } " " (label(*b)) }
                } }
            }
        }
        details.numbers {
            summary { "The numbers" }
            div.scroll { table class=(format!("adoption-{name}")) {
                thead { tr { th scope="col" { "From" } th scope="col" { "Build" } th scope="col" { "Devices" } th scope="col" { "Share" } } }
                tbody { @for (start, per) in data.iter().rev() {
                    @let total: u64 = per.values().sum();
                    @for (build, devices) in per { tr data-build=(build) {
                        td { (when(*start)) } td { (label(*build)) } td.devices { (devices) }
                        td.share { (format!("{:.1}%", 100.0 * *devices as f64 / total.max(1) as f64)) }
                    } }
                } }
            } }
        }
    }
}

/// The funnel of a build: devices that downloaded, applied, failed and
/// rolled back, with the failure rate.
pub(super) fn funnel(stats: &BuildStats) -> Markup {
    let steps = [
        ("Downloaded", EventKind::DownloadComplete, "#2563eb"),
        ("Applied", EventKind::Applied, "#16a34a"),
        ("Failed", EventKind::Failed, "#dc2626"),
        ("Rolled back", EventKind::RolledBack, "#d97706"),
    ];
    let top = steps
        .iter()
        .map(|(_, k, _)| devices_of(stats, *k))
        .max()
        .unwrap_or(0);
    if top == 0 {
        return html! {
            p.empty { "No device has reported this build yet. Devices report when they download, apply, "
                "fail or roll back a build; counts appear here within seconds." }
        };
    }
    let row = 34.0;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {}", row * steps.len() as f64)) role="img" aria-label="Devices per step" {
                @for (i, (name, kind, color)) in steps.iter().enumerate() {
                    @let n = devices_of(stats, *kind);
                    @let w = (W - 200.0) * n as f64 / top as f64;
                    @let y = i as f64 * row;
                    text x="0" y=(y + 21.0) font-size="14" fill="#0f172a" { (name) }
                    rect x="110" y=(y + 6.0) width=(format!("{w:.2}")) height="22" fill=(color) {}
                    text x=(format!("{:.2}", 116.0 + w)) y=(y + 22.0) font-size="14" fill="#0f172a" { (n) }
                }
            }
        }
        p.rate {
            "Failure rate: "
            strong.failure-rate { @match failure_rate(stats) {
                Some(r) => (format!("{:.1}%", 100.0 * r)),
                None => "no downloads yet",
            } }
            " (devices that failed or rolled back, per device that downloaded)."
        }
        div.scroll { table.funnel {
            thead { tr { th scope="col" { "Step" } th scope="col" { "Devices" } th scope="col" { "Events" } } }
            tbody { @for (name, kind, _) in &steps { tr data-kind=(kind.as_str()) {
                td { (name) } td.devices { (devices_of(stats, *kind)) } td.events { (stats.counts.get(kind).copied().unwrap_or(0)) }
            } } }
        } }
    }
}

/// Distinct devices of a build that reported `k` (0 when none).
pub(crate) fn devices_of(stats: &BuildStats, k: EventKind) -> u64 {
    stats.devices.get(&k).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UsageBucket;

    fn stats(d: [u64; 4]) -> BuildStats {
        BuildStats {
            build_id: 1,
            counts: EventKind::ALL.iter().zip(d).map(|(k, n)| (*k, n)).collect(),
            devices: EventKind::ALL.iter().zip(d).map(|(k, n)| (*k, n)).collect(),
        }
    }

    #[test]
    fn failure_rate_counts_failures_and_rollbacks_per_download() {
        assert_eq!(failure_rate(&stats([0, 0, 3, 0])), None);
        assert_eq!(failure_rate(&stats([200, 190, 6, 4])), Some(0.05));
        assert_eq!(failure_rate(&stats([1, 0, 3, 2])), Some(1.0));
    }

    #[test]
    fn adoption_shares_add_up_per_bucket() {
        let u = UsageAnswer {
            grain: "hour".into(),
            from: 0,
            to: 7_200,
            buckets: vec![
                UsageBucket {
                    start: 0,
                    build_id: 1,
                    devices: 3,
                    ..Default::default()
                },
                UsageBucket {
                    start: 0,
                    build_id: 2,
                    devices: 1,
                    ..Default::default()
                },
                UsageBucket {
                    start: 3_600,
                    build_id: 2,
                    devices: 5,
                    ..Default::default()
                },
            ],
        };
        let page = adoption(&u, &|b| format!("b{b}"), "hourly").into_string();
        assert!(
            page.contains("75.0%") && page.contains("25.0%") && page.contains("100.0%"),
            "{page}"
        );
        assert!(!page.contains("<script"));
    }
}
