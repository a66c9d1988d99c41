//! Rollout plans by hand, through the CLI and the API: deploy with a plan,
//! pause, resume, advance, abort, per-channel guard thresholds, and every
//! bad input refused with a clear JSON error that changes nothing.

use liveship_tests::world::World;
use reqwest::Method;
use serde_json::{json, Value};

const APP: &str = "com.example.plans";

fn plan(ch: &Value) -> &Value {
    &ch["current"]["plan"]
}

#[tokio::test]
async fn plans_by_hand_and_their_errors() {
    let w = World::new();
    let t = w.app(APP);
    let b1 = w.build_dir("one", &[("index.html", b"one")]);
    let b2 = w.build_dir("two", &[("index.html", b"two")]);
    w.upload(&t.ci, APP, &b1, "1.0.0", &["--channel", "production"]);
    let v2 = w.upload(&t.ci, APP, &b2, "1.1.0", &[]);
    let id2 = v2["build_id"].as_u64().unwrap();
    let deploy = |extra: &[&str]| w.try_cli_deploy(&t.deploy, APP, "production", "1.1.0", extra);

    // Bad plans never reach the server: exit 2, and the channel is untouched.
    for bad in [
        &["--plan", "5,3"][..],
        &["--plan", "0,10"],
        &["--plan", "1,5", "--rollout", "5"],
        &["--plan", "1,100", "--step", "10s"],
    ] {
        let (code, _, err) = deploy(bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
    // Nor does the API take them: 422 with the rule in words.
    for body in [
        json!({"build_id": id2, "plan": [5, 3]}),
        json!({"build_id": id2, "plan": []}),
        json!({"build_id": id2, "plan": [1, 100], "step_seconds": 5}),
        json!({"build_id": id2, "plan": [1, 100], "rollout_percent": 1}),
    ] {
        let (status, v) = w
            .call(
                Method::PUT,
                &format!("/v1/apps/{APP}/channels/production"),
                Some(&t.deploy),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 422, "{body}: {v}");
        assert_eq!(v["error"], "invalid_plan", "{v}");
    }
    let list = w.cli(&t.deploy, &["channels", "list", "--app-id", APP]);
    assert_eq!(
        list["channels"][0]["current"]["build_id"], 1,
        "nothing changed: {list}"
    );

    // A plan: starts at its first step, baseline build 1.
    let (code, out, err) = deploy(&["--plan", "1,5,25,100", "--step", "2h", "--auto-rollback"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("to 1% of devices")
            && out.contains("plan [1%] 5% 25% 100% every 7200s, auto-rollback"),
        "{out}"
    );
    let rollout = |verb: &str| {
        w.server.cli(
            &t.deploy,
            w.path(),
            &[
                "rollout",
                verb,
                "--app-id",
                APP,
                "--channel",
                "production",
                "--json",
            ],
        )
    };
    let json_of = |(code, out, err): (i32, String, String)| {
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()["channel"].clone()
    };
    let ch = json_of(rollout("pause"));
    assert_eq!(plan(&ch)["state"], "paused");
    assert_eq!(plan(&ch)["baseline_build"], 1);
    // Pausing twice is a conflict, in JSON, naming the state.
    let (code, out, _) = rollout("pause");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("plan_state") && out.contains("paused"),
        "{out}"
    );
    let ch = json_of(rollout("resume"));
    assert_eq!(plan(&ch)["state"], "running");
    let ch = json_of(rollout("advance"));
    assert_eq!(ch["current"]["rollout_percent"], 5);
    assert_eq!(plan(&ch)["step"], 1);
    // Abort: the plan stops and the channel goes back to build 1.
    let ch = json_of(rollout("abort"));
    assert_eq!(ch["current"]["build_id"], 1, "{ch}");
    let actions: Vec<&str> = ch["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.ends_with(&[
            "deploy",
            "rollout.pause",
            "rollout.resume",
            "rollout.advance",
            "rollout.abort",
            "rollback"
        ]),
        "{actions:?}"
    );
    // Unknown channels, unknown actions, and tokens without the right.
    let (status, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{APP}/channels/nope/rollout"),
            Some(&t.deploy),
            Some(json!({"action": "pause"})),
        )
        .await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{APP}/channels/production/rollout"),
            Some(&t.deploy),
            Some(json!({"action": "explode"})),
        )
        .await;
    assert!(status == 400 || status == 422, "{status} {v}");
    assert!(v["error"].is_string(), "{v}");
    // An upload-only token may not change plans; no token at all is 401.
    let (status, _) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{APP}/channels/production/rollout"),
            Some(&t.upload),
            Some(json!({"action": "pause"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{APP}/channels/production/rollout"),
            None,
            Some(json!({"action": "pause"})),
        )
        .await;
    assert_eq!(status, 401);

    // Guard thresholds per channel: checked, stored, audited.
    let guard = |extra: &[&str]| {
        let mut args = vec![
            "channels",
            "guard",
            "--app-id",
            APP,
            "--channel",
            "production",
        ];
        args.extend_from_slice(extra);
        w.server.cli(&t.deploy, w.path(), &args)
    };
    for bad in [
        &["--min-devices", "0"][..],
        &["--max-failure-rate", "1.5"],
        &["--relative-increase", "1"],
        &["--false-halt", "0"],
    ] {
        let (code, out, err) = guard(bad);
        assert_eq!(code, 1, "{bad:?}: {out}{err}");
        assert!(
            err.contains("guard settings") || out.contains("invalid_guard"),
            "{bad:?}: {out}{err}"
        );
    }
    let (code, out, err) = guard(&["--min-devices", "500", "--max-failure-rate", "0.05"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("judges after 500 updates") && out.contains("surely above 5.0%"),
        "{out}"
    );
    let list = w.cli(&t.deploy, &["channels", "list", "--app-id", APP]);
    assert_eq!(list["channels"][0]["guard"]["min_devices"], 500);
    assert_eq!(
        list["channels"][0]["guard"]["relative_increase"], 4.0,
        "untouched fields keep their value"
    );
    let audit = w.cli(&t.deploy, &["audit", "--app-id", APP]);
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "channel.guard",
        "rollout.abort",
        "rollout.advance",
        "rollout.resume",
        "rollout.pause",
    ] {
        assert!(actions.contains(&a), "{a} not in {actions:?}");
    }
    assert_eq!(
        actions.iter().filter(|a| **a == "channel.guard").count(),
        1,
        "refused changes are not recorded"
    );
}
