//! What git knows about a policy file: the last commit that touched it (id, author, date,
//! subject) and whether it has uncommitted changes, read by running the `git` binary with a
//! timeout. No git, no work tree, or a git that does not answer in time: nothing, never an error.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one `git` command may take before it is abandoned.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The git facts of one file in a work tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GitFacts {
    /// The last commit that touched the file; absent for a file never committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<LastCommit>,
    /// The file differs from that commit (or is untracked).
    pub uncommitted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastCommit {
    pub id: String,
    pub author_name: String,
    pub author_email: String,
    /// The author date, RFC 3339.
    pub date: String,
    pub subject: String,
}

/// The git facts of `file`, if it is in a git work tree and git answers.
pub fn facts(file: &Path) -> Option<GitFacts> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty())?;
    let name = file.file_name()?;
    let status = git(dir, &["status", "--porcelain", "--"], name)?;
    // A repository without commits yet fails `git log`: the file is just uncommitted.
    let log = git(
        dir,
        &["log", "-1", "--format=%H%x00%an%x00%ae%x00%aI%x00%s", "--"],
        name,
    )
    .unwrap_or_default();
    let mut parts = log.trim_end_matches('\n').splitn(5, '\0');
    let commit = match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some(id), Some(n), Some(e), Some(d), Some(s)) if !id.is_empty() => Some(LastCommit {
            id: id.into(),
            author_name: n.into(),
            author_email: e.into(),
            date: d.into(),
            subject: s.into(),
        }),
        _ => None,
    };
    Some(GitFacts {
        commit,
        uncommitted: !status.trim().is_empty(),
    })
}

/// Runs `git -C dir ARGS name`; its output if it succeeds in time.
fn git(dir: &Path, args: &[&str], name: &std::ffi::OsStr) -> Option<String> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .arg(name)
        // Reading must not take the index lock a concurrent `git commit` needs.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + TIMEOUT;
    // The output of these commands is one line: it fits the pipe, so waiting cannot block git.
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _killed = child.kill();
                let _reaped = child.wait();
                tracing::warn!("git did not answer in time about {}", dir.display());
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=Ann Admin",
                "-c",
                "user.email=ann@example.org",
            ])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn a_committed_file_has_its_last_commit_and_an_edit_shows_as_uncommitted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        assert_eq!(facts(&file), None, "not a work tree");
        run(dir.path(), &["init", "-q"]);
        std::fs::write(&file, "policies: []\n").unwrap();
        let untracked = facts(&file).unwrap();
        assert_eq!(untracked.commit, None);
        assert!(untracked.uncommitted);
        run(dir.path(), &["add", "a.yaml"]);
        run(dir.path(), &["commit", "-q", "-m", "first policy"]);
        let f = facts(&file).unwrap();
        let c = f.commit.unwrap();
        assert_eq!(c.author_name, "Ann Admin");
        assert_eq!(c.author_email, "ann@example.org");
        assert_eq!(c.subject, "first policy");
        assert_eq!(c.id.len(), 40);
        assert!(!f.uncommitted);
        std::fs::write(&file, "policies: []\n# edited\n").unwrap();
        assert!(facts(&file).unwrap().uncommitted);
    }
}
