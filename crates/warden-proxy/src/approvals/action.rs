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
    warden_core::canonical::canonical(&call, &mut out);
    Some(hasher.tag(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> KeyedHasher {
        KeyedHasher::new(&[7; 32])
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
}
