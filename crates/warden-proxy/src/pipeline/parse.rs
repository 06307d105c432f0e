//! Stage 1, parse: the frame read once into its envelope. A client frame is read strictly
//! (`warden_core::read`: the strict rules and the envelope in one walk) and goes on only if it
//! passes and none of its requests reuses an id in flight (`admit`); a server frame is read as
//! sent.

use warden_core::read::{Read, read};
use warden_core::{Direction, Envelope, Kind, Message, ParseError, Side, parse_frame};

use super::Pipeline;
use crate::admit::Refusal;

/// A frame as read.
pub(super) enum Parsed<'f> {
    /// A client frame read strictly, with what classification needs of it.
    Strict(Read<'f>),
    /// A server frame (or a client's empty line), read as sent: its envelope, or why it is none.
    Lenient(Result<Envelope<'f>, ParseError>),
}

impl<'f> Parsed<'f> {
    /// The envelope, or why the frame is not one.
    pub(super) fn env(&self) -> Result<&Envelope<'f>, &ParseError> {
        match self {
            Parsed::Strict(r) => Ok(&r.envelope),
            Parsed::Lenient(env) => env.as_ref(),
        }
    }

    /// The messages of the frame (none if it did not parse).
    pub(super) fn messages(&self) -> &[Message<'f>] {
        self.env().map_or(&[], |e| &e.messages[..])
    }

    /// A JSON-RPC batch (an array of messages).
    pub(super) fn batch(&self) -> bool {
        self.env().is_ok_and(|e| e.kind == Kind::Batch)
    }

    /// At least one of its messages is a request.
    pub(super) fn carries_request(&self) -> bool {
        self.messages().iter().any(|m| m.kind == Kind::Request)
    }

    /// Read by the strict reading (its bytes are strict JSON).
    pub(super) fn strict(&self) -> bool {
        matches!(self, Parsed::Strict(_))
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
        if dir == Direction::S2C {
            return Ok(Parsed::Lenient(parse_frame(frame)));
        }
        let parsed = match read(frame) {
            Ok(r) => Parsed::Strict(r),
            Err(v) => {
                // Refused, or an empty line (forwarded as it is): decided, with the answer's
                // ids, on the lenient reading (rare, so read again). Anything else the strict
                // reading did not pass is refused.
                let env = parse_frame(frame);
                match crate::admit::violation(frame, &env) {
                    None if matches!(env, Err(ParseError::Empty)) => Parsed::Lenient(env),
                    found => return Err((env, Refusal::from(found.unwrap_or(v)))),
                }
            }
        };
        if let Ok(env) = parsed.env()
            && self.reuses_id(env)
        {
            return Err((parse_frame(frame), Refusal::id_in_flight()));
        }
        Ok(parsed)
    }

    /// True when a request of the frame reuses an id of this client still in flight.
    fn reuses_id(&self, env: &Envelope<'_>) -> bool {
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
