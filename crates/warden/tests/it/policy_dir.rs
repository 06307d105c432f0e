//! A policy directory in a real git work tree: its files combined by deny-overrides, each load
//! recorded with every file's hash and last commit, reloaded when a file changes or is added,
//! and `warden policy history` saying who changed which file, when.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::policy::{kill, wait_for_events};
use crate::support::*;

/// Runs `git` in `repo` as `author` (name and e-mail), failing the test if it fails.
fn git(repo: &Path, author: (&str, &str), args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .arg("-c")
        .arg(format!("user.name={}", author.0))
        .arg("-c")
        .arg(format!("user.email={}", author.1))
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn commit(repo: &Path, author: (&str, &str), file: &str, subject: &str) {
    git(repo, author, &["add", file]);
    git(repo, author, &["commit", "-q", "-m", subject]);
}

const ANN: (&str, &str) = ("Ann Admin", "ann@example.org");
const BOB: (&str, &str) = ("Bob Builder", "bob@example.org");
const CAROL: (&str, &str) = ("Carol Chief", "carol@example.org");

fn pay(p: &mut Proxied, id: u64) -> Value {
    p.send(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_pay_info","arguments":{{"id":"E002"}}}}}}"#));
    serde_json::from_str(&p.recv()).unwrap()
}

fn history(place: &Place) -> Vec<Value> {
    let out = warden()
        .args(["policy", "history", "--format", "json", "--db"])
        .arg(place.db())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The history entry of `file` in a load.
fn file<'a>(load: &'a Value, name: &str) -> &'a Value {
    load["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} in {load}"))
}

#[test]
fn a_git_policy_directory_is_combined_reloaded_and_its_history_names_who_changed_what() {
    let place = Place::new();
    let repo = place.dir.path().join("repo");
    let dir = repo.join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    git(&repo, ANN, &["init", "-q"]);
    std::fs::write(
        dir.join("base.yaml"),
        "default: deny\npolicies:\n  - name: hr-tools\n    tool_pattern: \"hr:*\"\n    action: allow\n",
    )
    .unwrap();
    commit(&repo, ANN, "policies/base.yaml", "allow the hr tools");
    std::fs::write(
        dir.join("pay.yml"),
        "policies:\n  - name: no-pay\n    tool_pattern: \"hr:get_pay_info\"\n    action: deny\n",
    )
    .unwrap();
    commit(&repo, BOB, "policies/pay.yml", "no pay info for anyone");

    let check = warden()
        .args(["policy", "check"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
    assert!(text.contains("2 files, 2 rule(s), default deny"), "{text}");

    let dir_arg = dir.display().to_string();
    let mut p = Proxied::start(&place, &["--server-name", "hr", "--policy", &dir_arg]);
    // base.yaml allows hr:*, pay.yml denies one tool: deny overrides across files.
    p.calls(1);
    let denied = pay(&mut p, 2);
    assert_eq!(denied["error"]["code"], -32011, "{denied}");
    assert_eq!(denied["error"]["data"]["rule"], "no-pay", "{denied}");

    // Carol narrows pay.yml and commits: the watcher reloads the directory.
    std::fs::write(
        dir.join("pay.yml"),
        "policies:\n  - name: no-pay\n    tool_pattern: \"hr:get_pay_info\"\n    action: deny\n    principals: [nobody-here]\n",
    )
    .unwrap();
    commit(
        &repo,
        CAROL,
        "policies/pay.yml",
        "pay info for everyone but nobody-here",
    );
    wait_for_events(&place, "policy_reloaded", 1);
    assert!(
        pay(&mut p, 3).get("result").is_some(),
        "the changed file allows it"
    );

    // A file added and not committed: a reload on SIGHUP too, the file marked uncommitted.
    std::fs::write(
        dir.join("zz-extra.yaml"),
        "policies:\n  - name: no-delete\n    tool_pattern: \"hr:delete_*\"\n    action: deny\n",
    )
    .unwrap();
    kill(&p, nix::sys::signal::Signal::SIGHUP);
    wait_for_events(&place, "policy_reloaded", 2);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());

    let h = history(&place);
    // The file added may be seen by the watcher and by SIGHUP: two loads of the same files.
    assert!(h.len() >= 3, "{h:#?}");
    let (first, second, third) = (&h[0], &h[1], &h[2]);
    assert_eq!(first["event"], "policy_loaded");
    assert_eq!(second["event"], "policy_reloaded");
    assert_eq!(second["previous"], first["policy"]);
    assert_ne!(second["policy"], first["policy"]);

    let base = file(first, "base.yaml");
    assert_eq!(base["change"], "added");
    assert_eq!(base["author"], "Ann Admin");
    assert_eq!(base["author_email"], "ann@example.org");
    assert_eq!(base["subject"], "allow the hr tools");
    assert_eq!(base["uncommitted"], false);
    let pay1 = file(first, "pay.yml");
    assert_eq!(pay1["author"], "Bob Builder");
    assert_eq!(pay1["subject"], "no pay info for anyone");

    let base2 = file(second, "base.yaml");
    assert_eq!(base2["change"], "same");
    assert_eq!(base2["commit"], base["commit"]);
    let pay2 = file(second, "pay.yml");
    assert_eq!(pay2["change"], "changed");
    assert_eq!(pay2["author"], "Carol Chief");
    assert_eq!(pay2["subject"], "pay info for everyone but nobody-here");
    assert_ne!(pay2["commit"], pay1["commit"]);
    assert_ne!(pay2["sha256"], pay1["sha256"]);
    assert_eq!(pay2["commit"].as_str().unwrap().len(), 40);

    let extra = file(third, "zz-extra.yaml");
    assert_eq!(extra["change"], "added");
    assert_eq!(extra["uncommitted"], true);
    assert!(extra["commit"].is_null(), "{extra}");
    assert_eq!(file(third, "pay.yml")["change"], "same");

    // The decisions name the policy the history lists.
    let leaves = place.leaves();
    let decided = |id: u64| {
        leaves
            .iter()
            .find(|l| l["rpc_id"] == id && l["kind"] == "request")
            .unwrap()["policy"]["policy"]
            .clone()
    };
    assert_eq!(decided(2), first["policy"]);
    assert_eq!(decided(3), second["policy"]);

    let table = warden()
        .args(["policy", "history", "--db"])
        .arg(place.db())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("Carol Chief") && text.contains("changed"),
        "{text}"
    );
}

#[test]
fn a_directory_that_conflicts_or_is_empty_is_refused() {
    let place = Place::new();
    let dir = place.dir.path().join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    let empty = warden()
        .args(["policy", "check"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_ne!(empty.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("no policy files"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
    std::fs::write(dir.join("a.yaml"), "default: deny\n").unwrap();
    std::fs::write(dir.join("b.yaml"), "default: allow\n").unwrap();
    let out = warden()
        .args(["policy", "check"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "{}:1:10: `default: allow` conflicts",
            dir.join("b.yaml").display()
        )),
        "{text}"
    );
    // `warden run` refuses it before the server starts.
    let run = warden()
        .args(place.run_args(&["--policy", &dir.display().to_string()]))
        .arg(warden_bin())
        .arg("demo-server")
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("conflicts"));
}
