//! liveship core: the pieces every liveship binary shares.
//!
//! - [`domain`]: identifiers (app ids, build versions) and their validation;
//! - [`paths`]: the rules every path in a manifest must follow;
//! - [`hash`]: SHA-256 digests and streaming hashing;
//! - [`keys`]: Ed25519 keys as PKCS#8 / SPKI PEM;
//! - [`manifest`]: the signed manifest (raw document -> parsed [`manifest::Manifest`]
//!   -> [`manifest::Verified`], which only [`manifest::Verifier`] can build);
//! - [`tree`]: scanning and checking a build directory;
//! - [`artifact`]: reproducible zip bundles, and verifying and extracting them;
//! - [`compress`]: the brotli copies stored beside text files;
//! - [`https`]: the one outbound HTTP client (webhooks, the AWS SDK);
//! - [`mod@env`]: the names of the environment variables liveship reads.

#![warn(missing_docs)]

pub mod artifact;
#[cfg(feature = "aws")]
pub mod aws;
pub mod capgo;
pub mod compress;
pub mod domain;
pub mod env;
pub mod fsutil;
pub mod hash;
pub mod http;
pub mod https;
pub mod keys;
pub mod keyset;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod lookup;
pub mod manifest;
pub mod model;
pub mod ops;
pub mod paths;
pub mod predict;
pub mod progress;
pub mod rollout;
pub mod rsakey;
pub mod schemas;
pub mod store;
pub mod time;
pub mod tree;
pub mod wire;
mod zipwrite;
