//! `warden witness`: a C2SP `tlog-witness` for warden logs (or any log signing C2SP
//! checkpoints with Ed25519): `keygen` makes its cosignature key, `serve` runs it over HTTP
//! with the logs its config trusts (docs/witness.md).
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use warden_audit::witness::core::{TrustedLog, Witness};
use warden_audit::witness::cosign::Cosigner;

use crate::cli::{WitnessCmd, WitnessServeArgs};

/// The config file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessConfig {
    /// The cosignature key file (`warden witness keygen`).
    #[serde(default)]
    key: Option<PathBuf>,
    /// The state database (SQLite).
    #[serde(default)]
    state: Option<PathBuf>,
    /// Where to listen (default 127.0.0.1:7380).
    #[serde(default)]
    listen: Option<std::net::SocketAddr>,
    /// The logs it cosigns for.
    logs: Vec<TrustedLog>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:7380";

pub(crate) fn witness(cmd: WitnessCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        WitnessCmd::Keygen { name, key } => {
            let c = Cosigner::generate(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            write_private(&key, &format!("{}\n", c.skey()))?;
            println!("{}", c.vkey());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCmd::Serve(args) => serve(args),
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Resolves a path of the config relative to the config's directory.
fn beside(config: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        config.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn serve(args: WitnessServeArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let cfg: WitnessConfig = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("config {}: {e}", args.config.display()))?;
    let key = args
        .key
        .or_else(|| cfg.key.map(|k| beside(&args.config, k)))
        .context("no cosignature key: give `key:` in the config or --key (make one with `warden witness keygen`)")?;
    let state = args
        .state
        .or_else(|| cfg.state.map(|s| beside(&args.config, s)))
        .context("no state database: give `state:` in the config or --state")?;
    let listen = match args.listen.or(cfg.listen) {
        Some(a) => a,
        None => DEFAULT_LISTEN.parse()?,
    };
    if !listen.ip().is_loopback() && !args.allow_remote {
        anyhow::bail!(
            "{listen} is not a loopback address: pass --allow-remote to accept submissions from the network \
             (the protocol is unauthenticated; only correctly signed, consistent checkpoints are cosigned)"
        );
    }
    anyhow::ensure!(
        !cfg.logs.is_empty(),
        "config {}: `logs` is empty",
        args.config.display()
    );
    let skey =
        std::fs::read_to_string(&key).with_context(|| format!("reading {}", key.display()))?;
    let cosigner =
        Cosigner::from_skey(&skey).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
    let witness = Arc::new(Witness::new(cfg.logs, cosigner, &state)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let addr = listener.local_addr()?;
        let hosts = warden_core::host::HostRules {
            listen: Some(addr),
            allowed_hosts: args.allowed_hosts,
            ..Default::default()
        };
        {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "warden witness: http://{addr}/add-checkpoint (key {})",
                witness.vkey()
            )?;
            out.flush()?;
        }
        let app = super::witness_http::routes(witness, hosts);
        let shutdown = super::serve::shutdown_signal()?;
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving")
    })?;
    Ok(ExitCode::SUCCESS)
}
