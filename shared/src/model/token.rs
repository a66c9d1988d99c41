//! API tokens and their scopes (only a hash of each secret is kept).

use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a token may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Everything (on its app, or everywhere for a global token).
    Admin,
    /// Upload files and register builds.
    Upload,
    /// List builds and channels, deploy, roll back, change builds.
    Deploy,
    /// See apps, builds, channels, stats and the audit log; change nothing
    /// (a release console viewer). `deploy` and `admin` include it.
    Read,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "admin" => Ok(Scope::Admin),
            "upload" => Ok(Scope::Upload),
            "deploy" => Ok(Scope::Deploy),
            "read" => Ok(Scope::Read),
            other => Err(format!(
                "unknown scope {other:?}: use admin, upload, deploy or read"
            )),
        }
    }
}

/// An API token. Only the SHA-256 of the secret is ever stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Public identifier, safe to log.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The app it is limited to; `None` for a global token.
    pub app_id: Option<AppId>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret.
    pub secret_sha256: Sha256Digest,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it last authenticated a request (to within a minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
    /// After this time the token is refused (console sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Set on a console session: the token that signed in. The session acts
    /// with that token's rights and ends when it is revoked or rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_of: Option<TokenRef>,
}

/// Names a token without its secret: what the audit log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRef {
    /// Token id.
    pub id: String,
    /// Token name.
    pub name: String,
    /// SHA-256 of its secret (kept to check the token still exists; never
    /// serialised out of the store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub secret_sha256: Option<Sha256Digest>,
}

impl Token {
    /// True when the token may act with `scope` on `app` (`None`: a global action).
    pub fn allows(&self, app: Option<&AppId>, scope: Scope) -> bool {
        grants(self.app_id.as_ref(), &self.scopes, app, scope)
    }

    /// Who acts, for the audit log: the signed-in token for a console
    /// session, this token otherwise.
    pub fn actor(&self) -> TokenRef {
        match &self.session_of {
            Some(parent) => TokenRef {
                secret_sha256: None,
                ..parent.clone()
            },
            None => TokenRef {
                id: self.id.clone(),
                name: self.name.clone(),
                secret_sha256: None,
            },
        }
    }
}

/// True when a token limited to `own_app` (`None`: every app) with `scopes`
/// may act with `scope` on `app` (`None`: a global action).
pub fn grants(
    own_app: Option<&AppId>,
    scopes: &[Scope],
    app: Option<&AppId>,
    scope: Scope,
) -> bool {
    let app_ok = match (own_app, app) {
        (None, _) => true,
        (Some(mine), Some(asked)) => mine == asked,
        (Some(_), None) => false,
    };
    app_ok && scopes.iter().any(|s| s.includes(scope))
}

impl Scope {
    /// True when holding `self` grants `other`: admin grants everything,
    /// deploy grants read.
    pub fn includes(self, other: Scope) -> bool {
        self == other || self == Scope::Admin || (self == Scope::Deploy && other == Scope::Read)
    }
}
