//! Unit tests of lexical normalization and containment ([`super`]): a table of tricky inputs,
//! decision rules, and property tests against a reference model.
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
        "a", "data", "app", "tmp", "..", ".", "", "/", "//", "%2e", "%2e%2e", "%2f", "%2F", "%25",
        "%252e", "%252f", "%5c", "\\", "..\\", "%00", "%", "%ff", "file://", "~", " ", "...", "é",
        "%C3%A9",
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
