//! Unit tests of redaction: shared fixtures (a corpus of real-looking secrets in a tools/call
//! and a tool result) here, the tests by part in the files below.

mod config;
mod corpus;
mod detectors;
mod keys;
mod phone;
mod props;
mod throughput;
mod tolerant;

pub(super) use super::detect::digits::luhn;
pub(super) use super::detect::iban::{IBAN_LENGTHS, parse_iban};
pub(super) use super::text::drop_hits_in_markers;
pub(super) use super::*;
pub(super) use serde_json::{Map, Value, json};

pub(super) const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
pub(super) const AWS_STS: &str = "ASIAY34FZKBOKMUTVV7A";
pub(super) const GH_CLASSIC: &str = "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";
pub(super) const GH_PAT: &str = "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijk";
pub(super) const SLACK: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
pub(super) const OPENAI_LEGACY: &str = "sk-4fVxQ9mZr2LkT3BlbkFJa8WcYd1uEoPn7HsGqRt5Bv0XyZ1a";
pub(super) const OPENAI_PROJ: &str = "sk-proj-Ab3dEf_GhIjK-lMnOpQrStUvWxYz0123456789_abcdEFGH";
pub(super) const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
pub(super) const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDm2yP8Lq0vXw9sZ3eQ1pR7tY5uI3oP0aS2dF4gH6jK8lA==\n-----END OPENSSH PRIVATE KEY-----";
pub(super) const BEARER_TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
pub(super) const CARD_SPACED: &str = "4111 1111 1111 1111";
pub(super) const CARD_DASHED: &str = "5555-5555-5555-4444";
pub(super) const CARD_AMEX: &str = "378282246310005";
pub(super) const EMAIL: &str = "jane.doe+mcp@example.co.uk";
pub(super) const IBAN_DE: &str = "DE89 3704 0044 0532 0130 00";
pub(super) const IBAN_GB: &str = "GB82WEST12345698765432";
pub(super) const IBAN_FR: &str = "FR1420041010050500013M02606";
pub(super) const X_API_KEY: &str = "k3y-v4lue-that-is-not-pattern-shaped";
pub(super) const COOKIE: &str = "session=s%3AJ1x9ZpQ.opaque";
pub(super) const PASSWORD: &str = "correct horse battery staple";

pub(super) fn tools_call() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "deploy",
            "arguments": {
                "aws": { "access_key_id": AWS, "region": "eu-west-1" },
                "note": format!("clone with {GH_CLASSIC} then ping {EMAIL} when done"),
                "slack": SLACK,
                "env": [format!("OPENAI_API_KEY={OPENAI_PROJ}"), format!("LEGACY={OPENAI_LEGACY}")],
                "payment": { "card": CARD_SPACED, "backup": 4242424242424242u64, "currency": "EUR" },
                "db_password": PASSWORD,
                "a/b~c": format!("sts {AWS_STS}"),
                "fine_grained": GH_PAT,
                "tokens_used": 1234,
                "model": "tokenizer",
            },
            "_meta": {
                "headers": {
                    "Authorization": format!("Bearer {JWT}"),
                    "X-Api-Key": X_API_KEY,
                    "Cookie": COOKIE,
                    "User-Agent": "warden-test/1.0",
                    "Content-Type": "application/json",
                }
            }
        }
    })
}

pub(super) fn tool_result() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 7,
        "result": {
            "content": [
                { "type": "text", "text": format!("Deployed.\nKey:\n{PEM}\nDone with the key.") },
                { "type": "text", "text": format!(
                    "Charge {CARD_DASHED} and {CARD_AMEX}; refund to {IBAN_DE} or {IBAN_GB}.\n\
                     log: GET /v1 Authorization: Bearer {BEARER_TOKEN} 200 OK\n\
                     wire {IBAN_FR} (ref 2024-06-01)") },
            ],
            "isError": false,
        }
    })
}

pub(super) fn all_secrets() -> Vec<&'static str> {
    vec![
        AWS,
        AWS_STS,
        GH_CLASSIC,
        GH_PAT,
        SLACK,
        OPENAI_LEGACY,
        OPENAI_PROJ,
        JWT,
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        "BEGIN OPENSSH PRIVATE KEY",
        BEARER_TOKEN,
        CARD_SPACED,
        CARD_DASHED,
        CARD_AMEX,
        "4242424242424242",
        EMAIL,
        IBAN_DE,
        IBAN_GB,
        IBAN_FR,
        X_API_KEY,
        COOKIE,
        PASSWORD,
        "jane.doe",
        "example.co.uk",
        "0532 0130",
        "WEST1234",
    ]
}

pub(super) fn count(reps: &[Redaction], pointer: &str, rule: &str) -> u32 {
    reps.iter()
        .filter(|r| r.pointer == pointer && r.rule == rule)
        .map(|r| r.count)
        .sum()
}

pub(super) fn text_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap()
}

/// Raw detector matches left in a string (the "never increases" property).
pub(super) fn raw_matches(r: &Redactor, s: &str) -> usize {
    let mut hits = Vec::new();
    r.find_hits(s, &mut hits);
    drop_hits_in_markers(s, &mut hits);
    hits.len()
}
