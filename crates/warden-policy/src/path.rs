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
//! - Symlinks: `/app/data/link/secret` where `link -> /` is judged inside. A condition with
//!   `resolve_symlinks: true` also judges the real paths a caller-supplied resolver finds
//!   for [`Readings::to_resolve`] (see [`crate::path_cond`]); this module stays pure.
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
    readings: Option<Vec<Reading>>,
}

/// One way a server could read the input.
#[derive(Debug, Clone)]
struct Reading {
    /// The absolute path as that server would hand it to the OS: decoded, separators as the
    /// server reads them, but `..` not yet resolved (the kernel resolves `..` after following
    /// a symlink, so `link/..` is the parent of the link's target, not the link's directory).
    raw: String,
    normal: NormalPath,
    lower: String,
}

impl Readings {
    pub fn of(input: &str) -> Readings {
        Readings {
            readings: readings(input).map(|rs| {
                rs.into_iter()
                    .map(|(raw, normal)| {
                        let lower = normal.as_str().to_lowercase();
                        Reading { raw, normal, lower }
                    })
                    .collect()
            }),
        }
    }

    /// False when the input cannot be judged at all (then nothing else needs to be looked at:
    /// it is never surely inside and always possibly inside).
    pub fn judgeable(&self) -> bool {
        self.readings.is_some()
    }

    /// See [`within_any`].
    pub fn within_any(&self, allowed: &[NormalPath]) -> bool {
        match &self.readings {
            // Never empty, but an empty `all` would be vacuously true: guard anyway.
            Some(rs) => {
                !rs.is_empty()
                    && rs
                        .iter()
                        .all(|r| allowed.iter().any(|dir| is_within(&r.normal, dir)))
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
            Some(rs) => rs
                .iter()
                .any(|r| possibly_within(&r.normal, &r.lower, dirs)),
            // Unjudgeable: a relative path may resolve into a denied directory, etc.
            None => true,
        }
    }

    /// The strings to resolve against a file system, one set per reading: the path before
    /// lexical resolution (as the kernel would walk it) and after (as a server that
    /// normalizes first would). Empty when the input cannot be judged.
    pub fn to_resolve(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in self.readings.iter().flatten() {
            for s in [r.raw.as_str(), r.normal.as_str()] {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }
}

/// Deny-list containment of one normalized path (`lower` is its lowercase form): inside
/// exactly, or inside when both are lowercased (case-insensitive file systems).
pub fn possibly_within(path: &NormalPath, lower: &str, dirs: &[NormalPath]) -> bool {
    dirs.iter()
        .any(|dir| is_within(path, dir) || contains(lower, &dir.as_str().to_lowercase()))
}

/// Normalize a path that is already literal, such as a real path a file system returned:
/// no URI stripping, no percent-decoding (a real file may be named `%2e%2e`). Must be absolute.
pub fn literal(path: &str) -> Result<NormalPath, PathError> {
    resolve(path)
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
fn readings(input: &str) -> Option<Vec<(String, NormalPath)>> {
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
            let normal = resolve(&candidate).ok()?;
            out.push((candidate, normal));
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
#[path = "path_tests.rs"]
mod tests;
