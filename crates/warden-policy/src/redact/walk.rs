//! The tree walker: redacts a parsed [`serde_json::Value`] in place (key rules on members,
//! detectors on strings and keys, card numbers as numbers) and reports each redaction with
//! its JSON pointer.

use std::collections::HashSet;

use serde_json::{Map, Number, Value};

use super::detect::digits::valid_card;
use super::{KEY_MARKER, KEY_RULE, Redaction, Redactor};

impl Redactor {
    pub(super) fn walk_mut(
        &self,
        value: &mut Value,
        pointer: &mut String,
        out: &mut Vec<Redaction>,
    ) {
        if let Value::Number(n) = &*value
            && let Some(rule) = self.card_number_value(n)
        {
            self.report(pointer, &[(rule, 1)], out);
            *value = Value::String(self.rules[rule].marker.clone());
            return;
        }
        match value {
            Value::String(s) => {
                if let Some(r) = self.redact_text(s) {
                    self.report(pointer, &r.counts, out);
                    *s = r.text;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = pointer.len();
                    push_index(pointer, i);
                    self.walk_mut(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                let renames = self.plan_renames(map);
                self.report_renames(&renames, pointer, out);
                for (key, child) in map.iter_mut() {
                    let name = renamed(&renames, key);
                    let len = pointer.len();
                    push_key(pointer, name);
                    if self.key_rule(name) {
                        if !is_key_marker(child) {
                            out.push(key_redaction(pointer));
                            *child = Value::String(KEY_MARKER.to_owned());
                        }
                    } else {
                        self.walk_mut(child, pointer, out);
                    }
                    pointer.truncate(len);
                }
                let moved: Vec<(String, Value)> = renames
                    .into_iter()
                    .filter_map(|r| map.remove(&r.old).map(|v| (r.new, v)))
                    .collect();
                map.extend(moved);
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn plan_renames(&self, map: &Map<String, Value>) -> Vec<Rename> {
        let mut renames: Vec<Rename> = Vec::new();
        for key in map.keys() {
            if let Some(r) = self.redact_text(key) {
                renames.push(Rename {
                    old: key.clone(),
                    new: r.text,
                    counts: r.counts,
                });
            }
        }
        if renames.is_empty() {
            return renames;
        }
        let mut taken: HashSet<String> = map
            .keys()
            .filter(|k| !renames.iter().any(|r| &r.old == *k))
            .cloned()
            .collect();
        for r in &mut renames {
            if taken.contains(&r.new) {
                let mut n: u64 = 2;
                while taken.contains(&format!("{} #{n}", r.new)) {
                    n += 1;
                }
                r.new = format!("{} #{n}", r.new);
            }
            taken.insert(r.new.clone());
        }
        renames
    }

    fn report_renames(&self, renames: &[Rename], pointer: &mut String, out: &mut Vec<Redaction>) {
        for r in renames {
            let len = pointer.len();
            push_key(pointer, &r.new);
            self.report(pointer, &r.counts, out);
            pointer.truncate(len);
        }
    }

    pub(super) fn report(&self, pointer: &str, counts: &[(usize, u32)], out: &mut Vec<Redaction>) {
        out.extend(counts.iter().map(|&(rule, count)| Redaction {
            rule: self.rules[rule].id.clone(),
            pointer: pointer.to_owned(),
            count,
        }));
    }

    /// The card rule, if `n` is an unsigned integer that is a valid card number.
    pub(super) fn card_number_value(&self, n: &Number) -> Option<usize> {
        let rule = self.card?;
        let v = n.as_u64()?;
        if v < 1_000_000_000_000 {
            return None;
        }
        let mut digits = [0u8; 20];
        let mut len = 0;
        let mut rest = v;
        while rest > 0 {
            digits[len] = (rest % 10) as u8;
            rest /= 10;
            len += 1;
        }
        digits[..len].reverse();
        valid_card(&digits[..len]).then_some(rule)
    }
}

struct Rename {
    old: String,
    new: String,
    counts: Vec<(usize, u32)>,
}

fn renamed<'a>(renames: &'a [Rename], key: &'a str) -> &'a str {
    renames
        .iter()
        .find(|r| r.old == key)
        .map_or(key, |r| r.new.as_str())
}

pub(super) fn is_key_marker(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == KEY_MARKER)
}

pub(super) fn key_redaction(pointer: &str) -> Redaction {
    Redaction {
        rule: KEY_RULE.to_owned(),
        pointer: pointer.to_owned(),
        count: 1,
    }
}

/// JSON pointer escaping (RFC 6901): `~` → `~0`, `/` → `~1`.
pub(super) fn push_key(pointer: &mut String, key: &str) {
    pointer.push('/');
    if key.contains(['~', '/']) {
        for c in key.chars() {
            match c {
                '~' => pointer.push_str("~0"),
                '/' => pointer.push_str("~1"),
                c => pointer.push(c),
            }
        }
    } else {
        pointer.push_str(key);
    }
}

pub(super) fn push_index(pointer: &mut String, mut i: usize) {
    pointer.push('/');
    let mut buf = [0u8; 20];
    let mut n = buf.len();
    loop {
        n -= 1;
        buf[n] = b'0' + (i % 10) as u8;
        i /= 10;
        if i == 0 {
            break;
        }
    }
    pointer.extend(buf[n..].iter().map(|&d| char::from(d)));
}
