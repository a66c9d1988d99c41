//! liveship core: the pieces every liveship binary shares, in layers (an
//! import only points down; `scripts/modgraph.py` checks it, and
//! CONTRIBUTING.md draws the map):
//!
//! 0. rules, no I/O: [`domain`] (app ids, channel names, versions), [`paths`],
//!    [`hash`], [`keys`] (Ed25519 PEM), [`time`], [`capgo`] (plugin lines),
//!    [`compress`], [`mod@env`];
//! 1. signed data: [`manifest`] (raw document -> parsed [`manifest::Manifest`]
//!    -> [`manifest::Verified`], which only [`manifest::Verifier`] can build),
//!    [`keyset`], [`artifact`], [`tree`], [`rsakey`], [`schemas`];
//! 2. records and pure decisions: [`model`], [`lookup`], [`predict`] (what
//!    devices get: the one decision), [`rollout`] (the guard), [`wire`];
//! 3. storage: [`store`], and [`https`] (the one outbound HTTP client);
//! 4. operations over the stores: [`ops`];
//! 5. the HTTP API: [`http`];
//! 6. deployments: `aws` and `lambda` (feature `aws`).

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
