//! `warden keys`: the checkpoint signing key and the hash key.

use std::process::ExitCode;

use warden_audit::Keys;

use crate::cli::KeysCmd;
use crate::paths;

#[allow(clippy::print_stdout)]
pub(crate) fn keys(cmd: KeysCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCmd::Generate { keys, name, force } => {
            let dir = keys.key_dir.unwrap_or_else(paths::default_key_dir);
            let k = Keys::generate(&dir, &name, force)?;
            println!("created keys in {}", dir.display());
            println!("verifier key (give this to auditors): {}", k.vkey);
        }
        KeysCmd::Export { keys } => {
            let dir = keys.key_dir.unwrap_or_else(paths::default_key_dir);
            let k = Keys::load(&dir)?;
            println!("{}", k.vkey);
        }
    }
    Ok(ExitCode::SUCCESS)
}
