//! Tampering with a store recorded through the real proxy is caught by `warden audit verify`
//! (exit 1, naming the record); exports and proofs check offline.

use crate::support::*;

fn recorded() -> Place {
    let place = Place::new();
    let mut p = Proxied::start(&place, &["--checkpoint-every", "16"]);
    p.calls(25);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    place
}

fn verify_proof(file: &std::path::Path, pubkey: &std::path::Path) -> std::process::Output {
    warden()
        .args(["audit", "verify-proof"])
        .arg(file)
        .arg("--pubkey")
        .arg(pubkey)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn edits_and_deletions_are_named() {
    let place = recorded();
    place.assert_verifies();
    let c = place.conn();
    c.execute("UPDATE records SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"size\":', '\"size\":1') AS BLOB) WHERE seq = 9", []).unwrap();
    let v = place.verify();
    assert_eq!(v.status.code(), Some(1));
    assert!(stdout(&v).contains("edited at record 9"), "{}", stdout(&v));

    let place = recorded();
    place
        .conn()
        .execute("DELETE FROM records WHERE seq = 20", [])
        .unwrap();
    let v = place.verify();
    assert_eq!(v.status.code(), Some(1));
    assert!(
        stdout(&v).contains("deleted at record 20"),
        "{}",
        stdout(&v)
    );
}

#[test]
fn export_verifies_alone_and_tampered_export_fails() {
    let place = recorded();
    let file = place.dir.path().join("export.jsonl");
    let out = place.export(&file);
    assert!(out.status.success());
    let pubkey = place.keys().join("checkpoint.vkey");
    let v = warden()
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .arg("--pubkey")
        .arg(&pubkey)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", stdout(&v));
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replacen("get_employee", "get_pay_info", 1);
    std::fs::write(&file, text).unwrap();
    let v = warden()
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .arg("--pubkey")
        .arg(&pubkey)
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
}

#[test]
fn inclusion_and_consistency_proofs_check_offline() {
    let place = recorded();
    let id: String = place
        .conn()
        .query_row("SELECT id FROM records WHERE seq = 5", [], |r| r.get(0))
        .unwrap();
    let leaf = place.dir.path().join("p.leaf");
    let proof = warden()
        .args(["audit", "prove", "--db"])
        .arg(place.db())
        .args(["--record", &id, "--leaf-out"])
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        proof.status.success(),
        "{}",
        String::from_utf8_lossy(&proof.stderr)
    );
    let file = place.dir.path().join("p.tlog-proof");
    std::fs::write(&file, &proof.stdout).unwrap();
    let pubkey = place.keys().join("checkpoint.vkey");
    let with_leaf = |leaf: &std::path::Path| {
        warden()
            .args(["audit", "verify-proof"])
            .arg(&file)
            .arg("--leaf")
            .arg(leaf)
            .arg("--pubkey")
            .arg(&pubkey)
            .output()
            .unwrap()
    };
    let v = with_leaf(&leaf);
    assert!(v.status.success(), "{}", stdout(&v));
    assert!(stdout(&v).contains("record 5 (id"), "{}", stdout(&v));
    // Leaf v2 keeps no payload in the leaf: forge a member it has.
    let forged = String::from_utf8(std::fs::read(&leaf).unwrap())
        .unwrap()
        .replacen("\"size\":", "\"size\":1", 1);
    let forged_leaf = place.dir.path().join("forged.leaf");
    std::fs::write(&forged_leaf, forged).unwrap();
    let v = with_leaf(&forged_leaf);
    assert_eq!(v.status.code(), Some(1));

    // An auditor kept the first checkpoint; the log grows; the consistency proof checks.
    let first: String = place
        .conn()
        .query_row(
            "SELECT note FROM checkpoints ORDER BY size LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let kept = place.dir.path().join("kept.checkpoint");
    std::fs::write(&kept, first).unwrap();
    let proof = warden()
        .args(["audit", "prove", "--db"])
        .arg(place.db())
        .arg("--from-checkpoint")
        .arg(&kept)
        .output()
        .unwrap();
    assert!(
        proof.status.success(),
        "{}",
        String::from_utf8_lossy(&proof.stderr)
    );
    std::fs::write(&file, &proof.stdout).unwrap();
    let v = verify_proof(&file, &pubkey);
    assert!(v.status.success(), "{}", stdout(&v));
    assert!(
        stdout(&v).contains("extends its checkpoint at size 16"),
        "{}",
        stdout(&v)
    );
}

#[test]
fn search_filters_and_formats() {
    let place = recorded();
    let out = warden()
        .args(["audit", "search", "--db"])
        .arg(place.db())
        .args([
            "--tool",
            "get_employee",
            "--direction",
            "s2c",
            "--format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 25);
    assert!(
        lines
            .iter()
            .all(|l| l["kind"] == "result" && l["outcome"] == "ok")
    );
    let out = warden()
        .args(["audit", "search", "--db"])
        .arg(place.db())
        .args([
            "--since",
            "1h",
            "--method",
            "initialize",
            "--format",
            "table",
        ])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("initialize"));
    let out = warden()
        .args([
            "audit",
            "tail",
            "--no-follow",
            "-n",
            "3",
            "--format",
            "jsonl",
            "--db",
        ])
        .arg(place.db())
        .output()
        .unwrap();
    assert_eq!(stdout(&out).lines().count(), 3);
}
