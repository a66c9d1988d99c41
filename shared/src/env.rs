//! Environment variable names, in one place so the CLI, the server and the
//! infrastructure code agree on them.

/// Private signing key: a path to a PKCS#8 PEM file, or the PEM text itself.
pub const SIGNING_KEY: &str = "LIVESHIP_SIGNING_KEY";
/// Public key used by `verify`: a path to an SPKI PEM file, or the PEM text.
pub const PUBLIC_KEY: &str = "LIVESHIP_PUBLIC_KEY";
/// Default app id for commands that take `--app-id`.
pub const APP_ID: &str = "LIVESHIP_APP_ID";
