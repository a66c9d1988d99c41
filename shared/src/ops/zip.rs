//! The zip of a hosted manifest build, made by the server at registration
//! from the stored files, so every hosted build can also be fetched as one
//! zip (the stock capgo plugin and Cartona-style clients download zips).
//! Same layout as `bundle-artifact`: files sorted, then the signed manifest.

use super::OpError;
use crate::domain::AppId;
use crate::manifest::{Manifest, ZipInfo};
use crate::paths::MANIFEST_FILE_NAME;
use crate::store::{BlobKey, BlobWrite};
use crate::zipwrite::{encode, ZipWriter};
use futures::StreamExt;
use std::io::{BufWriter, Seek};

fn internal(context: &'static str) -> impl FnOnce(std::io::Error) -> OpError {
    move |e| {
        tracing::error!(error = %e, context, "making a build zip");
        OpError::Internal
    }
}

/// Writes the zip of `manifest`'s files (read from `blobs`) plus the signed
/// manifest document, stores it content-addressed, and returns its hash and size.
pub async fn make_zip(
    blobs: &dyn BlobWrite,
    app: &AppId,
    manifest: &Manifest,
    document: Vec<u8>,
) -> Result<ZipInfo, OpError> {
    let tmp = tempfile::NamedTempFile::new().map_err(internal("temporary file"))?;
    let mut writer = ZipWriter::new(BufWriter::new(
        tmp.reopen().map_err(internal("temporary file"))?,
    ));
    for f in &manifest.files {
        let bytes = blobs
            .get_bytes(&BlobKey::file(app, &f.sha256))
            .await?
            .ok_or_else(|| {
                OpError::unprocessable("files_missing", format!("{} is not stored", f.path))
            })?;
        let encoded = tokio::task::spawn_blocking(move || encode(&bytes))
            .await
            .map_err(|_| OpError::Internal)?;
        writer
            .add_encoded(f.path.as_str(), &encoded)
            .map_err(internal("writing"))?;
    }
    writer
        .add_encoded(MANIFEST_FILE_NAME, &encode(&document))
        .map_err(internal("writing"))?;
    let mut file = writer
        .finish()
        .map_err(internal("writing"))?
        .into_inner()
        .map_err(|e| internal("flushing")(e.into_error()))?;
    file.rewind().map_err(internal("rewinding"))?;
    let (sha256, size, crc32) = tokio::task::spawn_blocking({
        let path = tmp.path().to_owned();
        move || crate::hash::hash_file_with_crc32(&path)
    })
    .await
    .map_err(|_| OpError::Internal)?
    .map_err(internal("hashing"))?;
    let reader = tokio::fs::File::open(tmp.path())
        .await
        .map_err(internal("reopening"))?;
    let stream = tokio_util::io::ReaderStream::new(reader).boxed();
    blobs
        .put_verified(&BlobKey::file(app, &sha256), stream, &sha256, u64::MAX)
        .await?;
    Ok(ZipInfo {
        sha256,
        size,
        crc32: Some(crc32),
    })
}

/// Fills in the CRC-32 of a stored zip whose signed manifest predates it
/// (liveship before 0.2), by streaming the blob once at registration, so
/// the capgo plugin lines that check only a CRC-32 can be served it.
pub async fn with_crc32(
    blobs: &dyn BlobWrite,
    app: &AppId,
    zip: ZipInfo,
) -> Result<ZipInfo, OpError> {
    use tokio::io::AsyncReadExt;
    if zip.crc32.is_some() {
        return Ok(zip);
    }
    let Some(mut blob) = blobs.open(&BlobKey::file(app, &zip.sha256), None).await? else {
        return Ok(zip);
    };
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = blob
            .body
            .read(&mut buf)
            .await
            .map_err(internal("reading the zip"))?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
    }
    Ok(ZipInfo {
        crc32: Some(crate::hash::Crc32(crc.finalize())),
        ..zip
    })
}
