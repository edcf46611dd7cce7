//! Files written whole or not at all: to `PATH.partial` first, then renamed over
//! `PATH`, so no reader ever sees half a model, report or picture, and a run that
//! stops leaves at most a `.partial` file behind.

use crate::error::{FerError, Result};
use std::path::{Path, PathBuf};

/// `path` with `.partial` appended, in the same folder (so a rename is atomic).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Write `bytes` to `path` atomically and durably: to [`tmp_path`] first, flushed to
/// the disk, then renamed (and the rename flushed where the system allows). Without
/// the flush, a crash soon after could leave `path` renamed but empty.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_tmp(path, bytes, true)
}

/// [`write_atomic`] without the flushes (about 2 ms a file here): for outputs made
/// by the thousand that a rerun makes again, such as `fer batch --annotate` pictures.
/// Other programs never see a half-written file; only a crash can lose it.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_tmp(path, bytes, false)
}

fn write_via_tmp(path: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    use std::io::Write;
    let tmp = tmp_path(path);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        Ok(())
    });
    if let Err(e) = written {
        // Half written, it is of no use, and on a full disk it holds space.
        let _ = std::fs::remove_file(&tmp);
        return Err(FerError::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| FerError::io(path, e))?;
    if sync {
        // The rename lives in the folder; not every system can sync a folder
        // (and the file is whole either way), so a failure here is not an error.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Ok(d) = std::fs::File::open(dir.unwrap_or(Path::new("."))) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
