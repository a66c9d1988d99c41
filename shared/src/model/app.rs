//! Apps: what the server knows of each app it updates.

use crate::domain::AppId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The channel devices follow when they name none.
pub const DEFAULT_CHANNEL: &str = "production";

/// An app known to the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct App {
    /// Its id.
    pub app_id: AppId,
    /// Public keys (SPKI PEM); when any are set, builds must be signed by one.
    pub public_keys: Vec<String>,
    /// The root key the app pins (SPKI PEM): when set, builds must be signed
    /// by a key the app's key set allows, and `public_keys` are not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_public_key: Option<String>,
    /// Channel used when a device names none.
    pub default_channel: String,
    /// RSA public key (SPKI PEM) whose private half signs every zip in CI,
    /// for the stock Capawesome plugin's `publicKey` check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsa_public_key: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
}
