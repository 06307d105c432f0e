//! Path conditions as the seeds write them (no `arg` named): every value a server could take as
//! a path is judged, lexical tricks do not get through, and `resolve_symlinks` judges real
//! paths through a resolver the caller supplies (here a fake one: this crate does no I/O).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on failure by design

use serde_json::{Value, json};
use warden_policy::{Action, PolicySet, Request};

/// The Tork seed's rule, as written there: no argument named.
const SEED: &str = r#"
policies:
  - name: restrict-filesystem-access
    tool_pattern: "filesystem:*"
    action: BLOCK
    conditions:
      - type: path_not_in
        allowed_paths:
          - "/app/data"
          - "/tmp"
    message: "File access outside allowed directories"
"#;

/// The same fence as an allow list.
const ALLOW_INSIDE: &str = r#"
default: deny
policies:
  - name: inside
    tool_pattern: "filesystem:*"
    action: allow
    when:
      - path_in: { allowed: ["/app/data", "/tmp"] }
"#;

fn req<'a>(method: &'a str, target: &'a str, args: Option<&'a Value>) -> Request<'a> {
    Request {
        server: "filesystem",
        method,
        target: Some(target),
        arguments: args,
        principal: None,
        roles: &[],
        client: None,
        at: None,
        tool: None,
    }
}

fn decide(p: &PolicySet, tool: &str, args: &Value) -> Action {
    p.evaluate(&req("tools/call", tool, Some(args))).action
}

/// Both fences agree: `args` is let through by neither (`inside == false`) or by both.
fn both(args: Value, inside: bool) {
    let want = if inside { Action::Allow } else { Action::Deny };
    for (name, text) in [("seed", SEED), ("allow list", ALLOW_INSIDE)] {
        let p = PolicySet::compile(text).unwrap();
        assert_eq!(decide(&p, "some_tool", &args), want, "{name}: {args}");
    }
}

#[test]
fn every_argument_that_could_be_a_path_is_judged() {
    // The issue's findings: a second path in a list, and either side of a move.
    both(json!({"paths": ["/app/data/a", "/etc/shadow"]}), false);
    both(
        json!({"source": "/etc/shadow", "destination": "/app/data/x"}),
        false,
    );
    both(
        json!({"source": "/app/data/x", "destination": "/etc/cron.d/x"}),
        false,
    );
    both(
        json!({"source": "/app/data/x", "destination": "/tmp/y"}),
        true,
    );
    both(json!({"paths": ["/app/data/a", "/tmp/b"]}), true);
    // Under any name, at any depth, in lists of lists, and as object keys.
    both(
        json!({"opts": {"backup": {"to": [["/app/data/a", "/root/.ssh/id_rsa"]]}}}),
        false,
    );
    both(json!({"whatever": "file:///etc/passwd"}), false);
    both(
        json!({"x": "file:///app/data/%2e%2e/%2e%2e/etc/passwd"}),
        false,
    );
    both(json!({"x": "%2fetc%2fpasswd"}), false);
    both(json!({"files": {"/etc/passwd": "r"}}), false);
    both(
        json!({"edits": [{"oldText": "a", "newText": "../../etc/passwd"}]}),
        false,
    );
    // Relative, home and Windows paths resolve against something warden does not know.
    for rel in [
        "./x",
        "../app/data/x",
        ".env",
        "~/x",
        "~root/x",
        "C:\\app\\data\\x",
        "c:/app/data/x",
        "\\\\host\\share\\x",
        "\\app\\data\\x",
        " /app/data/x",
    ] {
        both(json!({"anything": rel}), false);
    }
    // Under a key named like a path, any string is a path, and anything else is opaque.
    for v in [
        json!("secret.txt"),
        json!("etc/passwd"),
        json!(5),
        json!(true),
        json!(null),
        json!({"p": "/app/data/x"}),
    ] {
        both(json!({"path": v.clone()}), false);
        both(json!({"repo_path": v.clone()}), false);
        both(json!({"outputDir": v}), false);
    }
    // Text that is not shaped like a path, under names that are not path names, is not judged.
    both(
        json!({"path": "/app/data/x", "content": "hello", "pattern": "*.txt", "head": 3}),
        true,
    );
    both(
        json!({"excludePatterns": ["node_modules"], "path": "/tmp"}),
        true,
    );
}

#[test]
fn doubt_falls_on_the_strict_side_and_calls_without_paths_are_not_fenced() {
    let seed = PolicySet::compile(SEED).unwrap();
    // File content that starts like a path is judged as one (documented).
    let content = json!({"path": "/app/data/x.c", "content": "/* main */"});
    assert_eq!(decide(&seed, "write_file", &content), Action::Deny);
    // Naming the arguments narrows the fence to them.
    let named = PolicySet::compile(&SEED.replace(
        "      - type: path_not_in\n",
        "      - type: path_not_in\n        arg: [path]\n",
    ))
    .unwrap();
    assert_eq!(decide(&named, "write_file", &content), Action::Allow);
    // A call with no path at all: the condition does not hold.
    assert_eq!(
        decide(&seed, "list_allowed_directories", &json!({})),
        Action::Allow
    );
    assert_eq!(
        seed.evaluate(&req("tools/call", "list_allowed_directories", None))
            .action,
        Action::Allow
    );
    // ... and an allow list does not allow it.
    let allow = PolicySet::compile(ALLOW_INSIDE).unwrap();
    assert_eq!(
        decide(&allow, "list_allowed_directories", &json!({})),
        Action::Deny
    );
}

#[test]
fn resource_uris_and_prompt_arguments_are_judged() {
    for (text, name) in [(SEED, "seed"), (ALLOW_INSIDE, "allow list")] {
        let p = PolicySet::compile(text).unwrap();
        for (uri, want) in [
            ("file:///etc/passwd", Action::Deny),
            ("file:///app/data/%2e%2e/%2e%2e/etc/passwd", Action::Deny),
            ("file://evil.example/app/data/x", Action::Deny),
            ("file:///app/data/report.csv", Action::Allow),
        ] {
            // The URI alone (as a caller that passes no arguments), and with the params.
            let params = json!({ "uri": uri });
            for args in [None, Some(&params)] {
                let d = p.evaluate(&req("resources/read", uri, args));
                assert_eq!(d.action, want, "{name}: {uri} {args:?}");
            }
            let sub = p.evaluate(&req("resources/subscribe", uri, None));
            assert_eq!(sub.action, want, "{name}: subscribe {uri}");
        }
        let prompt = json!({"file": "/etc/passwd"});
        let d = p.evaluate(&req("prompts/get", "summarize", Some(&prompt)));
        assert_eq!(d.action, Action::Deny, "{name}: prompt argument");
    }
    // A URI that is not a file path is not a path.
    let seed = PolicySet::compile(SEED).unwrap();
    let d = seed.evaluate(&req("resources/read", "test://static/resource/1", None));
    assert_eq!(d.action, Action::Allow);
}

#[test]
fn lexical_tricks_do_not_get_through() {
    let long_escape = format!("/app/data/{}etc/passwd", "../".repeat(5_000));
    let long_inside = format!("/app/data/{}f", "a/".repeat(5_000));
    let huge = format!("/app/data/{}", "x".repeat(1 << 20));
    let outside = [
        "/app/data/../secret",
        "/app/data/sub/../../secret",
        "/app/data/./../x",
        "/app/data/..",
        "//etc/passwd",
        "/app//data//..//..//etc",
        "/app/data/..//..//etc/.",
        "/app/data/%2e%2e/x",
        "/app/data/%2E%2e/x",
        "/app/data/.%2e/x",
        "/app/data/%252e%252e/%252e%252e/etc",
        "file:///app/data/%2e%2e/%2e%2e/etc/passwd",
        "file:///app/data/%2E%2E/x",
        "file://localhost/app/data/%252e%252e/x",
        "file:/app/data/x",
        "file:///app/data/x?/../../etc",
        "/app/database/x",
        // Case: on a case-sensitive system `/APP/DATA` is another directory.
        "/APP/DATA/x",
        "/App/Data/x",
        "/app/DATA",
        // NUL: a C server stops at it.
        "/app/data/x\0/../../../etc/passwd",
        "/app/data/x%00",
        // Windows separators and drive letters.
        "/app/data\\..\\..\\etc\\passwd",
        "/app/data/..%5c..%5cetc",
        "C:\\app\\data\\x",
        "\\\\?\\C:\\app\\data\\x",
        "\\\\server\\share\\x",
        // Dot names a trimming server could turn into `..`.
        "/app/data/.../x",
        "/app/data/.. /x",
        // A line break inside a name does not hide the `..` after it.
        "/app/data/x\n/../../../etc",
        &long_escape,
    ];
    for path in outside {
        both(json!({ "path": path }), false);
        both(json!({ "any": path }), false);
    }
    let inside = [
        "/app/data/x",
        "/app/data/./x/.",
        "/app/data//x//",
        "/app/data/x/../y",
        "/app/data/",
        "/tmp",
        "file:///app/data/x",
        "file://localhost/tmp/y",
        "/app/data/100%25.txt",
        "/app/data/naïve/日本語.txt",
        &long_inside,
        &huge,
    ];
    for path in inside {
        both(json!({ "path": path }), true);
        both(json!({ "any": path }), true);
    }
    // Deny lists also compare lowercased, for case-insensitive file systems.
    let deny_etc = PolicySet::compile(
        "policies:\n  - name: no-etc\n    tool_pattern: \"filesystem:*\"\n    action: deny\n    when:\n      - path_in: { allowed: [\"/etc\"] }\n",
    )
    .unwrap();
    for path in [
        "/ETC/passwd",
        "/Etc/shadow",
        "/x/../etc/passwd",
        "./etc/passwd",
    ] {
        assert_eq!(
            decide(&deny_etc, "read_file", &json!({ "p": path })),
            Action::Deny,
            "{path}"
        );
    }
    assert_eq!(
        decide(&deny_etc, "read_file", &json!({ "p": "/etcetera/x" })),
        Action::Allow
    );
}

#[test]
fn a_megabyte_of_paths_is_decided_quickly() {
    let seed = PolicySet::compile(SEED).unwrap();
    let paths: Vec<String> = (0..20_000).map(|i| format!("/app/data/{i}/./x")).collect();
    let mut args = json!({ "paths": paths });
    let start = std::time::Instant::now();
    assert_eq!(decide(&seed, "read_multiple_files", &args), Action::Allow);
    args["paths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/etc/passwd"));
    assert_eq!(decide(&seed, "read_multiple_files", &args), Action::Deny);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

/// A fake file system: `/app/data/link` is a symlink to `/secret`, `/tmp` to `/private/tmp`,
/// `/outside/l` to `/app/data/y`; `/app/data/broken` cannot be resolved.
fn fake(p: &str) -> Option<String> {
    if p.starts_with("/app/data/broken") {
        return None;
    }
    for (link, to) in [
        ("/app/data/link", "/secret"),
        ("/tmp", "/private/tmp"),
        ("/outside/l", "/app/data/y"),
    ] {
        if let Some(rest) = p.strip_prefix(link)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Some(format!("{to}{rest}"));
        }
    }
    Some(p.to_owned())
}

fn resolving(text: &str, args: &Value) -> Action {
    let p = PolicySet::compile(text).unwrap();
    p.evaluate_resolving(&req("tools/call", "read_file", Some(args)), &fake)
        .action
}

#[test]
fn resolve_symlinks_judges_real_paths() {
    let seed_resolving = SEED.replace(
        "      - type: path_not_in\n",
        "      - type: path_not_in\n        resolve_symlinks: true\n",
    );
    let rule_level = SEED.replace(
        "    action: BLOCK\n",
        "    action: BLOCK\n    resolve_symlinks: true\n",
    );
    let allow_resolving = ALLOW_INSIDE.replace(
        "path_in: { allowed:",
        "path_in: { resolve_symlinks: true, allowed:",
    );
    let link = json!({"path": "/app/data/link/s.txt"});
    // Lexically inside: without the option it passes (the limit the option lifts).
    assert_eq!(resolving(SEED, &link), Action::Allow);
    for text in [&seed_resolving, &rule_level, &allow_resolving] {
        assert_eq!(resolving(text, &link), Action::Deny, "{text}");
        // A write target under the link that does not exist yet (the resolver's business).
        let new = json!({"path": "/app/data/link/new/file.txt"});
        assert_eq!(resolving(text, &new), Action::Deny);
        // `..` after a link is the parent of its target for the kernel.
        assert_eq!(
            resolving(text, &json!({"path": "/app/data/link/../x"})),
            Action::Deny
        );
        // A path the resolver cannot tell about: unknown, so not inside.
        assert_eq!(
            resolving(text, &json!({"path": "/app/data/broken/x"})),
            Action::Deny
        );
        // Resolution never loosens: lexically outside stays outside even if it resolves in.
        assert_eq!(
            resolving(text, &json!({"path": "/outside/l"})),
            Action::Deny
        );
        // Plain paths, and an allowed directory that is itself a link, stay allowed.
        for fine in ["/app/data/x", "/tmp/y", "/app/data/link2/x"] {
            assert_eq!(
                resolving(text, &json!({ "path": fine })),
                Action::Allow,
                "{fine}"
            );
        }
    }
    // Without a resolver the real path is unknown: fail closed.
    let p = PolicySet::compile(&seed_resolving).unwrap();
    let plain = json!({"path": "/app/data/x"});
    assert_eq!(
        p.evaluate(&req("tools/call", "read_file", Some(&plain)))
            .action,
        Action::Deny
    );
    let never = |_: &str| -> Option<String> { None };
    assert_eq!(
        p.evaluate_resolving(&req("tools/call", "read_file", Some(&plain)), &never)
            .action,
        Action::Deny
    );
    // A deny list that resolves catches a link into it.
    let deny_secret = "policies:\n  - name: no-secret\n    tool_pattern: \"filesystem:*\"\n    action: deny\n    when:\n      - path_in: { allowed: [\"/secret\"], resolve_symlinks: true }\n";
    assert_eq!(resolving(deny_secret, &link), Action::Deny);
    assert_eq!(
        resolving(deny_secret, &json!({"path": "/app/data/x"})),
        Action::Allow
    );
    assert_eq!(
        resolving(&deny_secret.replace(", resolve_symlinks: true", ""), &link),
        Action::Allow
    );
}

#[test]
fn path_condition_keys_are_checked() {
    let bad = |cond: &str| {
        let text = format!("policies:\n  - name: r\n    action: deny\n    when:\n      - {cond}\n");
        match PolicySet::compile(&text) {
            Ok(_) => panic!("{cond} compiled"),
            Err(e) => {
                e.0.iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        }
    };
    assert!(
        bad("path_not_in: { allowed: [/a], resolve_symlink: true }").contains("resolve_symlink")
    );
    assert!(
        bad("path_not_in: { allowed: [/a], resolve_symlinks: yes-please }")
            .contains("true or false")
    );
    assert!(bad("path_not_in: { allowed: [a/b] }").contains("relative"));
    assert!(bad("path_not_in: { allowed: [\"C:\\\\data\"] }").contains("relative"));
    let rule_without_paths = "policies:\n  - name: r\n    action: deny\n    resolve_symlinks: true\n    when:\n      - arg_equals: { arg: x, value: 1 }\n";
    let e = PolicySet::compile(rule_without_paths).unwrap_err();
    assert!(e.0[0].message.contains("resolve_symlinks"), "{:?}", e.0);
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use warden_policy::path::{is_within, normalize};

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "/app/data/",
            "/tmp/",
            "/etc/",
            "/app/database",
            "..",
            ".",
            "/",
            "//",
            "%2e%2e",
            "%2f",
            "%252e",
            "\\",
            "..\\",
            "x",
            "file://",
            "file:///",
            "~",
            " ",
            "\0",
            "C:",
            "data",
        ])
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::collection::vec(piece(), 0..6).prop_map(|p| Value::String(p.concat())),
            Just(json!(1)),
            Just(json!(null)),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "path", "paths", "source", "content", "x", "opts", "dir"
            ])
            .prop_map(str::to_owned),
            prop::collection::vec(piece(), 1..4).prop_map(|p| p.concat()),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Every string value and object key in the tree.
    fn texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| texts(x, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                out.push(k.clone());
                texts(x, out);
            }),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// An oracle written apart from the scan: when either fence lets a call through, no
        /// absolute path or file URI anywhere in it lies outside the allowed directories, and
        /// no string in it is relative in a way a server would expand (`..`, `~`, `./`).
        #[test]
        fn an_allowed_call_holds_no_path_outside(args in prop_oneof![
            tree().prop_map(|t| json!({ "a": t })),
            tree().prop_map(|t| json!({ "path": t })),
        ]) {
            let allowed = [normalize("/app/data").unwrap(), normalize("/tmp").unwrap()];
            for text in [SEED, ALLOW_INSIDE] {
                let p = PolicySet::compile(text).unwrap();
                if decide(&p, "t", &args) != Action::Allow {
                    continue;
                }
                let mut all = Vec::new();
                texts(&args, &mut all);
                for s in &all {
                    let t = s.trim_start_matches(|c: char| c.is_whitespace() || c.is_control());
                    let lower = t.to_ascii_lowercase();
                    if t.starts_with('/') || lower.starts_with("file:") {
                        // Judged as written (a leading space or NUL makes it unjudgeable).
                        let n = normalize(s);
                        prop_assert!(n.is_ok(), "{text}: allowed unjudgeable {s:?} in {args}");
                        let n = n.unwrap();
                        prop_assert!(
                            allowed.iter().any(|d| is_within(&n, d)),
                            "{text}: allowed {s:?} ({n}) in {args}"
                        );
                    }
                    prop_assert!(
                        !(t.starts_with("..") || t.starts_with('~') || t.starts_with("./")
                            || t.starts_with('\\')),
                        "{text}: allowed {s:?} in {args}"
                    );
                }
                // Under `path`, only strings (or lists of them) are allowed.
                let mut stack: Vec<&Value> = args.get("path").into_iter().collect();
                while let Some(v) = stack.pop() {
                    match v {
                        Value::Array(a) => stack.extend(a),
                        Value::String(_) => {}
                        other => prop_assert!(false, "{text}: allowed {other} under path in {args}"),
                    }
                }
            }
        }
    }
}
