//! Stage 8, route: where a frame goes — forwarded as received, replaced (rewritten), answered
//! by warden, dropped (it answers nothing warden forwarded), or held — and the write-ahead:
//! its records are queued (and shown to the observer) before the transport moves anything.

use crossbeam_channel::Receiver;
use warden_audit::AuditEvent;
use warden_audit::writer::{Ack, WriterGone};

use super::Pipeline;
use super::decide::Decided;
use super::hold::{HeldCall, Hold};
use super::parse::Parsed;
use super::record::Records;
use super::rewrite::Rewrite;
use crate::observer::FrameHints;

/// Where a frame goes after the pipeline.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Forward the original bytes to the other side.
    Forward,
    /// Do not forward; send these bytes back to the sender instead.
    Answer(Vec<u8>),
    /// Forward these bytes instead of the original (policy rewrote the message).
    Replace(Vec<u8>),
    /// Neither forward nor answer: a response to no request warden forwarded (recorded as
    /// unsolicited).
    Drop,
    /// Neither forward nor answer yet: wait for the hold's release, then ask
    /// `Pipeline::release` (forward the original bytes, or answer). The rest of the session
    /// keeps flowing meanwhile.
    Hold(Box<Hold>),
}

/// The pipeline's decision on one frame.
#[derive(Debug)]
pub struct Decision {
    pub route: Route,
    /// With `durability: sync`, the commit of this frame's records to wait for before forwarding.
    pub ack: Option<Receiver<Ack>>,
    /// warden's own request to the frame's sender, to send after the frame is delivered (the
    /// next `tools/list` of a re-read, [`super::relist`]; recorded already).
    pub ask: Option<Vec<u8>>,
}

impl Pipeline {
    /// Queues a frame's records (write-ahead); with `wait`, the last one's commit is the ack.
    pub(super) fn enqueue(
        &self,
        mut events: Vec<AuditEvent>,
        wait: bool,
        hints: FrameHints<'_>,
    ) -> Result<Option<Receiver<Ack>>, WriterGone> {
        self.observed(&mut events, hints);
        let last = events.pop();
        for ev in events {
            self.audit.record(ev)?;
        }
        Ok(match last {
            Some(ev) if wait => Some(self.audit.record_committed(ev)?),
            Some(ev) => {
                self.audit.record(ev)?;
                None
            }
            None => None,
        })
    }

    /// Stage 8. A frame is forwarded whole or not at all: a refused batch is answered with an
    /// array of warden's errors (JSON-RPC 2.0, section 6).
    pub(super) fn route(
        &self,
        parsed: &Parsed<'_>,
        decided: &Decided,
        records: Records,
        rewrite: Rewrite,
        held: Option<HeldCall>,
    ) -> Route {
        let count = parsed.messages().len();
        if records.unsolicited > 0 && records.unsolicited == count {
            Route::Drop
        } else if let Some(call) = held {
            self.start_hold(call)
        } else if let Some(bytes) = rewrite.bytes {
            Route::Replace(bytes)
        } else if !decided.refuse {
            Route::Forward
        } else if parsed.batch() {
            let parts: Vec<&[u8]> = records
                .answers
                .iter()
                .map(|r| r.strip_suffix(b"\n").unwrap_or(r))
                .collect();
            let mut out = b"[".to_vec();
            out.extend(parts.join(&b","[..]));
            out.extend_from_slice(b"]\n");
            Route::Answer(out)
        } else {
            Route::Answer(records.answers.concat())
        }
    }
}

#[cfg(test)]
mod tests {
    use warden_core::Direction;

    use super::super::tests::{governed, line, pipeline};
    use super::Route;

    #[test]
    fn responses_to_nothing_are_dropped_and_a_refused_batch_is_answered_with_an_array() {
        let p = pipeline();
        let r = p
            .on_frame(
                Direction::S2C,
                line(r#"{"jsonrpc":"2.0","id":5,"result":{}}"#),
            )
            .unwrap();
        assert_eq!(r.route, Route::Drop);
        let (p, _keep) = governed("default: deny\npolicies: []\n");
        let batch = line(
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
        );
        let Route::Answer(reply) = p.on_frame(Direction::C2S, batch).unwrap().route else {
            panic!("not answered")
        };
        let v: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[1]["error"]["data"]["reason"], "batch_denied");
        let ping = line(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
        assert_eq!(
            p.on_frame(Direction::C2S, ping).unwrap().route,
            Route::Forward
        );
    }
}
