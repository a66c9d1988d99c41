//! What each release line of the stock `@capgo/capacitor-updater` plugin
//! verifies and understands, from its `plugin_version` (sent in every
//! request). Read from the plugins' native sources (`npm pack
//! @capgo/capacitor-updater@<version>`, android/ and ios/); the table per
//! line is in docs/capacitor.md.
//!
//! Two protocol families are in the field:
//! - **legacy**: 4.x; 5.x before 5.10.0; 6.x before 6.25.0; 7.x before
//!   7.0.30; and npm's 9.0.0 and 10.0.0, which are Capacitor 5 builds of the
//!   old code (npm's `latest` tag pointed at 10.0.0 for a long time). These
//!   check a zip download against a CRC-32 (`%08x`), read any answer with a
//!   `message` as "no update", ignore `manifest`, and have no "back to
//!   built-in" signal;
//! - **current**: every later release (5.10.0+, 6.25.0+, 7.0.30+, 8.x):
//!   SHA-256 of the zip (required), per-file `manifest` downloads checked
//!   with SHA-256, `{"version": "builtin"}` to go back to the built-in
//!   bundle, and answers with `error` or `kind` read as errors.
//!
//! Channel self-assignment moved from the server to the device in 5.34.0,
//! 6.34.0, 7.34.0 and 8.0.0: those releases keep the chosen channel
//! themselves and send it as `defaultChannel`, and `unsetChannel` never
//! calls the server; older releases ask the server (`DELETE` to unset).

use std::cmp::Ordering;

/// The checksum a line computes over a downloaded zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipChecksum {
    /// CRC-32, 8 lowercase hex characters.
    Crc32,
    /// SHA-256, 64 lowercase hex characters.
    Sha256,
}

/// A plugin release, parsed from `plugin_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLine {
    version: Option<(u64, u64, u64)>,
}

impl PluginLine {
    /// The line of a `plugin_version` value (`None`, empty or unparsable:
    /// the oldest behaviour, which every release understands).
    pub fn parse(plugin_version: Option<&str>) -> Self {
        // 1-3 dot-separated runs of ASCII digits, after an optional `v` and
        // before any `-pre` or `+build` suffix; anything else is unparsable.
        let version = plugin_version.and_then(|v| {
            let core = v.trim().trim_start_matches('v');
            let core = core.split(['-', '+']).next().unwrap_or("");
            let parts: Vec<&str> = core.split('.').collect();
            if parts.len() > 3
                || !parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            {
                return None;
            }
            let n: Vec<u64> = parts
                .iter()
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            Some((
                n[0],
                n.get(1).copied().unwrap_or(0),
                n.get(2).copied().unwrap_or(0),
            ))
        });
        Self { version }
    }

    fn at_least(&self, min: (u64, u64, u64)) -> bool {
        self.version.is_some_and(|v| v.cmp(&min) != Ordering::Less)
    }

    /// True for the legacy protocol family (see the module docs).
    pub fn is_legacy(&self) -> bool {
        let Some((major, minor, patch)) = self.version else {
            return true;
        };
        match major {
            0..=4 => true,
            5 => !self.at_least((5, 10, 0)),
            6 => !self.at_least((6, 25, 0)),
            7 => !self.at_least((7, 0, 30)),
            // npm's 9.0.0 and 10.0.0 are the Capacitor 5 code line.
            9 | 10 => minor == 0 && patch == 0,
            _ => false,
        }
    }

    /// The checksum this line computes over a zip download.
    pub fn zip_checksum(&self) -> ZipChecksum {
        if self.is_legacy() {
            ZipChecksum::Crc32
        } else {
            ZipChecksum::Sha256
        }
    }

    /// True when this line downloads per-file `manifest` entries (each
    /// checked against its SHA-256) instead of the zip.
    pub fn reads_manifest(&self) -> bool {
        !self.is_legacy()
    }

    /// True when this line goes back to its built-in bundle on
    /// `{"version": "builtin"}`.
    pub fn understands_builtin(&self) -> bool {
        !self.is_legacy()
    }

    /// True when this line brotli-decompresses a per-file `manifest` entry
    /// whose `file_name` ends in `.br` (saving it without the suffix) and
    /// checks `file_hash` against the decompressed bytes: DownloadService
    /// from 5.43.3, 6.39.0 and 7.0.50, and every 8.x (read in 8.4.2 and
    /// 8.51.23). 5.10.0, 6.25.0 and 7.0.30 keep such a file as it came; the
    /// releases between those and the first ones read are not on the
    /// registry here, so they are treated as not decompressing (they get
    /// the plain files, which every line takes).
    pub fn decompresses_brotli(&self) -> bool {
        let Some((major, _, _)) = self.version else {
            return false;
        };
        match major {
            5 => self.at_least((5, 43, 3)),
            6 => self.at_least((6, 39, 0)),
            7 => self.at_least((7, 0, 50)),
            8 => true,
            9 | 10 => !self.is_legacy(),
            m => m > 10,
        }
    }

    /// True when this line keeps a self-assigned channel on the device (and
    /// sends it as `defaultChannel`) rather than asking the server for it.
    pub fn keeps_channel_on_device(&self) -> bool {
        let Some((major, _, _)) = self.version else {
            return false;
        };
        match major {
            5 => self.at_least((5, 34, 0)),
            6 => self.at_least((6, 34, 0)),
            7 => self.at_least((7, 34, 0)),
            8 => true,
            9 | 10 => !self.is_legacy(),
            m => m > 10,
        }
    }
}

/// What a stats `action` of the plugin says, and which build it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatAction {
    /// A zip or its files were downloaded (`download_complete`).
    Downloaded,
    /// A download of the offered build failed: the transfer, the checksum,
    /// unzipping, decrypting. Every line names the bundle the device runs
    /// in `version_name` for some of these, never reliably the one that failed.
    DownloadFailed,
    /// A downloaded bundle was made current (`set`): `version_name` is it.
    Applied,
    /// The bundle that runs failed to call `notifyAppReady` and the plugin
    /// went back (`update_fail`): `version_name` is the failed bundle.
    UpdateFailed,
    /// Back to the built-in bundle (`reset`): `old_version_name` is the
    /// bundle left, where the line sends it.
    Reset,
}

impl StatAction {
    /// The meaning of a plugin action; `None` for the many informational
    /// actions (`app_moved_to_foreground`, `download_10`, `delete`, ...).
    pub fn of(action: &str) -> Option<Self> {
        Some(match action {
            "download_complete" => Self::Downloaded,
            "download_fail"
            | "checksum_fail"
            | "unzip_fail"
            | "decrypt_fail"
            | "finish_download_fail"
            | "download_manifest_file_fail"
            | "download_manifest_checksum_fail"
            | "download_manifest_brotli_fail"
            | "windows_path_fail"
            | "canonical_path_fail"
            | "directory_path_fail"
            | "checksum_required"
            | "set_fail" => Self::DownloadFailed,
            "set" => Self::Applied,
            "update_fail" => Self::UpdateFailed,
            "reset" => Self::Reset,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(v: &str) -> PluginLine {
        PluginLine::parse(Some(v))
    }

    #[test]
    fn checksum_by_line_as_the_native_sources_compute_it() {
        for v in [
            "4.61.11", "5.0.0", "5.9.5", "6.14.26", "6.24.9", "7.0.0", "7.0.29", "9.0.0", "10.0.0",
        ] {
            assert_eq!(line(v).zip_checksum(), ZipChecksum::Crc32, "{v}");
            assert!(!line(v).reads_manifest(), "{v}");
            assert!(!line(v).understands_builtin(), "{v}");
        }
        for v in [
            "5.10.0", "5.43.3", "5.50.2", "6.25.0", "6.39.0", "6.51.16", "7.0.30", "7.0.50",
            "7.22.0", "7.51.21", "8.0.0", "8.51.23", "9.1.0", "11.0.0",
        ] {
            assert_eq!(line(v).zip_checksum(), ZipChecksum::Sha256, "{v}");
            assert!(line(v).reads_manifest(), "{v}");
            assert!(line(v).understands_builtin(), "{v}");
        }
        assert!(PluginLine::parse(None).is_legacy());
        assert!(PluginLine::parse(Some("")).is_legacy());
        assert!(PluginLine::parse(Some("next")).is_legacy());
        assert!(!line("8.1.0-beta.2").is_legacy());
    }

    #[test]
    fn channel_storage_by_line() {
        for v in ["5.33.9", "6.14.26", "7.22.0", "7.33.0", "10.0.0", "4.61.11"] {
            assert!(!line(v).keeps_channel_on_device(), "{v}");
        }
        for v in [
            "5.34.0", "5.50.2", "6.34.0", "6.51.16", "7.34.0", "7.51.21", "8.0.0", "8.51.23",
        ] {
            assert!(line(v).keeps_channel_on_device(), "{v}");
        }
        assert!(!PluginLine::parse(None).keeps_channel_on_device());
    }

    /// The cases TypeScript checks too (clients/capacitor/test/capgo-lines.test.mjs).
    #[test]
    fn shared_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/capgo-lines.json"
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() > 20);
        for c in cases {
            let line = PluginLine::parse(c["plugin_version"].as_str());
            let want = if c["zip_checksum"] == "crc32" {
                ZipChecksum::Crc32
            } else {
                ZipChecksum::Sha256
            };
            assert_eq!(line.is_legacy(), c["legacy"].as_bool().unwrap(), "{c}");
            assert_eq!(line.zip_checksum(), want, "{c}");
            assert_eq!(
                line.keeps_channel_on_device(),
                c["keeps_channel_on_device"].as_bool().unwrap(),
                "{c}"
            );
            assert_eq!(
                line.decompresses_brotli(),
                c["decompresses_brotli"].as_bool().unwrap(),
                "{c}"
            );
        }
    }

    #[test]
    fn actions() {
        assert_eq!(
            StatAction::of("download_complete"),
            Some(StatAction::Downloaded)
        );
        assert_eq!(
            StatAction::of("checksum_fail"),
            Some(StatAction::DownloadFailed)
        );
        assert_eq!(StatAction::of("set"), Some(StatAction::Applied));
        assert_eq!(
            StatAction::of("update_fail"),
            Some(StatAction::UpdateFailed)
        );
        assert_eq!(StatAction::of("reset"), Some(StatAction::Reset));
        assert_eq!(StatAction::of("app_moved_to_foreground"), None);
        assert_eq!(StatAction::of("download_50"), None);
    }
}
