//! A stdio upstream behind the HTTP front door: one child process per client session (its
//! state is the session's), spawned on `initialize` (or per request for stateless 2026-07-28
//! requests). Messages from the child go to the POST stream of the request they answer or
//! belong to (by id or progress token), else the newest open POST stream, else the GET
//! stream, else a bounded backlog the next GET stream receives first. A session is pipelined:
//! its requests share the child's stdin (`stdin`) and the stdout pump reads on while earlier
//! responses wait for their commit.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout};
use tokio::sync::mpsc;
use warden_core::{Direction, Kind, RequestId};

use super::{Call, Pending, Session, Step, Upstream, body_info, rpc_error_response, sse, step};
use crate::pipeline::Pipeline;

mod resume;
mod stdin;
use resume::PostStream;
use stdin::Stdin;

/// Messages held for a GET stream that is not open yet: at most this many…
const BACKLOG: usize = 1024;
/// …and at most this many bytes (the oldest go first).
const BACKLOG_BYTES: usize = 8 << 20;
/// Events sent on GET streams kept for replay after `Last-Event-ID`, by count and bytes.
const REPLAY: usize = 1024;
const REPLAY_BYTES: usize = 8 << 20;
/// Bytes of the child's messages read and decided on but not yet delivered (waiting for their
/// commit, or for an earlier one's): past this the pump stops reading until they move on.
const IN_FLIGHT_BYTES: usize = 16 << 20;

/// One open POST stream, waiting for the responses to its requests.
struct Waiter {
    tx: mpsc::Sender<Bytes>,
    /// Whether the client reads an SSE stream (else it waits for one JSON response).
    sse: bool,
    opened: u64,
    /// The events of an SSE stream, kept for resumption (set once the stream exists).
    post: parking_lot::Mutex<Option<Arc<PostStream>>>,
}

impl Waiter {
    /// Whether a client is reading this stream now (so unrelated messages may go to it).
    fn read(&self) -> bool {
        match &*self.post.lock() {
            Some(p) => p.is_read(),
            None => !self.tx.is_closed(),
        }
    }
}

#[derive(Default)]
struct Routes {
    waiting: HashMap<RequestId, Arc<Waiter>>,
    progress: HashMap<RequestId, RequestId>,
    /// The GET stream: complete SSE events with ids (in the HTTP+SSE mode: bare messages).
    get: Option<mpsc::Sender<Bytes>>,
    /// Messages for a GET stream while none is open.
    backlog: VecDeque<Bytes>,
    backlog_bytes: usize,
    /// The last events sent to GET streams, by id, for `Last-Event-ID` resumption.
    replay: VecDeque<(u64, Bytes)>,
    replay_bytes: usize,
    last_event: u64,
    /// SSE POST streams that a client may still resume, by stream number.
    posts: HashMap<u64, Arc<PostStream>>,
}

impl Routes {
    /// The next GET stream event for `msg`, kept for replay.
    fn get_event(&mut self, msg: &[u8]) -> Bytes {
        self.last_event += 1;
        let ev = sse::message_event_with_id(self.last_event, msg);
        self.replay_bytes += ev.len();
        self.replay.push_back((self.last_event, ev.clone()));
        while self.replay.len() > REPLAY || self.replay_bytes > REPLAY_BYTES {
            match self.replay.pop_front() {
                Some((_, old)) => self.replay_bytes -= old.len(),
                None => break,
            }
        }
        ev
    }
}

/// The child process of one session.
pub struct ChildSession {
    pipeline: Arc<Pipeline>,
    stdin: Stdin,
    child: tokio::sync::Mutex<Option<Child>>,
    routes: parking_lot::Mutex<Routes>,
    /// Every message goes to the one stream (`routes.get`): the HTTP+SSE transport.
    legacy: bool,
    opened: AtomicU64,
    closed: AtomicBool,
    on_store_error: crate::OnStoreError,
}

impl ChildSession {
    /// Spawns the server command of `call.server` for a new session.
    /// With `all_to`, every message of the child goes there (the HTTP+SSE front door's one
    /// stream); otherwise messages are routed to the POST and GET streams of Streamable HTTP.
    pub(super) async fn spawn(
        call: &Call,
        pipeline: Arc<Pipeline>,
        all_to: Option<mpsc::Sender<Bytes>>,
    ) -> Result<Arc<ChildSession>, String> {
        let scfg = &call.gw.cfg.servers[&call.server];
        let argv = scfg.command.clone().unwrap_or_default();
        let Some((program, args)) = argv.split_first() else {
            return Err("empty command".into());
        };
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(&scfg.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &scfg.cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let name = std::path::Path::new(program)
            .file_name()
            .map(|n| pipeline.scrub(&n.to_string_lossy()));
        super::recorded(pipeline.event(
            "session_start",
            json!({
                "transport": if all_to.is_some() { "http+sse" } else { "streamable_http" },
                "upstream": "stdio", "server": call.server,
                "command": name, "args": args.len(), "pid": child.id(),
                "auth": call.who.as_ref().map(|w| w.method),
            }),
        ));
        let s = Arc::new(ChildSession {
            pipeline,
            stdin: Stdin::new(stdin),
            child: tokio::sync::Mutex::new(Some(child)),
            legacy: all_to.is_some(),
            routes: parking_lot::Mutex::new(Routes {
                get: all_to,
                ..Routes::default()
            }),
            opened: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            on_store_error: call.gw.on_store_error,
        });
        if let Some(out) = stdout {
            let max = call.gw.cfg.max_response;
            let gw = Arc::downgrade(&call.gw);
            let me = s.clone();
            let id = me.pipeline.session().to_owned();
            tokio::spawn(async move {
                me.pump(out, max).await;
                // The child is gone: the session ends with it.
                if let Some(gw) = gw.upgrade() {
                    gw.remove(&id);
                }
                me.close("server_exited").await;
            });
        }
        Ok(s)
    }

    /// Reads the child's stdout, one message per line, and routes each. Two halves run
    /// together: the reader runs the pipeline on each line as it comes (so the pipeline sees
    /// the server's order) and queues what it decided; the releaser finishes each in that
    /// order (with `durability: sync`, waits for its commit) and delivers it. The reader reads
    /// on meanwhile, so responses in flight together share a commit; at most
    /// `IN_FLIGHT_BYTES` wait, then the reader waits for the releaser.
    async fn pump(&self, out: ChildStdout, max: usize) {
        let room = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_BYTES));
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = self.read(out, max, tx, room);
        let releaser = self.release(rx);
        tokio::pin!(reader, releaser);
        tokio::select! {
            // The child's output ended: what was read is still delivered.
            () = &mut reader => releaser.await,
            // The audit writer stopped: nothing more moves.
            () = &mut releaser => {}
        }
    }

    /// The pump's reader: each line through the pipeline, queued for the releaser.
    async fn read(
        &self,
        out: ChildStdout,
        max: usize,
        tx: mpsc::UnboundedSender<(Pending, tokio::sync::OwnedSemaphorePermit)>,
        room: Arc<tokio::sync::Semaphore>,
    ) {
        let mut r = BufReader::with_capacity(64 * 1024, out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut r)
                .take(max as u64 + 1)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line.len() > max && !line.ends_with(b"\n") {
                // Longer than a response may be: recorded as oversized, the rest skipped.
                let prefix = Bytes::copy_from_slice(&line[..line.len().min(64 * 1024)]);
                super::recorded(self.pipeline.oversized(Direction::S2C, prefix, max));
                let mut skip = Vec::new();
                if r.read_until(b'\n', &mut skip).await.unwrap_or(0) == 0 {
                    return;
                }
                continue;
            }
            let frame = Bytes::copy_from_slice(&line);
            if warden_core::envelope::trim_frame(&frame).is_empty() {
                continue;
            }
            let want = frame.len().clamp(1, IN_FLIGHT_BYTES) as u32;
            let Ok(permit) = room.clone().acquire_many_owned(want).await else {
                return;
            };
            let Ok(pending) = super::begin(&self.pipeline, Direction::S2C, frame, None) else {
                return; // the audit writer stopped
            };
            if tx.send((pending, permit)).is_err() {
                return; // the releaser stopped
            }
        }
    }

    /// The pump's releaser: the reader's messages, each once committed, in the order read.
    async fn release(
        &self,
        mut rx: mpsc::UnboundedReceiver<(Pending, tokio::sync::OwnedSemaphorePermit)>,
    ) {
        while let Some((pending, permit)) = rx.recv().await {
            let step = pending.finish(&self.pipeline, self.on_store_error).await;
            drop(permit);
            match step {
                Ok(Step::Pass(bytes)) => self.route(bytes).await,
                Ok(Step::Answer(reply)) => {
                    self.write(&reply).await.ok();
                }
                Ok(Step::Drop) => {}
                Err(_) => return,
            }
        }
    }

    /// Sends a message from the child to the stream it belongs on.
    async fn route(&self, msg: Bytes) {
        if self.legacy {
            let tx = self.routes.lock().get.clone();
            if let Some(tx) = tx {
                tx.send(msg).await.ok();
            }
            return;
        }
        let (tx, keep) = {
            let mut routes = self.routes.lock();
            let env = warden_core::parse_frame(&msg).ok();
            let first = env.as_ref().and_then(|e| e.first());
            let kind = first.map(|m| m.kind);
            let id = first.and_then(|m| m.id).and_then(RequestId::from_raw);
            let mut target: Option<mpsc::Sender<Bytes>> = None;
            if let (Some(k), Some(id)) = (kind, &id)
                && k.is_response()
                && env.as_ref().is_some_and(|e| e.kind != Kind::Batch)
            {
                // A response closes its request's slot (the stream ends with its last one).
                match routes.waiting.remove(id) {
                    Some(w) => {
                        routes.progress.retain(|_, r| r != id);
                        target = Some(w.tx.clone());
                    }
                    None => return, // its stream is gone (recorded already)
                }
            }
            // A batch of responses (the answer to a 2025-03-26 batch): it closes every slot
            // it answers and goes, whole, to the stream of the first.
            if let Some(e) = env.as_ref().filter(|e| e.kind == Kind::Batch)
                && e.messages.iter().all(|m| m.kind.is_response())
            {
                for m in &e.messages {
                    let Some(id) = m.id.and_then(RequestId::from_raw) else {
                        continue;
                    };
                    if let Some(w) = routes.waiting.remove(&id) {
                        routes.progress.retain(|_, r| *r != id);
                        target = target.or(Some(w.tx.clone()));
                    }
                }
                if target.is_none() {
                    return;
                }
            }
            if target.is_none()
                && let Some(m) = first
                && m.kind == Kind::Notification
            {
                let c = warden_core::classify(&msg, m, None);
                if let Some(req) = c
                    .progress_token
                    .and_then(|t| routes.progress.get(&t).cloned())
                    && let Some(w) = routes.waiting.get(&req)
                {
                    target = Some(w.tx.clone());
                }
            }
            if target.is_none() {
                // Unrelated (or unknown relation): the newest open SSE POST stream, else GET.
                target = routes
                    .waiting
                    .values()
                    .filter(|w| w.sse && w.read())
                    .max_by_key(|w| w.opened)
                    .map(|w| w.tx.clone())
                    .or_else(|| routes.get.clone().filter(|g| !g.is_closed()));
            }
            let to_get = target
                .as_ref()
                .is_some_and(|t| routes.get.as_ref().is_some_and(|g| g.same_channel(t)));
            match target {
                Some(tx) if to_get => {
                    let ev = routes.get_event(&msg);
                    (Some((tx, ev)), None)
                }
                Some(tx) => (Some((tx, msg.clone())), None),
                None => {
                    routes.backlog_bytes += msg.len();
                    routes.backlog.push_back(msg.clone());
                    while routes.backlog.len() > BACKLOG || routes.backlog_bytes > BACKLOG_BYTES {
                        match routes.backlog.pop_front() {
                            Some(old) => routes.backlog_bytes -= old.len(),
                            None => break,
                        }
                    }
                    (None, Some(()))
                }
            }
        };
        if let (Some((tx, bytes)), None) = (tx, keep) {
            tx.send(bytes).await.ok();
        }
    }

    /// Writes one message to the child as one line (with the lines of other requests queued
    /// meanwhile: see `stdin`).
    pub(super) async fn write(&self, msg: &[u8]) -> std::io::Result<()> {
        self.stdin.write(&super::one_line(msg)).await
    }

    /// Ends the session: stdin closed, a grace period, then the process group is killed.
    pub async fn close(&self, reason: &str) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.stdin.close().await;
        let mut exit = None;
        if let Some(mut child) = self.child.lock().await.take() {
            exit = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                Ok(Ok(status)) => Some(status),
                _ => {
                    if let Some(pid) = child.id() {
                        nix::sys::signal::killpg(
                            nix::unistd::Pid::from_raw(pid as i32),
                            nix::sys::signal::Signal::SIGKILL,
                        )
                        .ok();
                    }
                    child.wait().await.ok()
                }
            };
        }
        let waiting: Vec<(RequestId, Arc<Waiter>)> = {
            let mut routes = self.routes.lock();
            routes.get = None;
            routes.waiting.drain().collect()
        };
        // Requests the server can no longer answer get warden's answer (and their exchanges
        // close as gateway_error) rather than a stream that just ends.
        for (id, w) in waiting {
            let raw = match &id {
                RequestId::Num(n) => n.clone(),
                RequestId::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
            };
            let why = format!("upstream server stopped ({reason})");
            let reply = super::rpc_error_body(Some(&raw), -32603, &why);
            super::recorded(
                self.pipeline
                    .gateway_answer(Some(&id), &reply, -32603, &why),
            );
            w.tx.try_send(Bytes::from(reply)).ok();
        }
        super::recorded(self.pipeline.end(
            reason,
            json!({ "reason": reason, "exit_code": exit.and_then(|s| s.code()) }),
        ));
    }

    /// Sends warden's own request to the child (recorded like a client's) and waits up to
    /// `wait` for its answer. `None` if there is none in time or it could not be sent.
    pub(super) async fn ask(
        &self,
        method: &str,
        params: serde_json::Value,
        wait: Duration,
    ) -> Option<serde_json::Value> {
        let id = format!("warden-{}", uuid::Uuid::new_v4().simple());
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let rid = RequestId::Str(id);
        let (mut rx, _) = self.open(std::slice::from_ref(&rid), &[], false);
        let sent = match step(
            &self.pipeline,
            Direction::C2S,
            Bytes::from(msg.to_string()),
            self.on_store_error,
        )
        .await
        {
            Ok(Step::Pass(b)) => self.write(&b).await.is_ok(),
            _ => false,
        };
        let answer = if sent {
            tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
        } else {
            None
        };
        if answer.is_none() {
            self.routes.lock().waiting.remove(&rid);
        }
        serde_json::from_slice(&answer?).ok()
    }

    /// Opens a slot for each request of a POST, before the body reaches the child.
    fn open(
        &self,
        ids: &[RequestId],
        progress: &[(RequestId, RequestId)],
        sse: bool,
    ) -> (mpsc::Receiver<Bytes>, Arc<Waiter>) {
        let (tx, rx) = mpsc::channel(64);
        let w = Arc::new(Waiter {
            tx,
            sse,
            opened: self.opened.fetch_add(1, Ordering::Relaxed),
            post: parking_lot::Mutex::new(None),
        });
        let mut routes = self.routes.lock();
        // An id already waiting belongs to a request in flight: the pipeline refuses the new
        // one, and the old one keeps its stream (a response reaches only its own request).
        for id in ids {
            routes
                .waiting
                .entry(id.clone())
                .or_insert_with(|| w.clone());
        }
        for (token, id) in progress {
            routes
                .progress
                .entry(token.clone())
                .or_insert_with(|| id.clone());
        }
        (rx, w)
    }

    /// The requests of a stream the client stopped reading: cancelled upstream, recorded.
    /// Cancels upstream the requests of a stream that are still waiting on it (`owner`, the
    /// stream's waiter). A slot the same id holds for a later request (a client may reuse an
    /// id once it is answered) belongs to that request and is left alone.
    async fn abandon(&self, ids: Vec<(RequestId, String)>, owner: &std::sync::Weak<Waiter>) {
        for (id, raw) in ids {
            let still = {
                let mut routes = self.routes.lock();
                let mine = routes
                    .waiting
                    .get(&id)
                    .is_some_and(|w| std::ptr::eq(Arc::as_ptr(w), owner.as_ptr()));
                mine && routes.waiting.remove(&id).is_some()
            };
            if !still || self.closed.load(Ordering::SeqCst) {
                continue;
            }
            let note = super::client_gone(&raw);
            if let Ok(Step::Pass(b)) =
                step(&self.pipeline, Direction::C2S, note, self.on_store_error).await
            {
                self.write(&b).await.ok();
            }
        }
    }
}

/// A client message to a stdio upstream.
pub(super) async fn post(call: Call, body: Bytes) -> Response {
    let info = body_info(&body);
    let (session, fresh, ephemeral) = match call.existing() {
        Err(super::NoSession) => return super::no_session(),
        Ok(Some(s)) => (s, false, false),
        Ok(None) if info.initialize || info.stateless => {
            if let Some(r) = call.gw.full(call.principal()) {
                return r;
            }
            let legacy_known = match call.gw.eras.get(&call.server) {
                Some(super::era::Era::Legacy { supported }) if !info.initialize => Some(supported),
                _ => None,
            };
            if let Some(supported) = legacy_known {
                // Known not to speak 2026-07-28: no child is started for it.
                let pipeline = call.pipeline(&uuid::Uuid::new_v4().simple().to_string());
                super::recorded(pipeline.event(
                    "session_start",
                    json!({ "transport": "streamable_http", "upstream": "stdio",
                            "server": call.server, "stateless": true }),
                ));
                let r = super::era::refuse(&call, &pipeline, body, &info, &supported).await;
                super::recorded(pipeline.end(
                    "legacy_server",
                    json!({ "reason": "the server does not implement the requested protocol version" }),
                ));
                return r;
            }
            let id = uuid::Uuid::new_v4().simple().to_string();
            let pipeline = call.pipeline(&id);
            let child = match ChildSession::spawn(&call, pipeline.clone(), None).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(server = %call.server, "cannot start upstream: {e}");
                    return rpc_error_response(
                        StatusCode::BAD_GATEWAY,
                        info.raw_ids.first().map(String::as_str),
                        -32603,
                        &format!("upstream server {:?} could not be started", call.server),
                    );
                }
            };
            let wait = Duration::from_millis(call.gw.cfg.era_probe_ms);
            if !info.initialize
                && let super::era::Era::Legacy { supported } =
                    super::era::era_of(&call.gw.eras, &call.server, &child, &pipeline, wait).await
            {
                let r = super::era::refuse(&call, &pipeline, body, &info, &supported).await;
                child.close("legacy_server").await;
                return r;
            }
            let s = Arc::new(Session {
                id: id.clone(),
                server: call.server.clone(),
                principal: call.principal().map(str::to_owned),
                pipeline,
                upstream: Upstream::Child(child),
                last_used: parking_lot::Mutex::new(std::time::Instant::now()),
            });
            (s, info.initialize, !info.initialize)
        }
        Ok(None) => return super::session_required(),
    };
    let Upstream::Child(child) = &session.upstream else {
        return rpc_error_response(StatusCode::NOT_FOUND, None, -32001, "session not found");
    };
    let child = child.clone();
    let sse = call.accepts_sse();
    let rx = (!info.requests.is_empty()).then(|| child.open(&info.requests, &info.progress, sse));
    match super::step_with(
        &session.pipeline,
        Direction::C2S,
        body,
        call.gw.on_store_error,
        call.traceparent(),
    )
    .await
    {
        Ok(Step::Pass(bytes)) => {
            if child.write(&bytes).await.is_err() {
                if ephemeral {
                    child.close("client_request_done").await;
                }
                return rpc_error_response(
                    StatusCode::BAD_GATEWAY,
                    info.raw_ids.first().map(String::as_str),
                    -32603,
                    "upstream server is not running",
                );
            }
        }
        Ok(Step::Answer(reply)) => {
            // Only the slots this request opened: another request's slot stays.
            if let Some((_, w)) = &rx {
                let mut routes = child.routes.lock();
                let mine: Vec<RequestId> = routes
                    .waiting
                    .iter()
                    .filter(|(_, x)| Arc::ptr_eq(x, w))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in &mine {
                    routes.waiting.remove(id);
                    routes.progress.retain(|_, r| r != id);
                }
            }
            if ephemeral {
                child.close("client_request_done").await;
            }
            return super::json_response(reply);
        }
        Ok(Step::Drop) => {
            // A response to no request of the server's: recorded, not delivered.
            if ephemeral {
                child.close("client_request_done").await;
            }
            return super::legacy::accepted();
        }
        Err(e) => {
            return super::store_unavailable(info.raw_ids.first().map(String::as_str), &e);
        }
    }
    if fresh {
        call.gw.insert(session.clone());
    }
    let Some((rx, waiter)) = rx else {
        // Notifications and responses only.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::ACCEPTED;
        return r;
    };
    let ids: Vec<(RequestId, String)> = info
        .requests
        .iter()
        .cloned()
        .zip(info.raw_ids.iter().cloned())
        .collect();
    let mut r = if sse {
        let post = Arc::new(PostStream::new(
            waiter.opened,
            ids,
            ephemeral,
            Duration::from_millis(call.gw.cfg.stream_resume_ms),
            Arc::downgrade(&waiter),
        ));
        *waiter.post.lock() = Some(post.clone());
        drop(waiter);
        if !ephemeral {
            child.routes.lock().posts.insert(post.id, post.clone());
        }
        let body = post.reader(child.clone(), 0);
        // The stream's messages are kept as events whether or not a client reads them now.
        tokio::spawn(post.relay(rx, child.clone()));
        let mut r = Response::new(body);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r.headers_mut()
            .insert("x-accel-buffering", HeaderValue::from_static("no"));
        r
    } else {
        let owner = Arc::downgrade(&waiter);
        drop(waiter);
        let guard = Abandon {
            child: child.clone(),
            ids,
            ephemeral,
            owner,
        };
        // One JSON response (a batch's responses are gathered into an array).
        let mut rx = rx;
        let mut got = Vec::new();
        while got.len() < guard.ids.len() {
            match rx.recv().await {
                Some(m) => got.push(m),
                None => break,
            }
        }
        drop(guard);
        let body = if got.len() == 1 {
            got.pop().unwrap_or_default().to_vec()
        } else {
            let parts: Vec<&[u8]> = got
                .iter()
                .map(|m| warden_core::envelope::trim_frame(m))
                .collect();
            let mut out = b"[".to_vec();
            out.extend(parts.join(&b","[..]));
            out.push(b']');
            out
        };
        super::json_response(body)
    };
    if fresh && let Ok(v) = HeaderValue::from_str(&session.id) {
        r.headers_mut().insert(super::SESSION_HEADER, v);
    }
    r
}

/// Dropped when a POST's response stream ends or the client goes away: requests still
/// unanswered are cancelled upstream. A stateless request's child is stopped.
struct Abandon {
    child: Arc<ChildSession>,
    ids: Vec<(RequestId, String)>,
    ephemeral: bool,
    /// The stream's waiter: only its slots are cancelled.
    owner: std::sync::Weak<Waiter>,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let child = self.child.clone();
        let ids = std::mem::take(&mut self.ids);
        let ephemeral = self.ephemeral;
        let owner = self.owner.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                child.abandon(ids, &owner).await;
                if ephemeral {
                    child.close("client_request_done").await;
                }
            });
        }
    }
}

/// The standalone stream of server messages for a session.
pub(super) async fn get(call: Call) -> Response {
    let session = match call.existing() {
        Err(super::NoSession) => return super::no_session(),
        Ok(Some(s)) => s,
        Ok(None) => return super::session_required(),
    };
    if !call.accepts_sse() {
        return rpc_error_response(
            StatusCode::NOT_ACCEPTABLE,
            None,
            -32600,
            "Not Acceptable: the GET stream is text/event-stream",
        );
    }
    let Upstream::Child(child) = &session.upstream else {
        return rpc_error_response(StatusCode::NOT_FOUND, None, -32001, "session not found");
    };
    let last = call
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    // Resuming a POST stream (`STREAM-SEQ`): its events after that one, then the rest of it.
    if let Some((stream, seq)) = last.and_then(|l| l.split_once('-'))
        && let (Ok(stream), Ok(seq)) = (stream.parse::<u64>(), seq.parse::<u64>())
    {
        let post = child.routes.lock().posts.get(&stream).cloned();
        if let Some(post) = post {
            let mut r = Response::new(post.reader(child.clone(), seq));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return r;
        }
        // A stream that is over (or unknown): the standalone stream, nothing replayed.
    }
    // Resuming the GET stream: the events after the client's last one are sent again, then
    // what was held.
    let resume: Option<u64> = last.and_then(|v| v.parse().ok());
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let first: Vec<Bytes> = {
        let mut routes = child.routes.lock();
        let mut out: Vec<Bytes> = match resume {
            Some(last) => routes
                .replay
                .iter()
                .filter(|(id, _)| *id > last)
                .map(|(_, ev)| ev.clone())
                .collect(),
            None => Vec::new(),
        };
        let held: Vec<Bytes> = routes.backlog.drain(..).collect();
        routes.backlog_bytes = 0;
        for m in held {
            out.push(routes.get_event(&m));
        }
        routes.get = Some(tx);
        out
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        let m = rx.recv().await?;
        Some((m, rx))
    });
    let stream = futures::stream::iter(first)
        .chain(rest)
        .map(Ok::<_, std::convert::Infallible>);
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The client ends its session.
pub(super) async fn delete(call: Call) -> Response {
    let session = match call.existing() {
        Err(super::NoSession) => return super::no_session(),
        Ok(Some(s)) => s,
        Ok(None) => return super::session_required(),
    };
    call.gw.remove(&session.id);
    if let Upstream::Child(c) = &session.upstream {
        c.close("client_deleted_session").await;
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::OK;
    r
}
