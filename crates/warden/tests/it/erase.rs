//! `warden audit erase` and content retention through the CLI: a principal's content leaves
//! the store's files, the log still verifies and says what was erased, and `warden run
//! --content-retention` expires old content on its own, recorded in its own log.

use crate::support::{Place, Proxied, warden};

/// One `warden run` session of `principal` asking for employee `id`.
fn session(place: &Place, principal: &str, id: &str) {
    let mut p = Proxied::start(
        place,
        &["--principal", principal, "--checkpoint-every", "4"],
    );
    p.calls(0);
    p.send(&format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"{id}"}}}}}}"#
    ));
    let reply = p.recv();
    assert!(reply.contains(id), "{reply}");
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
}

fn everything(place: &Place) -> Vec<u8> {
    place
        .store_files()
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect()
}

fn holds(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn run(place: &Place, args: &[&str]) -> (i32, String) {
    let o = warden()
        .args(args)
        .arg("--db")
        .arg(place.db())
        .arg("--key-dir")
        .arg(place.keys())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn erasing_a_principal_removes_their_content_and_the_log_still_verifies() {
    let place = Place::new();
    session(&place, "alice", "E002");
    session(&place, "bob", "E004");
    let before = everything(&place);
    assert!(holds(&before, "Grace Hopper") && holds(&before, "Alan Turing"));

    // Refused without a reason or a selection; a dry run changes nothing.
    let (code, out) = run(&place, &["audit", "erase", "--principal", "alice"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--reason"), "{out}");
    let (code, out) = run(&place, &["audit", "erase", "--reason", "x"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("say whose content"), "{out}");
    let (code, out) = run(
        &place,
        &[
            "audit",
            "erase",
            "--principal",
            "alice",
            "--reason",
            "GDPR request 1432",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dry run"), "{out}");
    assert!(holds(&everything(&place), "Grace Hopper"));

    let (code, out) = run(
        &place,
        &[
            "audit",
            "erase",
            "--principal",
            "alice",
            "--reason",
            "GDPR request 1432",
            "--as",
            "dpo",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("erased the content of"), "{out}");
    let after = everything(&place);
    assert!(
        !holds(&after, "Grace Hopper"),
        "alice's result is still in the store's files"
    );
    assert!(
        !holds(&after, r#""id":"E002""#),
        "alice's arguments are still in the store's files"
    );
    assert!(holds(&after, "Alan Turing"), "bob's content was kept");

    let v = place.verify();
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.status.success(), "{text}");
    assert!(text.contains("erased"), "{text}");
    // The erasure is on record: who asked, why, and what was selected.
    let erasure = place
        .leaves()
        .into_iter()
        .find(|l| l["event"] == "content_erased")
        .expect("an erasure record");
    assert_eq!(erasure["detail"]["by"], "dpo");
    assert_eq!(erasure["detail"]["reason"], "GDPR request 1432");
    assert_eq!(erasure["detail"]["selector"]["principal"], "alice");
    // Erasing again finds nothing left to erase.
    let (code, out) = run(
        &place,
        &[
            "audit",
            "erase",
            "--principal",
            "alice",
            "--reason",
            "again",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("0 record(s)"), "{out}");
}

#[test]
fn run_expires_content_past_its_retention_on_its_own() {
    let place = Place::new();
    session(&place, "alice", "E002");
    // The content must be older than the period: wait until it is (a condition, not a guess).
    let newest: i64 = place
        .conn()
        .query_row("SELECT MAX(ts_us) FROM records", [], |r| r.get(0))
        .unwrap();
    while warden_audit::now_us() - newest < 1_100_000 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A second session with a 1 s retention: at start, the first session's content expires.
    let mut p = Proxied::start(&place, &["--principal", "bob", "--content-retention", "1s"]);
    p.calls(1);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    assert!(!holds(&everything(&place), "Grace Hopper"));
    let leaves = place.leaves();
    let expired = leaves
        .iter()
        .find(|l| l["event"] == "content_expired")
        .expect("an expiry record");
    assert_eq!(expired["detail"]["by"], "retention");
    assert_eq!(expired["detail"]["reason"], "content retention of 1s");
    let v = place.verify();
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.status.success(), "{text}");
    assert!(text.contains("expired"), "{text}");
    // `warden audit retention` says there is nothing left that old.
    let (code, out) = run(
        &place,
        &["audit", "retention", "--content", "1s", "--dry-run"],
    );
    assert_eq!(code, 0, "{out}");
}
