//! Operations over the stores: what a write means, whoever asks for it.
//! The HTTP handlers, the console (through them) and the rollout guard
//! call these; none of them knows about HTTP, so the rules hold the same on
//! every entry point.
//!
//! - [`tokens`]: issuing tokens (only a hash of each secret is stored);
//! - [`audit`]: recording what a write changed;
//! - [`channels`]: compare-and-set changes of a channel (deploy, rollback,
//!   plan actions, guard settings);
//! - [`builds`]: loading builds, changing their flags, the disable warning;
//! - [`register`]: the checks a build registration passes, and registering;
//! - [`keys`]: the key set in force for an app.

pub mod audit;
pub mod builds;
pub mod channels;
pub mod keys;
pub mod register;
pub mod tokens;
pub mod zip;

use crate::store::StoreError;

/// What kind of refusal an [`OpError`] is (the HTTP layer maps each to a
/// status: 400, 404, 409, 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request itself is malformed.
    BadRequest,
    /// What it names does not exist.
    NotFound,
    /// It conflicts with the current state.
    Conflict,
    /// Well-formed, but breaks a rule.
    Unprocessable,
}

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The stores failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operation breaks a rule; the message says what to do instead.
    #[error("{message}")]
    Refused {
        /// What kind of refusal.
        kind: Refusal,
        /// Stable machine-readable code.
        code: &'static str,
        /// What went wrong and what to do.
        message: String,
        /// Facts for programs.
        details: Option<serde_json::Value>,
    },
    /// Something that should not happen (logged where it happened).
    #[error("internal error")]
    Internal,
}

impl OpError {
    /// A refusal of `kind` with `code`.
    pub fn refused(kind: Refusal, code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            kind,
            code,
            message: message.into(),
            details: None,
        }
    }
    /// 404-like, with the generic `not_found` code.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::refused(Refusal::NotFound, "not_found", message)
    }
    /// 409-like, with the generic `conflict` code.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::refused(Refusal::Conflict, "conflict", message)
    }
    /// 422-like, with a specific code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::refused(Refusal::Unprocessable, code, message)
    }
    /// The same refusal with facts for programs.
    pub fn with_details(mut self, facts: impl serde::Serialize) -> Self {
        if let Self::Refused { details, .. } = &mut self {
            *details = serde_json::to_value(facts).ok();
        }
        self
    }
}

/// An error and all its sources on one line, for messages to clients.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
