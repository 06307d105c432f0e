//! The admission stage, first in the pipeline for client frames: a client frame goes on only if
//! warden read it strictly and completely (`warden_core::strict`); anything else is answered by
//! warden, with the id it carried when that can be read, and never reaches the server.

use serde_json::value::RawValue;
use warden_core::{Envelope, Kind, ParseError, RequestId, Violation, envelope::trim_frame, strict};

/// Why a client frame may not go on, or `None` when it may. `parsed` is the frame's lenient
/// envelope (the reading the rest of the pipeline uses).
pub fn violation(frame: &[u8], parsed: &Result<Envelope<'_>, ParseError>) -> Option<Violation> {
    // A line of nothing but whitespace carries no message (it is forwarded as it is).
    if matches!(parsed, Err(ParseError::Empty)) && !frame.starts_with(b"\xEF\xBB\xBF") {
        return strict::check(frame)
            .err()
            .filter(|v| !matches!(v, Violation::Syntax(_)));
    }
    if let Err(v) = strict::check(frame) {
        return Some(v);
    }
    match parsed {
        Ok(env) => strict::check_envelope(env).err(),
        // Strictly valid JSON always has a lenient envelope; refuse if it ever does not.
        Err(e) => Some(Violation::Syntax(e.to_string())),
    }
}

/// The ids of the requests in a refused frame that can be answered: each request of its
/// lenient reading (a single `null` when there is none, or the frame cannot be read at all).
/// A frame that is not valid UTF-8 is read once more with replacement characters, only to
/// find the id to answer.
pub fn answerable_ids(frame: &[u8], parsed: &Result<Envelope<'_>, ParseError>) -> Answer {
    let from = |env: &Envelope<'_>| -> Vec<Option<Box<RawValue>>> {
        env.messages
            .iter()
            .filter(|m| m.kind == Kind::Request)
            .map(|m| m.id.map(RawValue::to_owned))
            .collect()
    };
    let ids = match parsed {
        Ok(env) => Some((env.kind == Kind::Batch, from(env))),
        Err(_) => {
            let lossy = String::from_utf8_lossy(trim_frame(frame)).into_owned();
            warden_core::parse_frame(lossy.as_bytes())
                .ok()
                .map(|env| (env.kind == Kind::Batch, from(&env)))
        }
    };
    match ids {
        Some((true, ids)) if !ids.is_empty() => Answer::Batch(ids),
        Some((_, ids)) if ids.len() == 1 => Answer::One(ids.into_iter().next().flatten()),
        _ => Answer::One(None),
    }
}

/// Why warden answers a client frame itself instead of forwarding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The JSON-RPC error code of the answer.
    pub code: i64,
    /// `data.reason` of the answer, and the record's.
    pub reason: &'static str,
    /// What was wrong, for the answer's message and the record.
    pub message: String,
}

impl From<Violation> for Refusal {
    fn from(v: Violation) -> Refusal {
        Refusal {
            code: v.code(),
            reason: v.reason(),
            message: v.to_string(),
        }
    }
}

impl Refusal {
    /// A request that reuses the id of a request of the same client still in flight.
    pub fn id_in_flight() -> Refusal {
        Refusal {
            code: strict::INVALID_REQUEST,
            reason: "id_in_flight",
            message: "a request with this id is still in flight in this session".into(),
        }
    }

    /// True when the frame was not JSON every reader agrees on (recorded as `unparseable`).
    pub fn unparseable(&self) -> bool {
        self.code == strict::PARSE_ERROR
    }
}

/// True when a request of `env` reuses an id that `pending` says is in flight, or that another
/// request of the same batch uses.
pub fn reuses_id(env: &Envelope<'_>, pending: impl Fn(&RequestId) -> bool) -> bool {
    let mut seen: Vec<RequestId> = Vec::new();
    for m in env.messages.iter().filter(|m| m.kind == Kind::Request) {
        let Some(id) = m.id.and_then(RequestId::from_raw) else {
            continue;
        };
        if pending(&id) || seen.contains(&id) {
            return true;
        }
        seen.push(id);
    }
    false
}

/// The ids warden answers a refused frame with.
#[derive(Debug)]
pub enum Answer {
    /// One error, for this id (`null` when none can be read).
    One(Option<Box<RawValue>>),
    /// An array of errors, one per request of a batch.
    Batch(Vec<Option<Box<RawValue>>>),
}

impl Answer {
    /// The error reply for refusal `r`, as one line.
    pub fn reply(&self, r: &Refusal) -> Vec<u8> {
        match self {
            Answer::One(id) => crate::errors::refused(id.as_deref(), r),
            Answer::Batch(ids) => {
                let parts: Vec<Vec<u8>> = ids
                    .iter()
                    .map(|id| {
                        let mut line = crate::errors::refused(id.as_deref(), r);
                        line.pop();
                        line
                    })
                    .collect();
                let mut out = b"[".to_vec();
                out.extend(parts.join(&b","[..]));
                out.extend_from_slice(b"]\n");
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(frame: &[u8]) -> Option<(Violation, String)> {
        let parsed = warden_core::parse_frame(frame);
        let v = violation(frame, &parsed)?;
        let reply = answerable_ids(frame, &parsed).reply(&v.clone().into());
        Some((v, String::from_utf8(reply).unwrap()))
    }

    #[test]
    fn blank_lines_pass_and_odd_blank_lines_do_not() {
        assert!(refused(b"\n").is_none());
        assert!(refused(b"  \r\n").is_none());
        assert!(refused(b"\r \n").is_some());
        assert!(refused(b"\xEF\xBB\xBF\n").is_some());
    }

    #[test]
    fn the_answer_carries_the_id_when_it_can_be_read() {
        let (v, reply) = refused(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"t","arguments":{"p":"a","p":"b"}}}"#,
        )
        .unwrap();
        assert_eq!(v.reason(), "duplicate_member");
        let r: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(r["id"], 7);
        assert_eq!(r["error"]["code"], -32600);
        assert_eq!(r["error"]["data"]["reason"], "duplicate_member");
        // Invalid UTF-8: the id is still found.
        let (_, reply) =
            refused(b"{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":\"x\xff\"}\n").unwrap();
        assert!(reply.contains(r#""id":"q""#), "{reply}");
        // Ids of every type are answered exactly as sent, so the client can match them.
        for id in ["[1]", "{\"a\":1}", "true", "1.5"] {
            let f = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            let (_, reply) = refused(f.as_bytes()).unwrap();
            assert!(reply.contains(&format!("\"id\":{id}")), "{reply}");
        }
        // The id itself duplicated: no single id can be read, so null.
        let (_, reply) = refused(br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#).unwrap();
        assert!(reply.contains(r#""id":null"#), "{reply}");
    }

    #[test]
    fn ids_reused_in_flight_or_within_a_batch_are_found() {
        let env =
            warden_core::parse_frame(br#"{"jsonrpc":"2.0","id":"5","method":"ping"}"#).unwrap();
        assert!(reuses_id(&env, |id| *id == RequestId::Str("5".into())));
        assert!(!reuses_id(&env, |id| *id == RequestId::Num("5".into())));
        let batch = warden_core::parse_frame(
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        )
        .unwrap();
        assert!(reuses_id(&batch, |_| false));
    }

    #[test]
    fn a_batch_is_answered_per_request() {
        let (_, reply) = refused(
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t","name":"u"}},{"jsonrpc":"2.0","method":"n"}]"#,
        )
        .unwrap();
        let r: Vec<serde_json::Value> = serde_json::from_str(&reply).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["id"], 1);
        assert_eq!(r[1]["id"], 2);
    }
}
