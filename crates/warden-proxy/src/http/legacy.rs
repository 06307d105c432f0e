//! The deprecated HTTP+SSE transport (protocol 2024-11-05) as a front door: `GET /sse/NAME`
//! opens the session's event stream, whose first event names where to POST
//! (`/messages/NAME?session_id=ID`); every server message, responses included, arrives on the
//! stream. Upstreams: a stdio command (a child per stream) or an HTTP+SSE server, whose own
//! `endpoint` event is rewritten to come back through warden. Every message is recorded
//! before it moves, as on the other transports.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use tokio::sync::mpsc;
use warden_core::Direction;

use super::child::ChildSession;
use super::{Gateway, Step, recorded, rpc_error_response, sse, step};
use crate::pipeline::Pipeline;

/// One legacy session: where its client's POSTs go and the stream back to the client.
pub struct LegacySession {
    server: String,
    principal: Option<String>,
    pipeline: Arc<Pipeline>,
    /// Complete SSE events for the client.
    to_client: mpsc::Sender<Bytes>,
    upstream: LegacyUp,
}

enum LegacyUp {
    Child(Arc<ChildSession>),
    /// The upstream's POST endpoint (absolute), from its `endpoint` event.
    Sse {
        post_url: parking_lot::Mutex<Option<String>>,
    },
    /// A Streamable HTTP upstream, bridged: each POST goes upstream as its own request, and
    /// what comes back (and the upstream's GET stream) goes out on the client's stream.
    Bridge(Arc<super::stdio_front::Front>),
}

/// The legacy sessions of a gateway, by the id in their POST URL.
#[derive(Default)]
pub struct LegacyTable {
    map: parking_lot::Mutex<HashMap<String, Arc<LegacySession>>>,
}

impl LegacyTable {
    pub(super) fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// How many sessions `owner` (a `Call::principal`) has open.
    pub(super) fn owned_by(&self, owner: &str) -> usize {
        self.map
            .lock()
            .values()
            .filter(|s| s.principal.as_deref() == Some(owner))
            .count()
    }

    pub(super) fn pipelines(&self) -> Vec<Arc<Pipeline>> {
        self.map
            .lock()
            .values()
            .map(|s| s.pipeline.clone())
            .collect()
    }

    /// Ends every legacy session (at shutdown).
    pub(super) async fn close_all(&self, reason: &str) {
        let all: Vec<Arc<LegacySession>> = self.map.lock().drain().map(|(_, s)| s).collect();
        for s in all {
            s.close(reason).await;
        }
    }
}

impl LegacySession {
    async fn close(&self, reason: &str) {
        match &self.upstream {
            LegacyUp::Child(c) => c.close(reason).await,
            LegacyUp::Sse { .. } => {
                recorded(self.pipeline.end(reason, json!({ "reason": reason })));
            }
            LegacyUp::Bridge(f) => {
                f.end_upstream().await;
                recorded(self.pipeline.end(reason, json!({ "reason": reason })));
            }
        }
    }
}

/// Ends the session when the client's stream goes away.
struct Hangup {
    gw: Arc<Gateway>,
    id: String,
}

impl Drop for Hangup {
    fn drop(&mut self) {
        let Some(s) = self.gw.legacy.map.lock().remove(&self.id) else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { s.close("client_disconnected").await });
        }
    }
}

fn sse_response(stream: impl futures::Stream<Item = Bytes> + Send + 'static) -> Response {
    let body = stream.map(Ok::<_, std::convert::Infallible>);
    let mut r = Response::new(Body::from_stream(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub(super) async fn open_default(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    match gw.cfg.default_name().map(str::to_owned) {
        Some(name) => open(gw, name, req).await,
        None => rpc_error_response(StatusCode::NOT_FOUND, None, -32600, "no default server"),
    }
}

pub(super) async fn open_named(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    req: Request,
) -> Response {
    open(gw, server, req).await
}

/// `GET /sse/NAME`: a new legacy session.
async fn open(gw: Arc<Gateway>, server: String, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let call = match super::admit(&gw, server, &parts).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(scfg) = gw.cfg.servers.get(&call.server).cloned() else {
        return rpc_error_response(StatusCode::NOT_FOUND, None, -32600, "no such server");
    };
    if let Some(r) = gw.full(call.principal()) {
        return r;
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let pipeline = call.pipeline(&id);
    let (to_client, rx) = mpsc::channel::<Bytes>(64);
    let endpoint = format!("/messages/{}?session_id={id}", call.server);
    let first = Bytes::from(format!("event: endpoint\ndata: {endpoint}\n\n"));
    let upstream = if scfg.command.is_some() {
        // The child's messages, all of them, come to this stream.
        let (json_tx, mut json_rx) = mpsc::channel::<Bytes>(64);
        let child = match ChildSession::spawn(&call, pipeline.clone(), Some(json_tx)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(server = %call.server, "cannot start upstream: {e}");
                return rpc_error_response(
                    StatusCode::BAD_GATEWAY,
                    None,
                    -32603,
                    "upstream server could not be started",
                );
            }
        };
        let tx = to_client.clone();
        tokio::spawn(async move {
            while let Some(m) = json_rx.recv().await {
                if tx.send(sse::message_event(&m)).await.is_err() {
                    return;
                }
            }
        });
        LegacyUp::Child(child)
    } else if scfg.transport.as_deref() == Some("sse") {
        let remote = &gw.remotes[&call.server];
        let resp = remote
            .request(reqwest::Method::GET, &call.headers, None)
            .header(header::ACCEPT, "text/event-stream")
            .send()
            .await;
        let resp = match resp {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let mut out = Response::new(Body::empty());
                *out.status_mut() = r.status();
                return out;
            }
            Err(e) => {
                tracing::warn!(server = %call.server, "upstream unreachable: {e}");
                return rpc_error_response(
                    StatusCode::BAD_GATEWAY,
                    None,
                    -32603,
                    "upstream unreachable",
                );
            }
        };
        recorded(pipeline.event(
            "session_start",
            json!({ "transport": "http+sse", "upstream": "http+sse", "server": call.server,
                    "auth": call.who.as_ref().map(|w| w.method) }),
        ));
        let base = resp.url().clone();
        let session = Arc::new(LegacySession {
            server: call.server.clone(),
            principal: call.principal().map(str::to_owned),
            pipeline: pipeline.clone(),
            to_client: to_client.clone(),
            upstream: LegacyUp::Sse {
                post_url: parking_lot::Mutex::new(None),
            },
        });
        let s = session.clone();
        let on_err = gw.on_store_error;
        // The client learns where to POST only once the upstream has said where its POSTs
        // go: a client message can then never arrive before warden knows where to send it.
        let mut announce = Some(first);
        tokio::spawn(async move {
            let mut split = sse::Splitter::default();
            let mut stream = resp.bytes_stream();
            while let Some(Ok(chunk)) = stream.next().await {
                for ev in split.push(&chunk) {
                    let f = ev.fields();
                    let data = f.data.clone().unwrap_or_default();
                    if f.event.as_deref() == Some("endpoint") {
                        // Where the upstream wants POSTs; the client keeps POSTing to warden.
                        let target = base.join(String::from_utf8_lossy(&data).trim()).ok();
                        if let LegacyUp::Sse { post_url } = &s.upstream {
                            *post_url.lock() = target.map(|u| u.to_string());
                        }
                        if let Some(first) = announce.take()
                            && s.to_client.send(first).await.is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    let out = if data.iter().all(u8::is_ascii_whitespace) {
                        ev.bytes.clone()
                    } else {
                        let msg = Bytes::from(data);
                        match step(&s.pipeline, Direction::S2C, msg.clone(), on_err).await {
                            Ok(Step::Pass(b)) if b == msg => ev.bytes.clone(),
                            Ok(Step::Pass(b)) => sse::with_data(&f, &b),
                            Ok(Step::Answer(_) | Step::Drop) => continue,
                            Err(_) => return,
                        }
                    };
                    if s.to_client.send(out).await.is_err() {
                        return;
                    }
                }
            }
        });
        gw.legacy.map.lock().insert(id.clone(), session);
        return legacy_stream(gw, id, None, rx);
    } else {
        // A Streamable HTTP server behind the deprecated transport.
        let (json_tx, mut json_rx) = mpsc::channel::<Bytes>(64);
        let remote = gw.remotes[&call.server].clone();
        recorded(pipeline.event(
            "session_start",
            json!({ "transport": "http+sse", "upstream": "http", "server": call.server,
                    "auth": call.who.as_ref().map(|w| w.method) }),
        ));
        let front =
            super::stdio_front::Front::new(remote, pipeline.clone(), gw.on_store_error, json_tx);
        let tx = to_client.clone();
        tokio::spawn(async move {
            while let Some(m) = json_rx.recv().await {
                if tx.send(sse::message_event(&m)).await.is_err() {
                    return;
                }
            }
        });
        LegacyUp::Bridge(front)
    };
    let session = Arc::new(LegacySession {
        server: call.server.clone(),
        principal: call.principal().map(str::to_owned),
        pipeline,
        to_client,
        upstream,
    });
    gw.legacy.map.lock().insert(id.clone(), session);
    legacy_stream(gw, id, Some(first), rx)
}

/// The client's event stream: `first` (the `endpoint` event, unless it comes through `rx`
/// later), then whatever arrives on `rx`.
fn legacy_stream(
    gw: Arc<Gateway>,
    id: String,
    first: Option<Bytes>,
    rx: mpsc::Receiver<Bytes>,
) -> Response {
    let guard = Hangup { gw, id };
    let rest = futures::stream::unfold((rx, guard), |(mut rx, g)| async move {
        let m = rx.recv().await?;
        Some((m, (rx, g)))
    });
    sse_response(futures::stream::iter(first).chain(rest))
}

pub(super) async fn message_default(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    match gw.cfg.default_name().map(str::to_owned) {
        Some(name) => message(gw, name, req).await,
        None => rpc_error_response(StatusCode::NOT_FOUND, None, -32600, "no default server"),
    }
}

pub(super) async fn message_named(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    req: Request,
) -> Response {
    message(gw, server, req).await
}

/// `POST /messages/NAME?session_id=ID`: one client message.
async fn message(gw: Arc<Gateway>, server: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let call = match super::admit(&gw, server, &parts).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = call
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| {
            kv.strip_prefix("session_id=")
                .or_else(|| kv.strip_prefix("sessionId="))
        })
        .unwrap_or("")
        .to_owned();
    let session = gw.legacy.map.lock().get(&id).cloned();
    let Some(s) =
        session.filter(|s| s.server == call.server && s.principal.as_deref() == call.principal())
    else {
        return super::no_session();
    };
    let body = match super::read_body(&gw, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let LegacyUp::Bridge(front) = &s.upstream {
        // The bridge records the message itself, then posts it upstream. Notifications and
        // responses are delivered before the 202, so the client's next message cannot
        // overtake them; a request's answer comes later, on the stream.
        let front = front.clone();
        if super::body_info(&body).requests.is_empty() {
            front.send(body).await;
        } else {
            tokio::spawn(async move { front.send(body).await });
        }
        return accepted();
    }
    let forward = match super::step_with(
        &s.pipeline,
        Direction::C2S,
        body,
        gw.on_store_error,
        call.traceparent(),
    )
    .await
    {
        Ok(Step::Pass(b)) => b,
        Ok(Step::Answer(reply)) => {
            s.to_client.send(sse::message_event(&reply)).await.ok();
            return accepted();
        }
        Ok(Step::Drop) => return accepted(),
        Err(e) => {
            return super::store_unavailable(None, &e);
        }
    };
    match &s.upstream {
        LegacyUp::Child(c) => match c.write(&forward).await {
            Ok(()) => accepted(),
            Err(_) => rpc_error_response(
                StatusCode::BAD_GATEWAY,
                None,
                -32603,
                "upstream server is not running",
            ),
        },
        LegacyUp::Bridge(_) => accepted(),
        LegacyUp::Sse { post_url } => {
            let Some(url) = post_url.lock().clone() else {
                return rpc_error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    -32603,
                    "the upstream has not named its message endpoint yet",
                );
            };
            let remote = &gw.remotes[&call.server];
            let sent = remote
                .request_to(reqwest::Method::POST, &url, &call.headers)
                .body(forward)
                .send()
                .await;
            match sent {
                Ok(r) => {
                    let mut out = Response::new(Body::empty());
                    *out.status_mut() = r.status();
                    out
                }
                Err(_) => rpc_error_response(
                    StatusCode::BAD_GATEWAY,
                    None,
                    -32603,
                    "upstream unreachable",
                ),
            }
        }
    }
}

pub(super) fn accepted() -> Response {
    let mut r = Response::new(Body::from("Accepted"));
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}
