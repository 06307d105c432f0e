//! warden's C2SP evidence checked by code nobody here wrote: Go's reference implementation
//! (`golang.org/x/mod/sumdb/note` and `sumdb/tlog`, Debian's `golang-golang-x-mod-dev`), in
//! the small program at `tests/go/tlogcheck`, opens warden's checkpoints, checks its
//! `c2sp.org/tlog-proof` inclusion proofs and JSON consistency proofs, and authenticates every
//! tile and entry of `warden audit export-tiles` against the signed root, from logs the real
//! proxy recorded; and it fails on a tampered tile, a tampered entry, a wrong key. The admin
//! plane serves the same bytes at the same paths.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use crate::admin::Dashboard;
use crate::support::*;

const GOCODE: &str = "/usr/share/gocode";

/// The Go checker, built once (GOPATH mode against Debian's packages). `None`: skip, loudly,
/// unless CI is set, where missing Go fails (scripts/install-test-tools.sh installs it).
fn tlogcheck() -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let have = Command::new("go").arg("version").output().is_ok()
                && Path::new(GOCODE)
                    .join("src/golang.org/x/mod/sumdb/tlog")
                    .is_dir();
            if !have {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "go or golang.org/x/mod missing: run scripts/install-test-tools.sh"
                );
                eprintln!(
                    "skipped: go or golang.org/x/mod not installed (scripts/install-test-tools.sh)"
                );
                return None;
            }
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            // Built under a name of this process, then renamed: test runs never share a
            // half-written binary.
            let bin = tmp.join("tlogcheck");
            let building = tmp.join(format!("tlogcheck-{}", std::process::id()));
            let out = Command::new("go")
                .args(["build", "-o"])
                .arg(&building)
                .arg(".")
                .current_dir(repo_root().join("crates/warden/tests/go/tlogcheck"))
                .env("GO111MODULE", "off")
                .env("GOPATH", GOCODE)
                .env("GOCACHE", tmp.join("gocache"))
                .env("GOFLAGS", "")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "building tlogcheck: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::rename(&building, &bin).unwrap();
            Some(bin)
        })
        .as_deref()
}

fn go(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(tlogcheck().unwrap());
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

#[track_caller]
fn go_ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = go(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.starts_with("OK"),
        "tlogcheck failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The Go checker must refuse, saying why.
#[track_caller]
fn go_fails(args: &[&dyn AsRef<std::ffi::OsStr>], why: &str) -> String {
    let out = go(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "tlogcheck accepted it: {err}");
    assert!(err.contains(why), "expected {why:?} in: {err}");
    err
}

fn ok(o: Output) -> String {
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    text
}

/// Two logs in one store, recorded by `warden run` over the demo server: 300 calls with a
/// checkpoint every 100 records (full tiles, older partial tiles, a level-1 tile), then 20.
fn recorded() -> Place {
    let place = Place::new();
    for calls in [300, 20] {
        let mut p = Proxied::start(&place, &["--checkpoint-every", "100"]);
        p.calls(calls);
        drop(p.input.take());
        assert!(p.child.wait().unwrap().success());
    }
    place.assert_verifies();
    place
}

/// `(log_id, seq, id)` of every record.
fn records(place: &Place) -> Vec<(String, u64, String)> {
    let c = place.conn();
    let mut st = c
        .prepare("SELECT log_id, seq, id FROM records ORDER BY log_id, seq")
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Every file below `root`, by `/`-separated path relative to it.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(rel.replace('\\', "/"), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, bytes) in files(from) {
        let p = to.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

#[test]
fn go_checks_exported_tiles_and_fails_on_tampering() {
    let Some(_) = tlogcheck() else { return };
    let place = recorded();
    let vkey = place.keys().join("checkpoint.vkey");
    let out = place.dir.path().join("tiles");
    let text = ok(warden()
        .args(["audit", "export-tiles", "--db"])
        .arg(place.db())
        .arg(&out)
        .output()
        .unwrap());
    let logs: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(logs.len(), 2, "{text}");
    for log in &logs {
        assert!(text.contains(&format!("log {log}: ")), "{text}");
        let t = go_ok(&[&"tiles", &vkey, &out.join(log)]);
        assert!(t.contains("OK tiles: warden/warden/"), "{t}");
    }
    // The big log: its full tiles, and partial ones of earlier checkpoints.
    let big = logs
        .iter()
        .find(|l| out.join(l).join("tile/0/001").exists())
        .expect("a log with two full level-0 tiles");
    let dir = out.join(big);
    let all = files(&dir);
    assert!(all.contains_key("tile/entries/000"));
    assert!(
        all.keys().any(|k| k.starts_with("tile/1/000.p/")),
        "{all:?}"
    );
    assert!(
        all.keys()
            .filter(|k| k.starts_with("tile/0/002.p/"))
            .count()
            >= 2,
        "{:?}",
        all.keys()
    );

    // A wrong key: nothing opens.
    let other = place.dir.path().join("other-keys");
    ok(warden()
        .args(["keys", "generate", "--key-dir"])
        .arg(&other)
        .output()
        .unwrap());
    go_fails(
        &[&"tiles", &other.join("checkpoint.vkey"), &dir],
        "note.Open",
    );

    // Tampering, each on a fresh copy.
    let tampered = |name: &str, edit: &dyn Fn(&Path)| -> PathBuf {
        let copy = place.dir.path().join(name);
        copy_dir(&dir, &copy);
        edit(&copy);
        copy
    };
    let flip = |p: PathBuf, at: usize| {
        let mut b = std::fs::read(&p).unwrap();
        b[at] ^= 1;
        std::fs::write(&p, b).unwrap();
    };
    // A full level-0 tile: one hash changed.
    let d = tampered("t-tile", &|d| flip(d.join("tile/0/001"), 40));
    go_fails(&[&"tiles", &vkey, &d], "tile");
    // The level-1 tile.
    let level1 = all
        .keys()
        .filter(|k| k.starts_with("tile/1/000.p/"))
        .max()
        .unwrap()
        .clone();
    let d = tampered("t-level1", &|d| flip(d.join(&level1), 0));
    go_fails(&[&"tiles", &vkey, &d], "tile");
    // An older partial tile no current tree reads.
    let older = all
        .keys()
        .filter(|k| k.starts_with("tile/0/002.p/"))
        .min_by_key(|k| k.rsplit('/').next().unwrap().parse::<u32>().unwrap())
        .unwrap()
        .clone();
    let d = tampered("t-older", &|d| flip(d.join(&older), 5));
    go_fails(&[&"tiles", &vkey, &d], "does not match the tree's tile");
    // An entry: one byte of a record changed in its bundle (the tiles left as they were).
    let d = tampered("t-entry", &|d| {
        let p = d.join("tile/entries/001");
        let text = std::fs::read(&p).unwrap();
        let at = text
            .windows(12)
            .position(|w| w == b"get_employee")
            .expect("a call in the bundle");
        let mut b = text;
        b[at] = b'G';
        std::fs::write(&p, b).unwrap();
    });
    go_fails(&[&"tiles", &vkey, &d], "does not hash to its tile hash");
    // A tile one byte too long.
    let d = tampered("t-long", &|d| {
        let p = d.join("tile/0/000");
        let mut b = std::fs::read(&p).unwrap();
        b.push(0);
        std::fs::write(&p, b).unwrap();
    });
    go_fails(&[&"tiles", &vkey, &d], "8193 bytes");
    // A checkpoint edited after signing.
    let d = tampered("t-checkpoint", &|d| {
        let p = d.join("checkpoint");
        let t = std::fs::read_to_string(&p).unwrap();
        let mut lines: Vec<&str> = t.split('\n').collect();
        let size: u64 = lines[1].parse().unwrap();
        let smaller = (size - 1).to_string();
        lines[1] = &smaller;
        std::fs::write(&p, lines.join("\n")).unwrap();
    });
    go_fails(&[&"tiles", &vkey, &d], "note.Open");

    // The admin plane serves the same bytes at the same paths, behind the same token.
    const TOKEN: &str = "3f9a1c0e7b5d42a8961e0c4b7d3a5f2e8c1b9d07a6e4f3c2b1a09d8e7f6c5b4a";
    let dash = Dashboard::start(&place.db(), &["--token", TOKEN]);
    for (rel, bytes) in &all {
        let path = format!("/api/v1/logs/{big}/{rel}");
        let (status, head, body) = raw_get(&dash.addr, &path, Some(TOKEN));
        assert_eq!(status, 200, "{path}: {head}");
        assert_eq!(&body, bytes, "{path}");
        let head = head.to_ascii_lowercase();
        if rel == "checkpoint" {
            assert!(
                head.contains("content-type: text/plain; charset=utf-8"),
                "{head}"
            );
            assert!(head.contains("cache-control: no-cache"), "{head}");
        } else {
            assert!(
                head.contains("content-type: application/octet-stream"),
                "{head}"
            );
            assert!(head.contains("immutable"), "{head}");
        }
        assert_eq!(raw_get(&dash.addr, &path, None).0, 401, "{path}");
    }
    for beyond in [
        "tile/0/003",
        "tile/0/000.p/0",
        "tile/2/000.p/1",
        "tile/8/0/000",
    ] {
        let path = format!("/api/v1/logs/{big}/{beyond}");
        assert_eq!(raw_get(&dash.addr, &path, Some(TOKEN)).0, 404, "{path}");
    }
}

/// A plain HTTP/1.1 GET: `(status, head, body bytes)`; the body is read by Content-Length.
fn raw_get(addr: &str, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    (status, head, raw[split + 4..].to_vec())
}

#[test]
fn go_checks_inclusion_and_consistency_proofs() {
    let Some(_) = tlogcheck() else { return };
    let place = recorded();
    let vkey = place.keys().join("checkpoint.vkey");
    let dir = place.dir.path();
    let recs = records(&place);
    let last_of = |log: &str| {
        recs.iter()
            .filter(|r| r.0 == log)
            .map(|r| r.1)
            .max()
            .unwrap()
    };
    // The first record, one inside a full tile, one past the first tile, each log's last.
    let mut picks: Vec<&(String, u64, String)> = recs
        .iter()
        .filter(|r| r.1 == 0 || r.1 == 5 || r.1 == 300 || r.1 == last_of(&r.0))
        .collect();
    picks.dedup();
    assert!(picks.len() >= 6, "{picks:?}");
    for (log, seq, id) in picks {
        let proof = dir.join(format!("{seq}.tlog-proof"));
        let leaf = dir.join(format!("{seq}.leaf"));
        let text = ok(warden()
            .args(["audit", "prove", "--db"])
            .arg(place.db())
            .args(["--record", id, "--leaf-out"])
            .arg(&leaf)
            .output()
            .unwrap());
        assert!(
            text.starts_with(&format!("c2sp.org/tlog-proof@v1\nindex {seq}\n")),
            "{text}"
        );
        std::fs::write(&proof, &text).unwrap();
        let g = go_ok(&[&"proof", &vkey, &proof, &leaf]);
        assert!(
            g.contains(&format!("entry {seq} is in warden/warden/{log}")),
            "{g}"
        );
        let v = ok(warden()
            .args(["audit", "verify-proof"])
            .arg(&proof)
            .arg("--leaf")
            .arg(&leaf)
            .arg("--pubkey")
            .arg(&vkey)
            .output()
            .unwrap());
        assert!(
            v.contains(&format!("record {seq} (id {id}) is included")),
            "{v}"
        );

        // Another record's leaf, a changed proof hash, a stranger's key: Go says no.
        let other = dir.join("other.leaf");
        let mut bytes = std::fs::read(&leaf).unwrap();
        bytes.push(b' ');
        std::fs::write(&other, &bytes).unwrap();
        go_fails(&[&"proof", &vkey, &proof, &other], "is not in");
        if *seq > 0 {
            let forged = dir.join("forged.tlog-proof");
            let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
            let first = if lines[2].starts_with('A') { "B" } else { "A" };
            lines[2] = format!("{first}{}", &lines[2][1..]);
            std::fs::write(&forged, lines.join("\n")).unwrap();
            go_fails(&[&"proof", &vkey, &forged, &leaf], "is not in");
        }
    }
    let stranger = dir.join("stranger");
    ok(warden()
        .args(["keys", "generate", "--key-dir"])
        .arg(&stranger)
        .output()
        .unwrap());
    go_fails(
        &[
            &"proof",
            &stranger.join("checkpoint.vkey"),
            &dir.join("5.tlog-proof"),
            &dir.join("5.leaf"),
        ],
        "note.Open",
    );

    // Consistency, from each checkpoint an auditor could have kept to the latest of its log.
    let c = place.conn();
    let mut st = c
        .prepare("SELECT note, size FROM checkpoints ORDER BY log_id, size")
        .unwrap();
    let kept: Vec<(String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(kept.len() >= 8, "{kept:?}");
    for (i, (note, size)) in kept.iter().enumerate() {
        let k = dir.join(format!("kept-{i}.checkpoint"));
        std::fs::write(&k, note).unwrap();
        let p = dir.join(format!("grew-{i}.json"));
        let text = ok(warden()
            .args(["audit", "prove", "--db"])
            .arg(place.db())
            .arg("--from-checkpoint")
            .arg(&k)
            .output()
            .unwrap());
        std::fs::write(&p, &text).unwrap();
        let g = go_ok(&[&"consistency", &vkey, &p]);
        assert!(g.contains(&format!("extends size {size}")), "{g}");
        if i == 0 {
            go_fails(
                &[&"consistency", &stranger.join("checkpoint.vkey"), &p],
                "note.Open",
            );
            // A proof hash changed.
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let first = v["proof"][0].as_str().unwrap().to_owned();
            let swapped = if first.starts_with('A') { "B" } else { "A" };
            let forged = text.replacen(&first, &format!("{swapped}{}", &first[1..]), 1);
            std::fs::write(&p, forged).unwrap();
            go_fails(&[&"consistency", &vkey, &p], "does not extend");
        }
    }
}

#[test]
fn verify_proof_reads_old_json_proofs_and_says_what_a_tlog_proof_without_leaf_checks() {
    // Proof files written by the JSON `prove` before tlog-proof still verify.
    let fixtures = repo_root().join("fixtures/proofs");
    let key = fixtures.join("warden.vkey");
    for (file, says) in [
        ("inclusion.proof.json", "record 7 is included"),
        ("consistency.proof.json", "extends its checkpoint at size 8"),
    ] {
        let v = ok(warden()
            .args(["audit", "verify-proof"])
            .arg(fixtures.join(file))
            .arg("--pubkey")
            .arg(&key)
            .output()
            .unwrap());
        assert!(v.contains(says), "{file}: {v}");
    }

    let place = Place::new();
    let mut p = Proxied::start(&place, &["--checkpoint-every", "4"]);
    p.calls(3);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    let id = &records(&place)[3].2;
    let proof = place.dir.path().join("p.tlog-proof");
    let leaf = place.dir.path().join("p.leaf");
    let text = ok(warden()
        .args(["audit", "prove", "--db"])
        .arg(place.db())
        .args(["--record", id, "--leaf-out"])
        .arg(&leaf)
        .output()
        .unwrap());
    std::fs::write(&proof, text).unwrap();
    let vkey = place.keys().join("checkpoint.vkey");
    let verify = |extra: &[&Path], key: bool| {
        let mut c = warden();
        c.args(["audit", "verify-proof"]).arg(&proof);
        if key {
            c.arg("--pubkey").arg(&vkey);
        }
        for e in extra {
            c.arg("--leaf").arg(e);
        }
        c.output().unwrap()
    };
    let v = ok(verify(&[], true));
    assert!(v.contains("checkpoint only") && v.contains("NOT"), "{v}");
    // The leaf must be the exact bytes: one more byte, and it fails.
    let mut bytes = std::fs::read(&leaf).unwrap();
    bytes.push(b'\n');
    let longer = place.dir.path().join("longer.leaf");
    std::fs::write(&longer, bytes).unwrap();
    let v = verify(&[&longer], true);
    assert_eq!(v.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("FAILED"));
    // A tlog-proof names no key: without --pubkey there is nothing to trust.
    let v = verify(&[&leaf], false);
    assert_eq!(v.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&v.stderr).contains("--pubkey"));
}
