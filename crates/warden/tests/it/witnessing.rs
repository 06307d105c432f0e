//! Two warden instances, one witnessing the other: a `warden witness` process cosigns the
//! checkpoints a `warden run` submits as its log grows, and `audit verify --policy` passes.
//! Then the attacker the signing key does not stop (one who holds it): a copy of the store cut
//! back, or with a record rewritten, and every checkpoint re-signed with the log's own key.
//! Plain verification passes; the witness refuses the new checkpoint (409, 422) and
//! `verify --policy` fails. Anchors catch a store cut behind them without any witness.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use tlog_tiles::record_hash;
use warden_audit::tree::Frontier;

use crate::support::*;

/// A running `warden witness serve`, stopped when dropped.
struct WitnessProc {
    child: Child,
    addr: String,
    vkey: String,
    /// Holds the key, config and state until the witness stops.
    _dir: tempfile::TempDir,
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
    }
}

fn start_witness(log_vkey: &str) -> WitnessProc {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("witness.key");
    let made = warden()
        .args(["witness", "keygen", "--name", "witness.test/w1", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let vkey = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the witness key is private");
    let config = dir.path().join("witness.yaml");
    std::fs::write(
        &config,
        format!(
            "key: witness.key\nstate: state.db\nlisten: 127.0.0.1:0\nlogs:\n  - origin_prefix: \"warden/warden/\"\n    keys: [\"{log_vkey}\"]\n"
        ),
    )
    .unwrap();
    let mut child = warden()
        .args(["witness", "serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    read_line_within(&mut out, &mut line);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    let mode = std::fs::metadata(dir.path().join("state.db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the witness state is private");
    WitnessProc {
        child,
        addr,
        vkey,
        _dir: dir,
    }
}

/// POSTs `body` to the witness; returns the status and the body of the answer.
fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn verify_with(db: &Path, place: &Place, extra: &[&str]) -> std::process::Output {
    warden()
        .args(["audit", "verify", "--db"])
        .arg(db)
        .arg("--pubkey")
        .arg(place.keys().join("checkpoint.vkey"))
        .args(extra)
        .output()
        .unwrap()
}

/// A log recorded through the real proxy with the witness and an anchor directory.
fn recorded(w: &WitnessProc, place: &Place) -> PathBuf {
    let policy = place.dir.path().join("witnesses.policy");
    std::fs::write(
        &policy,
        format!(
            "# our witness\nwitness w1 {} http://{}\nquorum w1\n",
            w.vkey, w.addr
        ),
    )
    .unwrap();
    let anchors = place.dir.path().join("anchors/");
    let mut p = Proxied::start(
        place,
        &[
            "--checkpoint-every",
            "4",
            "--witness-policy",
            policy.to_str().unwrap(),
            "--anchor",
            anchors.to_str().unwrap(),
        ],
    );
    // Growth in two stages, the second only once the witness has cosigned a checkpoint of
    // the first (the submitter sends the newest checkpoint, so a burst may be cosigned once).
    p.calls(5);
    // One read-only connection, kept: a read-write one opened and closed in a loop would
    // contend for the store's locks with warden's writer each time it closes.
    let reader = rusqlite::Connection::open_with_flags(
        place.db(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let cosigned = || -> i64 {
        reader
            .query_row("SELECT COUNT(*) FROM cosignatures", [], |r| r.get(0))
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cosigned() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the witness cosigned nothing within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(reader);
    for i in 6..=10 {
        p.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"get_employee","arguments":{{"id":"E001"}}}}}}"#
        ));
        assert!(p.recv().contains(&format!(r#""id":{i}"#)));
    }
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    policy
}

/// A copy of the store (its WAL folded in).
fn copy_of(place: &Place, name: &str) -> PathBuf {
    let to = place.dir.path().join(name);
    place
        .conn()
        .execute("VACUUM INTO ?1", [to.to_str().unwrap()])
        .unwrap();
    to
}

fn log_of(db: &Path) -> (String, String) {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT log_id, origin FROM logs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
}

/// Rebuilds every stored hash and re-signs a checkpoint at every `every` records and at the
/// end, with the log's own key: what an attacker holding the key does after an edit.
fn resign(db: &Path, place: &Place, every: u64) -> String {
    let keys = warden_audit::Keys::load(&place.keys()).unwrap();
    let (log_id, origin) = log_of(db);
    let c = rusqlite::Connection::open(db).unwrap();
    let leaves: Vec<(i64, Vec<u8>)> = c
        .prepare("SELECT seq, leaf FROM records WHERE log_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([&log_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    c.execute("DELETE FROM checkpoints", []).unwrap();
    let mut f = Frontier::new();
    let mut last = String::new();
    for (i, (seq, leaf)) in leaves.iter().enumerate() {
        let hashes: Vec<u8> = f
            .append(record_hash(leaf))
            .iter()
            .flat_map(|h| h.0)
            .collect();
        c.execute(
            "UPDATE records SET hashes = ?1 WHERE log_id = ?2 AND seq = ?3",
            rusqlite::params![hashes, log_id, seq],
        )
        .unwrap();
        if f.size().is_multiple_of(every) || i + 1 == leaves.len() {
            last =
                warden_audit::checkpoint::sign(&origin, f.size(), f.root(), &keys.signer).unwrap();
            c.execute(
                "INSERT INTO checkpoints (log_id, size, ts_us, note) VALUES (?1, ?2, 0, ?3)",
                rusqlite::params![log_id, f.size() as i64, last],
            )
            .unwrap();
        }
    }
    last
}

#[test]
fn growth_is_cosigned_and_truncation_is_refused_and_fails_the_policy() {
    let place = Place::new();
    let made = warden()
        .args(["keys", "generate", "--key-dir"])
        .arg(place.keys())
        .output()
        .unwrap();
    assert!(made.status.success());
    let log_vkey = std::fs::read_to_string(place.keys().join("checkpoint.vkey")).unwrap();
    let w = start_witness(log_vkey.trim());
    let policy = recorded(&w, &place);
    let policy_arg = policy.to_str().unwrap();

    // Normal growth: several checkpoints cosigned, the final one included.
    let sizes: Vec<i64> = place
        .conn()
        .prepare("SELECT DISTINCT size FROM cosignatures ORDER BY size")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let last: i64 = place
        .conn()
        .query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert!(sizes.len() >= 2, "cosigned sizes {sizes:?}");
    assert_eq!(
        sizes.last(),
        Some(&last),
        "the final checkpoint is cosigned"
    );
    let v = verify_with(&place.db(), &place, &["--policy", policy_arg, "--online"]);
    assert!(v.status.success(), "{}", stdout(&v));
    assert!(stdout(&v).contains("cosigned by w1"), "{}", stdout(&v));
    // The export carries the cosignatures in its checkpoint notes and still verifies alone.
    let export = place.dir.path().join("export.jsonl");
    assert!(place.export(&export).status.success());
    let text = std::fs::read_to_string(&export).unwrap();
    let cosigned_notes = text
        .lines()
        .filter(|l| l.contains(r#""type":"checkpoint""#) && l.contains("— witness.test/w1 "))
        .count();
    assert_eq!(cosigned_notes, sizes.len(), "{text}");
    let v = warden()
        .args(["audit", "verify", "--file"])
        .arg(&export)
        .arg("--pubkey")
        .arg(place.keys().join("checkpoint.vkey"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", stdout(&v));

    // The attacker cuts the tail of a copy and re-signs it with the log's key.
    let cut = copy_of(&place, "cut.db");
    let keep = last - 5;
    {
        let c = rusqlite::Connection::open(&cut).unwrap();
        c.execute("DELETE FROM records WHERE seq >= ?1", [keep])
            .unwrap();
        c.execute("DELETE FROM cosignatures WHERE size > ?1", [keep])
            .unwrap();
    }
    let forged = resign(&cut, &place, 4);
    let plain = verify_with(&cut, &place, &[]);
    assert!(
        plain.status.success(),
        "the key holder's truncation passes plain verification: {}",
        stdout(&plain)
    );
    let v = verify_with(&cut, &place, &["--policy", policy_arg]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stdout(&v).contains("lacks the witness quorum"),
        "{}",
        stdout(&v)
    );
    let v = verify_with(&cut, &place, &["--policy", policy_arg, "--online"]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stdout(&v).contains("truncated: witness w1 has cosigned"),
        "{}",
        stdout(&v)
    );

    // The witness refuses the re-signed checkpoint: 409 with the size it holds, and 400 when
    // told that size (the checkpoint is smaller).
    let (status, body) = post(&w.addr, "/add-checkpoint", &format!("old 0\n\n{forged}"));
    assert_eq!((status, body.as_str()), (409, format!("{last}\n").as_str()));
    let (status, _) = post(
        &w.addr,
        "/add-checkpoint",
        &format!("old {last}\n\n{forged}"),
    );
    assert_eq!(status, 400);
    // Like warden's other listeners, it answers only its own Host (DNS rebinding).
    let mut s = TcpStream::connect(&w.addr).unwrap();
    write!(
        s,
        "POST /add-checkpoint HTTP/1.1\r\nHost: witness.attacker.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    // Anchors: the cut copy is behind the anchored checkpoint.
    let anchors = place.dir.path().join("anchors");
    let v = verify_with(
        &place.db(),
        &place,
        &["--anchor", anchors.to_str().unwrap()],
    );
    assert!(v.status.success(), "{}", stdout(&v));
    let v = verify_with(&cut, &place, &["--anchor", anchors.to_str().unwrap()]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(stdout(&v).contains("truncated"), "{}", stdout(&v));
}

#[test]
fn a_rewritten_record_is_refused_by_the_witness_and_fails_the_policy() {
    let place = Place::new();
    let made = warden()
        .args(["keys", "generate", "--key-dir"])
        .arg(place.keys())
        .output()
        .unwrap();
    assert!(made.status.success());
    let log_vkey = std::fs::read_to_string(place.keys().join("checkpoint.vkey")).unwrap();
    let w = start_witness(log_vkey.trim());
    let policy = recorded(&w, &place);
    let policy_arg = policy.to_str().unwrap();
    let last: i64 = place
        .conn()
        .query_row("SELECT MAX(size) FROM checkpoints", [], |r| r.get(0))
        .unwrap();

    let edited = copy_of(&place, "edited.db");
    {
        let c = rusqlite::Connection::open(&edited).unwrap();
        let n = c
            .execute("UPDATE records SET leaf = CAST(replace(CAST(leaf AS TEXT), '\"size\":', '\"size\":1') AS BLOB) WHERE seq = 5 AND instr(leaf, '\"size\":') > 0", [])
            .unwrap();
        assert_eq!(n, 1);
    }
    let forged = resign(&edited, &place, 4);
    let plain = verify_with(&edited, &place, &[]);
    assert!(plain.status.success(), "{}", stdout(&plain));
    let v = verify_with(&edited, &place, &["--policy", policy_arg]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(stdout(&v).contains("does not verify"), "{}", stdout(&v));

    // Same size, another root: 422.
    let (status, body) = post(
        &w.addr,
        "/add-checkpoint",
        &format!("old {last}\n\n{forged}"),
    );
    assert_eq!(status, 422, "{body}");
}

#[test]
fn the_witness_stays_on_loopback_unless_told_and_keygen_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("w.key");
    let made = warden()
        .args(["witness", "keygen", "--name", "witness.test/w1", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success());
    // keygen never overwrites a key.
    let again = warden()
        .args(["witness", "keygen", "--name", "witness.test/w1", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let config = dir.path().join("w.yaml");
    std::fs::write(
        &config,
        "key: w.key\nstate: w.db\nlogs:\n  - origin_prefix: \"x/\"\n    keys: [\"x+00000000+AAAA\"]\n",
    )
    .unwrap();
    let out = warden()
        .args(["witness", "serve", "--listen", "0.0.0.0:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--allow-remote"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A trusted log key that does not parse stops it before it opens its state or listens.
    let out = warden()
        .args(["witness", "serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trusted log 0: key"), "{err}");
    assert!(!dir.path().join("w.db").exists());
}
