//! Signatures interoperate with OpenSSL in both directions, so anyone can
//! check a liveship manifest with standard tools (docs/manifest.md shows how).

use base64::Engine as _;
use liveship_core::hash::Sha256Digest;
use liveship_core::keys::{PublicKey, SigningKey};
use liveship_core::manifest::{
    FileEntry, Manifest, ManifestDocument, SignatureBlock, Verifier, VerifyError,
};
use liveship_core::paths::ManifestPath;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is part of the test toolchain (Debian package openssl)")
}

fn sample() -> Manifest {
    Manifest::new(
        Some("com.example".parse().unwrap()),
        Some("3.1.4".parse().unwrap()),
        vec![FileEntry {
            path: ManifestPath::new("index.html").unwrap(),
            sha256: Sha256Digest::of(b"<html>"),
            size: 6,
        }],
    )
    .unwrap()
}

#[test]
fn openssl_verifies_what_liveship_signs() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let doc = sample().sign(&key);
    let payload = dir.path().join("payload.json");
    let sig = dir.path().join("sig.bin");
    let public = dir.path().join("public.pem");
    fs::write(&payload, B64.decode(&doc.payload).unwrap()).unwrap();
    fs::write(
        &sig,
        B64.decode(&doc.signature.as_ref().unwrap().sig).unwrap(),
    )
    .unwrap();
    fs::write(&public, key.public_key().to_pem()).unwrap();
    let args = |p: &Path| {
        vec![
            "pkeyutl".to_owned(),
            "-verify".into(),
            "-pubin".into(),
            "-inkey".into(),
            public.to_str().unwrap().into(),
            "-rawin".into(),
            "-in".into(),
            p.to_str().unwrap().into(),
            "-sigfile".into(),
            sig.to_str().unwrap().into(),
        ]
    };
    let out = Command::new("openssl")
        .args(args(&payload))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"),
        "{out:?}"
    );
    // And OpenSSL refuses a one-byte change, so the check above means something.
    let tampered = dir.path().join("tampered.json");
    let mut bytes = fs::read(&payload).unwrap();
    bytes[10] ^= 1;
    fs::write(&tampered, bytes).unwrap();
    let out = Command::new("openssl")
        .args(args(&tampered))
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn liveship_verifies_what_openssl_signs() {
    let dir = tempfile::tempdir().unwrap();
    let payload = sample().to_payload_bytes();
    let payload_path = dir.path().join("payload.json");
    let sig_path = dir.path().join("sig.bin");
    fs::write(&payload_path, &payload).unwrap();
    let out = openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        fixture("openssl_ed25519_private.pem").to_str().unwrap(),
        "-rawin",
        "-in",
        payload_path.to_str().unwrap(),
        "-out",
        sig_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let public =
        PublicKey::from_pem(&fs::read_to_string(fixture("openssl_ed25519_public.pem")).unwrap())
            .unwrap();
    let doc = ManifestDocument {
        payload: B64.encode(&payload),
        signature: Some(SignatureBlock {
            alg: "ed25519".into(),
            key_id: public.key_id().clone(),
            sig: B64.encode(fs::read(&sig_path).unwrap()),
        }),
    };
    let verifier = Verifier::new([public]);
    let verified = verifier.verify(&doc).unwrap();
    assert_eq!(*verified, sample());

    let mut forged = doc.clone();
    forged.payload = B64.encode(payload.to_ascii_uppercase());
    assert!(matches!(
        verifier.verify(&forged),
        Err(VerifyError::BadSignature)
    ));
}

/// `generate-signing-key` writes PKCS#8 v1, which OpenSSL 3.0 reads (it
/// refuses v2): it prints the key and derives the same public key.
#[test]
fn openssl_reads_the_keys_liveship_generates() {
    let dir = tempfile::tempdir().unwrap();
    liveship_tests::run_ok(
        Command::new(liveship_tests::liveship_bin())
            .current_dir(dir.path())
            .args(["live-update", "generate-signing-key"]),
        "liveship live-update generate-signing-key",
    );
    let private = dir.path().join("liveship_private.pem");
    let derived = liveship_tests::run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private),
        "openssl pkey -pubout",
    );
    assert_eq!(
        String::from_utf8(derived).unwrap(),
        fs::read_to_string(dir.path().join("liveship_public.pem")).unwrap()
    );
    let text = liveship_tests::run_ok(
        Command::new("openssl")
            .args(["pkey", "-noout", "-text", "-in"])
            .arg(&private),
        "openssl pkey -text",
    );
    assert!(String::from_utf8_lossy(&text).contains("ED25519 Private-Key"));
}

/// A key made by `openssl genpkey -algorithm ed25519` signs a build that
/// liveship then verifies with the public key OpenSSL derives.
#[test]
fn keys_openssl_generates_sign_builds_liveship_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("openssl_private.pem");
    let public = dir.path().join("openssl_public.pem");
    liveship_tests::run_ok(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&private),
        "openssl genpkey",
    );
    let pem = liveship_tests::run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private),
        "openssl pkey -pubout",
    );
    fs::write(&public, pem).unwrap();
    let build = dir.path().join("www");
    liveship_tests::write(&build, "index.html", b"<html>openssl</html>");
    liveship_tests::write(&build, "js/app.js", b"app()");
    let liveship = |args: &[&str]| {
        let mut cmd = Command::new(liveship_tests::liveship_bin());
        cmd.current_dir(dir.path()).args(args);
        cmd.output().unwrap()
    };
    let signed = liveship(&[
        "live-update",
        "generate-manifest",
        "--build-dir",
        "www",
        "--signing-key",
        "openssl_private.pem",
    ]);
    assert!(signed.status.success(), "{signed:?}");
    let verify = [
        "live-update",
        "verify",
        "--build-dir",
        "www",
        "--public-key",
    ];
    let ok = liveship(&[&verify[..], &["openssl_public.pem"]].concat());
    assert!(ok.status.success(), "{ok:?}");
    // The same check fails for another key, so the pass above means something.
    liveship_tests::run_ok(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(dir.path().join("other.pem")),
        "openssl genpkey",
    );
    let other = liveship_tests::run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(dir.path().join("other.pem")),
        "openssl pkey -pubout",
    );
    fs::write(dir.path().join("other_public.pem"), other).unwrap();
    let refused = liveship(&[&verify[..], &["other_public.pem"]].concat());
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
}

/// The zip signature the Capawesome plugin checks (`SHA256withRSA`) is what
/// `openssl dgst -sha256 -sign` makes: OpenSSL verifies liveship's, and a
/// key from `openssl genpkey -algorithm RSA` signs one liveship verifies.
#[test]
fn rsa_zip_signatures_interoperate_with_openssl() {
    use liveship_core::rsakey::{RsaPublic, RsaSigning};
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bundle.zip");
    fs::write(&zip, b"PK\x03\x04 pretend zip bytes").unwrap();
    let digest = Sha256Digest::of(&fs::read(&zip).unwrap());
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();

    // liveship signs, OpenSSL verifies.
    let ours = RsaSigning::generate(2048).unwrap();
    fs::write(p("ours.pub.pem"), ours.public().to_pem()).unwrap();
    fs::write(
        p("ours.sig"),
        B64.decode(ours.sign_digest(&digest).unwrap()).unwrap(),
    )
    .unwrap();
    let openssl_verifies = || {
        let (key, sig) = (p("ours.pub.pem"), p("ours.sig"));
        let args = [
            "dgst",
            "-sha256",
            "-verify",
            &key,
            "-signature",
            &sig,
            zip.to_str().unwrap(),
        ];
        openssl(&args).status.success()
    };
    assert!(openssl_verifies(), "OpenSSL verifies liveship's signature");
    fs::write(&zip, b"PK\x03\x04 other bytes").unwrap();
    assert!(!openssl_verifies(), "a changed zip must fail");
    fs::write(&zip, b"PK\x03\x04 pretend zip bytes").unwrap();

    // OpenSSL makes the key and signs; liveship reads the key and verifies.
    let gen = openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &p("theirs.pem"),
    ]);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let pubout = openssl(&[
        "pkey",
        "-in",
        &p("theirs.pem"),
        "-pubout",
        "-out",
        &p("theirs.pub.pem"),
    ]);
    assert!(pubout.status.success());
    let sign = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        &p("theirs.pem"),
        "-out",
        &p("theirs.sig"),
        zip.to_str().unwrap(),
    ]);
    assert!(sign.status.success());
    let public = RsaPublic::from_pem(&fs::read_to_string(p("theirs.pub.pem")).unwrap()).unwrap();
    let sig = B64.encode(fs::read(p("theirs.sig")).unwrap());
    assert!(public.verify_digest(&digest, &sig));
    assert!(!public.verify_digest(&Sha256Digest::of(b"other"), &sig));
    // And the OpenSSL private key signs the same bytes liveship would.
    let theirs = RsaSigning::from_pem(&fs::read_to_string(p("theirs.pem")).unwrap()).unwrap();
    assert_eq!(
        theirs.sign_digest(&digest).unwrap(),
        sig,
        "PKCS#1 v1.5 is deterministic"
    );
}
