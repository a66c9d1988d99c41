//! Unit tests of key sets.

use super::*;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::keys::SigningKey;
use crate::manifest::{FileEntry, Manifest};
use crate::manifest::{ManifestDocument, Verified};
use crate::paths::ManifestPath;
use crate::time::Timestamp;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

const NOW: Timestamp = 1_800_000_000;

fn app() -> AppId {
    AppId::new("com.example.keys").unwrap()
}

fn key() -> SigningKey {
    SigningKey::generate().unwrap()
}

fn chain(current: KeySetDocument) -> KeySetChain {
    KeySetChain {
        rotations: Vec::new(),
        current,
    }
}

fn manifest(signer: &SigningKey) -> ManifestDocument {
    Manifest::new(
        Some(app()),
        None,
        vec![FileEntry {
            path: ManifestPath::new("index.html").unwrap(),
            sha256: Sha256Digest::of(b"x"),
            size: 1,
        }],
    )
    .unwrap()
    .sign(signer)
}

#[test]
fn a_delegated_key_signs_builds_the_root_does_not() {
    let (root, a) = (key(), key());
    let mut set = KeySet::first(app(), root.public_key(), NOW);
    set.delegate(a.public_key(), NOW, Some(NOW + 86_400), Some("ci".into()))
        .unwrap();
    let doc = set.sign(&[&root]);
    let (v, state) = verify_chain(root.public_key(), None, &chain(doc), &app()).unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(v.key_id(), root.public_key().key_id());
    let verifier = v.manifest_verifier(&manifest(&a), NOW).unwrap();
    verifier.verify(&manifest(&a)).unwrap();
    // The root itself is not a signing key, and cannot be delegated.
    assert_eq!(
        v.manifest_verifier(&manifest(&root), NOW)
            .unwrap_err()
            .code(),
        "key_not_in_set"
    );
    let mut bad = set.clone();
    assert_eq!(
        bad.delegate(root.public_key(), NOW, None, None)
            .unwrap_err()
            .code(),
        "malformed"
    );
    assert_eq!(bad, set, "a refused change changes nothing");
}

#[test]
fn windows_revocation_and_skew() {
    let (root, a, b) = (key(), key(), key());
    let mut set = KeySet::first(app(), root.public_key(), NOW);
    set.delegate(a.public_key(), NOW, Some(NOW + 100), None)
        .unwrap();
    let id = a.public_key().key_id();
    assert!(set.allowed(id, NOW + 99).is_ok());
    assert_eq!(set.allowed(id, NOW + 100).unwrap_err().code(), "expired");
    // A clock up to ten minutes behind still takes a fresh key.
    assert!(set.allowed(id, NOW - CLOCK_SKEW_SECONDS).is_ok());
    assert_eq!(
        set.allowed(id, NOW - CLOCK_SKEW_SECONDS - 1)
            .unwrap_err()
            .code(),
        "not_yet_valid"
    );
    assert_eq!(
        set.allowed(b.public_key().key_id(), NOW)
            .unwrap_err()
            .code(),
        "key_not_in_set"
    );
    assert!(set.revoke(id));
    assert!(!set.revoke(id), "twice is once");
    assert_eq!(set.allowed(id, NOW).unwrap_err().code(), "revoked");
    // Delegating a revoked key again is refused: revocation is for good.
    assert_eq!(
        set.delegate(a.public_key(), NOW, None, None)
            .unwrap_err()
            .code(),
        "malformed"
    );
    // A window that ends before it starts is refused.
    assert!(set.delegate(b.public_key(), NOW, Some(NOW), None).is_err());
    // The manifest must be signed at all.
    let unsigned = ManifestDocument {
        signature: None,
        ..manifest(&b)
    };
    assert_eq!(
        set.manifest_verifier(&unsigned, NOW).unwrap_err().code(),
        "unsigned"
    );
}

#[test]
fn wrong_root_tampering_rollback_and_other_apps() {
    let (root, other, a) = (key(), key(), key());
    let mut v1 = KeySet::first(app(), root.public_key(), NOW);
    v1.delegate(a.public_key(), NOW, None, None).unwrap();
    let d1 = v1.sign(&[&root]);
    let err = |r: Result<(Verified<KeySet>, TrustState), KeySetError>| r.unwrap_err().code();
    assert_eq!(
        err(verify_chain(
            other.public_key(),
            None,
            &chain(d1.clone()),
            &app()
        )),
        "wrong_root"
    );
    let mut tampered = d1.clone();
    let mut changed = v1.clone();
    changed.revoked.push(other.public_key().key_id().clone());
    tampered.payload = B64.encode(changed.to_payload_bytes());
    assert_eq!(
        err(verify_chain(
            root.public_key(),
            None,
            &chain(tampered),
            &app()
        )),
        "bad_signature"
    );
    let (_, state) = verify_chain(root.public_key(), None, &chain(d1.clone()), &app()).unwrap();
    let mut v2 = v1.next(NOW + 1);
    v2.revoke(a.public_key().key_id());
    let d2 = v2.sign(&[&root]);
    let (_, state2) = verify_chain(root.public_key(), Some(&state), &chain(d2), &app()).unwrap();
    assert_eq!(state2.version, 2);
    // Having seen version 2, version 1 is a replay.
    assert_eq!(
        err(verify_chain(
            root.public_key(),
            Some(&state2),
            &chain(d1.clone()),
            &app()
        )),
        "rollback"
    );
    // The same version again is fine (every lookup carries it).
    assert!(verify_chain(root.public_key(), Some(&state), &chain(d1.clone()), &app()).is_ok());
    let other_app = KeySet::first(AppId::new("com.other").unwrap(), root.public_key(), NOW);
    assert_eq!(
        err(verify_chain(
            root.public_key(),
            None,
            &chain(other_app.sign(&[&root])),
            &app()
        )),
        "app_mismatch"
    );
    // Garbage is malformed, never a panic.
    let junk = KeySetDocument {
        payload: "!!".into(),
        signatures: d1.signatures.clone(),
    };
    assert_eq!(
        err(verify_chain(root.public_key(), None, &chain(junk), &app())),
        "malformed"
    );
    assert!(KeySetDocument::from_slice(&vec![b' '; MAX_KEYSET_BYTES + 1]).is_err());
}

#[test]
fn root_hand_over_needs_both_roots_and_is_walked_by_old_devices() {
    let (r0, r1, r2, a) = (key(), key(), key(), key());
    let mut v1 = KeySet::first(app(), r0.public_key(), NOW);
    v1.delegate(a.public_key(), NOW, None, None).unwrap();
    let d1 = v1.sign(&[&r0]);
    let mut v2 = v1.next(NOW);
    v2.rotate_root(r1.public_key()).unwrap();
    // Signed by the new root only, or by the old root only: refused.
    assert_eq!(
        verify_chain(r0.public_key(), None, &chain(v2.sign(&[&r1])), &app())
            .unwrap_err()
            .code(),
        "wrong_root"
    );
    assert_eq!(
        verify_chain(r0.public_key(), None, &chain(v2.sign(&[&r0])), &app())
            .unwrap_err()
            .code(),
        "bad_rotation"
    );
    let d2 = v2.sign(&[&r0, &r1]);
    let v3 = v2.next(NOW);
    let d3 = v3.sign(&[&r1]);
    let walked = KeySetChain {
        rotations: vec![d2.clone()],
        current: d3.clone(),
    };
    // A device that pinned r0 walks to r1.
    let (v, state) = verify_chain(r0.public_key(), None, &walked, &app()).unwrap();
    assert_eq!(v.version, 3);
    assert_eq!(state.root, r1.public_key().to_pem());
    // Without the hand-over, it cannot.
    assert_eq!(
        verify_chain(r0.public_key(), None, &chain(d3.clone()), &app())
            .unwrap_err()
            .code(),
        "wrong_root"
    );
    // Once on r1, r0 alone no longer signs anything it accepts.
    let mut forged = v3.next(NOW);
    forged.rotate_root(r2.public_key()).unwrap();
    assert_eq!(
        verify_chain(
            r0.public_key(),
            Some(&state),
            &chain(forged.sign(&[&r0, &r2])),
            &app()
        )
        .unwrap_err()
        .code(),
        "wrong_root"
    );
    // The server: builds on the stored chain, version by version.
    let (c1, _) = accept_update(r0.public_key(), None, &d1, &app()).unwrap();
    assert!(c1.rotations.is_empty());
    let (c2, _) = accept_update(r0.public_key(), Some(&c1), &d2, &app()).unwrap();
    assert_eq!(c2.rotations, vec![d2.clone()]);
    let (c3, _) = accept_update(r0.public_key(), Some(&c2), &d3, &app()).unwrap();
    assert_eq!(c3, walked);
    assert_eq!(
        accept_update(r0.public_key(), Some(&c3), &d3, &app())
            .unwrap_err()
            .code(),
        "stale_key_set"
    );
    assert_eq!(
        accept_update(
            r0.public_key(),
            Some(&c3),
            &v3.next(NOW).sign(&[&r0]),
            &app()
        )
        .unwrap_err()
        .code(),
        "wrong_root"
    );
}

#[test]
fn only_delegated_keys_are_revocable() {
    let (root, a, stranger) = (key(), key(), key());
    let mut set = KeySet::first(app(), root.public_key(), NOW);
    set.delegate(a.public_key(), NOW, None, None).unwrap();
    assert_eq!(set.revocable(a.public_key().key_id()), Ok(()));
    let e = set.revocable(root.public_key().key_id()).unwrap_err();
    assert!(e.contains("is the root key of this set"), "{e}");
    let e = set.revocable(stranger.public_key().key_id()).unwrap_err();
    assert!(
        e.contains(&format!("it delegates {}", a.public_key().key_id())),
        "{e}"
    );
    assert!(set.revoke(a.public_key().key_id()));
    // Revoked already: still revocable (the CLI then says it was).
    assert_eq!(set.revocable(a.public_key().key_id()), Ok(()));
}
