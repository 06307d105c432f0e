//! A policy's source on disk: one file, or a directory whose `*.yaml` and `*.yml` files (not
//! its subdirectories, not hidden files; sorted by name) are compiled together by
//! `PolicySet::compile_many`. Each load says which files it read, with each file's SHA-256 and,
//! in a git work tree, the last commit that touched it: what `policy_loaded` and
//! `policy_reloaded` records carry, so `warden policy history` can say who changed which rule.

use std::path::{Path, PathBuf};

use sha2::Digest;
use warden_policy::PolicySet;

use crate::policy_git::{self, GitFacts};

/// One file a policy was compiled from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceFile {
    /// The file's absolute path (not resolving symlinks).
    pub path: PathBuf,
    /// `sha256:` and the hex SHA-256 of the file's bytes.
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitFacts>,
}

/// A compiled policy and the files it came from.
#[derive(Debug)]
pub struct Loaded {
    pub policy: PolicySet,
    pub files: Vec<SourceFile>,
}

impl Loaded {
    /// What a load record says: the policy, its rule count, the (absolute) path it was loaded
    /// from, and every file.
    pub fn detail(policy: &PolicySet, source: &Path, files: &[SourceFile]) -> serde_json::Value {
        serde_json::json!({
            "policy": policy.hash,
            "rules": policy.rules().len(),
            "source": std::path::absolute(source).unwrap_or_else(|_| source.to_owned()),
            "files": files,
        })
    }
}

/// True for the name of a file a policy directory's policy is read from.
fn is_policy_file(name: &str) -> bool {
    !name.starts_with('.')
        && Path::new(name)
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml")
}

/// The files a policy path names: the file itself, or a directory's policy files sorted by name.
/// A directory without any is an error (fail closed: an empty policy would allow everything).
pub fn policy_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| is_policy_file(n)) else {
            continue;
        };
        // A symlink to a file counts; a subdirectory named like a file does not.
        if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            files.push((name.to_owned(), entry.path()));
        }
    }
    if files.is_empty() {
        return Err(format!(
            "{}: no policy files (*.yaml, *.yml) in the directory",
            path.display()
        ));
    }
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Reads and compiles the policy at `path` (a file or a directory): the policy and its files,
/// or every problem as `FILE:LINE:COL: message` (an unreadable file is a problem too).
pub fn load(path: &Path) -> Result<Loaded, Vec<String>> {
    let paths = policy_files(path).map_err(|e| vec![e])?;
    let mut texts = Vec::new();
    let mut problems = Vec::new();
    for p in &paths {
        match std::fs::read_to_string(p) {
            Ok(t) => texts.push(t),
            Err(e) => problems.push(format!("{}: cannot read: {e}", p.display())),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
    let policy = if dir {
        let names: Vec<String> = paths
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let files: Vec<(&str, &str)> = names
            .iter()
            .map(String::as_str)
            .zip(texts.iter().map(String::as_str))
            .collect();
        PolicySet::compile_many(&files).map_err(|e| {
            e.0.iter()
                .map(|p| {
                    let file = path.join(p.file.as_deref().unwrap_or_default());
                    format!("{}:{}:{}: {}", file.display(), p.line, p.column, p.message)
                })
                .collect::<Vec<_>>()
        })
    } else {
        PolicySet::compile(&texts[0]).map_err(|e| {
            e.0.iter()
                .map(|p| format!("{}:{p}", path.display()))
                .collect::<Vec<_>>()
        })
    }?;
    let files = paths
        .into_iter()
        .zip(&texts)
        .map(|(path, text)| {
            let d = sha2::Sha256::digest(text.as_bytes());
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            SourceFile {
                git: policy_git::facts(&path),
                // Absolute, so loads from different working directories compare.
                path: std::path::absolute(&path).unwrap_or(path),
                sha256: format!("sha256:{hex}"),
            }
        })
        .collect();
    Ok(Loaded { policy, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENY: &str =
        "policies:\n  - name: no-pay\n    tool_pattern: get_pay_info\n    action: deny\n";

    #[test]
    fn a_directory_compiles_its_policy_files_in_name_order_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("b.yml"), "default: deny\n").unwrap();
        std::fs::write(d.join("a.yaml"), DENY).unwrap();
        std::fs::write(d.join("notes.txt"), "not yaml: [").unwrap();
        std::fs::write(d.join(".hidden.yaml"), "not yaml: [").unwrap();
        std::fs::create_dir(d.join("sub.yaml")).unwrap();
        std::fs::write(d.join("sub.yaml/c.yaml"), "not yaml: [").unwrap();
        let l = load(d).unwrap();
        let names: Vec<_> = l
            .files
            .iter()
            .map(|f| f.path.file_name().unwrap())
            .collect();
        assert_eq!(names, ["a.yaml", "b.yml"]);
        assert_eq!(l.policy.default, warden_policy::Action::Deny);
        assert_eq!(l.policy.rules().len(), 1);
        assert_eq!(l.files[0].sha256.len(), "sha256:".len() + 64);
    }

    #[test]
    fn an_empty_directory_a_broken_file_and_an_unreadable_one_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let e = load(d).unwrap_err();
        assert!(e[0].contains("no policy files"), "{e:?}");
        std::fs::write(d.join("a.yaml"), DENY).unwrap();
        std::fs::write(
            d.join("b.yaml"),
            "policies:\n  - name: x\n    action: perhaps\n",
        )
        .unwrap();
        let e = load(d).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(&format!("{}:3:13: ", d.join("b.yaml").display())),
            "{e:?}"
        );
        std::fs::write(d.join("b.yaml"), [0xff, 0xfe]).unwrap();
        let e = load(d).unwrap_err();
        assert!(e[0].contains("b.yaml: cannot read"), "{e:?}");
    }
}
