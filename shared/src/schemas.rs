//! OpenAPI schemas of the string newtypes, stating the same rules their
//! constructors enforce (docs/rules.md), so that a schema-valid value is a
//! value the API accepts. Derived structs pick these up through `ToSchema`.

use crate::domain::{AppId, BuildVersion, MAX_APP_ID};
use crate::hash::Sha256Digest;
use crate::keys::KeyId;
use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// The app-id rule of [`crate::domain::check_app_id`] as a pattern.
pub const APP_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]*$";
/// The version rule of [`BuildVersion::new`], reserved names excluded.
pub const VERSION_PATTERN: &str =
    "^(?![Bb][Uu][Ii][Ll][Tt][Ii][Nn]$|[Uu][Nn][Kk][Nn][Oo][Ww][Nn]$)[A-Za-z0-9][A-Za-z0-9._+-]*$";
/// Lowercase hex SHA-256.
pub const SHA256_PATTERN: &str = "^[0-9a-f]{64}$";
/// Channel names.
pub const CHANNEL_PATTERN: &str = "^([A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\\.\\.[A-Za-z0-9._-]{1,62})$";

pub(crate) fn string(pattern: &str, min: usize, max: usize, what: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .pattern(Some(pattern))
        .min_length(Some(min))
        .max_length(Some(max))
        .description(Some(what))
        .into()
}

macro_rules! string_schema {
    ($t:ty, $name:literal, $pattern:expr, $min:expr, $max:expr, $what:literal) => {
        impl PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                string($pattern, $min, $max, $what)
            }
        }
        impl ToSchema for $t {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

string_schema!(
    AppId,
    "AppId",
    APP_ID_PATTERN,
    1,
    MAX_APP_ID,
    "An app id (docs/rules.md)"
);
string_schema!(
    BuildVersion,
    "BuildVersion",
    VERSION_PATTERN,
    1,
    64,
    "A build version label"
);
string_schema!(
    Sha256Digest,
    "Sha256",
    SHA256_PATTERN,
    64,
    64,
    "Lowercase hex SHA-256"
);
string_schema!(
    KeyId,
    "KeyId",
    SHA256_PATTERN,
    64,
    64,
    "Lowercase hex SHA-256 of the key's SPKI DER"
);

/// `public_keys`: SPKI PEM texts.
pub(crate) fn public_keys() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(string(
            "^-----BEGIN PUBLIC KEY-----",
            1,
            4096,
            "An Ed25519 public key as SPKI PEM",
        ))
        .build()
}
