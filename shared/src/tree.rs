//! Build directories: scanning one into a file list, hashing it on all cores,
//! and checking one against a manifest.

use crate::hash::{hash_reader, Sha256Digest};
use crate::manifest::{FileEntry, Manifest, ManifestError};
use crate::paths::{ManifestPath, PathError, MANIFEST_FILE_NAME};
use crate::progress::Progress;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// File names left out of every build, at any depth: operating-system
/// metadata that is never part of a web build and differs between machines.
pub const SKIPPED_NAMES: &[&str] = &[".DS_Store", "Thumbs.db", "desktop.ini"];

/// One regular file found in a build directory.
#[derive(Debug, Clone)]
pub struct BuildFile {
    /// Its manifest path.
    pub path: ManifestPath,
    /// Where it is on disk.
    pub abs: PathBuf,
    /// Its size when scanned.
    pub size: u64,
}

/// A file left out of a build, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Why it was left out.
    pub reason: &'static str,
}

/// The result of scanning a build directory.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Regular files, sorted by manifest path.
    pub files: Vec<BuildFile>,
    /// What was left out.
    pub skipped: Vec<Skipped>,
}

impl Scan {
    /// Sum of file sizes.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// A build directory that cannot be scanned or hashed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The directory does not exist or is not a directory.
    #[error("build directory {0} does not exist or is not a directory")]
    NotADirectory(PathBuf),
    /// An I/O error on one path.
    #[error("cannot read {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A symlink whose target is outside the build directory.
    #[error("{link} is a symlink to {target}, outside the build directory; copy the file into the build instead")]
    SymlinkEscapes {
        /// The link.
        link: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A symlink that points back at one of its own parents.
    #[error("symlink loop at {0}; remove the link")]
    SymlinkLoop(PathBuf),
    /// A file name that is not UTF-8.
    #[error("{0}: file name is not valid UTF-8; rename it")]
    NonUtf8(PathBuf),
    /// A socket, FIFO or device file.
    #[error("{0} is not a regular file (a socket, FIFO or device); remove it from the build")]
    Special(PathBuf),
    /// A file name that breaks the manifest path rules.
    #[error("{0}; rename the file")]
    Path(#[from] PathError),
    /// A build that would make an invalid manifest (duplicates, collisions).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// No files at all.
    #[error("build directory {0} has no files; did the web build run?")]
    Empty(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Lists the regular files under `root`, following symlinks that stay inside
/// it and refusing those that leave it. Skips [`SKIPPED_NAMES`] and the
/// manifest file at the root.
pub fn scan(root: &Path) -> Result<Scan, TreeError> {
    let meta = fs::metadata(root).map_err(|_| TreeError::NotADirectory(root.to_owned()))?;
    if !meta.is_dir() {
        return Err(TreeError::NotADirectory(root.to_owned()));
    }
    let root_canon = fs::canonicalize(root).map_err(io_err(root))?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(true) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_owned();
            if e.loop_ancestor().is_some() {
                TreeError::SymlinkLoop(path)
            } else {
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("walk error"));
                TreeError::Io { path, source }
            }
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let abs = entry.path();
        if entry.path_is_symlink() {
            let target = fs::canonicalize(abs).map_err(io_err(abs))?;
            if !target.starts_with(&root_canon) {
                return Err(TreeError::SymlinkEscapes {
                    link: abs.to_owned(),
                    target,
                });
            }
        }
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let rel = relative_string(root, abs)?;
        if !ft.is_file() {
            return Err(TreeError::Special(abs.to_owned()));
        }
        let name = entry.file_name().to_str().unwrap_or_default();
        if SKIPPED_NAMES.contains(&name) {
            skipped.push(Skipped {
                path: rel,
                reason: "operating-system metadata",
            });
            continue;
        }
        if rel == MANIFEST_FILE_NAME {
            skipped.push(Skipped {
                path: rel,
                reason: "the manifest itself",
            });
            continue;
        }
        let size = entry.metadata().map_err(|e| TreeError::Io {
            path: abs.to_owned(),
            source: e.into(),
        })?;
        files.push(BuildFile {
            path: ManifestPath::new(rel)?,
            abs: abs.to_owned(),
            size: size.len(),
        });
    }
    if files.is_empty() {
        return Err(TreeError::Empty(root.to_owned()));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Scan { files, skipped })
}

fn relative_string(root: &Path, abs: &Path) -> Result<String, TreeError> {
    let rel = abs.strip_prefix(root).unwrap_or(abs);
    let mut parts = Vec::new();
    for c in rel.components() {
        match c.as_os_str().to_str() {
            Some(s) => parts.push(s),
            None => return Err(TreeError::NonUtf8(abs.to_owned())),
        }
    }
    Ok(parts.join("/"))
}

/// Hashes one file by streaming it.
pub(crate) fn hash_one(file: &BuildFile, progress: &dyn Progress) -> Result<FileEntry, TreeError> {
    let f = File::open(&file.abs).map_err(io_err(&file.abs))?;
    let (sha256, size) =
        hash_reader(f, |chunk| progress.advance(chunk.len() as u64)).map_err(io_err(&file.abs))?;
    Ok(FileEntry {
        path: file.path.clone(),
        sha256,
        size,
    })
}

/// Hashes every scanned file, in parallel on all cores, each one streamed.
pub fn hash_files(scan: &Scan, progress: &dyn Progress) -> Result<Vec<FileEntry>, TreeError> {
    progress.start(scan.total_size());
    scan.files
        .par_iter()
        .with_max_len(1)
        .map(|f| hash_one(f, progress))
        .collect()
}

/// What is wrong with one file when a tree is checked against a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Listed in the manifest, absent on disk.
    Missing,
    /// Present on disk, not in the manifest.
    Extra,
    /// Present, but its bytes differ from the manifest.
    Changed,
}

/// One file that does not match its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file's path.
    pub path: String,
    /// What is wrong.
    pub problem: ProblemKind,
    /// The details, for people.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.detail)
    }
}

/// Compares expected entries with actual ones (both keyed by path) and lists
/// every missing, extra and changed file, sorted by path.
pub(crate) fn compare(
    expected: &[FileEntry],
    actual: &HashMap<&str, (Sha256Digest, u64)>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut listed = std::collections::HashSet::with_capacity(expected.len());
    for e in expected {
        listed.insert(e.path.as_str());
        match actual.get(e.path.as_str()) {
            None => problems.push(Problem {
                path: e.path.to_string(),
                problem: ProblemKind::Missing,
                detail: "listed in the manifest but missing".into(),
            }),
            Some((sha, size)) if *sha != e.sha256 || *size != e.size => problems.push(Problem {
                path: e.path.to_string(),
                problem: ProblemKind::Changed,
                detail: format!(
                    "content differs from the manifest (sha256 {sha}, {size} bytes; expected {}, {} bytes)",
                    e.sha256, e.size
                ),
            }),
            Some(_) => {}
        }
    }
    for path in actual.keys() {
        if !listed.contains(path) {
            problems.push(Problem {
                path: (*path).to_owned(),
                problem: ProblemKind::Extra,
                detail: "not listed in the manifest".into(),
            });
        }
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    problems
}

/// Checks a build directory against a manifest: every listed file present
/// with the same bytes, and nothing else (skipped names aside).
pub fn check_tree(
    manifest: &Manifest,
    root: &Path,
    progress: &dyn Progress,
) -> Result<Vec<Problem>, TreeError> {
    let scan = match scan(root) {
        Err(TreeError::Empty(_)) => Scan {
            files: vec![],
            skipped: vec![],
        },
        other => other?,
    };
    let hashed = hash_files(&scan, progress)?;
    let actual: HashMap<&str, (Sha256Digest, u64)> = hashed
        .iter()
        .map(|e| (e.path.as_str(), (e.sha256, e.size)))
        .collect();
    Ok(compare(&manifest.files, &actual))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    fn write(root: &Path, rel: &str, body: &[u8]) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    #[test]
    fn scans_sorted_skipping_metadata() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "index.html", b"<html>");
        write(d.path(), "a/b.js", b"b");
        write(d.path(), "a.js", b"a");
        write(d.path(), "a/.DS_Store", b"junk");
        write(d.path(), MANIFEST_FILE_NAME, b"{}");
        let s = scan(d.path()).unwrap();
        let paths: Vec<_> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.js", "a/b.js", "index.html"]);
        let skipped: Vec<_> = s.skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(skipped, ["a/.DS_Store", MANIFEST_FILE_NAME]);
        let hashed = hash_files(&s, &NoProgress).unwrap();
        assert_eq!(hashed[0].sha256, Sha256Digest::of(b"a"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_followed_outside_refused() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.txt", b"secret");
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "real/x.js", b"x");
        std::os::unix::fs::symlink(d.path().join("real/x.js"), d.path().join("alias.js")).unwrap();
        let s = scan(d.path()).unwrap();
        assert_eq!(s.files.len(), 2);
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.path().join("leak.txt"))
            .unwrap();
        assert!(matches!(
            scan(d.path()),
            Err(TreeError::SymlinkEscapes { .. })
        ));
        fs::remove_file(d.path().join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("leakdir")).unwrap();
        assert!(matches!(
            scan(d.path()),
            Err(TreeError::SymlinkEscapes { .. })
        ));
        fs::remove_file(d.path().join("leakdir")).unwrap();
        std::os::unix::fs::symlink(d.path(), d.path().join("real/loop")).unwrap();
        assert!(matches!(scan(d.path()), Err(TreeError::SymlinkLoop(_))));
    }

    #[cfg(unix)]
    #[test]
    fn bad_names_refused() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a\\b.js", b"x");
        let err = scan(d.path()).unwrap_err();
        assert!(err.to_string().contains("backslash"), "{err}");
    }

    #[test]
    fn empty_and_missing_dirs() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(scan(d.path()), Err(TreeError::Empty(_))));
        assert!(matches!(
            scan(&d.path().join("nope")),
            Err(TreeError::NotADirectory(_))
        ));
    }
}
