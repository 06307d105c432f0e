//! Canonical JSON: object members sorted by the UTF-16 code units of their keys and no
//! insignificant whitespace, with RFC 8785's string escapes; integers as written, other
//! numbers in their shortest round-trip form (what `serde_json` prints). Two documents that
//! differ only in member order, whitespace or string escaping have the same canonical form;
//! what warden hashes to say "the same call" or "the same tool definition" is this form.

use serde_json::Value;

/// Writes `v` as canonical JSON to `out`.
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

/// `v` as canonical JSON.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    canonical(v, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        String::from_utf8(to_vec(&serde_json::from_str(s).unwrap())).unwrap()
    }

    #[test]
    fn canonical_form_follows_rfc_8785_ordering_and_escapes() {
        // RFC 8785 section 3.2.3: keys sorted by UTF-16 code units (U+10000 sorts before U+FB33).
        assert_eq!(
            canon("{\"\u{fb33}\":1,\"\u{10000}\":2,\"b\":[true,null],\"a\":\"\\u001f\\n\u{e9}\"}"),
            "{\"a\":\"\\u001f\\n\u{e9}\",\"b\":[true,null],\"\u{10000}\":2,\"\u{fb33}\":1}"
        );
        assert_eq!(
            canon(r#"{ "b" : 1 , "a" : [ 1 , 2 ] }"#),
            r#"{"a":[1,2],"b":1}"#
        );
    }
}
