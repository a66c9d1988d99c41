//! Small file-system helpers shared by the CLI and the server.

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, created with `mode` (Unix permissions) from the start, then
/// renamed over `path`. Readers never see a half-written file, and a secret
/// is never readable by others, not even for a moment. With `overwrite`
/// false, an existing `path` is an `AlreadyExists` error and is left as is.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".liveship-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if overwrite {
        tmp.persist(path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_modes_and_clobbering() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("k.pem");
        write_atomic(&p, b"one", 0o600, false).unwrap();
        let err = write_atomic(&p, b"two", 0o600, false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"three", 0o600, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let leftovers = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }
}
