//! A policy file or directory watched for changes (each policy file's name, modification time
//! and size, polled), and compiled on demand with every problem listed. Used by `warden run`
//! and `warden serve`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::policy_source::{self, Loaded};

/// What a look at the policy's files saw: each file with its modification time and size.
type Stamp = Vec<(PathBuf, SystemTime, u64)>;

/// The policy path, watched for changes: a file changed, or in a directory a policy file
/// added, changed or removed.
pub struct PolicyWatch {
    path: PathBuf,
    seen: Option<Stamp>,
}

impl PolicyWatch {
    pub fn new(path: &Path) -> PolicyWatch {
        let mut w = PolicyWatch {
            path: path.to_owned(),
            seen: None,
        };
        w.seen = w.stamp();
        w
    }

    /// The files as they stand; `None` while the path itself cannot be read (a file being
    /// replaced). A directory without policy files is an empty stamp: a change, which fails.
    fn stamp(&self) -> Option<Stamp> {
        let files = match policy_source::policy_files(&self.path) {
            Ok(f) => f,
            Err(_) if std::fs::metadata(&self.path).is_ok_and(|m| m.is_dir()) => Vec::new(),
            Err(_) => return None,
        };
        files
            .into_iter()
            .map(|f| {
                let m = std::fs::metadata(&f).ok()?;
                Some((f, m.modified().ok()?, m.len()))
            })
            .collect()
    }

    /// Whether the policy's files changed since the last look.
    pub fn changed(&mut self) -> bool {
        let now = self.stamp();
        if now.is_some() && now != self.seen {
            self.seen = now;
            return true;
        }
        false
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and compiles the policy: it and its files, or every problem as
    /// `FILE:LINE:COL: message`.
    pub fn compile(&self) -> Result<Loaded, Vec<String>> {
        policy_source::load(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_changes_when_a_policy_file_is_added_changed_or_removed_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.yaml"), "policies: []\n").unwrap();
        let mut w = PolicyWatch::new(d);
        assert!(!w.changed(), "nothing changed yet");
        std::fs::write(d.join("notes.txt"), "not a policy file").unwrap();
        assert!(!w.changed(), "other files are not watched");
        std::fs::write(d.join("b.yml"), "policies: []\n").unwrap();
        assert!(w.changed(), "added");
        assert!(!w.changed(), "seen once");
        std::fs::write(d.join("a.yaml"), "policies: []\n# longer\n").unwrap();
        assert!(w.changed(), "changed");
        std::fs::remove_file(d.join("b.yml")).unwrap();
        assert!(w.changed(), "removed");
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        assert!(w.changed(), "the last one removed");
        assert!(w.compile().is_err(), "an empty directory fails closed");
    }
}
