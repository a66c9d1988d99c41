//! The release console over real HTTP against `liveship serve`: sessions,
//! CSRF and cross-site refusal, read-only tokens, the audit log of every
//! write (API and console), chart numbers from known events, and
//! `liveship login | whoami | logout | audit`. The browser walk-through is
//! clients/capacitor/test/console.browser.mjs (real Chromium).

use liveship_tests::world::{as_refs, deploy, register, sample_files, World};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

struct Browser<'a> {
    w: &'a World,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(w: &'a World) -> Self {
        Self {
            w,
            http: liveship_tests::http_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.w.server.url)
    }
    async fn get(&self, p: &str) -> (StatusCode, header::HeaderMap, String) {
        let mut rb = self.http.get(self.url(p));
        if let Some(c) = &self.cookie {
            rb = rb.header(header::COOKIE, format!("liveship_session={c}"));
        }
        let r = rb.send().await.unwrap();
        let (s, h) = (r.status(), r.headers().clone());
        (s, h, r.text().await.unwrap())
    }
    async fn post(
        &self,
        p: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (StatusCode, header::HeaderMap, String) {
        let mut rb = self
            .http
            .post(self.url(p))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(form));
        if let Some(c) = &self.cookie {
            rb = rb.header(header::COOKIE, format!("liveship_session={c}"));
        }
        if let Some(o) = origin {
            rb = rb.header(header::ORIGIN, o);
        }
        let r = rb.send().await.unwrap();
        let (s, h) = (r.status(), r.headers().clone());
        (s, h, r.text().await.unwrap())
    }
    async fn sign_in(&mut self, token: &str) -> header::HeaderMap {
        let (s, h, body) = self.post("/console/login", &[("token", token)], None).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
        let set = h[header::SET_COOKIE].to_str().unwrap().to_owned();
        let value = set
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("liveship_session=")
            .unwrap();
        self.cookie = Some(value.to_owned());
        h
    }
    /// The CSRF token of the page at `p`.
    async fn csrf(&self, p: &str) -> String {
        let (_, _, body) = self.get(p).await;
        let at = body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        body[at..at + 64].to_owned()
    }
}

/// `application/x-www-form-urlencoded`, as a browser sends a form.
fn form_body(form: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    form.iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn actions(audit: &Value) -> Vec<String> {
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_write_is_in_the_audit_log_with_before_and_after() {
    let w = World::new();
    let app = "com.example.audited";
    let t = w.app(app);
    let files = sample_files();
    let dir = w.build_dir("www", &as_refs(&files));
    w.upload(&t.ci, app, &dir, "0.9.0", &[]);
    let (s, b1) = register(&w, &t.upload, app, "1.0.0", b"one", json!({})).await;
    assert_eq!(s, 201, "{b1}");
    let (_, b2) = register(&w, &t.upload, app, "1.0.1", b"two", json!({})).await;
    let (id1, id2) = (
        b1["build"]["id"].as_u64().unwrap(),
        b2["build"]["id"].as_u64().unwrap(),
    );
    deploy(&w, &t.deploy, app, "production", id1, 100).await;
    deploy(&w, &t.deploy, app, "production", id2, 10).await;
    deploy(&w, &t.deploy, app, "production", id2, 100).await;
    let (s, _) = w
        .call(
            Method::POST,
            &format!("/v1/apps/{app}/channels/production/rollback"),
            Some(&t.deploy),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let build_path = format!("/v1/apps/{app}/builds/{id2}");
    let patch = |body: Value| w.call(Method::PATCH, &build_path, Some(&t.deploy), Some(body));
    assert_eq!(patch(json!({"disabled": true})).await.0, 200);
    assert_eq!(
        patch(json!({"native": {"ios": {"min": "2.0.0"}}})).await.0,
        200
    );
    let (s, audit) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/audit"),
            Some(&t.deploy),
            None,
        )
        .await;
    assert_eq!(s, 200, "{audit}");
    let got = actions(&audit);
    assert_eq!(
        got[..6],
        [
            "build.native_limits",
            "build.disable",
            "rollback",
            "rollout",
            "deploy",
            "deploy"
        ],
        "{audit}"
    );
    assert!(got.contains(&"build.register".to_owned()) && got.contains(&"upload.plan".to_owned()));
    assert!(got.contains(&"app.create".to_owned()) && got.contains(&"token.create".to_owned()));
    let e = &audit["entries"];
    // The rollout change: same build, 10% -> 100%, by the release token.
    assert_eq!(e[3]["before"]["rollout_percent"], 10);
    assert_eq!(e[3]["after"]["rollout_percent"], 100);
    assert_eq!(e[3]["actor"]["name"], "release");
    assert_eq!(e[3]["via"], "api");
    assert!(e[3]["actor"].get("secret_sha256").is_none(), "{}", e[3]);
    // The rollback: from build 2 back to build 1.
    assert_eq!(e[2]["before"]["build_id"], id2);
    assert_eq!(e[2]["after"]["build_id"], id1);
    assert_eq!(e[1]["before"]["disabled"], false);
    assert_eq!(e[1]["after"]["disabled"], true);
    assert_eq!(e[0]["after"]["native"]["ios"]["min"], "2.0.0");
    // No secret of any kind is in the log.
    for secret in [&t.upload, &t.deploy, &t.admin, &t.ci] {
        assert!(!audit.to_string().contains(secret.as_str()));
    }
    // Paging: the next page starts after the last entry of this one.
    let (_, page) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/audit?limit=2"),
            Some(&t.deploy),
            None,
        )
        .await;
    let next = page["next"].as_str().unwrap();
    let (_, rest) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/audit?limit=2&before={next}"),
            Some(&t.deploy),
            None,
        )
        .await;
    assert_eq!(actions(&rest), got[2..4]);
    // An upload token may not read it; the CLI shows the same entries.
    let (s, _) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/audit"),
            Some(&t.upload),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let cli = w.cli(&t.deploy, &["audit", "--app-id", app, "--limit", "6"]);
    let cli_actions: Vec<&str> = cli["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(cli_actions, got[..6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_sessions_act_with_their_tokens_rights_and_refuse_forged_writes() {
    let w = World::new();
    let app = "com.example.console";
    let t = w.app(app);
    let (_, b1) = register(&w, &t.upload, app, "1.0.0", b"one", json!({})).await;
    let id1 = b1["build"]["id"].as_u64().unwrap();
    // Signed out: the sign-in page, with a strict CSP.
    let mut br = Browser::new(&w);
    let (s, h, body) = br.get("/console").await;
    assert_eq!(s, 200);
    assert!(body.contains("name=\"token\"") && body.contains("type=\"password\""));
    assert!(h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .starts_with("default-src 'self'"));
    assert!(
        !body.contains("<script") && !body.contains("style=\""),
        "no inline script or style"
    );
    // A wrong token is refused with a page that says what to do.
    let (s, _, body) = br
        .post("/console/login", &[("token", "lsp_wrong")], None)
        .await;
    assert_eq!(s, 401);
    assert!(body.contains("unknown or revoked"), "{body}");
    let h = br.sign_in(&t.deploy).await;
    let cookie = h[header::SET_COOKIE].to_str().unwrap();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");
    assert!(
        !cookie.contains(&t.deploy),
        "the cookie is a session, not the token"
    );
    let page = format!("/console/apps/{app}/channels/production");
    let channels = format!("/v1/apps/{app}/channels");
    // The channel does not exist yet; the app page says how to make it.
    let (s, _, body) = br.get(&format!("/console/apps/{app}")).await;
    assert_eq!(s, 200);
    assert!(body.contains("No channels yet"), "{body}");
    deploy(&w, &t.deploy, app, "production", id1, 100).await;
    let csrf = br.csrf(&page).await;
    // Without the CSRF token, or from another origin, or cross-site: refused.
    let id = id1.to_string();
    let form = [
        ("action", "rollout"),
        ("build_id", id.as_str()),
        ("rollout_percent", "40"),
    ];
    let (s, _, body) = br.post(&page, &form, None).await;
    assert_eq!(s, 403, "{body}");
    let mut with_csrf = form.to_vec();
    with_csrf.push(("csrf", csrf.as_str()));
    let (s, _, _) = br
        .post(&page, &with_csrf, Some("https://evil.example"))
        .await;
    assert_eq!(s, 403);
    // The same host over another scheme is another origin.
    let other_scheme = w.server.url.replacen("http://", "https://", 1);
    let (s, _, body) = br.post(&page, &with_csrf, Some(&other_scheme)).await;
    assert_eq!(s, 403, "{body}");
    let (_, ch) = w.call(Method::GET, &channels, Some(&t.deploy), None).await;
    assert_eq!(
        ch["channels"][0]["current"]["rollout_percent"], 100,
        "nothing changed"
    );
    // From the page itself: done, and recorded as the signed-in token via the console.
    let (s, h, _) = br.post(&page, &with_csrf, Some(&w.server.url)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(h[header::LOCATION]
        .to_str()
        .unwrap()
        .ends_with("?done=rollout"));
    let (_, ch) = w.call(Method::GET, &channels, Some(&t.deploy), None).await;
    assert_eq!(ch["channels"][0]["current"]["rollout_percent"], 40);
    let (_, audit) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/audit?limit=1"),
            Some(&t.deploy),
            None,
        )
        .await;
    let e = &audit["entries"][0];
    assert_eq!(
        (
            e["action"].as_str(),
            e["via"].as_str(),
            e["actor"]["name"].as_str()
        ),
        (Some("rollout"), Some("console"), Some("release"))
    );
    // A destructive action without its confirmation is refused and explained.
    let (s, _, body) = br
        .post(
            &page,
            &[("action", "rollback"), ("csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("tick the confirmation box"), "{body}");
    // A read-only token sees no write forms, and the API refuses it anyway.
    let (_, read) = w
        .call(
            Method::POST,
            "/v1/tokens",
            Some(&t.admin),
            Some(json!({"name": "viewer", "app_id": app, "scopes": ["read"]})),
        )
        .await;
    let read = read["token"].as_str().unwrap().to_owned();
    let mut viewer = Browser::new(&w);
    viewer.sign_in(&read).await;
    let (s, _, body) = viewer.get(&page).await;
    assert_eq!(s, 200);
    assert!(
        body.contains("Serving")
            && !body.contains("Change rollout")
            && !body.contains("value=\"rollout\""),
        "{body}"
    );
    let vcsrf = viewer.csrf(&page).await; // the sign-out form
    let (s, _, body) = viewer
        .post(
            &page,
            &[
                ("action", "rollout"),
                ("build_id", id.as_str()),
                ("rollout_percent", "5"),
                ("csrf", vcsrf.as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("forbidden") || body.contains("may not"),
        "{body}"
    );
    // Revoking the signed-in token ends its sessions at once.
    let (_, list) = w
        .call(Method::GET, "/v1/tokens", Some(&t.admin), None)
        .await;
    let viewer_id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        w.call(
            Method::DELETE,
            &format!("/v1/tokens/{viewer_id}"),
            Some(&t.admin),
            None
        )
        .await
        .0,
        200
    );
    let (s, _, body) = viewer.get(&page).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    // Sign out: the cookie is cleared and the session secret stops working.
    let secret = br.cookie.clone().unwrap();
    let (s, h, _) = br
        .post("/console/logout", &[("csrf", csrf.as_str())], None)
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (s, _) = w.call(Method::GET, "/v1/whoami", Some(&secret), None).await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_sessions_are_not_tokens_to_manage() {
    let w = World::new();
    let app = "com.example.sessions";
    let t = w.app(app);
    let mut br = Browser::new(&w);
    br.sign_in(&t.admin).await;
    // The session's id follows from its secret (the cookie), as every
    // token id does; an app admin can name it.
    let secret = br.cookie.clone().unwrap();
    let hex = liveship_core::hash::Sha256Digest::of(secret.as_bytes()).to_hex();
    let id = format!("tok_{}", &hex[..12]);
    // Rotating it would turn an 8-hour session into a permanent token;
    // revoking it is signing out. Neither is a token operation.
    for (method, path) in [
        (Method::POST, format!("/v1/tokens/{id}/rotate")),
        (Method::DELETE, format!("/v1/tokens/{id}")),
    ] {
        let (s, v) = w.call(method.clone(), &path, Some(&t.admin), None).await;
        assert_eq!(s, 404, "{method} {path}: {v}");
        let (s, v) = w.call(method, &path, Some(w.admin()), None).await;
        assert_eq!(s, 404, "global admin, {path}: {v}");
    }
    // The session still works: nothing was rotated or revoked.
    let (s, _, _) = br.get(&format!("/console/apps/{app}")).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn charts_show_the_numbers_of_known_events() {
    let w = World::new();
    let app = "com.example.charts";
    let t = w.app(app);
    let (_, b1) = register(&w, &t.upload, app, "1.0.0", b"one", json!({})).await;
    let (_, b2) = register(&w, &t.upload, app, "2.0.0", b"two", json!({})).await;
    let (id1, id2) = (
        b1["build"]["id"].as_u64().unwrap(),
        b2["build"]["id"].as_u64().unwrap(),
    );
    deploy(&w, &t.deploy, app, "production", id2, 100).await;
    // 3 devices on build 1; 1 on build 2 now: 8 downloaded build 2, 6
    // applied, 1 failed, 1 rolled back (a device reporting twice counts once).
    let ev = |d: String, b: u64, e: &str| json!({"device_id": d, "build_id": b, "event": e, "channel": "production"});
    let mut events = Vec::new();
    for i in 0..3 {
        events.push(ev(format!("old{i}"), id1, "applied"));
    }
    for i in 0..8 {
        events.push(ev(format!("d{i}"), id2, "download_complete"));
    }
    events.push(ev("d0".into(), id2, "download_complete"));
    for i in 0..6 {
        events.push(ev(format!("d{i}"), id2, "applied"));
    }
    events.push(ev("d6".into(), id2, "failed"));
    events.push(ev("d7".into(), id2, "rolled_back"));
    for e in events {
        let (s, v) = w
            .call(
                Method::POST,
                &format!("/v1/apps/{app}/events"),
                None,
                Some(e),
            )
            .await;
        assert_eq!(s, 202, "{v}");
    }
    let (_, usage) = w
        .call(
            Method::GET,
            &format!("/v1/apps/{app}/channels/production/usage?grain=hour"),
            Some(&t.deploy),
            None,
        )
        .await;
    let now: Vec<&Value> = usage["buckets"].as_array().unwrap().iter().collect();
    let devices = |b: u64| {
        now.iter()
            .filter(|x| x["build_id"] == b)
            .map(|x| x["devices"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!((devices(id1), devices(id2)), (3, 8), "{usage}");
    let mut br = Browser::new(&w);
    br.sign_in(&t.deploy).await;
    let (_, _, page) = br
        .get(&format!("/console/apps/{app}/channels/production"))
        .await;
    // The hourly table: 3 of 11 devices (27.3%) on 1.0.0, 8 (72.7%) on 2.0.0.
    let hourly = &page[page.find("adoption-hourly").unwrap()..page.find("adoption-daily").unwrap()];
    assert!(
        hourly.contains("<td class=\"devices\">3</td><td class=\"share\">27.3%</td>"),
        "{hourly}"
    );
    assert!(
        hourly.contains("<td class=\"devices\">8</td><td class=\"share\">72.7%</td>"),
        "{hourly}"
    );
    assert!(page.contains("<svg"));
    let (_, _, build) = br.get(&format!("/console/apps/{app}/builds/{id2}")).await;
    for (kind, n) in [
        ("download_complete", 8),
        ("applied", 6),
        ("failed", 1),
        ("rolled_back", 1),
    ] {
        let row = format!("data-kind=\"{kind}\"><td>");
        let at = build
            .find(&row)
            .unwrap_or_else(|| panic!("{kind} row: {build}"));
        assert!(
            build[at..].contains(&format!("<td class=\"devices\">{n}</td>")),
            "{kind}"
        );
    }
    // (1 failed + 1 rolled back) / 8 downloaded.
    assert!(
        build.contains("<strong class=\"failure-rate\">25.0%</strong>"),
        "{build}"
    );
}

#[test]
fn login_saves_the_token_for_its_server_only() {
    let w = World::new();
    let cfg = w.path().join("cfg");
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut cmd = std::process::Command::new(liveship_tests::liveship_bin());
        cmd.args(args)
            .env("LIVESHIP_CONFIG_DIR", &cfg)
            .env_remove("LIVESHIP_TOKEN")
            .env_remove("LIVESHIP_SERVER")
            .env_remove("LIVESHIP_PROFILE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.unwrap_or("").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A wrong token is not saved.
    let (code, _, err) = run(
        &["login", "--server", &w.server.url, "--json"],
        Some("lsp_wrong\n"),
    );
    assert_ne!(code, Some(0));
    assert!(
        err.contains("unknown or revoked") || err.contains("401"),
        "{err}"
    );
    assert!(!cfg.join("credentials.json").exists());
    // The admin token from stdin; then commands need no flags.
    let (code, out, err) = run(
        &["login", "--server", &w.server.url, "--json"],
        Some(&format!("{}\n", w.admin())),
    );
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["name"], "bootstrap admin");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cfg.join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (code, out, _) = run(&["whoami", "--json"], None);
    assert_eq!(code, Some(0));
    assert!(out.contains("bootstrap admin"));
    let (code, _, _) = run(&["apps", "list", "--json"], None);
    assert_eq!(code, Some(0));
    // Another server never gets the saved token.
    let (code, _, err) = run(
        &["whoami", "--server", "http://127.0.0.1:9", "--json"],
        None,
    );
    assert_ne!(code, Some(0));
    assert!(
        err.contains("token"),
        "asks for a token rather than sending the saved one: {err}"
    );
    // A second profile; the first stays.
    let (code, _, _) = run(
        &[
            "login",
            "--profile",
            "other",
            "--server",
            &w.server.url,
            "--token",
            w.admin(),
            "--json",
        ],
        None,
    );
    assert_eq!(code, Some(0));
    let (code, _, _) = run(&["logout", "--json"], None);
    assert_eq!(code, Some(0));
    let (code, _, _) = run(&["whoami", "--json"], None);
    assert_ne!(code, Some(0), "default profile forgotten");
    let (code, _, _) = run(&["whoami", "--profile", "other", "--json"], None);
    assert_eq!(code, Some(0));
}
