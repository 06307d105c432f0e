//! A policy file watched for changes (modification time and size, polled), and compiled
//! on demand with every problem listed. Used by `warden run` and `warden serve`.

/// The policy file, watched for changes (by modification time and size, polled each second).
pub struct PolicyWatch {
    path: std::path::PathBuf,
    seen: Option<(std::time::SystemTime, u64)>,
}

impl PolicyWatch {
    pub fn new(path: &std::path::Path) -> PolicyWatch {
        let mut w = PolicyWatch {
            path: path.to_owned(),
            seen: None,
        };
        w.seen = w.stamp();
        w
    }

    fn stamp(&self) -> Option<(std::time::SystemTime, u64)> {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    /// Whether the file changed since the last look.
    pub fn changed(&mut self) -> bool {
        let now = self.stamp();
        if now.is_some() && now != self.seen {
            self.seen = now;
            return true;
        }
        false
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Reads and compiles the file: the policy, or every problem as `FILE:LINE:COL: message`.
    pub fn compile(&self) -> Result<warden_policy::PolicySet, Vec<String>> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| vec![format!("{}: cannot read: {e}", self.path.display())])?;
        warden_policy::PolicySet::compile(&text).map_err(|e| {
            e.0.iter()
                .map(|p| format!("{}:{p}", self.path.display()))
                .collect()
        })
    }
}
