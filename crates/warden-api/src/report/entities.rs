//! The entities a call's arguments name, for the data-access map: ids (values of keys that
//! mention `id` or `employee`), file paths, URIs and e-mail addresses (shown masked).

use serde_json::Value;

/// Calls `found(kind, value)` for each entity in `v`; `key` is the member name holding it.
pub(super) fn collect(v: &Value, key: Option<&str>, found: &mut impl FnMut(&'static str, String)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                collect(x, Some(k), found);
            }
        }
        Value::Array(a) => {
            for x in a.iter().take(100) {
                collect(x, key, found);
            }
        }
        Value::String(s) => {
            if let Some(kind) = classify(s) {
                let value = if kind == "email" {
                    mask_email(s)
                } else {
                    s.clone()
                };
                found(kind, value);
            } else if key.is_some_and(is_id_key) && !s.is_empty() && s.len() <= 200 {
                found("id", s.clone());
            }
        }
        Value::Number(n) if key.is_some_and(is_id_key) => found("id", n.to_string()),
        _ => {}
    }
}

fn is_id_key(k: &str) -> bool {
    let lower = k.to_ascii_lowercase();
    matches!(lower.as_str(), "id" | "ids" | "uid" | "uuid")
        || lower.ends_with("_id")
        || lower.ends_with("_ids")
        || k.ends_with("Id")
        || k.ends_with("Ids")
        || k.ends_with("ID")
        || lower.contains("employee")
}

fn classify(s: &str) -> Option<&'static str> {
    if s.len() > 2048 || s.starts_with("[REDACTED:") {
        return None;
    }
    if let Some((scheme, rest)) = s.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
    {
        return Some("uri");
    }
    if (s.starts_with('/') || s.starts_with("~/") || s.starts_with("./"))
        && s.len() > 1
        && !s.contains(char::is_whitespace)
    {
        return Some("path");
    }
    let b = s.as_bytes();
    if b.len() > 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
    {
        return Some("path");
    }
    if let Some((local, domain)) = s.split_once('@')
        && !local.is_empty()
        && domain.contains('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
    {
        return Some("email");
    }
    None
}

/// `ada.lovelace@example.com` → `a***@example.com`.
fn mask_email(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(v: Value) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        collect(&v, None, &mut |k, s| out.push((k, s)));
        out
    }

    #[test]
    fn ids_paths_uris_and_masked_emails_are_found() {
        let got = all(serde_json::json!({
            "id": "E002", "employee": "E003", "userId": 7, "path": "/srv/data/q3.csv",
            "uri": "file:///etc/hosts", "to": "ada.lovelace@example.com", "note": "hello world",
            "win": "C:\\\\Users\\\\x", "token": "[REDACTED:key]", "nested": {"order_id": "O-1"},
            "valid": "yes"
        }));
        for want in [
            ("id", "E002"),
            ("id", "E003"),
            ("id", "7"),
            ("path", "/srv/data/q3.csv"),
            ("uri", "file:///etc/hosts"),
            ("email", "a***@example.com"),
            ("id", "O-1"),
        ] {
            assert!(
                got.contains(&(want.0, want.1.to_owned())),
                "{want:?} in {got:?}"
            );
        }
        assert!(!got.iter().any(|(_, v)| v.contains("lovelace")), "{got:?}");
        assert!(
            !got.iter()
                .any(|(_, v)| v == "hello world" || v == "yes" || v.contains("REDACTED"))
        );
    }
}
