//! Stage 1, parse: the frame read into its envelope; a client frame goes on only if warden
//! read it strictly and completely and none of its requests reuses an id in flight (`admit`).

use warden_core::{Direction, Envelope, Kind, Message, ParseError, Side, parse_frame};

use super::Pipeline;
use crate::admit::Refusal;

/// A frame as read: its envelope, or why it is not one.
pub(super) struct Parsed<'f> {
    pub env: Result<Envelope<'f>, ParseError>,
}

impl<'f> Parsed<'f> {
    /// The messages of the frame (none if it did not parse).
    pub(super) fn messages(&self) -> &[Message<'f>] {
        self.env.as_ref().map_or(&[], |e| &e.messages[..])
    }

    /// A JSON-RPC batch (an array of messages).
    pub(super) fn batch(&self) -> bool {
        self.env.as_ref().is_ok_and(|e| e.kind == Kind::Batch)
    }

    /// At least one of its messages is a request.
    pub(super) fn carries_request(&self) -> bool {
        self.messages().iter().any(|m| m.kind == Kind::Request)
    }
}

/// A client frame refused at the door: what was read of it (for the ids of the answer), and why.
pub(super) type Refused<'f> = (Result<Envelope<'f>, ParseError>, Refusal);

impl Pipeline {
    /// Stage 1: reads `frame`; a client frame that is not read strictly, or reuses an id in
    /// flight, is refused (the transport answers it; nothing of it goes on).
    pub(super) fn parse<'f>(
        &self,
        dir: Direction,
        frame: &'f [u8],
    ) -> Result<Parsed<'f>, Refused<'f>> {
        let env = parse_frame(frame);
        if dir == Direction::C2S {
            let refusal = crate::admit::violation(frame, &env)
                .map(Refusal::from)
                .or_else(|| self.reuses_id(&env).then(Refusal::id_in_flight));
            if let Some(r) = refusal {
                return Err((env, r));
            }
        }
        Ok(Parsed { env })
    }

    /// True when a request of the frame reuses an id of this client still in flight.
    fn reuses_id(&self, parsed: &Result<Envelope<'_>, ParseError>) -> bool {
        let Ok(env) = parsed else { return false };
        let st = self.state();
        crate::admit::reuses_id(env, |id| {
            st.correlator.method_of(Side::Client, id).is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use warden_core::Direction;

    use super::super::tests::{line, pipeline};

    #[test]
    fn a_client_frame_is_read_strictly_and_a_server_frame_as_sent() {
        let p = pipeline();
        let dup = line(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{},"params":{}}"#);
        let (_, why) = p.parse(Direction::C2S, &dup).err().unwrap();
        assert_eq!(why.reason, "duplicate_member");
        // Server frames are recorded as they are, not refused.
        assert!(p.parse(Direction::S2C, &dup).is_ok());
        let batch = line(
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]"#,
        );
        let parsed = p.parse(Direction::C2S, &batch).ok().unwrap();
        assert!(parsed.batch() && parsed.carries_request());
        assert_eq!(parsed.messages().len(), 2);
    }

    #[test]
    fn a_request_id_in_flight_is_refused_until_answered() {
        let p = pipeline();
        let ping = line(r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#);
        p.on_frame(Direction::C2S, ping.clone()).unwrap();
        let (_, why) = p.parse(Direction::C2S, &ping).err().unwrap();
        assert_eq!(why.reason, "id_in_flight");
        p.on_frame(
            Direction::S2C,
            line(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
        )
        .unwrap();
        assert!(p.parse(Direction::C2S, &ping).is_ok());
    }
}
