//! Storage, as two kinds of store in domain terms (never SDK terms):
//!
//! - a record store ([`RecordRead`], [`RecordWrite`], [`EventWrite`]): apps,
//!   tokens, builds, channels, device events and per-build counters;
//! - a blob store ([`BlobRead`], [`BlobWrite`]): content-addressed files,
//!   manifests and zips.
//!
//! Reads and writes are separate traits so that a handler holding only the
//! read side (the device lookup) cannot write builds or channels, and the
//! device event handler can only append events.
//!
//! Embedded implementations: [`sqlite::SqliteRecords`] (feature `sqlite`, on
//! by default) and [`fs::FsBlobs`].
//! Every implementation must pass [`conformance`] (feature `conformance`).

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod fs;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use crate::domain::{AppId, BuildVersion};
use crate::hash::Sha256Digest;
use crate::keyset::KeySetChain;
use crate::model::{
    App, AuditEntry, Build, Channel, Event, EventKind, Grain, Timestamp, Token, UsageBucket,
};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing already exists (app id, token).
    #[error("{0} already exists")]
    Conflict(String),
    /// Uploaded bytes do not hash to the key they were sent for.
    #[error("the uploaded bytes have SHA-256 {actual}, not {expected}; upload the file that matches its hash")]
    HashMismatch {
        /// The hash in the key.
        expected: Sha256Digest,
        /// The hash of what arrived.
        actual: Sha256Digest,
    },
    /// An upload larger than allowed.
    #[error("the upload is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The backend failed (I/O, database, network).
    #[error("storage backend failed: {context}")]
    Backend {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Stored data could not be read back.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error with what was being done.
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Result of registering a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildInsert {
    /// A new build, with its id.
    Created(Build),
    /// The same manifest was already registered under this version.
    Existing(Build),
    /// Another manifest already holds this version.
    VersionTaken(Build),
}

/// Per-build event tallies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildCounts {
    /// Events received, per kind (a device reporting twice counts twice).
    pub events: BTreeMap<EventKind, u64>,
    /// Distinct devices that reported each kind.
    pub devices: BTreeMap<EventKind, u64>,
}

impl Default for BuildCounts {
    fn default() -> Self {
        let zero: BTreeMap<EventKind, u64> = EventKind::ALL.iter().map(|k| (*k, 0)).collect();
        Self {
            events: zero.clone(),
            devices: zero,
        }
    }
}

/// The counter name under which distinct devices of `kind` are counted.
pub(crate) fn devices_counter(kind: EventKind) -> String {
    format!("devices:{}", kind.as_str())
}

impl BuildCounts {
    /// Adds `n` to the counter stored under `name` (an event kind, or
    /// [`devices_counter`] of one); unknown names are ignored.
    pub(crate) fn add(&mut self, name: &str, n: u64) {
        let (map, kind) = match name.strip_prefix("devices:") {
            Some(k) => (&mut self.devices, k),
            None => (&mut self.events, name),
        };
        if let Some(k) = EventKind::parse(kind) {
            *map.entry(k).or_default() += n;
        }
    }
}

/// Read access to records.
#[async_trait]
pub trait RecordRead: Send + Sync + 'static {
    /// One app.
    async fn app(&self, app: &AppId) -> Result<Option<App>, StoreError>;
    /// The app's key set chain (root hand-overs and the set in force), if
    /// one was stored; see [`crate::keyset`].
    async fn key_sets(&self, app: &AppId) -> Result<Option<KeySetChain>, StoreError>;
    /// One build of an app.
    async fn build(&self, app: &AppId, id: u64) -> Result<Option<Build>, StoreError>;
    /// All builds of an app, newest first.
    async fn builds(&self, app: &AppId) -> Result<Vec<Build>, StoreError>;
    /// The build with a version label.
    async fn build_by_version(
        &self,
        app: &AppId,
        version: &BuildVersion,
    ) -> Result<Option<Build>, StoreError>;
    /// One channel.
    async fn channel(&self, app: &AppId, name: &str) -> Result<Option<Channel>, StoreError>;
    /// All channels of an app, by name.
    async fn channels(&self, app: &AppId) -> Result<Vec<Channel>, StoreError>;
    /// The token whose secret hashes to `secret_sha256`.
    async fn token_by_secret_hash(
        &self,
        secret_sha256: &Sha256Digest,
    ) -> Result<Option<Token>, StoreError>;
    /// How many tokens exist (to know whether to bootstrap one).
    async fn token_count(&self) -> Result<u64, StoreError>;
    /// The channel a device assigned itself to (capgo `channel_self`), if any.
    async fn device_channel(
        &self,
        app: &AppId,
        device_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Event and distinct-device counts of a build.
    async fn counters(&self, app: &AppId, build_id: u64) -> Result<BuildCounts, StoreError>;
    /// Every app, by id (an ops listing; a scan on DynamoDB).
    async fn apps(&self) -> Result<Vec<App>, StoreError>;
    /// Every token, by id (an ops listing; a scan on DynamoDB). Only hashes
    /// are stored, so no secret can come out of here.
    async fn tokens(&self) -> Result<Vec<Token>, StoreError>;
    /// Usage buckets of a channel of `grain` starting in `from..to`, by
    /// start then build. Day buckets carry the day's distinct devices and
    /// the sum of its hourly event counts.
    async fn usage(
        &self,
        app: &AppId,
        channel: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<UsageBucket>, StoreError>;
    /// Audit entries of an app (`None`: global actions), newest first, at
    /// most `limit`, only those with an id below `before` when given (the
    /// next page).
    async fn audit(
        &self,
        app: Option<&AppId>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Write access to apps, tokens, builds and channels (CI and ops only).
#[async_trait]
pub trait RecordWrite: RecordRead {
    /// Creates an app; [`StoreError::Conflict`] if it exists.
    async fn create_app(&self, app: &App) -> Result<(), StoreError>;
    /// Stores a token; [`StoreError::Conflict`] if its hash or id exists.
    async fn create_token(&self, token: &Token) -> Result<(), StoreError>;
    /// Registers a build (its `id` is ignored and assigned here), atomically
    /// with the check for an existing build of the same version.
    async fn insert_build(&self, build: Build) -> Result<BuildInsert, StoreError>;
    /// Replaces the mutable fields of a build (`disabled`, `native`,
    /// `mandatory`); false if the build does not exist.
    async fn update_build(&self, build: &Build) -> Result<bool, StoreError>;
    /// Compare-and-set: stores `channel` if the stored revision still equals
    /// `channel.revision` (0: must not exist yet), with the revision
    /// incremented. False when another writer got there first: read again,
    /// reapply the change, retry.
    async fn put_channel(&self, channel: &Channel) -> Result<bool, StoreError>;
    /// Compare-and-delete: removes the channel if its stored revision still
    /// equals `channel.revision`; false otherwise.
    async fn delete_channel(&self, channel: &Channel) -> Result<bool, StoreError>;
    /// Replaces an app's public keys and default channel; false if the app
    /// does not exist.
    async fn update_app(&self, app: &App) -> Result<bool, StoreError>;
    /// Compare-and-set: stores `chain`, whose set in force has `version`, if
    /// the stored one still has version `previous` (0: none stored yet).
    /// False when another writer got there first.
    async fn put_key_sets(
        &self,
        app: &AppId,
        chain: &KeySetChain,
        version: u64,
        previous: u64,
    ) -> Result<bool, StoreError>;
    /// Revokes a token at once; false if it did not exist.
    async fn delete_token(&self, secret_sha256: &Sha256Digest) -> Result<bool, StoreError>;
    /// Records that a token was used at `at` (never recreates a revoked one).
    async fn touch_token(
        &self,
        secret_sha256: &Sha256Digest,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Appends an audit entry (ids are unique; an entry is never changed).
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Deletes audit entries older than `before`; returns how many (DynamoDB
    /// expires them with its TTL instead, and answers 0).
    async fn prune_audit(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// Append-only access to device events (the public event endpoint).
#[async_trait]
pub trait EventWrite: Send + Sync + 'static {
    /// Stores raw events and increments their builds' counters, the hourly
    /// usage buckets of their channel and build (events per kind, and
    /// distinct devices per hour and per day), and the distinct-device
    /// counters for devices not seen before for that build and kind (exact on SQLite; on DynamoDB exact within the event
    /// retention, after which a device reporting again counts again). Every
    /// increment is atomic, so concurrent calls never lose a count; SQLite
    /// also commits the whole call at once, DynamoDB counts first and then
    /// appends the raw events.
    async fn record_events(&self, events: &[Event]) -> Result<(), StoreError>;
    /// Deletes raw events older than `before` (counters and usage buckets
    /// stay, and so do the markers of buckets still open); returns how many.
    async fn prune_events(&self, before: Timestamp) -> Result<u64, StoreError>;
    /// Records the channel a device assigned itself to (`None`: back to the
    /// default). Device-written, like events; channels themselves stay
    /// read-only to devices.
    async fn set_device_channel(
        &self,
        app: &AppId,
        device_id: &str,
        channel: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// Where a blob lives: built only from validated ids and digests, so a key
/// can never point outside its store.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// A content-addressed file (or zip) of an app.
    pub fn file(app: &AppId, sha256: &Sha256Digest) -> Self {
        Self(format!("{}{sha256}", Self::files_prefix(app)))
    }
    /// The brotli-compressed copy of a file (`{sha256}.br`, the original's
    /// digest): beside it, so the same URL rule reaches it on every store.
    pub fn brotli(app: &AppId, sha256: &Sha256Digest) -> Self {
        Self(format!("{}{sha256}.br", Self::files_prefix(app)))
    }
    /// The key prefix of every file of an app.
    pub fn files_prefix(app: &AppId) -> String {
        format!("apps/{app}/files/")
    }
    /// A stored manifest document, by the SHA-256 of its bytes.
    pub fn manifest(app: &AppId, sha256: &Sha256Digest) -> Self {
        Self(format!("apps/{app}/manifests/{sha256}.json"))
    }
    /// The key as a `/`-separated relative path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.0)
    }
}

/// A readable blob body.
pub type BlobStream = Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// An opened blob, possibly a byte range of it.
pub struct BlobBody {
    /// Size of the whole blob.
    pub total_size: u64,
    /// The bytes (the requested range, or everything).
    pub body: BlobStream,
}

impl fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobBody {{ total_size: {} }}", self.total_size)
    }
}

/// Bytes arriving from a client.
pub type ByteStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// Read access to blobs.
#[async_trait]
pub trait BlobRead: Send + Sync + 'static {
    /// The blob's size, if it exists.
    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, StoreError>;
    /// The whole blob in memory (for manifests, which are size-limited).
    async fn get_bytes(&self, key: &BlobKey) -> Result<Option<Bytes>, StoreError>;
    /// Opens the blob, or the inclusive byte range `start..=end` of it.
    async fn open(
        &self,
        key: &BlobKey,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, StoreError>;

    /// A URL devices can fetch the blob from directly (a CDN or a presigned
    /// URL), or `None` when the API serves it itself (`GET .../files/{sha256}`),
    /// as the directory store does.
    async fn download_url(&self, _key: &BlobKey) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// The public URL every file of `app` starts with, followed by its
    /// SHA-256 (a CDN in front of the bucket), so devices fetch files
    /// without going through the API at all; `None` when there is none.
    fn public_files_base(&self, _app: &AppId) -> Option<String> {
        None
    }
}

/// Where a client sends the bytes of one blob itself (a presigned URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectUpload {
    /// HTTP method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers the client must send (for example the expected checksum).
    pub headers: std::collections::BTreeMap<String, String>,
}

/// Write access to blobs.
#[async_trait]
pub trait BlobWrite: BlobRead {
    /// Stores small bytes (a manifest document) under `key`.
    async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), StoreError>;
    /// Streams an upload into `key`, refusing it (and storing nothing) when
    /// its SHA-256 is not `expected` or it exceeds `max_size` bytes.
    async fn put_verified(
        &self,
        key: &BlobKey,
        body: ByteStream,
        expected: &Sha256Digest,
        max_size: u64,
    ) -> Result<u64, StoreError>;

    /// Where a client can upload the blob directly, such that the store
    /// itself refuses bytes with another SHA-256; `None` when uploads go
    /// through the API (`PUT .../files/{sha256}`), as with the directory store.
    async fn direct_upload(
        &self,
        _key: &BlobKey,
        _sha256: &Sha256Digest,
        _size: u64,
    ) -> Result<Option<DirectUpload>, StoreError> {
        Ok(None)
    }
}

/// Writes an upload to `file` while hashing it: the bytes' size, or
/// [`StoreError::TooLarge`] past `max_size`, or [`StoreError::HashMismatch`]
/// when they are not the `expected` bytes. Every blob store spools through
/// this before anything becomes visible.
pub(crate) async fn spool_verified(
    mut body: ByteStream,
    file: &mut tokio::fs::File,
    expected: &Sha256Digest,
    max_size: u64,
) -> Result<u64, StoreError> {
    use futures::StreamExt;
    use sha2::{Digest, Sha256};
    use tokio::io::AsyncWriteExt;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| StoreError::backend("receiving an upload", e))?;
        size += chunk.len() as u64;
        if size > max_size {
            return Err(StoreError::TooLarge { limit: max_size });
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| StoreError::backend("writing an upload", e))?;
    }
    file.flush()
        .await
        .map_err(|e| StoreError::backend("writing an upload", e))?;
    let actual = Sha256Digest::from_bytes(hasher.finalize().into());
    if &actual != expected {
        return Err(StoreError::HashMismatch {
            expected: *expected,
            actual,
        });
    }
    Ok(size)
}

/// A blob store that only reads: every write is refused. The Lambda
/// device function holds its bucket through this, as its IAM role allows
/// (reads only), so none of the store's write paths are linked into it.
#[derive(Debug)]
pub struct ReadOnly<B>(pub B);

fn refused(what: &str) -> StoreError {
    StoreError::backend(
        what.to_owned(),
        "this function may not write blobs (see infra/iam.tf); the register function does",
    )
}

#[async_trait]
impl<B: BlobRead> BlobRead for ReadOnly<B> {
    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, StoreError> {
        self.0.head(key).await
    }
    async fn get_bytes(&self, key: &BlobKey) -> Result<Option<Bytes>, StoreError> {
        self.0.get_bytes(key).await
    }
    async fn open(
        &self,
        key: &BlobKey,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, StoreError> {
        self.0.open(key, range).await
    }
    async fn download_url(&self, key: &BlobKey) -> Result<Option<String>, StoreError> {
        self.0.download_url(key).await
    }
    fn public_files_base(&self, app: &AppId) -> Option<String> {
        self.0.public_files_base(app)
    }
}

#[async_trait]
impl<B: BlobRead> BlobWrite for ReadOnly<B> {
    async fn put_bytes(&self, _key: &BlobKey, _bytes: Bytes) -> Result<(), StoreError> {
        Err(refused("storing a blob"))
    }
    async fn put_verified(
        &self,
        _key: &BlobKey,
        _body: ByteStream,
        _expected: &Sha256Digest,
        _max_size: u64,
    ) -> Result<u64, StoreError> {
        Err(refused("storing an upload"))
    }
    async fn direct_upload(
        &self,
        _key: &BlobKey,
        _sha256: &Sha256Digest,
        _size: u64,
    ) -> Result<Option<DirectUpload>, StoreError> {
        Err(refused("planning an upload"))
    }
}

/// No blob store at all, for a function without a bucket (the Lambda event
/// function): every read fails, so it needs no S3 client.
#[derive(Debug)]
pub struct NoBucket;

fn no_bucket() -> StoreError {
    StoreError::backend(
        "reading a blob",
        "this function has no bucket (see infra/iam.tf); the latest and register functions do",
    )
}

#[async_trait]
impl BlobRead for NoBucket {
    async fn head(&self, _key: &BlobKey) -> Result<Option<u64>, StoreError> {
        Err(no_bucket())
    }
    async fn get_bytes(&self, _key: &BlobKey) -> Result<Option<Bytes>, StoreError> {
        Err(no_bucket())
    }
    async fn open(
        &self,
        _key: &BlobKey,
        _range: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, StoreError> {
        Err(no_bucket())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_only_reads_through_and_refuses_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let fs = fs::FsBlobs::open(dir.path()).unwrap();
        let app = AppId::new("com.example.ro").unwrap();
        let sha = Sha256Digest::of(b"hello");
        let key = BlobKey::file(&app, &sha);
        fs.put_bytes(&key, Bytes::from_static(b"hello"))
            .await
            .unwrap();

        let ro = ReadOnly(fs);
        assert_eq!(ro.head(&key).await.unwrap(), Some(5));
        assert_eq!(ro.get_bytes(&key).await.unwrap().unwrap(), &b"hello"[..]);
        let other = BlobKey::file(&app, &Sha256Digest::of(b"other"));
        let err = ro
            .put_bytes(&other, Bytes::from_static(b"other"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("storing a blob"), "{err}");
        let body: ByteStream = Box::pin(futures::stream::empty());
        assert!(ro.put_verified(&other, body, &sha, 10).await.is_err());
        assert!(ro.direct_upload(&other, &sha, 5).await.is_err());
        assert_eq!(
            ro.0.head(&other).await.unwrap(),
            None,
            "nothing was written"
        );

        let none = ReadOnly(NoBucket);
        let err = none.head(&key).await.unwrap_err();
        assert!(std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("no bucket"));
        assert!(none.open(&key, None).await.is_err());
    }
}
