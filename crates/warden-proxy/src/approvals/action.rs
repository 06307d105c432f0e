//! The action hash: what an approval approves. A keyed hash (HMAC-SHA-256 with the
//! deployment's hash key, so a guessable call cannot be confirmed from it) of the canonical
//! JSON of `{"arguments": …, "server": …, "tool": …}`: object members sorted by their keys'
//! UTF-16 code units and no insignificant whitespace (RFC 8785's ordering and string form;
//! integers as written, other numbers in their shortest round-trip form, which the strict
//! reading has already limited to safe values). Two calls hash alike exactly when they ask
//! the same server to run the same tool with the same arguments, however their members are
//! ordered or their strings escaped.

use serde_json::Value;
use warden_audit::keyed::KeyedHasher;

/// Domain separation: a tag of this kind is never a tag of anything else warden hashes.
const DOMAIN: &[u8] = b"warden-action-v1";

/// The action hash of a call of `tool` on `server` with `arguments` (raw JSON, as received;
/// `None` when the call has none, hashed as JSON `null`). `None` if the arguments are not JSON.
pub fn action_hash(
    hasher: &KeyedHasher,
    server: &str,
    tool: &str,
    arguments: Option<&[u8]>,
) -> Option<String> {
    let args: Value = match arguments {
        Some(raw) => serde_json::from_slice(raw).ok()?,
        None => Value::Null,
    };
    let mut out = Vec::with_capacity(64 + arguments.map_or(0, <[u8]>::len));
    out.extend_from_slice(DOMAIN);
    out.push(0);
    let call = serde_json::json!({ "server": server, "tool": tool, "arguments": args });
    canonical(&call, &mut out);
    Some(hasher.tag(&out))
}

/// Writes `v` as canonical JSON.
pub fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(k, out);
                out.push(b':');
                canonical(&m[k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(x, out);
            }
            out.push(b']');
        }
        Value::String(s) => string(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// A JSON string as RFC 8785 writes it: `"` and `\` escaped, control characters as the short
/// escapes where JSON has them and `\u00xx` (lowercase) otherwise, everything else as is.
fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> KeyedHasher {
        KeyedHasher::new(&[7; 32])
    }

    fn canon(s: &str) -> String {
        let mut out = Vec::new();
        canonical(&serde_json::from_str(s).unwrap(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn member_order_and_whitespace_do_not_change_the_hash_but_any_value_does() {
        let h = hasher();
        let a = action_hash(
            &h,
            "fs",
            "write_file",
            Some(br#"{"path":"/a","content":"x"}"#),
        );
        let b = action_hash(
            &h,
            "fs",
            "write_file",
            Some(b"{ \"content\" : \"x\", \"path\": \"/a\" }"),
        );
        assert_eq!(a, b);
        assert!(a.as_deref().unwrap().starts_with("hmac-sha256:"));
        for other in [
            action_hash(
                &h,
                "fs",
                "write_file",
                Some(br#"{"path":"/a","content":"y"}"#),
            ),
            action_hash(&h, "fs", "write_file", Some(br#"{"path":"/a"}"#)),
            action_hash(
                &h,
                "fs2",
                "write_file",
                Some(br#"{"path":"/a","content":"x"}"#),
            ),
            action_hash(
                &h,
                "fs",
                "read_file",
                Some(br#"{"path":"/a","content":"x"}"#),
            ),
            action_hash(&h, "fs", "write_file", None),
        ] {
            assert_ne!(a, other);
        }
        // Escapes that decode to the same string are the same call.
        assert_eq!(
            action_hash(&h, "fs", "t", Some(br#"{"p":"\u0061"}"#)),
            action_hash(&h, "fs", "t", Some(br#"{"p":"a"}"#))
        );
        // Another deployment's key gives another hash.
        assert_ne!(
            a,
            action_hash(
                &KeyedHasher::new(&[8; 32]),
                "fs",
                "write_file",
                Some(br#"{"path":"/a","content":"x"}"#)
            )
        );
        assert_eq!(action_hash(&h, "fs", "t", Some(b"{not json")), None);
    }

    #[test]
    fn canonical_form_follows_rfc_8785_ordering_and_escapes() {
        // RFC 8785 section 3.2.3: keys sorted by UTF-16 code units (U+10000 sorts before U+FB33).
        assert_eq!(
            canon("{\"\u{fb33}\":1,\"\u{10000}\":2,\"b\":[true,null],\"a\":\"\\u001f\\n\u{e9}\"}"),
            "{\"a\":\"\\u001f\\n\u{e9}\",\"b\":[true,null],\"\u{10000}\":2,\"\u{fb33}\":1}"
        );
    }
}
