//! Anchors: copies of a log's checkpoints kept outside its store (`--anchor DIR` or FILE), so
//! that a store cut behind, or rewritten under, a checkpoint it once had is caught even
//! without a witness. A directory keeps `<log id>.checkpoint` per log, each holding the
//! newest checkpoint of that log (it covers all before it); a file keeps the newest
//! checkpoint of the one log writing to it. Each write is atomic (a private temporary file,
//! mode 0600, synced, then renamed over the old one).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tlog_tiles::tree_hash;

use crate::checkpoint;
use crate::store::{Store, StoreError};

const SUFFIX: &str = "checkpoint";

/// Where checkpoints are anchored.
#[derive(Clone, Debug)]
pub struct Anchor {
    path: PathBuf,
    dir: bool,
}

impl Anchor {
    /// A directory (an existing one, or a path ending in `/`, created mode 0700), else a file.
    pub fn new(path: &Path) -> std::io::Result<Anchor> {
        let dir = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
        if dir {
            crate::private::create_dir(path)?;
        } else if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::private::create_dir(parent)?;
        }
        Ok(Anchor {
            path: path.to_owned(),
            dir,
        })
    }

    /// Replaces the anchored checkpoint of `log_id` with `note`.
    pub fn write(&self, log_id: &str, note: &str) -> std::io::Result<()> {
        let target = if self.dir {
            self.path.join(format!("{log_id}.{SUFFIX}"))
        } else {
            self.path.clone()
        };
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(format!(
            ".tmp-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let tmp = PathBuf::from(tmp);
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(note.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)
        })();
        if written.is_err() {
            let _removed = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// The anchored checkpoints at `path`: every `*.checkpoint` of a directory, or the file.
pub fn read(path: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    if path.is_dir() {
        for e in std::fs::read_dir(path)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == SUFFIX) {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_owned());
    }
    files
        .into_iter()
        .map(|p| std::fs::read_to_string(&p).map(|t| (p, t)))
        .collect()
}

/// What one anchored checkpoint says of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The store has this checkpoint (same size and root).
    Matched { origin: String, size: u64 },
    /// The store's records reproduce the anchored root, though it no longer has (or never
    /// committed) that checkpoint row.
    Covered { origin: String, size: u64 },
    /// The store's log is shorter than the anchored checkpoint.
    Truncated {
        origin: String,
        anchored: u64,
        present: u64,
    },
    /// The store's records at that size give another root.
    Rewritten { origin: String, size: u64 },
    /// No log of the store has that origin.
    Missing { origin: String },
    /// The anchored file is not a checkpoint signed by the log's key.
    Unsigned { reason: String },
}

impl Finding {
    pub fn ok(&self) -> bool {
        matches!(self, Finding::Matched { .. } | Finding::Covered { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Matched { origin, size } => write!(
                f,
                "{origin}: the store has the anchored checkpoint at size {size}"
            ),
            Finding::Covered { origin, size } => write!(
                f,
                "{origin}: the store's records reproduce the anchored root at size {size}"
            ),
            Finding::Truncated {
                origin,
                anchored,
                present,
            } => write!(
                f,
                "truncated: {origin}: an anchored checkpoint covers {anchored} records but the store holds {present}"
            ),
            Finding::Rewritten { origin, size } => write!(
                f,
                "rewritten: {origin}: the store's records at size {size} do not give the anchored root"
            ),
            Finding::Missing { origin } => write!(
                f,
                "deleted: the store has no log {origin}, though it is anchored"
            ),
            Finding::Unsigned { reason } => write!(f, "forged anchor: {reason}"),
        }
    }
}

/// Checks each anchored checkpoint against the store. `trusted`: the verifier keys to open
/// them with (default: the log's registered key).
pub fn check(
    store: &Store,
    anchors: &[(PathBuf, String)],
    trusted: Option<&[String]>,
) -> Result<Vec<Finding>, StoreError> {
    let _snapshot = store.snapshot()?;
    let logs = store.logs()?;
    let mut out = Vec::new();
    for (path, note) in anchors {
        let Ok(peeked) = checkpoint::peek(note) else {
            out.push(Finding::Unsigned {
                reason: format!("{} is not a checkpoint", path.display()),
            });
            continue;
        };
        let origin = peeked.origin.clone();
        let Some(log) = logs.iter().find(|l| l.origin == origin) else {
            out.push(Finding::Missing { origin });
            continue;
        };
        let keys: Vec<String> = trusted.map_or_else(|| vec![log.vkey.clone()], <[String]>::to_vec);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let cp = match checkpoint::open(note, &keys) {
            Ok(cp) => cp,
            Err(e) => {
                out.push(Finding::Unsigned {
                    reason: format!("{}: {e}", path.display()),
                });
                continue;
            }
        };
        let present: u64 = store
            .conn()
            .query_row(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM records WHERE log_id = ?1",
                [&log.log_id],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|source| StoreError::Sqlite {
                path: store.path().to_owned(),
                source,
            })? as u64;
        // Archived records left the store; the tree edge kept for them stands for them.
        let archived = store.archived(&log.log_id)?.map_or(0, |a| a.end);
        let present = present.max(archived);
        if present < cp.size {
            out.push(Finding::Truncated {
                origin,
                anchored: cp.size,
                present,
            });
            continue;
        }
        if cp.size < archived {
            // Inside the archived range the store holds that checkpoint, not the hashes to
            // recompute it (`verify --archive` checks the checkpoint against the records).
            let same = store
                .checkpoints(&log.log_id)?
                .iter()
                .any(|c| c.0 == cp.size && checkpoint::peek(&c.2).is_ok_and(|v| v.root == cp.root));
            out.push(if same {
                Finding::Matched {
                    origin,
                    size: cp.size,
                }
            } else {
                Finding::Rewritten {
                    origin,
                    size: cp.size,
                }
            });
            continue;
        }
        match tree_hash(cp.size, &store.hash_reader(&log.log_id)) {
            Ok(root) if root == cp.root => {
                let has = store
                    .checkpoints(&log.log_id)?
                    .iter()
                    .any(|c| c.0 == cp.size);
                out.push(if has {
                    Finding::Matched {
                        origin,
                        size: cp.size,
                    }
                } else {
                    Finding::Covered {
                        origin,
                        size: cp.size,
                    }
                });
            }
            _ => out.push(Finding::Rewritten {
                origin,
                size: cp.size,
            }),
        }
    }
    Ok(out)
}
