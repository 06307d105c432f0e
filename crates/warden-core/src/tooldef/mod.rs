//! MCP tool definitions as a catalog sees them: the definition **pin** (SHA-256 of the canonical
//! JSON of the whole tool object minus a versioned exclusion list), the reviewed **diff**
//! between two definitions of a tool (each change classified cosmetic, semantic or
//! risk-raising), and the **rename** check (a new tool with a removed tool's schema).

pub mod diff;
#[cfg(test)]
mod tests;
mod text;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use diff::{Change, Class, Diff, diff};

/// The pin's version: what is hashed. `pin-v1` hashes the tool object without its top-level
/// `_meta` (volatile by the spec: servers may put request-scoped data there). Annotations,
/// title, descriptions and both schemas are part of the pin.
pub const PIN_VERSION: &str = "pin-v1";

/// The top-level members `pin-v1` leaves out.
pub const PIN_EXCLUDED: &[&str] = &["_meta"];

/// The pin of a tool definition: `sha256:` and 64 hex digits over its canonical JSON without
/// the members of [`PIN_EXCLUDED`].
pub fn pin(tool: &Value) -> String {
    let mut t = tool.clone();
    if let Some(o) = t.as_object_mut() {
        for k in PIN_EXCLUDED {
            o.remove(*k);
        }
    }
    let digest = Sha256::digest(crate::canonical::to_vec(&t));
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The tool's name, if it has one.
pub fn name(tool: &Value) -> Option<&str> {
    tool.get("name").and_then(Value::as_str)
}

/// Which of `removed` (tools no longer listed) `added` looks like under a new name: the same
/// parameters (names, types, which are required) and a similar description (at least half
/// its words in common). A catalog flags such a
/// tool `renamed?` for review instead of taking it as unrelated and new.
pub fn renamed_from<'a>(added: &Value, removed: &[&'a Value]) -> Option<&'a Value> {
    let schema = |t: &Value| t.get("inputSchema").map(shape);
    let mine = schema(added)?;
    let words = |t: &Value| {
        t.get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    removed
        .iter()
        .filter(|r| schema(r).as_deref() == Some(&mine[..]))
        .map(|r| (text::similarity(&words(added), &words(r)), *r))
        .filter(|(s, _)| *s >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, r)| r)
}

/// What a rename keeps: the parameters' names and types, and which are required (not the
/// schema's title or descriptions, which a renaming server rewrites).
fn shape(schema: &Value) -> Vec<u8> {
    let props: serde_json::Map<String, Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.clone(), v.get("type").cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .unwrap_or_default();
    let mut required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    required.sort_unstable();
    crate::canonical::to_vec(&serde_json::json!({ "properties": props, "required": required }))
}
