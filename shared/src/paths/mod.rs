//! The rules for paths inside a manifest or a zip.
//!
//! A path names one file relative to the root of a build. It uses `/` as the
//! only separator and can never point outside the build, on any platform the
//! files may be written to (Linux servers, macOS CI, iOS and Android devices,
//! Windows developer machines).

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;

mod unicode_tables;
pub use unicode_tables::UNICODE_VERSION;

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

/// Why a set of paths cannot all be written to one device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// The same path twice.
    #[error("lists {0:?} more than once")]
    Duplicate(String),
    /// Two paths that name the same file on a case-insensitive,
    /// normalisation-insensitive file system (APFS on iOS and macOS, NTFS).
    #[error(
        "lists {0:?} and {1:?}, which differ only in letter case or Unicode normalisation \
         and name the same file on iOS and macOS; rename one"
    )]
    Collision(String, String),
    /// A path that is a file and, as written on such a file system, also a
    /// directory of another path.
    #[error("lists {0:?} as a file and also {1:?} inside it")]
    FileDirConflict(String, String),
}

/// The key under which iOS and macOS (APFS), and Windows, see a path:
/// canonical caseless matching of Unicode (D145: `NFD(casefold(NFD(p)))`,
/// full case folding). Two paths collide when their keys are equal. The
/// TypeScript client computes the same key (`collisionKey`) from the same
/// generated tables.
pub fn collision_key(path: &str) -> String {
    let decomposed = nfd(path.chars().map(u32::from));
    let mut folded = Vec::with_capacity(decomposed.len());
    for cp in decomposed {
        match table_get(unicode_tables::CASE_FOLDING, cp) {
            Some(f) => folded.extend_from_slice(f),
            None => folded.push(cp),
        }
    }
    nfd(folded.into_iter())
        .into_iter()
        .map(|cp| char::from_u32(cp).expect("the tables hold scalar values"))
        .collect()
}

fn table_get(table: &'static [(u32, &'static [u32])], cp: u32) -> Option<&'static [u32]> {
    table
        .binary_search_by_key(&cp, |(k, _)| *k)
        .ok()
        .map(|i| table[i].1)
}

fn combining_class(cp: u32) -> u8 {
    let t = unicode_tables::COMBINING_CLASS;
    match t.binary_search_by(|(a, b, _)| {
        if cp < *a {
            std::cmp::Ordering::Greater
        } else if cp > *b {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Equal
        }
    }) {
        Ok(i) => t[i].2,
        Err(_) => 0,
    }
}

/// Canonical decomposition (NFD): full decompositions, Hangul by the
/// algorithm, then canonical ordering of combining marks.
fn nfd(input: impl Iterator<Item = u32>) -> Vec<u32> {
    const S_BASE: u32 = 0xAC00;
    const L_BASE: u32 = 0x1100;
    const V_BASE: u32 = 0x1161;
    const T_BASE: u32 = 0x11A7;
    const T_COUNT: u32 = 28;
    const N_COUNT: u32 = 21 * T_COUNT;
    let mut out = Vec::new();
    for cp in input {
        if (S_BASE..S_BASE + 11172).contains(&cp) {
            let s = cp - S_BASE;
            out.push(L_BASE + s / N_COUNT);
            out.push(V_BASE + (s % N_COUNT) / T_COUNT);
            if s % T_COUNT != 0 {
                out.push(T_BASE + s % T_COUNT);
            }
        } else if let Some(d) = table_get(unicode_tables::DECOMPOSITION, cp) {
            out.extend_from_slice(d);
        } else {
            out.push(cp);
        }
    }
    // Stable insertion sort of each run of non-starters by combining class.
    for i in 1..out.len() {
        let c = combining_class(out[i]);
        if c == 0 {
            continue;
        }
        let mut j = i;
        while j > 0 {
            let p = combining_class(out[j - 1]);
            if p <= c || p == 0 {
                break;
            }
            out.swap(j - 1, j);
            j -= 1;
        }
    }
    out
}

/// Checks that a set of paths can all be written to one device: no path
/// twice, no two with the same [`collision_key`], and no path that is a file
/// while its key is also a directory of another path's key (`A` beside
/// `a/b`). The single paths must already pass [`check_path`].
pub fn check_path_set<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<(), SetError> {
    let mut exact: HashSet<&str> = HashSet::new();
    let mut keys: HashMap<String, &str> = HashMap::new();
    for p in paths {
        if !exact.insert(p) {
            return Err(SetError::Duplicate(p.to_owned()));
        }
        if let Some(other) = keys.insert(collision_key(p), p) {
            return Err(SetError::Collision(other.to_owned(), p.to_owned()));
        }
    }
    // Case folding and decomposition never produce or consume '/', so a
    // key's directories are the keys of the path's directories.
    for (key, p) in &keys {
        for (i, _) in key.match_indices('/') {
            if let Some(file) = keys.get(&key[..i]) {
                return Err(SetError::FileDirConflict(
                    (*file).to_owned(),
                    (*p).to_owned(),
                ));
            }
        }
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

#[cfg(test)]
mod set_tests {
    use super::*;

    #[test]
    fn keys_fold_case_and_normalisation() {
        assert_eq!(collision_key("A.JS"), collision_key("a.js"));
        assert_eq!(collision_key("\u{212A}.js"), collision_key("k.js")); // KELVIN SIGN
        assert_eq!(collision_key("É.js"), collision_key("é.js"));
        assert_eq!(collision_key("e\u{301}.js"), collision_key("\u{E9}.js")); // decomposed é
        assert_eq!(collision_key("straße"), collision_key("STRASSE")); // full folding
        assert_eq!(collision_key("\u{D55C}"), "\u{1112}\u{1161}\u{11AB}"); // Hangul
                                                                           // Canonical ordering: the same marks in either order are one name.
        assert_eq!(
            collision_key("a\u{323}\u{302}"),
            collision_key("a\u{302}\u{323}")
        );
        assert_ne!(collision_key("a.js"), collision_key("a.jsx"));
    }

    #[test]
    fn sets_that_cannot_be_written_are_refused() {
        let cases: &[(&[&str], bool)] = &[
            (&["a.js", "b.js"], true),
            (&["a/b", "a/c"], true),
            (&["a", "a"], false),
            (&["É.js", "é.js"], false),
            (&["k.js", "\u{212A}.js"], false),
            (&["A", "a/b"], false),
            (&["a.JS", "a.js/x"], false),
            (&["e\u{301}", "\u{E9}"], false),
        ];
        for (set, ok) in cases {
            assert_eq!(check_path_set(set.iter().copied()).is_ok(), *ok, "{set:?}");
        }
        assert!(matches!(
            check_path_set(["A", "a/b"]),
            Err(SetError::FileDirConflict(f, d)) if f == "A" && d == "a/b"
        ));
    }
}

/// File name endings (lowercase, after the last `.`) of the text and other
/// redundant formats brotli shrinks. Images, fonts in woff/woff2, media and
/// archives are already compressed and are left out.
pub const COMPRESSIBLE_EXTENSIONS: &[&str] = &[
    "cjs",
    "css",
    "csv",
    "eot",
    "htm",
    "html",
    "ico",
    "js",
    "json",
    "map",
    "md",
    "mjs",
    "otf",
    "svg",
    "ts",
    "ttf",
    "txt",
    "wasm",
    "webmanifest",
    "xml",
];

/// True when a build file at `path` gets a brotli-compressed copy beside it
/// (`{sha256}.br`). Decided by the name alone, so the CLI that makes the
/// copies, the server that checks them and every device agree without
/// looking at the bytes. The TypeScript client mirrors it (`compressible`).
pub fn is_compressible(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => COMPRESSIBLE_EXTENSIONS
            .iter()
            .any(|e| e.eq_ignore_ascii_case(ext)),
        _ => false,
    }
}
