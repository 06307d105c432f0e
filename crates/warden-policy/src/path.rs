//! Lexical path normalization and directory containment for the `path_in` / `path_not_in`
//! policy conditions. Pure string work: no I/O, no `std::fs`, no symlink resolution.
//!
//! # Threat model
//!
//! A prompt-injected model chooses the tool arguments, so every input is hostile. The goal is
//! that no input is judged inside an allowed directory unless the path the MCP server would
//! actually open is, lexically, inside it.
//!
//! # Semantics
//!
//! [`normalize`] produces the canonical lexical form of an absolute POSIX path or a local
//! `file://` URI:
//!
//! 1. A `file://` scheme is stripped. Only an empty host (`file:///x`) or `localhost` is
//!    accepted; any other host, userinfo, port, the host-less `file:/x` form, or a query or
//!    fragment is an error, because we cannot say which file such a URI names.
//! 2. The path is percent-decoded **exactly once**, for plain paths too (some servers decode
//!    them). The decoded bytes are then taken literally: a `%2e%2e` produced by decoding
//!    `%252e%252e` is an ordinary file name, not a dot segment.
//! 3. NUL bytes and invalid UTF-8 are rejected.
//! 4. Relative paths are rejected: the server's working directory is unknown.
//! 5. Backslash is an ordinary character (POSIX semantics).
//! 6. Repeated slashes collapse, `.` segments drop, `..` pops lexically (`..` at the root stays
//!    at the root), a trailing slash drops.
//!
//! # Decisions: which function to call
//!
//! The canonical form alone is not enough for a security decision, because servers differ:
//! one decodes percent escapes, another does not, a buggy one decodes twice, one running on
//! Windows splits on backslashes. `/app/data/a%2fb/../../x` is `/app/data/x` when decoded but
//! `/app/x` when not. So the decision functions consider every plausible reading:
//!
//! - [`within_any`] (for allow lists, `path_in`) is true only if **every** reading is inside
//!   some allowed directory. Anything it cannot judge is false.
//! - [`possibly_within_any`] (for deny lists, `path_not_in`) is true if **any** reading is
//!   inside a listed directory, or if the input cannot be judged. Use
//!   `!possibly_within_any(..)` for `path_not_in`; `!within_any(..)` would fail open on
//!   errors and on ambiguous inputs.
//!
//! # Known limits (lexical analysis cannot see them)
//!
//! - Symlinks: `/app/data/link/secret` where `link -> /` is judged inside. The server (or the
//!   OS sandbox) must resolve real paths; this module is a policy layer, not a sandbox.
//! - Case-insensitive or Unicode-normalizing file systems (macOS, Windows): allow lists
//!   compare exactly (fail-safe: a case variant is denied); deny lists also compare
//!   lowercased, but Unicode normalization forms (NFC/NFD) are not folded.
//! - Windows: only the backslash separator is modelled; drive letters and UNC paths are
//!   relative by POSIX rules and therefore rejected.

use std::fmt;

use percent_encoding::percent_decode_str;

/// Why an input could not be normalized. Callers must treat every error as "cannot judge":
/// not inside an allow list, possibly inside a deny list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The input (after URI stripping) is the empty string.
    #[error("path is empty")]
    Empty,
    /// The path does not start with `/`; its meaning depends on the unknown working directory.
    #[error("path is relative")]
    Relative,
    /// A NUL byte, raw or percent-encoded. C-based servers would truncate at it.
    #[error("path contains a NUL byte")]
    Nul,
    /// A `file:` URI that does not name a file on this machine (foreign host, userinfo, port,
    /// no authority, or no path).
    #[error("not a local file URI")]
    NotLocalFileUri,
    /// A `file://` URI with `?` or `#`. URI-aware servers drop what follows, naive ones keep
    /// it as part of the name; the two readings differ, so we refuse to pick one.
    #[error("file URI has a query or fragment")]
    UriQueryOrFragment,
    /// Percent-decoding produced bytes that are not UTF-8.
    #[error("path is not valid UTF-8 after percent-decoding")]
    InvalidUtf8,
}

/// A lexically normalized absolute POSIX path: starts with `/`, has no empty, `.` or `..`
/// segments, and does not end with `/` unless it is exactly `/`.
///
/// The field is private so the invariant holds for every value: the only constructor is
/// [`normalize`]. [`is_within`] relies on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NormalPath(String);

impl NormalPath {
    /// The normalized path as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NormalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NormalPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Normalize an absolute POSIX path or local `file://` URI lexically (see the module docs for
/// the exact steps). Percent-decodes exactly once.
///
/// Not idempotent when the result still contains `%`: `/%2541` gives `/%41`, which normalizes
/// to `/A`. That is inherent to decoding plain paths; the decision functions handle it by
/// considering repeated decoding as well.
pub fn normalize(input: &str) -> Result<NormalPath, PathError> {
    let path = strip_file_uri(input)?;
    let decoded = decode_once(path)?;
    resolve(&decoded)
}

/// Component-wise containment: `/app/data` contains `/app/data` and `/app/data/x`, but not
/// `/app/database`. The root contains everything.
pub fn is_within(path: &NormalPath, dir: &NormalPath) -> bool {
    contains(path.as_str(), dir.as_str())
}

/// Allow-list decision (`path_in`): true only if every plausible reading of `input` (see the
/// module docs) normalizes without error, has no ambiguous dot-like segment, and lies inside
/// some directory of `allowed`. Errors and ambiguity give false (fail-safe).
///
/// Stricter than `normalize` + [`is_within`]: whenever this returns true, so does that.
pub fn within_any(input: &str, allowed: &[NormalPath]) -> bool {
    Readings::of(input).within_any(allowed)
}

/// Deny-list decision (`path_not_in` is its negation): true if any plausible reading of
/// `input` lies inside some directory of `dirs` (also comparing lowercased, for
/// case-insensitive file systems), or if the input cannot be judged at all. False for an
/// empty `dirs`, since nothing is listed.
pub fn possibly_within_any(input: &str, dirs: &[NormalPath]) -> bool {
    Readings::of(input).possibly_within_any(dirs)
}

/// Every plausible reading of one path argument, worked out once so that it can be checked
/// against many directory lists (one per policy rule) without decoding it again.
#[derive(Debug, Clone)]
pub struct Readings {
    /// `None`: the input cannot be judged (relative, malformed, ambiguous).
    readings: Option<Vec<(NormalPath, String)>>,
}

impl Readings {
    pub fn of(input: &str) -> Readings {
        Readings {
            readings: readings(input).map(|rs| {
                rs.into_iter()
                    .map(|p| {
                        let lower = p.as_str().to_lowercase();
                        (p, lower)
                    })
                    .collect()
            }),
        }
    }

    /// See [`within_any`].
    pub fn within_any(&self, allowed: &[NormalPath]) -> bool {
        match &self.readings {
            // Never empty, but an empty `all` would be vacuously true: guard anyway.
            Some(rs) => {
                !rs.is_empty()
                    && rs
                        .iter()
                        .all(|(p, _)| allowed.iter().any(|dir| is_within(p, dir)))
            }
            None => false,
        }
    }

    /// See [`possibly_within_any`].
    pub fn possibly_within_any(&self, dirs: &[NormalPath]) -> bool {
        if dirs.is_empty() {
            return false;
        }
        match &self.readings {
            Some(rs) => rs.iter().any(|(p, lower)| {
                dirs.iter()
                    .any(|dir| is_within(p, dir) || contains(lower, &dir.as_str().to_lowercase()))
            }),
            // Unjudgeable: a relative path may resolve into a denied directory, etc.
            None => true,
        }
    }
}

const MAX_DECODE_ROUNDS: usize = 4;

/// Strip a `file://` scheme and local host, returning the path part (still encoded). Plain
/// paths pass through unchanged.
fn strip_file_uri(input: &str) -> Result<&str, PathError> {
    // Schemes are case-insensitive (RFC 3986). `get` avoids slicing inside a UTF-8 char.
    let is_file_scheme = input
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("file:"));
    if !is_file_scheme {
        return Ok(input);
    }
    // Only the `file://authority/path` form: `file:/x` and `file:x` are rare, and refusing
    // them leaves one URI shape to reason about.
    let after_scheme = &input[5..];
    let Some(authority_and_path) = after_scheme.strip_prefix("//") else {
        return Err(PathError::NotLocalFileUri);
    };
    let Some(slash) = authority_and_path.find('/') else {
        return Err(PathError::NotLocalFileUri);
    };
    let (host, path) = authority_and_path.split_at(slash);
    // Compare the raw host: an encoded `%6cocalhost` or `user@localhost` or `localhost:80`
    // is not something we want to interpret.
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
        return Err(PathError::NotLocalFileUri);
    }
    if path.contains(['?', '#']) {
        return Err(PathError::UriQueryOrFragment);
    }
    Ok(path)
}

/// Decode `%XX` escapes once. Malformed escapes (`%zz`, a trailing `%`) stay literal, as most
/// lenient decoders do; the undecoded reading is checked by the decision functions anyway.
fn decode_once(path: &str) -> Result<String, PathError> {
    percent_decode_str(path)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| PathError::InvalidUtf8)
}

/// Resolve an already-decoded path. Never decodes: the bytes are taken literally.
fn resolve(path: &str) -> Result<NormalPath, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    // Before the relative check so that `%00` reports the more specific error.
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    if !path.starts_with('/') {
        return Err(PathError::Relative);
    }
    let mut stack: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            // Empty segments come from `//` and the leading/trailing slash.
            "" | "." => {}
            // Popping an empty stack is a no-op: `/..` is `/`, as in the kernel.
            ".." => {
                stack.pop();
            }
            name => stack.push(name),
        }
    }
    let mut out = String::with_capacity(path.len());
    if stack.is_empty() {
        out.push('/');
    }
    for name in stack {
        out.push('/');
        out.push_str(name);
    }
    Ok(NormalPath(out))
}

/// String containment on normalized paths: equal, or `dir` followed by a `/` boundary. The
/// boundary check is what keeps `/app/database` out of `/app/data`.
fn contains(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return true;
    }
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Every path a server could plausibly open for `input`, normalized; `None` if any reading
/// cannot be judged. Readings: the path undecoded, decoded once, twice, ... (until stable,
/// at most [`MAX_DECODE_ROUNDS`] times), and each of those with `\` read as `/` (a server on
/// Windows). The once-decoded reading is exactly what [`normalize`] returns.
fn readings(input: &str) -> Option<Vec<NormalPath>> {
    let path = strip_file_uri(input).ok()?;

    let mut layers = vec![path.to_owned()];
    loop {
        let last = layers.last()?;
        let next = decode_once(last).ok()?;
        if next == *last {
            break;
        }
        if layers.len() > MAX_DECODE_ROUNDS {
            return None;
        }
        layers.push(next);
    }

    let mut out = Vec::with_capacity(layers.len() * 2);
    for layer in &layers {
        for candidate in [Some(layer.clone()), backslash_reading(layer)]
            .into_iter()
            .flatten()
        {
            if candidate.split('/').any(is_ambiguous_dot_segment) {
                return None;
            }
            out.push(resolve(&candidate).ok()?);
        }
    }
    Some(out)
}

/// The reading of a server that treats `\` as a separator, if it differs.
fn backslash_reading(path: &str) -> Option<String> {
    path.contains('\\').then(|| path.replace('\\', "/"))
}

/// A segment made only of dots, whitespace and control characters that is not exactly `.` or
/// `..`: `...`, `.. `, `..\n`. POSIX treats it as a name, but a server that trims whitespace,
/// or Windows (which strips trailing dots and spaces), may turn it into `..`. No legitimate
/// tool call needs such a name, so the decision functions refuse to judge it.
fn is_ambiguous_dot_segment(segment: &str) -> bool {
    segment != "."
        && segment != ".."
        && segment.contains('.')
        && segment
            .chars()
            .all(|c| c == '.' || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn np(s: &str) -> NormalPath {
        normalize(s).unwrap()
    }

    fn allowed() -> Vec<NormalPath> {
        vec![np("/app/data"), np("/tmp")]
    }

    use PathError::*;

    /// (input, expected normalize result, within_any verdict against ["/app/data", "/tmp"]).
    #[allow(clippy::type_complexity)]
    const CASES: &[(&str, Result<&str, PathError>, bool)] = &[
        // Plain and trivially normal.
        ("/app/data/file.txt", Ok("/app/data/file.txt"), true),
        ("/app/data", Ok("/app/data"), true),
        ("/tmp", Ok("/tmp"), true),
        // Trailing slash, `.` and `//`.
        ("/app/data/", Ok("/app/data"), true),
        ("/app/./data/./.", Ok("/app/data"), true),
        ("/app/data/./x", Ok("/app/data/x"), true),
        ("/app//data///x", Ok("/app/data/x"), true),
        ("//app/data/x", Ok("/app/data/x"), true),
        // `..` traversal.
        ("/app/data/../etc/passwd", Ok("/app/etc/passwd"), false),
        ("/app/data/../../etc/passwd", Ok("/etc/passwd"), false),
        ("/app/data/..", Ok("/app"), false),
        ("/app/data/x/../y", Ok("/app/data/y"), true),
        ("/tmp/../app/data/x", Ok("/app/data/x"), true),
        // `..` beyond the root stays at the root.
        ("/../../../etc/passwd", Ok("/etc/passwd"), false),
        ("/../app/data/x", Ok("/app/data/x"), true),
        ("/..", Ok("/"), false),
        ("/", Ok("/"), false),
        // Prefix traps: string prefix is not directory containment.
        ("/app/database/x", Ok("/app/database/x"), false),
        ("/app/data-old", Ok("/app/data-old"), false),
        ("/tmpfoo", Ok("/tmpfoo"), false),
        // Percent-encoded traversal (decoded once).
        (
            "/app/data/%2e%2e/%2e%2e/etc/passwd",
            Ok("/etc/passwd"),
            false,
        ),
        ("/app/data/%2e%2e%2f%2e%2e%2fetc", Ok("/etc"), false),
        ("/app/data/%2E%2E/secret", Ok("/app/secret"), false),
        ("%2fapp%2fdata%2fx", Ok("/app/data/x"), false), // undecoded reading is relative
        // Decoded `/` inside the allowed dir, but the undecoded reading escapes.
        ("/app/data/a%2fb/../../x", Ok("/app/data/x"), false),
        // Double encoding: decoded once it is a literal name; a double-decoding server escapes.
        (
            "/app/data/%252e%252e/%252e%252e/etc",
            Ok("/app/data/%2e%2e/%2e%2e/etc"),
            false,
        ),
        ("/app/data/%252e%252e", Ok("/app/data/%2e%2e"), false),
        // `%2%65%2e` decodes to `%2e.`, which decodes to `..`.
        ("/app/data/%2%65%2e", Ok("/app/data/%2e."), false),
        // Harmless percent use stays allowed: every reading is inside.
        ("/app/data/100%25.txt", Ok("/app/data/100%.txt"), true),
        ("/app/data/%2541", Ok("/app/data/%41"), true),
        ("/app/data/%%2e%2e", Ok("/app/data/%.."), true),
        ("/app/data/%zz", Ok("/app/data/%zz"), true),
        // file:// URIs.
        ("file:///app/data/x", Ok("/app/data/x"), true),
        ("file://localhost/app/data/x", Ok("/app/data/x"), true),
        ("FILE://LOCALHOST/tmp/y", Ok("/tmp/y"), true),
        (
            "file:///app/data/../../etc/passwd",
            Ok("/etc/passwd"),
            false,
        ),
        ("file:///app/data/%2e%2e/x", Ok("/app/x"), false),
        ("file:///app/data/na%C3%AFve", Ok("/app/data/naïve"), true),
        ("file://evil.host/app/data/x", Err(NotLocalFileUri), false),
        (
            "file://user@localhost/app/data",
            Err(NotLocalFileUri),
            false,
        ),
        ("file://localhost:80/app/data", Err(NotLocalFileUri), false),
        ("file://%6cocalhost/app/data", Err(NotLocalFileUri), false),
        ("file:/app/data/x", Err(NotLocalFileUri), false),
        ("file://localhost", Err(NotLocalFileUri), false),
        ("file:///app/data/x?y=1", Err(UriQueryOrFragment), false),
        ("file:///app/data/..#/x", Err(UriQueryOrFragment), false),
        // NUL, raw or encoded.
        ("/app/data/x%00.txt", Err(Nul), false),
        ("/app/data/x\0", Err(Nul), false),
        ("%00", Err(Nul), false),
        // Relative and empty.
        ("app/data/x", Err(Relative), false),
        ("./app/data", Err(Relative), false),
        ("../app/data", Err(Relative), false),
        ("~/app/data", Err(Relative), false),
        ("", Err(Empty), false),
        ("http://localhost/app/data", Err(Relative), false),
        // Invalid UTF-8 after decoding.
        ("/app/data/%ff", Err(InvalidUtf8), false),
        ("/app/data/%C3", Err(InvalidUtf8), false),
        // Unicode names are ordinary names.
        (
            "/app/data/naïve/日本語.txt",
            Ok("/app/data/naïve/日本語.txt"),
            true,
        ),
        ("/app/data/%C3%A9t%C3%A9", Ok("/app/data/été"), true),
        ("/APP/DATA/x", Ok("/APP/DATA/x"), false),
        // Backslash: an ordinary character for normalize (POSIX), but a Windows reading of
        // `..\..` escapes, so the decision refuses it.
        (
            "/app/data/..\\..\\etc\\passwd",
            Ok("/app/data/..\\..\\etc\\passwd"),
            false,
        ),
        (
            "/app/data/%5c..%5c..%5cetc",
            Ok("/app/data/\\..\\..\\etc"),
            false,
        ),
        ("/app/data/a\\b", Ok("/app/data/a\\b"), true),
        // Dot-like names that a trimming server or Windows could turn into `..`.
        ("/app/data/...", Ok("/app/data/..."), false),
        ("/app/data/.. /x", Ok("/app/data/.. /x"), false),
        ("/app/data/..%0a", Ok("/app/data/..\n"), false),
        ("/app/data/.hidden", Ok("/app/data/.hidden"), true),
        ("/app/data/..x", Ok("/app/data/..x"), true),
    ];

    #[test]
    fn table() {
        assert!(CASES.len() >= 30);
        let allowed = allowed();
        for (input, expected, within) in CASES {
            let got = normalize(input);
            let expected = expected.clone().map(str::to_owned);
            assert_eq!(
                got.as_ref()
                    .map(|p| p.as_str().to_owned())
                    .map_err(Clone::clone),
                expected,
                "normalize({input:?})"
            );
            assert_eq!(
                within_any(input, &allowed),
                *within,
                "within_any({input:?})"
            );
            // The decision is never looser than normalize + is_within.
            if *within {
                let p = got.unwrap();
                assert!(allowed.iter().any(|d| is_within(&p, d)), "{input:?}");
            }
        }
    }

    #[test]
    fn is_within_is_component_wise() {
        let data = np("/app/data");
        assert!(is_within(&np("/app/data"), &data));
        assert!(is_within(&np("/app/data/x"), &data));
        assert!(is_within(&np("/app/data/x/y"), &data));
        assert!(!is_within(&np("/app/database"), &data));
        assert!(!is_within(&np("/app"), &data));
        assert!(!is_within(&np("/"), &data));
        assert!(is_within(&np("/anything"), &np("/")));
        assert!(is_within(&np("/"), &np("/")));
    }

    #[test]
    fn error_messages_are_lowercase_and_clear() {
        assert_eq!(Relative.to_string(), "path is relative");
        assert_eq!(Nul.to_string(), "path contains a NUL byte");
        assert_eq!(NotLocalFileUri.to_string(), "not a local file URI");
        assert_eq!(
            InvalidUtf8.to_string(),
            "path is not valid UTF-8 after percent-decoding"
        );
    }

    #[test]
    fn display_and_as_str_agree() {
        let p = np("file:///a//b/");
        assert_eq!(p.to_string(), "/a/b");
        assert_eq!(p.as_str(), "/a/b");
    }

    #[test]
    fn normalize_is_not_idempotent_through_percent() {
        // Documented limitation: the result of one decode may decode again.
        let once = np("/%2541");
        assert_eq!(once.as_str(), "/%41");
        assert_eq!(np(once.as_str()).as_str(), "/A");
    }

    #[test]
    fn decoding_rounds_are_bounded() {
        let allowed = allowed();
        // Four decoding rounds reach `/app/data/A`: still judged.
        assert!(within_any("/app/data/%25252541", &allowed));
        // Five is more than any real client/server chain does: refused.
        assert!(!within_any("/app/data/%252525252541", &allowed));
        // Long input must not take quadratic time or panic.
        let long = format!("/app/data/%{}41", "25".repeat(100_000));
        assert!(!within_any(&long, &allowed));
    }

    #[test]
    fn deny_list_fails_closed() {
        let denied = vec![np("/etc")];
        let hit = |s: &str| possibly_within_any(s, &denied);
        assert!(hit("/etc/passwd"));
        assert!(hit("/app/../etc/passwd"));
        assert!(hit("/app/%2e%2e/etc/passwd"));
        // Decoding server opens /etc/x; the undecoded reading (/x) alone would miss it.
        assert!(hit("/etc/a%2fb/../../x"));
        // Double-decoding server.
        assert!(hit("/x/%252e%252e/etc/passwd"));
        // Windows reading.
        assert!(hit("/x\\..\\etc\\passwd"));
        // Case-insensitive file systems.
        assert!(hit("/ETC/passwd"));
        // Cannot judge: treated as possibly inside.
        assert!(hit("etc/passwd"));
        assert!(hit("file://evil.host/etc/passwd"));
        assert!(hit("/x/... /etc"));
        assert!(hit("/etc%00"));
        // Genuinely elsewhere.
        assert!(!hit("/app/data/x"));
        assert!(!hit("/etcetera/x"));
        assert!(!hit("/"));
        // Nothing listed, nothing hit.
        assert!(!possibly_within_any("relative", &[]));
    }

    /// Reference model for `/app/data/` + segments: stack resolution written independently
    /// of `resolve`. `decode` says whether `%2e%2e` is read as `..` (a decoding server) or as
    /// a literal name (a non-decoding server).
    fn model_inside(segments: &[&str], decode: bool) -> bool {
        let mut stack = vec!["app", "data"];
        for &seg in segments {
            let seg = if decode && seg == "%2e%2e" { ".." } else { seg };
            match seg {
                "" | "." => {}
                ".." => {
                    stack.pop();
                }
                other => stack.push(other),
            }
        }
        stack.len() >= 2 && stack[0] == "app" && stack[1] == "data"
    }

    fn segment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["a", "b", "..", ".", "", "%2e%2e", "data"])
    }

    /// Pieces that stress decoding and separator handling.
    fn nasty_piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "a", "data", "app", "tmp", "..", ".", "", "/", "//", "%2e", "%2e%2e", "%2f", "%2F",
            "%25", "%252e", "%252f", "%5c", "\\", "..\\", "%00", "%", "%ff", "file://", "~", " ",
            "...", "é", "%C3%A9",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// (1) `within_any` agrees with the reference model: inside iff both the decoding and
        /// the non-decoding server stay inside /app/data.
        #[test]
        fn traversal_matches_reference(segs in prop::collection::vec(segment(), 0..12)) {
            let input = format!("/app/data/{}", segs.join("/"));
            let expected = model_inside(&segs, true) && model_inside(&segs, false);
            prop_assert_eq!(within_any(&input, &[np("/app/data")]), expected, "{}", input);
        }

        /// `within_any` is never looser than normalize + is_within, and an allowed path is
        /// always also "possibly within" the same list.
        #[test]
        fn decision_never_looser_than_normalize(
            pieces in prop::collection::vec(nasty_piece(), 0..10),
            prefix in prop::sample::select(vec!["/app/data/", "file:///app/data/", "/tmp/", "/"]),
        ) {
            let input = format!("{prefix}{}", pieces.concat());
            let allowed = allowed();
            if within_any(&input, &allowed) {
                let p = normalize(&input);
                prop_assert!(p.is_ok(), "{}", input);
                let p = p.unwrap();
                prop_assert!(allowed.iter().any(|d| is_within(&p, d)), "{}", input);
                prop_assert!(possibly_within_any(&input, &allowed), "{}", input);
            }
        }

        /// (2) Idempotence holds whenever the result contains no `%` (with a `%`, a second
        /// normalize decodes again; see `normalize_is_not_idempotent_through_percent`).
        #[test]
        fn normalize_idempotent_without_percent(input in "\\PC*") {
            check_idempotent(&input)?;
        }

        #[test]
        fn normalize_idempotent_structured(
            pieces in prop::collection::vec(nasty_piece(), 0..10),
        ) {
            check_idempotent(&format!("/{}", pieces.concat()))?;
        }

        /// Output invariants of NormalPath.
        #[test]
        fn output_is_normal(pieces in prop::collection::vec(nasty_piece(), 0..10)) {
            if let Ok(p) = normalize(&format!("/{}", pieces.concat())) {
                let s = p.as_str();
                prop_assert!(s.starts_with('/'));
                prop_assert!(s == "/" || !s.ends_with('/'));
                prop_assert!(!s.contains("//") && !s.contains('\0'));
                prop_assert!(s.split('/').skip(1).all(|seg| seg != "." && seg != ".."));
                prop_assert!(is_within(&p, &p) && is_within(&p, &np("/")));
            }
        }

        /// (3) Nothing panics on arbitrary input.
        #[test]
        fn never_panics(input in any::<String>()) {
            let allowed = allowed();
            let _normalized = normalize(&input);
            let _within = within_any(&input, &allowed);
            let _possibly = possibly_within_any(&input, &allowed);
        }
    }

    fn check_idempotent(input: &str) -> Result<(), TestCaseError> {
        if let Ok(once) = normalize(input)
            && !once.as_str().contains('%')
        {
            prop_assert_eq!(normalize(once.as_str()), Ok(once.clone()), "{}", input);
        }
        Ok(())
    }
}
