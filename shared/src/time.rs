//! Time: the one clock ([`now`], which the fleet simulator can drive
//! through a file) and the one civil-date implementation.

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

static CLOCK_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Makes [`now`] read the time from a file (`LIVESHIP_CLOCK_FILE`: the fleet
/// simulator's clock). Set once at start; later calls are ignored.
pub fn use_clock_file(path: std::path::PathBuf) {
    let _ = CLOCK_FILE.set(path);
}

/// Now, in [`Timestamp`] form.
pub fn now() -> Timestamp {
    if let Some(path) = CLOCK_FILE.get() {
        // A file the simulator is rewriting reads as its old or new
        // content (it renames into place); unreadable falls back to the
        // system clock.
        if let Some(t) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return t;
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A Unix time as `2026-11-23 19:48 UTC`.
pub fn utc(t: Timestamp) -> String {
    let (y, m, d, hour, minute, _) = utc_parts(t);
    format!("{y:04}-{m:02}-{d:02} {hour:02}:{minute:02} UTC")
}

/// The UTC calendar date and time of a Unix time: (year, month, day, hour,
/// minute, second). One implementation for every place that prints dates
/// (the console, the CLI, log timestamps).
pub fn utc_parts(t: Timestamp) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}
