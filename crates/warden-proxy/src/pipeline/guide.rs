//! What a governance-guide file (`warden_policy::guide`) asks of a tool's results and refusals:
//! its values masked in the result the client gets, the SHA-256 of the result as received on
//! its record, and `policy_alert` events (`blocked_table_attempt`, `large_result_set`).

use sha2::Digest;
use warden_audit::AuditEvent;
use warden_policy::Decision as Verdict;
use warden_policy::guide::{GuideTool, names_blocked_table, result_rows};

use super::correlate::Link;
use super::{Governance, Pipeline};

/// What the guide entries naming a result's tool made of it.
#[derive(Default)]
pub(super) struct GuideResult {
    /// `sha256:` and the hex digest of the response as the server sent it (no line ending).
    pub hash: Option<String>,
    /// Details of the `policy_alert` events the result raises.
    pub alerts: Vec<serde_json::Value>,
}

impl Pipeline {
    /// The guide entries naming `tool` on this server (directly or by an `aka` name).
    pub(super) fn guides_of<'g>(&self, g: &'g Governance, tool: &str) -> Vec<&'g GuideTool> {
        if g.policy.guides().is_empty() {
            return Vec::new();
        }
        let aka = self.tool_facts(g, tool).map(|f| f.aka).unwrap_or_default();
        g.policy.guides_for(&self.server, tool, &aka)
    }

    /// The hash and alerts the guide entries in `guides` ask for on a result `frame` of `tool`.
    pub(super) fn guide_result(
        &self,
        guides: &[&GuideTool],
        tool: &str,
        frame: &[u8],
    ) -> GuideResult {
        let mut out = GuideResult::default();
        let received = warden_core::envelope::trim_frame(frame);
        if guides.iter().any(|g| g.response_hash) {
            let d = sha2::Sha256::digest(received);
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            out.hash = Some(format!("sha256:{hex}"));
        }
        let limit = guides
            .iter()
            .filter(|g| g.alert_large_result)
            .filter_map(|g| g.max_rows.map(|m| (m, *g)))
            .min_by_key(|(m, _)| *m);
        if let Some((max, g)) = limit {
            let rows = serde_json::from_slice::<serde_json::Value>(received)
                .ok()
                .and_then(|v| v.get("result").and_then(result_rows));
            if let Some(rows) = rows.filter(|r| *r as u64 > max) {
                out.alerts.push(serde_json::json!({
                    "alert": "large_result_set",
                    "tool": g.tool, "target": self.scrub(tool), "server": self.server,
                    "rows": rows, "max_rows": max, "file": g.file,
                }));
            }
        }
        out
    }

    /// The `blocked_table_attempt` alert of a call `v` refused because its SQL names a blocked
    /// table, when the guide entry whose constraints refused it asks for one.
    pub(super) fn blocked_table_alert(
        &self,
        g: &Governance,
        v: &Verdict,
        link: &Link,
        target: Option<&str>,
    ) -> Option<AuditEvent> {
        let rule = v.rule.as_deref()?;
        let guide = g.policy.guide_of_rule(rule)?;
        let why = v.message.as_deref()?;
        if !(guide.alert_blocked_table && v.blocks() && names_blocked_table(why)) {
            return None;
        }
        let mut ev = AuditEvent::gateway(self.session.clone(), link.ctx.clone(), "policy_alert");
        ev.target = target.map(|t| self.scrub(t));
        ev.detail = Some(serde_json::json!({
            "alert": "blocked_table_attempt",
            "tool": guide.tool, "target": ev.target, "server": self.server,
            "rule": rule, "reason": why, "file": guide.file,
        }));
        Some(ev)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sha2::Digest;
    use warden_core::Direction;

    use super::super::Route;
    use super::super::tests::{Seen, governed, line};

    const GUIDE: &str = "tool: srv.query
constraints:
  max_rows: 2
dlp:
  scan_response: true
  mask_fields: [email]
audit:
  log_response_hash: true
  alert_on: [large_result_set]
";

    #[test]
    fn a_result_over_max_rows_is_masked_hashed_and_raises_an_alert() {
        let (p, _keep) = governed(GUIDE);
        let seen = Arc::new(Seen::default());
        let p = p.with_observer(seen.clone());
        let call = line(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT a FROM t LIMIT 2"}}}"#,
        );
        assert_eq!(
            p.on_frame(Direction::C2S, call).unwrap().route,
            Route::Forward
        );
        // The server ignored the LIMIT: three rows, as JSON text.
        let rows = r#"[{\"a\":1,\"e\":\"ann@example.com\"},{\"a\":2},{\"a\":3}]"#;
        let result = format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":{{"content":[{{"type":"text","text":"{rows}"}}]}}}}"#
        );
        let Route::Replace(bytes) = p.on_frame(Direction::S2C, line(&result)).unwrap().route else {
            panic!("the result was not masked")
        };
        let sent = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!sent.contains("ann@example.com") && sent.contains("[REDACTED:email]"));
        let records = seen.take();
        let res = records.iter().find(|r| r.kind == "result").unwrap();
        let d = sha2::Sha256::digest(result.as_bytes());
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            res.detail.as_ref().unwrap()["response_sha256"],
            format!("sha256:{hex}")
        );
        let alert = records
            .iter()
            .find(|r| r.event == Some("policy_alert"))
            .unwrap();
        let a = alert.detail.as_ref().unwrap();
        assert_eq!(
            (&a["alert"], &a["rows"], &a["max_rows"], &a["tool"]),
            (
                &"large_result_set".into(),
                &3.into(),
                &2.into(),
                &"srv.query".into()
            )
        );
        assert_eq!(alert.exchange, res.exchange);
    }
}
