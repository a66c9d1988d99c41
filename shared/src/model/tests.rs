//! Unit tests of the records.

use super::*;
use crate::domain::AppId;
use crate::hash::Sha256Digest;

#[test]
fn deploy_and_rollback_walk_history() {
    let app = AppId::new("a").unwrap();
    let mut ch = Channel::new(app, "production");
    assert!(!ch.rollback(0));
    ch.deploy(1, 100, 1);
    ch.deploy(2, 100, 2);
    ch.deploy(3, 10, 3);
    assert!(ch.rollback(4));
    assert_eq!(ch.current.as_ref().unwrap().build_id, 2);
    assert!(ch.rollback(5));
    assert_eq!(ch.current.as_ref().unwrap().build_id, 1);
    assert!(!ch.rollback(6));
    assert_eq!(ch.log.len(), 5);
}

#[test]
fn widening_a_rollout_keeps_its_baseline_and_rollback_returns_to_it() {
    let mut ch = Channel::new(AppId::new("a").unwrap(), "production");
    ch.deploy(2, 100, 1);
    ch.deploy(3, 20, 2);
    ch.deploy(3, 50, 3);
    assert_eq!(ch.previous.len(), 1, "re-deploying 3 keeps one baseline");
    assert_eq!(ch.baseline().unwrap().build_id, 2);
    assert_eq!(ch.current.as_ref().unwrap().rollout_percent, 50);
    assert_eq!(ch.log.last().unwrap().action, "rollout");
    assert!(ch.rollback(4));
    let cur = ch.current.as_ref().unwrap();
    assert_eq!((cur.build_id, cur.rollout_percent), (2, 100));
    assert!(!ch.rollback(5), "nothing before build 2");
}

#[test]
fn rollback_skips_a_baseline_of_the_same_build_written_by_older_versions() {
    let mut ch = Channel::new(AppId::new("a").unwrap(), "production");
    ch.deploy(2, 100, 1);
    ch.deploy(3, 20, 2);
    // What versions before the fix stored after `deploy 3 --rollout 50`.
    ch.previous.push(ch.current.clone().unwrap());
    ch.current.as_mut().unwrap().rollout_percent = 50;
    assert_eq!(ch.baseline().unwrap().build_id, 2);
    assert_eq!(
        ch.stack().map(|d| d.build_id).collect::<Vec<_>>(),
        vec![3, 2]
    );
    assert!(ch.rollback(3));
    assert_eq!(ch.current.as_ref().unwrap().build_id, 2);
}

#[test]
fn token_scopes() {
    let a = AppId::new("a").unwrap();
    let b = AppId::new("b").unwrap();
    let t = Token {
        id: "t".into(),
        name: "ci".into(),
        app_id: Some(a.clone()),
        scopes: vec![Scope::Upload],
        secret_sha256: Sha256Digest::of(b"x"),
        created_at: 0,
        last_used_at: None,
        expires_at: None,
        session_of: None,
    };
    assert!(t.allows(Some(&a), Scope::Upload));
    assert!(!t.allows(Some(&a), Scope::Deploy));
    assert!(!t.allows(Some(&b), Scope::Upload));
    assert!(!t.allows(None, Scope::Upload));
    // Deploy includes read; read includes nothing else.
    let d = Token {
        scopes: vec![Scope::Deploy],
        ..t.clone()
    };
    assert!(d.allows(Some(&a), Scope::Read));
    let r = Token {
        scopes: vec![Scope::Read],
        ..t.clone()
    };
    assert!(r.allows(Some(&a), Scope::Read));
    assert!(!r.allows(Some(&a), Scope::Deploy) && !r.allows(Some(&a), Scope::Upload));
    let admin = Token {
        app_id: None,
        scopes: vec![Scope::Admin],
        ..t
    };
    assert!(admin.allows(Some(&b), Scope::Deploy));
    assert!(admin.allows(None, Scope::Admin));
}

fn change(json: &str) -> NativeChanges {
    serde_json::from_str(json).unwrap()
}

#[test]
fn native_changes_merge_validate_and_remove() {
    let l =
        apply_native_changes(&NativeLimits::new(), &change(r#"{"ios":{"min":"9.0"}}"#)).unwrap();
    // Setting max keeps min.
    let l = apply_native_changes(&l, &change(r#"{"ios":{"max":"12"}}"#)).unwrap();
    assert_eq!(describe_native_limits(&l), "android any; ios >= 9.0, <= 12");
    // "" and null remove one field; a null platform removes all.
    let l2 = apply_native_changes(&l, &change(r#"{"ios":{"min":""}}"#)).unwrap();
    assert_eq!(
        l2["ios"],
        NativeLimit {
            max: Some("12".into()),
            ..Default::default()
        }
    );
    let l3 = apply_native_changes(&l2, &change(r#"{"ios":{"max":null}}"#)).unwrap();
    assert!(l3.is_empty(), "{l3:?}");
    assert!(apply_native_changes(&l, &change(r#"{"ios":null}"#))
        .unwrap()
        .is_empty());
    // Refused: not a version, unknown platform, contradictions.
    for bad in [
        r#"{"ios":{"min":"banana"}}"#,
        r#"{"iso":{"min":"1"}}"#,
        r#"{"ios":{"min":"13"}}"#,
        r#"{"ios":{"eq":"10"}}"#,
    ] {
        assert!(apply_native_changes(&l, &change(bad)).is_err(), "{bad}");
    }
    assert!(serde_json::from_str::<NativeChanges>(r#"{"ios":{"minimum":"1"}}"#).is_err());
}
