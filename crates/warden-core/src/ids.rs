//! Directions, initiating sides and JSON-RPC request ids as correlation keys.

use serde_json::value::RawValue;

/// Which way a frame travels through the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the MCP client (downstream) to the MCP server (upstream).
    C2S,
    /// From the MCP server (upstream) to the MCP client (downstream).
    S2C,
}

impl Direction {
    /// The stable text form used in audit records (`c2s` / `s2c`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::C2S => "c2s",
            Direction::S2C => "s2c",
        }
    }

    /// The side that sends frames travelling in this direction.
    pub fn sender(self) -> Side {
        match self {
            Direction::C2S => Side::Client,
            Direction::S2C => Side::Server,
        }
    }
}

/// Who initiated a request: ids are unique only per sender, so both sides have their own id space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    /// The side at the other end of the session.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// A JSON-RPC request id as a correlation key. `1` and `"1"` are different ids; numbers keep
/// their exact text (`1.0` is not `1`), strings compare by their decoded value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequestId {
    Num(String),
    Str(String),
}

impl RequestId {
    /// Reads an id from its raw JSON value; `None` for `null` or any other JSON type.
    pub fn from_raw(raw: &RawValue) -> Option<RequestId> {
        let text = raw.get();
        match text.as_bytes().first()? {
            b'"' => serde_json::from_str::<String>(text)
                .ok()
                .map(RequestId::Str),
            b'-' | b'0'..=b'9' => Some(RequestId::Num(text.to_owned())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn numbers_and_strings_are_distinct_ids() {
        assert_ne!(
            RequestId::from_raw(&raw("1")),
            RequestId::from_raw(&raw("\"1\""))
        );
        assert_eq!(
            RequestId::from_raw(&raw("\"a\"")),
            RequestId::from_raw(&raw("\"\\u0061\""))
        );
        assert_eq!(RequestId::from_raw(&raw("null")), None);
        assert_ne!(
            RequestId::from_raw(&raw("1")),
            RequestId::from_raw(&raw("1.0"))
        );
    }
}
