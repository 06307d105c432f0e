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
///
/// An existing file is never opened here, only changed by path: closing a descriptor of a
/// file drops every POSIX lock this process holds on it, SQLite's included. A second store
/// opened in a process that already has the database open (a witness submitter, a catalog)
/// would otherwise release the first connection's locks on the `-shm`, another process
/// would then take it for unused and reset it, and this process would die of SIGBUS on its
/// mapping.
pub(crate) fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let narrow = |p: &Path| -> std::io::Result<()> {
            let mode = match std::fs::metadata(p) {
                Ok(m) => m.permissions().mode() & 0o777,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            if mode == 0o600 {
                return Ok(());
            }
            match std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)) {
                // Another user's existing store: theirs to set; said, not fatal.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    tracing::warn!(
                        "audit store {} has mode {mode:o} and cannot be narrowed to 0600: {e}",
                        p.display()
                    );
                    Ok(())
                }
                other => other,
            }
        };
        // A new file is made 0600 from the start (nobody can open it wider meanwhile); only
        // a file this call created is opened, and it is closed before SQLite opens it.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_created) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        narrow(path)?;
        for suffix in ["-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            narrow(Path::new(&p))?;
        }
    }
    #[cfg(not(unix))]
    let _unused = path;
    Ok(())
}
