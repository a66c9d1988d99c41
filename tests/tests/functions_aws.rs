//! The three Lambda function binaries, run under a Lambda runtime API
//! emulator behind a local API Gateway (tests/src/lambda.rs), on S3 and
//! DynamoDB in moto: the CLI and devices work unchanged against them.
//! `scripts/test` runs these with `--ignored`.

use liveship_core::hash::Sha256Digest;
use liveship_core::http::Function;
use liveship_tests::moto_url;
use liveship_tests::world::{as_refs, sample_files, World};
use liveship_tests::Server;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn ci_and_devices_through_the_three_functions() {
    let w = World::with_server(Server::start_lambda(&moto_url(), &[]));
    let app = "com.example.lambda";
    let t = w.app(app);

    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    let first = w.upload(&t.ci, app, &dir, "1.0.0", &["--channel", "production"]);
    assert_eq!(first["uploaded"], 4, "{first}");

    // The device lookup, then every file through the latest function's
    // redirect to S3, checked against the signed manifest.
    let latest = w.latest(app, "production", "device_id=dev-1").await;
    assert_eq!(latest.status, "update_available");
    w.check_offer(&latest).await;
    assert!(latest.files.is_some() && latest.zip_url.is_some());

    // capgo's lookup (latest) and stats (download-complete).
    let (s, capgo) = w
        .call(
            Method::POST,
            "/capgo/updates",
            None,
            Some(
                json!({"app_id": app, "device_id": "dev-2", "version_name": "builtin",
                        "version_build": "1.0.0", "platform": "android"}),
            ),
        )
        .await;
    assert_eq!(
        (s.as_u16(), &capgo["version"]),
        (200, &json!("1.0.0")),
        "{capgo}"
    );
    let build = first["build_id"].as_u64().unwrap();
    for (device, event) in [("dev-1", "download_complete"), ("dev-1", "applied")] {
        let (s, body) = w
            .call(
                Method::POST,
                &format!("/v1/apps/{app}/events"),
                None,
                Some(json!({"device_id": device, "build_id": build, "event": event})),
            )
            .await;
        assert_eq!(s, 202, "{body}");
    }
    let stats = w.cli(
        &t.deploy,
        &["stats", "--app-id", app, "--build-id", &build.to_string()],
    );
    assert_eq!(stats["counts"]["applied"], 1, "{stats}");

    // A second build and a rollback, through the register function.
    liveship_tests::write(&w.path().join("www"), "js/app.js", b"console.log('v2')");
    let second = w.upload(&t.ci, app, &dir, "1.0.1", &["--channel", "production"]);
    assert_eq!(second["uploaded"], 1, "{second}");
    let ch = w.cli(
        &t.deploy,
        &["rollback", "--app-id", app, "--channel", "production"],
    );
    assert_eq!(ch["channel"]["current"]["build_id"], first["build_id"]);

    // The file path has two owners by method: PUT goes to register, which
    // wants a token; a method no function owns stops at the gateway.
    let (s, _) = w
        .call(
            Method::PUT,
            &format!("/v1/apps/{app}/files/{}", Sha256Digest::of(b"x")),
            None,
            None,
        )
        .await;
    assert_eq!(s, 401, "the upload route needs a token");
    let (s, body) = w
        .call(
            Method::DELETE,
            &format!("/v1/apps/{app}/files/{}", Sha256Digest::of(b"x")),
            None,
            None,
        )
        .await;
    assert_eq!((s.as_u16(), &body["message"]), (404, &json!("Not Found")));

    let stack = w.server.stack.as_ref().unwrap();
    let invocations = stack.gateway.invocations.lock().unwrap().clone();
    for f in Function::ALL {
        assert!(
            invocations.get(&f).copied().unwrap_or(0) > 0,
            "{} was never invoked",
            f.name()
        );
    }
    for (f, t) in stack.gateway.first_answers() {
        let t = t.expect("every function answered");
        println!(
            "{}: process start to first answer {} ms",
            f.name(),
            t.as_millis()
        );
    }
    println!("invocations: {invocations:?}");

    // Every request each function made is one its IAM policy grants
    // (liveship_core::aws::{dynamodb_actions, s3_actions}, which infra/iam.tf
    // is held to by tests/tests/infra.rs).
    let prefix = stack
        .env
        .iter()
        .find(|(k, _)| k == "LIVESHIP_TABLE_PREFIX")
        .map(|(_, v)| v.clone())
        .unwrap();
    for f in Function::ALL {
        let calls = stack.proxies[&f].calls();
        assert!(!calls.is_empty(), "{} made no AWS calls", f.name());
        for (action, table) in calls {
            if let Some(method) = action.strip_prefix("s3:") {
                let needed = match method {
                    "GET" | "HEAD" => "s3:GetObject",
                    "PUT" | "POST" => "s3:PutObject",
                    "DELETE" => "s3:AbortMultipartUpload",
                    other => panic!("{}: unexpected S3 call {other}", f.name()),
                };
                assert!(
                    liveship_core::aws::s3_actions(f).contains(&needed),
                    "{} calls {needed} but may not",
                    f.name()
                );
                continue;
            }
            let suffix = table.strip_prefix(&prefix).unwrap_or(&table);
            let granted = liveship_core::aws::dynamodb_actions(f)
                .iter()
                .find(|(t, _)| *t == suffix)
                .map(|(_, a)| *a)
                .unwrap_or_default();
            assert!(
                granted.contains(&action.as_str()),
                "{} calls {action} on {suffix}, which its IAM policy does not grant",
                f.name()
            );
        }
    }
}

/// A warm `latest` function reads DynamoDB once per cache period, not once
/// per lookup: 1,000 lookups from different devices over about 10 seconds,
/// with the default 5 s cache and with the cache off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn dynamodb_reads_per_thousand_lookups() {
    let mut results = Vec::new();
    for ttl in ["5", "0"] {
        let w = World::with_server(Server::start_lambda(
            &moto_url(),
            &[("LIVESHIP_CACHE_TTL_SECONDS", ttl)],
        ));
        let app = "com.example.reads";
        let t = w.app(app);
        let files = sample_files();
        let dir = w.build_dir("www", &as_refs(&files));
        w.upload(&t.ci, app, &dir, "1.0.0", &["--channel", "production"]);
        let proxy = &w.server.stack.as_ref().unwrap().proxies[&Function::Latest];
        let before = proxy.dynamodb_total();
        let start = Instant::now();
        let pace = Duration::from_millis(10);
        for i in 0..1000 {
            let latest = w
                .latest(app, "production", &format!("device_id=device-{i}"))
                .await;
            assert_eq!(latest.status, "update_available");
            let due = pace * (i + 1);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let reads = proxy.dynamodb_total() - before;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "cache ttl {ttl} s: {reads} DynamoDB requests for 1000 lookups in {secs:.1} s ({:?})",
            proxy.dynamodb()
        );
        results.push((ttl, reads, secs));
    }
    let (_, cached, secs) = results[0];
    let (_, uncached, _) = results[1];
    // One refresh of the channel view is a handful of reads; one per started
    // 5 s period, plus the first.
    let periods = (secs / 5.0).ceil() as u64 + 1;
    assert!(
        cached <= periods * 8,
        "{cached} DynamoDB requests with the cache over {periods} periods"
    );
    assert!(
        uncached >= 1000,
        "without the cache every lookup reads: {uncached}"
    );
    assert!(cached * 20 < uncached, "{cached} vs {uncached}");
}

/// DynamoDB writes one device event costs on the download-complete
/// function: what the per-build counters always cost, and what the
/// console's usage buckets add. 100 devices each report an update's two
/// events (`download_complete`, then `applied`) in the same hour. Every item
/// is under 1 KB, so each write request is one write unit, a conditional
/// put that finds its marker present included. docs/cost.md uses these.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn dynamodb_writes_per_event() {
    let w = World::with_server(Server::start_lambda(&moto_url(), &[]));
    let app = "com.example.writes";
    let t = w.app(app);
    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    let build = w.upload(&t.ci, app, &dir, "1.0.0", &["--channel", "production"])["build_id"]
        .as_u64()
        .unwrap();
    let proxy = &w.server.stack.as_ref().unwrap().proxies[&Function::DownloadComplete];
    let before = proxy.dynamodb_by_table();
    let devices = 100u64;
    for kind in ["download_complete", "applied"] {
        for d in 0..devices {
            let (s, v) = w
                .call(
                    Method::POST,
                    &format!("/v1/apps/{app}/events"),
                    None,
                    Some(json!({"device_id": format!("d{d}"), "build_id": build, "event": kind})),
                )
                .await;
            assert_eq!(s, 202, "{v}");
        }
    }
    let after = proxy.dynamodb_by_table();
    // Tables are `{prefix}{suffix}`, and no suffix ends another.
    let writes = |op: &str, table: &str| -> u64 {
        after
            .iter()
            .filter(|((o, t), _)| o == op && t.ends_with(table))
            .map(|(k, n)| n - before.get(k).copied().unwrap_or(0))
            .sum()
    };
    let events = 2 * devices;
    let raw = writes("BatchWriteItem", "events");
    let markers = writes("PutItem", "events");
    let counters = writes("UpdateItem", "counters");
    let usage = writes("UpdateItem", "usage");
    // Per-build counters: the raw event, a distinct-device marker per kind,
    // the event counter and (first sighting of a kind) the device counter.
    assert_eq!(raw, events);
    assert_eq!(counters, events + events);
    // Usage: an hourly and a daily marker per event; the hourly bucket per
    // event, and the daily bucket on a device's first event of the day.
    assert_eq!(markers, events + 2 * events);
    assert_eq!(usage, events + devices);
    let base = raw + events + counters;
    let extra = 2 * events + usage;
    println!(
        "DynamoDB writes per event: {:.2} for the per-build counters, {:.2} more for the usage buckets ({:.2} in all); {:?}",
        base as f64 / events as f64,
        extra as f64 / events as f64,
        (base + extra) as f64 / events as f64,
        after
    );
}

/// Process start to first answered request of each function binary, cold:
/// a new process per run, invoked at once with a device lookup (which
/// reads DynamoDB) or, for register, a listing of builds. Five runs each;
/// the median is printed. bench/lambda.sh runs this on release builds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn cold_start_to_first_answer() {
    use liveship_tests::lambda::{api_gateway_event, route_for, FunctionProcess};
    let w = World::with_server(Server::start_lambda(&moto_url(), &[]));
    let app = "com.example.cold";
    let t = w.app(app);
    let stack = w.server.stack.as_ref().unwrap();
    for f in Function::ALL {
        let (method, path, query, body, token): (_, String, _, &[u8], _) = match f {
            Function::Register => (
                "GET",
                format!("/v1/apps/{app}/builds"),
                "",
                b"",
                Some(&t.deploy),
            ),
            Function::Latest => (
                "GET",
                format!("/v1/apps/{app}/channels/production/latest"),
                "device_id=d",
                b"",
                None,
            ),
            Function::DownloadComplete => (
                "GET",
                "/build/download/complete".to_owned(),
                "id=com.example.cold%3A1&device=d",
                b"",
                None,
            ),
        };
        let mut times = Vec::new();
        for _ in 0..5 {
            let (route, params) = route_for(method, &path).unwrap();
            let mut headers = reqwest::header::HeaderMap::new();
            if let Some(t) = token {
                headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            let event = api_gateway_event(
                route,
                params,
                &method.parse().unwrap(),
                &path,
                query,
                &headers,
                body,
            );
            let p = FunctionProcess::start(f, &stack.env, w.path()).await;
            let answer = p.invoke(event).await.unwrap();
            let status = answer["statusCode"].as_u64().unwrap();
            assert!(status < 500 && status != 401, "{}: {answer}", f.name());
            times.push(p.first_answer.lock().unwrap().unwrap());
        }
        times.sort();
        println!(
            "cold start {}: median {} ms (min {} ms, max {} ms) from process start to first answer",
            f.name(),
            times[2].as_millis(),
            times[0].as_millis(),
            times[4].as_millis()
        );
        assert!(
            times[2] < Duration::from_secs(10),
            "{}: {times:?}",
            f.name()
        );
    }
}
