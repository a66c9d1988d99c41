//! Reading keys given on the command line: a path to a PEM file, or the PEM
//! text itself (as CI secrets usually hold it).

use anyhow::Context;
use liveship_core::keys::{looks_like_pem, PublicKey, SigningKey};

/// A key argument is PEM text when it contains a PEM header, else a path.
pub fn load_key_from(arg: &str, what: &str) -> anyhow::Result<String> {
    if looks_like_pem(arg) {
        return Ok(arg.to_owned());
    }
    std::fs::read_to_string(arg).with_context(|| {
        format!(
            "cannot read {what} file {arg:?} (pass a path to the PEM file or the PEM text itself)"
        )
    })
}

/// The private key of `--signing-key`.
pub fn load_signing_key(arg: &str) -> anyhow::Result<SigningKey> {
    load_private_for(arg, "--signing-key")
}

/// The public key of `--public-key`.
pub fn load_public_key(arg: &str) -> anyhow::Result<PublicKey> {
    load_public_for(arg, "--public-key")
}

/// Reads and checks public keys, returning their PEM text.
pub fn public_key_pems(args: &[String]) -> anyhow::Result<Vec<String>> {
    args.iter()
        .map(|k| {
            let pem = load_key_from(k, "public key")?;
            PublicKey::from_pem(&pem).context("--public-key")?;
            Ok(pem)
        })
        .collect()
}

/// The RSA private key of `--rsa-signing-key` (zip signatures for the
/// Capawesome plugin).
pub fn load_rsa_signing_key(arg: &str) -> anyhow::Result<liveship_core::rsakey::RsaSigning> {
    let text = load_key_from(arg, "RSA signing key")?;
    liveship_core::rsakey::RsaSigning::from_pem(&text).context("--rsa-signing-key")
}

/// The RSA public key of `--rsa-public-key`, as checked SPKI PEM.
pub fn rsa_public_key_pem(arg: &str) -> anyhow::Result<String> {
    let text = load_key_from(arg, "RSA public key")?;
    Ok(liveship_core::rsakey::RsaPublic::from_pem(&text)
        .context("--rsa-public-key")?
        .to_pem())
}

/// A public key given to `flag`, as checked SPKI PEM.
pub fn public_key_pem_for(arg: &str, flag: &str) -> anyhow::Result<String> {
    Ok(load_public_for(arg, flag)?.to_pem())
}

/// A private key given to `flag` (the root key, or a new root key).
pub fn load_private_for(arg: &str, flag: &str) -> anyhow::Result<SigningKey> {
    let text = load_key_from(arg, flag)?;
    SigningKey::from_pem(&text).with_context(|| flag.to_owned())
}

/// A public key given to `flag`.
pub fn load_public_for(arg: &str, flag: &str) -> anyhow::Result<PublicKey> {
    let text = load_key_from(arg, flag)?;
    PublicKey::from_pem(&text).with_context(|| flag.to_owned())
}
