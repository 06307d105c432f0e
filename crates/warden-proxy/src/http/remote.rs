//! A Streamable HTTP upstream: a streaming reverse proxy. Status codes and MCP headers pass
//! through, `Mcp-Session-Id` is the upstream's own, SSE events are forwarded byte for byte as
//! each completes (after its message is recorded), JSON bodies are held only to be recorded.
//! The client's `Authorization` is never sent upstream unless the server is configured to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::json;
use warden_core::{Direction, RequestId};

use super::config::ServerConfig;
use super::{Call, Session, Step, Upstream, body_info, rpc_error_response, sse, step};
use crate::pipeline::Pipeline;

/// A configured HTTP upstream: its URL and a pooled client.
pub struct Remote {
    url: String,
    /// `url`, parsed once (not on every request).
    parsed: reqwest::Url,
    client: reqwest::Client,
    forward_authorization: bool,
    headers: HeaderMap,
    max_response: usize,
}

/// What warden keeps about a session with an HTTP upstream.
pub struct RemoteSession {
    remote_url: String,
    closed: AtomicBool,
}

impl RemoteSession {
    /// Records the end of the session (the upstream is told by the client's own DELETE).
    pub async fn close(&self, pipeline: &Pipeline, reason: &str) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        super::recorded(pipeline.end(
            reason,
            json!({ "reason": reason, "upstream": self.remote_url }),
        ));
    }
}

/// Headers never copied between the two connections.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "accept-encoding",
    "content-encoding",
];

impl Remote {
    pub fn new(cfg: &ServerConfig, max_response: usize) -> Result<Remote, String> {
        let url = cfg.url.clone().unwrap_or_default();
        let parsed = reqwest::Url::parse(&url).map_err(|e| format!("url {url:?}: {e}"))?;
        let client = client(cfg, &parsed)?;
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("headers.{k}: {e}"))?;
            let value = HeaderValue::from_str(v).map_err(|e| format!("headers.{k}: {e}"))?;
            headers.insert(name, value);
        }
        Ok(Remote {
            url,
            parsed: parsed.clone(),
            client,
            forward_authorization: cfg.forward_authorization,
            headers,
            max_response,
        })
    }

    /// A request upstream with the client's headers that should pass (and ours).
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        from: &HeaderMap,
        query: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut url = self.parsed.clone();
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            let joined = match url.query() {
                Some(own) => format!("{own}&{q}"),
                None => q.to_owned(),
            };
            url.set_query(Some(&joined));
        }
        self.request_url(method, url, from)
    }

    /// A request to `url` (e.g. an HTTP+SSE server's message endpoint), headers as `request`.
    pub(crate) fn request_to(
        &self,
        method: reqwest::Method,
        url: &str,
        from: &HeaderMap,
    ) -> reqwest::RequestBuilder {
        match reqwest::Url::parse(url) {
            Ok(u) => self.request_url(method, u, from),
            // An unparsable URL fails when sent, with reqwest's own error.
            Err(_) => self.client.request(method, url),
        }
    }

    fn request_url(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        from: &HeaderMap,
    ) -> reqwest::RequestBuilder {
        let mut h = HeaderMap::new();
        for (k, v) in from {
            let name = k.as_str();
            if HOP_BY_HOP.contains(&name)
                || name == "origin"
                || name == "cookie"
                || name == super::AGENT_HEADER
                || name == "x-api-key"
                || (name == "authorization" && !self.forward_authorization)
            {
                continue;
            }
            h.append(k.clone(), v.clone());
        }
        for (k, v) in &self.headers {
            h.insert(k.clone(), v.clone());
        }
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        self.client.request(method, url).headers(h)
    }
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            to.append(k.clone(), v.clone());
        }
    }
}

fn is_sse(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A client message to an HTTP upstream.
pub(super) async fn post(call: Call, body: Bytes) -> Response {
    let Some(remote) = call.gw.remotes.get(&call.server) else {
        return rpc_error_response(StatusCode::NOT_FOUND, None, -32600, "no such server");
    };
    let info = body_info(&body);
    let existing = match call.existing() {
        Err(super::NoSession) => return super::no_session(),
        Ok(s) => s,
    };
    let (pipeline, known) = match &existing {
        Some(s) => (s.pipeline.clone(), true),
        None => {
            if info.initialize
                && let Some(full) = call.gw.full(call.principal())
            {
                return full;
            }
            let id = uuid::Uuid::now_v7().to_string();
            let p = call.pipeline(&id);
            super::recorded(p.event(
                "session_start",
                json!({
                    "transport": "streamable_http", "upstream": "http", "server": call.server,
                    "url": remote.url, "auth": call.who.as_ref().map(|w| w.method),
                    "stateless": !info.initialize,
                }),
            ));
            (p, false)
        }
    };
    let on_err = call.gw.on_store_error;
    let forward =
        match super::step_with(&pipeline, Direction::C2S, body, on_err, call.traceparent()).await {
            Ok(Step::Pass(b)) => b,
            Ok(Step::Answer(reply)) => {
                if !known {
                    super::recorded(
                        pipeline.end("refused", json!({ "reason": "refused by the gateway" })),
                    );
                }
                return super::json_response(reply);
            }
            Ok(Step::Drop) => return super::legacy::accepted(),
            Err(e) => {
                return super::store_unavailable(info.raw_ids.first().map(String::as_str), &e);
            }
        };
    let sent = remote
        .request(reqwest::Method::POST, &call.headers, call.query.as_deref())
        .body(forward)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let reason = if e.is_timeout() {
                "upstream timed out"
            } else if e.is_connect() {
                "upstream unreachable"
            } else {
                "upstream request failed"
            };
            tracing::warn!(server = %call.server, "{reason}: {e}");
            let raw = info.raw_ids.first().map(String::as_str);
            let msg = format!("{reason}: server {:?}", call.server);
            let reply = super::rpc_error_body(raw, -32603, &msg);
            for id in &info.requests {
                super::recorded(pipeline.gateway_answer(Some(id), &reply, -32603, reason));
            }
            if info.requests.is_empty() {
                super::recorded(
                    pipeline.event("upstream_unreachable", json!({ "reason": reason })),
                );
            }
            if !known {
                super::recorded(pipeline.end("upstream_unreachable", json!({ "reason": reason })));
            }
            return rpc_error_response(StatusCode::BAD_GATEWAY, raw, -32603, &msg);
        }
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    // A new session: the upstream named it on the initialize response.
    let session = match existing {
        Some(s) => Some(s),
        None => match headers
            .get(super::SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            Some(upstream_id) if status.is_success() => {
                let s = Arc::new(Session {
                    id: upstream_id.to_owned(),
                    server: call.server.clone(),
                    principal: call.principal().map(str::to_owned),
                    pipeline: pipeline.clone(),
                    upstream: Upstream::Remote(Arc::new(RemoteSession {
                        remote_url: remote.url.clone(),
                        closed: AtomicBool::new(false),
                    })),
                    last_used: parking_lot::Mutex::new(std::time::Instant::now()),
                });
                call.gw.insert(s.clone());
                Some(s)
            }
            _ => None,
        },
    };
    if status == StatusCode::NOT_FOUND
        && let Some(s) = &session
        && known
    {
        // The upstream ended the session: so does warden.
        call.gw.remove(&s.id);
        super::end_session(s, "upstream_session_gone").await;
    }
    let ephemeral = session.is_none();
    let mut out = Response::new(Body::empty());
    *out.status_mut() = status;
    copy_headers(&headers, out.headers_mut());
    if is_sse(&headers) {
        let cancel = Cancel {
            remote_headers: call.headers.clone(),
            query: call.query.clone(),
            gw: call.gw.clone(),
            server: call.server.clone(),
            pipeline: pipeline.clone(),
            pending: info
                .requests
                .iter()
                .cloned()
                .zip(info.raw_ids.iter().cloned())
                .collect(),
            ephemeral,
        };
        *out.body_mut() = sse_body(resp, pipeline, on_err, Some(cancel));
    } else {
        let body = match read_limited(resp, remote.max_response).await {
            Ok(b) => b,
            Err(e) => {
                let raw = info.raw_ids.first().map(String::as_str);
                let reply = super::rpc_error_body(raw, -32603, &e);
                for id in &info.requests {
                    super::recorded(pipeline.gateway_answer(Some(id), &reply, -32603, &e));
                }
                return rpc_error_response(StatusCode::BAD_GATEWAY, raw, -32603, &e);
            }
        };
        let body = if is_json(&headers) && !body.is_empty() {
            match step(&pipeline, Direction::S2C, body, on_err).await {
                Ok(Step::Pass(b)) => b,
                Ok(Step::Answer(_) | Step::Drop) | Err(_) => Bytes::new(),
            }
        } else {
            body
        };
        if ephemeral {
            super::recorded(pipeline.end(
                "stateless_request_done",
                json!({ "status": status.as_u16() }),
            ));
        }
        *out.body_mut() = Body::from(body);
    }
    out
}

async fn read_limited(resp: reqwest::Response, max: usize) -> Result<Bytes, String> {
    // A body of known length is read in one go (no copy when it came in one piece).
    if let Some(len) = resp.content_length() {
        if len > max as u64 {
            return Err(format!(
                "upstream response larger than max_response ({max} bytes)"
            ));
        }
        return resp
            .bytes()
            .await
            .map_err(|e| format!("upstream response broke off: {e}"));
    }
    let mut stream = resp.bytes_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("upstream response broke off: {e}"))?;
        if buf.len() + chunk.len() > max {
            return Err(format!(
                "upstream response larger than max_response ({max} bytes)"
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Sent upstream for requests still unanswered when the client leaves a POST stream.
struct Cancel {
    remote_headers: HeaderMap,
    query: Option<String>,
    gw: Arc<super::Gateway>,
    server: String,
    pipeline: Arc<Pipeline>,
    pending: Vec<(RequestId, String)>,
    ephemeral: bool,
}

impl Cancel {
    fn answered(&mut self, msg: &[u8]) {
        if let Ok(env) = warden_core::parse_frame(msg) {
            for m in env.messages.iter().filter(|m| m.kind.is_response()) {
                if let Some(id) = m.id.and_then(RequestId::from_raw) {
                    self.pending.retain(|(p, _)| *p != id);
                }
            }
        }
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let ephemeral = self.ephemeral;
        let pipeline = self.pipeline.clone();
        if pending.is_empty() && !ephemeral {
            return;
        }
        let gw = self.gw.clone();
        let server = self.server.clone();
        let headers = self.remote_headers.clone();
        let query = self.query.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            for (_, raw) in pending {
                let note = super::client_gone(&raw);
                let Ok(Step::Pass(b)) =
                    step(&pipeline, Direction::C2S, note, gw.on_store_error).await
                else {
                    continue;
                };
                if let Some(remote) = gw.remotes.get(&server) {
                    let mut h = headers.clone();
                    h.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    remote
                        .request(reqwest::Method::POST, &h, query.as_deref())
                        .body(b)
                        .send()
                        .await
                        .ok();
                }
            }
            if ephemeral {
                super::recorded(pipeline.end("stateless_request_done", json!({})));
            }
        });
    }
}

/// An upstream SSE body, each event recorded before it is forwarded (exact bytes unless
/// policy rewrote its message).
fn sse_body(
    resp: reqwest::Response,
    pipeline: Arc<Pipeline>,
    on_err: crate::OnStoreError,
    cancel: Option<Cancel>,
) -> Body {
    let upstream = resp.bytes_stream();
    let state = (upstream, sse::Splitter::default(), pipeline, cancel);
    let stream = futures::stream::unfold(
        state,
        move |(mut up, mut split, p, mut cancel)| async move {
            loop {
                let chunk = match up.next().await {
                    Some(Ok(c)) => c,
                    // The upstream ended or broke off: so does this stream.
                    Some(Err(_)) | None => return None,
                };
                let mut out = Vec::new();
                for ev in split.push(&chunk) {
                    let f = ev.fields();
                    match f.data.as_deref() {
                        Some(data) if !data.iter().all(u8::is_ascii_whitespace) => {
                            let msg = Bytes::copy_from_slice(data);
                            match step(&p, Direction::S2C, msg.clone(), on_err).await {
                                Ok(Step::Pass(b)) if b == msg => out.extend_from_slice(&ev.bytes),
                                Ok(Step::Pass(b)) => out.extend_from_slice(&sse::with_data(&f, &b)),
                                // The upstream's request refused (store failing): not forwarded.
                                Ok(Step::Answer(_) | Step::Drop) => {}
                                Err(_) => return None,
                            }
                            if let Some(c) = cancel.as_mut() {
                                c.answered(&msg);
                            }
                        }
                        // Priming events, comments, `retry:`: not messages, passed as they are.
                        _ => out.extend_from_slice(&ev.bytes),
                    }
                }
                if !out.is_empty() {
                    return Some((
                        Ok::<_, std::convert::Infallible>(Bytes::from(out)),
                        (up, split, p, cancel),
                    ));
                }
            }
        },
    );
    Body::from_stream(stream)
}

/// The upstream's standalone stream (or a resumed one, with `Last-Event-ID`).
pub(super) async fn get(call: Call) -> Response {
    let Some(remote) = call.gw.remotes.get(&call.server) else {
        return rpc_error_response(StatusCode::NOT_FOUND, None, -32600, "no such server");
    };
    let session = match call.existing() {
        Err(super::NoSession) => return super::no_session(),
        Ok(s) => s,
    };
    let sent = remote
        .request(reqwest::Method::GET, &call.headers, call.query.as_deref())
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(server = %call.server, "upstream unreachable: {e}");
            if let Some(s) = &session {
                super::recorded(
                    s.pipeline
                        .event("upstream_unreachable", json!({ "reason": "GET stream" })),
                );
            }
            return rpc_error_response(
                StatusCode::BAD_GATEWAY,
                None,
                -32603,
                "upstream unreachable",
            );
        }
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut out = Response::new(Body::empty());
    *out.status_mut() = status;
    copy_headers(&headers, out.headers_mut());
    match (&session, is_sse(&headers)) {
        (Some(s), true) => {
            *out.body_mut() = sse_body(resp, s.pipeline.clone(), call.gw.on_store_error, None);
        }
        // A stream outside any session warden knows (a stateless server's): recorded in a
        // session of its own.
        (None, true) => {
            let p = call.pipeline(&uuid::Uuid::now_v7().to_string());
            super::recorded(p.event(
                "session_start",
                json!({ "transport": "streamable_http", "upstream": "http", "server": call.server,
                        "url": remote.url, "stateless": true, "stream": "get" }),
            ));
            *out.body_mut() = sse_body(resp, p, call.gw.on_store_error, None);
        }
        _ => {
            let body = read_limited(resp, remote.max_response)
                .await
                .unwrap_or_default();
            *out.body_mut() = Body::from(body);
        }
    }
    out
}

/// The client ends its session: passed upstream, then recorded.
pub(super) async fn delete(call: Call) -> Response {
    let Some(remote) = call.gw.remotes.get(&call.server) else {
        return rpc_error_response(StatusCode::NOT_FOUND, None, -32600, "no such server");
    };
    let session = match call.existing() {
        Err(super::NoSession) => return super::no_session(),
        Ok(s) => s,
    };
    let sent = remote
        .request(
            reqwest::Method::DELETE,
            &call.headers,
            call.query.as_deref(),
        )
        .send()
        .await;
    let (status, headers, body) = match sent {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            (
                status,
                headers,
                read_limited(r, 1 << 20).await.unwrap_or_default(),
            )
        }
        Err(_) => {
            return rpc_error_response(
                StatusCode::BAD_GATEWAY,
                None,
                -32603,
                "upstream unreachable",
            );
        }
    };
    if let Some(s) = session
        && status.is_success()
    {
        call.gw.remove(&s.id);
        if let Upstream::Remote(r) = &s.upstream {
            r.close(&s.pipeline, "client_deleted_session").await;
        }
    }
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    copy_headers(&headers, out.headers_mut());
    out
}

/// What stops any configured HTTP upstream's client from being built (its URL, CA file, client
/// certificate and key), one line per server: `config check` runs this so that a config it
/// accepts cannot then fail at `serve` start. It builds exactly the client `serve` builds.
pub fn check(servers: &std::collections::BTreeMap<String, ServerConfig>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, s) in servers {
        let Some(url) = &s.url else { continue };
        let built = reqwest::Url::parse(url)
            .map_err(|e| format!("url {url:?}: {e}"))
            .and_then(|parsed| client(s, &parsed));
        if let Err(e) = built {
            problems.push(format!("servers.{name}: {e}"));
        }
    }
    problems
}

/// The pooled client for one upstream: timeouts, no redirects, its CA file and client identity.
fn client(cfg: &ServerConfig, parsed: &reqwest::Url) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
        .read_timeout(Duration::from_millis(cfg.read_timeout_ms))
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &cfg.tls.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("tls.ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("tls.ca_file {}: {e}", path.display()))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let Some(cert) = &cfg.tls.client_cert {
        let mut pem =
            std::fs::read(cert).map_err(|e| format!("tls.client_cert {}: {e}", cert.display()))?;
        if let Some(key) = &cfg.tls.client_key {
            pem.push(b'\n');
            pem.extend(
                std::fs::read(key).map_err(|e| format!("tls.client_key {}: {e}", key.display()))?,
            );
        }
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("tls.client_cert {}: {}", cert.display(), chain(&e)))?;
        b = b.identity(id);
    }
    if let Some(addr) = cfg.tls.connect_to {
        let host = parsed.host_str().unwrap_or_default().to_owned();
        b = b.resolve(&host, addr);
    }
    b.build().map_err(|e| match &cfg.tls.client_cert {
        // With a client identity, the TLS layer's complaint is almost always about it.
        Some(cert) => identity_problem(cert, &chain(&e)),
        None => format!("http client: {}", chain(&e)),
    })
}

/// An error and every cause under it ("builder error" alone says nothing).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// What is wrong with a client certificate the TLS layer refused, and how to fix it.
fn identity_problem(cert: &std::path::Path, cause: &str) -> String {
    let shown = cert.display();
    if cause.contains("UnsupportedCertVersion") {
        format!(
            "tls.client_cert {shown}: the certificate is X.509 version 1 (no extensions); \
             TLS client authentication needs a version 3 certificate. Reissue it with \
             extensions, e.g. `openssl x509 -req ... -extfile <(echo \
             extendedKeyUsage=clientAuth)` ({cause})"
        )
    } else {
        format!(
            "tls.client_cert {shown}: the TLS layer refused this certificate and key as a client \
             identity (is the key the certificate's, is the certificate a valid X.509 v3 \
             certificate?): {cause}"
        )
    }
}
