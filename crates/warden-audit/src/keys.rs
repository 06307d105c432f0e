//! The deployment's keys: the Ed25519 checkpoint signing key (C2SP signed-note format, the same
//! strings Go's `sumdb/note` reads), its verifier key for auditors, and the secret key of the
//! keyed argument/result hashes. Private files are created with mode 0600 in a 0700 directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use signed_note::{Signer, StandardSigner, StandardVerifier};

use crate::keyed::{KeyedHasher, hex, unhex};

const SIGNING_FILE: &str = "checkpoint.key";
const VERIFIER_FILE: &str = "checkpoint.vkey";
const HASH_FILE: &str = "hash.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid key: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "keys already exist in {0} (pass --force to replace them; old checkpoints then need the old verifier key)"
    )]
    Exists(PathBuf),
    #[error("key name {0:?} is not valid: use letters, digits, '-', '.', '_' (no spaces or '+')")]
    BadName(String),
}

/// The loaded keys of one deployment.
pub struct Keys {
    pub signer: StandardSigner,
    /// The verifier key in note format (`name+id+base64`), safe to hand to an auditor.
    pub vkey: String,
    pub hasher: KeyedHasher,
    pub dir: PathBuf,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("vkey", &self.vkey)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyError {
    let path = path.to_owned();
    move |source| KeyError::Io {
        action,
        path,
        source,
    }
}

fn write_private(path: &Path, contents: &str, force: bool) -> Result<(), KeyError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).mode(0o600);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(io("create", path))?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io("chmod", path))?;
    f.write_all(contents.as_bytes())
        .map_err(io("write", path))?;
    f.sync_all().map_err(io("sync", path))
}

/// Writes a fresh key set (hash key, signing key, verifier key) into `dir`.
fn write_key_files(dir: &Path, name: &str, overwrite: bool) -> Result<(), KeyError> {
    let (skey, vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, name);
    let mut hash_key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut hash_key);
    write_private(
        &dir.join(HASH_FILE),
        &format!("{}\n", hex(&hash_key)),
        overwrite,
    )?;
    write_private(&dir.join(SIGNING_FILE), &format!("{skey}\n"), overwrite)?;
    let vpath = dir.join(VERIFIER_FILE);
    fs::write(&vpath, format!("{vkey}\n")).map_err(io("write", &vpath))
}

/// Creates a key set at `dir` all at once: written into a private temporary directory beside
/// it, then renamed into place. Returns false if another process created `dir` first.
fn create_atomically(dir: &Path, name: &str) -> Result<bool, KeyError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io("create directory", parent))?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keys".into());
    let tmp = parent.join(format!(
        ".{base}.tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&tmp)
        .map_err(io("create directory", &tmp))?;
    let written = write_key_files(&tmp, name, false);
    let renamed =
        written.and_then(|()| fs::rename(&tmp, dir).map_err(io("rename into place", dir)));
    match renamed {
        Ok(()) => Ok(true),
        Err(e) => {
            let _removed = fs::remove_dir_all(&tmp);
            if Keys::exist(dir) { Ok(false) } else { Err(e) }
        }
    }
}

impl Keys {
    /// True if `dir` holds a signing key.
    pub fn exist(dir: &Path) -> bool {
        dir.join(SIGNING_FILE).exists()
    }

    /// Creates a new key set named `name` in `dir`.
    pub fn generate(dir: &Path, name: &str, force: bool) -> Result<Keys, KeyError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(KeyError::BadName(name.to_owned()));
        }
        if Keys::exist(dir) {
            if !force {
                return Err(KeyError::Exists(dir.to_owned()));
            }
            write_key_files(dir, name, true)?;
            return Keys::load(dir);
        }
        if !create_atomically(dir, name)? {
            return Err(KeyError::Exists(dir.to_owned()));
        }
        Keys::load(dir)
    }

    /// Loads the key set in `dir`.
    pub fn load(dir: &Path) -> Result<Keys, KeyError> {
        let spath = dir.join(SIGNING_FILE);
        let skey = fs::read_to_string(&spath).map_err(io("read", &spath))?;
        let signer = StandardSigner::new(skey.trim()).map_err(|e| KeyError::Invalid {
            path: spath.clone(),
            reason: e.to_string(),
        })?;
        let vpath = dir.join(VERIFIER_FILE);
        let vkey = fs::read_to_string(&vpath)
            .map_err(io("read", &vpath))?
            .trim()
            .to_owned();
        let verifier = StandardVerifier::new(&vkey).map_err(|e| KeyError::Invalid {
            path: vpath.clone(),
            reason: e.to_string(),
        })?;
        if signed_note::Verifier::key_id(&verifier) != signer.key_id() {
            return Err(KeyError::Invalid {
                path: vpath,
                reason: "does not match the signing key".into(),
            });
        }
        let hpath = dir.join(HASH_FILE);
        let text = fs::read_to_string(&hpath).map_err(io("read", &hpath))?;
        let hash_key: [u8; 32] = unhex(&text)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| KeyError::Invalid {
                path: hpath.clone(),
                reason: "expected 64 hex digits".into(),
            })?;
        Ok(Keys {
            signer,
            vkey,
            hasher: KeyedHasher::new(&hash_key),
            dir: dir.to_owned(),
        })
    }

    /// Loads the key set in `dir`, creating one named `name` on first use.
    ///
    /// Safe when several processes start at once with no keys yet (a desktop client launching
    /// all its servers): exactly one key set is created and every process loads that one.
    pub fn load_or_create(dir: &Path, name: &str) -> Result<Keys, KeyError> {
        if !Keys::exist(dir) {
            if !signed_note::is_key_name_valid(name) {
                return Err(KeyError::BadName(name.to_owned()));
            }
            create_atomically(dir, name)?;
        }
        Keys::load(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_load_and_modes() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("keys");
        let k = Keys::generate(&dir, "warden-test", false).unwrap();
        assert!(k.vkey.starts_with("warden-test+"));
        let mode = fs::metadata(dir.join(SIGNING_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let again = Keys::load_or_create(&dir, "ignored").unwrap();
        assert_eq!(again.vkey, k.vkey);
        assert_eq!(again.hasher.key_id(), k.hasher.key_id());
        assert!(matches!(
            Keys::generate(&dir, "warden-test", false),
            Err(KeyError::Exists(_))
        ));
        assert!(matches!(
            Keys::generate(&dir, "bad name", true),
            Err(KeyError::BadName(_))
        ));
    }

    #[test]
    fn concurrent_first_use_creates_one_key_set() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("data/keys");
        let loaded: Vec<String> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || Keys::load_or_create(&dir, "warden").unwrap().vkey)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(
            loaded.iter().all(|v| v == &loaded[0]),
            "every process uses the same key set"
        );
        let leftovers: Vec<_> = fs::read_dir(d.path().join("data")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary directories left behind");
    }
}
