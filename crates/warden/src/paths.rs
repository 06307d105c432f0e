//! Where warden keeps things by default: `$XDG_DATA_HOME/warden` (else `~/.local/share/warden`)
//! for the store and keys. Nothing depends on the working directory.

use std::path::PathBuf;

/// warden's data directory.
pub(crate) fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("warden")
}

pub(crate) fn default_db() -> PathBuf {
    data_dir().join("audit.db")
}

pub(crate) fn default_key_dir() -> PathBuf {
    data_dir().join("keys")
}

/// The default config file: `$XDG_CONFIG_HOME/warden/warden.yaml` (else `~/.config/...`).
pub(crate) fn default_config() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("/etc"))
        .join("warden/warden.yaml")
}
