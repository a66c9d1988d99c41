//! The AWS backends (S3 blobs, DynamoDB records) pass the same conformance
//! suite as the embedded ones, over real HTTP against `moto_server` on
//! loopback. `scripts/test` starts moto and runs these with `--ignored`;
//! without `LIVESHIP_TEST_MOTO_URL` they fail rather than pass vacuously.

use liveship_core::store::conformance;
use liveship_core::store::dynamodb::DynamoRecords;
use liveship_core::store::s3::S3Blobs;
use liveship_tests::{moto_s3, moto_sdk_config};
use std::sync::Arc;

fn unique(prefix: &str) -> String {
    let mut r = [0u8; 4];
    getrandom_fill(&mut r);
    format!(
        "{prefix}{}",
        r.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn getrandom_fill(buf: &mut [u8]) {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (t >> (i * 8)) as u8 ^ (std::process::id() >> (i * 3)) as u8;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn dynamodb_records_conform() {
    let cfg = moto_sdk_config().await;
    let store = DynamoRecords::new(aws_sdk_dynamodb::Client::new(&cfg), unique("conf-"));
    store.create_tables().await.unwrap();
    conformance::records(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn s3_blobs_conform() {
    let s3 = moto_s3().await;
    let store = S3Blobs::new(s3, unique("liveship-conf-"), None);
    store.create_bucket().await.unwrap();
    conformance::blobs(Arc::new(store)).await;
}

/// Objects above the multipart threshold go up in parts, each checked by S3
/// against its own SHA-256, and read back whole; a wrong hash never starts
/// an upload, so no parts are left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn s3_large_objects_go_up_in_parts() {
    use bytes::Bytes;
    use futures::StreamExt;
    use liveship_core::domain::AppId;
    use liveship_core::hash::Sha256Digest;
    use liveship_core::store::{BlobKey, BlobRead, BlobWrite};
    let s3 = moto_s3().await;
    let bucket = unique("liveship-parts-");
    let store = S3Blobs::new(s3.clone(), &bucket, None).with_multipart(6 << 20, 5 << 20);
    store.create_bucket().await.unwrap();
    let app = AppId::new("com.example.parts").unwrap();
    let body = liveship_tests::noise(12 << 20, 7);
    let sha = Sha256Digest::of(&body);
    let key = BlobKey::file(&app, &sha);
    let stream = |b: &[u8]| {
        let chunks: Vec<Bytes> = b.chunks(1 << 20).map(Bytes::copy_from_slice).collect();
        futures::stream::iter(chunks.into_iter().map(Ok)).boxed()
    };

    let wrong = Sha256Digest::of(b"other");
    let err = store
        .put_verified(&BlobKey::file(&app, &wrong), stream(&body), &wrong, 1 << 30)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("SHA-256") || format!("{err:?}").contains("HashMismatch"),
        "{err}"
    );
    let pending = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(pending.uploads().is_empty(), "{pending:?}");

    let n = store
        .put_verified(&key, stream(&body), &sha, 1 << 30)
        .await
        .unwrap();
    assert_eq!(n, body.len() as u64);
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(key.as_str())
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap_or_default().ends_with("-3\""),
        "a 12 MiB object in 5 MiB parts has a 3-part ETag: {:?}",
        head.e_tag()
    );
    let back = store.get_bytes(&key).await.unwrap().unwrap();
    assert_eq!(Sha256Digest::of(&back), sha);
    assert_eq!(store.head(&key).await.unwrap(), Some(body.len() as u64));
}
