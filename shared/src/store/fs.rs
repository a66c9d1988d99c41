//! The embedded blob store: a directory tree mirroring the blob keys
//! (`apps/{app}/files/{sha256}`, ...). Writes go to a temporary file in the
//! same directory and are renamed into place only once complete and, for
//! uploads, only once their SHA-256 matches: readers never see a partial blob.

use super::{BlobBody, BlobKey, BlobRead, BlobWrite, ByteStream, StoreError};
use crate::hash::Sha256Digest;
use async_trait::async_trait;
use bytes::Bytes;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Blobs in a local directory.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
}

fn io_err(context: &'static str) -> impl FnOnce(io::Error) -> StoreError {
    move |e| StoreError::backend(context, e)
}

impl FsBlobs {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(io_err("creating the blob directory"))?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    async fn temp_beside(&self, target: &Path) -> Result<(tokio::fs::File, PathBuf), StoreError> {
        let dir = target.parent().expect("blob keys have a parent");
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(io_err("creating a blob directory"))?;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| {
            StoreError::backend("random temp name", io::Error::other(e.to_string()))
        })?;
        let tmp = dir.join(format!(".upload-{}", hex::encode(rnd)));
        let f = tokio::fs::File::create(&tmp)
            .await
            .map_err(io_err("creating a temporary blob"))?;
        Ok((f, tmp))
    }
}

#[async_trait]
impl BlobRead for FsBlobs {
    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, StoreError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading blob metadata")(e)),
        }
    }

    async fn get_bytes(&self, key: &BlobKey) -> Result<Option<Bytes>, StoreError> {
        match tokio::fs::read(self.path(key)).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading a blob")(e)),
        }
    }

    async fn open(
        &self,
        key: &BlobKey,
        range: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, StoreError> {
        let mut f = match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("opening a blob")(e)),
        };
        let total_size = f
            .metadata()
            .await
            .map_err(io_err("reading blob metadata"))?
            .len();
        let body: super::BlobStream = match range {
            None => Box::pin(f),
            Some((start, end)) => {
                f.seek(io::SeekFrom::Start(start))
                    .await
                    .map_err(io_err("seeking in a blob"))?;
                Box::pin(f.take(end.saturating_sub(start) + 1))
            }
        };
        Ok(Some(BlobBody { total_size, body }))
    }
}

#[async_trait]
impl BlobWrite for FsBlobs {
    async fn put_bytes(&self, key: &BlobKey, bytes: Bytes) -> Result<(), StoreError> {
        let target = self.path(key);
        let (mut f, tmp) = self.temp_beside(&target).await?;
        let result = async {
            f.write_all(&bytes).await?;
            f.flush().await?;
            drop(f);
            tokio::fs::rename(&tmp, &target).await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map_err(io_err("writing a blob"))
    }

    async fn put_verified(
        &self,
        key: &BlobKey,
        body: ByteStream,
        expected: &Sha256Digest,
        max_size: u64,
    ) -> Result<u64, StoreError> {
        let target = self.path(key);
        let (mut f, tmp) = self.temp_beside(&target).await?;
        let outcome = super::spool_verified(body, &mut f, expected, max_size).await;
        drop(f);
        match outcome {
            Ok(size) => {
                tokio::fs::rename(&tmp, &target)
                    .await
                    .map_err(io_err("storing an upload"))?;
                Ok(size)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }
}
