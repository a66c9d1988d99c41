//! Domain identifiers and their validation. No I/O, no cloud types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value that does not follow the rules for its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The app id breaks the app id rules.
    #[error(
        "invalid app id {0:?}: use 1-128 ASCII letters, digits, '.', '_' or '-', \
         starting with a letter or digit (such as com.example.app)"
    )]
    AppId(String),
    /// The version label breaks the version rules.
    #[error(
        "invalid version {0:?}: use 1-64 characters of letters, digits, '.', '_', '+' or '-', \
         starting with a letter or digit"
    )]
    Version(String),
    /// The version label is one the device plugins reserve.
    #[error(
        "version {0:?} is reserved by the device plugin (it names the bundle shipped in the app); \
         choose another version label"
    )]
    ReservedVersion(String),
    /// A native (binary) version limit that is not a version number.
    #[error(
        "invalid native version {0:?}: use numbers separated by dots, such as 2.3 or 10.0.1, \
         optionally followed by a suffix such as -beta.1 (at most {MAX_NATIVE_VERSION} characters)"
    )]
    NativeVersion(String),
    /// A platform native limits cannot name.
    #[error("invalid platform {0:?}: native version limits are set per platform: ios or android")]
    Platform(String),
    /// The channel name breaks the channel name rules.
    #[error(
        "invalid channel name {0:?}: use 1-{MAX_CHANNEL} letters, digits, '.', '_' or '-' \
         (not `.` or `..`, which name no URL path segment)"
    )]
    Channel(String),
}

/// An application id, such as `042a1261` (Appflow), `com.example.app`
/// (Capacitor, Capgo) or `photo-gallery` (Cartona).
///
/// The rule ([`check_app_id`]) makes every id a safe, single path segment:
/// app ids name folders in the blob store (`apps/{app}/...`) and segments of
/// URLs, so `.`, `..`, `.hidden`, `-flag`, separators and non-ASCII letters
/// are refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppId(String);

impl AppId {
    /// Validates and wraps an app id.
    pub fn new(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        if check_app_id(&s) {
            Ok(Self(s))
        } else {
            Err(DomainError::AppId(s))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest channel name.
pub const MAX_CHANNEL: usize = 64;

/// A channel name, such as `production` or `beta-2`: 1-64 ASCII letters,
/// digits, `.`, `_` or `-` (one safe URL path segment). Every entry point
/// (CI routes, the console, device routes that name a channel) checks names
/// through [`ChannelName::new`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChannelName(String);

impl ChannelName {
    /// Validates and wraps a channel name.
    pub fn new(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        // `.` and `..` would pass the character rule, but a client
        // normalises them out of every URL path: such a channel could be
        // created and never reached.
        let ok = (1..=MAX_CHANNEL).contains(&s.len())
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s))
        } else {
            Err(DomainError::Channel(s))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A build version label, such as `1.4.2` or `2026.11.22+build.7`.
///
/// `builtin` and `unknown` are refused: `@capgo/capacitor-updater` uses them
/// for the bundle compiled into the app, so a build with that name could never
/// be told apart from it on a device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BuildVersion(String);

impl BuildVersion {
    /// Validates and wraps a version label.
    pub fn new(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        let ok = (1..=64).contains(&s.len())
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
        if !ok {
            return Err(DomainError::Version(s));
        }
        if s.eq_ignore_ascii_case("builtin") || s.eq_ignore_ascii_case("unknown") {
            return Err(DomainError::ReservedVersion(s));
        }
        Ok(Self(s))
    }

    /// The version as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest app id, in bytes.
pub const MAX_APP_ID: usize = 128;

/// The app id rule, the one place it is stated (docs/rules.md; mirrored by
/// `appIdProblem` in clients/capacitor): 1-128 ASCII letters, digits, `.`,
/// `_` or `-`, the first a letter or digit.
pub fn check_app_id(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=MAX_APP_ID).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Longest native version accepted in a limit.
pub const MAX_NATIVE_VERSION: usize = 32;

/// The platforms native version limits apply to (Capacitor's native ones).
pub const NATIVE_PLATFORMS: [&str; 2] = ["android", "ios"];

/// The native version rule for limits (docs/rules.md): 1-4 dot-separated
/// numbers, optionally `-` or `+` and a suffix of letters, digits, `.` or
/// `-`. Limits compare numerically ([`crate::lookup::native_cmp`]), so
/// anything else (`banana`) would silently act as version 0.
pub fn check_native_version(s: &str) -> Result<(), DomainError> {
    let bad = || DomainError::NativeVersion(s.to_owned());
    if s.is_empty() || s.len() > MAX_NATIVE_VERSION {
        return Err(bad());
    }
    let (numbers, suffix) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    let numbers_ok = (1..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| (1..=9).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()));
    let suffix_ok = suffix.is_none_or(|x| {
        !x.is_empty()
            && x.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-'))
    });
    if numbers_ok && suffix_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A platform name for native limits, lower-cased, if it is one of
/// [`NATIVE_PLATFORMS`].
pub fn native_platform(s: &str) -> Result<&'static str, DomainError> {
    let lower = s.trim().to_ascii_lowercase();
    NATIVE_PLATFORMS
        .into_iter()
        .find(|p| *p == lower)
        .ok_or_else(|| DomainError::Platform(s.to_owned()))
}

macro_rules! string_newtype_impls {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $t {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    };
}
string_newtype_impls!(AppId);
string_newtype_impls!(BuildVersion);
string_newtype_impls!(ChannelName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        for ok in ["production", "beta-2", "a", "x.y_z", &"c".repeat(64)] {
            assert_eq!(ChannelName::new(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "has space", "a/b", "ü", &"c".repeat(65), ".", ".."] {
            let e = ChannelName::new(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid channel name {bad:?}: use 1-64 letters, digits, '.', '_' or '-' \
                     (not `.` or `..`, which name no URL path segment)"
                )
            );
        }
        assert!(ChannelName::new("...").is_ok() && ChannelName::new(".beta").is_ok());
    }

    #[test]
    fn app_ids() {
        for ok in [
            "042a1261",
            "com.example.app",
            "photo-gallery",
            "a",
            "A_b-c.9",
            "9",
        ] {
            assert!(AppId::new(ok).is_ok(), "{ok}");
        }
        let bad_ids = [
            "",
            ".",
            "..",
            ".hidden",
            "-flag",
            "_x",
            "a b",
            "a/b",
            "a\\b",
            "../x",
            "é",
            "a\0",
            &"x".repeat(129),
        ];
        for bad in bad_ids {
            assert!(AppId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for ok in ["1.0.0", "2026.11.22+build.7", "v3", "1.0.0-rc.1"] {
            assert!(BuildVersion::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-1", ".1", "1 0", "1/0", &"1".repeat(65)] {
            assert!(
                matches!(BuildVersion::new(bad), Err(DomainError::Version(_))),
                "{bad}"
            );
        }
        for reserved in ["builtin", "BUILTIN", "unknown"] {
            assert!(matches!(
                BuildVersion::new(reserved),
                Err(DomainError::ReservedVersion(_))
            ));
        }
    }

    #[test]
    fn serde_validates() {
        let bad: Result<AppId, _> = serde_json::from_str("\"a b\"");
        assert!(bad.is_err());
        let good: AppId = serde_json::from_str("\"com.example\"").unwrap();
        assert_eq!(good.as_str(), "com.example");
    }

    #[test]
    fn native_versions() {
        for ok in [
            "9",
            "9.0",
            "10.0.1",
            "1.2.3.4",
            "2.0.0-beta.1",
            "3.1+build-7",
        ] {
            assert!(check_native_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "banana",
            "v1.0",
            "1..2",
            "1.2.3.4.5",
            "1.0-",
            "1.0 ",
            " 1.0",
            "1.x",
            "1234567890",
            "1.0-be ta",
        ] {
            assert!(check_native_version(bad).is_err(), "{bad:?}");
        }
        assert_eq!(native_platform("iOS").unwrap(), "ios");
        assert!(native_platform("iso").is_err());
        assert!(native_platform("web").is_err());
    }
}
