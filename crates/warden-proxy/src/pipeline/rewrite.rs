//! Stage 6, rewrite: what the receiver gets instead of the frame, for a single server result —
//! a `tools/list` without the tools the principal may never call (`hide_denied_tools`) and
//! those the tool catalog does not approve, and values masked by the wire rules
//! (`scan_response`, `mask_fields`), globally and for the tool a governance-guide file names.

use warden_audit::now_us;
use warden_core::{Direction, Kind};
use warden_policy::Request;
use warden_policy::redact::{Redaction, Redactor};

use super::correlate::Link;
use super::parse::Parsed;
use super::{Governance, Pipeline};

/// The frame as rewritten, and what was changed (for the record).
#[derive(Default)]
pub(super) struct Rewrite {
    pub bytes: Option<Vec<u8>>,
    pub hidden: Option<Vec<String>>,
    pub masked: Option<Vec<Redaction>>,
    /// What a governance-guide file asks of this result (hash, alerts).
    pub guide: super::guide::GuideResult,
}

impl Pipeline {
    /// Stage 6 (pure). Batches are never rewritten.
    pub(super) fn rewrite(
        &self,
        dir: Direction,
        frame: &[u8],
        parsed: &Parsed<'_>,
        links: &[Link],
        governance: Option<&Governance>,
        catalog_hidden: &[String],
    ) -> Rewrite {
        let mut out = Rewrite::default();
        let (Some(msg), Some(link), false) =
            (parsed.messages().first(), links.first(), parsed.batch())
        else {
            return out;
        };
        if msg.kind != Kind::Result {
            return out;
        }
        let policy_hides = governance.filter(|g| g.policy.hide_denied_tools);
        if link
            .closed
            .as_ref()
            .is_some_and(|c| c.method == "tools/list")
            && (policy_hides.is_some() || !catalog_hidden.is_empty())
        {
            let client = link.ctx.client_info.as_ref().map(|i| i.name.as_str());
            if let Some((bytes, hidden)) =
                self.hide_tools(policy_hides, catalog_hidden, frame, client)
            {
                out.bytes = Some(bytes);
                out.hidden = Some(hidden);
            }
        }
        if dir == Direction::S2C
            && let Some(w) = &self.wire
            && let Some((bytes, masked)) = mask(w, out.bytes.as_deref().unwrap_or(frame))
        {
            out.bytes = Some(bytes);
            out.masked = Some(masked);
        }
        // A governance-guide file's `dlp` masks the results of its own tool.
        if dir == Direction::S2C
            && let Some(g) = governance
            && let Some(closed) = link.closed.as_ref().filter(|c| c.method == "tools/call")
            && let Some(tool) = closed.target.as_deref()
        {
            let guides = self.guides_of(g, tool);
            for r in guides.iter().filter_map(|g| g.mask.as_ref()) {
                if let Some((bytes, masked)) = mask(r, out.bytes.as_deref().unwrap_or(frame)) {
                    out.bytes = Some(bytes);
                    out.masked.get_or_insert_with(Vec::new).extend(masked);
                }
            }
            out.guide = self.guide_result(&guides, tool, frame);
        }
        out
    }

    /// The frame of a `tools/list` result without the tools the principal may never call,
    /// and their names; `None` if nothing is hidden (the original bytes are forwarded).
    fn hide_tools(
        &self,
        g: Option<&Governance>,
        catalog_hidden: &[String],
        frame: &[u8],
        client: Option<&str>,
    ) -> Option<(Vec<u8>, Vec<String>)> {
        let mut msg: serde_json::Value = serde_json::from_slice(frame).ok()?;
        let tools = msg.get_mut("result")?.get_mut("tools")?.as_array_mut()?;
        let at = Some(warden_policy::Moment::from_unix(
            now_us().div_euclid(1_000_000),
        ));
        let mut hidden = Vec::new();
        tools.retain(|t| {
            let Some(name) = t.get("name").and_then(serde_json::Value::as_str) else {
                return true;
            };
            // The catalog does not approve it (new, changed, renamed or rejected).
            if catalog_hidden.iter().any(|h| h == name) {
                hidden.push(name.to_owned());
                return false;
            }
            let Some(g) = g else {
                return true;
            };
            let facts = self.tool_facts(g, name);
            let req = Request {
                server: &self.server,
                method: "tools/call",
                target: Some(name),
                arguments: None,
                principal: g.principal.as_deref(),
                roles: &g.roles,
                client,
                at,
                tool: facts.as_ref(),
            };
            let never = g.policy.never_callable(&req);
            if never {
                hidden.push(name.to_owned());
            }
            !never
        });
        if hidden.is_empty() {
            return None;
        }
        let mut bytes = serde_json::to_vec(&msg).ok()?;
        bytes.push(b'\n');
        Some((bytes, hidden))
    }
}

/// A message with the wire rules' findings masked, and what was masked; `None` if nothing was.
/// A result that is not one JSON tree by a strict reading (lone surrogate, duplicate member)
/// is masked by the text scan, which keeps its structure and masks every copy of a member.
fn mask(w: &Redactor, frame: &[u8]) -> Option<(Vec<u8>, Vec<Redaction>)> {
    let copy = w.audit_copy(warden_core::envelope::trim_frame(frame));
    let mut bytes = copy.text()?.to_vec();
    bytes.push(b'\n');
    Some((bytes, copy.found().to_vec()))
}

#[cfg(test)]
mod tests {
    use warden_core::Direction;

    use super::super::Route;
    use super::super::tests::{governed, line};

    const POLICY: &str = r#"
default: allow
hide_denied_tools: true
policies:
  - name: no-delete
    tool_pattern: "srv:delete"
    action: deny
"#;

    #[test]
    fn a_tools_list_result_loses_the_tools_that_can_never_be_called() {
        let (p, _keep) = governed(POLICY);
        p.on_frame(
            Direction::C2S,
            line(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
        )
        .unwrap();
        let list = line(
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"read"},{"name":"delete"}]}}"#,
        );
        let Route::Replace(bytes) = p.on_frame(Direction::S2C, list.clone()).unwrap().route else {
            panic!("the list was not rewritten")
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v["result"]["tools"],
            serde_json::json!([{ "name": "read" }])
        );
        // The same result in a batch is never rewritten.
        p.on_frame(
            Direction::C2S,
            line(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#),
        )
        .unwrap();
        let batch = line(r#"[{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"delete"}]}}]"#);
        assert_eq!(
            p.on_frame(Direction::S2C, batch).unwrap().route,
            Route::Forward
        );
    }
}
