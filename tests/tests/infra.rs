//! infra/ (Terraform) held against the code: routes and their functions,
//! environment variable names, DynamoDB keys and TTL, Lambda runtime, and
//! each function's IAM grants. The HCL is parsed by python-hcl2
//! (tests/infra/hcl2json.py) with the interpreter in `LIVESHIP_HCL2_PYTHON`;
//! `scripts/test` installs it in .venv/hcl2 and runs this with `--ignored`.

use liveship_core::aws::{dynamodb_actions, s3_actions};
use liveship_core::env;
use liveship_core::http::openapi::ROUTES;
use liveship_core::http::Function;
use liveship_core::store::dynamodb::{ScalarKind, TABLES, TTL_ATTRIBUTE, TTL_TABLES};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn infra() -> Value {
    let python = std::env::var("LIVESHIP_HCL2_PYTHON").unwrap_or_else(|_| {
        panic!("LIVESHIP_HCL2_PYTHON is not set: run scripts/test (it installs python-hcl2 in .venv/hcl2)")
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = liveship_tests::run_ok(
        std::process::Command::new(python)
            .arg(root.join("tests/infra/hcl2json.py"))
            .arg(root.join("infra")),
        "parsing infra/ with python-hcl2",
    );
    serde_json::from_slice(&out).expect("JSON")
}

/// `locals { name = ... }` of a file.
fn local<'a>(hcl: &'a Value, file: &str, name: &str) -> &'a Value {
    hcl[file]["locals"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|l| l.get(name))
        .unwrap_or_else(|| panic!("{file}: no local {name}"))
}

/// The body of `resource "TYPE" "NAME"` in a file.
fn resource<'a>(hcl: &'a Value, file: &str, kind: &str, name: &str) -> &'a Value {
    hcl[file]["resource"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|r| r.get(kind).and_then(|k| k.get(name)))
        .unwrap_or_else(|| panic!("{file}: no resource {kind}.{name}"))
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs python-hcl2: scripts/test runs it"]
fn every_route_goes_to_its_function_and_no_other() {
    let hcl = infra();
    let wired: BTreeMap<String, String> = local(&hcl, "api.tf", "routes")
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["function"].as_str().unwrap().to_owned()))
        .collect();
    let code: BTreeMap<String, String> = ROUTES
        .iter()
        .map(|r| {
            (
                format!("{} {}", r.method, r.path),
                r.function.name().to_owned(),
            )
        })
        // The console's pages go to the register function, which serves
        // the CI router they are part of.
        .chain(
            liveship_core::http::console::CONSOLE_ROUTES
                .iter()
                .map(|k| (k.to_string(), Function::Register.name().to_owned())),
        )
        .collect();
    assert_eq!(wired, code, "infra/api.tf routes differ from the router's");
    // The route resource wires every entry to its function's integration.
    let route = resource(&hcl, "api.tf", "aws_apigatewayv2_route", "route");
    assert_eq!(route["for_each"], "${local.routes}");
    assert_eq!(route["route_key"], "${each.key}");
    assert_eq!(
        route["target"],
        "integrations/${aws_apigatewayv2_integration.function[each.value.function].id}"
    );
    let integration = resource(&hcl, "api.tf", "aws_apigatewayv2_integration", "function");
    assert_eq!(integration["payload_format_version"], "2.0");
    assert_eq!(integration["integration_type"], "AWS_PROXY");
    // Device routes (every route of latest and download-complete, all
    // public) get a per-route throttle tighter than the stage default.
    assert_eq!(
        local(&hcl, "api.tf", "device_routes"),
        "${{for k, r in local.routes : k => r if r.function != \"register\"}}"
    );
    let stage = resource(&hcl, "api.tf", "aws_apigatewayv2_stage", "default");
    let per_route = &stage["dynamic"][0]["route_settings"];
    assert_eq!(per_route["for_each"], "${local.device_routes}");
    assert_eq!(
        per_route["content"][0]["throttling_rate_limit"],
        "${var.device_throttle_rate}"
    );
    assert_eq!(
        stage["default_route_settings"][0]["throttling_rate_limit"],
        "${var.throttle_rate}"
    );
    let default_of = |name: &str| {
        hcl["variables.tf"]["variable"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|v| v.get(name))
            .and_then(|v| v["default"].as_f64())
            .unwrap_or_else(|| panic!("variable {name} has no number default"))
    };
    assert!(default_of("device_throttle_rate") < default_of("throttle_rate"));
    assert!(default_of("device_throttle_burst") < default_of("throttle_burst"));
    for r in ROUTES.iter().filter(|r| r.function != Function::Register) {
        assert_eq!(
            r.access,
            liveship_core::http::openapi::Access::Public,
            "{} {} is a device route",
            r.method,
            r.path
        );
    }
    assert!(stage["access_log_settings"][0]["format"]
        .as_str()
        .is_some_and(|f| !f.contains("header") && !f.contains("querystring")));
}

#[test]
#[ignore = "needs python-hcl2: scripts/test runs it"]
fn the_rollout_schedule_invokes_the_function_that_runs_the_guard() {
    let hcl = infra();
    let f = liveship_core::lambda::SCHEDULED_FUNCTION.name();
    let rule = resource(
        &hcl,
        "schedule.tf",
        "aws_cloudwatch_event_rule",
        "rollout_tick",
    );
    assert!(rule["schedule_expression"]
        .as_str()
        .unwrap()
        .contains("rate(${var.rollout_tick_minutes} minutes)"));
    let target = resource(
        &hcl,
        "schedule.tf",
        "aws_cloudwatch_event_target",
        "rollout_tick",
    );
    assert_eq!(
        target["arn"],
        format!("${{aws_lambda_function.function[\"{f}\"].arn}}")
    );
    let allow = resource(&hcl, "schedule.tf", "aws_lambda_permission", "rollout_tick");
    assert_eq!(
        allow["function_name"],
        format!("${{aws_lambda_function.function[\"{f}\"].function_name}}")
    );
    assert_eq!(allow["principal"], "events.amazonaws.com");
    // Only this rule may invoke it this way.
    assert_eq!(
        allow["source_arn"],
        "${aws_cloudwatch_event_rule.rollout_tick[0].arn}"
    );
}

#[test]
#[ignore = "needs python-hcl2: scripts/test runs it"]
fn functions_run_the_binaries_with_the_environment_the_code_reads() {
    let hcl = infra();
    let functions: BTreeSet<String> = local(&hcl, "functions.tf", "functions")
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let names: BTreeSet<String> = Function::ALL.iter().map(|f| f.name().to_owned()).collect();
    assert_eq!(functions, names);
    let f = resource(&hcl, "functions.tf", "aws_lambda_function", "function");
    assert_eq!(f["runtime"], "provided.al2023");
    assert_eq!(f["handler"], "bootstrap");
    assert_eq!(
        strings(&f["architectures"]),
        BTreeSet::from(["arm64".to_owned()])
    );
    assert_eq!(
        f["environment"][0]["variables"],
        "${local.function_environment}"
    );
    assert!(f["tracing_config"][0]["mode"]
        .as_str()
        .unwrap()
        .contains("Active"));

    let vars: BTreeSet<String> = local(&hcl, "functions.tf", "function_environment")
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    // What AwsSettings::from_env and function_router require or read.
    let read = [
        env::BUCKET,
        env::TABLE_PREFIX,
        env::PUBLIC_URL,
        env::PUBLIC_BASE_URL,
        env::EVENT_RETENTION_DAYS,
        env::AUDIT_RETENTION_DAYS,
        env::CACHE_TTL_SECONDS,
        env::WEBHOOK_URL,
        env::WEBHOOK_SECRET,
    ];
    let read: BTreeSet<String> = read.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        vars, read,
        "infra/functions.tf environment differs from what the code reads"
    );
}

#[test]
#[ignore = "needs python-hcl2: scripts/test runs it"]
fn tables_match_the_store() {
    let hcl = infra();
    let tables = local(&hcl, "database.tf", "tables").as_object().unwrap();
    let kind = |k: ScalarKind| if k == ScalarKind::S { "S" } else { "N" };
    assert_eq!(tables.len(), TABLES.len(), "table count");
    for (suffix, (pk, pk_kind), sk) in TABLES {
        let t = tables
            .get(*suffix)
            .unwrap_or_else(|| panic!("infra/database.tf lacks table {suffix}"));
        assert_eq!(t["hash_key"], *pk, "{suffix} partition key");
        assert_eq!(
            t["hash_type"],
            kind(*pk_kind),
            "{suffix} partition key type"
        );
        match sk {
            Some((name, k)) => {
                assert_eq!(t["range_key"], *name, "{suffix} sort key");
                assert_eq!(t["range_type"], kind(*k), "{suffix} sort key type");
            }
            None => assert!(
                t["range_key"].is_null() || t["range_key"] == "null",
                "{suffix} has no sort key in the store: {t}"
            ),
        }
    }
    assert_eq!(local(&hcl, "database.tf", "ttl_attribute"), TTL_ATTRIBUTE);
    assert_eq!(
        strings(local(&hcl, "database.tf", "ttl_tables")),
        TTL_TABLES
            .iter()
            .map(|t| t.to_string())
            .collect::<BTreeSet<_>>()
    );
    let table = resource(&hcl, "database.tf", "aws_dynamodb_table", "table");
    assert_eq!(table["name"], "${local.table_prefix}${each.key}");
    assert_eq!(table["billing_mode"], "PAY_PER_REQUEST");
    assert_eq!(table["point_in_time_recovery"][0]["enabled"], true);
    assert_eq!(table["server_side_encryption"][0]["enabled"], true);
    assert_eq!(
        local(&hcl, "main.tf", "table_prefix"),
        "${var.name_prefix}-"
    );
}

#[test]
#[ignore = "needs python-hcl2: scripts/test runs it"]
fn each_role_grants_exactly_what_its_store_capabilities_call() {
    let hcl = infra();
    let ddb = local(&hcl, "iam.tf", "dynamodb_grants");
    let objects = local(&hcl, "iam.tf", "s3_object_grants");
    let bucket = local(&hcl, "iam.tf", "s3_bucket_grants");
    for f in Function::ALL {
        let granted: BTreeMap<String, BTreeSet<String>> = ddb[f.name()]
            .as_object()
            .unwrap_or_else(|| panic!("no DynamoDB grants for {}", f.name()))
            .iter()
            .map(|(t, a)| (t.clone(), strings(a)))
            .collect();
        let needed: BTreeMap<String, BTreeSet<String>> = dynamodb_actions(f)
            .iter()
            .map(|(t, a)| (t.to_string(), a.iter().map(|s| s.to_string()).collect()))
            .collect();
        assert_eq!(granted, needed, "{}: DynamoDB grants", f.name());
        let mut s3 = strings(&objects[f.name()]);
        s3.extend(strings(&bucket[f.name()]));
        let needed: BTreeSet<String> = s3_actions(f).iter().map(|s| s.to_string()).collect();
        assert_eq!(s3, needed, "{}: S3 grants", f.name());
        // Nothing destructive, and the device functions write no builds,
        // channels or tokens.
        for (table, actions) in &granted {
            for a in actions {
                assert!(!a.contains('*'), "{}: wildcard {a}", f.name());
                // Item deletes only where the API deletes: a device's own
                // channel choice, and (register) a revoked token or a
                // deleted channel. Never a table.
                let item_delete_ok = a == "dynamodb:DeleteItem"
                    && (table == "device_channels"
                        || (f == Function::Register && (table == "tokens" || table == "channels")));
                assert!(
                    !a.contains("Delete") || item_delete_ok,
                    "{}: {a} on {table}",
                    f.name()
                );
                let writes = ["Put", "Update", "Write", "Delete"]
                    .iter()
                    .any(|w| a.contains(w));
                // One exception: the rollout guard's compare-and-set of a
                // channel whose plan a lookup found due (docs/rollouts.md).
                let guard_write =
                    f == Function::Latest && table == "channels" && a == "dynamodb:PutItem";
                if f != Function::Register
                    && !guard_write
                    && ["builds", "channels", "tokens", "apps"].contains(&table.as_str())
                {
                    assert!(!writes, "{} may not write {table} ({a})", f.name());
                }
            }
        }
        assert!(s3.iter().all(|a| !a.contains("Delete") && !a.contains('*')));
    }
    // The roles get nothing beyond these locals, logs and tracing.
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/iam.tf"))
            .unwrap();
    for forbidden in [
        "DeleteTable",
        "DeleteBucket",
        "DeleteObject",
        "\"s3:*\"",
        "\"dynamodb:*\"",
        "iam:",
    ] {
        assert!(
            !text.contains(forbidden),
            "infra/iam.tf mentions {forbidden}"
        );
    }
}
