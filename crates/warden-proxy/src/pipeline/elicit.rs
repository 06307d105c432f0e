//! Elicitation as an approval channel: when the rule lets the requester approve its own call
//! and the client declared the `elicitation` capability, warden asks the human at the client
//! through its own `elicitation/create` request (form mode: approve or deny, with a reason).
//! The request is warden's own (`super::own`): its id (`warden-approval-<uuid>`) is never one the
//! server has in flight, it is recorded, and the client's answer is consumed here — recorded, made the
//! approval's decision (channel `elicitation`), never forwarded to the server.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use warden_audit::approvals::{Decider, records as approval_records};
use warden_audit::now_us;
use warden_core::{Direction, Kind};

use super::hold::HeldCall;
use super::parse::Parsed;
use super::{Decision, Pipeline, Route};
use crate::observer::FrameHints;

/// Prefix of the ids of warden's own elicitation requests.
const ID_PREFIX: &str = "warden-approval-";

/// An elicitation warden asked and is waiting to hear back on.
#[derive(Debug, Clone)]
pub(super) struct Asked {
    approval: String,
    exchange: uuid::Uuid,
}

/// Elicitations in flight, by their id (JSON text).
pub(super) type AskedMap = HashMap<String, Asked>;

impl Pipeline {
    /// Lets warden ask the client to decide approvals (a transport that can send warden's own
    /// requests to the client and read their answers: stdio).
    pub fn enable_client_elicitation(&self) {
        self.elicit_transport.store(true, Ordering::Relaxed);
    }

    /// Notes whether the client declared the elicitation capability (its `initialize`).
    pub(super) fn note_capabilities(&self, dir: Direction, parsed: &Parsed<'_>) {
        let [msg] = parsed.messages() else { return };
        if dir != Direction::C2S || msg.method.as_deref() != Some("initialize") {
            return;
        }
        let declared = msg
            .params
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
            .is_some_and(|p| {
                p.pointer("/capabilities/elicitation")
                    .is_some_and(|e| e.is_object())
            });
        self.client_elicits.store(declared, Ordering::Relaxed);
    }

    /// Whether warden may ask this session's client to decide `call`.
    pub(super) fn may_elicit(
        &self,
        spec: Option<&warden_policy::ApprovalSpec>,
        call: &HeldCall,
    ) -> bool {
        let Some(spec) = spec else { return false };
        if !(spec.channels.contains(&warden_policy::Channel::Elicitation)
            && spec.self_approval
            && self.elicit_transport.load(Ordering::Relaxed)
            && self.client_elicits.load(Ordering::Relaxed))
        {
            return false;
        }
        let Some(principal) = call.principal.as_deref() else {
            return false;
        };
        let roles = self
            .governance()
            .map(|g| g.roles.clone())
            .unwrap_or_default();
        call.approvers.is_empty()
            || call
                .approvers
                .iter()
                .any(|a| match a.strip_prefix("role:") {
                    Some(r) => roles.iter().any(|x| x == r),
                    None => a == principal,
                })
    }

    /// warden's `elicitation/create` asking the client to decide `call`'s approval, recorded.
    pub(super) fn elicitation(
        &self,
        call: &HeldCall,
    ) -> Result<Vec<u8>, warden_audit::writer::WriterGone> {
        let tool = call.target.as_deref().unwrap_or(&call.method);
        let message = format!(
            "warden: approve the call of {tool} on {} (policy rule '{}')? Approval {}.",
            call.server,
            call.rule.as_deref().unwrap_or("-"),
            call.approval
        );
        let params = serde_json::json!({
            "mode": "form",
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "decision": { "type": "string", "title": "Decision", "enum": ["approve", "deny"] },
                    "reason": { "type": "string", "title": "Reason" }
                },
                "required": ["decision"]
            }
        });
        let own = self.own_request(
            Direction::S2C,
            ID_PREFIX,
            "elicitation/create",
            &params,
            serde_json::json!({
                "origin": "gateway", "approval": { "id": call.approval, "channel": "elicitation" },
            }),
            false,
        );
        self.enqueue(vec![own.record], false, FrameHints::default())?;
        self.asked().insert(
            own.id,
            Asked {
                approval: call.approval.clone(),
                exchange: own.exchange,
            },
        );
        Ok(own.line)
    }

    fn asked(&self) -> std::sync::MutexGuard<'_, AskedMap> {
        self.asked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The client's answer to one of warden's elicitations: recorded, made the approval's
    /// decision, and dropped (it answers warden, not the server). `None` for any other frame.
    pub(super) fn elicit_answer(
        &self,
        dir: Direction,
        frame: &Bytes,
        parsed: &Parsed<'_>,
    ) -> Option<Result<Decision, warden_audit::writer::WriterGone>> {
        let [msg] = parsed.messages() else {
            return None;
        };
        if dir != Direction::C2S || !matches!(msg.kind, Kind::Result | Kind::Error) {
            return None;
        }
        let id = msg.id?.get();
        if !id.starts_with(&format!("\"{ID_PREFIX}")) {
            return None;
        }
        let asked = self.asked().remove(id)?;
        let result: serde_json::Value = msg
            .result
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default();
        let action = result["action"].as_str().unwrap_or("error");
        let content = &result["content"];
        let approve = action == "accept" && content["decision"] == "approve";
        let reason = content["reason"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| match action {
                "accept" => String::new(),
                "decline" => "declined at the client".into(),
                "cancel" => "dismissed at the client".into(),
                _ => "the client could not ask".into(),
            });
        let ctx = self.context();
        let mut answer = self.base(&ctx, now_us(), dir, msg.kind.as_str(), frame);
        answer.rpc_id = Some(id.to_owned());
        answer.exchange = Some(asked.exchange);
        answer.method = Some("elicitation/create".into());
        let mut events = vec![answer];
        let decided = self.holder.as_ref().map(|h| {
            let g = self.governance();
            let who = Decider {
                by: ctx.principal.clone().unwrap_or_default(),
                roles: g.map(|g| g.roles.clone()).unwrap_or_default(),
                channel: "elicitation".into(),
                check_approvers: true,
            };
            let reason = (!reason.is_empty()).then_some(reason.as_str());
            h.decide(&asked.approval, approve, &who, reason)
        });
        let outcome = match decided {
            Some(Ok(a)) => {
                events.push(approval_records::decided(&a));
                serde_json::json!({ "decided": a.status })
            }
            Some(Err(e)) => serde_json::json!({ "decided": null, "refused": e }),
            None => serde_json::json!({ "decided": null, "refused": "no approvals workflow" }),
        };
        events[0].detail = Some(serde_json::json!({
            "origin": "gateway",
            "approval": { "id": asked.approval, "channel": "elicitation", "action": action },
            "outcome": outcome,
        }));
        Some(
            self.enqueue(events, false, FrameHints::default())
                .map(|ack| Decision {
                    route: Route::Drop,
                    ack,
                    ask: None,
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::sync::oneshot;
    use warden_audit::approvals::{Approval, Decider};
    use warden_core::Direction;

    use super::super::tests::{governed, line};
    use super::super::{HeldCall, Holder, Release, Route};

    /// Takes note of every decision it is asked to make (and refuses them all).
    #[derive(Default)]
    struct Decisions(Mutex<Vec<(String, bool, Option<String>)>>);

    impl Holder for Decisions {
        fn hold(&self, _: &HeldCall) -> oneshot::Receiver<Release> {
            oneshot::channel().1
        }
        fn decide(
            &self,
            approval: &str,
            approve: bool,
            _: &Decider,
            reason: Option<&str>,
        ) -> Result<Approval, String> {
            self.0
                .lock()
                .unwrap()
                .push((approval.into(), approve, reason.map(str::to_owned)));
            Err("noted".into())
        }
    }

    fn held(approval: &str) -> HeldCall {
        HeldCall {
            approval: approval.into(),
            session: "s".into(),
            server: "srv".into(),
            method: "tools/call".into(),
            target: Some("write".into()),
            rule: Some("r".into()),
            approvers: vec!["alice".into()],
            principal: Some("alice".into()),
            rpc_id: "1".into(),
            exchange: None,
            action_hash: None,
            hold_ms: 1000,
            progress_token: None,
            channels: vec!["queue", "elicitation"],
            elicit: true,
            budget: Vec::new(),
        }
    }

    #[test]
    fn odd_late_and_unreadable_answers_never_approve_and_are_never_forwarded() {
        let (p, _keep) = governed("default: allow\npolicies: []\n");
        let d = Arc::new(Decisions::default());
        let p = p.with_holder(d.clone());
        let ask = |approval: &str| -> String {
            let req: serde_json::Value =
                serde_json::from_slice(&p.elicitation(&held(approval)).unwrap()).unwrap();
            assert!(req["id"].as_str().unwrap().starts_with("warden-approval-"));
            req["id"].to_string()
        };
        let answer = |id: &str, result: &str| {
            p.on_frame(
                Direction::C2S,
                line(&format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#
                )),
            )
            .unwrap()
            .route
        };
        let noted = || d.0.lock().unwrap().clone();

        // A result that is not an elicitation result: consumed, a refusal.
        let a = ask("a1");
        assert_eq!(answer(&a, r#""odd""#), Route::Drop);
        assert_eq!(
            noted(),
            [("a1".into(), false, Some("the client could not ask".into()))]
        );
        // The same id again, now approving: it answers nothing any more; no decision.
        assert_eq!(
            answer(
                &a,
                r#"{"action":"accept","content":{"decision":"approve"}}"#
            ),
            Route::Drop
        );
        assert_eq!(noted().len(), 1);
        // Duplicate members are refused at the door: not read, not decided; the ask stays open.
        let b = ask("b1");
        let dup = p
            .on_frame(
                Direction::C2S,
                line(&format!(
                    r#"{{"jsonrpc":"2.0","id":{b},"result":{{"action":"decline","action":"accept","content":{{"decision":"approve"}}}}}}"#
                )),
            )
            .unwrap()
            .route;
        assert_ne!(dup, Route::Forward);
        assert_eq!(noted().len(), 1);
        // Accept without the word "approve" (a near miss) is no approval; a decision "deny" too.
        assert_eq!(
            answer(
                &b,
                r#"{"action":"accept","content":{"decision":"Approve "}}"#
            ),
            Route::Drop
        );
        let c = ask("c1");
        answer(
            &c,
            r#"{"action":"accept","content":{"decision":"deny","reason":"no"}}"#,
        );
        let e = ask("e1");
        answer(
            &e,
            r#"{"action":"accept","content":{"decision":"approve"}}"#,
        );
        let got: Vec<(String, bool)> = noted().into_iter().map(|(a, ok, _)| (a, ok)).collect();
        assert_eq!(
            got,
            [
                ("a1".into(), false),
                ("b1".into(), false),
                ("c1".into(), false),
                ("e1".into(), true)
            ]
        );
    }
}
