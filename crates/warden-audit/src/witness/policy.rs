//! Trust policies in the C2SP `tlog-policy` format: `log <vkey> [<url>]`, `witness <name>
//! <vkey> [<url>]`, `group <name> all|any|<k> <name>...`, `quorum <name>|none`; `#` comments.
//! The same file tells `warden run`/`serve` where to submit checkpoints (witnesses with a
//! URL) and tells `warden audit verify --policy` which cosignatures make a quorum.

use std::collections::{HashMap, HashSet};

use super::cosign::CosignatureKey;

/// A witness of the policy.
#[derive(Clone, Debug)]
pub struct PolicyWitness {
    pub name: String,
    pub vkey: String,
    pub key: CosignatureKey,
    /// The submission prefix (`<url>/add-checkpoint` is posted to).
    pub url: Option<String>,
}

#[derive(Clone, Debug)]
struct Group {
    k: usize,
    members: Vec<String>,
}

/// A parsed policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Log verifier keys (signed-note, Ed25519), with their URL if given.
    pub logs: Vec<String>,
    pub witnesses: Vec<PolicyWitness>,
    groups: HashMap<String, Group>,
    /// `None`: `quorum none`.
    quorum: Option<String>,
}

/// The key material of a verifier key `name+id+base64(...)` (base64 may hold `+` itself).
fn public_part(vkey: &str) -> &str {
    vkey.splitn(3, '+').nth(2).unwrap_or_default()
}

impl Policy {
    /// Parses a policy file; errors name the line.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut logs = Vec::new();
        let mut witnesses: Vec<PolicyWitness> = Vec::new();
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut quorum: Option<Option<String>> = None;
        let mut public_keys = HashSet::new();
        for (i, raw) in text.lines().enumerate() {
            let at = |m: String| format!("line {}: {m}", i + 1);
            if raw.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                return Err(at("control character".into()));
            }
            let words: Vec<&str> = raw.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            let Some(&first) = words.first() else {
                continue;
            };
            if first.starts_with('#') {
                continue;
            }
            let defined = |n: &str, w: &[PolicyWitness], g: &HashMap<String, Group>| {
                w.iter().any(|x| x.name == n) || g.contains_key(n)
            };
            match (first, &words[1..]) {
                ("log", [vkey, rest @ ..]) if rest.len() <= 1 => {
                    signed_note::StandardVerifier::new(vkey)
                        .map_err(|e| at(format!("log key: {e}")))?;
                    // Duplicates wrap the same public key, whatever their names.
                    if logs
                        .iter()
                        .any(|l: &String| public_part(l) == public_part(vkey))
                    {
                        return Err(at("duplicate log".into()));
                    }
                    logs.push((*vkey).to_owned());
                }
                ("witness", [name, vkey, rest @ ..]) if rest.len() <= 1 => {
                    if *name == "none" || defined(name, &witnesses, &groups) {
                        return Err(at(format!("name {name} is already defined")));
                    }
                    let key =
                        CosignatureKey::parse(vkey).map_err(|e| at(format!("witness key: {e}")))?;
                    let public = public_part(vkey);
                    if !public_keys.insert(public) {
                        return Err(at("duplicate witness key".into()));
                    }
                    witnesses.push(PolicyWitness {
                        name: (*name).to_owned(),
                        vkey: (*vkey).to_owned(),
                        key,
                        url: rest.first().map(|u| u.trim_end_matches('/').to_owned()),
                    });
                }
                ("group", [name, k, members @ ..]) if !members.is_empty() => {
                    if *name == "none" || defined(name, &witnesses, &groups) {
                        return Err(at(format!("name {name} is already defined")));
                    }
                    let mut seen = HashSet::new();
                    for m in members {
                        if !defined(m, &witnesses, &groups) {
                            return Err(at(format!("{m} is not defined on an earlier line")));
                        }
                        if !seen.insert(*m) {
                            return Err(at(format!("{m} is listed twice")));
                        }
                    }
                    let n = members.len();
                    let k = match *k {
                        "all" => n,
                        "any" => 1,
                        k => crate::witness::request::parse_size(k)
                            .and_then(|k| usize::try_from(k).ok())
                            .filter(|k| (1..=n).contains(k))
                            .ok_or_else(|| {
                                at(format!("threshold {k} is not all, any or 1..={n}"))
                            })?,
                    };
                    groups.insert(
                        (*name).to_owned(),
                        Group {
                            k,
                            members: members.iter().map(|m| (*m).to_owned()).collect(),
                        },
                    );
                }
                ("quorum", [name]) => {
                    if quorum.is_some() {
                        return Err(at("a second quorum line".into()));
                    }
                    if *name != "none" && !defined(name, &witnesses, &groups) {
                        return Err(at(format!("{name} is not defined on an earlier line")));
                    }
                    quorum = Some((*name != "none").then(|| (*name).to_owned()));
                }
                _ => return Err(at(format!("cannot read {:?}", raw.trim()))),
            }
        }
        let quorum = quorum.ok_or("the policy has no quorum line")?;
        Ok(Policy {
            logs,
            witnesses,
            groups,
            quorum,
        })
    }

    /// Whether cosignatures from the witnesses named in `signed` satisfy the quorum.
    pub fn satisfied(&self, signed: &HashSet<&str>) -> bool {
        match &self.quorum {
            None => true,
            Some(q) => self.witnessed(q, signed),
        }
    }

    fn witnessed(&self, name: &str, signed: &HashSet<&str>) -> bool {
        match self.groups.get(name) {
            Some(g) => {
                g.members
                    .iter()
                    .filter(|m| self.witnessed(m, signed))
                    .count()
                    >= g.k
            }
            None => signed.contains(name),
        }
    }

    /// The quorum line, as written (`none` for none).
    pub fn quorum(&self) -> &str {
        self.quorum.as_deref().unwrap_or("none")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::witness::cosign::Cosigner;

    #[test]
    fn groups_and_thresholds() {
        let keys: Vec<String> = (0..4)
            .map(|i| Cosigner::generate(&format!("w{i}")).unwrap().vkey())
            .collect();
        let text = format!(
            "# two of X and any of Y\nwitness X1 {} http://x1\nwitness X2 {}\n  witness Y1 {}\t\nwitness Y2 {}\n\
             group X 2 X1 X2\ngroup Y any Y1 Y2\ngroup XY all X Y\nquorum XY\n",
            keys[0], keys[1], keys[2], keys[3]
        );
        let p = Policy::parse(&text).unwrap();
        assert_eq!(p.witnesses[0].url.as_deref(), Some("http://x1"));
        let s = |n: &[&'static str]| n.iter().copied().collect::<HashSet<&str>>();
        assert!(p.satisfied(&s(&["X1", "X2", "Y2"])));
        assert!(!p.satisfied(&s(&["X1", "Y1", "Y2"])));
        assert!(!p.satisfied(&s(&["X1", "X2"])));
        assert!(Policy::parse("quorum none\n").unwrap().satisfied(&s(&[])));
        let (_, log) = signed_note::generate_key(&mut rand::rngs::OsRng, "acme");
        let public =
            base64::Engine::decode(&base64::prelude::BASE64_STANDARD, public_part(&log)).unwrap();
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&public[1..].try_into().unwrap()).unwrap();
        // The same public key under another name (a valid key on its own).
        let renamed = signed_note::new_ed25519_verifier_key("other", &vk);
        assert!(Policy::parse(&format!("log {renamed}\nquorum none\n")).is_ok());
        let p = Policy::parse(&format!("log {log} https://log.example\nquorum none\n")).unwrap();
        assert_eq!(p.logs, vec![log.clone()]);
        assert!(Policy::parse(&format!("log {log}\nlog {renamed}\nquorum none\n")).is_err());
        for bad in [
            "",
            "quorum X\n",
            "quorum none\nquorum none\n",
            &format!("witness A {}\nwitness B {}\nquorum A\n", keys[0], keys[0]),
            &format!("witness A {}\ngroup G 2 A\nquorum G\n", keys[0]),
            &format!("witness A {}\ngroup G 1 A A\nquorum G\n", keys[0]),
            &format!("group G any A\nwitness A {}\nquorum G\n", keys[0]),
            "witness A notakey\nquorum A\n",
            "frobnicate\nquorum none\n",
            "quorum none\x01\n",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
