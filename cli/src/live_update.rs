//! `liveship live-update ...`: the Appflow-compatible artifact commands.

use crate::keyfile::{load_public_key, load_signing_key};
use crate::output::{Failure, Output};
use crate::progress;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use liveship_core::artifact::{self, ArtifactError, BundleRequest};
use liveship_core::domain::{AppId, BuildVersion};
use liveship_core::fsutil::write_atomic;
use liveship_core::keys::SigningKey;
use liveship_core::manifest::{Manifest, ManifestDocument, Trust, Verifier};
use liveship_core::paths::MANIFEST_FILE_NAME;
use liveship_core::tree::{self, Skipped};
use liveship_core::{env, manifest::Verified};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum LiveUpdate {
    /// Write a new Ed25519 key pair (private key mode 0600).
    GenerateSigningKey(GenerateKeyArgs),
    /// Write DIR/live-update-manifest.json listing every file with its SHA-256.
    GenerateManifest(GenerateManifestArgs),
    /// Write a reproducible zip of the build and its signed manifest.
    BundleArtifact(BundleArgs),
    /// Check a build directory or zip against its manifest and public key.
    Verify(VerifyArgs),
    /// Sign, upload only missing files, register (and optionally deploy) a build.
    UploadArtifact(crate::publish::UploadArgs),
    /// Copy a signed build directory to your own bucket (s3://BUCKET/PREFIX),
    /// with AWS credentials from the usual chain; then register-artifact.
    Upload(crate::s3_upload::UploadToArgs),
    /// Register a build whose files you host yourself.
    RegisterArtifact(crate::publish::RegisterArgs),
    /// Set a build's native (binary) version limits (the same command as
    /// `liveship builds set-native-versions`).
    SetNativeVersions(crate::builds::NativeArgs),
}

/// Appflow pipelines pass `--token` to every `live-update` command; the
/// offline ones accept it and ignore it (they talk to no server).
#[derive(Debug, Args)]
pub struct IgnoredToken {
    /// Accepted for Appflow compatibility and ignored: this command talks to no server.
    #[arg(long, hide = true, value_name = "TOKEN")]
    token: Option<String>,
}

/// Which kind of key pair to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// Signs liveship manifests (what @liveship/capacitor and the server check).
    Ed25519,
    /// Signs zips for the stock Capawesome plugin's `publicKey` check
    /// (SHA256withRSA); in addition to, not instead of, the Ed25519 key.
    Rsa,
}

#[derive(Debug, Args)]
pub struct GenerateKeyArgs {
    /// `ed25519` (liveship manifests) or `rsa` (zip signatures for the
    /// Capawesome plugin).
    #[arg(long, value_enum, default_value = "ed25519")]
    algorithm: KeyAlgorithm,
    /// RSA modulus size in bits (2048-8192), with --algorithm rsa.
    #[arg(long, default_value_t = 2048)]
    bits: usize,
    /// Where to write the public key (ship this one in the app)
    /// [default: liveship_public.pem; liveship_rsa_public.pem for RSA].
    #[arg(long, value_name = "PATH")]
    public: Option<PathBuf>,
    /// Where to write the private key (keep this one in CI secrets)
    /// [default: liveship_private.pem; liveship_rsa_private.pem for RSA].
    #[arg(long, value_name = "PATH")]
    private: Option<PathBuf>,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    _token: IgnoredToken,
}

#[derive(Debug, Args)]
pub struct SigningKeyArg {
    /// Private key: a path to the PEM file, or the PEM text itself.
    #[arg(long, value_name = "KEY", env = env::SIGNING_KEY, hide_env_values = true, allow_hyphen_values = true)]
    signing_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct BindArgs {
    /// App id to bind into the signed manifest.
    #[arg(long, value_name = "ID", env = env::APP_ID)]
    app_id: Option<AppId>,
    /// Version label to bind into the signed manifest.
    #[arg(long = "version", value_name = "V")]
    build_version: Option<BuildVersion>,
}

#[derive(Debug, Args)]
pub struct GenerateManifestArgs {
    /// The web build directory (www, dist, build, ...).
    #[arg(long, value_name = "DIR")]
    build_dir: PathBuf,
    #[command(flatten)]
    key: SigningKeyArg,
    #[command(flatten)]
    bind: BindArgs,
    #[command(flatten)]
    _token: IgnoredToken,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The web build directory (www, dist, build, ...).
    #[arg(long, value_name = "DIR")]
    build_dir: PathBuf,
    #[command(flatten)]
    key: SigningKeyArg,
    /// Where to write the zip.
    #[arg(long, value_name = "ZIP")]
    output_path: PathBuf,
    /// Where to write the manifest beside the zip [default: ZIP with .manifest.json].
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    #[command(flatten)]
    bind: BindArgs,
    #[command(flatten)]
    _token: IgnoredToken,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["build_dir", "artifact"])))]
pub struct VerifyArgs {
    /// A build directory holding live-update-manifest.json.
    #[arg(long, value_name = "DIR")]
    build_dir: Option<PathBuf>,
    /// A zip made by bundle-artifact.
    #[arg(long, value_name = "ZIP")]
    artifact: Option<PathBuf>,
    /// Public key: a path to the PEM file, or the PEM text. Without it only
    /// integrity is checked, not who signed.
    #[arg(long, value_name = "PEM", env = env::PUBLIC_KEY, allow_hyphen_values = true)]
    public_key: Option<String>,
    /// The app's root public key (path or PEM): with --key-set, the build
    /// must be signed by a key that set allows now, as a device checks it.
    #[arg(
        long,
        value_name = "PEM",
        allow_hyphen_values = true,
        requires = "key_set",
        conflicts_with = "public_key"
    )]
    root_public_key: Option<String>,
    /// The app's key set chain (`liveship keys show --json`, or the body of
    /// GET /v1/apps/{app}/key-set), verified from --root-public-key.
    #[arg(long, value_name = "FILE", requires = "root_public_key")]
    key_set: Option<PathBuf>,
    /// The manifest beside the zip [default: ZIP with .manifest.json, if present].
    #[arg(long, value_name = "PATH", requires = "artifact")]
    manifest: Option<PathBuf>,
    /// Fail unless the signed manifest names this app id.
    #[arg(long, value_name = "ID", env = env::APP_ID)]
    app_id: Option<AppId>,
    /// Fail unless the signed manifest names this version.
    #[arg(long = "version", value_name = "V")]
    build_version: Option<BuildVersion>,
    /// After verifying, extract the zip into this new directory.
    #[arg(long, value_name = "DIR", requires = "artifact")]
    extract_to: Option<PathBuf>,
    #[command(flatten)]
    _token: IgnoredToken,
}

pub fn run(cmd: LiveUpdate, out: &Output) -> Result<Value, Failure> {
    match cmd {
        LiveUpdate::GenerateSigningKey(a) => generate_signing_key(a, out),
        LiveUpdate::GenerateManifest(a) => generate_manifest(a, out),
        LiveUpdate::BundleArtifact(a) => bundle_artifact(a, out),
        LiveUpdate::Verify(a) => verify(a, out),
        LiveUpdate::UploadArtifact(a) => crate::publish::upload_artifact(a, out),
        LiveUpdate::Upload(a) => crate::s3_upload::upload_to(a, out),
        LiveUpdate::RegisterArtifact(a) => crate::publish::register_artifact(a, out),
        LiveUpdate::SetNativeVersions(a) => crate::builds::set_native_versions(a, out),
    }
}

fn report_skipped(out: &Output, skipped: &[Skipped]) {
    for s in skipped {
        out.note(format!("skipped {} ({})", s.path, s.reason));
    }
}

fn generate_signing_key(a: GenerateKeyArgs, out: &Output) -> Result<Value, Failure> {
    let rsa = a.algorithm == KeyAlgorithm::Rsa;
    let (default_private, default_public) = if rsa {
        ("liveship_rsa_private.pem", "liveship_rsa_public.pem")
    } else {
        ("liveship_private.pem", "liveship_public.pem")
    };
    let private = a.private.clone().unwrap_or_else(|| default_private.into());
    let public = a.public.clone().unwrap_or_else(|| default_public.into());
    if !a.force {
        for p in [&private, &public] {
            if p.exists() {
                return Err(anyhow!(
                    "{} already exists; pass --force to replace it (apps that embed the old public key will refuse updates signed by the new key)",
                    p.display()
                )
                .into());
            }
        }
    }
    if rsa {
        let key = liveship_core::rsakey::RsaSigning::generate(a.bits)?;
        write_atomic(&private, key.to_pem()?.as_bytes(), 0o600, a.force)
            .with_context(|| format!("cannot write {}", private.display()))?;
        write_atomic(&public, key.public().to_pem().as_bytes(), 0o644, a.force)
            .with_context(|| format!("cannot write {}", public.display()))?;
        // capgo's `publicKey` reads only PKCS#1 ("BEGIN RSA PUBLIC KEY").
        let capgo_public = public.with_file_name(format!(
            "{}_capgo.pem",
            public
                .file_stem()
                .map_or("liveship_rsa_public".into(), |s| s.to_string_lossy())
        ));
        write_atomic(
            &capgo_public,
            key.public().to_pkcs1_pem().as_bytes(),
            0o644,
            true,
        )
        .with_context(|| format!("cannot write {}", capgo_public.display()))?;
        out.say(format!(
            "Wrote RSA private key {} (mode 0600, {} bits): store it in your CI secrets (LIVESHIP_RSA_SIGNING_KEY), never in the app or on the server",
            private.display(),
            a.bits
        ));
        out.say(format!(
            "Wrote RSA public key  {}: set it as the Capawesome plugin's publicKey, and on the app with `liveship apps update --rsa-public-key {}`",
            public.display(),
            public.display()
        ));
        out.say(format!(
            "Wrote {}: the same public key as PKCS#1, for the capgo plugin's publicKey",
            capgo_public.display()
        ));
        return Ok(json!({
            "command": "generate-signing-key",
            "algorithm": "rsa",
            "bits": a.bits,
            "private_key": private,
            "public_key": public,
            "capgo_public_key": capgo_public,
        }));
    }
    let key = SigningKey::generate()?;
    let private_pem = key.to_pem()?;
    write_atomic(&private, private_pem.as_bytes(), 0o600, a.force)
        .with_context(|| format!("cannot write {}", private.display()))?;
    write_atomic(
        &public,
        key.public_key().to_pem().as_bytes(),
        0o644,
        a.force,
    )
    .with_context(|| format!("cannot write {}", public.display()))?;
    let key_id = key.public_key().key_id().to_string();
    out.say(format!(
        "Wrote private key {} (mode 0600): store it in your CI secrets, never in the app",
        private.display()
    ));
    out.say(format!(
        "Wrote public key  {}: ship it in the app to verify updates",
        public.display()
    ));
    out.say(format!("Key id: {key_id}"));
    Ok(json!({
        "command": "generate-signing-key",
        "algorithm": "ed25519",
        "private_key": private,
        "public_key": public,
        "key_id": key_id,
    }))
}

fn generate_manifest(a: GenerateManifestArgs, out: &Output) -> Result<Value, Failure> {
    let key = a
        .key
        .signing_key
        .as_deref()
        .map(load_signing_key)
        .transpose()?;
    let scan = tree::scan(&a.build_dir)?;
    report_skipped(out, &scan.skipped);
    let entries = {
        let bar = progress::for_terminal(out.json, "hashing");
        tree::hash_files(&scan, bar.as_ref())?
    };
    let manifest = Manifest::new(a.bind.app_id, a.bind.build_version, entries)?;
    let doc = match &key {
        Some(k) => manifest.sign(k),
        None => manifest.unsigned(),
    };
    let path = a.build_dir.join(MANIFEST_FILE_NAME);
    write_atomic(&path, &doc.to_json_bytes(), 0o644, true)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if key.is_none() {
        out.warn("the manifest is unsigned: apps that have a public key configured will refuse it; pass --signing-key to sign it");
    }
    out.say(format!(
        "Wrote {} ({} files, {} bytes, {})",
        path.display(),
        manifest.files.len(),
        manifest.total_size(),
        if key.is_some() { "signed" } else { "unsigned" }
    ));
    Ok(json!({
        "command": "generate-manifest",
        "manifest": path,
        "signed": key.is_some(),
        "key_id": key.as_ref().map(|k| k.public_key().key_id().to_string()),
        "app_id": manifest.app_id,
        "version": manifest.version,
        "files": manifest.files.len(),
        "total_size": manifest.total_size(),
        "skipped": scan.skipped,
    }))
}

fn bundle_artifact(a: BundleArgs, out: &Output) -> Result<Value, Failure> {
    let key_arg = a.key.signing_key.as_deref().ok_or_else(|| {
        anyhow!("bundle-artifact needs --signing-key (or {}); create a key with `liveship live-update generate-signing-key`", env::SIGNING_KEY)
    })?;
    let key = load_signing_key(key_arg)?;
    if a.output_path.is_dir() {
        return Err(anyhow!(
            "--output-path {} is a directory; give a file name such as {}",
            a.output_path.display(),
            a.output_path.join("live-update.zip").display()
        )
        .into());
    }
    let manifest_path = a
        .manifest_path
        .clone()
        .unwrap_or_else(|| artifact::sibling_manifest_path(&a.output_path));
    refuse_inside(&a.build_dir, &a.output_path, "--output-path")?;
    refuse_inside(&a.build_dir, &manifest_path, "--manifest-path")?;
    for p in [&a.output_path, &manifest_path] {
        if let Some(parent) = p.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create directory {}", parent.display()))?;
        }
    }
    let report = {
        let bar = progress::for_terminal(out.json, "bundling");
        artifact::bundle(
            &BundleRequest {
                build_dir: &a.build_dir,
                zip_path: &a.output_path,
                manifest_path: &manifest_path,
                app_id: a.bind.app_id,
                version: a.bind.build_version,
                key: &key,
            },
            bar.as_ref(),
        )?
    };
    report_skipped(out, &report.skipped);
    let m = &report.manifest;
    out.say(format!(
        "Wrote {} ({} files, {} bytes -> {} bytes zip, sha256 {})",
        a.output_path.display(),
        m.files.len(),
        m.total_size(),
        report.zip.size,
        report.zip.sha256
    ));
    out.say(format!(
        "Wrote {} (signed manifest with the zip's hash)",
        manifest_path.display()
    ));
    Ok(json!({
        "command": "bundle-artifact",
        "outputs": {"zip": a.output_path, "manifest": manifest_path},
        "zip": {"path": a.output_path, "sha256": report.zip.sha256, "size": report.zip.size},
        "manifest": manifest_path,
        "key_id": key.public_key().key_id().to_string(),
        "app_id": m.app_id,
        "version": m.version,
        "files": m.files.len(),
        "total_size": m.total_size(),
        "skipped": report.skipped,
    }))
}

/// Refuses an output inside the build directory: the next bundle of that
/// directory would contain this one.
fn refuse_inside(build_dir: &Path, output: &Path, flag: &str) -> anyhow::Result<()> {
    let Ok(build) = std::fs::canonicalize(build_dir) else {
        return Ok(()); // the scan reports a missing build directory clearly
    };
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // The output's directory may not exist yet: check its nearest existing ancestor.
    let existing = parent.ancestors().find_map(|p| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        std::fs::canonicalize(p).ok()
    });
    if let Some(parent) = existing {
        if parent.starts_with(&build) {
            bail!(
                "{flag} {} is inside the build directory {}; write it elsewhere, or the next bundle would contain it",
                output.display(),
                build_dir.display()
            );
        }
    }
    Ok(())
}

fn read_document(path: &Path) -> Result<ManifestDocument, Failure> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    ManifestDocument::from_slice(&bytes)
        .with_context(|| path.display().to_string())
        .map_err(|e| Failure::verification(e, vec![]))
}

fn verification_failure(e: ArtifactError) -> Failure {
    if !e.is_verification_failure() {
        return e.into();
    }
    let problems = match &e {
        ArtifactError::Mismatch(p) => p.clone(),
        _ => vec![],
    };
    Failure::verification(e, problems)
}

/// The key set of `--key-set`, verified from `--root-public-key`.
fn verified_key_set(
    root: &str,
    file: &Path,
    app: Option<&AppId>,
) -> Result<liveship_core::manifest::Verified<liveship_core::keyset::KeySet>, Failure> {
    use liveship_core::keyset::verify_chain;
    let root = crate::keyfile::load_public_for(root, "--root-public-key")?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let chain = crate::keys::chain_from_text(&text)
        .with_context(|| format!("{} is not a key set chain", file.display()))?;
    let app = match app {
        Some(a) => a.clone(),
        None => chain.current.decode_unverified()?.app_id,
    };
    let (set, _) = verify_chain(&root, None, &chain, &app).map_err(|e| {
        Failure::verification(anyhow!(e).context(file.display().to_string()), vec![])
    })?;
    Ok(set)
}

/// Why the key set refuses the key a manifest was signed by, if that is
/// why verification failed.
fn key_set_refusal(
    set: &liveship_core::keyset::KeySet,
    e: &(dyn std::error::Error + 'static),
) -> Option<liveship_core::keyset::KeySetError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        use liveship_core::manifest::VerifyError;
        if let Some(VerifyError::UnknownKey { signed_by, .. }) = err.downcast_ref::<VerifyError>() {
            return set.allowed(signed_by, liveship_core::model::now()).err();
        }
        cur = err.source();
    }
    None
}

fn verify(a: VerifyArgs, out: &Output) -> Result<Value, Failure> {
    let key = a.public_key.as_deref().map(load_public_key).transpose()?;
    let key_set = match (&a.root_public_key, &a.key_set) {
        (Some(root), Some(file)) => Some(verified_key_set(root, file, a.app_id.as_ref())?),
        _ => None,
    };
    if a.extract_to.is_some() && key.is_none() && key_set.is_none() {
        return Err(anyhow!(
            "--extract-to needs --public-key (or --root-public-key with --key-set): only verified artifacts are extracted"
        )
        .into());
    }
    let verifier = match &key_set {
        Some(set) => Some(Verifier::new(set.allowed_keys(liveship_core::model::now()))),
        None => key.clone().map(|k| Verifier::new([k])),
    };
    let refusal = |e: &(dyn std::error::Error + 'static)| {
        key_set
            .as_ref()
            .and_then(|set| key_set_refusal(set, e))
            .map(|r| Failure::verification(anyhow!(r), vec![]))
    };
    let bar = progress::for_terminal(out.json, "verifying");
    let (trust, target, zip_info, outer_path, extracted) = if let Some(dir) = &a.build_dir {
        let path = dir.join(MANIFEST_FILE_NAME);
        if !path.is_file() {
            return Err(anyhow!(
                "{} not found; create it with `liveship live-update generate-manifest --build-dir {}`",
                path.display(),
                dir.display()
            )
            .into());
        }
        let doc = read_document(&path)?;
        let trust = match Trust::open(&doc, verifier.as_ref()) {
            Ok(t) => t,
            Err(e) => {
                if let Some(f) = refusal(&e) {
                    return Err(f);
                }
                return Err(Failure::verification(
                    anyhow!(e).context(path.display().to_string()),
                    vec![],
                ));
            }
        };
        let problems = tree::check_tree(trust.manifest(), dir, bar.as_ref())?;
        if !problems.is_empty() {
            let msg = anyhow!(
                "{} file(s) do not match {}: {}",
                problems.len(),
                path.display(),
                artifact::summarize(&problems)
            );
            return Err(Failure::verification(msg, problems));
        }
        (trust, dir.clone(), None, None, None)
    } else {
        let zip = a
            .artifact
            .clone()
            .expect("clap requires --build-dir or --artifact");
        let outer_path = a.manifest.clone().or_else(|| {
            let p = artifact::sibling_manifest_path(&zip);
            p.is_file().then_some(p)
        });
        let outer = outer_path.as_deref().map(read_document).transpose()?;
        let check = match artifact::verify_artifact(
            &zip,
            verifier.as_ref(),
            outer.as_ref(),
            bar.as_ref(),
        ) {
            Ok(c) => c,
            Err(e) => return Err(refusal(&e).unwrap_or_else(|| verification_failure(e))),
        };
        let extracted = match (&a.extract_to, &check.trust) {
            (Some(dest), Trust::Verified(v)) => Some(extract(&zip, v, dest)?),
            _ => None,
        };
        (check.trust, zip, check.zip, outer_path, extracted)
    };
    drop(bar);
    trust
        .manifest()
        .expect(a.app_id.as_ref(), a.build_version.as_ref())
        .map_err(|e| Failure::verification(e, vec![]))?;
    let m = trust.manifest();
    match trust.key_id() {
        Some(id) => out.say(format!(
            "OK: {} matches its manifest ({} files), signed by key {id}",
            target.display(),
            m.files.len()
        )),
        None => {
            out.say(format!(
                "OK: {} matches its manifest ({} files)",
                target.display(),
                m.files.len()
            ));
            out.warn("no --public-key given: file integrity was checked, the signature was NOT");
        }
    }
    if let Some(p) = &outer_path {
        out.say(format!("OK: the zip matches {}", p.display()));
    }
    if let Some((dest, n)) = &extracted {
        out.say(format!("Extracted {n} files into {}", dest.display()));
    }
    Ok(json!({
        "command": "verify",
        "target": target,
        "signature_verified": trust.key_id().is_some(),
        "key_id": trust.key_id().map(|k| k.to_string()),
        "app_id": m.app_id,
        "version": m.version,
        "files": m.files.len(),
        "total_size": m.total_size(),
        "zip": zip_info.map(|z| json!({"sha256": z.sha256, "size": z.size})),
        "outer_manifest": outer_path,
        "extracted_to": extracted.as_ref().map(|(d, _)| d),
    }))
}

fn extract(
    zip: &Path,
    manifest: &Verified<Manifest>,
    dest: &Path,
) -> Result<(PathBuf, usize), Failure> {
    let n = artifact::extract_verified(zip, manifest, dest).map_err(verification_failure)?;
    Ok((dest.to_owned(), n))
}
