//! Issuing tokens: a random secret shown once, a record holding only its
//! SHA-256.

use super::OpError;
use crate::domain::AppId;
use crate::hash::Sha256Digest;
use crate::model::{now, Scope, Token};
use crate::store::RecordWrite;
use crate::wire::CreatedToken;
use base64::Engine as _;

/// A new random secret: `lsp_` and 43 characters of base64url (256 bits).
pub fn new_secret() -> Result<String, OpError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "random number generator failed");
        OpError::Internal
    })?;
    Ok(format!(
        "lsp_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// A token record for `secret`.
pub fn token_record(secret: &str, name: &str, app_id: Option<AppId>, scopes: Vec<Scope>) -> Token {
    let secret_sha256 = Sha256Digest::of(secret.as_bytes());
    Token {
        id: format!("tok_{}", &secret_sha256.to_hex()[..12]),
        name: name.to_owned(),
        app_id,
        scopes,
        secret_sha256,
        created_at: now(),
        last_used_at: None,
        expires_at: None,
        session_of: None,
    }
}

/// Makes and stores a new token; the answer carries its secret, the only
/// time it is ever shown (only its hash is stored).
pub async fn issue_token(
    records: &dyn RecordWrite,
    name: &str,
    app_id: Option<AppId>,
    scopes: Vec<Scope>,
) -> Result<CreatedToken, OpError> {
    let secret = new_secret()?;
    let token = token_record(&secret, name, app_id, scopes);
    records.create_token(&token).await?;
    Ok(CreatedToken {
        id: token.id,
        name: token.name,
        app_id: token.app_id,
        scopes: token.scopes,
        token: secret,
    })
}
