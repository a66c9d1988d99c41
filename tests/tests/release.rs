//! Release management as a release manager meets it, through the CLI on a
//! real `liveship serve`: rollouts that widen and roll back correctly,
//! native limits, channels that typos cannot create, guarded disables,
//! device counts, tokens that can be listed, revoked and rotated, apps that
//! can be changed, and a bootstrap that never adds or resurrects a token
//! silently.

use liveship_tests::world::{register, World};
use liveship_tests::{liveship_bin, Server};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

const APP: &str = "com.example.release";

/// Runs the CLI expecting failure; (exit code, the `--json` answer, stderr).
fn cli_fails(w: &World, token: &str, args: &[&str]) -> (i32, Value, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = w.server.cli(token, w.path(), &all);
    assert_ne!(code, 0, "liveship {args:?} should fail: {out}");
    let v = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (code, v, err)
}

/// Registers builds 1.0.N with one file each; their ids.
async fn builds(w: &World, token: &str, n: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 1..=n {
        let (s, v) = register(
            w,
            token,
            APP,
            &format!("1.0.{i}"),
            format!("<p>{i}</p>").as_bytes(),
            json!({}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["build"]["id"].as_u64().unwrap());
    }
    ids
}

/// Which build each of `n` devices running `current` is offered (`None`:
/// up to date).
async fn offers(w: &World, n: usize, current: u64, extra: &str) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for i in 0..n {
        let l = w
            .latest(
                APP,
                "production",
                &format!("device_id=dev-{i}&current_build={current}{extra}"),
            )
            .await;
        out.push(l.build.map(|b| b.id));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn widening_a_rollout_keeps_its_baseline_and_rollback_returns_to_it() {
    let w = World::new();
    let t = w.app(APP);
    let ids = builds(&w, &t.ci, 3).await;
    let (b2, b3) = (ids[1], ids[2]);
    w.cli_deploy(&t.deploy, APP, "production", "1.0.2", &[]);
    // --build-id takes a version label as well as an id.
    let d = w.cli_deploy(&t.deploy, APP, "production", "1.0.3", &["--rollout", "20"]);
    assert_eq!(d["build_id"], b3);
    let at20 = offers(&w, 100, b2, "").await;
    let inside20: HashSet<usize> = (0..100).filter(|i| at20[*i] == Some(b3)).collect();
    assert!((8..=35).contains(&inside20.len()), "{}", inside20.len());
    assert!(at20.iter().all(|o| o.is_none() || *o == Some(b3)));

    let d = w.cli_deploy(
        &t.deploy,
        APP,
        "production",
        &b3.to_string(),
        &["--rollout", "50"],
    );
    assert_eq!(d["channel"]["previous"].as_array().unwrap().len(), 1, "{d}");
    let at50 = offers(&w, 100, b2, "").await;
    let inside50: HashSet<usize> = (0..100).filter(|i| at50[*i] == Some(b3)).collect();
    assert!(
        (30..=70).contains(&inside50.len()),
        "all devices got build 3: {}",
        inside50.len()
    );
    assert!(inside20.is_subset(&inside50), "widening dropped devices");

    let r = w.cli(
        &t.deploy,
        &["rollback", "--app-id", APP, "--channel", "production"],
    );
    assert_eq!(r["channel"]["current"]["build_id"], b2, "{r}");
    assert_eq!(r["channel"]["current"]["rollout_percent"], 100);
    // Devices that took build 3 are sent back to build 2; the rest stay.
    let after = offers(&w, 100, b3, "").await;
    assert!(after.iter().all(|o| *o == Some(b2)), "{after:?}");

    // The history shows in human output too.
    let (code, text, _) = w
        .server
        .cli(&t.deploy, w.path(), &["channels", "list", "--app-id", APP]);
    assert_eq!(code, 0);
    assert!(text.contains("rollout  build      3   50%"), "{text}");
    assert!(text.contains("rollback build      2  100%"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn native_limits_validate_merge_clear_and_need_a_platform() {
    let w = World::new();
    let t = w.app(APP);
    let ids = builds(&w, &t.ci, 2).await;
    let b2 = ids[1].to_string();
    w.cli_deploy(&t.deploy, APP, "production", &b2, &[]);
    let set = |args: &[&str]| {
        let mut all = vec![
            "builds",
            "set-native-versions",
            "--app-id",
            APP,
            "--build-id",
            &b2,
        ];
        all.extend_from_slice(args);
        w.cli(&t.deploy, &all)
    };
    set(&["--android-min", "9.0", "--ios-min", "9.0"]);
    // A lookup that does not say what it runs gets no limited build.
    let none = w
        .latest(APP, "production", "device_id=d&current_build=1")
        .await;
    assert_eq!(none.status, "up_to_date");
    let ok = w
        .latest(
            APP,
            "production",
            "device_id=d&current_build=1&platform=ios&native_version=9.1",
        )
        .await;
    assert_eq!(ok.build.map(|b| b.id), Some(ids[1]));
    let old = w
        .latest(
            APP,
            "production",
            "device_id=d&current_build=1&platform=ios&native_version=8.4",
        )
        .await;
    assert_eq!(old.status, "up_to_date");

    // Not a version: refused by the CLI (usage) and by the API (422).
    let (code, _, err) = cli_fails(
        &w,
        &t.deploy,
        &[
            "builds",
            "set-native-versions",
            "--app-id",
            APP,
            "--build-id",
            &b2,
            "--ios-min",
            "banana",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid native version"), "{err}");
    let (s, v) = w
        .call(
            Method::PATCH,
            &format!("/v1/apps/{APP}/builds/{b2}"),
            Some(&t.deploy),
            Some(json!({"native": {"ios": {"min": "banana"}}})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"], "invalid_native_limits");
    let (s, _) = w
        .call(
            Method::PATCH,
            &format!("/v1/apps/{APP}/builds/{b2}"),
            Some(&t.deploy),
            Some(json!({"native": {"iso": {"min": "1"}}})),
        )
        .await;
    assert_eq!(s, 422);

    // Merged, not replaced: setting max keeps min.
    let v = set(&["--ios-max", "12"]);
    assert_eq!(v["native"]["ios"], json!({"min": "9.0", "max": "12"}));
    assert_eq!(v["native"]["android"], json!({"min": "9.0"}));
    let (code, text, _) = w.server.cli(
        &t.deploy,
        w.path(),
        &[
            "builds",
            "set-native-versions",
            "--app-id",
            APP,
            "--build-id",
            &b2,
            "--android-max",
            "20",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        text.contains("android >= 9.0, <= 20; ios >= 9.0, <= 12"),
        "{text}"
    );
    // Contradictions are refused.
    let (_, v, _) = cli_fails(
        &w,
        &t.deploy,
        &[
            "builds",
            "set-native-versions",
            "--app-id",
            APP,
            "--build-id",
            &b2,
            "--ios-min",
            "13",
        ],
    );
    assert!(
        v["message"].as_str().unwrap().contains("min is above max"),
        "{v}"
    );
    // "" removes one limit (and blocks nobody); --clear-ios removes them all.
    let v = set(&["--ios-min", ""]);
    assert_eq!(v["native"]["ios"], json!({"max": "12"}));
    let v = set(&["--clear-ios"]);
    assert!(v["native"].get("ios").is_none(), "{v}");
    let v = set(&["--clear-android"]);
    assert_eq!(v["native"], json!({}));
    let any = w
        .latest(APP, "production", "device_id=d&current_build=1")
        .await;
    assert_eq!(any.build.map(|b| b.id), Some(ids[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_typo_does_not_create_a_channel() {
    let w = World::new();
    let t = w.app(APP);
    builds(&w, &t.ci, 1).await;
    w.cli_deploy(&t.deploy, APP, "production", "1", &[]);
    let (code, v, err) = cli_fails(
        &w,
        &t.deploy,
        &World::deploy_args(APP, "prodution", "1", &[]),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no channel \"prodution\" (channels: production)"),
        "{err}"
    );
    assert_eq!(v["server_error"], "channel_not_found");
    assert_eq!(v["details"]["channels"], json!(["production"]));
    let list = w.cli(&t.deploy, &["channels", "list", "--app-id", APP]);
    assert_eq!(list["channels"].as_array().unwrap().len(), 1);

    // Asked for explicitly, channels are created.
    w.cli_deploy(&t.deploy, APP, "beta", "1", &["--create-channel"]);
    let c = w.cli(
        &t.deploy,
        &["channels", "create", "--app-id", APP, "--channel", "qa"],
    );
    assert_eq!(c["channel"]["name"], "qa");
    let (_, v, _) = cli_fails(
        &w,
        &t.deploy,
        &["channels", "create", "--app-id", APP, "--channel", "qa"],
    );
    assert_eq!(v["status"], 409);
    w.cli_deploy(&t.deploy, APP, "qa", "1", &[]);
    let d = w.cli(
        &t.deploy,
        &["channels", "delete", "--app-id", APP, "--channel", "qa"],
    );
    assert_eq!(d["channel"]["name"], "qa");
    let (_, v, _) = cli_fails(
        &w,
        &t.deploy,
        &[
            "channels",
            "delete",
            "--app-id",
            APP,
            "--channel",
            "production",
        ],
    );
    assert_eq!(v["status"], 409);
    assert!(
        v["message"].as_str().unwrap().contains("default channel"),
        "{v}"
    );
    let names: Vec<Value> = w.cli(&t.deploy, &["channels", "list", "--app-id", APP])["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("beta"), json!("production")]);

    // upload-artifact --channel follows the same rule.
    let dir = w.build_dir("www", &[("index.html", b"<p>x</p>")]);
    let (code, _, err) = w.try_upload(&t.ci, APP, &dir, "2.0.0", &["--channel", "stagin"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("channel_not_found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rollout_and_mandatory_need_a_channel() {
    let w = World::new();
    let t = w.app(APP);
    let dir = w.build_dir("www", &[("index.html", b"<p>x</p>")]);
    for flag in [&["--rollout", "20"][..], &["--mandatory"][..]] {
        let (code, _, err) = w.try_upload(&t.ci, APP, &dir, "1.0.0", flag);
        assert_eq!(code, 2, "{flag:?}: {err}");
        assert!(err.contains("--channel"), "{err}");
    }
    let list = w.cli(&t.deploy, &["builds", "list", "--app-id", APP]);
    assert_eq!(list["builds"], json!([]), "nothing was registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disabling_a_live_build_says_what_happens_and_needs_force() {
    let w = World::new();
    let t = w.app(APP);
    let ids = builds(&w, &t.ci, 2).await;
    w.cli_deploy(&t.deploy, APP, "production", "1", &[]);
    w.cli_deploy(&t.deploy, APP, "production", "2", &[]);
    for d in ["a", "b"] {
        let (s, _) = w
            .call(
                Method::POST,
                &format!("/v1/apps/{APP}/events"),
                None,
                Some(json!({"device_id": d, "build_id": ids[1], "event": "applied"})),
            )
            .await;
        assert_eq!(s, 202);
    }
    let (code, v, err) = cli_fails(
        &w,
        &t.deploy,
        &["builds", "disable", "--app-id", APP, "--build-id", "1.0.2"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    assert!(
        err.contains("channel production serves it to 100%"),
        "{err}"
    );
    assert!(err.contains("who would get build 1"), "{err}");
    assert_eq!(v["server_error"], "build_live");
    assert_eq!(v["details"]["devices_applied"], 2);
    assert_eq!(
        v["details"]["channels"],
        json!([{"channel": "production", "role": "current", "percent": 100, "falls_back_to": ids[0]}])
    );
    let b = w.cli(
        &t.deploy,
        &["builds", "show", "--app-id", APP, "--build-id", "2"],
    );
    assert_eq!(b["build"]["disabled"], false, "nothing changed");
    // A build no channel serves is disabled without fuss; --force does the rest.
    let (code, _, _) = w.server.cli(
        &t.deploy,
        w.path(),
        &[
            "builds",
            "disable",
            "--app-id",
            APP,
            "--build-id",
            "1",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    let b = w.cli(
        &t.deploy,
        &[
            "builds",
            "disable",
            "--app-id",
            APP,
            "--build-id",
            "2",
            "--force",
        ],
    );
    assert_eq!(b["build"]["disabled"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_from_the_commit_sha_explains_its_conflict() {
    let w = World::new();
    let t = w.app(APP);
    let args = |dir: &str| {
        vec![
            "live-update".to_owned(),
            "upload-artifact".into(),
            "--app-id".into(),
            APP.into(),
            "--build-dir".into(),
            dir.into(),
            "--signing-key".into(),
            "liveship_private.pem".into(),
            "--commit-sha".into(),
            "27a3b409aa7cffee".into(),
        ]
    };
    let first = w.build_dir("one", &[("index.html", b"<p>1</p>")]);
    let a1 = args(&first);
    let (code, _, err) = w.server.cli(
        &t.ci,
        w.path(),
        &a1.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{err}");
    let second = w.build_dir("two", &[("index.html", b"<p>2</p>")]);
    let a2 = args(&second);
    let (code, _, err) = w.server.cli(
        &t.ci,
        w.path(),
        &a2.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("version 27a3b409aa7c came from --commit-sha"),
        "{err}"
    );
    assert!(err.contains("--version"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stats_count_devices_beside_events() {
    let w = World::new();
    let t = w.app(APP);
    let ids = builds(&w, &t.ci, 1).await;
    for d in ["dev-1", "dev-1", "dev-2"] {
        let (s, _) = w
            .call(
                Method::POST,
                &format!("/v1/apps/{APP}/events"),
                None,
                Some(json!({"device_id": d, "build_id": ids[0], "event": "download_complete"})),
            )
            .await;
        assert_eq!(s, 202);
    }
    let s = w.cli(
        &t.deploy,
        &["builds", "stats", "--app-id", APP, "--build-id", "1.0.1"],
    );
    assert_eq!(s["counts"]["download_complete"], 3);
    assert_eq!(s["devices"]["download_complete"], 2);
    let (_, text, _) = w.server.cli(
        &t.deploy,
        w.path(),
        &["builds", "stats", "--app-id", APP, "--build-id", "1"],
    );
    assert!(
        text.contains("download_complete           2          3"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_listed_revoked_and_rotated_at_once() {
    let w = World::new();
    let t = w.app(APP);
    let other = w.app("com.example.other");
    let made = w.cli(
        &t.admin,
        &[
            "tokens",
            "create",
            "--name",
            "leaky-ci",
            "--app-id",
            APP,
            "--scopes",
            "upload,deploy",
        ],
    );
    let (id, secret) = (
        made["id"].as_str().unwrap(),
        made["token"].as_str().unwrap(),
    );
    w.cli(secret, &["builds", "list", "--app-id", APP]);
    let list = w.cli(&t.admin, &["tokens", "list"]);
    let text = list.to_string();
    assert!(!text.contains(secret), "a secret was listed");
    let mine = list["tokens"].as_array().unwrap();
    assert!(
        mine.iter().all(|t| t["app_id"] == APP),
        "an app admin sees its app's tokens only"
    );
    let leaky = mine.iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(leaky["name"], "leaky-ci");
    assert_eq!(leaky["scopes"], json!(["upload", "deploy"]));
    assert!(leaky["last_used_at"].as_i64().unwrap() > 0, "{leaky}");
    let all = w.cli(w.admin(), &["tokens", "list"]);
    assert!(all["tokens"].as_array().unwrap().len() >= 9);
    // Another app's admin can neither see nor revoke it.
    let (_, v, _) = cli_fails(&w, &other.admin, &["tokens", "revoke", "--id", id]);
    assert_eq!(v["status"], 404);
    let (_, v, _) = cli_fails(&w, &t.deploy, &["tokens", "list"]);
    assert_eq!(v["status"], 403);

    // Rotate: same name and scopes, new secret; the old one stops at once.
    let r = w.cli(&t.admin, &["tokens", "rotate", "--id", id]);
    assert_eq!(r["replaces"], id);
    assert_eq!(r["name"], "leaky-ci");
    let new_secret = r["token"].as_str().unwrap();
    let (_, v, _) = cli_fails(&w, secret, &["builds", "list", "--app-id", APP]);
    assert_eq!(v["status"], 401);
    w.cli(new_secret, &["builds", "list", "--app-id", APP]);
    // Revoke: effective on the next request.
    let rev = w.cli(
        &t.admin,
        &["tokens", "revoke", "--id", r["id"].as_str().unwrap()],
    );
    assert_eq!(rev["revoked"], true);
    let (_, v, _) = cli_fails(&w, new_secret, &["builds", "list", "--app-id", APP]);
    assert_eq!(v["status"], 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apps_are_listed_shown_and_updated() {
    let w = World::new();
    let t = w.app(APP);
    w.app("com.example.other");
    let all = w.cli(w.admin(), &["apps", "list"]);
    assert_eq!(all["apps"].as_array().unwrap().len(), 2);
    let own = w.cli(&t.deploy, &["apps", "list"]);
    let ids: Vec<&Value> = own["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["app_id"])
        .collect();
    assert_eq!(ids, vec![&json!(APP)]);
    let shown = w.cli(&t.deploy, &["apps", "show", "--app-id", APP]);
    assert_eq!(shown["app"]["public_keys"].as_array().unwrap().len(), 1);
    let (_, v, _) = cli_fails(
        &w,
        &t.deploy,
        &[
            "apps",
            "update",
            "--app-id",
            APP,
            "--default-channel",
            "beta",
        ],
    );
    assert_eq!(v["status"], 403, "changing an app needs admin");
    let u = w.cli(
        &t.admin,
        &[
            "apps",
            "update",
            "--app-id",
            APP,
            "--default-channel",
            "beta",
            "--no-public-keys",
        ],
    );
    assert_eq!(u["app"]["default_channel"], "beta");
    assert_eq!(u["app"]["public_keys"], json!([]));
    let u = w.cli(
        &t.admin,
        &[
            "apps",
            "update",
            "--app-id",
            APP,
            "--public-key",
            "liveship_public.pem",
        ],
    );
    assert_eq!(u["app"]["public_keys"].as_array().unwrap().len(), 1);
    assert_eq!(u["app"]["default_channel"], "beta", "untouched fields stay");
    // The new default channel may be deployed to without --create-channel.
    builds(&w, &t.ci, 1).await;
    w.cli_deploy(&t.deploy, APP, "beta", "1", &[]);
    let (_, v, _) = cli_fails(&w, &t.admin, &["apps", "update", "--app-id", APP]);
    assert!(
        v["message"].as_str().unwrap().contains("nothing to change"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn builds_carry_mandatory_and_list_with_a_header() {
    let w = World::new();
    let t = w.app(APP);
    builds(&w, &t.ci, 1).await;
    let b = w.cli(
        &t.deploy,
        &[
            "builds",
            "set-mandatory",
            "--app-id",
            APP,
            "--build-id",
            "1.0.1",
            "--mandatory",
            "true",
        ],
    );
    assert_eq!(b["build"]["mandatory"], true);
    let (code, text, _) = w
        .server
        .cli(&t.deploy, w.path(), &["builds", "list", "--app-id", APP]);
    assert_eq!(code, 0);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    for col in ["ID", "VERSION", "CREATED", "FLAGS", "NATIVE", "COMMIT"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(lines.next().unwrap().contains("mandatory"), "{text}");
    let b = w.cli(
        &t.deploy,
        &[
            "builds",
            "set-mandatory",
            "--app-id",
            APP,
            "--build-id",
            "1",
            "--mandatory",
            "false",
        ],
    );
    assert_eq!(b["build"]["mandatory"], false);
}

#[test]
fn bootstrap_adds_a_second_admin_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let run = |token: &str, extra: &[&str]| {
        let out = std::process::Command::new(liveship_bin())
            .args(["bootstrap", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env("LIVESHIP_ADMIN_TOKEN", token)
            .env_remove("LIVESHIP_BACKEND")
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    assert_eq!(run("first-admin-token-0123456789", &[]).0, 0);
    let (code, text) = run("first-admin-token-0123456789", &[]);
    assert_eq!((code, text.contains("nothing to do")), (0, true), "{text}");
    let (code, text) = run("second-admin-token-0123456789", &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("--add-admin"), "{text}");
    assert_eq!(run("second-admin-token-0123456789", &["--add-admin"]).0, 0);
    // Both now work against a server on the same data.
    let server = Server::start_in(dir.path(), "first-admin-token-0123456789");
    let w = World::with_server(server);
    let list = w.cli("second-admin-token-0123456789", &["tokens", "list"]);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_bootstrap_token_stays_revoked_across_restarts() {
    let w = World::new();
    let spare = w.cli(
        w.admin(),
        &["tokens", "create", "--name", "ops", "--scopes", "admin"],
    );
    let spare = spare["token"].as_str().unwrap().to_owned();
    let list = w.cli(&spare, &["tokens", "list"]);
    let boot = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bootstrap admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.cli(&spare, &["tokens", "revoke", "--id", &boot]);
    let old = w.admin().to_owned();
    let World { server, dir, http } = w;
    // Restarted with the revoked token still in LIVESHIP_ADMIN_TOKEN.
    let w = World {
        server: server.restart(),
        dir,
        http,
    };
    let (s, _) = w.call(Method::GET, "/v1/tokens", Some(&old), None).await;
    assert_eq!(s, 401, "the revoked token came back");
    w.cli(&spare, &["tokens", "list"]);
}
