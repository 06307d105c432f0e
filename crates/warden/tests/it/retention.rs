//! Retention through the CLI: `warden audit erase` takes a principal's content out of the
//! store's files while the log still verifies and says what was erased; `warden run
//! --content-retention` expires old content on its own, recorded in its own log; and
//! `warden audit archive` moves old records out, with store and archive verifying as one.

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

/// `warden` with `args`, this place's store and its keys: the exit code and all output.
fn run(place: &Place, args: &[&str]) -> (i32, String) {
    let key_dir = place.keys().display().to_string();
    let mut with_keys = args.to_vec();
    with_keys.extend(["--key-dir", &key_dir]);
    run_db(place, &with_keys)
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
    assert!(out.starts_with("0 record(s)"), "{out}");
    // Records past their period move to the archive, for a scheduler to run.
    let dir = place.dir.path().join("archive");
    let dir_s = dir.display().to_string();
    let (code, out) = run(
        &place,
        &[
            "audit",
            "retention",
            "--records",
            "1s",
            "--archive-dir",
            &dir_s,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("archived log"), "{out}");
    let v = warden()
        .args(["audit", "verify", "--db"])
        .arg(place.db())
        .arg("--archive")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn archived_records_leave_the_store_and_verify_with_the_archive() {
    let place = Place::new();
    session(&place, "alice", "E002");
    let out = place.dir.path().join("archive");
    let out_s = out.display().to_string();
    let (code, text) = run_db(
        &place,
        &[
            "audit",
            "archive",
            "--before",
            "0s",
            "--out",
            &out_s,
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("would archive log"), "{text}");
    let (code, text) = run_db(
        &place,
        &["audit", "archive", "--before", "0s", "--out", &out_s],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("records archived"), "{text}");
    let left: i64 = place
        .conn()
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "the whole closed log was archived");
    // The store keeps being written.
    session(&place, "bob", "E004");
    let v = place.verify();
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.status.success(), "{text}");
    assert!(text.contains("archived records are represented"), "{text}");
    let v = warden()
        .args(["audit", "verify", "--db"])
        .arg(place.db())
        .arg("--pubkey")
        .arg(place.keys().join("checkpoint.vkey"))
        .arg("--archive")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.status.success(), "{text}");
    assert!(!text.contains("archived records are represented"), "{text}");
    // A segment edited in place is caught.
    let seg = std::fs::read_dir(
        std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap()
    .next()
    .unwrap()
    .unwrap()
    .path();
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&seg, bytes).unwrap();
    let v = warden()
        .args(["audit", "verify", "--db"])
        .arg(place.db())
        .arg("--archive")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&v.stdout)
    );
}

/// `warden` with `args` and this place's store: the exit code and all output.
fn run_db(place: &Place, args: &[&str]) -> (i32, String) {
    let o = warden()
        .args(args)
        .arg("--db")
        .arg(place.db())
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
fn a_records_content_is_proven_with_its_leaf_and_after_erasure_only_the_record_is() {
    let place = Place::new();
    session(&place, "alice", "E002");
    let id: String = place
        .conn()
        .query_row(
            "SELECT id FROM records WHERE method = 'tools/call' AND kind = 'request'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let at = |name: &str| place.dir.path().join(name).display().to_string();
    let prove = |with_content: bool| {
        let mut c = warden();
        c.args([
            "audit",
            "prove",
            "--record",
            &id,
            "--leaf-out",
            &at("r.leaf"),
        ])
        .arg("--db")
        .arg(place.db());
        if with_content {
            c.args(["--content-out", &at("r.content")]);
        }
        let o = c.output().unwrap();
        std::fs::write(at("r.proof"), &o.stdout).unwrap();
        o
    };
    let check = |content: &str| {
        let o = warden()
            .args([
                "audit",
                "verify-proof",
                &at("r.proof"),
                "--leaf",
                &at("r.leaf"),
            ])
            .args(["--content", content, "--pubkey"])
            .arg(place.keys().join("checkpoint.vkey"))
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert!(prove(true).status.success());
    let (code, out) = check(&at("r.content"));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("matches the record's commitment") && out.contains("E002"),
        "{out}"
    );
    // Another body under the same nonce is not the record's content.
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(at("r.content")).unwrap()).unwrap();
    file["body"] = "eyJpZCI6IkUwMDMifQ==".into();
    std::fs::write(at("forged.content"), file.to_string()).unwrap();
    let (code, out) = check(&at("forged.content"));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("does not match"), "{out}");
    // Once erased, the content cannot be proven; the record still is.
    let (code, out) = run(
        &place,
        &[
            "audit",
            "erase",
            "--principal",
            "alice",
            "--reason",
            "request 9",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let o = prove(true);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("content was erased"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(prove(false).status.success());
    let o = warden()
        .args([
            "audit",
            "verify-proof",
            &at("r.proof"),
            "--leaf",
            &at("r.leaf"),
            "--pubkey",
        ])
        .arg(place.keys().join("checkpoint.vkey"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
