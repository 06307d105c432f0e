//! `warden run`: the stdio front door.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use warden_audit::AuditEvent;
use warden_proxy::StdioConfig;

use super::record::Recording;
use crate::cli::RunArgs;

/// The local user's name: `$USER`, else `$LOGNAME`, else the OS account of our real uid
/// (a service or `env -i` often has neither variable).
pub(crate) fn local_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|n| !n.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let rec = Recording::start(&args.record, super::observe::Front::Stdio, false)?;
    // The principal of a stdio session is the local user, unless told otherwise.
    let principal = args.principal.clone().or_else(local_user);
    // The server's identity in the tool catalog: its URL, or its command line.
    let identity = rec.identity(&match &args.upstream {
        Some(url) => format!("url:{url}"),
        None => format!("stdio:{}", args.command.join(" ")),
    });
    let pipeline = Arc::new(rec.pipeline(
        args.server_name.clone(),
        Some(identity),
        principal,
        args.roles.clone(),
    ));
    if let Some(url) = &args.upstream {
        let code = remote(&args, url, &pipeline, &rec);
        rec.finish(AuditEvent::gateway(
            pipeline.session().into(),
            pipeline.context(),
            "log_closed",
        ))?;
        return Ok(ExitCode::from(u8::try_from(code?).unwrap_or(1)));
    }
    let result = warden_proxy::run(
        StdioConfig {
            command: args.command,
            shell: args.shell,
            grace: Duration::from_millis(args.grace_ms),
            max_frame: args.max_frame.max(1024),
            on_store_error: rec.on_store_error,
            policy_file: args.record.policy.clone(),
        },
        pipeline.clone(),
    );
    rec.finish(AuditEvent::gateway(
        pipeline.session().into(),
        pipeline.context(),
        "log_closed",
    ))?;
    let result = result?;
    Ok(ExitCode::from(u8::try_from(result.exit_code).unwrap_or(1)))
}

/// `--upstream URL`: stdio on this side, Streamable HTTP to the server.
fn remote(
    args: &RunArgs,
    url: &str,
    pipeline: &Arc<warden_proxy::Pipeline>,
    rec: &Recording,
) -> anyhow::Result<i32> {
    use anyhow::Context;
    let mut headers = serde_json::Map::new();
    for h in &args.upstream_headers {
        let (k, v) = h
            .split_once('=')
            .with_context(|| format!("--upstream-header {h:?}: NAME=VALUE expected"))?;
        headers.insert(k.trim().to_owned(), v.trim().into());
    }
    let cfg: warden_proxy::http::config::ServerConfig =
        serde_json::from_value(serde_json::json!({
            "url": url,
            "headers": headers,
            "tls": { "ca_file": args.upstream_ca },
        }))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        anyhow::bail!("--upstream {url:?}: an http:// or https:// URL expected");
    }
    let remote = warden_proxy::http::remote::Remote::new(&cfg, 64 << 20)
        .map_err(|e| anyhow::anyhow!("--upstream: {e}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let code = rt.block_on(warden_proxy::http::stdio_front::run(
        Arc::new(remote),
        url,
        pipeline.clone(),
        rec.on_store_error,
    ));
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(code)
}
