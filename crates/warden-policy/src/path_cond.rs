//! Evaluating `path_in` / `path_not_in`: which values of a call are paths (with no `arg`
//! named, every value a server could take as one), and whether each lies inside the listed
//! directories, lexically and, with `resolve_symlinks`, as the caller's resolver sees the file
//! system. Pure: the only way out to a file system is the resolver the caller passes in.
//!
//! # Which values are paths
//!
//! With `arg` named, exactly those arguments: a string is a path, a list is each of its items
//! (lists nest), anything else (a number, `true`, `null`, an object) is a value in a path's
//! place that warden cannot read as a path, so it is never inside ("opaque").
//!
//! With no `arg`, the whole call is searched, at any depth (lists and nested objects):
//! - every string, and every object key, that **could be a path** ([`could_be_path`]): it
//!   starts, after leading whitespace and after up to four rounds of percent-decoding, with
//!   `/`, `\`, `~`, `.`, `file:` (any case) or a drive letter (`C:`);
//! - every value under a key **named like a path** ([`is_path_key`]: `path`, `paths`,
//!   `source`, `destination`, `file`, `cwd`, `root`, and any key ending in `path`, `dir`,
//!   `directory`, `folder`, `filename`, compared without case, `_` or `-`): a string whatever
//!   its shape (so `secret.txt` is judged, and refused: it is relative), a list item by item,
//!   and anything else opaque (an object there is also searched);
//! - for `resources/read` and `resources/subscribe`, the resource URI, when it could be a path
//!   (a `file:` URI).
//!
//! Doubt falls on the strict side: text that merely starts like a path (file contents such as
//! `/* comment */`) is judged as one, so a fence with no `arg` can refuse a write whose content
//! starts with `/`, `.` or `~`. Naming the arguments narrows it, and covers only those.
//!
//! # Inside or not
//!
//! A path that cannot be judged lexically (relative, `~`, `C:\`, a foreign `file://` host, NUL,
//! ...; see [`crate::path`]) is never inside an allowed directory. With `resolve_symlinks`,
//! each reading of the path, before and after lexical resolution of `..`, is also resolved by
//! the caller, and so are the allowed directories: a path is inside only if it is lexically
//! inside **and** every resolved reading is inside a resolved allowed directory. Resolution
//! can only make a decision stricter, never looser. No resolver, a resolver that cannot tell,
//! or more than [`MAX_RESOLUTIONS`] resolutions in one decision: the real path is unknown, so
//! it is never inside (and always possibly inside).

use serde_json::Value;

use crate::condition::{ArgPath, Args};
use crate::path::{NormalPath, Readings, is_within, literal, possibly_within};

/// The caller's view of the file system: the real path of an absolute path (symlinks
/// followed; a path that does not exist yet resolved through its nearest existing ancestor),
/// or `None` if it cannot tell.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Option<String>;

/// At most this many distinct strings are resolved for one decision; beyond, the real path is
/// unknown (so a call with thousands of paths cannot make warden walk the file system for long).
pub const MAX_RESOLUTIONS: usize = 256;

/// Percent-decoding rounds [`could_be_path`] looks through (as many as [`crate::path`] judges).
const DECODE_ROUNDS: usize = 4;

/// One value a path condition judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Candidate<'v> {
    Path(&'v str),
    /// A non-string value in a path's place: a server may turn it into some path.
    Opaque,
}

/// True if a server could take `s` as a file path (see the module docs).
pub fn could_be_path(s: &str) -> bool {
    let mut layer = std::borrow::Cow::Borrowed(s);
    for _ in 0..=DECODE_ROUNDS {
        let t = layer.trim_start_matches(|c: char| c.is_whitespace() || c.is_control());
        if starts_like_path(t) {
            return true;
        }
        if !layer.contains('%') {
            return false;
        }
        let next = percent_encoding::percent_decode_str(&layer).decode_utf8_lossy();
        if next == layer {
            return false;
        }
        layer = std::borrow::Cow::Owned(next.into_owned());
    }
    // Still decoding after every round: odd enough to be judged (and refused).
    true
}

fn starts_like_path(t: &str) -> bool {
    let b = t.as_bytes();
    match b.first() {
        Some(b'/' | b'\\' | b'~' | b'.') => true,
        Some(c) if c.is_ascii_alphabetic() && b.get(1) == Some(&b':') => true,
        _ => t.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:")),
    }
}

/// Argument names whose values are paths whatever they look like.
const PATH_KEYS: &[&str] = &[
    "file",
    "files",
    "source",
    "sources",
    "src",
    "destination",
    "destinations",
    "dest",
    "dst",
    "root",
    "roots",
    "cwd",
    "workdir",
    "location",
];

/// Endings of argument names whose values are paths (`repo_path`, `baseDir`, `outputFolder`).
const PATH_KEY_ENDINGS: &[&str] = &[
    "path",
    "paths",
    "filename",
    "filenames",
    "dir",
    "dirs",
    "directory",
    "directories",
    "folder",
    "folders",
];

/// True if an argument named `key` holds a path (see the module docs).
pub fn is_path_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    PATH_KEYS.contains(&k.as_str()) || PATH_KEY_ENDINGS.iter().any(|e| k.ends_with(e))
}

/// The values a path condition judges in a call: the named arguments, or (`args` is `None`)
/// every value that could be a path, plus a `resources/*` URI that could be one.
pub(crate) fn candidates<'v>(
    args: Option<&Args>,
    arguments: Option<&'v Value>,
    method: &str,
    target: Option<&'v str>,
) -> Vec<Candidate<'v>> {
    let mut out = Vec::new();
    match args {
        Some(named) => {
            let Some(root) = arguments else {
                return out;
            };
            for v in named.0.iter().filter_map(|a| lookup(a, root)) {
                named_values(v, &mut out);
            }
        }
        None => {
            if let Some(root) = arguments {
                anywhere(root, &mut out);
            }
            if matches!(method, "resources/read" | "resources/subscribe")
                && let Some(uri) = target.filter(|t| could_be_path(t))
            {
                out.push(Candidate::Path(uri));
            }
        }
    }
    out
}

/// The value an argument path names, if present.
pub(crate) fn lookup<'v>(arg: &ArgPath, root: &'v Value) -> Option<&'v Value> {
    match arg {
        ArgPath::Key(k) => root.get(k),
        ArgPath::Pointer(tokens) => tokens.iter().try_fold(root, |v, t| match v {
            Value::Object(m) => m.get(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }),
    }
}

/// A value in a path's place: a string, a list of them (nested), or opaque.
fn named_values<'v>(v: &'v Value, out: &mut Vec<Candidate<'v>>) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => out.push(Candidate::Path(s)),
            Value::Array(items) => stack.extend(items.iter().rev()),
            _ => out.push(Candidate::Opaque),
        }
    }
}

/// Every value in the tree that could be a path (iterative: no recursion on wire input).
fn anywhere<'v>(root: &'v Value, out: &mut Vec<Candidate<'v>>) {
    // (value, whether it sits under a key named like a path)
    let mut stack = vec![(root, false)];
    while let Some((v, pathy)) = stack.pop() {
        match v {
            Value::String(s) if pathy || could_be_path(s) => out.push(Candidate::Path(s)),
            Value::String(_) => {}
            Value::Array(items) => stack.extend(items.iter().rev().map(|i| (i, pathy))),
            Value::Object(m) => {
                if pathy {
                    out.push(Candidate::Opaque);
                }
                for (k, v) in m.iter().rev() {
                    if could_be_path(k) {
                        out.push(Candidate::Path(k));
                    }
                    stack.push((v, is_path_key(k)));
                }
            }
            _ if pathy => out.push(Candidate::Opaque),
            _ => {}
        }
    }
}

/// Per-decision memory: each string's lexical readings and each resolution, worked out once
/// however many rules look at the same value.
pub(crate) struct PathCtx<'r> {
    readings: std::collections::HashMap<(usize, usize), Readings>,
    resolve: Option<Resolve<'r>>,
    real: Vec<(String, Option<NormalPath>)>,
}

impl<'r> PathCtx<'r> {
    pub(crate) fn new(resolve: Option<Resolve<'r>>) -> PathCtx<'r> {
        PathCtx {
            readings: std::collections::HashMap::new(),
            resolve,
            real: Vec::new(),
        }
    }

    fn readings(&mut self, s: &str) -> &Readings {
        // Keyed by address: every string judged in one decision lives in the same request.
        let key = (s.as_ptr() as usize, s.len());
        self.readings.entry(key).or_insert_with(|| Readings::of(s))
    }

    /// The resolved, normalized real path of an absolute path; `None` if unknown.
    fn real(&mut self, s: &str) -> Option<NormalPath> {
        if let Some((_, r)) = self.real.iter().find(|(k, _)| k == s) {
            return r.clone();
        }
        if self.real.len() >= MAX_RESOLUTIONS {
            return None;
        }
        let r = self
            .resolve
            .and_then(|f| f(s))
            .and_then(|out| literal(&out).ok());
        self.real.push((s.to_owned(), r.clone()));
        r
    }

    /// Whether one candidate is inside `allowed`: surely (every reading, lexical and resolved)
    /// or possibly (some reading, or it cannot be judged).
    pub(crate) fn inside(
        &mut self,
        c: Candidate<'_>,
        allowed: &[NormalPath],
        surely: bool,
        resolve_symlinks: bool,
    ) -> bool {
        let Candidate::Path(s) = c else {
            return !surely;
        };
        let (lexical, to_resolve) = {
            let r = self.readings(s);
            if !r.judgeable() {
                return !surely;
            }
            let lexical = if surely {
                r.within_any(allowed)
            } else {
                r.possibly_within_any(allowed)
            };
            // Resolution matters only when it could change the outcome: a path surely inside
            // lexically may not be for real; one not possibly inside lexically may be.
            if !resolve_symlinks || lexical != surely {
                return lexical;
            }
            let to_resolve: Vec<String> = r.to_resolve().into_iter().map(str::to_owned).collect();
            (lexical, to_resolve)
        };
        let dirs: Vec<Option<NormalPath>> = allowed.iter().map(|d| self.real(d.as_str())).collect();
        if surely {
            let dirs: Vec<NormalPath> = dirs.into_iter().flatten().collect();
            lexical
                && to_resolve.iter().all(|p| {
                    self.real(p)
                        .is_some_and(|rp| dirs.iter().any(|d| is_within(&rp, d)))
                })
        } else {
            if dirs.iter().any(Option::is_none) {
                return true;
            }
            let dirs: Vec<NormalPath> = dirs.into_iter().flatten().collect();
            to_resolve.iter().any(|p| match self.real(p) {
                None => true,
                Some(rp) => possibly_within(&rp, &rp.as_str().to_lowercase(), &dirs),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths<'v>(args: &'v Value, method: &str, target: Option<&'v str>) -> Vec<Candidate<'v>> {
        candidates(None, Some(args), method, target)
    }

    #[test]
    fn shapes_that_could_be_paths() {
        for yes in [
            "/etc/passwd",
            "./x",
            "../x",
            ".env",
            "~/x",
            "~root",
            "\\\\host\\share",
            "\\x",
            "C:\\x",
            "c:/x",
            "z:",
            "file:///etc",
            "FILE://localhost/x",
            "file:x",
            "  /etc",
            "\t\n/etc",
            "%2fetc",
            "%252fetc",
            "%25252e%25252e",
            ".",
        ] {
            assert!(could_be_path(yes), "{yes:?}");
        }
        for no in [
            "",
            "hello",
            "secret.txt",
            "etc/passwd",
            "https://x/y",
            "test://static/resource/1",
            "ab:c",
            "*.txt",
            "%zz",
            "1:2",
        ] {
            assert!(!could_be_path(no), "{no:?}");
        }
    }

    #[test]
    fn keys_named_like_paths() {
        for yes in [
            "path",
            "paths",
            "Path",
            "repo_path",
            "filePath",
            "source",
            "destination",
            "base-dir",
            "outputFolder",
            "FILENAME",
            "cwd",
            "directory",
        ] {
            assert!(is_path_key(yes), "{yes}");
        }
        for no in [
            "content", "pattern", "encoding", "profile", "name", "uri", "head",
        ] {
            assert!(!is_path_key(no), "{no}");
        }
    }

    #[test]
    fn every_path_in_the_tree_is_found() {
        let args = json!({
            "paths": ["/a", "/b", ["/c"]],
            "content": "just text",
            "code": "/* starts like a path */",
            "edits": [{"oldText": "x", "newText": "../y"}],
            "deep": {"deeper": {"deepest": "file:///d"}},
            "/some/key": 1,
            "path": "relative.txt",
            "dir": 7,
            "folder": {"nested": "plain"},
            "n": 42,
        });
        let got = paths(&args, "tools/call", Some("t"));
        let strs: Vec<&str> = got
            .iter()
            .filter_map(|c| match c {
                Candidate::Path(s) => Some(*s),
                Candidate::Opaque => None,
            })
            .collect();
        for want in [
            "/a",
            "/b",
            "/c",
            "/* starts like a path */",
            "../y",
            "file:///d",
            "/some/key",
            "relative.txt",
        ] {
            assert!(strs.contains(&want), "{want} in {strs:?}");
        }
        assert!(!strs.contains(&"just text") && !strs.contains(&"plain"));
        assert_eq!(strs.len(), 8, "{strs:?}");
        // `dir: 7` and the object under `folder` are opaque.
        assert_eq!(got.iter().filter(|c| **c == Candidate::Opaque).count(), 2);
    }

    #[test]
    fn resource_uris_are_paths_when_they_could_be() {
        let none = json!({});
        assert_eq!(
            paths(&none, "resources/read", Some("file:///etc/passwd")),
            [Candidate::Path("file:///etc/passwd")]
        );
        assert!(paths(&none, "resources/read", Some("test://static/1")).is_empty());
        // A tool named like a path is not a path.
        assert!(paths(&none, "tools/call", Some("/etc/passwd")).is_empty());
    }

    #[test]
    fn deep_trees_do_not_overflow_the_stack() {
        let mut v = json!("/etc/passwd");
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(
            paths(&v, "tools/call", None),
            [Candidate::Path("/etc/passwd")]
        );
        // Dropping such a tree is serde_json's business; forget it to keep the test about us.
        std::mem::forget(v);
    }

    #[test]
    fn resolution_is_bounded_per_decision() {
        let calls = std::cell::Cell::new(0usize);
        let resolve = |s: &str| {
            calls.set(calls.get() + 1);
            Some(s.to_owned())
        };
        let mut ctx = PathCtx::new(Some(&resolve));
        let strings: Vec<String> = (0..1000).map(|i| format!("/app/data/{i}")).collect();
        let allowed = [literal("/app/data").unwrap()];
        let mut inside = 0;
        for s in &strings {
            if ctx.inside(Candidate::Path(s), &allowed, true, true) {
                inside += 1;
            }
        }
        assert_eq!(calls.get(), MAX_RESOLUTIONS);
        // Past the bound the real path is unknown: not surely inside.
        assert!(inside < strings.len() && inside > 0, "{inside}");
    }
}
