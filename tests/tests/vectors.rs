//! Cross-language vectors in tests/vectors/: manifests signed here are
//! verified by the TypeScript client's tests, and the tampered ones must be
//! refused by both. `LIVESHIP_WRITE_VECTORS=1` regenerates them (signatures
//! are deterministic, so regenerating with the stored key changes nothing).

use liveship_core::hash::Sha256Digest;
use liveship_core::keys::{PublicKey, SigningKey};
use liveship_core::manifest::{
    FileEntry, Manifest, ManifestDocument, Verifier, VerifyError, ZipInfo,
};
use liveship_core::paths::ManifestPath;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn entry(path: &str, body: &[u8]) -> FileEntry {
    FileEntry {
        path: ManifestPath::new(path).unwrap(),
        sha256: Sha256Digest::of(body),
        size: body.len() as u64,
    }
}

/// (file name, document, expected outcome: "ok" or the TypeScript error code)
fn vectors(
    key: &SigningKey,
    other: &SigningKey,
) -> Vec<(&'static str, ManifestDocument, &'static str)> {
    let manifest = Manifest::new(
        Some("com.example.vectors".parse().unwrap()),
        Some("1.2.3".parse().unwrap()),
        vec![
            entry("index.html", b"<html>"),
            entry("js/app.js", b"app()"),
            entry("ünï/文件.css", b"x"),
        ],
    )
    .unwrap();
    let zipped = manifest.clone().with_zip(ZipInfo {
        sha256: Sha256Digest::of(b"zip"),
        size: 3,
        crc32: None,
    });
    let mut tampered = manifest.sign(key);
    let mut changed = manifest.clone();
    changed.files[0].sha256 = Sha256Digest::of(b"<html>evil");
    tampered.payload = changed.unsigned().payload;
    let mut relabelled = manifest.sign(other);
    relabelled.signature.as_mut().unwrap().key_id = key.public_key().key_id().clone();
    let h = Sha256Digest::of(b"").to_hex();
    let traversal = format!(
        r#"{{"type":"liveship-manifest","schema":1,"app_id":"com.example.vectors","version":"1.2.3","files":[{{"path":"../outside.js","sha256":"{h}","size":0}}]}}"#
    );
    let backslash = traversal.replace("../outside.js", "js\\\\app.js");
    // Pass each path rule alone, collide on iOS and macOS (docs/rules.md).
    let kelvin = traversal.replace(
        &format!(r#"{{"path":"../outside.js","sha256":"{h}","size":0}}"#),
        &format!(r#"{{"path":"k.js","sha256":"{h}","size":0}},{{"path":"\u212a.js","sha256":"{h}","size":0}}"#),
    );
    let file_dir = kelvin.replace("\\u212a.js", "K.JS/x");
    vec![
        ("valid.json", manifest.sign(key), "ok"),
        ("valid-zip.json", zipped.sign(key), "ok"),
        ("tampered-payload.json", tampered, "bad_signature"),
        ("wrong-key.json", manifest.sign(other), "unknown_key"),
        ("relabelled-key.json", relabelled, "bad_signature"),
        ("unsigned.json", manifest.unsigned(), "unsigned"),
        (
            "traversal.json",
            ManifestDocument::sign_payload(traversal.as_bytes(), key),
            "bad_path",
        ),
        (
            "backslash.json",
            ManifestDocument::sign_payload(backslash.as_bytes(), key),
            "bad_path",
        ),
        (
            "collision-kelvin.json",
            ManifestDocument::sign_payload(kelvin.as_bytes(), key),
            "bad_path",
        ),
        (
            "collision-file-dir.json",
            ManifestDocument::sign_payload(file_dir.as_bytes(), key),
            "bad_path",
        ),
    ]
}

fn rust_outcome(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::Unsigned => "unsigned",
        VerifyError::UnknownKey { .. } => "unknown_key",
        VerifyError::BadSignature => "bad_signature",
        VerifyError::Manifest(_) => "bad_path",
        _ => "other",
    }
}

#[test]
fn vectors_are_current_and_rust_agrees() {
    let d = dir();
    let write = std::env::var_os("LIVESHIP_WRITE_VECTORS").is_some();
    let key_path = d.join("private.pem");
    let other_path = d.join("other-private.pem");
    if write && !key_path.exists() {
        std::fs::write(&key_path, SigningKey::generate().unwrap().to_pem().unwrap()).unwrap();
        std::fs::write(
            &other_path,
            SigningKey::generate().unwrap().to_pem().unwrap(),
        )
        .unwrap();
    }
    let key = SigningKey::from_pem(&std::fs::read_to_string(&key_path).unwrap()).unwrap();
    let other = SigningKey::from_pem(&std::fs::read_to_string(&other_path).unwrap()).unwrap();
    let public = key.public_key().to_pem();
    let mut index = serde_json::Map::new();
    for (name, doc, expected) in vectors(&key, &other) {
        let bytes = doc.to_json_bytes();
        if write {
            std::fs::write(d.join(name), &bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(d.join(name)).unwrap(),
            bytes,
            "{name} is stale: LIVESHIP_WRITE_VECTORS=1 regenerates it"
        );
        let verifier = Verifier::new([PublicKey::from_pem(&public).unwrap()]);
        let outcome = match verifier.verify(&ManifestDocument::from_slice(&bytes).unwrap()) {
            Ok(_) => "ok",
            Err(e) => rust_outcome(&e),
        };
        assert_eq!(outcome, expected, "{name}");
        index.insert(name.to_owned(), Value::String(expected.to_owned()));
    }
    let expected = json!({"app_id": "com.example.vectors", "version": "1.2.3", "vectors": index});
    let expected_bytes = serde_json::to_vec_pretty(&expected).unwrap();
    if write {
        std::fs::write(d.join("public.pem"), &public).unwrap();
        std::fs::write(d.join("expected.json"), &expected_bytes).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(d.join("public.pem")).unwrap(),
        public
    );
    assert_eq!(
        std::fs::read(d.join("expected.json")).unwrap(),
        expected_bytes
    );
}

/// tests/vectors/rules.json: the app-id and path rules, and the digest of
/// every code point's collision key, which the TypeScript tests recompute.
#[test]
fn rules_vectors_hold_in_rust() {
    use liveship_core::domain::AppId;
    use liveship_core::paths::{check_path, check_path_set, collision_key, UNICODE_VERSION};
    use sha2::Digest as _;
    let path = dir().join("rules.json");
    let mut rules: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    for id in list(&rules["app_ids"]["ok"]) {
        assert!(AppId::new(id.as_str()).is_ok(), "{id:?}");
    }
    for id in list(&rules["app_ids"]["bad"]) {
        assert!(AppId::new(id.as_str()).is_err(), "{id:?}");
    }
    for p in list(&rules["paths"]["ok"]) {
        assert_eq!(check_path(&p), Ok(()), "{p:?}");
    }
    for p in list(&rules["paths"]["bad"]) {
        assert!(check_path(&p).is_err(), "{p:?}");
    }
    for case in rules["path_sets"].as_array().unwrap() {
        let paths = list(&case["paths"]);
        assert_eq!(
            check_path_set(paths.iter().map(String::as_str)).is_ok(),
            case["ok"].as_bool().unwrap(),
            "{paths:?}"
        );
    }
    let mut h = sha2::Sha256::new();
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        h.update(collision_key(c.encode_utf8(&mut [0; 4])).as_bytes());
        h.update([0xFF]);
    }
    let digest = hex::encode(h.finalize());
    if std::env::var_os("LIVESHIP_WRITE_VECTORS").is_some() {
        rules["key_digest"] = Value::String(digest.clone());
        rules["unicode_version"] = Value::String(UNICODE_VERSION.to_owned());
        let mut text = serde_json::to_string_pretty(&rules).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    assert_eq!(rules["unicode_version"], UNICODE_VERSION);
    assert_eq!(
        rules["key_digest"], digest,
        "collision keys changed: LIVESHIP_WRITE_VECTORS=1 rewrites the digest"
    );
}

/// tests/vectors/rules.json `compressible`: which build files get a brotli
/// copy (the TypeScript client asks for the same ones).
#[test]
fn compressible_vectors_hold_in_rust() {
    use liveship_core::paths::is_compressible;
    let rules: Value =
        serde_json::from_slice(&std::fs::read(dir().join("rules.json")).unwrap()).unwrap();
    for (key, want) in [("yes", true), ("no", false)] {
        let cases = rules["compressible"][key].as_array().unwrap();
        assert!(!cases.is_empty());
        for p in cases {
            let p = p.as_str().unwrap();
            assert_eq!(is_compressible(p), want, "{p:?}");
        }
    }
}
