//! The `liveship live-update` commands, driven as a CI pipeline would.

mod common;

use common::*;
use liveship_core::keys::SigningKey;
use liveship_core::manifest::ManifestDocument;
use std::fs;

#[test]
fn generate_signing_key_writes_pair_and_refuses_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let v = liveship(d.path(), &["live-update", "generate-signing-key", "--json"]).ok_json();
    assert_eq!(v["ok"], true);
    let private = d.path().join("liveship_private.pem");
    let public = d.path().join("liveship_public.pem");
    let private_pem = fs::read_to_string(&private).unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(fs::read_to_string(&public)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "private key must be mode 0600");
    }
    let key = SigningKey::from_pem(&private_pem).unwrap();
    assert_eq!(v["key_id"], key.public_key().key_id().to_string());

    // Refuses to overwrite, and leaves both files untouched.
    let again = liveship(d.path(), &["live-update", "generate-signing-key"]);
    assert!(again.failed().contains("--force"), "{}", again.stderr);
    assert_eq!(fs::read_to_string(&private).unwrap(), private_pem);

    // Only the public file existing is also refused.
    let d2 = tempfile::tempdir().unwrap();
    fs::write(d2.path().join("pub.pem"), "keep").unwrap();
    let r = liveship(
        d2.path(),
        &[
            "live-update",
            "generate-signing-key",
            "--public",
            "pub.pem",
            "--private",
            "priv.pem",
        ],
    );
    r.failed();
    assert!(!d2.path().join("priv.pem").exists());
    assert_eq!(
        fs::read_to_string(d2.path().join("pub.pem")).unwrap(),
        "keep"
    );

    let forced = liveship(
        d.path(),
        &["live-update", "generate-signing-key", "--force", "--json"],
    )
    .ok_json();
    assert_ne!(forced["key_id"], v["key_id"]);
    assert_ne!(fs::read_to_string(&private).unwrap(), private_pem);
}

#[test]
fn generate_signing_key_custom_paths() {
    let d = tempfile::tempdir().unwrap();
    liveship(
        d.path(),
        &[
            "live-update",
            "generate-signing-key",
            "--public",
            "k/pub.pem",
            "--private",
            "k/priv.pem",
        ],
    );
    // The directory does not exist: a clear error, not a panic.
    let r = liveship(
        d.path(),
        &[
            "live-update",
            "generate-signing-key",
            "--public",
            "k/pub.pem",
            "--private",
            "k/priv.pem",
        ],
    );
    assert!(r.failed().contains("k/priv.pem"), "{}", r.stderr);
    fs::create_dir(d.path().join("k")).unwrap();
    let out = liveship(
        d.path(),
        &[
            "live-update",
            "generate-signing-key",
            "--public",
            "k/pub.pem",
            "--private",
            "k/priv.pem",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("k/priv.pem"));
    assert!(d.path().join("k/pub.pem").is_file());
}

#[test]
fn manifest_round_trip_signed() {
    let f = Fixture::new();
    common::write(&f.www(), "assets/.DS_Store", b"junk");
    let v = f
        .run(&[
            "live-update",
            "generate-manifest",
            "--build-dir",
            "www",
            "--signing-key",
            "liveship_private.pem",
            "--app-id",
            "com.example.app",
            "--version",
            "1.2.3",
            "--json",
        ])
        .ok_json();
    assert_eq!(v["signed"], true);
    assert_eq!(v["files"], 6);
    assert_eq!(v["app_id"], "com.example.app");
    assert_eq!(v["skipped"][0]["path"], "assets/.DS_Store");
    assert!(f.www().join("live-update-manifest.json").is_file());

    let ok = f
        .run(&[
            "live-update",
            "verify",
            "--build-dir",
            "www",
            "--public-key",
            "liveship_public.pem",
            "--json",
        ])
        .ok_json();
    assert_eq!(ok["signature_verified"], true);
    assert_eq!(ok["files"], 6);
    assert_eq!(ok["key_id"], v["key_id"]);
    assert_eq!(ok["version"], "1.2.3");

    // Binding is checked when asked.
    let r = f.verify_www(&["--app-id", "com.other"]);
    assert!(r.verify_failed().contains("com.other"));
    let r = f.verify_www(&["--version", "9"]);
    r.verify_failed();

    // Running generate-manifest again never lists the manifest itself.
    let again = f
        .run(&[
            "live-update",
            "generate-manifest",
            "--build-dir",
            "www",
            "--signing-key",
            "liveship_private.pem",
            "--json",
        ])
        .ok_json();
    assert_eq!(again["files"], 6);
}

#[test]
fn human_output_reports_skipped_files() {
    let f = Fixture::new();
    common::write(&f.www(), "Thumbs.db", b"junk");
    let r = f.manifest(&[]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .contains("skipped Thumbs.db (operating-system metadata)"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("6 files"), "{}", r.stdout);
}

#[test]
fn unsigned_manifest_allowed_but_refused_when_a_key_is_given() {
    let f = Fixture::new();
    let r = f.manifest_with(&["--json"]);
    let v = r.ok_json();
    assert_eq!(v["signed"], false);
    assert!(
        r.stderr.contains("unsigned"),
        "warns on stderr: {}",
        r.stderr
    );

    // Integrity-only check passes, and says the signature was not checked.
    let r = f.verify_www_with(&["--json"]);
    assert_eq!(r.ok_json()["signature_verified"], false);
    assert!(r.stderr.contains("NOT"), "{}", r.stderr);

    let r = f.verify_www(&[]);
    assert!(r.verify_failed().contains("not signed"), "{}", r.stderr);
}

fn signed_manifest(f: &Fixture) {
    let r = f.manifest(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

fn verify_dir(f: &Fixture) -> Run {
    f.verify_www(&["--json"])
}

#[test]
fn tampered_build_directories_fail_naming_the_file() {
    let f = Fixture::new();
    signed_manifest(&f);
    verify_dir(&f).ok_json();

    // Changed file.
    let main = f.www().join("js/main.4f2a.js");
    let original = fs::read(&main).unwrap();
    let mut changed = original.clone();
    changed[0] ^= 1;
    fs::write(&main, &changed).unwrap();
    let r = verify_dir(&f);
    assert!(r.verify_failed().contains("js/main.4f2a.js"));
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"], "verification_failed");
    assert_eq!(v["problems"][0]["path"], "js/main.4f2a.js");
    assert_eq!(v["problems"][0]["problem"], "changed");
    fs::write(&main, &original).unwrap();

    // Missing file.
    fs::remove_file(f.www().join("assets/i18n/en.json")).unwrap();
    let r = verify_dir(&f);
    assert!(r.verify_failed().contains("assets/i18n/en.json"));
    assert_eq!(r.json()["problems"][0]["problem"], "missing");
    common::write(&f.www(), "assets/i18n/en.json", br#"{"hello":"Hello"}"#);
    verify_dir(&f).ok_json();

    // Extra file.
    common::write(&f.www(), "js/injected.js", b"steal()");
    let r = verify_dir(&f);
    assert!(r.verify_failed().contains("js/injected.js"));
    assert_eq!(r.json()["problems"][0]["problem"], "extra");
    fs::remove_file(f.www().join("js/injected.js")).unwrap();
    verify_dir(&f).ok_json();
}

#[test]
fn altered_manifest_and_wrong_key_fail() {
    let f = Fixture::new();
    signed_manifest(&f);
    let path = f.www().join("live-update-manifest.json");
    let original = fs::read(&path).unwrap();

    // Rewrite the payload (an attacker updating a hash for their file).
    let mut doc = ManifestDocument::from_slice(&original).unwrap();
    let mut m = doc.decode_unverified().unwrap();
    m.files[0].size += 1;
    doc.payload = m.unsigned().payload;
    fs::write(&path, doc.to_json_bytes()).unwrap();
    let r = verify_dir(&f);
    assert!(r.verify_failed().contains("altered"), "{}", r.stderr);

    // Garbage manifest.
    fs::write(&path, b"{\"payload\": 12").unwrap();
    assert!(verify_dir(&f)
        .verify_failed()
        .contains("not a liveship manifest"));

    // Signed by another key.
    fs::write(&path, &original).unwrap();
    liveship(
        f.path(),
        &[
            "live-update",
            "generate-signing-key",
            "--public",
            "other_pub.pem",
            "--private",
            "other_priv.pem",
        ],
    );
    let r = f.verify_www_with(&["--public-key", "other_pub.pem"]);
    assert!(
        r.verify_failed().contains("not by the given public key"),
        "{}",
        r.stderr
    );
}

#[test]
fn hand_written_manifests_with_bad_paths_are_refused() {
    let f = Fixture::new();
    let key =
        SigningKey::from_pem(&fs::read_to_string(f.path().join("liveship_private.pem")).unwrap())
            .unwrap();
    let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let cases = [
        ("../outside.js", "'..'"),
        ("js/../../outside.js", "'..'"),
        ("/etc/passwd", "absolute"),
        ("js\\\\app.js", "backslash"),
        ("C:/Windows/evil.dll", "drive letter"),
        ("a\\u0000b", "NUL"),
        ("live-update-manifest.json", "manifest file itself"),
    ];
    for (path, reason) in cases {
        let payload = format!(
            r#"{{"type":"liveship-manifest","schema":1,"files":[{{"path":"{path}","sha256":"{hash}","size":0}}]}}"#
        );
        let doc = ManifestDocument::sign_payload(payload.as_bytes(), &key);
        fs::write(
            f.www().join("live-update-manifest.json"),
            doc.to_json_bytes(),
        )
        .unwrap();
        let r = verify_dir(&f);
        let line = r.verify_failed();
        assert!(line.contains(reason), "{path}: {line}");
        // Unsigned hand-written manifests are refused by the same rules.
        fs::write(
            f.www().join("live-update-manifest.json"),
            ManifestDocument {
                payload: doc.payload.clone(),
                signature: None,
            }
            .to_json_bytes(),
        )
        .unwrap();
        let r = f.verify_www_with(&[]);
        assert!(r.verify_failed().contains(reason), "{path}: {}", r.stderr);
    }
    // Duplicates.
    let payload = format!(
        r#"{{"type":"liveship-manifest","schema":1,"files":[{{"path":"a.js","sha256":"{hash}","size":0}},{{"path":"a.js","sha256":"{hash}","size":0}}]}}"#
    );
    fs::write(
        f.www().join("live-update-manifest.json"),
        ManifestDocument::sign_payload(payload.as_bytes(), &key).to_json_bytes(),
    )
    .unwrap();
    assert!(verify_dir(&f).verify_failed().contains("more than once"));
}

#[cfg(unix)]
#[test]
fn symlinks_leaving_the_build_are_refused() {
    let f = Fixture::new();
    fs::write(f.path().join("secret.env"), "AWS_SECRET=x").unwrap();
    std::os::unix::fs::symlink(f.path().join("secret.env"), f.www().join("config.js")).unwrap();
    let r = f.manifest(&[]);
    assert!(
        r.failed().contains("outside the build directory"),
        "{}",
        r.stderr
    );
    assert!(!f.www().join("live-update-manifest.json").exists());
    let r = f.bundle(&["--output-path", "out/b.zip"]);
    assert!(r.failed().contains("outside the build directory"));
    assert!(!f.path().join("out/b.zip").exists());
}

#[test]
fn wrong_key_types_get_clear_errors() {
    let f = Fixture::new();
    let cases = [
        (fixture_key("rsa_private_pkcs8.pem"), "RSA private key"),
        (
            fixture_key("rsa_private_traditional.pem"),
            "RSA private key",
        ),
        (
            fixture_key("ec_private_pkcs8.pem"),
            "EC (ECDSA) private key",
        ),
        (
            fixture_key("rsa_public.pem"),
            "public key, but signing needs the private key",
        ),
        (
            f.path().join("liveship_public.pem"),
            "public key, but signing needs the private key",
        ),
    ];
    for (key, expected) in &cases {
        let key = key.to_str().unwrap();
        for cmd in [
            vec![
                "live-update",
                "generate-manifest",
                "--build-dir",
                "www",
                "--signing-key",
                key,
            ],
            vec![
                "live-update",
                "bundle-artifact",
                "--build-dir",
                "www",
                "--signing-key",
                key,
                "--output-path",
                "b.zip",
            ],
        ] {
            let r = f.run(&cmd);
            let line = r.failed();
            assert!(line.contains(expected), "{key}: {line}");
            assert!(
                line.contains("generate-signing-key") || expected.contains("public"),
                "says what to do: {line}"
            );
        }
    }
    // A private key given as the public key.
    let r = f.verify_www_with(&["--public-key", "liveship_private.pem"]);
    assert!(
        r.failed().contains("verifying needs the public key"),
        "{}",
        r.stderr
    );
    let r = f.verify_www_with(&[
        "--public-key",
        fixture_key("rsa_public.pem").to_str().unwrap(),
    ]);
    assert!(r.failed().contains("RSA public key"), "{}", r.stderr);
    // Not a key at all, and a missing file.
    fs::write(f.path().join("notes.txt"), "hello").unwrap();
    assert!(f
        .run(&[
            "live-update",
            "generate-manifest",
            "--build-dir",
            "www",
            "--signing-key",
            "notes.txt"
        ])
        .failed()
        .contains("not a PEM key"));
    assert!(f
        .run(&[
            "live-update",
            "generate-manifest",
            "--build-dir",
            "www",
            "--signing-key",
            "nope.pem"
        ])
        .failed()
        .contains("nope.pem"));
    assert!(
        !f.www().join("live-update-manifest.json").exists(),
        "nothing written on error"
    );
}

#[test]
fn keys_from_openssl_work_and_key_id_matches_openssl() {
    let f = Fixture::new();
    let private = fixture_key("openssl_ed25519_private.pem");
    let public = fixture_key("openssl_ed25519_public.pem");
    let v = f
        .run(&[
            "live-update",
            "generate-manifest",
            "--build-dir",
            "www",
            "--signing-key",
            private.to_str().unwrap(),
            "--json",
        ])
        .ok_json();
    // openssl pkey -pubin -in openssl_ed25519_public.pem -outform DER | sha256sum
    assert_eq!(
        v["key_id"],
        "0e2e4d0cf8bdcbec54fe6548f2c93201d78c05a8eae46a7294be25738e11aa8b"
    );
    f.verify_www_with(&["--public-key", public.to_str().unwrap(), "--json"])
        .ok_json();
}

#[test]
fn keys_as_pem_text_and_from_the_environment() {
    let f = Fixture::new();
    let private = fs::read_to_string(f.path().join("liveship_private.pem")).unwrap();
    let public = fs::read_to_string(f.path().join("liveship_public.pem")).unwrap();
    // PEM text as the flag value (Appflow style), in both flag forms.
    f.manifest_with(&["--signing-key", &private, "--json"])
        .ok_json();
    let with_eq = format!("--signing-key={private}");
    f.manifest_with(&[&with_eq, "--json"]).ok_json();
    // From the environment, including the one-line `\n`-escaped form CI secrets often use.
    let escaped = private.trim().replace('\n', "\\n");
    let r = liveship_env(
        f.path(),
        &[
            "live-update",
            "generate-manifest",
            "--build-dir",
            "www",
            "--json",
        ],
        &[("LIVESHIP_SIGNING_KEY", &escaped)],
    );
    assert_eq!(r.ok_json()["signed"], true);
    let r = liveship_env(
        f.path(),
        &["live-update", "verify", "--build-dir", "www", "--json"],
        &[("LIVESHIP_PUBLIC_KEY", &public)],
    );
    assert_eq!(r.ok_json()["signature_verified"], true);
    // Secrets from the environment never show up in help output.
    let r = liveship_env(
        f.path(),
        &["live-update", "generate-manifest", "--help"],
        &[("LIVESHIP_SIGNING_KEY", &private)],
    );
    assert_eq!(r.code, 0);
    assert!(!r.stdout.contains("BEGIN PRIVATE KEY"), "{}", r.stdout);
}

fn bundle_json(f: &Fixture, out: &str) -> serde_json::Value {
    f.bundle(&[
        "--output-path",
        out,
        "--app-id",
        "com.example.app",
        "--version",
        "2.0.0",
        "--json",
    ])
    .ok_json()
}

fn verify_zip(f: &Fixture, zip: &str, extra: &[&str]) -> Run {
    let args = ["live-update", "verify", "--artifact", zip];
    let key = ["--public-key", "liveship_public.pem", "--json"];
    f.run(&[&args[..], &key, extra].concat())
}

#[test]
fn bundle_round_trip_and_outputs() {
    let f = Fixture::new();
    let v = bundle_json(&f, "dist/app.zip");
    assert_eq!(v["outputs"]["zip"], "dist/app.zip");
    assert_eq!(v["outputs"]["manifest"], "dist/app.manifest.json");
    assert_eq!(v["files"], 6);
    let zip_bytes = fs::read(f.path().join("dist/app.zip")).unwrap();
    assert_eq!(v["zip"]["size"], zip_bytes.len() as u64);
    assert_eq!(
        v["zip"]["sha256"],
        liveship_core::hash::Sha256Digest::of(&zip_bytes).to_hex()
    );

    // The manifest beside the zip is signed and carries the zip's hash.
    let outer =
        ManifestDocument::from_slice(&fs::read(f.path().join("dist/app.manifest.json")).unwrap())
            .unwrap();
    let m = outer.decode_unverified().unwrap();
    assert_eq!(
        m.zip.unwrap().sha256.to_hex(),
        v["zip"]["sha256"].as_str().unwrap()
    );

    let ok = verify_zip(
        &f,
        "dist/app.zip",
        &["--app-id", "com.example.app", "--version", "2.0.0"],
    )
    .ok_json();
    assert_eq!(ok["signature_verified"], true);
    assert_eq!(ok["outer_manifest"], "dist/app.manifest.json");
    assert_eq!(ok["zip"]["sha256"], v["zip"]["sha256"]);

    // Extraction reproduces the build exactly.
    verify_zip(&f, "dist/app.zip", &["--extract-to", "unpacked"]).ok_json();
    for rel in [
        "index.html",
        "js/main.4f2a.js",
        "assets/icon/favicon.png",
        "empty.txt",
    ] {
        assert_eq!(
            fs::read(f.path().join("unpacked").join(rel)).unwrap(),
            fs::read(f.www().join(rel)).unwrap()
        );
    }
    let r = verify_zip(&f, "dist/app.zip", &["--extract-to", "unpacked"]);
    assert!(r.failed().contains("not an empty directory"));
    let r = f.run(&[
        "live-update",
        "verify",
        "--artifact",
        "dist/app.zip",
        "--extract-to",
        "x",
    ]);
    assert!(r.failed().contains("--public-key"));
}

#[test]
fn verify_takes_the_app_id_from_the_environment_too() {
    let f = Fixture::new();
    bundle_json(&f, "dist/app.zip");
    let args = [
        "live-update",
        "verify",
        "--artifact",
        "dist/app.zip",
        "--public-key",
        "liveship_public.pem",
        "--json",
    ];
    let ok = liveship_env(f.path(), &args, &[("LIVESHIP_APP_ID", "com.example.app")]);
    assert_eq!(ok.ok_json()["app_id"], "com.example.app");
    let wrong = liveship_env(f.path(), &args, &[("LIVESHIP_APP_ID", "com.example.other")]);
    assert_ne!(wrong.code, 0, "{}", wrong.stdout);
    assert!(
        wrong.stderr.contains("com.example.other"),
        "the refusal names the expected app: {}",
        wrong.stderr
    );
}

#[test]
fn bundle_is_reproducible() {
    let f = Fixture::new();
    bundle_json(&f, "one.zip");
    // Same content, different mtimes and permissions, different location.
    let copy = f.path().join("copy");
    copy_tree(&f.www(), &copy.join("www"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            copy.join("www/index.html"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(copy.join("www/empty.txt"), b"").unwrap();
    let r = liveship(
        &copy,
        &[
            "live-update",
            "bundle-artifact",
            "--build-dir",
            "www",
            "--signing-key",
            f.path().join("liveship_private.pem").to_str().unwrap(),
            "--output-path",
            "two.zip",
            "--app-id",
            "com.example.app",
            "--version",
            "2.0.0",
            "--json",
        ],
    );
    r.ok_json();
    bundle_json(&f, "three.zip");
    let one = fs::read(f.path().join("one.zip")).unwrap();
    assert_eq!(
        one,
        fs::read(copy.join("two.zip")).unwrap(),
        "same build, same bytes"
    );
    assert_eq!(one, fs::read(f.path().join("three.zip")).unwrap());
    assert_eq!(
        fs::read(f.path().join("one.manifest.json")).unwrap(),
        fs::read(copy.join("two.manifest.json")).unwrap()
    );
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::create_dir_all(to).unwrap();
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn tampered_artifacts_fail() {
    let f = Fixture::new();
    bundle_json(&f, "app.zip");
    let zip_path = f.path().join("app.zip");
    let original = fs::read(&zip_path).unwrap();

    // Rebuild the zip with one file changed, keeping the signed inner manifest.
    let rebuilt = rewrite_zip(&original, |name, data| {
        if name == "index.html" {
            Some(b"<html>phishing</html>".to_vec())
        } else {
            Some(data)
        }
    });
    fs::write(&zip_path, &rebuilt).unwrap();
    let r = verify_zip(&f, "app.zip", &["--manifest", "/nonexistent/none.json"]);
    assert_eq!(
        r.code, 1,
        "missing --manifest file is an error: {}",
        r.stderr
    );
    fs::rename(
        f.path().join("app.manifest.json"),
        f.path().join("outer.json"),
    )
    .unwrap();
    let r = verify_zip(&f, "app.zip", &[]);
    assert!(r.verify_failed().contains("index.html"), "{}", r.stderr);
    assert_eq!(r.json()["problems"][0]["problem"], "changed");

    // An extra file.
    let extra = rewrite_zip(&original, |_, data| Some(data));
    let extra = add_entry(&extra, "js/injected.js", b"steal()");
    fs::write(&zip_path, &extra).unwrap();
    assert!(verify_zip(&f, "app.zip", &[])
        .verify_failed()
        .contains("js/injected.js"));

    // A missing file.
    let missing = rewrite_zip(&original, |name, data| {
        (name != "js/vendor.js").then_some(data)
    });
    fs::write(&zip_path, &missing).unwrap();
    assert!(verify_zip(&f, "app.zip", &[])
        .verify_failed()
        .contains("js/vendor.js"));

    // A valid zip that the manifest beside it does not describe.
    fs::write(&zip_path, &missing).unwrap();
    fs::write(&zip_path, &original).unwrap();
    verify_zip(&f, "app.zip", &["--manifest", "outer.json"]).ok_json();
    let recompressed = rewrite_zip(&original, |_, data| Some(data));
    fs::write(&zip_path, &recompressed).unwrap();
    let r = verify_zip(&f, "app.zip", &["--manifest", "outer.json"]);
    assert!(r.verify_failed().contains("sha256"), "{}", r.stderr);

    // Wrong key.
    fs::write(&zip_path, &original).unwrap();
    liveship(
        f.path(),
        &[
            "live-update",
            "generate-signing-key",
            "--public",
            "o_pub.pem",
            "--private",
            "o_priv.pem",
        ],
    );
    let r = f.run(&[
        "live-update",
        "verify",
        "--artifact",
        "app.zip",
        "--public-key",
        "o_pub.pem",
    ]);
    assert!(r.verify_failed().contains("not by the given public key"));

    // Not a zip at all.
    fs::write(&zip_path, b"not a zip").unwrap();
    assert!(verify_zip(&f, "app.zip", &[])
        .verify_failed()
        .contains("not a readable zip"));
}

#[test]
fn zip_with_escaping_entry_is_refused_and_nothing_is_written() {
    let f = Fixture::new();
    bundle_json(&f, "app.zip");
    let original = fs::read(f.path().join("app.zip")).unwrap();
    for evil in [
        "../evil.txt",
        "../../tmp/evil.txt",
        "/tmp/evil.txt",
        "js\\..\\..\\evil.txt",
        "C:/evil.txt",
    ] {
        let bad = add_entry(&original, evil, b"pwned");
        fs::write(f.path().join("bad.zip"), &bad).unwrap();
        let r = verify_zip(&f, "bad.zip", &["--extract-to", "sub/out"]);
        let line = r.verify_failed();
        assert!(line.contains("zip entry"), "{evil}: {line}");
        assert!(
            !f.path().join("sub/out").exists(),
            "nothing extracted for {evil}"
        );
        assert!(!f.path().join("evil.txt").exists());
        assert!(!f.path().join("sub/evil.txt").exists());
    }
}

#[test]
fn bundle_refuses_bad_outputs_and_missing_key() {
    let f = Fixture::new();
    let r = f.bundle(&["--output-path", "www/sub/app.zip"]);
    assert!(
        r.failed().contains("inside the build directory"),
        "{}",
        r.stderr
    );
    assert!(!f.www().join("sub").exists());
    let r = f.bundle_with(&["--output-path", "app.zip"]);
    assert!(r.failed().contains("--signing-key"));
    fs::create_dir(f.path().join("adir")).unwrap();
    let r = f.bundle(&["--output-path", "adir"]);
    assert!(r.failed().contains("is a directory"));
    let r = f.run(&[
        "live-update",
        "bundle-artifact",
        "--build-dir",
        "nope",
        "--signing-key",
        "liveship_private.pem",
        "--output-path",
        "a.zip",
    ]);
    assert!(r.failed().contains("does not exist"));
    fs::create_dir(f.path().join("emptybuild")).unwrap();
    let r = f.run(&[
        "live-update",
        "bundle-artifact",
        "--build-dir",
        "emptybuild",
        "--signing-key",
        "liveship_private.pem",
        "--output-path",
        "a.zip",
    ]);
    assert!(r.failed().contains("no files"));
    assert!(!f.path().join("a.zip").exists());
    // Appflow pipelines pass --token to bundle-artifact; it is accepted.
    let r = f.bundle(&["--output-path", "t.zip", "--token", "abc"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn json_mode_prints_one_object_and_usage_errors_exit_2() {
    let f = Fixture::new();
    let r = f.run(&["live-update", "generate-manifest", "--json"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"], "usage");
    let r = f.run(&["live-update", "verify", "--json"]);
    assert_eq!(r.code, 2, "needs --build-dir or --artifact");
    let r = f.verify_www_with(&["--artifact", "a.zip"]);
    assert_eq!(r.code, 2, "not both");
    let r = f.manifest_with(&["--app-id", "bad id", "--json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid app id"));
    let r = f.manifest_with(&["--version", "builtin"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("reserved"));
    // Non-terminal stdout: no progress bar escape codes anywhere.
    let r = f.bundle(&["--output-path", "p.zip"]);
    assert_eq!(r.code, 0);
    assert!(!r.stdout.contains('\u{1b}') && !r.stderr.contains('\u{1b}'));
}

/// Re-encodes a zip entry by entry with the `zip` crate, letting `edit`
/// change or drop entries (the signed manifest is copied unchanged).
fn rewrite_zip(bytes: &[u8], mut edit: impl FnMut(&str, Vec<u8>) -> Option<Vec<u8>>) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..src.len() {
        let mut e = src.by_index(i).unwrap();
        let name = e.name().unwrap().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if let Some(data) = edit(&name, data) {
            out.start_file(name, opts).unwrap();
            out.write_all(&data).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

fn add_entry(bytes: &[u8], name: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = zip::ZipWriter::new_append(std::io::Cursor::new(bytes.to_vec())).unwrap();
    out.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    out.write_all(body).unwrap();
    out.finish().unwrap().into_inner()
}

/// `liveship bootstrap` creates the first admin token once (printed once,
/// stored hashed), does nothing the second time, and refuses a short one.
#[test]
fn bootstrap_creates_the_first_admin_token_once() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let data = data.to_str().unwrap();
    let first = liveship(d.path(), &["bootstrap", "--data-dir", data]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let secret = first
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("lsp_"))
        .unwrap_or_else(|| panic!("no token printed: {}", first.stdout))
        .to_owned();
    // Neither the database nor its write-ahead log holds the secret.
    for entry in fs::read_dir(d.path().join("data")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the secret itself",
                path.display()
            );
        }
    }
    let again = liveship(d.path(), &["bootstrap", "--data-dir", data]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stdout.contains("lsp_"), "{}", again.stdout);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    let short = liveship_env(
        d.path(),
        &["bootstrap", "--data-dir", data],
        &[("LIVESHIP_ADMIN_TOKEN", "short")],
    );
    assert_eq!(short.code, 1);
    assert!(short.stderr.contains("too short"), "{}", short.stderr);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // `liveship ... | head` closes the pipe early: the command must end
    // without a panic (exit 101) or a backtrace, as other CLIs do.
    let d = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    for json in [false, true] {
        let _ = fs::remove_file(d.path().join("liveship_private.pem"));
        let _ = fs::remove_file(d.path().join("liveship_public.pem"));
        let mut args = vec!["live-update", "generate-signing-key"];
        if json {
            args.push("--json");
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_liveship"))
            .args(&args)
            .current_dir(d.path())
            .env("RUST_BACKTRACE", "1")
            .stdout(writer.try_clone().unwrap())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "json {json}: {stderr}");
        assert!(!stderr.contains("panicked"), "json {json}: {stderr}");
        assert!(d.path().join("liveship_private.pem").exists());
    }
}
