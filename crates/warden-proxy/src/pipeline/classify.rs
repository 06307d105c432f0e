//! Stage 2, classify: what each message is about (target, argument and body spans, progress,
//! cancellation, peer identity), each message classified once, a response with the request it
//! answers (an `initialize` result carries the server's identity).

use warden_core::{Classification, Direction, RequestId, classify};

use super::Pipeline;
use super::parse::Parsed;

/// Each message's classification, in frame order.
pub(super) struct Classified {
    pub classes: Vec<Classification>,
    /// For a response to `initialize` or `server/discover`, that method.
    pub answers: Vec<Option<&'static str>>,
}

/// The request methods whose responses are classified with what they answer.
const IDENTIFYING: [&str; 2] = ["initialize", "server/discover"];

impl Pipeline {
    /// Stage 2 (pure but for a glance at the requests in flight, for responses).
    pub(super) fn classify(&self, dir: Direction, frame: &[u8], parsed: &Parsed<'_>) -> Classified {
        let msgs = parsed.messages();
        let answers: Vec<Option<&'static str>> = if msgs.iter().any(|m| m.kind.is_response()) {
            let st = self.state();
            msgs.iter()
                .map(|m| {
                    let id =
                        m.id.and_then(RequestId::from_raw)
                            .filter(|_| m.kind.is_response())?;
                    let method = st.correlator.method_of(dir.sender().other(), &id)?;
                    IDENTIFYING.into_iter().find(|k| *k == method)
                })
                .collect()
        } else {
            vec![None; msgs.len()]
        };
        // A strict reading kept what classification needs: nothing is walked again.
        let classes = match parsed {
            Parsed::Strict(r) => (0..msgs.len())
                .map(|i| r.classify(i, answers[i]).unwrap_or_default())
                .collect(),
            Parsed::Lenient(_) => msgs
                .iter()
                .zip(&answers)
                .map(|(m, a)| classify(frame, m, *a))
                .collect(),
        };
        Classified { classes, answers }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::pipeline;
    use warden_core::Direction;

    #[test]
    fn an_initialize_result_is_classified_with_what_it_answers() {
        let p = pipeline();
        let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
        p.on_frame(Direction::C2S, bytes::Bytes::from_static(init))
            .unwrap();
        let result = br#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"srv","version":"2"}}}"#;
        let parsed = p.parse(Direction::S2C, result).ok().unwrap();
        let c = p.classify(Direction::S2C, result, &parsed);
        assert_eq!(c.answers, vec![Some("initialize")]);
        assert_eq!(c.classes[0].server_info.as_ref().unwrap().name, "srv");
        // The same bytes answering nothing in flight carry no identity.
        let other = br#"{"jsonrpc":"2.0","id":2,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"srv","version":"2"}}}"#;
        let parsed = p.parse(Direction::S2C, other).ok().unwrap();
        let c = p.classify(Direction::S2C, other, &parsed);
        assert_eq!(c.answers, vec![None]);
        assert!(c.classes[0].server_info.is_none());
    }
}
