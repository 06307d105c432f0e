//! Server-Sent Events on the wire: an incremental splitter that keeps each event's exact
//! bytes (so they are forwarded as sent, `id:`, `retry:`, `event:` and comments included),
//! and the fields of one event. No I/O; never panics on any input.

use bytes::{Bytes, BytesMut};

/// One complete event block as it arrived, terminator included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub bytes: Bytes,
}

/// The fields of an event block.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields {
    /// The `data` lines joined by `\n`; `None` when the block has no `data` field.
    pub data: Option<Vec<u8>>,
    pub event: Option<String>,
    pub id: Option<String>,
    pub retry: Option<u64>,
}

impl RawEvent {
    /// Parses the fields (per the HTML Living Standard's event-stream interpretation).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::default();
        for line in lines(&self.bytes) {
            if line.is_empty() || line[0] == b':' {
                continue;
            }
            let (name, value) = match memchr::memchr(b':', line) {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &b""[..]),
            };
            match name {
                b"data" => match &mut f.data {
                    None => f.data = Some(value.to_vec()),
                    Some(d) => {
                        d.push(b'\n');
                        d.extend_from_slice(value);
                    }
                },
                b"event" => f.event = Some(String::from_utf8_lossy(value).into_owned()),
                b"id" if !value.contains(&0) => {
                    f.id = Some(String::from_utf8_lossy(value).into_owned());
                }
                b"retry" => f.retry = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()),
                _ => {}
            }
        }
        f
    }
}

/// The lines of a block, without their terminators (`\r\n`, `\n` or `\r`).
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
        let line = &rest[..end];
        let mut next = end;
        if rest.get(end) == Some(&b'\r') && rest.get(end + 1) == Some(&b'\n') {
            next += 2;
        } else if end < rest.len() {
            next += 1;
        }
        rest = &rest[next..];
        Some(line)
    })
}

/// Splits a byte stream into event blocks. Bytes that do not yet end a block are kept.
#[derive(Default)]
pub struct Splitter {
    buf: BytesMut,
    /// Where to resume looking for the blank line that ends a block.
    scanned: usize,
}

impl Splitter {
    /// Adds bytes and returns the blocks they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<RawEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = block_end(&self.buf, self.scanned) {
            let block = self.buf.split_to(end).freeze();
            self.scanned = 0;
            out.push(RawEvent { bytes: block });
        }
        // Keep one byte of look-back: a `\r` may be followed by `\n` in the next chunk.
        self.scanned = self.buf.len().saturating_sub(3);
        out
    }

    /// Bytes received that do not end a block yet (a stream cut mid-event).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The end (exclusive) of the first complete block at or after `from`: a line terminator
/// directly followed by another. `\r` at the very end is not decided until more arrives.
fn block_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        let first = match (buf[i], buf.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\r', None) => return None,
            (b'\r', _) | (b'\n', _) => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        let j = i + first;
        match (buf.get(j), buf.get(j + 1)) {
            (Some(b'\r'), Some(b'\n')) => return Some(j + 2),
            (Some(b'\r'), None) => return None,
            (Some(b'\r'), Some(_)) | (Some(b'\n'), _) => return Some(j + 1),
            _ => i = j,
        }
    }
    None
}

/// Encodes a message as an SSE `message` event (for events warden makes itself: no `id:`, so
/// a client never resumes from a cursor the upstream does not know).
pub fn message_event(json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 24);
    out.extend_from_slice(b"event: message\n");
    let body = warden_core::envelope::trim_frame(json);
    for line in lines(body) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    Bytes::from(out)
}

/// Encodes a message as an SSE `message` event with an `id:` (for streams warden serves
/// itself, where warden keeps the ids and can replay after them).
pub fn message_event_with_id(id: u64, json: &[u8]) -> Bytes {
    message_event_with_label(&id.to_string(), json)
}

/// A message event with an `id:` line of any (newline-free) label.
pub fn message_event_with_label(id: &str, json: &[u8]) -> Bytes {
    let mut out = format!("id: {id}\n").into_bytes();
    out.extend_from_slice(&message_event(json));
    Bytes::from(out)
}

/// Re-encodes an upstream event with new data, keeping its `id`, `event` and `retry`.
pub fn with_data(original: &Fields, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 64);
    if let Some(e) = &original.event {
        out.extend_from_slice(format!("event: {e}\n").as_bytes());
    }
    if let Some(id) = &original.id {
        out.extend_from_slice(format!("id: {id}\n").as_bytes());
    }
    if let Some(r) = original.retry {
        out.extend_from_slice(format!("retry: {r}\n").as_bytes());
    }
    for line in lines(warden_core::envelope::trim_frame(json)) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = Splitter::default();
        chunks
            .iter()
            .flat_map(|c| s.push(c))
            .map(|e| e.bytes.to_vec())
            .collect()
    }

    #[test]
    fn blocks_keep_their_exact_bytes_across_any_chunking() {
        let stream: &[u8] =
            b": keep-alive\n\nid: 7\nretry: 500\nevent: message\ndata: {\"a\":1}\n\nid: 8\r\ndata: x\r\n\r\ndata: y\r\rdata: z\n\n";
        let whole = split_all(&[stream]);
        assert_eq!(whole.len(), 5);
        assert_eq!(whole.concat(), stream);
        for cut in 0..stream.len() {
            let parts = split_all(&[&stream[..cut], &stream[cut..]]);
            assert_eq!(parts, whole, "cut at {cut}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(split_all(&bytewise), whole);
    }

    #[test]
    fn fields_follow_the_event_stream_rules() {
        let e = RawEvent {
            bytes: Bytes::from_static(
                b"id: 42\nevent: message\nretry: 3000\ndata: {\"x\":\ndata:  1}\n: c\n\n",
            ),
        };
        let f = e.fields();
        assert_eq!(f.id.as_deref(), Some("42"));
        assert_eq!(f.event.as_deref(), Some("message"));
        assert_eq!(f.retry, Some(3000));
        assert_eq!(f.data.unwrap(), b"{\"x\":\n 1}");
        let priming = RawEvent {
            bytes: Bytes::from_static(b"id: 1\ndata:\n\n"),
        };
        assert_eq!(priming.fields().data.unwrap(), b"");
        let comment = RawEvent {
            bytes: Bytes::from_static(b": ping\n\n"),
        };
        assert_eq!(comment.fields().data, None);
    }

    #[test]
    fn a_message_event_round_trips() {
        let ev = message_event(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
        let parsed = split_all(&[&ev]);
        assert_eq!(parsed.len(), 1);
        let f = RawEvent {
            bytes: Bytes::from(parsed[0].clone()),
        }
        .fields();
        assert_eq!(
            f.data.unwrap(),
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"
        );
    }
}
