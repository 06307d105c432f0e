//! Sets up observability for `warden run` from its flags: the observer on the pipeline, the
//! `/metrics` `/healthz` `/readyz` listener, the OTLP exporter and the security event stream.
//! Nothing is set up (and nothing costs) unless one of them is asked for.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use warden_audit::AuditHandle;
use warden_observe::anomaly::AnomalyConfig;
use warden_observe::events::{EventStream, Sink};
use warden_observe::trace::{TraceConfig, Tracer};
use warden_observe::{Admin, Check, Observability, ObserveConfig};

use crate::cli::ObserveArgs;

/// What `warden run` keeps of observability while it runs.
pub(crate) struct Running {
    pub(crate) observer: Arc<Observability>,
}

impl Running {
    /// Exports what is queued, waiting at most two seconds for the collector.
    pub(crate) fn shutdown(&self) {
        self.observer.shutdown(Duration::from_secs(2));
    }
}

/// Which front door is observed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Front {
    /// `warden run`: one session; not ready without it.
    Stdio,
    /// `warden serve`: any number of sessions, none needed to be ready.
    Http,
}

/// `None` when no observability flag is given (and `always` is false).
pub(crate) fn start(
    args: &ObserveArgs,
    audit: &AuditHandle,
    known_tools: &[String],
    front: Front,
    always: bool,
    params_hasher: warden_audit::keyed::KeyedHasher,
) -> anyhow::Result<Option<Running>> {
    if let Some(t) = args.metrics_token.as_deref().filter(|t| !t.is_empty()) {
        warden_observe::http::check_token(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(t),
        )?;
    }
    if !always
        && args.metrics_listen.is_none()
        && args.otlp_endpoint.is_none()
        && args.security_events.is_none()
    {
        return Ok(None);
    }
    let anomaly = (args.anomaly_window_secs > 0).then(|| AnomalyConfig {
        window: Duration::from_secs(args.anomaly_window_secs),
        denial_burst: args.anomaly_denial_burst.max(1),
        spike_factor: args.anomaly_spike_factor,
        ..AnomalyConfig::default()
    });
    let cfg = ObserveConfig {
        user_label: !args.no_user_label,
        tool_cap: args.metrics_tool_cap,
        tools: known_tools.to_vec(),
        anomaly,
        transport: if front == Front::Stdio { "pipe" } else { "tcp" },
        params_hasher: Some(params_hasher),
        ..ObserveConfig::default()
    };
    let stats = audit.clone();
    let mut o = Observability::new(cfg, Some(Arc::new(move || Some(stats.stats()))));
    if let Some(endpoint) = &args.otlp_endpoint {
        let headers = args
            .otlp_headers
            .iter()
            .map(|h| {
                h.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .filter(|(k, _)| !k.is_empty())
                    .with_context(|| format!("--otlp-header {h:?}: expected NAME=VALUE"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tracer = Tracer::start(
            TraceConfig {
                endpoint: endpoint.clone(),
                headers,
                ca_file: args.otlp_ca_file.clone(),
                queue: args.otlp_queue.max(1),
                sample_ratio: args.otlp_sample_ratio,
                ..TraceConfig::default()
            },
            o.trace_stats(),
        )?;
        o = o.with_tracer(tracer);
    }
    if let Some(path) = &args.security_events {
        let events = EventStream::start(&Sink::parse(path), o.events_dropped())
            .context("opening the security event stream")?;
        o = o.with_events(events);
    }
    let observer = Arc::new(o);
    let running = Running { observer };
    if let Some(addr) = args.metrics_listen {
        let admin = running.admin(args, audit, front, None);
        let bound = warden_observe::serve_on_thread(addr, admin)?;
        tracing::warn!("metrics on http://{bound}/metrics");
    }
    Ok(Some(running))
}

impl Running {
    /// What `/metrics`, `/healthz` and `/readyz` serve.
    /// `upstreams`: for `serve`, a check of the configured servers (why some are not reachable).
    pub(crate) fn admin(
        &self,
        args: &ObserveArgs,
        audit: &AuditHandle,
        front: Front,
        upstreams: Option<Arc<dyn Fn() -> Option<String> + Send + Sync>>,
    ) -> Admin {
        let audit = audit.clone();
        let o = Arc::downgrade(&self.observer);
        Admin {
            metrics: self.observer.metrics(),
            readiness: Arc::new(move || {
                let mut checks = vec![Check {
                    name: "audit_store",
                    problem: audit.failure(),
                }];
                if let Some(check) = &upstreams {
                    checks.push(Check {
                        name: "upstreams",
                        problem: check(),
                    });
                }
                if front == Front::Stdio {
                    checks.push(Check {
                        name: "upstream",
                        problem: (o.upgrade().map_or(0, |o| o.live_sessions()) < 1)
                            .then(|| "the server's session is not open".to_owned()),
                    });
                }
                checks
            }),
            token: args.metrics_token.clone().filter(|t| !t.is_empty()),
            hosts: warden_core::host::HostRules {
                allowed_hosts: args.metrics_allowed_hosts.clone(),
                ..Default::default()
            },
        }
    }
}
