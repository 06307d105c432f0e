//! `warden serve`: the Streamable HTTP front door for the servers named in the config file.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use warden_audit::{AuditEvent, SessionContext};
use warden_proxy::http::config::ServeConfig;
use warden_proxy::http::{Gateway, MakePipeline};

use super::record::Recording;
use crate::cli::{ConfigCmd, ServeArgs};
use crate::paths;

/// Every option with its default: what `warden config print-default` prints.
const DEFAULT_CONFIG: &str = include_str!("default_config.yaml");

/// Reads a config file (unknown keys and bad values are errors with line and column).
fn load(path: &std::path::Path) -> anyhow::Result<ServeConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
}

/// `warden config check | print-default`.
pub(crate) fn config(cmd: ConfigCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCmd::PrintDefault => {
            #[allow(clippy::print_stdout)]
            {
                print!("{DEFAULT_CONFIG}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Check { config } => {
            let path = config.unwrap_or_else(paths::default_config);
            let cfg = match load(&path) {
                Ok(c) => c,
                Err(e) => {
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("{e:#}");
                    }
                    return Ok(ExitCode::from(1));
                }
            };
            let mut problems = cfg.problems();
            // Build every HTTP upstream's client as `serve` will (CA file, client identity).
            problems.extend(warden_proxy::http::remote::check(&cfg.servers));
            #[allow(clippy::print_stderr)]
            for p in &problems {
                eprintln!("{}: {p}", path.display());
            }
            Ok(ExitCode::from(u8::from(!problems.is_empty())))
        }
    }
}

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let path = args.config.clone().unwrap_or_else(paths::default_config);
    let mut cfg = load(&path)?;
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    cfg.allow_unauthenticated_remote |= args.allow_unauthenticated_remote;
    let admin = admin_config(&cfg, args.admin_listen)?;
    let problems = cfg.problems();
    if !problems.is_empty() {
        anyhow::bail!("config {}:\n  {}", path.display(), problems.join("\n  "));
    }
    // With an admin listener, metrics are always on: /metrics is part of it.
    let rec = Arc::new(Recording::start(
        &args.record,
        super::observe::Front::Http,
        admin.is_some(),
    )?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("warden-http")
        .build()
        .context("starting the async runtime")?;
    // Each server's identity in the tool catalog: its URL, or its command line.
    let identities: std::collections::HashMap<String, String> = cfg
        .servers
        .iter()
        .map(|(name, s)| {
            let id = match (&s.url, &s.command) {
                (Some(url), _) => format!("url:{url}"),
                (None, Some(cmd)) => format!("stdio:{}", cmd.join(" ")),
                (None, None) => format!("name:{name}"),
            };
            (name.clone(), rec.identity(&id))
        })
        .collect();
    // Servers whose new tools the config takes otherwise than --new-tools says.
    for (name, s) in &cfg.servers {
        if s.new_tools.is_none() && s.tool_baseline.is_none() {
            continue;
        }
        let default = rec.catalog.default_intake();
        let new = match s.new_tools.as_deref() {
            None => default.new,
            Some("allow") => warden_audit::catalog::NewTools::Allow,
            Some("quarantine") => warden_audit::catalog::NewTools::Quarantine,
            Some("deny") => warden_audit::catalog::NewTools::Deny,
            Some(other) => anyhow::bail!(
                "server {name:?}: new_tools {other:?} is not one of allow, quarantine, deny"
            ),
        };
        let intake = warden_audit::catalog::Intake {
            new,
            baseline: s.tool_baseline.unwrap_or(default.baseline),
        };
        rec.catalog.set_intake(&identities[name], intake);
    }
    let make: MakePipeline = {
        let rec = rec.clone();
        Arc::new(move |server: &str, who, session: &str| {
            let (principal, roles) = match who {
                Some(w) => (Some(w.principal.clone()), w.roles.clone()),
                None => (None, Vec::new()),
            };
            let identity = identities.get(server).cloned();
            rec.pipeline(Some(server.to_owned()), identity, principal, roles)
                .with_session(session)
        })
    };
    let result: anyhow::Result<()> = rt.block_on(async {
        let gw = Gateway::new(cfg, make, rec.on_store_error).await?;
        let listener = warden_proxy::http::bind(gw.cfg.listen)
            .with_context(|| format!("cannot listen on {}", gw.cfg.listen))?;
        let addr = listener.local_addr()?;
        // Signal handlers exist before either listener is announced: a SIGTERM sent the
        // moment the address is printed must stop warden cleanly, not kill it.
        let signalled = shutdown_signal()?;
        if let Some(path) = &args.record.policy {
            tokio::spawn(watch_policy(path.clone(), rec.clone(), gw.clone()));
        }
        // One signal stops both listeners.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let admin_task = match admin {
            Some(acfg) => {
                let listener = warden_api::bind_admin(&acfg).await?;
                let at = listener.local_addr()?;
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("warden: admin on http://{at}/");
                }
                // Pending answers and webhook notices link the approvals queue here.
                rec.desk.set_dashboard(Some(format!("http://{at}")));
                // Approvals are decided here, on the desk's own store, by the gateway's own
                // principals (its API keys and JWTs); each decision is recorded in this
                // process's log as the desk records its own.
                let principals = warden_proxy::http::auth::Authenticator::new(&gw.cfg.auth)
                    .await
                    .context("the admin listener's approvers")?;
                let state = warden_api::ApiState::new(warden_api::ApiOptions {
                    db: rec.db.clone(),
                    token: acfg.token.clone(),
                    trusted_keys: None,
                    hosts: acfg.host_rules(at),
                    approvals: Some(rec.desk.store().clone()),
                    decisions: Some(warden_api::Decisions {
                        principals: Arc::new(principals),
                        record: rec.approvals_recorder(),
                    }),
                    // Catalog entries are decided here too, on the gateway's own catalog, by
                    // principals holding a catalog role.
                    catalog: Some(rec.catalog.store().clone()),
                    catalog_roles: args.catalog_roles.clone(),
                    // The catalog page shows the metadata of the policy in force.
                    policy: Some({
                        let slot = rec.policy_slot();
                        Arc::new(move || {
                            slot.read()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .clone()
                        })
                    }),
                });
                // The query API and dashboard, with /metrics /healthz /readyz beside them.
                let mut router = warden_api::router(state);
                if let Some(o) = &rec.observe {
                    let servers = gw.cfg.servers.clone();
                    let mut a = o.admin(
                        &args.record.observe,
                        &rec.writer.handle(),
                        super::observe::Front::Http,
                        Some(Arc::new(move || unreachable(&servers))),
                    );
                    if a.token.is_none() {
                        a.token = acfg.token.clone();
                    }
                    // Beside the API, /metrics /healthz /readyz answer the same Hosts.
                    a.hosts = acfg.host_rules(at);
                    router = router.merge(warden_observe::routes(a));
                }
                let mut rx = stop_rx.clone();
                Some(tokio::spawn(async move {
                    axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            rx.wait_for(|s| *s).await.ok();
                        })
                        .await
                        .context("admin listener failed")
                }))
            }
            None => None,
        };
        #[allow(clippy::print_stderr)]
        {
            eprintln!("warden: listening on http://{addr}");
        }
        let mut rx = stop_rx;
        tokio::spawn(async move {
            signalled.await;
            stop_tx.send(true).ok();
        });
        gw.serve_on(listener, async move {
            rx.wait_for(|s| *s).await.ok();
        })
        .await?;
        if let Some(t) = admin_task {
            t.await.context("admin listener")??;
        }
        Ok(())
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    let rec = Arc::into_inner(rec).context("sessions still running at shutdown")?;
    rec.finish(AuditEvent::gateway(
        "".into(),
        Arc::new(SessionContext::default()),
        "log_closed",
    ))?;
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Registers for SIGTERM and SIGINT now; the returned future ends on the first of them.
pub(crate) fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("registering for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("registering for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Reloads the policy on SIGHUP and when its files change (checked every second): the new
/// policy goes to every live session and to new ones, atomically per session. A file that
/// does not compile changes nothing. Either way one gateway record says what happened.
async fn watch_policy(path: std::path::PathBuf, rec: Arc<Recording>, gw: Arc<Gateway>) {
    let mut watch = warden_proxy::policy_watch::PolicyWatch::new(&path);
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let gateway = rec.pipeline(None, None, None, Vec::new()).with_session("");
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let signalled = match hup.as_mut() {
            Some(h) => tokio::select! {
                _ = h.recv() => true,
                _ = tick.tick() => false,
            },
            None => {
                tick.tick().await;
                false
            }
        };
        if !(watch.changed() || signalled) {
            continue;
        }
        // Git may take a moment per file: not on the runtime's threads.
        let load = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || warden_proxy::policy_source::load(&path)).await
        };
        let load = load.unwrap_or_else(|e| Err(vec![format!("loading the policy: {e}")]));
        match load {
            Ok(loaded) => {
                let policy = Arc::new(loaded.policy);
                tracing::warn!(policy = %policy.hash, "policy reloaded from {}", path.display());
                rec.set_policy(policy.clone());
                for p in gw.pipelines() {
                    p.set_policy(policy.clone());
                }
                if let Err(e) = gateway.reload_policy(policy, &path, &loaded.files) {
                    tracing::error!("cannot record the policy reload: {e}");
                }
            }
            Err(problems) => {
                tracing::error!(
                    "policy reload failed, the previous policy stays in force:\n{}",
                    problems.join("\n")
                );
                if let Err(e) = gateway.reload_failed(&problems) {
                    tracing::error!("cannot record the failed policy reload: {e}");
                }
            }
        }
    }
}

/// The admin listener, if configured (flag over config), with its token from
/// `WARDEN_ADMIN_TOKEN` or the config's `token_file`.
fn admin_config(
    cfg: &ServeConfig,
    flag: Option<std::net::SocketAddr>,
) -> anyhow::Result<Option<warden_api::AdminConfig>> {
    let section = cfg.admin.as_ref();
    let Some(listen) = flag.or(section.map(|a| a.listen)) else {
        return Ok(None);
    };
    let token = match std::env::var("WARDEN_ADMIN_TOKEN") {
        Ok(t) if !t.is_empty() => Some(t),
        _ => match section.and_then(|a| a.token_file.as_ref()) {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("admin.token_file {}", f.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        },
    };
    let a = warden_api::AdminConfig {
        listen,
        token,
        allowed_hosts: section.map(|s| s.allowed_hosts.clone()).unwrap_or_default(),
        allowed_origins: section
            .map(|s| s.allowed_origins.clone())
            .unwrap_or_default(),
    };
    warden_api::check_exposure(&a)?;
    Ok(Some(a))
}

/// Which configured servers cannot be reached now: an HTTP server that refuses a TCP
/// connection (500 ms each), a stdio server whose program is not there. `None` when all can.
fn unreachable(
    servers: &std::collections::BTreeMap<String, warden_proxy::http::config::ServerConfig>,
) -> Option<String> {
    use std::net::ToSocketAddrs;
    let mut problems = Vec::new();
    for (name, s) in servers {
        if let Some(url) = &s.url {
            let addr = s.tls.connect_to.or_else(|| {
                host_port(url)
                    .and_then(|hp| hp.to_socket_addrs().ok())
                    .and_then(|mut a| a.next())
            });
            let ok = addr.is_some_and(|a| {
                std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_millis(500))
                    .is_ok()
            });
            if !ok {
                problems.push(format!("{name}: {url} does not accept connections"));
            }
        } else if let Some(program) = s.command.as_ref().and_then(|c| c.first())
            && !program_exists(program)
        {
            problems.push(format!("{name}: {program} not found"));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Whether `program` names an executable file (a path, or a name on `PATH`).
fn program_exists(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| runnable(&dir.join(program))))
}

/// `host:port` of an http(s) URL (the scheme's port when none is given).
fn host_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let has_port = match hostport.rfind(']') {
        Some(end) => hostport[end..].contains(':'),
        None => hostport.contains(':'),
    };
    Some(if has_port {
        hostport.to_owned()
    } else {
        format!("{hostport}:{}", if scheme == "https" { 443 } else { 80 })
    })
}
