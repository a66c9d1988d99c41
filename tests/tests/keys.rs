//! Key rotation and revocation end to end, through the CLI and the API, on
//! `liveship serve` and on the Lambda stack: an offline root delegates CI
//! keys; the server refuses builds and key sets the chain does not allow;
//! concurrent signers cannot both win; a root hand-over is walked by a
//! device that pinned the first root.

use liveship_core::domain::AppId;
use liveship_core::keys::PublicKey;
use liveship_core::keyset::{verify_chain, KeySetChain, KeySetDocument};
use liveship_core::manifest::ManifestDocument;
use liveship_tests::world::World;
use liveship_tests::{moto_url, Server};
use reqwest::Method;
use serde_json::{json, Value};

const APP: &str = "com.example.keys";

fn pem(w: &World, file: &str) -> PublicKey {
    PublicKey::from_pem(&std::fs::read_to_string(w.path().join(file)).unwrap()).unwrap()
}

fn upload_args<'a>(dir: &'a str, key: &'a str, version: &'a str) -> Vec<&'a str> {
    vec![
        "live-update",
        "upload-artifact",
        "--app-id",
        APP,
        "--build-dir",
        dir,
        "--signing-key",
        key,
        "--version",
        version,
    ]
}

async fn chain(w: &World) -> KeySetChain {
    let (status, v) = w
        .call(Method::GET, &format!("/v1/apps/{APP}/key-set"), None, None)
        .await;
    assert_eq!(status, 200, "{v}");
    serde_json::from_value(v).unwrap()
}

async fn story(w: World) {
    let app_id = AppId::new(APP).unwrap();
    // The root pair, and a second CI key beside the world's own (A).
    let root = w.cli(w.admin(), &["keys", "init-root"]);
    assert_eq!(root["key_id"].as_str().unwrap().len(), 64, "{root}");
    w.cli(
        w.admin(),
        &[
            "live-update",
            "generate-signing-key",
            "--private",
            "b_private.pem",
            "--public",
            "b_public.pem",
        ],
    );
    w.cli(
        w.admin(),
        &[
            "keys",
            "init-root",
            "--private-key",
            "evil_root.pem",
            "--public-key",
            "evil_root_pub.pem",
        ],
    );
    let t = w.app_with(APP, &["--root-public-key", "liveship_root_public.pem"]);
    let (a, b) = (w.public_key(), pem(&w, "b_public.pem"));
    let pinned = pem(&w, "liveship_root_public.pem");
    w.build_dir("one", &[("index.html", b"one")]);
    w.build_dir("two", &[("index.html", b"two")]);
    w.build_dir("three", &[("index.html", b"three")]);

    // No key set yet: nothing can be registered, with the next step said.
    let (code, out, err) = w.server.cli(
        &t.ci,
        w.path(),
        &upload_args("one", "liveship_private.pem", "1.0.0"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("keys delegate"), "{err}");
    let (status, v) = w
        .call(Method::GET, &format!("/v1/apps/{APP}/key-set"), None, None)
        .await;
    assert_eq!(
        (status.as_u16(), v["error"].as_str()),
        (404, Some("no_key_set")),
        "{v}"
    );

    // Delegate A; A's builds go in, and devices get the chain with them.
    let root_args = ["--app-id", APP, "--root-key", "liveship_root_private.pem"];
    let delegate = |key: &str, name: &str| {
        let mut args = vec!["keys", "delegate"];
        args.extend_from_slice(&root_args);
        args.extend_from_slice(&["--public-key", key, "--name", name]);
        w.cli(&t.admin, &args)
    };
    let d = delegate("liveship_public.pem", "ci-a");
    assert_eq!(d["version"], 1, "{d}");
    let mut up = upload_args("one", "liveship_private.pem", "1.0.0");
    up.extend_from_slice(&["--channel", "production"]);
    let b1 = w.cli(&t.ci, &up)["build_id"].as_u64().unwrap();
    let latest = w.latest(APP, "production", "device_id=dev-1").await;
    assert_eq!(latest.build.as_ref().unwrap().id, b1);
    let served = latest
        .key_set
        .clone()
        .expect("the chain rides with the update");
    let (set, state) = verify_chain(&pinned, None, &served, &app_id).unwrap();
    assert_eq!(state.version, 1);
    let manifest: ManifestDocument =
        serde_json::from_str(latest.manifest.as_ref().unwrap().get()).unwrap();
    set.manifest_verifier(&manifest, liveship_core::model::now())
        .unwrap()
        .verify(&manifest)
        .unwrap();
    // B is not delegated yet: refused, with the reason.
    let (code, out, err) = w.server.cli(
        &t.ci,
        w.path(),
        &upload_args("two", "b_private.pem", "2.0.0"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("not in the app's key set"), "{err}");

    // Rotate: delegate B, move the channel to a B build, then revoke A.
    // A device mid-update on A's build (it holds A's answer) still verifies it:
    // version 2 still names A.
    delegate("b_public.pem", "ci-b");
    let (set_mid, _) = verify_chain(&pinned, Some(&state), &chain(&w).await, &app_id).unwrap();
    assert_eq!(set_mid.version, 2);
    assert!(set_mid
        .manifest_verifier(&manifest, liveship_core::model::now())
        .is_ok());
    let mut up = upload_args("two", "b_private.pem", "2.0.0");
    up.extend_from_slice(&["--channel", "beta", "--create-channel"]);
    let b2 = w.cli(&t.ci, &up)["build_id"].as_u64().unwrap();
    let v2_doc = chain(&w).await.current;
    // Neither the root's own key nor a key the set never named can be
    // revoked: refused, naming the set's keys, and nothing is published.
    for (id, says) in [
        (pinned.key_id().as_hex(), "is the root key of this set"),
        ("ab".repeat(32), "is not a signing key of app"),
    ] {
        let mut args = vec!["keys", "revoke"];
        args.extend_from_slice(&root_args);
        args.extend_from_slice(&["--key-id", id.leak()]);
        let (code, _, err) = w.server.cli(&t.admin, w.path(), &args);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(says), "{err}");
        if says.contains("not a signing key") {
            assert!(err.contains(&a.key_id().to_string()), "{err}");
        }
    }
    assert_eq!(
        chain(&w).await.current,
        v2_doc,
        "a refused revoke publishes nothing"
    );
    let mut revoke = vec!["keys", "revoke"];
    revoke.extend_from_slice(&root_args);
    revoke.extend_from_slice(&["--key-id", a.key_id().as_hex().leak()]);
    let r = w.cli(&t.admin, &revoke);
    assert_eq!(r["version"], 3, "{r}");
    // What it does to devices, from the lookups' own decision: production's
    // A build reached every device and now reaches none; beta is untouched.
    assert_eq!(
        r["impact"],
        json!([format!(
            "  channel production: build {b1} reached 100% of its devices and now 0%: \
             its key is no longer allowed, so those devices keep what they run"
        )]),
        "{r}"
    );
    // A's builds are refused from now on, and A's live build is no longer offered.
    let (code, _, err) = w.server.cli(
        &t.ci,
        w.path(),
        &upload_args("three", "liveship_private.pem", "3.0.0"),
    );
    assert_eq!(code, 1);
    assert!(err.contains("revokes"), "{err}");
    // (On Lambda the latest function's lookup cache holds a view up to its
    // TTL, 5 s: the new set reaches lookups within it.)
    let mut latest = w.latest(APP, "production", "device_id=dev-2").await;
    for _ in 0..20 {
        if latest.status == "up_to_date" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        latest = w.latest(APP, "production", "device_id=dev-2").await;
    }
    assert_eq!(latest.status, "up_to_date", "{latest:?}");
    let latest = w.latest(APP, "beta", "device_id=dev-2").await;
    assert_eq!(latest.build.as_ref().unwrap().id, b2);
    let (set3, state3) = verify_chain(
        &pinned,
        Some(&state),
        latest.key_set.as_ref().unwrap(),
        &app_id,
    )
    .unwrap();
    assert_eq!((set3.version, state3.version), (3, 3));
    assert_eq!(set3.revoked, vec![a.key_id().clone()]);
    assert!(set3
        .allowed(b.key_id(), liveship_core::model::now())
        .is_ok());

    // The server takes no set that is stale, forged, tampered or for another app.
    let put = |doc: Value, token: Option<String>| {
        let w = &w;
        async move {
            w.call(
                Method::PUT,
                &format!("/v1/apps/{APP}/key-set"),
                token.as_deref(),
                Some(doc),
            )
            .await
        }
    };
    let admin = Some(t.admin.clone());
    let (status, v) = put(serde_json::to_value(&v2_doc).unwrap(), admin.clone()).await;
    assert_eq!(
        (status.as_u16(), v["error"].as_str()),
        (409, Some("stale_key_set")),
        "{v}"
    );
    let evil = liveship_core::keys::SigningKey::from_pem(
        &std::fs::read_to_string(w.path().join("evil_root.pem")).unwrap(),
    )
    .unwrap();
    let mut forged = set3.clone().into_inner().next(0);
    forged
        .delegate(&pem(&w, "evil_root_pub.pem"), 0, None, None)
        .ok();
    let (status, v) = put(
        serde_json::to_value(forged.sign(&[&evil])).unwrap(),
        admin.clone(),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["details"]["reason"], "wrong_root", "{v}");
    let mut tampered = v2_doc.clone();
    tampered.payload = KeySetDocument {
        payload: String::new(),
        signatures: vec![],
    }
    .payload;
    let (status, v) = put(serde_json::to_value(&tampered).unwrap(), admin.clone()).await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = put(json!({"payload": 1}), admin.clone()).await;
    assert!(status == 400 || status == 422, "{status} {v}");
    assert!(v["error"].is_string(), "{v}");
    // Only an app admin may publish; no token at all is 401, checked first.
    let (status, _) = put(json!("not even a key set"), Some(t.deploy.clone())).await;
    assert_eq!(status, 403);
    let (status, _) = put(json!("not even a key set"), None).await;
    assert_eq!(status, 401);
    assert_eq!(
        chain(&w).await.current.decode_unverified().unwrap().version,
        3,
        "nothing changed"
    );

    // Two release managers sign version 4 at once: one wins, one is told to refetch.
    for k in ["c", "d"] {
        let (private, public) = (format!("{k}_private.pem"), format!("{k}_public.pem"));
        w.cli(
            w.admin(),
            &[
                "live-update",
                "generate-signing-key",
                "--private",
                &private,
                "--public",
                &public,
            ],
        );
        let out = format!("v4{k}.json");
        let mut args = vec!["keys", "delegate"];
        args.extend_from_slice(&root_args);
        args.extend_from_slice(&["--public-key", &public, "--out", &out]);
        w.cli(&t.admin, &args);
    }
    let publish = |file: &str| {
        w.server.cli(
            &t.admin,
            w.path(),
            &["keys", "publish", "--app-id", APP, "--file", file],
        )
    };
    let results = std::thread::scope(|s| {
        let h1 = s.spawn(|| publish("v4c.json"));
        let h2 = s.spawn(|| publish("v4d.json"));
        [h1.join().unwrap(), h2.join().unwrap()]
    });
    assert_eq!(
        results.iter().filter(|r| r.0 == 0).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| r.2.contains("does not follow the stored version")),
        "{results:?}"
    );
    let v4 = chain(&w).await.current.decode_unverified().unwrap();
    assert_eq!((v4.version, v4.keys.len()), (4, 2), "B and one of C, D");

    // Offline signing: `show --json` on a connected machine, `--from` and
    // `--out` on the offline one, `publish` back.
    let shown = w.cli(
        &t.deploy,
        &[
            "keys",
            "show",
            "--app-id",
            APP,
            "--root-public-key",
            "liveship_root_public.pem",
        ],
    );
    assert_eq!(shown["verified"], true, "{shown}");
    assert_eq!(shown["key_set"]["version"], 4, "{shown}");
    std::fs::write(w.path().join("current.json"), shown.to_string()).unwrap();

    // Root hand-over: a device that pinned the first root follows it; the
    // old root alone signs nothing the server (or that device) accepts.
    w.cli(
        w.admin(),
        &[
            "keys",
            "init-root",
            "--private-key",
            "root2.pem",
            "--public-key",
            "root2_pub.pem",
        ],
    );
    let mut rot = vec!["keys", "rotate-root"];
    rot.extend_from_slice(&root_args);
    rot.extend_from_slice(&[
        "--new-root-key",
        "root2.pem",
        "--from",
        "current.json",
        "--out",
        "v5.json",
    ]);
    w.cli(&t.admin, &rot);
    w.cli(
        &t.admin,
        &["keys", "publish", "--app-id", APP, "--file", "v5.json"],
    );
    let c = chain(&w).await;
    assert_eq!(c.rotations.len(), 1);
    let (set5, state5) = verify_chain(&pinned, Some(&state3), &c, &app_id).unwrap();
    assert_eq!(set5.version, 5);
    assert_eq!(state5.root, pem(&w, "root2_pub.pem").to_pem());
    let (code, _, err) = w.server.cli(&t.admin, w.path(), &{
        let mut args = vec!["keys", "revoke"];
        args.extend_from_slice(&root_args);
        args.extend_from_slice(&["--public-key", "b_public.pem"]);
        args
    });
    assert_eq!(code, 1);
    assert!(err.contains("not by this root key"), "{err}");
    let r = w.cli(
        &t.admin,
        &[
            "keys",
            "revoke",
            "--app-id",
            APP,
            "--root-key",
            "root2.pem",
            "--public-key",
            "b_public.pem",
        ],
    );
    assert_eq!(r["version"], 6, "{r}");
    let (set6, _) = verify_chain(&pinned, None, &chain(&w).await, &app_id).unwrap();
    assert_eq!(set6.version, 6);

    // `live-update verify` checks a build against the root and the chain.
    std::fs::write(
        w.path().join("chain.json"),
        serde_json::to_vec(&chain(&w).await).unwrap(),
    )
    .unwrap();
    let winner = if v4
        .allowed(
            pem(&w, "c_public.pem").key_id(),
            liveship_core::model::now(),
        )
        .is_ok()
    {
        "c"
    } else {
        "d"
    };
    let sign_three = |key: &str| {
        w.cli(
            w.admin(),
            &[
                "live-update",
                "generate-manifest",
                "--build-dir",
                "three",
                "--signing-key",
                key,
                "--app-id",
                APP,
            ],
        );
    };
    let verify = |root: &str| {
        w.server.cli(
            w.admin(),
            w.path(),
            &[
                "live-update",
                "verify",
                "--build-dir",
                "three",
                "--root-public-key",
                root,
                "--key-set",
                "chain.json",
                "--json",
            ],
        )
    };
    sign_three(&format!("{winner}_private.pem"));
    let (code, out, err) = verify("liveship_root_public.pem");
    assert_eq!(code, 0, "{out}{err}");
    let ok: Value = serde_json::from_str(&out).unwrap();
    let winner_public = pem(&w, &format!("{winner}_public.pem"));
    assert_eq!(ok["key_id"], winner_public.key_id().as_hex(), "{ok}");
    assert!(
        set6.allowed(b.key_id(), liveship_core::model::now())
            .is_err(),
        "B revoked in 6"
    );
    sign_three("liveship_private.pem");
    let (code, out, _) = verify("liveship_root_public.pem");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("revokes"), "{out}");
    let (code, out, _) = verify("evil_root_pub.pem");
    assert_ne!(code, 0);
    assert!(out.contains("not signed by the app's root"), "{out}");

    // Every change is in the audit log, with its versions.
    let audit = w.cli(&t.admin, &["audit", "--app-id", APP]);
    let versions: Vec<u64> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "keys.update")
        .map(|e| e["after"]["version"].as_u64().unwrap())
        .collect();
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3, 4, 5, 6], "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotate_and_revoke_signing_keys() {
    story(World::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs moto: scripts/test runs it"]
async fn rotate_and_revoke_signing_keys_on_lambda() {
    story(World::with_server(Server::start_lambda(&moto_url(), &[]))).await;
}
