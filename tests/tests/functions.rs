//! The Lambda functions' routers, without AWS: each function answers
//! exactly its routes, and API Gateway HTTP API (payload 2.0) events from
//! tests/fixtures/apigw go through lambda_http into each function's router,
//! in order, on SQLite and directory stores.

use base64::Engine;
use liveship_core::hash::Sha256Digest;
use liveship_core::http::openapi::ROUTES;
use liveship_core::http::{function_router, token_record, Function, Stores, Urls};
use liveship_core::manifest::{FileEntry, Manifest};
use liveship_core::model::Scope;
use liveship_core::paths::ManifestPath;
use liveship_core::store::fs::FsBlobs;
use liveship_core::store::sqlite::SqliteRecords;
use liveship_tests::lambda::{api_gateway_event, invoke_in_process, route_for};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const ADMIN: &str = "lsp_fixture_admin_token_0123456789";

fn stores(dir: &std::path::Path) -> Stores {
    let records = Arc::new(SqliteRecords::open(&dir.join("db")).unwrap());
    Stores {
        records: records.clone(),
        events: records,
        blobs: Arc::new(FsBlobs::open(&dir.join("blobs")).unwrap()),
    }
}

fn router(f: Function, s: &Stores) -> axum::Router {
    function_router(
        f,
        s.clone(),
        Urls::new("https://api.example.com"),
        Duration::from_secs(5),
        None,
    )
}

/// Each function serves its routes (and the common ones), and answers any
/// other function's route with the JSON 404 of an unknown route.
#[tokio::test]
async fn each_function_serves_exactly_its_routes() {
    let dir = tempfile::tempdir().unwrap();
    let s = stores(dir.path());
    let mut owned = 0;
    for f in Function::ALL {
        let r = router(f, &s);
        for route in ROUTES {
            let path = route
                .path
                .replace("{app}", "com.example.x")
                .replace("{sha256}", &Sha256Digest::of(b"x").to_hex())
                .replace("{id}", "1")
                .replace("{channel}", "production");
            let (p, params) = route_for(route.method, &path).expect("a route matches itself");
            assert_eq!(
                p.path, route.path,
                "{} {path} matched another route",
                route.method
            );
            let method = route.method.parse().unwrap();
            let event =
                api_gateway_event(route, params, &method, &path, "", &Default::default(), b"");
            let answer = invoke_in_process(r.clone(), event).await;
            // Unknown path: the JSON 404; a path another function serves
            // with another method: 405.
            let unknown = answer["statusCode"] == 405
                || (answer["statusCode"] == 404
                    && answer["body"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("no such route"));
            let common = matches!(route.path, "/healthz" | "/v1/openapi.json");
            let expect_served = route.function == f || common;
            assert_eq!(
                !unknown,
                expect_served,
                "{} {} on the {} function: {answer}",
                route.method,
                route.path,
                f.name()
            );
            owned += usize::from(route.function == f);
        }
    }
    assert_eq!(owned, ROUTES.len(), "every route has exactly one function");
}

fn substitute(text: &str, vars: &[(&str, String)]) -> String {
    let mut out = text.to_owned();
    for (k, v) in vars {
        // A whole-string placeholder may stand for JSON text: keep it a string.
        out = out.replace(
            &format!("\"{{{{{k}}}}}\""),
            &serde_json::to_string(v).unwrap(),
        );
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// `expected` is a subset of `actual`.
fn assert_subset(expected: &Value, actual: &Value, ctx: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                assert_subset(v, a.get(k).unwrap_or(&Value::Null), &format!("{ctx}.{k}"));
            }
        }
        _ => assert_eq!(expected, actual, "{ctx}"),
    }
}

#[tokio::test]
async fn api_gateway_events_through_lambda_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = stores(dir.path());
    s.records
        .create_token(&token_record(
            ADMIN,
            "fixture admin",
            None,
            vec![Scope::Admin],
        ))
        .await
        .unwrap();
    let file: Vec<u8> = b"\x00\x01 fixture bytes \xff\xfe".to_vec();
    let sha = Sha256Digest::of(&file);
    let manifest = Manifest::new(
        None,
        Some("1.0.0".parse().unwrap()),
        vec![FileEntry {
            path: ManifestPath::new("index.html").unwrap(),
            sha256: sha,
            size: file.len() as u64,
        }],
    )
    .unwrap();
    let build_body =
        json!({"manifest": manifest.unsigned(), "artifact_type": "manifest", "version": "1.0.0"});
    let vars = [
        ("ADMIN", ADMIN.to_owned()),
        ("SHA", sha.to_hex()),
        ("FILE_B64", B64.encode(&file)),
        ("FILE_HEAD_B64", B64.encode(&file[..4])),
        ("BUILD_BODY", build_body.to_string()),
        ("VERSION", "1.0.0".to_owned()),
    ];
    let routers: Vec<(Function, axum::Router)> =
        Function::ALL.iter().map(|f| (*f, router(*f, &s))).collect();

    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/apigw");
    let mut names: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.len() >= 14, "fixtures are missing");
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let fixture: Value =
            serde_json::from_str(&substitute(&std::fs::read_to_string(&path).unwrap(), &vars))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        let function = routers
            .iter()
            .find(|(f, _)| f.name() == fixture["function"])
            .unwrap_or_else(|| panic!("{name}: unknown function"));
        let answer = invoke_in_process(function.1.clone(), fixture["event"].clone()).await;
        let expect = &fixture["expect"];
        assert_eq!(answer["statusCode"], expect["status"], "{name}: {answer}");
        if let Some(h) = expect.get("headers") {
            assert_subset(h, &answer["headers"], &name);
        }
        if let Some(b) = expect.get("isBase64Encoded") {
            assert_eq!(&answer["isBase64Encoded"], b, "{name}: {answer}");
        }
        if let Some(b) = expect.get("body_b64") {
            assert_eq!(&answer["body"], b, "{name}");
        }
        if let Some(j) = expect.get("json") {
            let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("null"))
                .unwrap_or_else(|e| panic!("{name}: body is not JSON ({e}): {answer}"));
            assert_subset(j, &body, &name);
        }
    }
}
