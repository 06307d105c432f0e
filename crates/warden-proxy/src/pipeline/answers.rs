//! warden's own answers and the records that go with them: a client frame refused at the
//! door (see `admit`), an oversized frame, a response replaced because its records could not be
//! committed, an upstream that could not be asked.

use bytes::Bytes;
use warden_audit::writer::WriterGone;
use warden_audit::{Outcome, now_us};
use warden_core::{Direction, RequestId, parse_frame};

use super::{Decision, Pipeline, Route};
use crate::admit::Refusal;
use crate::errors;
use crate::observer::FrameHints;

impl Pipeline {
    /// warden's answer in place of `frame`, whose records could not be committed
    /// (`durability: sync` with `fail_closed`): the error reply, recorded.
    pub fn store_failed(&self, frame: &Bytes, reason: &str) -> Result<Vec<u8>, WriterGone> {
        let id = parse_frame(frame)
            .ok()
            .and_then(|e| e.first().and_then(|m| m.id).map(|i| i.get().to_owned()));
        let raw = id.and_then(|i| serde_json::value::RawValue::from_string(i).ok());
        let reply = errors::store_unavailable(raw.as_deref(), reason);
        self.replaced(frame, &reply, reason)?;
        Ok(reply)
    }

    /// Records that warden answered the client with `reply` instead of the server's response
    /// `frame`, because that response's records could not be committed (sync, fail_closed).
    pub fn replaced(&self, frame: &Bytes, reply: &[u8], reason: &str) -> Result<(), WriterGone> {
        let reply = Bytes::copy_from_slice(reply);
        let mut ev = self.base(&self.context(), now_us(), Direction::S2C, "error", &reply);
        let replaced = parse_frame(frame).ok();
        let original = replaced.as_ref().and_then(|e| e.first());
        ev.rpc_id = original.and_then(|m| m.id).map(|r| self.scrub_id(r.get()));
        ev.outcome = Some(Outcome::GatewayError);
        ev.error_code = Some(errors::AUDIT_STORE_UNAVAILABLE);
        ev.detail = Some(serde_json::json!({
            "origin": "gateway",
            "reason": "audit_store_unavailable",
            "replaced": "the server's response was not delivered because its record could not be committed",
            "detail": reason,
        }));
        self.audit.record(ev)
    }

    /// Records warden's own answer `reply` to the client's request `id` when the server could
    /// not be asked (e.g. an unreachable upstream): the exchange closes as `gateway_error`.
    pub fn gateway_answer(
        &self,
        id: Option<&RequestId>,
        reply: &[u8],
        code: i64,
        reason: &str,
    ) -> Result<(), WriterGone> {
        let ev = self.answer_exchange(id, reply, code, reason, Outcome::GatewayError);
        self.audit.record(ev)
    }

    /// The record of warden's answer `reply` to request `id`, which ends its exchange with
    /// `outcome`.
    pub(super) fn answer_exchange(
        &self,
        id: Option<&RequestId>,
        reply: &[u8],
        code: i64,
        reason: &str,
        outcome: Outcome,
    ) -> warden_audit::AuditEvent {
        let mut st = self.state();
        let reply = Bytes::copy_from_slice(reply);
        let mut ev = self.base(&st.ctx, now_us(), Direction::S2C, "error", &reply);
        if let Some(id) = id {
            ev.rpc_id = Some(self.scrub_id(&match id {
                RequestId::Num(n) => n.clone(),
                RequestId::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
            }));
            if let Some(closed) = st.correlator.response(warden_core::Side::Client, id) {
                ev.exchange = Some(closed.exchange);
                ev.method = Some(self.scrub(&closed.method));
                ev.target = closed.target.as_deref().map(|t| self.scrub(t));
                ev.duration_us =
                    Some(u64::try_from(closed.duration.as_micros()).unwrap_or(u64::MAX));
            }
        }
        ev.outcome = Some(outcome);
        ev.error_code = Some(code);
        ev.detail = Some(serde_json::json!({ "origin": "gateway", "reason": reason }));
        drop(st);
        ev
    }

    /// Answers a client frame instead of forwarding it (see `admit`), and records both: the
    /// frame as received (redacted as text: it is not read as a message) and warden's answer.
    pub(super) fn refuse(
        &self,
        ts_us: i64,
        frame: &Bytes,
        parsed: &Result<warden_core::Envelope<'_>, warden_core::ParseError>,
        r: &Refusal,
        hints: FrameHints<'_>,
    ) -> Result<Decision, WriterGone> {
        let reply = crate::admit::answerable_ids(frame, parsed).reply(r);
        let mut events = {
            let ctx = self.context();
            let kind = if r.unparseable() {
                "unparseable"
            } else {
                "invalid"
            };
            let mut ev = self.base(&ctx, ts_us, Direction::C2S, kind, frame);
            ev.outcome = Some(Outcome::Refused);
            ev.detail = Some(serde_json::json!({
                "error": r.message, "reason": r.reason, "forwarded": false,
            }));
            let mut out = self.base(
                &ctx,
                ts_us,
                Direction::S2C,
                "error",
                &Bytes::from(reply.clone()),
            );
            out.outcome = Some(Outcome::Refused);
            out.error_code = Some(r.code);
            out.detail = Some(serde_json::json!({ "origin": "gateway", "reason": r.reason }));
            vec![ev, out]
        };
        self.redact_text(&mut events[0]);
        self.observed(&mut events, hints);
        for ev in events {
            self.audit.record(ev)?;
        }
        Ok(Decision {
            route: Route::Answer(reply),
            ack: None,
            ask: None,
        })
    }

    /// Refuses a client frame longer than `limit`, of which `prefix` is the start (the rest is
    /// discarded by the transport): records it and returns warden's answer.
    pub fn refuse_oversized(&self, prefix: Bytes, limit: usize) -> Result<Vec<u8>, WriterGone> {
        let parsed = parse_frame(&prefix);
        let r = Refusal::from(warden_core::Violation::TooLarge { limit });
        let decision = self.refuse(now_us(), &prefix, &parsed, &r, FrameHints::default())?;
        Ok(match decision.route {
            Route::Answer(reply) => reply,
            _ => Vec::new(),
        })
    }

    /// Records the start of a frame longer than `limit`, which is streamed through unparsed.
    pub fn oversized(&self, dir: Direction, prefix: Bytes, limit: usize) -> Result<(), WriterGone> {
        let mut ev = self.base(&self.context(), now_us(), dir, "unparseable", &prefix);
        ev.detail = Some(
            serde_json::json!({ "error": "frame longer than max_frame; streamed through unparsed", "max_frame": limit }),
        );
        self.redact_unparsed(&mut ev, true);
        self.audit.record(ev)
    }
}
