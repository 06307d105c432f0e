//! The regex detectors, in priority order, with the literals that prefilter them: private keys,
//! JWTs, cloud and SaaS credentials, e-mail addresses, URI passwords and HTTP credentials.

pub(in crate::redact) struct Builtin {
    pub(in crate::redact) id: &'static str,
    pub(in crate::redact) pattern: &'static str,
    /// Literals one of which every match contains, for the prefilter; `&[]` for the
    /// hand-written digit scanners (card, IBAN).
    pub(in crate::redact) anchors: &'static [&'static str],
    pub(in crate::redact) group: bool,
}

/// Built-in detectors in priority order: when matches overlap, the earlier rule names the
/// merged span.
pub(in crate::redact) const BUILTINS: &[Builtin] = &[
    Builtin {
        id: "pem_private_key",
        // Up to the END line, or to the end of the text if the key is truncated.
        pattern: r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        anchors: &["-----BEGIN"],
        group: false,
    },
    Builtin {
        id: "jwt",
        // JWS header.payload.signature (signature may be empty), or a 5-part JWE.
        pattern: r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?",
        anchors: &["eyJ"],
        group: false,
    },
    Builtin {
        id: "aws_access_key",
        pattern: r"(?:AKIA|ASIA)[A-Z0-9]{16}",
        anchors: &["AKIA", "ASIA"],
        group: false,
    },
    Builtin {
        id: "github_token",
        pattern: r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        group: false,
    },
    Builtin {
        id: "slack_token",
        pattern: r"xox[baprs]-[A-Za-z0-9-]{10,}",
        anchors: &["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
        group: false,
    },
    Builtin {
        id: "openai_key",
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})",
        anchors: &["sk-"],
        group: false,
    },
    Builtin {
        id: "iban",
        pattern: "",
        anchors: &[],
        group: false,
    },
    Builtin {
        id: "card_number",
        pattern: "",
        anchors: &[],
        group: false,
    },
    Builtin {
        id: "email",
        pattern: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}",
        anchors: &["@"],
        group: false,
    },
    Builtin {
        id: "bearer",
        // `Bearer`, `bearer` or `BEARER` (what the prefilter's literals cover).
        pattern: r"(?-u:\b)(?:[Bb]earer|BEARER)(?:[ \t]+|%20)([A-Za-z0-9._~+/-]{16,}=*)",
        anchors: &["earer", "EARER"],
        group: true,
    },
];

/// A superset of the literal prefilter (`@`, `-----BEGIN`, `eyJ`, `AKIA`, `ASIA`,
/// `gh?_`, `github_pat_`, `xox?-`, `sk-`, `earer`, `EARER`) for short strings, where a
/// byte loop beats a regex call.
pub(in crate::redact) fn quick_anchor(b: &[u8]) -> bool {
    (0..b.len()).any(|i| {
        let rest = &b[i..];
        match b[i] {
            b'@' => true,
            b'-' => rest.starts_with(b"-----BEGIN"),
            b'e' => rest.starts_with(b"eyJ") || rest.starts_with(b"earer"),
            b'E' => rest.starts_with(b"EARER"),
            b'A' => rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA"),
            b'g' => {
                (rest.len() >= 4 && rest[1] == b'h' && rest[3] == b'_')
                    || rest.starts_with(b"github_pat_")
            }
            b'x' => rest.starts_with(b"xox"),
            b's' => rest.starts_with(b"sk-"),
            _ => false,
        }
    })
}
