//! Key sets: an offline root key delegates the signing keys CI uses, so a
//! team can rotate or revoke a CI key in minutes, with no store release,
//! while neither a stolen CI key alone nor the server can make devices trust
//! a key the root did not name (TUF's root and targets roles, reduced to one
//! document).
//!
//! The stages are those of manifests:
//! 1. [`KeySetDocument`]: the raw file, as stored and served: a base64
//!    `payload` beside one or more Ed25519 `signatures`.
//! 2. [`KeySet`]: the payload parsed and checked against the rules, not trusted.
//! 3. [`Verified<KeySet>`](crate::manifest::Verified): built only by [`verify_chain`], once the trusted
//!    root signed it and its version is not below one already seen.
//!
//! Root rotation: a set naming a new `root` must be signed by the trusted
//! root and by the new one. The server keeps every such set and serves them
//! with the current one ([`KeySetChain`]), so a device that pinned the first
//! root walks the hand-overs up to today's root.
//!
//! The device runs the same rules (clients/capacitor `keyset.ts`);
//! tests/vectors/keysets holds both to the same answers.

mod chain;
mod set;

pub use chain::{accept_update, verify_chain};
pub use set::*;

#[cfg(test)]
mod tests;
