//! The real path of a path on the host warden runs on (symlinks followed), for policy
//! conditions with `resolve_symlinks: true`. The only file-system access policy decisions make.
//!
//! A path that exists resolves as the kernel walks it (`std::fs::canonicalize`: every
//! symlink followed, `..` applied after the link it follows). A path that does not exist yet (a
//! write target) resolves through its nearest existing ancestor: the ancestor's real path, then
//! the missing components appended (and `..` among them applied lexically, as it would be once
//! they exist as plain directories). Fails closed (`None`) on anything else: a relative path, a
//! NUL byte, a dangling symlink (writing through it creates its target, wherever that is),
//! permission denied, a loop, a name too long, a file used as a directory.
//!
//! What this cannot see: a change between this check and the server's use (a symlink created
//! in between, a race the caller cannot close); a server on another host or in another mount
//! namespace or container (its file system is not this one).

use std::io::ErrorKind;
use std::path::Path;

/// Paths longer than this are not resolved (Linux's `PATH_MAX`; longer ones fail in the
/// kernel anyway).
const MAX_LEN: usize = 4096;

/// The real path of the absolute `path` on this host, or `None` if it cannot be told (see the
/// module docs). Never panics.
pub fn real_path(path: &str) -> Option<String> {
    if !path.starts_with('/') || path.contains('\0') || path.len() > MAX_LEN {
        return None;
    }
    let mut head = path.trim_end_matches('/');
    if head.is_empty() {
        return Some("/".to_owned());
    }
    // Missing components, last first.
    let mut tail: Vec<&str> = Vec::new();
    loop {
        match std::fs::canonicalize(Path::new(head)) {
            Ok(real) => {
                let mut out = real.to_str()?.to_owned();
                for c in tail.iter().rev() {
                    if !out.ends_with('/') {
                        out.push('/');
                    }
                    out.push_str(c);
                }
                return Some(out);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // The last component exists but does not resolve: a dangling symlink.
                if std::fs::symlink_metadata(Path::new(head)).is_ok() {
                    return None;
                }
                let (parent, last) = head.rsplit_once('/')?;
                if !last.is_empty() {
                    tail.push(last);
                }
                head = parent.trim_end_matches('/');
                if head.is_empty() {
                    // `/` always exists; only reached if canonicalize("/") failed oddly.
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _removed = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn resolves_links_missing_targets_and_fails_closed() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = Scratch(
            std::env::temp_dir().join(format!("warden-realpath-{}-{nanos}", std::process::id())),
        );
        std::fs::create_dir_all(&dir.0).unwrap();
        let root = dir.0.canonicalize().unwrap();
        let r = |p: &Path| real_path(p.to_str().unwrap());
        let allowed = root.join("allowed");
        let secret = root.join("secret");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&secret).unwrap();
        std::fs::write(secret.join("s.txt"), "x").unwrap();
        std::os::unix::fs::symlink(&secret, allowed.join("link")).unwrap();
        std::os::unix::fs::symlink(secret.join("new.txt"), allowed.join("dangling")).unwrap();
        std::os::unix::fs::symlink(allowed.join("loop"), allowed.join("loop")).unwrap();
        let s = |p: &Path| Some(p.to_str().unwrap().to_owned());

        assert_eq!(r(&allowed.join("link/s.txt")), s(&secret.join("s.txt")));
        // A write target that does not exist: its nearest existing ancestor decides.
        assert_eq!(
            r(&allowed.join("link/new/deeper.txt")),
            s(&secret.join("new/deeper.txt"))
        );
        assert_eq!(r(&allowed.join("new.txt")), s(&allowed.join("new.txt")));
        // `..` after a link is the parent of its target, as the kernel walks it.
        assert_eq!(r(&allowed.join("link/..")), s(&root));
        assert_eq!(r(&allowed.join("x/../y")), s(&allowed.join("x/../y")));
        // Fails closed.
        assert_eq!(r(&allowed.join("dangling")), None);
        assert_eq!(r(&allowed.join("dangling/x")), None);
        assert_eq!(r(&allowed.join("loop")), None);
        assert_eq!(
            r(&secret.join("s.txt/x")),
            None,
            "a file used as a directory"
        );
        assert_eq!(real_path("relative/x"), None);
        assert_eq!(real_path("/tmp/a\0b"), None);
        assert_eq!(real_path(&format!("/{}", "a/".repeat(3000))), None);
        assert_eq!(real_path("/"), Some("/".to_owned()));
        assert_eq!(real_path("///"), Some("/".to_owned()));
        assert_eq!(real_path(""), None);
    }
}
