//! `warden dashboard`: the admin plane (dashboard and query API) over a local store, for
//! people who run `warden run` from a desktop client and have no `warden serve`.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use warden_api::{AdminConfig, ApiOptions, ApiState};

use crate::cli::DashboardArgs;
use crate::paths;

/// Reads a verifier key file (note format, one key a line).
pub(crate) fn trusted_keys(path: Option<&std::path::Path>) -> anyhow::Result<Option<Vec<String>>> {
    let Some(path) = path else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading verifier key {}", path.display()))?;
    let keys: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(!keys.is_empty(), "{} holds no verifier key", path.display());
    Ok(Some(keys))
}

pub(crate) fn dashboard(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let db = args.store.db.unwrap_or_else(paths::default_db);
    // Fail early on a missing or unreadable store rather than on the first request.
    warden_audit::Store::open_read(&db)?;
    let cfg = AdminConfig {
        listen: args.listen,
        token: args.token.clone(),
        allowed_hosts: args.allowed_hosts,
        allowed_origins: args.allowed_origins,
    };
    warden_api::check_exposure(&cfg)?;
    let trusted_keys = trusted_keys(args.pubkey.as_deref())?;
    let policy: Option<warden_api::PolicySource> = match &args.policy {
        None => None,
        Some(path) => {
            let p = Arc::new(super::policy::load_for_run(path)?.policy);
            Some(Arc::new(move || Some(p.clone())))
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = warden_api::bind_admin(&cfg).await?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let state = ApiState::new(ApiOptions {
            db: db.clone(),
            token: args.token,
            trusted_keys,
            hosts: cfg.host_rules(addr),
            // No principals and no log writer here: approvals are shown, and decided on
            // `warden serve`'s admin listener or with `warden approvals`.
            approvals: None,
            decisions: None,
            // The catalog is shown here too, and decided on `warden serve` or with
            // `warden catalog`.
            catalog: None,
            catalog_roles: Vec::new(),
            policy,
        });
        let shutdown = super::serve::shutdown_signal()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "warden dashboard: http://{addr}/ (store {})",
                db.display()
            )?;
            out.flush()?;
        }
        warden_api::serve_admin(listener, state, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}
