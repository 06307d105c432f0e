//! Stage 7, record: the audit records of a frame — one per message, with its policy decision,
//! counters, redacted copy and exchange; warden's answer to each refused request; the exchange a
//! reused id displaced — built from the stages before, in frame order.

use std::sync::Arc;

use bytes::Bytes;
use warden_audit::{AuditEvent, Outcome, SessionContext};
use warden_core::{Classification, Direction, Kind, Message, RequestId};
use warden_policy::Decision as Verdict;

use super::Pipeline;
use super::copy::Copied;
use super::correlate::Link;
use super::decide::Decided;
use super::hold::HeldCall;
use super::parse::Parsed;
use super::rewrite::Rewrite;

/// A frame's records, and what the route needs from them.
pub(super) struct Records {
    pub events: Vec<AuditEvent>,
    /// warden's answers to the refused requests, in frame order.
    pub answers: Vec<Vec<u8>>,
    /// Some message is a response (with `durability: sync`, forwarded once committed).
    pub responds: bool,
    /// How many responses answer no request warden forwarded.
    pub unsolicited: usize,
}

/// What the stages made of one frame, for its records.
pub(super) struct Staged<'a, 'f> {
    pub ts_us: i64,
    pub dir: Direction,
    pub frame: &'a Bytes,
    pub parsed: &'a Parsed<'f>,
    pub classes: &'a [Classification],
    pub copy: &'a Copied,
    pub decided: &'a Decided,
    pub links: Vec<Link>,
    pub rewrite: &'a Rewrite,
    /// The call held for approval (the frame's one request), if any.
    pub held: Option<&'a HeldCall>,
}

impl Pipeline {
    /// Stage 7 (pure): the records of a frame.
    pub(super) fn records(&self, s: Staged<'_, '_>) -> Records {
        let mut out = Records {
            events: Vec::with_capacity(1),
            answers: Vec::new(),
            responds: false,
            unsolicited: 0,
        };
        if let Err(e) = s.parsed.env() {
            if *e != warden_core::ParseError::Empty {
                let mut ev = self.base(&self.context(), s.ts_us, s.dir, "unparseable", s.frame);
                ev.detail = Some(serde_json::json!({ "error": e.to_string() }));
                self.redact_text(&mut ev);
                out.events.push(ev);
            }
            return out;
        }
        // Alerts a result raises, recorded after it.
        let mut alerts = Vec::new();
        for (i, ((msg, c), link)) in s
            .parsed
            .messages()
            .iter()
            .zip(s.classes)
            .zip(&s.links)
            .enumerate()
        {
            let mut ev = self.message_record(&s, i, msg, c, &link.ctx);
            let has_id = msg.id.and_then(RequestId::from_raw).is_some();
            match msg.kind {
                Kind::Request if has_id => {
                    if let Some(class) = &link.tool_class {
                        ev.tool_class = Some(class.class);
                        ev.tool_class_source = Some(class.source);
                    }
                    if let Some(h) = s.held {
                        ev.outcome = Some(Outcome::ApprovalRequired);
                        ev.detail = Some(serde_json::json!({
                            "approval": { "id": h.approval, "status": "pending", "approvers": h.approvers },
                            "held": true,
                        }));
                    } else if s.decided.refuse {
                        self.refused_records(&s, i, msg, c, ev, &mut out);
                        if let (Some(g), Some(v)) = (&s.decided.governance, s.decided.verdict(i))
                            && let Some(alert) =
                                self.blocked_table_alert(g, v, link, c.target.as_deref())
                        {
                            out.events.push(alert);
                        }
                        continue;
                    }
                    ev.exchange = link.exchange;
                    if let Some(old) = &link.displaced {
                        out.events.push(self.abandoned(
                            &link.ctx,
                            old,
                            "request id reused while in flight",
                        ));
                    }
                }
                Kind::Result | Kind::Error if has_id => {
                    out.responds = true;
                    if let Some(closed) = &link.closed {
                        if let Some(hidden) = &s.rewrite.hidden {
                            ev.detail = Some(
                                serde_json::json!({ "rewritten": { "hidden_tools": hidden } }),
                            );
                        }
                        if closed.own {
                            // warden's own request's answer: warden's, not the client's.
                            ev.detail = Some(
                                serde_json::json!({ "origin": "gateway", "forwarded": false }),
                            );
                        }
                        ev.exchange = Some(closed.exchange);
                        ev.method = Some(self.scrub(&closed.method));
                        ev.target = closed.target.as_deref().map(|t| self.scrub(t));
                        ev.duration_us =
                            Some(u64::try_from(closed.duration.as_micros()).unwrap_or(u64::MAX));
                        ev.outcome = Some(if closed.cancelled {
                            Outcome::Cancelled
                        } else if msg.kind == Kind::Error {
                            Outcome::RpcError
                        } else {
                            Outcome::Ok
                        });
                        if let Some(h) = &s.rewrite.guide.hash {
                            let detail = ev.detail.get_or_insert_with(|| serde_json::json!({}));
                            detail["response_sha256"] = h.as_str().into();
                        }
                        for a in &s.rewrite.guide.alerts {
                            let mut alert = AuditEvent::gateway(
                                self.session.clone(),
                                link.ctx.clone(),
                                "policy_alert",
                            );
                            alert.exchange = Some(closed.exchange);
                            alert.target = ev.target.clone();
                            alert.detail = Some(a.clone());
                            alerts.push(alert);
                        }
                    } else {
                        out.unsolicited += 1;
                        ev.detail = Some(serde_json::json!({
                            "unsolicited": true, "forwarded": false,
                            "why": "it answers no request warden forwarded in this session",
                        }));
                    }
                }
                Kind::Notification => {
                    ev.exchange = link.exchange;
                    if c.cancelled.is_some() {
                        ev.outcome = link.cancelled.then_some(Outcome::Cancelled);
                    }
                }
                _ => {}
            }
            if let Some(masked) = &s.rewrite.masked
                && i == 0
                && !s.parsed.batch()
            {
                let detail = ev.detail.get_or_insert_with(|| serde_json::json!({}));
                detail["rewritten"]["masked"] = serde_json::to_value(masked).unwrap_or_default();
            }
            if s.decided.refuse && ev.outcome.is_none() {
                let (outcome, reason) = super::refusal::not_forwarded(s.decided);
                ev.outcome = Some(outcome);
                ev.detail = Some(serde_json::json!({ "forwarded": false, "reason": reason }));
            }
            out.events.push(ev);
            out.events.append(&mut alerts);
        }
        out
    }

    /// The record of message `i` as read: what it is, its policy decision and counters, and
    /// its redacted copy.
    fn message_record(
        &self,
        s: &Staged<'_, '_>,
        i: usize,
        msg: &Message<'_>,
        c: &Classification,
        ctx: &Arc<SessionContext>,
    ) -> AuditEvent {
        let d = s.decided;
        let mut ev = self.base(ctx, s.ts_us, s.dir, msg.kind.as_str(), s.frame);
        ev.batch_index = s.parsed.batch().then_some(i as u32);
        ev.method = msg.method.as_deref().map(|m| self.scrub(m));
        ev.rpc_id = msg.id.map(|r| self.scrub_id(r.get()));
        ev.args = c.args.clone();
        ev.body = c.body.clone();
        ev.error_code = c.error_code;
        ev.target = c.target.as_deref().map(|t| self.scrub(t));
        ev.policy = d.verdict(i).map(|v| policy_record(v, d, i));
        // The sealer embeds payloads read strictly without checking them again.
        ev.read_strictly = s.parsed.strict();
        match s.copy {
            Copied::Unredacted => {}
            Copied::Clean => {
                ev.dlp = Some(if d.secret.is_empty() {
                    "clean"
                } else {
                    "blocked"
                })
            }
            Copied::Redacted {
                bytes,
                found,
                label,
                spans,
                strict,
            } => {
                ev.dlp = Some(if d.secret.is_empty() {
                    label
                } else {
                    "blocked"
                });
                // Spans (for payload and hashes) come from the redacted copy; a copy that no
                // longer reads as a message keeps none (nothing of the original frame is stored).
                let spans = spans.get(i).cloned().unwrap_or_default();
                ev.frame = bytes.clone();
                ev.read_strictly = *strict;
                ev.args = spans.args;
                ev.body = spans.body;
                let batch = s.parsed.batch();
                let prefix = format!("/{i}/");
                let mine: Vec<_> = found
                    .iter()
                    .filter(|r| !batch || r.pointer.is_empty() || r.pointer.starts_with(&prefix))
                    .collect();
                ev.redactions = (!mine.is_empty())
                    .then(|| serde_json::to_value(&mine).ok())
                    .flatten();
            }
        }
        ev
    }

    /// The records of refused request `i`: the request as received, with why, and warden's
    /// answer to it (whose bytes go to `out.answers`).
    fn refused_records(
        &self,
        s: &Staged<'_, '_>,
        i: usize,
        msg: &Message<'_>,
        c: &Classification,
        mut ev: AuditEvent,
        out: &mut Records,
    ) {
        let refused = self.refused(s.decided, i, msg, c.target.as_deref());
        ev.outcome = Some(refused.outcome);
        // A call that needs approval but is not held (inside a batch, or with no approval
        // workflow): recorded as pending approval, resolved as denied by the answer below.
        let approval = (refused.outcome == Outcome::ApprovalRequired).then(|| {
            let id = uuid::Uuid::now_v7().to_string();
            let approvers = self.approvers(s.decided, i);
            ev.detail = Some(serde_json::json!({
                "approval": { "id": id, "status": "pending", "approvers": approvers }
            }));
            id
        });
        let ctx = ev.context.clone();
        out.events.push(ev);
        let mut answer = self.base(
            &ctx,
            s.ts_us,
            Direction::S2C,
            "error",
            &Bytes::from(refused.reply.clone()),
        );
        answer.method = msg.method.as_deref().map(|m| self.scrub(m));
        answer.rpc_id = msg.id.map(|r| self.scrub_id(r.get()));
        answer.target = c.target.as_deref().map(|t| self.scrub(t));
        answer.outcome = Some(refused.outcome);
        answer.error_code = Some(refused.code);
        answer.detail = Some(match &approval {
            Some(id) => serde_json::json!({
                "origin": "gateway",
                "reason": refused.reason,
                "approval": { "id": id, "status": "denied", "why": if self.holder.is_some() && s.parsed.batch() {
                    "a call that needs approval is not held inside a batch (nothing of the batch was forwarded); send it on its own"
                } else if self.holder.is_some() {
                    "the call could not be held for approval"
                } else {
                    "no approval workflow is configured"
                } },
            }),
            None => serde_json::json!({ "origin": "gateway", "reason": refused.reason }),
        });
        out.events.push(answer);
        out.answers.push(refused.reply);
    }

    /// The approvers the rule that decided request `i` names.
    pub(super) fn approvers(&self, d: &Decided, i: usize) -> Vec<String> {
        d.governance
            .as_ref()
            .zip(d.verdict(i).and_then(|v| v.rule.as_deref()))
            .and_then(|(g, r)| {
                g.policy
                    .rules()
                    .iter()
                    .find(|x| x.name == r)
                    .map(|x| x.approvers.clone())
            })
            .unwrap_or_default()
    }
}

/// The policy decision as recorded on a governed request, with the budgets it was charged to
/// (or the one it did not fit in) and a rate limit that was full.
fn policy_record(v: &Verdict, d: &Decided, i: usize) -> serde_json::Value {
    let mut policy = serde_json::json!({
        "action": v.action.as_str(),
        "mode": if v.enforced { "enforce" } else { "monitor" },
        "rule": v.rule,
        "matched": v.matched,
        "policy": v.policy,
    });
    if let (Some(cs), Some(used)) = (d.charges.get(i), d.charged.get(i))
        && !cs.is_empty()
    {
        policy["budget"] = cs
            .iter()
            .zip(used)
            .map(|(b, used)| {
                serde_json::json!({
                    "rule": b.rule, "key": b.charge.key, "units": b.charge.units,
                    "window_start_ms": b.charge.window_start_ms, "used": used, "limit": b.charge.limit,
                })
            })
            .collect();
    }
    if let Some(Some(hit)) = d.over.get(i) {
        policy["budget_exceeded"] = serde_json::json!({
            "rule": hit.rule, "used": hit.used, "limit": hit.limit,
            "resets_at_ms": hit.resets_at_ms, "enforced": hit.enforced,
        });
    }
    if let Some(Some(hit)) = d.limited.get(i) {
        policy["rate_limit"] = serde_json::json!({
            "rule": hit.rule, "limit": hit.limit, "window_ms": hit.window_ms, "enforced": hit.enforced,
        });
    }
    policy
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use warden_audit::Outcome;
    use warden_core::Direction;

    use super::super::Route;
    use super::super::tests::{Seen, governed, line, pipeline_on};

    #[test]
    fn a_refused_request_is_recorded_with_warden_s_answer() {
        let (p, _keep) = governed("default: deny\npolicies: []\n");
        let seen = Arc::new(Seen::default());
        let p = p.with_observer(seen.clone());
        let call = line(
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","arguments":{}}}"#,
        );
        let Route::Answer(reply) = p.on_frame(Direction::C2S, call).unwrap().route else {
            panic!("not answered")
        };
        let records = seen.take();
        assert_eq!(records.len(), 2);
        assert_eq!(
            (records[0].kind, records[0].outcome),
            ("request", Some(Outcome::Denied))
        );
        assert_eq!(records[1].kind, "error");
        assert_eq!(records[1].frame.as_ref(), &reply[..]);
        assert_eq!(records[1].rpc_id.as_deref(), Some("4"));
    }

    #[test]
    fn a_frame_that_does_not_parse_is_one_record_and_a_batch_one_per_message() {
        let (p, _w, _d) = pipeline_on();
        let seen = Arc::new(Seen::default());
        let p = p.with_observer(seen.clone());
        p.on_frame(Direction::S2C, line("{not json")).unwrap();
        let records = seen.take();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].kind, "unparseable");
        p.on_frame(
            Direction::S2C,
            line(r#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#),
        )
        .unwrap();
        let records = seen.take();
        assert_eq!(
            records.iter().map(|r| r.batch_index).collect::<Vec<_>>(),
            [Some(0), Some(1)]
        );
    }
}
