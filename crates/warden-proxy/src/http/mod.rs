//! The HTTP front door of `warden serve`: Streamable HTTP (both spec eras on one endpoint per
//! named server), authentication, Origin/Host checks and body limits, and the session table.
//! Every message in either direction goes through the session's `Pipeline` before it moves.
//!
//! - [`config`]: the config file's shape.
//! - [`auth`]: API keys and JWTs to principals.
//! - [`sse`]: the SSE splitter (exact bytes per event).
//! - [`child`]: stdio upstreams, one child process per client session.
//! - [`legacy`]: the deprecated HTTP+SSE transport (`/sse`, `/messages`).
//! - [`remote`]: Streamable HTTP upstreams (a streaming reverse proxy).
//! - [`stdio_front`]: `warden run --upstream URL`, a stdio front door to an HTTP upstream.
//! - [`listen`]: the connection cap and the request-header deadline.

pub mod auth;
pub mod child;
pub mod config;
pub mod era;
pub mod legacy;
pub mod listen;
pub mod remote;
pub mod sse;
pub mod stdio_front;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warden_audit::writer::WriterGone;
use warden_core::Direction;

use crate::errors;
use crate::pipeline::{Decision, OnStoreError, Pipeline, Route};
use auth::{AuthError, Authenticator, Identity};
use config::ServeConfig;

/// Makes the pipeline of a new session: `(server name, caller, session id)`.
pub type MakePipeline = Arc<dyn Fn(&str, Option<&Identity>, &str) -> Pipeline + Send + Sync>;

/// The header naming the session (case-insensitive on the wire).
pub const SESSION_HEADER: &str = "mcp-session-id";
/// A header a client may set to name the agent behind it (recorded as the agent).
pub const AGENT_HEADER: &str = "x-warden-agent";

/// A client session: its pipeline and its upstream.
pub struct Session {
    pub id: String,
    pub server: String,
    /// Who owns the session: [`Call::principal`], the authentication method and the
    /// principal together (`api_key:alice`); `None` when authentication is off.
    pub principal: Option<String>,
    pub pipeline: Arc<Pipeline>,
    pub upstream: Upstream,
    last_used: parking_lot::Mutex<Instant>,
}

pub enum Upstream {
    Child(Arc<child::ChildSession>),
    Remote(Arc<remote::RemoteSession>),
}

impl Session {
    fn touch(&self) {
        *self.last_used.lock() = Instant::now();
    }
}

/// Shared state of the front door.
pub struct Gateway {
    pub cfg: ServeConfig,
    auth: Authenticator,
    hosts: warden_core::host::HostRules,
    make: MakePipeline,
    on_store_error: OnStoreError,
    sessions: parking_lot::Mutex<HashMap<String, Arc<Session>>>,
    remotes: HashMap<String, Arc<remote::Remote>>,
    legacy: legacy::LegacyTable,
    /// What each stdio server speaks, once a stateless request has made warden ask.
    eras: era::Eras,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("config: {0}")]
    Config(String),
    #[error(transparent)]
    Auth(#[from] auth::SetupError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

impl Gateway {
    pub async fn new(
        cfg: ServeConfig,
        make: MakePipeline,
        on_store_error: OnStoreError,
    ) -> Result<Arc<Gateway>, ServeError> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(ServeError::Config(problems.join("; ")));
        }
        let auth = Authenticator::new(&cfg.auth).await?;
        let mut remotes = HashMap::new();
        for (name, s) in &cfg.servers {
            if s.url.is_some() {
                let r = remote::Remote::new(s, cfg.max_response)
                    .map_err(|e| ServeError::Config(format!("servers.{name}: {e}")))?;
                remotes.insert(name.clone(), Arc::new(r));
            }
        }
        Ok(Arc::new(Gateway {
            hosts: cfg.host_rules(),
            cfg,
            auth,
            make,
            on_store_error,
            sessions: parking_lot::Mutex::new(HashMap::new()),
            remotes,
            legacy: legacy::LegacyTable::default(),
            eras: era::Eras::default(),
        }))
    }

    /// The router of the MCP front door.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/mcp", axum::routing::any(mcp_default))
            .route("/mcp/{server}", axum::routing::any(mcp_named))
            .route("/sse", axum::routing::get(legacy::open_default))
            .route("/sse/{server}", axum::routing::get(legacy::open_named))
            .route("/messages", axum::routing::post(legacy::message_default))
            .route(
                "/messages/{server}",
                axum::routing::post(legacy::message_named),
            )
            .route(
                "/.well-known/oauth-protected-resource",
                axum::routing::get(resource_metadata),
            )
            .route(
                "/.well-known/oauth-protected-resource/{*path}",
                axum::routing::get(resource_metadata),
            )
            .with_state(self.clone())
    }

    /// Serves until `shutdown` resolves, then ends every session (children stopped, records
    /// of abandoned exchanges written).
    pub async fn serve(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = self.cfg.listen;
        let listener = bind(addr).map_err(|source| ServeError::Listen { addr, source })?;
        self.serve_on(listener, shutdown).await
    }

    /// Serves on an already bound listener.
    pub async fn serve_on(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let reaper = tokio::spawn(reap_idle(self.clone()));
        let app = self.router();
        let limits = self.cfg.limits(open_files_limit());
        tracing::info!(
            max_connections = limits.max_connections,
            header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
            "front door limits"
        );
        // On the signal: sessions end first (their streams then end), connections get a
        // grace period to finish, and whatever still streams after it is cut.
        let stopping = Arc::new(tokio::sync::Notify::new());
        let me = self.clone();
        let notify = stopping.clone();
        let graceful = async move {
            shutdown.await;
            notify.notify_one();
            me.close_all("gateway_shutdown").await;
        };
        let server = listen::serve(listener, app, limits, graceful);
        let result = tokio::select! {
            r = server => r,
            () = async {
                stopping.notified().await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            } => {
                tracing::warn!("connections still open 5 s after shutdown began were cut");
                Ok(())
            }
        };
        reaper.abort();
        self.close_all("gateway_shutdown").await;
        result.map_err(ServeError::Io)
    }

    /// Ends every session.
    pub async fn close_all(&self, reason: &str) {
        let all: Vec<Arc<Session>> = self.sessions.lock().drain().map(|(_, s)| s).collect();
        for s in all {
            end_session(&s, reason).await;
        }
        self.legacy.close_all(reason).await;
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().get(id).cloned()
    }

    fn insert(&self, s: Arc<Session>) {
        self.sessions.lock().insert(s.id.clone(), s);
    }

    fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().remove(id)
    }

    /// The pipelines of every open session (both transports).
    pub fn pipelines(&self) -> Vec<Arc<Pipeline>> {
        let mut all: Vec<Arc<Pipeline>> = self
            .sessions
            .lock()
            .values()
            .map(|s| s.pipeline.clone())
            .collect();
        all.extend(self.legacy.pipelines());
        all
    }

    /// `Some(503 response)` when no new session may open: `max_sessions` are open, or
    /// `owner` (a [`Call::principal`]) has `max_sessions_per_principal` open.
    pub(crate) fn full(&self, owner: Option<&str>) -> Option<Response> {
        let (open, mine) = {
            let sessions = self.sessions.lock();
            let mine = owner.map_or(0, |o| {
                sessions
                    .values()
                    .filter(|s| s.principal.as_deref() == Some(o))
                    .count()
            });
            (sessions.len(), mine)
        };
        let open = open + self.legacy.len();
        let mine = mine + owner.map_or(0, |o| self.legacy.owned_by(o));
        let refuse = |what: &str| {
            rpc_error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                -32603,
                &format!("too many sessions: the gateway's {what} is reached"),
            )
        };
        if open >= self.cfg.max_sessions {
            tracing::warn!(open, "max_sessions reached: a new session was refused");
            return Some(refuse("max_sessions"));
        }
        if owner.is_some() && mine >= self.cfg.max_sessions_per_principal {
            tracing::warn!(
                mine,
                "max_sessions_per_principal reached: a new session was refused"
            );
            return Some(refuse("max_sessions_per_principal"));
        }
        None
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    fn new_pipeline(&self, server: &str, who: Option<&Identity>, id: &str) -> Pipeline {
        (self.make)(server, who, id)
    }
}

/// Reports a record that could not be queued (the audit writer has stopped): the traffic it
/// belonged to has already been answered or refused, so there is no one else to tell.
pub(crate) fn recorded<T>(r: Result<T, WriterGone>) {
    if let Err(e) = r {
        tracing::error!("audit record lost: {e}");
    }
}

/// The process's soft limit on open files, if it can be read.
fn open_files_limit() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _hard)| soft)
}

/// A listener with room for a burst of connections (tokio's default backlog of 128 drops
/// part of 1,000 clients connecting at once, who then retry a second later).
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(4096)
}

/// Ends a session: its upstream is closed and its pipeline records the end.
async fn end_session(s: &Session, reason: &str) {
    match &s.upstream {
        Upstream::Child(c) => c.close(reason).await,
        Upstream::Remote(r) => r.close(&s.pipeline, reason).await,
    }
}

async fn reap_idle(gw: Arc<Gateway>) {
    let idle = Duration::from_secs(gw.cfg.session_idle_secs.max(1));
    loop {
        tokio::time::sleep(idle.min(Duration::from_secs(30))).await;
        let stale: Vec<Arc<Session>> = {
            let mut map = gw.sessions.lock();
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, s)| s.last_used.lock().elapsed() > idle)
                .map(|(k, _)| k.clone())
                .collect();
            ids.iter().filter_map(|k| map.remove(k)).collect()
        };
        for s in stale {
            end_session(&s, "idle_timeout").await;
        }
    }
}

async fn mcp_default(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    match gw.cfg.default_name().map(str::to_owned) {
        Some(name) => mcp(gw, name, req).await,
        None => plain_error(
            StatusCode::NOT_FOUND,
            "no default server: use /mcp/<server> or set default_server",
        ),
    }
}

async fn mcp_named(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    req: Request,
) -> Response {
    mcp(gw, server, req).await
}

/// The front door's checks, in order: Host and Origin (403), who is calling (401), which
/// server (404). What passes becomes a `Call`.
pub(crate) async fn admit(
    gw: &Arc<Gateway>,
    server: String,
    parts: &http::request::Parts,
) -> Result<Call, Response> {
    if let Err(refused) = check_host_and_origin(&gw.hosts, parts) {
        return Err(rpc_error_response(
            StatusCode::FORBIDDEN,
            None,
            -32600,
            refused.message(),
        ));
    }
    let who = match gw.auth.identify(&parts.headers).await {
        Ok(who) => who,
        Err(e) => return Err(unauthorized(&gw.cfg, &parts.headers, &server, &e)),
    };
    if !gw.cfg.servers.contains_key(&server) {
        return Err(plain_error(
            StatusCode::NOT_FOUND,
            &format!("no server named {server:?}"),
        ));
    }
    Ok(Call {
        gw: gw.clone(),
        server,
        owner: who
            .as_ref()
            .map(|w| format!("{}:{}", w.method, w.principal)),
        who,
        headers: parts.headers.clone(),
        query: parts.uri.query().map(str::to_owned),
    })
}

/// One request to an MCP endpoint: front-door checks, then the upstream's handler.
async fn mcp(gw: Arc<Gateway>, server: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let call = match admit(&gw, server, &parts).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let remote = gw.cfg.servers[&call.server].url.is_some();
    match parts.method {
        Method::POST => {
            let body = match read_body(&gw, body).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Some(reason) = header_mismatch(&call.headers, &body) {
                // Decisions come from the body; headers that disagree with it are refused.
                let pipeline = match call.existing() {
                    Ok(Some(s)) => s.pipeline.clone(),
                    _ => call.pipeline(&uuid::Uuid::now_v7().to_string()),
                };
                recorded(pipeline.event(
                    "request_rejected",
                    serde_json::json!({ "reason": reason, "status": 400 }),
                ));
                let raw = body_info(&body).raw_ids.first().cloned();
                return rpc_error_response(
                    StatusCode::BAD_REQUEST,
                    raw.as_deref(),
                    -32020,
                    &format!("Header mismatch: {reason}"),
                );
            }
            if remote {
                remote::post(call, body).await
            } else {
                child::post(call, body).await
            }
        }
        Method::GET | Method::DELETE => {
            let delete = parts.method == Method::DELETE;
            match (remote, delete) {
                (true, false) => remote::get(call).await,
                (true, true) => remote::delete(call).await,
                (false, false) => child::get(call).await,
                (false, true) => child::delete(call).await,
            }
        }
        _ => {
            let mut r = plain_error(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

/// The client named a session that is not one of its own (404, per the transport spec).
pub struct NoSession;

pub(crate) fn no_session() -> Response {
    rpc_error_response(StatusCode::NOT_FOUND, None, -32001, "session not found")
}

/// What a handler needs about one request.
pub struct Call {
    pub gw: Arc<Gateway>,
    pub server: String,
    pub who: Option<Identity>,
    /// The session owner: see [`Call::principal`].
    owner: Option<String>,
    pub headers: HeaderMap,
    pub query: Option<String>,
}

impl Call {
    fn session_id(&self) -> Option<&str> {
        self.headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
    }

    /// Who owns the sessions this call opens and may use: the authentication method and the
    /// principal (`api_key:alice`, `jwt:alice`), so a JWT whose subject equals an API key's
    /// principal is someone else. `None` when authentication is off. Records carry the
    /// principal alone (`Identity::principal`).
    fn principal(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The client's session, if it names one that exists, is for this server and belongs to
    /// this caller. Anything else is "no such session" (404), never a hint that it exists.
    fn existing(&self) -> Result<Option<Arc<Session>>, NoSession> {
        let Some(id) = self.session_id() else {
            return Ok(None);
        };
        match self.gw.session(id) {
            Some(s) if s.server == self.server && s.principal.as_deref() == self.principal() => {
                s.touch();
                Ok(Some(s))
            }
            _ => Err(NoSession),
        }
    }

    fn agent(&self) -> Option<String> {
        self.headers
            .get(AGENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect())
    }

    /// A new session's pipeline, with the caller's identity on its records.
    fn pipeline(&self, id: &str) -> Arc<Pipeline> {
        let principal = self.who.as_ref().map(|w| w.principal.clone());
        Arc::new(
            self.gw
                .new_pipeline(&self.server, self.who.as_ref(), id)
                .with_identity(principal, self.agent()),
        )
    }

    /// The W3C `traceparent` the client sent, continued by the request's span.
    fn traceparent(&self) -> Option<&str> {
        self.headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
    }

    fn accepts_sse(&self) -> bool {
        self.headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/event-stream") || v.contains("*/*"))
    }
}

/// Where a message goes after its pipeline step (and, with `durability: sync`, its commit).
pub enum Step {
    /// Pass these bytes on (the original, or what policy rewrote it to).
    Pass(Bytes),
    /// Do not pass anything on; send these bytes back to the sender.
    Answer(Bytes),
    /// Neither pass on nor answer (a response to no request warden forwarded; recorded).
    Drop,
}

/// Runs one message through the pipeline; with sync durability waits for its commit.
pub async fn step(
    p: &Pipeline,
    dir: Direction,
    frame: Bytes,
    on_store_error: OnStoreError,
) -> Result<Step, WriterGone> {
    step_with(p, dir, frame, on_store_error, None).await
}

/// `step` for a client request that came with a W3C `traceparent` header.
pub async fn step_with(
    p: &Pipeline,
    dir: Direction,
    frame: Bytes,
    on_store_error: OnStoreError,
    traceparent: Option<&str>,
) -> Result<Step, WriterGone> {
    begin(p, dir, frame, traceparent)?
        .finish(p, on_store_error)
        .await
}

/// The first half of [`step`]: runs the pipeline (its records are queued, write-ahead) and
/// says where the message will go, without waiting for anything. A transport that must keep
/// reading (the stdout pump of a stdio child) calls this per message, in order, and finishes
/// the [`Pending`]s elsewhere, in the same order, so commits of messages in flight together
/// are grouped by the writer.
pub fn begin(
    p: &Pipeline,
    dir: Direction,
    frame: Bytes,
    traceparent: Option<&str>,
) -> Result<Pending, WriterGone> {
    let hints = crate::observer::FrameHints { traceparent };
    let Decision { route, ack, .. } = p.on_frame_with(dir, frame.clone(), hints)?;
    Ok(Pending {
        dir,
        frame,
        route,
        ack,
    })
}

/// A message the pipeline has decided on, not moved yet: with `durability: sync` its commit
/// may still be to come, and a held call still waits for its release.
pub struct Pending {
    dir: Direction,
    frame: Bytes,
    route: Route,
    ack: Option<crossbeam_channel::Receiver<warden_audit::writer::Ack>>,
}

impl Pending {
    /// The bytes of the message (for bounding how much waits).
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Whether the message is empty (it never is: the transports skip blank lines).
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }

    /// Waits for the message's commit (if it has one to wait for) and its release (if held),
    /// then says what to do with it.
    pub async fn finish(
        self,
        p: &Pipeline,
        on_store_error: OnStoreError,
    ) -> Result<Step, WriterGone> {
        let Pending {
            dir,
            frame,
            route,
            ack,
        } = self;
        if let Some(ack) = ack {
            // Committed already (its group's commit came first): no thread hop.
            let committed = match ack.try_recv() {
                Ok(c) => c,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    Err("audit writer stopped".into())
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    tokio::task::spawn_blocking(move || ack.recv())
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_else(|| Err("audit writer stopped".into()))
                }
            };
            if let Err(reason) = committed
                && on_store_error == OnStoreError::FailClosed
            {
                let reply = p.store_failed(&frame, &reason)?;
                return Ok(match dir {
                    Direction::C2S => Step::Answer(Bytes::from(reply)),
                    Direction::S2C => Step::Pass(Bytes::from(reply)),
                });
            }
        }
        // A held call waits here (its own request task; the session goes on), then goes on
        // as received or is answered, as its release says.
        let route = match route {
            Route::Hold(hold) => {
                let (call, release) = hold.wait().await;
                p.release(&call, &release)?
            }
            r => r,
        };
        Ok(match route {
            Route::Forward => Step::Pass(frame),
            Route::Replace(b) => Step::Pass(Bytes::from(b)),
            Route::Answer(b) => Step::Answer(Bytes::from(b)),
            Route::Drop | Route::Hold(_) => Step::Drop,
        })
    }
}

/// The first request of a body: its raw id and whether it is `initialize`.
pub(crate) struct BodyInfo {
    pub requests: Vec<warden_core::RequestId>,
    pub raw_ids: Vec<String>,
    pub initialize: bool,
    /// A request stating its protocol version in `_meta` (the 2026-07-28 stateless era).
    pub stateless: bool,
    /// The version that request states.
    pub requested_version: Option<String>,
    pub progress: Vec<(warden_core::RequestId, warden_core::RequestId)>,
    pub parsed: bool,
}

pub(crate) fn body_info(body: &[u8]) -> BodyInfo {
    let mut info = BodyInfo {
        requests: Vec::new(),
        raw_ids: Vec::new(),
        initialize: false,
        stateless: false,
        requested_version: None,
        progress: Vec::new(),
        parsed: false,
    };
    let Ok(env) = warden_core::parse_frame(body) else {
        return info;
    };
    info.parsed = true;
    for m in &env.messages {
        if m.kind != warden_core::Kind::Request {
            continue;
        }
        let Some(raw) = m.id else { continue };
        let Some(id) = warden_core::RequestId::from_raw(raw) else {
            continue;
        };
        let c = warden_core::classify(body, m, None);
        if m.method.as_deref() == Some("initialize") {
            info.initialize = true;
        } else if let Some(v) = c.protocol_version.as_deref() {
            info.stateless = true;
            info.requested_version.get_or_insert_with(|| v.to_owned());
        }
        if let Some(t) = c.progress_token {
            info.progress.push((t, id.clone()));
        }
        info.raw_ids.push(raw.get().to_owned());
        info.requests.push(id);
    }
    info
}

/// When the 2026-07-28 mirror headers (`Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version`)
/// disagree with the body they mirror, what disagrees.
fn header_mismatch(h: &HeaderMap, body: &[u8]) -> Option<&'static str> {
    let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    // Most requests mirror nothing that could disagree: no second parse for them.
    let version_in_meta = header("mcp-protocol-version").is_some()
        && memchr::memmem::find(body, b"protocolVersion").is_some();
    if header("mcp-method").is_none() && header("mcp-name").is_none() && !version_in_meta {
        return None;
    }
    let env = warden_core::parse_frame(body).ok()?;
    if env.kind == warden_core::Kind::Batch {
        return None;
    }
    let m = env.first()?;
    if let (Some(want), Some(got)) = (header("mcp-method"), m.method.as_deref())
        && want != got
    {
        return Some("Mcp-Method does not match the body's method");
    }
    let c = warden_core::classify(body, m, None);
    if let (Some(want), Some(got)) = (header("mcp-name"), c.target.as_deref())
        && want != got
    {
        return Some("Mcp-Name does not match the body");
    }
    if let (Some(want), Some(got)) = (
        header("mcp-protocol-version"),
        c.protocol_version.as_deref(),
    ) && m.method.as_deref() != Some("initialize")
        && want != got
    {
        return Some("MCP-Protocol-Version does not match _meta");
    }
    None
}

/// DNS-rebinding protection (`warden_core::host`): `Host` must name this gateway and
/// `Origin`, when present, must be this gateway or an allowed origin. An HTTP/2 request with
/// no `Host` is checked by its `:authority`.
pub fn check_host_and_origin(
    rules: &warden_core::host::HostRules,
    parts: &http::request::Parts,
) -> Result<(), warden_core::host::Refusal> {
    let mut hosts: Vec<&[u8]> = parts
        .headers
        .get_all(header::HOST)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if hosts.is_empty()
        && let Some(a) = parts.uri.authority()
    {
        hosts.push(a.as_str().as_bytes());
    }
    let origins: Vec<&[u8]> = parts
        .headers
        .get_all(header::ORIGIN)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    rules.check(&hosts, &origins)
}

/// The URL of this gateway as clients see it.
fn base_url(cfg: &ServeConfig, h: &HeaderMap) -> String {
    if let Some(u) = &cfg.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| cfg.listen.to_string(), str::to_owned);
    format!("http://{host}")
}

/// 401 with the MCP authorization spec's `WWW-Authenticate` pointing at the metadata.
fn unauthorized(cfg: &ServeConfig, h: &HeaderMap, server: &str, e: &AuthError) -> Response {
    let meta = format!(
        "{}/.well-known/oauth-protected-resource/mcp/{server}",
        base_url(cfg, h)
    );
    let mut value = format!("Bearer resource_metadata=\"{meta}\"");
    if let AuthError::Invalid(reason) = e {
        value.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{}\"",
            reason.message()
        ));
    }
    let mut r = rpc_error_response(StatusCode::UNAUTHORIZED, None, -32001, &e.to_string());
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// RFC 9728 protected-resource metadata for the gateway's endpoints.
async fn resource_metadata(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let path = req
        .uri()
        .path()
        .strip_prefix("/.well-known/oauth-protected-resource")
        .unwrap_or("");
    let resource = format!("{}{}", base_url(&gw.cfg, req.headers()), path);
    let body = serde_json::json!({
        "resource": resource,
        "authorization_servers": gw.cfg.auth.authorization_servers,
        "bearer_methods_supported": ["header"],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A JSON-RPC error as an HTTP response with `status`.
pub fn rpc_error_response(
    status: StatusCode,
    id: Option<&str>,
    code: i64,
    message: &str,
) -> Response {
    let mut r = json_response(rpc_error_body(id, code, message));
    *r.status_mut() = status;
    r
}

/// A message as one line, newline-terminated, for a stdio peer: line breaks inside JSON are
/// whitespace, so removing them keeps the message (the record keeps the bytes as received).
pub(crate) fn one_line(frame: &[u8]) -> Vec<u8> {
    let mut line: Vec<u8> = warden_core::envelope::trim_frame(frame)
        .iter()
        .copied()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    line.push(b'\n');
    line
}

/// The `notifications/cancelled` warden sends upstream for a request (raw JSON id) whose
/// client went away.
pub(crate) fn client_gone(raw_id: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{raw_id},"reason":"client disconnected"}}}}"#
    ))
}

/// The bytes of a JSON-RPC error (`id` raw JSON, or null).
pub fn rpc_error_body(id: Option<&str>, code: i64, message: &str) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":{code},"message":{}}}}}"#,
        id.unwrap_or("null"),
        serde_json::Value::from(message)
    )
    .into_bytes()
}

/// The request body, up to `max_body` (else 413 with a JSON-RPC error), within
/// `body_read_timeout_ms` (else 408: a client trickling a body cannot hold a connection).
pub(crate) async fn read_body(gw: &Gateway, body: Body) -> Result<Bytes, Response> {
    let limit = Duration::from_millis(gw.cfg.body_read_timeout_ms);
    match tokio::time::timeout(limit, axum::body::to_bytes(body, gw.cfg.max_body)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(rpc_error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            -32600,
            &format!(
                "request body larger than the gateway's limit of {} bytes",
                gw.cfg.max_body
            ),
        )),
        Err(_) => {
            let mut r = rpc_error_response(
                StatusCode::REQUEST_TIMEOUT,
                None,
                -32600,
                "request body not received within the gateway's body_read_timeout_ms",
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(r)
        }
    }
}

/// A JSON body (warden's own answer, e.g. a refusal) with status 200.
pub(crate) fn json_response(body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 503: the audit store stopped taking records, so nothing moves.
pub(crate) fn store_unavailable(id: Option<&str>, e: &WriterGone) -> Response {
    rpc_error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        id,
        errors::AUDIT_STORE_UNAVAILABLE,
        &format!("audit store unavailable: {e}"),
    )
}

/// 400: only `initialize` (or a stateless request) may come without a session.
pub(crate) fn session_required() -> Response {
    rpc_error_response(
        StatusCode::BAD_REQUEST,
        None,
        -32600,
        "Bad Request: Mcp-Session-Id header is required (initialize first)",
    )
}

fn plain_error(status: StatusCode, message: &str) -> Response {
    rpc_error_response(status, None, -32600, message)
}
