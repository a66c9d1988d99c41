//! The S3 blob store (feature `aws`). Keys are the blob keys
//! (`apps/{app}/files/{sha256}`, ...), so one bucket serves CloudFront as is.
//!
//! Uploads are verified twice: the bytes are hashed while they stream in,
//! and S3 is handed the expected SHA-256 (`x-amz-checksum-sha256`), so S3
//! itself refuses bytes that do not match. Presigned PUT URLs carry the same
//! checksum, so a client uploading directly cannot store other bytes either.
//! Objects from [`MULTIPART_THRESHOLD`] up (large zips) go up in parts, each
//! with its own SHA-256.

use super::{BlobBody, BlobKey, BlobRead, BlobWrite, ByteStream, DirectUpload, StoreError};
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::ChecksumAlgorithm;
use base64::Engine as _;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long presigned URLs stay valid.
const PRESIGN_TTL: Duration = Duration::from_secs(3600);

/// Blobs in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
    public_base_url: Option<String>,
    multipart: Multipart,
}

/// When and how large uploads are sent in parts.
#[derive(Debug, Clone, Copy)]
struct Multipart {
    /// Objects at least this large go up in parts.
    threshold: u64,
    /// Size of each part but the last (S3's minimum is 5 MiB).
    part_size: u64,
}

/// Default multipart threshold: large zips go up in parts, so memory and
/// each request stay bounded and a failed part is retried alone.
pub const MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
/// Default part size.
pub const PART_SIZE: u64 = 16 * 1024 * 1024;

fn s3_err<E, R>(context: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        let text = DisplayErrorContext(&e).to_string();
        StoreError::backend(context, std::io::Error::other(text))
    }
}

fn is_not_found<E, R: std::fmt::Debug>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(se) => {
            matches!(se.err().code(), Some("NoSuchKey" | "NotFound" | "404"))
                || format!("{:?}", se.raw()).contains("status: StatusCode(404)")
        }
        _ => false,
    }
}

impl S3Blobs {
    /// A store on `bucket`. With `public_base_url` (the CloudFront URL),
    /// download URLs are `{base}/{key}`; without it, presigned GETs.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        public_base_url: Option<String>,
    ) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            public_base_url: public_base_url.map(|u| u.trim_end_matches('/').to_owned()),
            multipart: Multipart {
                threshold: MULTIPART_THRESHOLD,
                part_size: PART_SIZE,
            },
        }
    }

    /// Sends objects of at least `threshold` bytes in parts of `part_size`
    /// (at least 5 MiB, S3's minimum); tests use small values.
    pub fn with_multipart(mut self, threshold: u64, part_size: u64) -> Self {
        self.multipart = Multipart {
            threshold,
            part_size: part_size.max(5 * 1024 * 1024),
        };
        self
    }

    /// Uploads a spooled, already verified file in parts, each carrying its
    /// own SHA-256 so S3 checks every part; aborts the upload on any error
    /// so no orphaned parts are billed (the bucket lifecycle also aborts
    /// leftovers after 7 days).
    async fn put_multipart(
        &self,
        key: &BlobKey,
        path: &std::path::Path,
        size: u64,
    ) -> Result<(), StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(s3_err("starting a multipart upload"))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| StoreError::backend("starting a multipart upload", NoUploadId))?
            .to_owned();
        let result = self.send_parts(key, path, size, &upload_id).await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn send_parts(
        &self,
        key: &BlobKey,
        path: &std::path::Path,
        size: u64,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| StoreError::backend("reading a spooled upload", e))?;
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        while offset < size {
            let len = self.multipart.part_size.min(size - offset);
            let mut buf = vec![0u8; len as usize];
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| StoreError::backend("reading a spooled upload", e))?;
            file.read_exact(&mut buf)
                .await
                .map_err(|e| StoreError::backend("reading a spooled upload", e))?;
            let part_sha = checksum_b64(&Sha256Digest::of(&buf));
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .part_number(number)
                .checksum_sha256(&part_sha)
                .body(S3Body::from(buf))
                .send()
                .await
                .map_err(s3_err("uploading a part"))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .checksum_sha256(part_sha)
                    .build(),
            );
            offset += len;
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(s3_err("completing a multipart upload"))?;
        Ok(())
    }

    /// Creates the bucket (for development against moto or MinIO).
    pub async fn create_bucket(&self) -> Result<(), StoreError> {
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error().map(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()), Some(true)) => Ok(()),
            Err(e) => Err(s3_err("creating the bucket")(e)),
        }
    }
}

#[async_trait]
impl BlobRead for S3Blobs {
    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(o) => Ok(Some(o.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_err("reading object metadata")(e)),
        }
    }

    async fn get_bytes(&self, key: &BlobKey) -> Result<Option<Bytes>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(o) => {
                let data = o
                    .body
                    .collect()
                    .await
                    .map_err(|e| StoreError::backend("reading an object", e))?;
                Ok(Some(data.into_bytes()))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_err("reading an object")(e)),
        }
    }

    async fn open(
        &self,
        key: &BlobKey,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, StoreError> {
        let mut req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str());
        if let Some((a, b)) = range {
            req = req.range(format!("bytes={a}-{b}"));
        }
        match req.send().await {
            Ok(o) => {
                let total_size = match o.content_range().and_then(|r| r.rsplit_once('/')) {
                    Some((_, total)) => total.parse().unwrap_or(0),
                    None => o.content_length().unwrap_or(0).max(0) as u64,
                };
                Ok(Some(BlobBody {
                    total_size,
                    body: Box::pin(o.body.into_async_read()),
                }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_err("reading an object")(e)),
        }
    }

    async fn download_url(&self, key: &BlobKey) -> Result<Option<String>, StoreError> {
        if let Some(base) = &self.public_base_url {
            return Ok(Some(format!("{base}/{}", key.as_str())));
        }
        let cfg = PresigningConfig::expires_in(PRESIGN_TTL)
            .map_err(|e| StoreError::backend("presigning", e))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(cfg)
            .await
            .map_err(s3_err("presigning a download"))?;
        Ok(Some(req.uri().to_owned()))
    }

    fn public_files_base(&self, app: &AppId) -> Option<String> {
        self.public_base_url
            .as_ref()
            .map(|base| format!("{base}/{}", BlobKey::files_prefix(app)))
    }
}

/// S3 answered a multipart start without an upload id.
#[derive(Debug, thiserror::Error)]
#[error("S3 returned no upload id")]
struct NoUploadId;

fn checksum_b64(sha: &Sha256Digest) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha.as_bytes())
}

#[async_trait]
impl BlobWrite for S3Blobs {
    async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), StoreError> {
        let sha = Sha256Digest::of(&bytes);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .checksum_sha256(checksum_b64(&sha))
            .body(S3Body::from(bytes))
            .send()
            .await
            .map_err(s3_err("writing an object"))?;
        Ok(())
    }

    async fn put_verified(
        &self,
        key: &BlobKey,
        body: ByteStream,
        expected: &Sha256Digest,
        max_size: u64,
    ) -> Result<u64, StoreError> {
        // Spool to a temporary file while hashing: nothing reaches the bucket
        // unless it is complete, within the limit, and hashes right.
        let tmp = tempfile::NamedTempFile::new()
            .map_err(|e| StoreError::backend("spooling an upload", e))?;
        let mut file = tokio::fs::File::from_std(
            tmp.reopen()
                .map_err(|e| StoreError::backend("spooling an upload", e))?,
        );
        let size = super::spool_verified(body, &mut file, expected, max_size).await?;
        if size >= self.multipart.threshold {
            self.put_multipart(key, tmp.path(), size).await?;
            return Ok(size);
        }
        let s3_body = S3Body::from_path(tmp.path())
            .await
            .map_err(|e| StoreError::backend("reading a spooled upload", e))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .checksum_sha256(checksum_b64(expected))
            .body(s3_body)
            .send()
            .await
            .map_err(s3_err("writing an object"))?;
        Ok(size)
    }

    async fn direct_upload(
        &self,
        key: &BlobKey,
        sha256: &Sha256Digest,
        size: u64,
    ) -> Result<Option<DirectUpload>, StoreError> {
        let cfg = PresigningConfig::expires_in(PRESIGN_TTL)
            .map_err(|e| StoreError::backend("presigning", e))?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_length(size as i64)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(checksum_b64(sha256))
            .presigned(cfg)
            .await
            .map_err(s3_err("presigning an upload"))?;
        let headers: BTreeMap<String, String> = req
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
            // The length is the client's to send; the trace id the SDK adds
            // inside Lambda is this invocation's, not the uploader's.
            .filter(|(k, _)| k != "content-length" && k != "x-amzn-trace-id")
            .collect();
        Ok(Some(DirectUpload {
            method: req.method().to_owned(),
            url: req.uri().to_owned(),
            headers,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs(base: Option<&str>) -> S3Blobs {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "a", "b", None, None, "t",
            ))
            .build();
        S3Blobs::new(
            aws_sdk_s3::Client::from_conf(conf),
            "bucket",
            base.map(str::to_owned),
        )
    }

    /// Devices build file URLs as base + SHA-256: that must be exactly the
    /// URL of the stored object behind the CDN.
    #[tokio::test]
    async fn cdn_file_base_matches_the_object_urls() {
        let app = AppId::new("com.example.cdn").unwrap();
        let sha = Sha256Digest::of(b"x");
        let b = blobs(Some("https://d111.cloudfront.net/"));
        let base = b.public_files_base(&app).unwrap();
        assert_eq!(
            base,
            "https://d111.cloudfront.net/apps/com.example.cdn/files/"
        );
        let direct = b.download_url(&BlobKey::file(&app, &sha)).await.unwrap();
        assert_eq!(direct, Some(format!("{base}{sha}")));
        // Without a CDN there is no shared base: each file is presigned.
        assert_eq!(blobs(None).public_files_base(&app), None);
    }
}
