//! Cross-language vectors for key sets, in tests/vectors/keysets/: each file
//! holds a pinned root, what the device remembers, the time, a chain and a
//! manifest, and the outcome both the Rust verifier (here) and the
//! TypeScript client (clients/capacitor/test/keyset.test.mjs) must give.
//! `LIVESHIP_WRITE_VECTORS=1` regenerates them; signatures are
//! deterministic, so regenerating with the stored keys changes nothing.

use liveship_core::domain::AppId;
use liveship_core::hash::Sha256Digest;
use liveship_core::keys::{PublicKey, SigningKey};
use liveship_core::keyset::{verify_chain, KeySet, KeySetChain, KeySetDocument, TrustState};
use liveship_core::manifest::{FileEntry, Manifest, ManifestDocument, VerifyError};
use liveship_core::model::Timestamp;
use liveship_core::paths::ManifestPath;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const NOW: Timestamp = 1_800_000_000;
const APP: &str = "com.example.vectors";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/keysets")
}

struct Keys {
    root: SigningKey,
    other_root: SigningKey,
    root2: SigningKey,
    a: SigningKey,
    b: SigningKey,
}

fn keys(write: bool) -> Keys {
    let load = |name: &str| {
        let path = dir().join(name);
        if write && !path.exists() {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, SigningKey::generate().unwrap().to_pem().unwrap()).unwrap();
        }
        SigningKey::from_pem(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    Keys {
        root: load("root-private.pem"),
        other_root: load("other-root-private.pem"),
        root2: load("root2-private.pem"),
        a: load("a-private.pem"),
        b: load("b-private.pem"),
    }
}

fn app() -> AppId {
    AppId::new(APP).unwrap()
}

fn manifest() -> Manifest {
    Manifest::new(
        Some(app()),
        Some("1.2.3".parse().unwrap()),
        vec![FileEntry {
            path: ManifestPath::new("index.html").unwrap(),
            sha256: Sha256Digest::of(b"<html>"),
            size: 6,
        }],
    )
    .unwrap()
}

fn set_with(root: &SigningKey, keys: &[(&SigningKey, Timestamp, Option<Timestamp>)]) -> KeySet {
    let mut s = KeySet::first(app(), root.public_key(), NOW - 86_400);
    for (k, from, until) in keys {
        s.delegate(k.public_key(), *from, *until, None).unwrap();
    }
    s
}

fn single(doc: KeySetDocument) -> KeySetChain {
    KeySetChain {
        rotations: vec![],
        current: doc,
    }
}

/// (name, pinned root, seen, chain, manifest, expected outcome)
type Vector = (
    &'static str,
    PublicKey,
    Option<TrustState>,
    KeySetChain,
    ManifestDocument,
    &'static str,
);

fn vectors(k: &Keys) -> Vec<Vector> {
    let root = k.root.public_key().clone();
    let by_a = manifest().sign(&k.a);
    let v1 = set_with(&k.root, &[(&k.a, NOW - 3600, None)]);
    let d1 = v1.sign(&[&k.root]);
    let mut v2 = v1.next(NOW - 60);
    v2.revoke(k.a.public_key().key_id());
    v2.delegate(k.b.public_key(), NOW - 60, None, None).unwrap();
    let mut tampered = d1.clone();
    let mut added = v1.clone();
    added
        .delegate(k.b.public_key(), NOW - 3600, None, None)
        .unwrap();
    tampered.payload = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(added.to_payload_bytes())
    };
    let mut handed = v1.next(NOW - 60);
    handed.rotate_root(k.root2.public_key()).unwrap();
    let after = handed.next(NOW - 30);
    let rotated = KeySetChain {
        rotations: vec![handed.sign(&[&k.root, &k.root2])],
        current: after.sign(&[&k.root2]),
    };
    let mut tampered_manifest = by_a.clone();
    let mut changed = manifest();
    changed.files[0].size = 7;
    tampered_manifest.payload = changed.unsigned().payload;
    let seen5 = TrustState {
        root: root.to_pem(),
        version: 5,
    };
    let other_app = {
        let mut s = KeySet::first("com.other".parse().unwrap(), &root, NOW);
        s.delegate(k.a.public_key(), NOW - 3600, None, None)
            .unwrap();
        s.sign(&[&k.root])
    };
    vec![
        (
            "valid.json",
            root.clone(),
            None,
            single(d1.clone()),
            by_a.clone(),
            "ok",
        ),
        (
            "wrong-root.json",
            root.clone(),
            None,
            single(set_with(&k.other_root, &[(&k.a, NOW - 3600, None)]).sign(&[&k.other_root])),
            by_a.clone(),
            "wrong_root",
        ),
        (
            "version-rollback.json",
            root.clone(),
            Some(seen5),
            single(d1.clone()),
            by_a.clone(),
            "rollback",
        ),
        (
            "expired-key.json",
            root.clone(),
            None,
            single(set_with(&k.root, &[(&k.a, NOW - 7200, Some(NOW - 1))]).sign(&[&k.root])),
            by_a.clone(),
            "expired",
        ),
        (
            "not-yet-valid-key.json",
            root.clone(),
            None,
            single(set_with(&k.root, &[(&k.a, NOW + 3600, None)]).sign(&[&k.root])),
            by_a.clone(),
            "not_yet_valid",
        ),
        (
            "clock-skew-within-grace.json",
            root.clone(),
            None,
            single(set_with(&k.root, &[(&k.a, NOW + 300, None)]).sign(&[&k.root])),
            by_a.clone(),
            "ok",
        ),
        (
            "revoked-key.json",
            root.clone(),
            None,
            single(v2.sign(&[&k.root])),
            by_a.clone(),
            "revoked",
        ),
        (
            "key-not-in-set.json",
            root.clone(),
            None,
            single(d1.clone()),
            manifest().sign(&k.b),
            "key_not_in_set",
        ),
        (
            "tampered-set.json",
            root.clone(),
            None,
            single(tampered),
            by_a.clone(),
            "bad_signature",
        ),
        (
            "rotated-root.json",
            root.clone(),
            None,
            rotated.clone(),
            by_a.clone(),
            "ok",
        ),
        (
            "rotation-without-new-root.json",
            root.clone(),
            None,
            single(handed.sign(&[&k.root])),
            by_a.clone(),
            "bad_rotation",
        ),
        (
            "rotation-by-new-root-only.json",
            root.clone(),
            None,
            single(handed.sign(&[&k.root2])),
            by_a.clone(),
            "wrong_root",
        ),
        (
            "other-app.json",
            root.clone(),
            None,
            single(other_app),
            by_a.clone(),
            "app_mismatch",
        ),
        (
            "unsigned-manifest.json",
            root.clone(),
            None,
            single(d1.clone()),
            manifest().unsigned(),
            "unsigned",
        ),
        (
            "tampered-manifest.json",
            root,
            None,
            single(d1),
            tampered_manifest,
            "bad_signature",
        ),
    ]
}

fn rust_outcome(
    pinned: &PublicKey,
    seen: Option<&TrustState>,
    chain: &KeySetChain,
    doc: &ManifestDocument,
) -> String {
    let (set, _) = match verify_chain(pinned, seen, chain, &app()) {
        Ok(v) => v,
        Err(e) => return e.code().to_owned(),
    };
    let verifier = match set.manifest_verifier(doc, NOW) {
        Ok(v) => v,
        Err(e) => return e.code().to_owned(),
    };
    match verifier.verify(doc) {
        Ok(m) => match m.expect(Some(&app()), Some(&"1.2.3".parse().unwrap())) {
            Ok(()) => "ok".into(),
            Err(_) => "manifest_mismatch".into(),
        },
        Err(VerifyError::BadSignature) => "bad_signature".into(),
        Err(e) => format!("manifest: {e}"),
    }
}

#[test]
fn keyset_vectors_are_current_and_rust_agrees() {
    let write = std::env::var_os("LIVESHIP_WRITE_VECTORS").is_some();
    let k = keys(write);
    let mut names = Vec::new();
    for (name, pinned, seen, chain, doc, expected) in vectors(&k) {
        let v = json!({
            "app_id": APP,
            "version": "1.2.3",
            "now": NOW,
            "pinned_root": pinned.to_pem(),
            "seen": seen,
            "chain": chain,
            "manifest": doc,
            "expect": expected,
        });
        let mut bytes = serde_json::to_vec_pretty(&v).unwrap();
        bytes.push(b'\n');
        let path = dir().join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{name} is stale: LIVESHIP_WRITE_VECTORS=1 regenerates it"
        );
        // Read back as the device would get it, and judged by Rust.
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        let chain: KeySetChain = serde_json::from_value(back["chain"].clone()).unwrap();
        let doc: ManifestDocument = serde_json::from_value(back["manifest"].clone()).unwrap();
        let seen: Option<TrustState> = serde_json::from_value(back["seen"].clone()).unwrap();
        let pinned = PublicKey::from_pem(back["pinned_root"].as_str().unwrap()).unwrap();
        assert_eq!(
            rust_outcome(&pinned, seen.as_ref(), &chain, &doc),
            expected,
            "{name}"
        );
        names.push(name);
    }
    // Every file in the directory is a vector this test wrote: none stale.
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut made: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    made.sort();
    assert_eq!(on_disk, made);
}
