//! The store's files are private to their owner: the database, its `-wal` and `-shm` are mode
//! 0600 whatever the umask, and directories made for it are 0700 (they hold redacted arguments
//! and results).

use std::path::Path;

/// Creates `dir` and its missing parents, each new one mode 0700 (umask can only narrow it).
pub(crate) fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates the store file if it is missing, mode 0600, and narrows it and an existing `-wal`
/// or `-shm` to 0600 (a umask can leave a new file wider or narrower than asked). SQLite
/// gives the `-wal` and `-shm` it creates later the database file's mode.
pub(crate) fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let narrow = |f: &std::fs::File| -> std::io::Result<()> {
            let mode = f.metadata()?.permissions().mode() & 0o777;
            if mode == 0o600 {
                return Ok(());
            }
            match f.set_permissions(std::fs::Permissions::from_mode(0o600)) {
                // Another user's existing store: theirs to set; said, not fatal.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    tracing::warn!(
                        "audit store {} has mode {mode:o} and cannot be narrowed to 0600: {e}",
                        path.display()
                    );
                    Ok(())
                }
                other => other,
            }
        };
        let db = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        narrow(&db)?;
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            match std::fs::OpenOptions::new().read(true).open(&p) {
                Ok(f) => narrow(&f)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    #[cfg(not(unix))]
    let _unused = path;
    Ok(())
}
