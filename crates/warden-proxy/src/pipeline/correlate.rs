//! Stage 5, correlate: under the session lock, each message is matched to its exchange — a
//! request opens one (unless it is refused), a response closes its own or is unsolicited, a
//! cancellation or progress notification finds its — and the session's context learns the
//! peers' identity. The lock is held for this stage only.

use std::sync::Arc;

use uuid::Uuid;
use warden_audit::SessionContext;
use warden_core::{Classification, Direction, Kind, RequestId, Side};

use super::Pipeline;
use super::classify::Classified;
use super::parse::Parsed;
use crate::admit::Refusal;
use crate::correlate::{Closed, Pending};
use crate::tools::ToolClass;

/// One message, matched.
pub(super) struct Link {
    /// The session context its records carry (after its own `initialize`, if any).
    pub ctx: Arc<SessionContext>,
    /// The exchange it opened, closed or belongs to.
    pub exchange: Option<Uuid>,
    /// The exchange a request displaced by reusing its id (a protocol anomaly).
    pub displaced: Option<Pending>,
    /// The request a response answered.
    pub closed: Option<Closed>,
    /// A notification that cancelled its exchange.
    pub cancelled: bool,
    /// A response to no request warden forwarded in this session.
    pub unsolicited: bool,
    /// The class of the tool a `tools/call` names (on refused calls too).
    pub tool_class: Option<ToolClass>,
}

impl Pipeline {
    /// Stage 5. `Err` when a request reuses an id that went in flight since the frame was
    /// parsed (two frames racing with one id: the later one is refused).
    pub(super) fn correlate(
        &self,
        dir: Direction,
        frame: &[u8],
        parsed: &Parsed<'_>,
        classified: &Classified,
        refuse: bool,
    ) -> Result<Vec<Link>, Refusal> {
        let mut st = self.state();
        if dir == Direction::C2S
            && let Ok(env) = parsed.env()
            && crate::admit::reuses_id(env, |id| {
                st.correlator.method_of(Side::Client, id).is_some()
            })
        {
            return Err(Refusal::id_in_flight());
        }
        let mut links = Vec::with_capacity(classified.classes.len());
        for ((msg, c), answered) in parsed
            .messages()
            .iter()
            .zip(&classified.classes)
            .zip(&classified.answers)
        {
            let initialize =
                msg.method.as_deref() == Some("initialize") || *answered == Some("initialize");
            self.learn_identity(&mut st.ctx, c, initialize);
            let mut link = Link {
                ctx: st.ctx.clone(),
                exchange: None,
                displaced: None,
                closed: None,
                cancelled: false,
                unsolicited: false,
                tool_class: None,
            };
            let id = msg.id.and_then(RequestId::from_raw);
            match (msg.kind, id) {
                (Kind::Request, Some(id)) => {
                    if msg.method.as_deref() == Some("tools/call")
                        && let Some(tool) = &c.target
                    {
                        link.tool_class = Some(st.tools.classify(tool));
                    }
                    if !refuse {
                        let method = msg.method.as_deref().unwrap_or_default();
                        let (exchange, displaced) = st.correlator.request(
                            dir.sender(),
                            id,
                            method,
                            c.target.clone(),
                            c.progress_token.clone(),
                        );
                        link.exchange = Some(exchange);
                        link.displaced = displaced;
                    }
                }
                (Kind::Result | Kind::Error, Some(id)) => {
                    match st.correlator.response(dir.sender().other(), &id) {
                        Some(closed) => {
                            if closed.method == "tools/list"
                                && msg.kind == Kind::Result
                                && let Some(body) = c.body.clone().and_then(|r| frame.get(r))
                            {
                                st.tools.learn(body);
                            }
                            link.exchange = Some(closed.exchange);
                            link.closed = Some(closed);
                        }
                        None => link.unsolicited = true,
                    }
                }
                (Kind::Notification, _) => {
                    if let Some(cancelled) = &c.cancelled {
                        link.exchange = st.correlator.cancel(dir.sender(), cancelled);
                        link.cancelled = link.exchange.is_some();
                    } else if let Some(token) = &c.progress_token {
                        link.exchange = st.correlator.progress(token);
                    }
                }
                _ => {}
            }
            links.push(link);
        }
        Ok(links)
    }

    /// The peers' names and the protocol version a message states, kept in the session
    /// context (redacted: every record and security event copies them).
    fn learn_identity(&self, ctx: &mut Arc<SessionContext>, c: &Classification, initialize: bool) {
        if c.client_info.is_none() && c.server_info.is_none() && c.protocol_version.is_none() {
            return;
        }
        let mut next = (**ctx).clone();
        if initialize || next.protocol.is_none() {
            next.protocol = c.protocol_version.clone().or(next.protocol);
        }
        next.client_info = c
            .client_info
            .clone()
            .map(|i| self.scrub_implementation(i))
            .or(next.client_info);
        next.server_info = c
            .server_info
            .clone()
            .map(|i| self.scrub_implementation(i))
            .or(next.server_info);
        if next != **ctx {
            *ctx = Arc::new(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use warden_core::Direction;

    use super::super::tests::{line, pipeline};

    fn links(p: &super::Pipeline, dir: Direction, frame: &str, refuse: bool) -> Vec<super::Link> {
        let frame = line(frame);
        let parsed = p.parse(dir, &frame).ok().unwrap();
        let c = p.classify(dir, &frame, &parsed);
        p.correlate(dir, &frame, &parsed, &c, refuse).ok().unwrap()
    }

    #[test]
    fn a_request_opens_its_exchange_and_only_its_response_closes_it() {
        let p = pipeline();
        let open = links(
            &p,
            Direction::C2S,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#,
            false,
        );
        let exchange = open[0].exchange.unwrap();
        assert!(open[0].tool_class.is_some());
        // The server's own request with the same id is another id space.
        let theirs = links(
            &p,
            Direction::S2C,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            false,
        );
        assert_ne!(theirs[0].exchange, Some(exchange));
        let closed = links(
            &p,
            Direction::S2C,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            false,
        );
        assert_eq!(closed[0].closed.as_ref().unwrap().method, "tools/call");
        assert_eq!(closed[0].exchange, Some(exchange));
        let again = links(
            &p,
            Direction::S2C,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            false,
        );
        assert!(again[0].unsolicited && again[0].exchange.is_none());
    }

    #[test]
    fn a_refused_request_opens_nothing_and_an_initialize_names_the_client() {
        let p = pipeline();
        let refused = links(
            &p,
            Direction::C2S,
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"t"}}"#,
            true,
        );
        assert!(refused[0].exchange.is_none() && refused[0].tool_class.is_some());
        let init = links(
            &p,
            Direction::C2S,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli","version":"1"}}}"#,
            false,
        );
        assert_eq!(init[0].ctx.client_info.as_ref().unwrap().name, "cli");
        assert_eq!(init[0].ctx.protocol.as_deref(), Some("2025-06-18"));
    }
}
