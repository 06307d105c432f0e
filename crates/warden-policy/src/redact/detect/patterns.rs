//! The regex detectors, in priority order, with the literals that prefilter them: private keys,
//! JWTs, cloud and SaaS credentials, URI passwords, e-mail addresses and HTTP credentials (and
//! the slots of the hand-written scanners: IBAN, card number, phone).
//! Each detector has a bit; the prefilter says which detectors' literals occur in a string, and
//! only those detectors' regexes run.

pub(in crate::redact) struct Builtin {
    pub(in crate::redact) id: &'static str,
    /// `1 << index` in [`BUILTINS`]: what the prefilter reports when one of `anchors` occurs.
    pub(in crate::redact) bit: u32,
    pub(in crate::redact) pattern: &'static str,
    /// Literals one of which every match contains, for the prefilter; `&[]` for the
    /// hand-written digit scanners (card, IBAN, phone).
    pub(in crate::redact) anchors: &'static [&'static str],
    /// Only capture group 1 is secret (the rest of the match is context that stays).
    pub(in crate::redact) group: bool,
    /// A check every match (or group) must pass, for shapes a regex cannot decide.
    pub(in crate::redact) check: Option<fn(&str) -> bool>,
}

const PEM: u32 = 1 << 0;
const JWT: u32 = 1 << 1;
const AWS_ACCESS: u32 = 1 << 2;
const AWS_SECRET: u32 = 1 << 3;
const GITHUB: u32 = 1 << 4;
const SLACK: u32 = 1 << 5;
const ANTHROPIC: u32 = 1 << 6;
const OPENAI: u32 = 1 << 7;
const GOOGLE: u32 = 1 << 8;
const URI_PASSWORD: u32 = 1 << 11;
/// The e-mail detector's bit (its `@` is found with memchr, not the literal set).
pub(in crate::redact) const EMAIL: u32 = 1 << 12;
const BASIC: u32 = 1 << 13;
const BEARER: u32 = 1 << 14;
/// Not a detector: a `?` was seen, so the string may hold query parameters for the key rules.
pub(in crate::redact) const QUERY: u32 = 1 << 31;

/// Built-in detectors in priority order: when matches overlap, the earlier rule names the
/// merged span.
pub(in crate::redact) const BUILTINS: &[Builtin] = &[
    Builtin {
        id: "pem_private_key",
        bit: PEM,
        // Up to the END line, or to the end of the text if the key is truncated.
        pattern: r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        anchors: &["-----BEGIN"],
        group: false,
        check: None,
    },
    Builtin {
        id: "jwt",
        bit: JWT,
        // JWS header.payload.signature (signature may be empty), or a 5-part JWE.
        pattern: r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?",
        anchors: &["eyJ"],
        group: false,
        check: None,
    },
    Builtin {
        id: "aws_access_key",
        bit: AWS_ACCESS,
        pattern: r"(?:AKIA|ASIA)[A-Z0-9]{16}",
        anchors: &["AKIA", "ASIA"],
        group: false,
        check: None,
    },
    Builtin {
        id: "aws_secret_key",
        bit: AWS_SECRET,
        // Exactly 40 base64 characters after an AWS secret key's name (`aws_secret_access_key
        // = `, `"SecretAccessKey": "`) or right after an access key id (`AKIA…,<secret>` in
        // the CSV the console downloads). Alone, 40 such characters are too common to flag.
        pattern: r"(?:(?i:aws[_ .-]?secret[_ .-]?(?:access[_ .-]?)?key|secret[_ .-]?access[_ .-]?key)|(?:AKIA|ASIA)[A-Z0-9]{16})[^A-Za-z0-9/+\n]{1,8}([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|\z)",
        anchors: &["ecret", "ECRET", "AKIA", "ASIA"],
        group: true,
        check: None,
    },
    Builtin {
        id: "github_token",
        bit: GITHUB,
        pattern: r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        group: false,
        check: None,
    },
    Builtin {
        id: "slack_token",
        bit: SLACK,
        pattern: r"xox[baprs]-[A-Za-z0-9-]{10,}",
        anchors: &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
        group: false,
        check: None,
    },
    Builtin {
        id: "anthropic_key",
        bit: ANTHROPIC,
        // `sk-ant-api03-…`, `sk-ant-admin01-…`: before `openai_key`, which shares `sk-`.
        pattern: r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,}",
        anchors: &["sk-"],
        group: false,
        check: None,
    },
    Builtin {
        id: "openai_key",
        bit: OPENAI,
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})",
        anchors: &["sk-"],
        group: false,
        check: None,
    },
    Builtin {
        id: "google_api_key",
        bit: GOOGLE,
        pattern: r"AIza[0-9A-Za-z_-]{35}",
        anchors: &["AIza"],
        group: false,
        check: None,
    },
    Builtin {
        id: "iban",
        bit: 1 << 9,
        pattern: "",
        anchors: &[],
        group: false,
        check: None,
    },
    Builtin {
        id: "card_number",
        bit: 1 << 10,
        pattern: "",
        anchors: &[],
        group: false,
        check: None,
    },
    Builtin {
        id: "uri_password",
        bit: URI_PASSWORD,
        // `scheme://user:password@host`: only the password goes. The user part stops at `/`,
        // so `http://host:8080/a@b` is not a password; the password may hold `:`, `?`, `#`.
        pattern: r#"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\[\]"'<>]*:([^\s/@"'<>]+)@"#,
        anchors: &["://"],
        group: true,
        check: None,
    },
    Builtin {
        id: "email",
        bit: EMAIL,
        pattern: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}",
        anchors: &["@"],
        group: false,
        check: None,
    },
    Builtin {
        id: "basic_auth",
        bit: BASIC,
        // `Basic <base64 of user:password>`, scheme kept; the token must decode to printable
        // text with a `:`, so prose ("Basic usage") is left alone.
        pattern: r"(?-u:\b)(?:[Bb]asic|BASIC)(?:[ \t]+|%20)([A-Za-z0-9+/]{4,}={0,2})",
        anchors: &["asic", "ASIC"],
        group: true,
        check: Some(basic_credentials),
    },
    Builtin {
        id: "bearer",
        bit: BEARER,
        // `Bearer`, `bearer` or `BEARER` (what the prefilter's literals cover).
        pattern: r"(?-u:\b)(?:[Bb]earer|BEARER)(?:[ \t]+|%20)([A-Za-z0-9._~+/-]{16,}=*)",
        anchors: &["earer", "EARER"],
        group: true,
        check: None,
    },
    Builtin {
        id: "phone",
        bit: 1 << 15,
        pattern: "",
        anchors: &[],
        group: false,
        check: None,
    },
];

/// The detector bits whose literals occur in `b` (the prefilter for short strings, where a
/// byte loop beats a regex call): a superset of what the literal set finds.
pub(in crate::redact) fn quick_anchor(b: &[u8]) -> u32 {
    let mut bits = 0;
    for (i, &c) in b.iter().enumerate() {
        let rest = &b[i..];
        let is = |lit: &[u8], bit: u32| if rest.starts_with(lit) { bit } else { 0 };
        bits |= match c {
            b'@' => EMAIL,
            b'-' => is(b"-----BEGIN", PEM),
            b'e' => is(b"eyJ", JWT) | is(b"earer", BEARER) | is(b"ecret", AWS_SECRET),
            b'E' => is(b"EARER", BEARER) | is(b"ECRET", AWS_SECRET),
            b'A' => {
                is(b"AKIA", AWS_ACCESS | AWS_SECRET)
                    | is(b"ASIA", AWS_ACCESS | AWS_SECRET)
                    | is(b"AIza", GOOGLE)
                    | is(b"ASIC", BASIC)
            }
            b'a' => is(b"asic", BASIC),
            b'g' if (rest.len() >= 4 && rest[1] == b'h' && rest[3] == b'_')
                || rest.starts_with(b"github_pat_") =>
            {
                GITHUB
            }
            b'x' => is(b"xox", SLACK),
            b's' => is(b"sk-", OPENAI | ANTHROPIC),
            b':' => is(b"://", URI_PASSWORD),
            b'?' => QUERY,
            _ => 0,
        };
    }
    bits
}

/// Whether a `Basic` token is base64 of printable text holding a `:` (`user:password`).
fn basic_credentials(token: &str) -> bool {
    let digits: Vec<u8> = token
        .bytes()
        .take_while(|&c| c != b'=')
        .map(|c| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        })
        .collect();
    if digits.len() % 4 == 1 {
        return false;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    std::str::from_utf8(&out).is_ok_and(|s| s.contains(':') && !s.chars().any(char::is_control))
}
