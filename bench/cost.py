#!/usr/bin/env python3
"""Monthly cost of the liveship AWS stack (docs/cost.md), from published
on-demand prices (us-east-1 / eu-west-1, checked 2026-11; no free tier) and
the assumptions below. Prints the markdown tables docs/cost.md shows.

    python3 bench/cost.py
"""

# --- Published prices (USD) ------------------------------------------------
API_PER_M = 1.00  # API Gateway HTTP API, per million requests (first 300M)
API_PER_M_OVER = 0.90  # ... beyond 300M a month
LAMBDA_REQ_PER_M = 0.20  # Lambda requests, per million
LAMBDA_GB_S_ARM = 0.0000133334  # Lambda arm64, per GB-second
DDB_RRU_PER_M = 0.125  # DynamoDB on-demand read request units, per million
DDB_WRU_PER_M = 0.625  # DynamoDB on-demand write request units, per million
DDB_GB_MONTH = 0.25  # DynamoDB storage
DDB_PITR_GB_MONTH = 0.20  # point-in-time recovery
CF_REQ_PER_10K = 0.0100  # CloudFront HTTPS requests (NA/EU), per 10,000
CF_TIERS = [(10_240, 0.085), (40_960, 0.080), (102_400, 0.060), (358_400, 0.040), (float("inf"), 0.030)]
S3_GB_MONTH = 0.023
S3_GET_PER_K = 0.0004
S3_EGRESS_TIERS = [(10_240, 0.09), (40_960, 0.085), (102_400, 0.07), (float("inf"), 0.05)]
LOGS_INGEST_GB = 0.50  # CloudWatch Logs ingestion
XRAY_PER_M = 5.00  # X-Ray traces recorded

# --- Assumptions -------------------------------------------------------------
OPENS_PER_DAY = 5  # each app open is one update lookup
DAYS = 30
RELEASES = 4  # live updates a month
MB_PER_UPDATE = 2.0  # changed files per release, uncompressed (manifest builds: changed files only)
FILES_PER_UPDATE = 20  # changed files per release
EVENTS_PER_UPDATE = 2  # download_complete + applied
LOOKUP_MS, EVENT_MS = 10, 10  # billed duration (Lambda bills per ms)
LATEST_GB, EVENTS_GB = 0.25, 0.25  # memory_mb 256
READS_PER_LOOKUP_UNCACHED = 3  # GetItem app, channel, build (measured: 3,000 per 1,000)
READS_PER_REFRESH = 2  # measured: 6 requests over 3 refreshes of 5 s
CACHE_TTL = 5
# Measured on the download-complete function through a counting proxy
# (tests/tests/functions_aws.rs dynamodb_writes_per_event): the raw event, a
# distinct-device marker, the event counter and the device counter ...
WRU_PER_EVENT = 4.0
# ... and the console's usage buckets: an hourly and a daily marker, the
# hourly bucket, and the daily bucket on a device's first event of the day.
USAGE_WRU_PER_EVENT = 3.5
EVENT_BYTES = 200  # raw event item, kept 30 days
LOG_BYTES_PER_REQ = 650  # one function JSON line + one access-log line
XRAY_SAMPLED = 0.05  # default sampling: 1/s reservoir + 5%


def measured_ratio():
    """Bytes on the wire over the changed files' own size, for devices that
    take the brotli copies (@liveship/capacitor and capgo 8.x), from the last
    real-app run of bench/updates.mjs (bench/updates-results.json)."""
    import json
    import pathlib

    path = pathlib.Path(__file__).with_name("updates-results.json")
    r = json.loads(path.read_text())
    ours = next(p for p in r["paths"] if p["name"].startswith("@liveship/capacitor on capgo 8"))
    return sum(ours["bytes"]) / sum(u["raw"] for u in r["updates"])


WIRE_RATIO = measured_ratio()  # 0.22 measured (2026-12-02)


def tiered(gb, tiers):
    cost, left, floor = 0.0, gb, 0.0
    for ceiling, price in tiers:
        chunk = min(left, ceiling - floor)
        if chunk <= 0:
            break
        cost += chunk * price
        left -= chunk
        floor = ceiling
    return cost


def api(requests):
    m = requests / 1e6
    return min(m, 300) * API_PER_M + max(m - 300, 0) * API_PER_M_OVER


def lam(requests, ms, gb):
    return requests / 1e6 * LAMBDA_REQ_PER_M + requests * ms / 1000 * gb * LAMBDA_GB_S_ARM


def model(devices, wire_ratio=None):
    wire_ratio = WIRE_RATIO if wire_ratio is None else wire_ratio
    lookups = devices * OPENS_PER_DAY * DAYS
    events = devices * RELEASES * EVENTS_PER_UPDATE
    files = devices * RELEASES * FILES_PER_UPDATE
    gb_out = devices * RELEASES * MB_PER_UPDATE * wire_ratio / 1024
    secs = DAYS * 86400
    # Warm latest instances: concurrency = rate x duration, at least one.
    warm = max(1.0, lookups / secs * LOOKUP_MS / 1000 * 2)  # x2 for the daily peak
    refreshes = warm * secs / CACHE_TTL
    rows = {
        "API Gateway (lookups + events)": api(lookups + events),
        "Lambda latest": lam(lookups, LOOKUP_MS, LATEST_GB),
        "Lambda download-complete": lam(events, EVENT_MS, EVENTS_GB),
        "DynamoDB reads (warm cache)": refreshes * READS_PER_REFRESH / 1e6 * DDB_RRU_PER_M,
        "DynamoDB writes (events)": events * WRU_PER_EVENT / 1e6 * DDB_WRU_PER_M,
        "DynamoDB writes (console usage buckets)": events * USAGE_WRU_PER_EVENT / 1e6 * DDB_WRU_PER_M,
        "DynamoDB storage + PITR": events * EVENT_BYTES / 1e9 * (DDB_GB_MONTH + DDB_PITR_GB_MONTH),
        "CloudFront data out": tiered(gb_out, CF_TIERS),
        "CloudFront requests": files / 1e4 * CF_REQ_PER_10K,
        "S3 storage and origin GETs": 2 * S3_GB_MONTH + RELEASES * FILES_PER_UPDATE * 400 / 1000 * S3_GET_PER_K,
        "CloudWatch Logs": (lookups + events) * LOG_BYTES_PER_REQ / 1e9 * LOGS_INGEST_GB,
    }
    saved = {
        "without the warm cache (DynamoDB reads)": lookups * READS_PER_LOOKUP_UNCACHED / 1e6 * DDB_RRU_PER_M
        - rows["DynamoDB reads (warm cache)"],
        # Files through the API (redirect: API + Lambda) and then S3 directly.
        "without CloudFront (files via API redirect + S3)": api(files)
        + lam(files, 5, LATEST_GB)
        + files / 1e3 * S3_GET_PER_K
        + tiered(gb_out, S3_EGRESS_TIERS)
        - rows["CloudFront data out"]
        - rows["CloudFront requests"],
        "X-Ray if enabled (not in the total)": (lookups + events) * XRAY_SAMPLED / 1e6 * XRAY_PER_M,
    }
    if wire_ratio != 1.0:
        # The same month with plain files (no brotli copies: a plugin line
        # that cannot take them, or builds uploaded without them).
        plain = model(devices, 1.0)[2]["CloudFront data out"]
        saved["without brotli copies (plain changed files)"] = plain - rows["CloudFront data out"]
    return lookups, gb_out, rows, saved


def main():
    print(f"wire bytes / changed bytes with brotli copies: {WIRE_RATIO:.3f} (bench/updates-results.json)")
    print()
    sizes = [100_000, 1_000_000, 10_000_000]
    results = [model(d) for d in sizes]
    head = "| monthly | " + " | ".join(f"{d:,} devices" for d in sizes) + " |"
    print(head)
    print("|---" * (len(sizes) + 1) + "|")
    print("| lookups | " + " | ".join(f"{r[0] / 1e6:,.0f} M" for r in results) + " |")
    print("| bytes to devices | " + " | ".join(f"{r[1]:,.0f} GB" for r in results) + " |")
    print("| ... without brotli copies | " + " | ".join(f"{d * RELEASES * MB_PER_UPDATE / 1024:,.0f} GB" for d in sizes) + " |")
    for name in results[0][2]:
        print(f"| {name} | " + " | ".join(f"${r[2][name]:,.2f}" for r in results) + " |")
    print("| **total** | " + " | ".join(f"**${sum(r[2].values()):,.0f}**" for r in results) + " |")
    print("| per 1,000 devices | " + " | ".join(f"${sum(r[2].values()) / d * 1000:,.2f}" for r, d in zip(results, sizes)) + " |")
    print()
    print("| extra cost | " + " | ".join(f"{d:,} devices" for d in sizes) + " |")
    print("|---" * (len(sizes) + 1) + "|")
    for name in results[0][3]:
        print(f"| {name} | " + " | ".join(f"${r[3][name]:,.2f}" for r in results) + " |")


if __name__ == "__main__":
    main()
