//! `warden run --upstream URL`: a stdio front door for a remote Streamable HTTP server, so a
//! desktop client that only speaks stdio reaches it through warden. Each line from stdin is
//! recorded, then POSTed; JSON and SSE answers are recorded, then written to stdout one
//! message per line. Once the session is known, a GET stream carries the server's own
//! messages (resumed with `Last-Event-ID` if it drops). stdout carries MCP frames only.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc};
use warden_core::Direction;

use super::remote::Remote;
use super::{Step, body_info, recorded, sse, step};
use crate::OnStoreError;
use crate::pipeline::Pipeline;

/// The session as the upstream named it, and the protocol version negotiated.
#[derive(Default, Clone)]
struct Upstream {
    session: Option<String>,
    protocol: Option<String>,
}

/// A client session bridged to a Streamable HTTP upstream: messages in by `send`, whatever
/// the upstream answers or sends out on `out` (for stdio, or the HTTP+SSE front door).
pub(crate) struct Front {
    remote: Arc<Remote>,
    pipeline: Arc<Pipeline>,
    on_store_error: OnStoreError,
    out: mpsc::Sender<Bytes>,
    state: Mutex<Upstream>,
    get_started: std::sync::atomic::AtomicBool,
}

/// Runs the stdio front door until stdin ends; returns the exit code (0, or 1 when the
/// upstream could not be reached at all).
pub async fn run(
    remote: Arc<Remote>,
    url: &str,
    pipeline: Arc<Pipeline>,
    on_store_error: OnStoreError,
) -> i32 {
    recorded(pipeline.event(
        "session_start",
        json!({ "transport": "stdio", "upstream": "http", "url": url }),
    ));
    let (tx, mut rx) = mpsc::channel::<Bytes>(256);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(frame) = rx.recv().await {
            let line = super::one_line(&frame);
            if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                return;
            }
        }
    });
    let front = Front::new(remote, pipeline.clone(), on_store_error, tx);
    let mut stdin = BufReader::with_capacity(64 * 1024, tokio::io::stdin());
    let mut inflight = tokio::task::JoinSet::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let frame = Bytes::copy_from_slice(&line);
        if warden_core::envelope::trim_frame(&frame).is_empty() {
            continue;
        }
        let info = body_info(&frame);
        // Order is kept where it matters: initialize finishes first (later messages need the
        // session it creates), and notifications and responses (answered at once with 202)
        // go before anything read after them, so `notifications/initialized` reaches the
        // server before the requests that follow it. Only requests run side by side.
        if info.initialize || info.requests.is_empty() {
            front.send(frame).await;
        } else {
            let f = front.clone();
            inflight.spawn(async move { f.send(frame).await });
        }
        while inflight.try_join_next().is_some() {}
    }
    // stdin closed: let requests in flight finish (bounded), then end the session upstream.
    if tokio::time::timeout(Duration::from_secs(5), async {
        while inflight.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("requests still in flight after stdin closed were abandoned");
    }
    inflight.abort_all();
    front.end_upstream().await;
    recorded(pipeline.end(
        "client_closed_stdin",
        json!({ "reason": "client_closed_stdin" }),
    ));
    drop(front);
    writer.await.ok();
    0
}

impl Front {
    pub(crate) fn new(
        remote: Arc<Remote>,
        pipeline: Arc<Pipeline>,
        on_store_error: OnStoreError,
        out: mpsc::Sender<Bytes>,
    ) -> Arc<Front> {
        Arc::new(Front {
            remote,
            pipeline,
            on_store_error,
            out,
            state: Mutex::new(Upstream::default()),
            get_started: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Ends the upstream's session (DELETE), if it named one.
    pub(crate) async fn end_upstream(&self) {
        let st = self.state.lock().await.clone();
        if let Some(sid) = &st.session {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(sid) {
                h.insert(super::SESSION_HEADER, v);
            }
            self.remote
                .request(reqwest::Method::DELETE, &h, None)
                .send()
                .await
                .ok();
        }
    }

    fn headers(&self, st: &Upstream) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(v) = st
            .session
            .as_deref()
            .and_then(|s| HeaderValue::from_str(s).ok())
        {
            h.insert(super::SESSION_HEADER, v);
        }
        if let Some(v) = st
            .protocol
            .as_deref()
            .and_then(|s| HeaderValue::from_str(s).ok())
        {
            h.insert("mcp-protocol-version", v);
        }
        h
    }

    async fn deliver(&self, frame: Bytes) {
        match step(&self.pipeline, Direction::S2C, frame, self.on_store_error).await {
            Ok(Step::Pass(b)) => {
                self.out.send(b).await.ok();
            }
            Ok(Step::Answer(reply)) => {
                // A server request refused by warden: the refusal goes back upstream.
                Box::pin(self.post(reply, false)).await;
            }
            Ok(Step::Drop) => {}
            Err(e) => tracing::error!("audit record lost: {e}"),
        }
    }

    /// Records a client message and sends it upstream.
    pub(crate) async fn send(self: &Arc<Self>, frame: Bytes) {
        let forward = match step(&self.pipeline, Direction::C2S, frame, self.on_store_error).await {
            Ok(Step::Pass(b)) => b,
            Ok(Step::Answer(reply)) => {
                self.out.send(reply).await.ok();
                return;
            }
            Ok(Step::Drop) => return,
            Err(e) => {
                tracing::error!("audit record lost: {e}");
                return;
            }
        };
        self.post(forward, true).await;
        // After the session exists and the client said it is initialized, open the GET stream.
        let ready = self.state.lock().await.session.is_some();
        if ready
            && !self
                .get_started
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let me = self.clone();
            tokio::spawn(async move { me.listen().await });
        }
    }

    /// POSTs one message and delivers what comes back.
    async fn post(&self, body: Bytes, answer_errors: bool) {
        let info = body_info(&body);
        let st = self.state.lock().await.clone();
        let sent = self
            .remote
            .request(reqwest::Method::POST, &self.headers(&st), None)
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let reason = if e.is_connect() {
                    "upstream unreachable"
                } else {
                    "upstream request failed"
                };
                tracing::warn!("{reason}: {e}");
                if answer_errors {
                    self.fail(&info, reason).await;
                }
                return;
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        if info.initialize && status.is_success() {
            let mut st = self.state.lock().await;
            st.session = headers
                .get(super::SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if ctype.starts_with("text/event-stream") {
            let mut split = sse::Splitter::default();
            let mut stream = resp.bytes_stream();
            while let Some(Ok(chunk)) = stream.next().await {
                for ev in split.push(&chunk) {
                    if let Some(data) = ev.fields().data
                        && !data.iter().all(u8::is_ascii_whitespace)
                    {
                        self.learn(&data).await;
                        self.deliver(Bytes::from(data)).await;
                    }
                }
            }
            return;
        }
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                if answer_errors {
                    self.fail(&info, &format!("upstream response broke off: {e}"))
                        .await;
                }
                return;
            }
        };
        if ctype.starts_with("application/json") && !body.is_empty() {
            self.learn(&body).await;
            self.deliver(body).await;
        } else if !status.is_success() && answer_errors && !info.requests.is_empty() {
            let reason = match status {
                StatusCode::NOT_FOUND => "upstream session expired".to_owned(),
                s => format!("upstream answered HTTP {}", s.as_u16()),
            };
            self.fail(&info, &reason).await;
        }
    }

    /// Takes the negotiated protocol version from an initialize result.
    async fn learn(&self, msg: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(msg)
            && let Some(p) = v
                .get("result")
                .and_then(|r| r.get("protocolVersion"))
                .and_then(serde_json::Value::as_str)
        {
            self.state.lock().await.protocol = Some(p.to_owned());
        }
    }

    /// warden's own error answer to each request of a message that could not be delivered.
    async fn fail(&self, info: &super::BodyInfo, reason: &str) {
        for (id, raw) in info.requests.iter().zip(&info.raw_ids) {
            let reply = super::rpc_error_body(Some(raw), -32603, reason);
            recorded(
                self.pipeline
                    .gateway_answer(Some(id), &reply, -32603, reason),
            );
            self.out.send(Bytes::from(reply)).await.ok();
        }
    }

    /// The standalone GET stream, reopened (with `Last-Event-ID`) while the session lives.
    async fn listen(self: Arc<Self>) {
        let mut last_id: Option<String> = None;
        let mut pause = Duration::from_millis(500);
        loop {
            let st = self.state.lock().await.clone();
            let mut h = self.headers(&st);
            h.insert(
                header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            );
            h.remove(header::CONTENT_TYPE);
            if let Some(v) = last_id
                .as_deref()
                .and_then(|s| HeaderValue::from_str(s).ok())
            {
                h.insert("last-event-id", v);
            }
            let resp = match self
                .remote
                .request(reqwest::Method::GET, &h, None)
                .send()
                .await
            {
                Ok(r) => r,
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            // 405: the server offers no GET stream. 404: the session is gone.
            if !resp.status().is_success() {
                return;
            }
            let mut split = sse::Splitter::default();
            let mut stream = resp.bytes_stream();
            while let Some(Ok(chunk)) = stream.next().await {
                for ev in split.push(&chunk) {
                    let f = ev.fields();
                    if let Some(id) = f.id {
                        last_id = Some(id);
                    }
                    if let Some(r) = f.retry {
                        pause = Duration::from_millis(r.min(60_000));
                    }
                    if let Some(data) = f.data
                        && !data.iter().all(u8::is_ascii_whitespace)
                    {
                        self.deliver(Bytes::from(data)).await;
                    }
                }
            }
            tokio::time::sleep(pause).await;
        }
    }
}
