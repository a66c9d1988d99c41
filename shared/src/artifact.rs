//! Zip artifacts: bundling a build directory into a reproducible zip with its
//! signed manifests, and verifying and extracting such a zip.
//!
//! A bundle is two files:
//! - the zip: every build file (entries sorted by path, fixed timestamps and
//!   modes), then `live-update-manifest.json`, the signed manifest of those
//!   files, so the zip verifies on its own;
//! - the manifest beside the zip (`NAME.manifest.json`): the same signed file
//!   list plus the zip's SHA-256 and size, which servers and devices use to
//!   check the download before opening it.

use crate::domain::{AppId, BuildVersion};
use crate::fsutil::write_atomic;
use crate::hash::{hash_file_with_crc32, hash_reader, Sha256Digest};
use crate::keys::SigningKey;
use crate::manifest::{
    FileEntry, Manifest, ManifestDocument, ManifestError, Trust, Verified, Verifier, VerifyError,
    ZipInfo, MAX_MANIFEST_BYTES,
};
use crate::paths::{check_path, ManifestPath, MANIFEST_FILE_NAME};
use crate::progress::Progress;
use crate::tree::{compare, scan, BuildFile, Problem, Skipped, TreeError};
use crate::zipwrite::{encode, ZipWriter};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

/// Files at least this large are streamed through the compressor instead of
/// being read whole, so memory stays bounded whatever the build holds.
pub const STREAM_THRESHOLD: u64 = 8 * 1024 * 1024;
/// Small files are compressed in parallel batches of about this many bytes.
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// Something went wrong bundling, verifying or extracting an artifact.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The build directory could not be read.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// An I/O error on one path.
    #[error("{path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Not a zip, or a damaged one.
    #[error("{path} is not a readable zip archive")]
    Zip {
        /// The zip.
        path: PathBuf,
        /// The cause.
        #[source]
        source: zip::result::ZipError,
    },
    /// An entry whose name or kind could escape or confuse the extraction.
    #[error("zip entry {name:?} {reason}; refusing the whole artifact")]
    UnsafeEntry {
        /// The entry name as stored.
        name: String,
        /// Why it is unsafe.
        reason: String,
    },
    /// The same entry name more than once. Readers disagree on which copy
    /// wins, so a verifier and an installer could see different files.
    #[error("the zip's central directory lists {entries} entries but only {names} distinct names: an entry name appears more than once; refusing the whole artifact")]
    DuplicateEntries {
        /// Entries in the central directory.
        entries: u64,
        /// Distinct names.
        names: usize,
    },
    /// No manifest inside the zip.
    #[error("the zip has no {MANIFEST_FILE_NAME} at its root; create artifacts with `liveship live-update bundle-artifact`")]
    NoManifest,
    /// The signature check failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A manifest is malformed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The manifest beside the zip does not match the zip.
    #[error("the zip does not match the manifest beside it: {0}")]
    OuterMismatch(String),
    /// Files in the zip do not match the manifest.
    #[error("{} file(s) do not match the manifest: {}", .0.len(), summarize(.0))]
    Mismatch(Vec<Problem>),
    /// Extraction target is not empty.
    #[error("{0} already exists and is not an empty directory; extract into a new directory")]
    DestinationNotEmpty(PathBuf),
}

impl ArtifactError {
    /// True when the artifact was read fine but failed verification (as
    /// opposed to an I/O problem): tampering, a wrong key, unsafe entries.
    pub fn is_verification_failure(&self) -> bool {
        !matches!(
            self,
            ArtifactError::Io { .. }
                | ArtifactError::Tree(_)
                | ArtifactError::DestinationNotEmpty(_)
        )
    }
}

/// Up to three problems, for one-line messages.
pub fn summarize(problems: &[Problem]) -> String {
    let mut s = problems
        .iter()
        .take(3)
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 3 {
        s.push_str(&format!("; and {} more", problems.len() - 3));
    }
    s
}

fn zip_at(path: &Path) -> impl FnOnce(zip::result::ZipError) -> ArtifactError + '_ {
    move |source| ArtifactError::Zip {
        path: path.to_owned(),
        source,
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The default path of the manifest written beside a zip:
/// `bundle.zip` -> `bundle.manifest.json`.
pub fn sibling_manifest_path(zip_path: &Path) -> PathBuf {
    let name = zip_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".zip").unwrap_or(&name);
    zip_path.with_file_name(format!("{stem}.manifest.json"))
}

/// What [`bundle`] needs.
#[derive(Debug)]
pub struct BundleRequest<'a> {
    /// The web build to bundle.
    pub build_dir: &'a Path,
    /// Where the zip goes.
    pub zip_path: &'a Path,
    /// Where the manifest beside the zip goes.
    pub manifest_path: &'a Path,
    /// App id to bind into the manifest.
    pub app_id: Option<AppId>,
    /// Version to bind into the manifest.
    pub version: Option<BuildVersion>,
    /// The signing key.
    pub key: &'a SigningKey,
}

/// What [`bundle`] wrote.
#[derive(Debug)]
pub struct BundleReport {
    /// The zip's hash and size.
    pub zip: ZipInfo,
    /// The manifest written beside the zip (with the zip info).
    pub manifest: Manifest,
    /// Files left out of the build.
    pub skipped: Vec<Skipped>,
}

enum Work<'a> {
    Batch(&'a [BuildFile]),
    Large(&'a BuildFile),
}

fn plan(files: &[BuildFile]) -> Vec<Work<'_>> {
    let mut work = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, f) in files.iter().enumerate() {
        if f.size >= STREAM_THRESHOLD {
            if start < i {
                work.push(Work::Batch(&files[start..i]));
            }
            work.push(Work::Large(f));
            start = i + 1;
            bytes = 0;
            continue;
        }
        bytes += f.size;
        if bytes >= BATCH_BYTES {
            work.push(Work::Batch(&files[start..=i]));
            start = i + 1;
            bytes = 0;
        }
    }
    if start < files.len() {
        work.push(Work::Batch(&files[start..]));
    }
    work
}

/// Reads through to an inner reader, hashing and reporting progress.
struct HashingReader<'a, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Bundles a build directory: one read of every file, which is hashed and
/// compressed at once, in parallel on all cores; then the zip's own hash.
/// Both outputs are written atomically, so a failure leaves no partial file.
pub fn bundle(
    req: &BundleRequest<'_>,
    progress: &dyn Progress,
) -> Result<BundleReport, ArtifactError> {
    let scan = scan(req.build_dir)?;
    progress.start(scan.total_size());
    let dir = match req.zip_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".liveship-")
        .suffix(".zip.tmp")
        .tempfile_in(dir)
        .map_err(io_at(dir))?;
    let inner = {
        let mut entries = Vec::with_capacity(scan.files.len());
        let out = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        let mut zip = ZipWriter::new(out);
        for work in plan(&scan.files) {
            match work {
                Work::Batch(files) => {
                    let encoded: Vec<_> = files
                        .par_iter()
                        .with_max_len(1)
                        .map(|f| {
                            let bytes = fs::read(&f.abs).map_err(io_at(&f.abs))?;
                            progress.advance(bytes.len() as u64);
                            let entry = FileEntry {
                                path: f.path.clone(),
                                sha256: Sha256Digest::of(&bytes),
                                size: bytes.len() as u64,
                            };
                            Ok((entry, encode(&bytes)))
                        })
                        .collect::<Result<_, ArtifactError>>()?;
                    for (entry, enc) in encoded {
                        zip.add_encoded(entry.path.as_str(), &enc)
                            .map_err(io_at(req.zip_path))?;
                        entries.push(entry);
                    }
                }
                Work::Large(f) => {
                    let file = File::open(&f.abs).map_err(io_at(&f.abs))?;
                    let mut reader = HashingReader {
                        inner: file,
                        hasher: Sha256::new(),
                        count: 0,
                        progress,
                    };
                    zip.add_streamed(f.path.as_str(), &mut reader, f.size)
                        .map_err(io_at(&f.abs))?;
                    entries.push(FileEntry {
                        path: f.path.clone(),
                        sha256: Sha256Digest::from_bytes(reader.hasher.finalize().into()),
                        size: reader.count,
                    });
                }
            }
        }
        let inner = Manifest::new(req.app_id.clone(), req.version.clone(), entries)?;
        let inner_doc = inner.sign(req.key).to_json_bytes();
        zip.add_encoded(MANIFEST_FILE_NAME, &encode(&inner_doc))
            .map_err(io_at(req.zip_path))?;
        zip.finish().map_err(io_at(req.zip_path))?;
        inner
    };
    let (sha256, size, crc32) = hash_file_with_crc32(tmp.path()).map_err(io_at(tmp.path()))?;
    let zip_info = ZipInfo {
        sha256,
        size,
        crc32: Some(crc32),
    };
    let outer = inner.with_zip(zip_info);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
            .map_err(io_at(tmp.path()))?;
    }
    tmp.persist(req.zip_path).map_err(|e| ArtifactError::Io {
        path: req.zip_path.to_owned(),
        source: e.error,
    })?;
    write_atomic(
        req.manifest_path,
        &outer.sign(req.key).to_json_bytes(),
        0o644,
        true,
    )
    .map_err(io_at(req.manifest_path))?;
    Ok(BundleReport {
        zip: zip_info,
        manifest: outer,
        skipped: scan.skipped,
    })
}

/// The entries of a zip, every name checked against the path rules.
struct EntryIndex {
    /// File entries by name -> index in the archive (the manifest excluded).
    files: HashMap<String, usize>,
    /// Index of the root manifest, if any.
    manifest: Option<usize>,
}

fn open_archive(path: &Path) -> Result<zip::ZipArchive<BufReader<File>>, ArtifactError> {
    let f = File::open(path).map_err(io_at(path))?;
    zip::ZipArchive::new(BufReader::new(f)).map_err(zip_at(path))
}

fn index_entries<R: Read + io::Seek>(
    path: &Path,
    archive: &mut zip::ZipArchive<R>,
) -> Result<EntryIndex, ArtifactError> {
    // The zip crate indexes entries by name, so duplicates collapse into one;
    // compare with the count the end-of-central-directory record declares.
    let declared = declared_entry_count(path).map_err(io_at(path))?;
    if declared != archive.len() as u64 {
        return Err(ArtifactError::DuplicateEntries {
            entries: declared,
            names: archive.len(),
        });
    }
    let mut files = HashMap::with_capacity(archive.len());
    let mut manifest = None;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(zip_at(path))?;
        let name = match std::str::from_utf8(entry.name_raw()) {
            Ok(n) => n.to_owned(),
            Err(_) => {
                return Err(ArtifactError::UnsafeEntry {
                    name: String::from_utf8_lossy(entry.name_raw()).into_owned(),
                    reason: "is not valid UTF-8".into(),
                })
            }
        };
        let unsafe_entry = |reason: String| ArtifactError::UnsafeEntry {
            name: name.clone(),
            reason,
        };
        if entry.encrypted() {
            return Err(unsafe_entry("is encrypted".into()));
        }
        let is_dir = entry.is_dir();
        let checked = if is_dir {
            name.strip_suffix('/').unwrap_or(&name)
        } else {
            &name
        };
        if checked == MANIFEST_FILE_NAME && !is_dir {
            manifest = Some(i);
            continue;
        }
        check_path(checked).map_err(|e| unsafe_entry(e.rule.to_string()))?;
        if let Some(mode) = entry.unix_mode() {
            let kind = mode & 0o170_000;
            if kind == 0o120_000 {
                return Err(unsafe_entry("is a symbolic link".into()));
            }
            if kind != 0 && kind != 0o100_000 && !(is_dir && kind == 0o040_000) {
                return Err(unsafe_entry("is not a regular file".into()));
            }
        }
        if !is_dir {
            files.insert(name.clone(), i);
        }
    }
    Ok(EntryIndex { files, manifest })
}

/// The total entry count from the end-of-central-directory record (or the
/// zip64 one when the classic field is saturated).
fn declared_entry_count(path: &Path) -> io::Result<u64> {
    use io::{Seek, SeekFrom};
    let mut f = File::open(path)?;
    let len = f.seek(SeekFrom::End(0))?;
    // EOCD is 22 bytes plus a comment of at most 65,535 bytes, at the end.
    let tail_len = len.min(22 + 65_535 + 20);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail)?;
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no end-of-central-directory record",
        )
    };
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(bad)?;
    let le16 = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]);
    let total = le16(&tail[eocd + 10..]);
    if total != 0xFFFF {
        return Ok(u64::from(total));
    }
    // Zip64: the locator sits just before the EOCD and points at the record.
    let loc = eocd.checked_sub(20).ok_or_else(bad)?;
    if tail[loc..loc + 4] != [0x50, 0x4b, 0x06, 0x07] {
        return Ok(u64::from(total));
    }
    let mut off = [0u8; 8];
    off.copy_from_slice(&tail[loc + 8..loc + 16]);
    f.seek(SeekFrom::Start(u64::from_le_bytes(off)))?;
    let mut rec = [0u8; 56];
    f.read_exact(&mut rec)?;
    if rec[..4] != [0x50, 0x4b, 0x06, 0x06] {
        return Err(bad());
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&rec[32..40]);
    Ok(u64::from_le_bytes(n))
}

fn read_manifest_entry<R: Read + io::Seek>(
    path: &Path,
    archive: &mut zip::ZipArchive<R>,
    index: usize,
) -> Result<ManifestDocument, ArtifactError> {
    let entry = archive.by_index(index).map_err(zip_at(path))?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_at(path))?;
    Ok(ManifestDocument::from_slice(&bytes)?)
}

/// What [`verify_artifact`] found.
#[derive(Debug)]
pub struct ArtifactCheck {
    /// The manifest inside the zip, verified when a key was given.
    pub trust: Trust,
    /// The zip's hash and size, when the manifest beside it was checked.
    pub zip: Option<ZipInfo>,
}

/// Hashes the listed entries of a zip in parallel: each worker opens its own
/// handle on the file, and reads at most one byte more than the manifest
/// allows, so a zip bomb cannot exhaust memory or time.
fn hash_entries(
    path: &Path,
    wanted: &[(&FileEntry, usize)],
    progress: &dyn Progress,
) -> Result<HashMap<String, (Sha256Digest, u64)>, ArtifactError> {
    let chunk = wanted
        .len()
        .div_ceil(rayon::current_num_threads() * 4)
        .max(1);
    let parts: Vec<Vec<(String, (Sha256Digest, u64))>> = wanted
        .par_chunks(chunk)
        .map(|part| {
            let mut archive = open_archive(path)?;
            part.iter()
                .map(|(expected, i)| {
                    let entry = archive.by_index(*i).map_err(zip_at(path))?;
                    let (sha, size) = hash_reader(entry.take(expected.size + 1), |c| {
                        progress.advance(c.len() as u64)
                    })
                    .map_err(io_at(path))?;
                    Ok((expected.path.to_string(), (sha, size)))
                })
                .collect()
        })
        .collect::<Result<_, ArtifactError>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// Verifies a zip artifact: every entry name is safe, the manifest inside is
/// signed by a trusted key (when `verifier` is given), every file matches it
/// and nothing else is there. With `outer`, the manifest written beside the
/// zip is checked too: same signed file list, and the zip's own hash and size.
pub fn verify_artifact(
    path: &Path,
    verifier: Option<&Verifier>,
    outer: Option<&ManifestDocument>,
    progress: &dyn Progress,
) -> Result<ArtifactCheck, ArtifactError> {
    let mut archive = open_archive(path)?;
    let index = index_entries(path, &mut archive)?;
    let manifest_index = index.manifest.ok_or(ArtifactError::NoManifest)?;
    let doc = read_manifest_entry(path, &mut archive, manifest_index)?;
    let trust = Trust::open(&doc, verifier)?;
    let manifest = trust.manifest();
    progress.start(manifest.total_size());
    let wanted: Vec<(&FileEntry, usize)> = manifest
        .files
        .iter()
        .filter_map(|e| index.files.get(e.path.as_str()).map(|i| (e, *i)))
        .collect();
    let mut actual_owned = hash_entries(path, &wanted, progress)?;
    for name in index.files.keys() {
        // Extra entries are reported, never read.
        actual_owned
            .entry(name.clone())
            .or_insert((Sha256Digest::from_bytes([0; 32]), 0));
    }
    let actual: HashMap<&str, (Sha256Digest, u64)> =
        actual_owned.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let problems = compare(&manifest.files, &actual);
    if !problems.is_empty() {
        return Err(ArtifactError::Mismatch(problems));
    }
    let zip = match outer {
        None => None,
        Some(outer_doc) => Some(check_outer(path, outer_doc, verifier, manifest)?),
    };
    Ok(ArtifactCheck { trust, zip })
}

fn check_outer(
    path: &Path,
    outer_doc: &ManifestDocument,
    verifier: Option<&Verifier>,
    inner: &Manifest,
) -> Result<ZipInfo, ArtifactError> {
    let outer = Trust::open(outer_doc, verifier)?;
    let outer = outer.manifest();
    let expected = outer.zip.ok_or_else(|| {
        ArtifactError::OuterMismatch(
            "it carries no zip hash (was it made by generate-manifest?)".into(),
        )
    })?;
    let (sha256, size, crc32) = hash_file_with_crc32(path).map_err(io_at(path))?;
    if sha256 != expected.sha256
        || size != expected.size
        || expected.crc32.is_some_and(|c| c != crc32)
    {
        return Err(ArtifactError::OuterMismatch(format!(
            "the zip has sha256 {sha256} and {size} bytes; the manifest expects {} and {} bytes",
            expected.sha256, expected.size
        )));
    }
    if outer.files != inner.files || outer.app_id != inner.app_id || outer.version != inner.version
    {
        return Err(ArtifactError::OuterMismatch(
            "its file list, app id or version differs from the manifest inside the zip".into(),
        ));
    }
    Ok(ZipInfo {
        sha256,
        size,
        crc32: Some(crc32),
    })
}

/// Extracts a verified artifact into `dest` (which must not exist, or be an
/// empty directory). Every entry name is checked again first, only files the
/// verified manifest lists are written, each is hashed while it is written,
/// and a mismatch removes what was written.
pub fn extract_verified(
    path: &Path,
    manifest: &Verified<Manifest>,
    dest: &Path,
) -> Result<usize, ArtifactError> {
    let mut archive = open_archive(path)?;
    let index = index_entries(path, &mut archive)?;
    if let Some(extra) = index.files.keys().find(|name| {
        !manifest
            .files
            .iter()
            .any(|f| f.path.as_str() == name.as_str())
    }) {
        return Err(ArtifactError::UnsafeEntry {
            name: extra.clone(),
            reason: "is not listed in the signed manifest".into(),
        });
    }
    match fs::read_dir(dest) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(ArtifactError::DestinationNotEmpty(dest.to_owned()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(io_at(dest))?
        }
        Err(_) => return Err(ArtifactError::DestinationNotEmpty(dest.to_owned())),
    }
    let result = extract_files(path, &mut archive, &index, manifest, dest);
    if result.is_err() {
        // Leave nothing half-extracted behind.
        let _ = fs::remove_dir_all(dest);
    }
    result
}

fn extract_files<R: Read + io::Seek>(
    path: &Path,
    archive: &mut zip::ZipArchive<R>,
    index: &EntryIndex,
    manifest: &Manifest,
    dest: &Path,
) -> Result<usize, ArtifactError> {
    for f in &manifest.files {
        let i = *index.files.get(f.path.as_str()).ok_or_else(|| {
            ArtifactError::Mismatch(vec![Problem {
                path: f.path.to_string(),
                problem: crate::tree::ProblemKind::Missing,
                detail: "listed in the manifest but missing".into(),
            }])
        })?;
        let target = dest.join(ManifestPath::to_relative_path(&f.path));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        let entry = archive.by_index(i).map_err(zip_at(path))?;
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(io_at(&target))?;
        let mut reader = HashingReader {
            inner: entry.take(f.size + 1),
            hasher: Sha256::new(),
            count: 0,
            progress: &crate::progress::NoProgress,
        };
        io::copy(&mut reader, &mut out).map_err(io_at(&target))?;
        let sha = Sha256Digest::from_bytes(reader.hasher.finalize().into());
        let size = reader.count;
        if sha != f.sha256 || size != f.size {
            return Err(ArtifactError::Mismatch(vec![Problem {
                path: f.path.to_string(),
                problem: crate::tree::ProblemKind::Changed,
                detail: "content differs from the manifest".into(),
            }]));
        }
    }
    Ok(manifest.files.len())
}
