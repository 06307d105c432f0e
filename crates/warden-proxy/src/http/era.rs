//! Which protocol era a stdio server speaks, for 2026-07-28 stateless requests. Over HTTP the
//! server itself answers a request in a version it does not implement with 400 and an
//! `UnsupportedProtocolVersionError`; behind warden a stdio server cannot, so warden asks
//! once per server (`server/discover`, which every 2026-07-28 server implements; for a legacy
//! server, `initialize` to learn its version) and answers such requests as the server would
//! over HTTP. Modern servers get every stateless request as before. The probe's messages are
//! recorded like any other, between `era_probe` events that say warden sent them.

use std::collections::HashMap;
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use warden_core::Direction;

use super::child::ChildSession;
use super::{BodyInfo, Call, Step, recorded};
use crate::pipeline::Pipeline;

/// `UnsupportedProtocolVersionError` (2026-07-28, `basic/index.mdx`).
pub const UNSUPPORTED_VERSION: i64 = -32022;
/// The newest legacy version, offered in the `initialize` probe.
const LATEST_LEGACY: &str = "2025-11-25";

/// What a stdio server speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Era {
    /// It answers `server/discover`: 2026-07-28 requests go to it.
    Modern,
    /// It does not: the legacy versions it named in `initialize`.
    Legacy { supported: Vec<String> },
    /// It did not answer `server/discover` in time (or the probe could not be sent): its
    /// stateless requests are passed on, and it is not asked again while warden runs, so no
    /// later request waits for a probe.
    Unknown,
}

/// The era of each stdio server, learned at its first stateless request.
#[derive(Default)]
pub struct Eras {
    map: parking_lot::Mutex<HashMap<String, Era>>,
    /// One probe at a time: requests arriving meanwhile wait for its answer.
    probing: tokio::sync::Mutex<()>,
}

impl Eras {
    pub fn get(&self, server: &str) -> Option<Era> {
        self.map.lock().get(server).cloned()
    }

    fn set(&self, server: &str, era: Era) {
        self.map.lock().insert(server.to_owned(), era);
    }
}

/// The era of `server`: as learned before, else asked of `child` (a freshly started child of
/// that server), waiting at most `wait` for each answer.
pub(super) async fn era_of(
    eras: &Eras,
    server: &str,
    child: &ChildSession,
    pipeline: &Pipeline,
    wait: Duration,
) -> Era {
    if let Some(e) = eras.get(server) {
        return e;
    }
    let _one = eras.probing.lock().await;
    match eras.get(server) {
        Some(e) => e,
        None => probe(eras, server, child, pipeline, wait).await,
    }
}

/// Asks `child` which era it speaks, and remembers the answer for `server`.
async fn probe(
    eras: &Eras,
    server: &str,
    child: &ChildSession,
    pipeline: &Pipeline,
    wait: Duration,
) -> Era {
    recorded(pipeline.event(
        "era_probe",
        json!({ "sent_by": "warden", "method": "server/discover",
                "why": "a stateless 2026-07-28 request to a stdio server of unknown era" }),
    ));
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "warden", "version": env!("CARGO_PKG_VERSION") },
    });
    let discover = child
        .ask("server/discover", json!({ "_meta": meta }), wait)
        .await;
    let era = match discover {
        None => Era::Unknown,
        Some(d) if d.get("result").is_some() => Era::Modern,
        Some(_) => {
            let init = child
                .ask(
                    "initialize",
                    json!({
                        "protocolVersion": LATEST_LEGACY,
                        "capabilities": {},
                        "clientInfo": { "name": "warden", "version": env!("CARGO_PKG_VERSION") },
                    }),
                    wait,
                )
                .await;
            let version = init
                .as_ref()
                .and_then(|v| v.pointer("/result/protocolVersion"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            Era::Legacy {
                supported: version.into_iter().collect(),
            }
        }
    };
    recorded(pipeline.event(
        "era_probe_done",
        match &era {
            Era::Modern => json!({ "era": "modern" }),
            Era::Legacy { supported } => json!({ "era": "legacy", "supported": supported }),
            Era::Unknown => json!({ "era": "unknown",
                "why": format!("no answer to server/discover within {} ms", wait.as_millis()) }),
        },
    ));
    eras.set(server, era.clone());
    era
}

/// Answers a stateless request that a legacy server cannot serve: the request is recorded
/// (and governed) as usual, then answered with 400 and `UnsupportedProtocolVersionError`, as
/// a legacy server over HTTP would. The client can fall back to `initialize`.
pub(super) async fn refuse(
    call: &Call,
    pipeline: &Pipeline,
    body: Bytes,
    info: &BodyInfo,
    supported: &[String],
) -> Response {
    let raw = info.raw_ids.first().map(String::as_str);
    let on_err = call.gw.on_store_error;
    match super::step_with(pipeline, Direction::C2S, body, on_err, call.traceparent()).await {
        Ok(Step::Pass(_)) => {}
        Ok(Step::Answer(reply)) => return super::json_response(reply),
        Ok(Step::Drop) => return super::legacy::accepted(),
        Err(e) => return super::store_unavailable(raw, &e),
    }
    let reply = json!({
        "jsonrpc": "2.0",
        "id": raw.and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()),
        "error": {
            "code": UNSUPPORTED_VERSION,
            "message": "Unsupported protocol version: this server speaks only the legacy protocol (initialize first)",
            "data": { "supported": supported, "requested": info.requested_version },
        },
    })
    .to_string()
    .into_bytes();
    let reason = "the server does not implement the requested protocol version";
    for id in &info.requests {
        recorded(pipeline.gateway_answer(Some(id), &reply, UNSUPPORTED_VERSION, reason));
    }
    let mut r = super::json_response(reply);
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}
