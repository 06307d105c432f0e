//! The one-pass strict reading of a client frame: [`read`] decides every rule of
//! [`crate::strict`] and returns the envelope [`crate::parse_frame`] would, with the members
//! classification needs, in one walk of the bytes (after std's UTF-8 validation, which any
//! safe `&str` needs). Payloads are borrowed, never copied: an 8 MB argument is walked once.
//!
//! Verdicts are [`strict::check`] + [`parse_frame`] + [`strict::check_envelope`]'s on every
//! input: the walk accepts only what they accept (tested against them), and anything it does
//! not accept is decided by them, so refusals carry exactly their violation.

use std::borrow::Cow;
use std::collections::HashSet;

use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, MapDeserializer};
use serde_json::value::RawValue;

use crate::classify::{Classification, ParamsView, classify_with, view};
use crate::envelope::{Envelope, Kind, Message, RawMessage, message_from, parse_frame, trim_frame};
use crate::strict::{self, MAX_DEPTH, Violation};

/// A client frame read strictly: its envelope, and per message the members of its `params`
/// (requests, notifications) or `result`, so classifying it walks nothing again.
#[derive(Debug, Clone)]
pub struct Read<'a> {
    /// What [`parse_frame`] returns for the frame.
    pub envelope: Envelope<'a>,
    frame: &'a [u8],
    views: Vec<ParamsView<'a>>,
}

impl<'a> Read<'a> {
    /// The frame that was read (spans of classifications are offsets into it).
    pub fn frame(&self) -> &'a [u8] {
        self.frame
    }

    /// [`crate::classify`] of message `index` (a batch element, or 0), from the members read
    /// in the same pass: equal to `classify(frame, &envelope.messages[index], answered)`.
    /// `None` past the last message.
    pub fn classify(&self, index: usize, answered: Option<&str>) -> Option<Classification> {
        let msg = self.envelope.messages.get(index)?;
        let view = self.views.get(index).cloned().unwrap_or_default();
        Some(classify_with(self.frame, msg, view, answered))
    }

    /// Every message classified as by [`crate::classify`] with nothing answered.
    pub fn classify_all(&self) -> Vec<Classification> {
        (0..self.envelope.messages.len())
            .filter_map(|i| self.classify(i, None))
            .collect()
    }

    /// The envelope alone.
    pub fn into_envelope(self) -> Envelope<'a> {
        self.envelope
    }
}

/// Reads one client frame (a stdio line with its line ending, or an HTTP body) strictly, once.
/// `Ok` exactly when `check(frame)`, `parse_frame(frame)` and `check_envelope` all pass, with
/// `parse_frame`'s envelope; otherwise the violation the first of them reports (a frame
/// `parse_frame` cannot read is a [`Violation::Syntax`]; an all-whitespace frame too, as
/// [`strict::check`] says: callers that forward empty lines decide that before).
pub fn read(frame: &[u8]) -> Result<Read<'_>, Violation> {
    match fast(frame) {
        Some(r) => Ok(r),
        None => decided(frame),
    }
}

/// The reading by the three separate passes: the verdict on every frame the one pass does not
/// accept (refusals, and anything it is unsure of), so both always agree.
fn decided(frame: &[u8]) -> Result<Read<'_>, Violation> {
    strict::check(frame)?;
    let envelope = parse_frame(frame).map_err(|e| Violation::Syntax(e.to_string()))?;
    strict::check_envelope(&envelope)?;
    let views = envelope
        .messages
        .iter()
        .map(|m| view(payload_of(m)))
        .collect();
    Ok(Read {
        envelope,
        frame,
        views,
    })
}

/// The members classification reads: `params` of requests and notifications, `result` of
/// results.
fn payload_of<'a>(m: &Message<'a>) -> Option<&'a RawValue> {
    match m.kind {
        Kind::Request | Kind::Notification => m.params,
        Kind::Result => m.result,
        _ => None,
    }
}

/// The one walk: `Some` only for a frame every rule admits; `None` leaves the verdict to
/// [`decided`].
pub(crate) fn fast(frame: &[u8]) -> Option<Read<'_>> {
    if frame.starts_with(b"\xEF\xBB\xBF") {
        return None;
    }
    let text = std::str::from_utf8(frame).ok()?;
    let mut r = Walk {
        text,
        b: frame,
        i: 0,
    };
    r.ws()?;
    let mut messages = Vec::with_capacity(1);
    let mut views = Vec::with_capacity(1);
    let kind = match r.peek()? {
        b'[' => {
            r.array(1, |r| {
                let (m, v) = r.message(2)?;
                messages.push(m);
                views.push(v);
                Some(())
            })?;
            Kind::Batch
        }
        b'{' => {
            let (m, v) = r.message(1)?;
            let kind = m.kind;
            messages.push(m);
            views.push(v);
            kind
        }
        _ => return None,
    };
    r.ws()?;
    if r.i != frame.len() || messages.is_empty() {
        return None;
    }
    for (m, v) in messages.iter().zip(&views) {
        strict::check_message_view(m, v).ok()?;
    }
    Some(Read {
        envelope: Envelope {
            body: trim_frame(frame),
            kind,
            messages,
        },
        frame,
        views,
    })
}

/// A borrowed `RawValue` of `json`, a slice of the frame the walk found to be one JSON value,
/// without reading it again: serde_json's own `&RawValue` deserializer is handed the text as
/// its raw-value token map (how serde_json's deserializer hands it over). Should a serde_json
/// release change that, the value is read by serde_json instead (slower, same result).
fn raw(json: &str) -> Option<&RawValue> {
    struct Token<'de>(&'de str);
    impl<'de> serde::Deserializer<'de> for Token<'de> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            v: V,
        ) -> Result<V::Value, Self::Error> {
            let entry = (
                "$serde_json::private::RawValue",
                BorrowedStrDeserializer::new(self.0),
            );
            v.visit_map(MapDeserializer::new(std::iter::once(entry)))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
            identifier ignored_any
        }
    }
    match <&RawValue>::deserialize(Token(json)) {
        Ok(r) if std::ptr::eq(r.get(), json) => Some(r),
        _ => serde_json::from_str(json).ok(),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether any of the 8 bytes of `w` is a quote, a backslash or a control character (the
/// bytes that end a plain run of string text).
fn special(w: u64) -> bool {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    (zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH))
        != 0
}

fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

struct Walk<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Walk<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// JSON whitespace; a carriage return only as part of CRLF (see [`Violation`]).
    fn ws(&mut self) -> Option<()> {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' => self.i += 1,
                b'\r' if self.b.get(self.i + 1) == Some(&b'\n') => self.i += 2,
                b'\r' => return None,
                _ => break,
            }
        }
        Some(())
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth, |r, _| r.value(depth + 1)),
            b'[' => self.array(depth, |r| r.value(depth + 1)),
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// The value at the cursor as raw JSON borrowed from the frame.
    fn raw_value(&mut self, depth: usize) -> Option<&'a RawValue> {
        let start = self.i;
        self.value(depth)?;
        raw(self.text.get(start..self.i)?)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        let _minus = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let int_end = self.i;
        if self.eat(b'.').is_some() {
            self.digits1()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits1()?;
        }
        let digits = int_end - start - usize::from(self.b[start] == b'-');
        // Up to 15 digits without fraction or exponent is far below 2^53; anything else is
        // read by serde_json as `check` reads it.
        if self.i == int_end && digits <= 15 {
            return Some(());
        }
        strict::number_is_safe(self.text.get(start..self.i)?).then_some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    fn digits1(&mut self) -> Option<()> {
        let from = self.i;
        self.digits();
        (self.i > from).then_some(())
    }

    /// Walks a string at the cursor; `true` if it holds escapes.
    fn string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            self.plain_run();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return None,
            }
        }
    }

    /// Skips string text up to the next quote, backslash or control character (8 bytes at a
    /// time: the one walk of a large argument).
    fn plain_run(&mut self) {
        let b = self.b;
        loop {
            while let Some(chunk) = b.get(self.i..self.i + 8) {
                let Ok(word) = <[u8; 8]>::try_from(chunk) else {
                    break;
                };
                if special(u64::from_le_bytes(word)) {
                    break;
                }
                self.i += 8;
            }
            let end = (self.i + 8).min(b.len());
            while self.i < end && !is_special(b[self.i]) {
                self.i += 1;
            }
            if self.i < end || self.i >= b.len() {
                return;
            }
        }
    }

    fn escape(&mut self) -> Option<()> {
        self.i += 1;
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 1;
                Some(())
            }
            b'u' => {
                self.i += 1;
                let unit = self.hex4()?;
                match unit {
                    // A high surrogate must be followed by an escaped low one (every reader
                    // but serde_json takes a lone one, so it is refused).
                    0xD800..=0xDBFF => {
                        self.eat(b'\\')?;
                        self.eat(b'u')?;
                        (0xDC00..=0xDFFF).contains(&self.hex4()?).then_some(())
                    }
                    0xDC00..=0xDFFF => None,
                    _ => Some(()),
                }
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.i..self.i + 4)?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A member name, unescaped only when it holds escapes.
    fn name(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        let escaped = self.string()?;
        let quoted = self.text.get(start..self.i)?;
        if escaped {
            serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
        } else {
            quoted.get(1..quoted.len() - 1).map(Cow::Borrowed)
        }
    }

    /// An object at `depth`; `member` walks each member's value. A repeated name (compared
    /// unescaped) ends the walk.
    fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, &str) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        self.ws()?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut names: Vec<Cow<'a, str>> = Vec::new();
        let mut set: Option<HashSet<Cow<'a, str>>> = None;
        loop {
            let name = self.name()?;
            let dup = match &mut set {
                Some(s) => !s.insert(name.clone()),
                None => names.contains(&name),
            };
            if dup {
                return None;
            }
            self.ws()?;
            self.eat(b':')?;
            self.ws()?;
            member(self, &name)?;
            if set.is_none() {
                names.push(name);
                if names.len() > 16 {
                    set = Some(names.drain(..).collect());
                }
            }
            self.ws()?;
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws()?;
                }
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(
        &mut self,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        self.ws()?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            element(self)?;
            self.ws()?;
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws()?;
                }
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// One message object at `depth`: its top-level members as `parse_frame` reads them, and
    /// the classification members of its `params` and `result`.
    fn message(&mut self, depth: usize) -> Option<(Message<'a>, ParamsView<'a>)> {
        if self.peek()? != b'{' {
            return None;
        }
        let mut raw_msg = RawMessage::default();
        let mut params_view = ParamsView::default();
        let mut result_view = ParamsView::default();
        self.object(depth, |r, name| {
            let slot = match name {
                "jsonrpc" => &mut raw_msg.jsonrpc,
                "id" => &mut raw_msg.id,
                "method" => &mut raw_msg.method,
                "params" => &mut raw_msg.params,
                "result" => &mut raw_msg.result,
                "error" => &mut raw_msg.error,
                _ => return r.value(depth + 1),
            };
            let value = match (name, r.peek()?) {
                ("params", b'{') => r.members(depth + 1, &mut params_view)?,
                ("result", b'{') => r.members(depth + 1, &mut result_view)?,
                _ => r.raw_value(depth + 1)?,
            };
            // As serde reads `Option<&RawValue>`: `null` is absent, except for `id` and
            // `result` (read with `raw_keep_null`).
            *slot = (value.get() != "null" || matches!(name, "id" | "result")).then_some(value);
            Some(())
        })?;
        let msg = message_from(raw_msg);
        let view = match msg.kind {
            Kind::Request | Kind::Notification => params_view,
            Kind::Result => result_view,
            _ => ParamsView::default(),
        };
        Some((msg, view))
    }

    /// A `params` or `result` object at `depth`, noting the members classification reads.
    fn members(&mut self, depth: usize, v: &mut ParamsView<'a>) -> Option<&'a RawValue> {
        let start = self.i;
        self.object(depth, |r, name| {
            let slot = match name {
                "name" => &mut v.name,
                "uri" => &mut v.uri,
                "arguments" => &mut v.arguments,
                "_meta" => &mut v.meta,
                "requestId" => &mut v.request_id,
                "progressToken" => &mut v.progress_token,
                "protocolVersion" => &mut v.protocol_version,
                "clientInfo" => &mut v.client_info,
                "serverInfo" => &mut v.server_info,
                _ => return r.value(depth + 1),
            };
            let value = r.raw_value(depth + 1)?;
            *slot = (value.get() != "null").then_some(value);
            Some(())
        })?;
        raw(self.text.get(start..self.i)?)
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
