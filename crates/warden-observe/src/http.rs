//! The admin routes observability adds: `/metrics` (OpenMetrics text, behind an optional
//! bearer token), `/healthz` (the process is up) and `/readyz` (the store is writable and the
//! upstreams are reachable), both with JSON bodies. Every route first checks `Host` and
//! `Origin` against DNS rebinding (`warden_core::host`, 403). `routes` is mounted by `warden serve`'s
//! admin listener; `serve_on_thread` runs them alone for `warden run` on a thread of its own
//! with a current-thread runtime, so the data path never waits on it.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use warden_core::host::HostRules;
use warden_core::token::bearer_matches;

use crate::metrics::{CONTENT_TYPE, Metrics};

/// One readiness check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    /// `None` when the check passes, else why not.
    pub problem: Option<String>,
}

/// Runs the readiness checks.
pub type Readiness = Arc<dyn Fn() -> Vec<Check> + Send + Sync>;

/// What the routes serve.
#[derive(Clone)]
pub struct Admin {
    pub metrics: Arc<Metrics>,
    pub readiness: Readiness,
    /// When set, `/metrics` wants `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// The `Host` and `Origin` values the routes accept (default: loopback names only;
    /// `serve_on_thread` adds the address it binds).
    pub hosts: HostRules,
}

/// `/metrics`, `/healthz` and `/readyz`.
pub fn routes(admin: Admin) -> Router {
    let a = Arc::new(admin);
    let m = a.clone();
    let r = a.clone();
    let hosts = Arc::new(a.hosts.clone());
    Router::new()
        .route("/metrics", get(move |h: HeaderMap| metrics(m.clone(), h)))
        .route("/healthz", get(healthz))
        .route("/readyz", get(move || readyz(r.clone())))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let hosts = hosts.clone();
                async move { check_host(&hosts, req, next).await }
            },
        ))
}

/// 403 for a `Host` or `Origin` that is not this listener's.
async fn check_host(hosts: &HostRules, req: Request, next: Next) -> Response {
    if let Err(refused) = host_check(hosts, &req) {
        return json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({ "status": "forbidden", "error": refused.message() }),
        );
    }
    next.run(req).await
}

/// The Host (or, without one, the URI's authority) and Origin checks of `hosts` on `req`:
/// every HTTP listener of warden applies them alike.
pub fn host_check(hosts: &HostRules, req: &Request) -> Result<(), warden_core::host::Refusal> {
    let values = |name: header::HeaderName| -> Vec<&[u8]> {
        req.headers()
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    };
    let mut host = values(header::HOST);
    if host.is_empty()
        && let Some(a) = req.uri().authority()
    {
        host.push(a.as_str().as_bytes());
    }
    hosts.check(&host, &values(header::ORIGIN))
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
        .into_response()
}

async fn metrics(a: Arc<Admin>, h: HeaderMap) -> Response {
    let mut given = h.get_all(header::AUTHORIZATION).iter();
    let given = match (given.next(), given.next()) {
        (Some(one), None) => Some(one.as_bytes()),
        _ => None,
    };
    if let Some(token) = &a.token
        && !bearer_matches(given, token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            "unauthorized\n",
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        a.metrics.encode(),
    )
        .into_response()
}

async fn healthz() -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    )
}

async fn readyz(a: Arc<Admin>) -> Response {
    // Checks may block briefly (a TCP connect to an upstream): off the async workers.
    let checks = match tokio::task::spawn_blocking(move || (a.readiness)()).await {
        Ok(c) => c,
        Err(_) => vec![Check {
            name: "readiness",
            problem: Some("a readiness check failed to run".to_owned()),
        }],
    };
    let ready = checks.iter().all(|c| c.problem.is_none());
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": checks.iter().map(|c| serde_json::json!({
            "name": c.name,
            "ok": c.problem.is_none(),
            "problem": c.problem,
        })).collect::<Vec<_>>(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &body)
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "--metrics-listen {0} is not a loopback address: set a bearer token (--metrics-token or WARDEN_METRICS_TOKEN) to expose metrics beyond this machine"
    )]
    NeedsToken(SocketAddr),
    #[error(
        "the metrics token is too weak: {0}; use at least {min} random characters, e.g. `openssl rand -hex 32`",
        min = warden_core::token::MIN_TOKEN_LEN
    )]
    WeakToken(warden_core::token::WeakToken),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the metrics listener: {0}")]
    Start(std::io::Error),
}

/// Binds `addr` now (so a busy port is an error at start) and serves the routes on a thread
/// of its own; returns the bound address (port 0 picks a free one).
pub fn serve_on_thread(addr: SocketAddr, mut admin: Admin) -> Result<SocketAddr, ListenError> {
    check_token(addr, admin.token.as_deref())?;
    let listener = TcpListener::bind(addr).map_err(|source| ListenError::Bind { addr, source })?;
    listener.set_nonblocking(true).map_err(ListenError::Start)?;
    let bound = listener.local_addr().map_err(ListenError::Start)?;
    admin.hosts.listen = Some(bound);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ListenError::Start)?;
    std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("metrics listener: {e}");
                        return;
                    }
                };
                if let Err(e) = axum::serve(listener, routes(admin)).await {
                    tracing::error!("metrics listener stopped: {e}");
                }
            });
        })
        .map_err(ListenError::Start)?;
    Ok(bound)
}

/// Refuses a metrics listener that other hosts reach without a token, and a weak token
/// (`warden_core::token::check_strength`).
pub fn check_token(addr: SocketAddr, token: Option<&str>) -> Result<(), ListenError> {
    match token {
        None if !addr.ip().is_loopback() => Err(ListenError::NeedsToken(addr)),
        None => Ok(()),
        Some(t) => warden_core::token::check_strength(t).map_err(ListenError::WeakToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain HTTP/1.1 GET: the status line, content type and body.
    fn get(addr: SocketAddr, path: &str) -> (String, String, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.lines().next().unwrap().to_owned();
        let ctype = head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap_or("")
            .to_owned();
        (status, ctype, body.to_owned())
    }

    #[test]
    fn health_readiness_and_metrics_are_served() {
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = failing.clone();
        let admin = Admin {
            metrics: Arc::new(Metrics::new(None)),
            readiness: Arc::new(move || {
                vec![Check {
                    name: "audit_store",
                    problem: f
                        .load(std::sync::atomic::Ordering::Relaxed)
                        .then(|| "disk full".to_owned()),
                }]
            }),
            token: None,
            hosts: HostRules::default(),
        };
        let addr = serve_on_thread("127.0.0.1:0".parse().unwrap(), admin).unwrap();
        let (status, ctype, body) = get(addr, "/healthz");
        assert!(status.contains(" 200 "), "{status}");
        assert_eq!(ctype, "application/json");
        assert!(body.contains(r#""status":"ok""#));
        let (status, _, body) = get(addr, "/readyz");
        assert!(status.contains(" 200 "), "{status}");
        assert!(body.contains(r#""status":"ready""#), "{body}");
        failing.store(true, std::sync::atomic::Ordering::Relaxed);
        let (status, _, body) = get(addr, "/readyz");
        assert!(status.contains(" 503 "), "{status}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "not_ready");
        assert_eq!(v["checks"][0]["problem"], "disk full");
        let (status, ctype, body) = get(addr, "/metrics");
        assert!(status.contains(" 200 "), "{status}");
        assert_eq!(ctype, CONTENT_TYPE);
        assert!(body.ends_with("# EOF\n"));
        let (status, _, _) = get(addr, "/nope");
        assert!(status.contains(" 404 "), "{status}");
    }

    #[test]
    fn a_public_address_needs_a_token() {
        let admin = Admin {
            metrics: Arc::new(Metrics::new(None)),
            readiness: Arc::new(Vec::new),
            token: None,
            hosts: HostRules::default(),
        };
        let e = serve_on_thread("0.0.0.0:0".parse().unwrap(), admin).unwrap_err();
        assert!(matches!(e, ListenError::NeedsToken(_)));
    }
}
