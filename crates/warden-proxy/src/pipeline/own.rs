//! warden's own requests to a peer — an approval's elicitation to the client ([`super::elicit`]),
//! a re-read of the server's tool list ([`super::relist`]): each gets an id under a prefix of
//! warden's (`warden-approval-<uuid>`, `warden-relist-<uuid>`) that is not in flight in that id
//! space, and its record (`origin: gateway`) is made before the transport sends it. Its answer
//! is warden's: recorded, never forwarded.

use bytes::Bytes;
use serde_json::Value;
use uuid::Uuid;
use warden_audit::{AuditEvent, now_us};
use warden_core::{Direction, RequestId};

use super::Pipeline;

/// One of warden's own requests, not sent yet.
pub(super) struct Own {
    /// Its id, as JSON text.
    pub id: String,
    pub exchange: Uuid,
    /// The frame to send (newline-terminated).
    pub line: Vec<u8>,
    /// Its record, to be queued before the frame is sent.
    pub record: AuditEvent,
}

impl Pipeline {
    /// warden's own `method` request travelling in `dir` (`C2S`: to the server, in the client's
    /// id space; `S2C`: to the client, in the server's). With `track`, its exchange is opened in
    /// the correlator: its answer closes it as any response does (marked as warden's own), a
    /// peer reusing the id while it is in flight is refused, and at session end it is recorded
    /// as abandoned if never answered. Without, the caller keeps track of it.
    pub(super) fn own_request(
        &self,
        dir: Direction,
        prefix: &str,
        method: &str,
        params: &Value,
        detail: Value,
        track: bool,
    ) -> Own {
        let space = dir.sender();
        let (id, exchange) = loop {
            // Never an id in flight in that space (it cannot be, by its uuid; checked all the
            // same, and opened under the same lock).
            let u = Uuid::now_v7();
            let text = format!("{prefix}{u}");
            let rid = RequestId::Str(text.clone());
            let mut st = self.state();
            let opened = if track {
                st.correlator.own_request(space, rid, method)
            } else {
                st.correlator.method_of(space, &rid).is_none().then_some(u)
            };
            if let Some(exchange) = opened {
                break (Value::from(text).to_string(), exchange);
            }
        };
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":{},\"params\":{params}}}\n",
            Value::from(method)
        );
        let bytes = Bytes::from(line.clone().into_bytes());
        let ctx = self.context();
        let mut record = self.base(&ctx, now_us(), dir, "request", &bytes);
        record.method = Some(method.into());
        record.rpc_id = Some(id.clone());
        record.exchange = Some(exchange);
        record.detail = Some(detail);
        Own {
            id,
            exchange,
            line: line.into_bytes(),
            record,
        }
    }
}
