//! Saved logins (`liveship login`): server and token per profile, in one
//! JSON file only its owner can read (mode 0600, in a 0700 directory).

use anyhow::{Context, Result};
use liveship_core::env;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";
const FILE: &str = "credentials.json";

/// One saved login.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    pub server: String,
    pub token: String,
}

/// Every saved login, by profile name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Profiles {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The directory of the credentials file.
pub fn dir() -> Option<PathBuf> {
    let var = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(env::CONFIG_DIR)
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("liveship")))
        .or_else(|| var("HOME").map(|h| h.join(".config").join("liveship")))
        .or_else(|| var("APPDATA").map(|d| d.join("liveship")))
}

/// The credentials file.
pub fn path() -> Option<PathBuf> {
    dir().map(|d| d.join(FILE))
}

/// The saved logins (none when there is no file yet).
pub fn load() -> Result<Profiles> {
    let Some(path) = path() else {
        return Ok(Profiles::default());
    };
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a liveship credentials file; fix or delete it",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profiles::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the saved logins: a new file with mode 0600, renamed over the
/// old one, so a reader never sees half a file and no other user can read it.
pub fn save(p: &Profiles) -> Result<PathBuf> {
    let dir =
        dir().context("no config directory: set HOME, XDG_CONFIG_HOME or LIVESHIP_CONFIG_DIR")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("writing in {}", dir.display()))?;
    // NamedTempFile is created with mode 0600 on Unix.
    serde_json::to_writer_pretty(&mut tmp, p).context("writing credentials")?;
    let path = dir.join(FILE);
    tmp.persist(&path)
        .with_context(|| format!("saving {}", path.display()))?;
    Ok(path)
}
