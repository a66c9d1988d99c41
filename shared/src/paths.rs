//! The rules for paths inside a manifest or a zip.
//!
//! A path names one file relative to the root of a build. It uses `/` as the
//! only separator and can never point outside the build, on any platform the
//! files may be written to (Linux servers, macOS CI, iOS and Android devices,
//! Windows developer machines).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The manifest's own file name at the root of a build directory or zip.
/// A manifest never lists this path.
pub const MANIFEST_FILE_NAME: &str = "live-update-manifest.json";

/// Longest path accepted, in bytes (well under every platform's PATH_MAX).
pub const MAX_PATH_LEN: usize = 1024;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRule {
    /// The path is empty.
    Empty,
    /// Longer than [`MAX_PATH_LEN`].
    TooLong,
    /// Contains a NUL byte.
    Nul,
    /// Contains another control character (newline, tab, ...).
    ControlChar,
    /// Contains a backslash.
    Backslash,
    /// Starts with `/`.
    Absolute,
    /// Starts with a drive letter such as `C:`.
    DriveLetter,
    /// Has a `..` segment.
    DotDot,
    /// Has a `.` segment.
    Dot,
    /// Has an empty segment (`a//b`, or a trailing `/`).
    EmptySegment,
    /// Is the manifest file itself.
    ManifestItself,
}

impl fmt::Display for PathRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathRule::Empty => "is empty",
            PathRule::TooLong => "is longer than 1024 bytes",
            PathRule::Nul => "contains a NUL byte",
            PathRule::ControlChar => "contains a control character",
            PathRule::Backslash => "contains a backslash (use '/' as the separator)",
            PathRule::Absolute => "is absolute (starts with '/')",
            PathRule::DriveLetter => "starts with a drive letter",
            PathRule::DotDot => "has a '..' segment",
            PathRule::Dot => "has a '.' segment",
            PathRule::EmptySegment => "has an empty segment ('//' or a trailing '/')",
            PathRule::ManifestItself => "is the manifest file itself, which a manifest never lists",
        })
    }
}

/// A path that breaks one of the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path {path:?} {rule}")]
pub struct PathError {
    /// The offending path (lossy if it was not UTF-8).
    pub path: String,
    /// The rule it breaks.
    pub rule: PathRule,
}

/// Checks one path against the rules; see the module docs and docs/manifest.md.
pub fn check_path(path: &str) -> Result<(), PathError> {
    let fail = |rule| {
        Err(PathError {
            path: path.to_owned(),
            rule,
        })
    };
    if path.is_empty() {
        return fail(PathRule::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return fail(PathRule::TooLong);
    }
    if path.contains('\0') {
        return fail(PathRule::Nul);
    }
    if path.chars().any(|c| c.is_control()) {
        return fail(PathRule::ControlChar);
    }
    if path.contains('\\') {
        return fail(PathRule::Backslash);
    }
    if path.starts_with('/') {
        return fail(PathRule::Absolute);
    }
    let b = path.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return fail(PathRule::DriveLetter);
    }
    for segment in path.split('/') {
        match segment {
            "" => return fail(PathRule::EmptySegment),
            "." => return fail(PathRule::Dot),
            ".." => return fail(PathRule::DotDot),
            _ => {}
        }
    }
    if path == MANIFEST_FILE_NAME {
        return fail(PathRule::ManifestItself);
    }
    Ok(())
}

/// A path that follows every rule in [`check_path`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ManifestPath(String);

impl ManifestPath {
    /// Validates and wraps a path.
    pub fn new(s: impl Into<String>) -> Result<Self, PathError> {
        let s = s.into();
        check_path(&s)?;
        Ok(Self(s))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path as a relative [`std::path::PathBuf`] for the local platform.
    /// Safe to join onto a root: the rules exclude every escaping form.
    pub fn to_relative_path(&self) -> std::path::PathBuf {
        self.0.split('/').collect()
    }
}

impl TryFrom<String> for ManifestPath {
    type Error = PathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<ManifestPath> for String {
    fn from(p: ManifestPath) -> String {
        p.0
    }
}

impl fmt::Display for ManifestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ManifestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "index.html",
            "assets/icon/favicon.png",
            ".well-known/assetlinks.json",
            "a..b/c..d",
            "svg/x:y.svg",
            "sub/live-update-manifest.json",
            "ünïcödé/文件.js",
        ] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_each_bad_form() {
        let long = "a".repeat(MAX_PATH_LEN + 1);
        let cases: &[(&str, PathRule)] = &[
            ("", PathRule::Empty),
            (&long, PathRule::TooLong),
            ("a\0b", PathRule::Nul),
            ("a\nb", PathRule::ControlChar),
            ("a\\b", PathRule::Backslash),
            ("..\\evil", PathRule::Backslash),
            ("/etc/passwd", PathRule::Absolute),
            ("C:/Windows/x", PathRule::DriveLetter),
            ("c:evil", PathRule::DriveLetter),
            ("..", PathRule::DotDot),
            ("../evil.js", PathRule::DotDot),
            ("a/../../evil.js", PathRule::DotDot),
            ("a/..", PathRule::DotDot),
            ("./a", PathRule::Dot),
            ("a//b", PathRule::EmptySegment),
            ("a/", PathRule::EmptySegment),
            (MANIFEST_FILE_NAME, PathRule::ManifestItself),
        ];
        for (path, rule) in cases {
            let err = check_path(path).unwrap_err();
            assert_eq!(err.rule, *rule, "{path:?}");
            assert!(ManifestPath::new(*path).is_err());
        }
    }

    #[test]
    fn serde_refuses_bad_paths() {
        let r: Result<ManifestPath, _> = serde_json::from_str("\"../x\"");
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("'..'"), "{msg}");
    }

    #[test]
    fn relative_path_joins_inside_root() {
        let p = ManifestPath::new("a/b/c.txt").unwrap();
        let joined = std::path::Path::new("/root").join(p.to_relative_path());
        assert!(joined.starts_with("/root"));
        assert_eq!(joined, std::path::Path::new("/root/a/b/c.txt"));
    }
}
