//! `liveship live-update upload --build-dir DIR --to s3://bucket/prefix`: the
//! self-hosted storage flow of Appflow. The build directory, already signed
//! by `generate-manifest`, goes to the team's own bucket by path (AWS
//! credentials from the usual chain), and `register-artifact` then points
//! the server at its manifest URL.

use crate::output::{Failure, Output};
use crate::progress;
use anyhow::{anyhow, bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use base64::Engine;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use liveship_core::env;
use liveship_core::hash::Sha256Digest;
use liveship_core::manifest::{ManifestDocument, Trust};
use liveship_core::paths::MANIFEST_FILE_NAME;
use liveship_core::tree;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct UploadToArgs {
    /// The build directory, signed with `generate-manifest`.
    #[arg(long, value_name = "DIR")]
    build_dir: PathBuf,
    /// Where the files go: s3://BUCKET/PREFIX (each file at PREFIX/PATH).
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    to: String,
    /// Public base URL of the bucket (a CloudFront URL), for the artifact
    /// URL printed at the end [default: the bucket's S3 URL].
    #[arg(long, env = env::PUBLIC_BASE_URL)]
    public_base_url: Option<String>,
    /// Files uploaded at once.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
}

/// Splits `s3://bucket/prefix` (the prefix may be empty).
fn parse_s3_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| anyhow!("--to must look like s3://BUCKET/PREFIX, not {url:?}"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("--to {url:?} names no bucket; use s3://BUCKET/PREFIX");
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|s| s == ".." || s == ".") {
        bail!("--to {url:?}: the prefix may not contain . or .. segments");
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

fn b64(sha: &Sha256Digest) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha.as_bytes())
}

pub fn upload_to(a: UploadToArgs, out: &Output) -> Result<Value, Failure> {
    let (bucket, prefix) = parse_s3_url(&a.to)?;
    let manifest_path = a.build_dir.join(MANIFEST_FILE_NAME);
    if !manifest_path.is_file() {
        return Err(anyhow!(
            "{} not found; sign the build first with `liveship live-update generate-manifest --build-dir {}`",
            manifest_path.display(),
            a.build_dir.display()
        )
        .into());
    }
    let manifest_bytes = std::fs::read(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let doc = ManifestDocument::from_slice(&manifest_bytes)
        .with_context(|| manifest_path.display().to_string())
        .map_err(|e| Failure::verification(e, vec![]))?;
    if !doc.is_signed() {
        return Err(anyhow!(
            "{} is not signed; devices refuse unsigned builds. Run generate-manifest with --signing-key",
            manifest_path.display()
        )
        .into());
    }
    let trust = Trust::open(&doc, None).map_err(|e| Failure::verification(e, vec![]))?;
    // What goes up must be what was signed.
    let bar = progress::for_terminal(out.json, "checking");
    let problems = tree::check_tree(trust.manifest(), &a.build_dir, bar.as_ref())?;
    drop(bar);
    if !problems.is_empty() {
        let msg = anyhow!(
            "{} file(s) do not match {}: {}; run generate-manifest again",
            problems.len(),
            manifest_path.display(),
            liveship_core::artifact::summarize(&problems)
        );
        return Err(Failure::verification(msg, problems));
    }
    let files = trust.manifest().files.clone();
    let key_of = |path: &str| {
        if prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{prefix}/{path}")
        }
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let endpoint = std::env::var(env::AWS_ENDPOINT_URL)
        .ok()
        .filter(|v| !v.is_empty());
    let (uploaded, bytes, region) = rt.block_on(async {
        let sdk = liveship_core::aws::sdk_config().await;
        let region = sdk.region().map(|r| r.to_string());
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(endpoint.is_some())
                .build(),
        );
        let results: Vec<Option<u64>> = futures::stream::iter(files.iter().map(|f| {
            let (client, bucket, key) = (client.clone(), bucket.clone(), key_of(f.path.as_str()));
            let local = a.build_dir.join(f.path.as_str());
            async move {
                // Already there with the same bytes (S3 kept our checksum).
                if let Ok(head) = client
                    .head_object()
                    .bucket(&bucket)
                    .key(&key)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                {
                    if head.content_length() == Some(f.size as i64)
                        && head.checksum_sha256() == Some(b64(&f.sha256).as_str())
                    {
                        return Ok::<_, anyhow::Error>(None);
                    }
                }
                let body = ByteStream::from_path(&local)
                    .await
                    .with_context(|| format!("cannot read {}", local.display()))?;
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(body)
                    .content_length(f.size as i64)
                    .content_type(content_type(f.path.as_str()))
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .checksum_sha256(b64(&f.sha256))
                    .send()
                    .await
                    .map_err(|e| anyhow!(aws_sdk_s3::error::DisplayErrorContext(e)))
                    .with_context(|| format!("uploading {} to s3://{bucket}/{key}", f.path))?;
                Ok(Some(f.size))
            }
        }))
        .buffer_unordered(a.parallel.max(1))
        .try_collect()
        .await?;
        // The manifest goes last, so its URL never names missing files.
        let manifest_key = key_of(MANIFEST_FILE_NAME);
        client
            .put_object()
            .bucket(&bucket)
            .key(&manifest_key)
            .body(ByteStream::from(manifest_bytes.clone()))
            .content_type("application/json")
            .cache_control("no-cache")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(b64(&Sha256Digest::of(&manifest_bytes)))
            .send()
            .await
            .map_err(|e| anyhow!(aws_sdk_s3::error::DisplayErrorContext(e)))
            .with_context(|| format!("uploading the manifest to s3://{bucket}/{manifest_key}"))?;
        let uploaded = results.iter().flatten().count();
        let bytes: u64 = results.iter().flatten().sum();
        Ok::<_, anyhow::Error>((uploaded, bytes, region))
    })?;

    let manifest_key = key_of(MANIFEST_FILE_NAME);
    let artifact_url = match (&a.public_base_url, &endpoint) {
        (Some(base), _) => format!("{}/{manifest_key}", base.trim_end_matches('/')),
        (None, Some(ep)) => format!("{}/{bucket}/{manifest_key}", ep.trim_end_matches('/')),
        (None, None) => format!(
            "https://{bucket}.s3.{}.amazonaws.com/{manifest_key}",
            region.as_deref().unwrap_or("us-east-1")
        ),
    };
    out.say(format!(
        "uploaded {uploaded} file(s) ({bytes} bytes), {} already there, to s3://{bucket}/{prefix}",
        files.len() - uploaded
    ));
    out.say(format!(
        "next: liveship live-update register-artifact --artifact-type manifest --artifact-url {artifact_url}"
    ));
    Ok(json!({
        "command": "upload",
        "bucket": bucket,
        "prefix": prefix,
        "files": files.len(),
        "uploaded": uploaded,
        "uploaded_bytes": bytes,
        "already_stored": files.len() - uploaded,
        "artifact_url": artifact_url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(
            parse_s3_url("s3://b/a/b/").unwrap(),
            ("b".into(), "a/b".into())
        );
        assert_eq!(parse_s3_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_s3_url("https://b/x").is_err());
        assert!(parse_s3_url("s3:///x").is_err());
        assert!(parse_s3_url("s3://b/x/../y").is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("a/b.woff2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
