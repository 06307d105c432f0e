//! The witness's decisions on real signed checkpoints of real trees: growth, duplicates,
//! rollback, fork, bad proofs, wrong keys, unknown logs, odd bodies.

use signed_note::StandardSigner;
use tlog_tiles::{Hash, HashReader, prove_tree, stored_hashes, tree_hash};

use super::core::{Answer, TrustedLog, Witness};
use super::cosign::{CosignatureKey, Cosigner};
use super::request;

/// An in-memory tree (stored hashes, as the audit store keeps them).
#[derive(Default)]
struct Tree(Vec<Hash>, u64);

impl HashReader for Tree {
    fn read_hashes(&self, idx: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        idx.iter()
            .map(|&i| {
                self.0
                    .get(i as usize)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl Tree {
    fn grow(&mut self, leaves: &[&str]) {
        for l in leaves {
            let h = stored_hashes(self.1, l.as_bytes(), self).unwrap();
            self.0.extend(h);
            self.1 += 1;
        }
    }
    fn root(&self) -> Hash {
        tree_hash(self.1, self).unwrap()
    }
}

struct Log {
    origin: String,
    signer: StandardSigner,
    vkey: String,
    tree: Tree,
}

impl Log {
    fn new(origin: &str) -> Log {
        let (skey, vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, "warden");
        Log {
            origin: origin.into(),
            signer: StandardSigner::new(&skey).unwrap(),
            vkey,
            tree: Tree::default(),
        }
    }
    fn note(&self) -> String {
        crate::checkpoint::sign(&self.origin, self.tree.1, self.tree.root(), &self.signer).unwrap()
    }
    /// A request from `old` to the current size.
    fn body(&self, old: u64) -> String {
        let proof = if old == 0 || old == self.tree.1 {
            Vec::new()
        } else {
            prove_tree(self.tree.1, old, &self.tree).unwrap()
        };
        request::format(old, &proof, &self.note())
    }
}

fn witness(logs: Vec<TrustedLog>) -> (Witness, CosignatureKey, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    let c = Cosigner::generate("witness.example/w1").unwrap();
    let key = CosignatureKey::parse(&c.vkey()).unwrap();
    let w = Witness::new(logs, c, &d.path().join("state.db")).unwrap();
    (w, key, d)
}

fn trusting(log: &Log) -> Vec<TrustedLog> {
    vec![TrustedLog {
        origin: None,
        origin_prefix: Some("warden/warden/".into()),
        keys: vec![log.vkey.clone()],
    }]
}

fn status(a: &Answer) -> u16 {
    a.status
}

#[test]
fn growth_is_cosigned_and_the_cosignature_verifies() {
    let mut log = Log::new("warden/warden/a");
    let (w, key, _d) = witness(trusting(&log));
    log.tree.grow(&["0", "1", "2"]);
    let a = w.add_checkpoint(log.body(0).as_bytes());
    assert_eq!(status(&a), 200, "{a:?}");
    let note = signed_note::Note::from_bytes(log.note().as_bytes()).unwrap();
    assert!(key.verify_line(note.text(), &a.body).unwrap() > 0);
    log.tree.grow(&["3", "4", "5", "6"]);
    let a = w.add_checkpoint(log.body(3).as_bytes());
    assert_eq!(status(&a), 200, "{a:?}");
    // The same checkpoint again (a retry): cosigned again.
    assert_eq!(status(&w.add_checkpoint(log.body(7).as_bytes())), 200);
    assert_eq!(w.latest("warden/warden/a").unwrap().unwrap().size, 7);
    let stored = w.latest("warden/warden/a").unwrap().unwrap().note;
    assert!(stored.contains("— witness.example/w1 "), "{stored}");
    // The monitoring view: by the SHA-256 of the origin, the checkpoint with both signatures.
    use sha2::Digest;
    let hash = crate::keyed::hex(&sha2::Sha256::digest(b"warden/warden/a"));
    let latest = w.latest_by_hash(&hash).unwrap().unwrap();
    assert_eq!(latest.note, stored);
    assert!(crate::checkpoint::open(&latest.note, &[&log.vkey]).is_ok());
    assert!(w.latest_by_hash(&"0".repeat(64)).unwrap().is_none());
}

#[test]
fn a_stale_old_size_gets_409_with_the_size() {
    let mut log = Log::new("warden/warden/a");
    let (w, _, _d) = witness(trusting(&log));
    log.tree.grow(&["0", "1", "2", "3"]);
    assert_eq!(status(&w.add_checkpoint(log.body(0).as_bytes())), 200);
    log.tree.grow(&["4"]);
    let a = w.add_checkpoint(log.body(0).as_bytes());
    assert_eq!(
        (a.status, a.content_type, a.body.as_str()),
        (409, "text/x.tlog.size", "4\n")
    );
    let a = w.add_checkpoint(log.body(2).as_bytes());
    assert_eq!((a.status, a.body.as_str()), (409, "4\n"));
    assert_eq!(status(&w.add_checkpoint(log.body(4).as_bytes())), 200);
}

#[test]
fn rollback_and_fork_are_refused() {
    let mut log = Log::new("warden/warden/a");
    let (w, _, _d) = witness(trusting(&log));
    log.tree.grow(&["0", "1", "2", "3", "4", "5"]);
    assert_eq!(status(&w.add_checkpoint(log.body(0).as_bytes())), 200);
    // Rollback: the log cut back to 4 and re-signed with its own key.
    let mut cut = Log {
        origin: log.origin.clone(),
        signer: log.signer.clone(),
        vkey: log.vkey.clone(),
        tree: Tree::default(),
    };
    cut.tree.grow(&["0", "1", "2", "3"]);
    let a = w.add_checkpoint(cut.body(0).as_bytes());
    assert_eq!((a.status, a.body.as_str()), (409, "6\n"));
    // Claiming the witness's size with a smaller checkpoint: old > size.
    assert_eq!(
        status(&w.add_checkpoint(request::format(6, &[], &cut.note()).as_bytes())),
        400
    );
    // Fork: the same size with another root, and a longer tree that rewrote record 2.
    cut.tree.grow(&["X", "5"]);
    assert_eq!(status(&w.add_checkpoint(cut.body(6).as_bytes())), 422);
    let mut fork = Log {
        origin: log.origin.clone(),
        signer: log.signer.clone(),
        vkey: log.vkey.clone(),
        tree: Tree::default(),
    };
    fork.tree.grow(&["0", "1", "two", "3", "4", "5", "6", "7"]);
    let proof = prove_tree(8, 6, &fork.tree).unwrap();
    let a = w.add_checkpoint(request::format(6, &proof, &fork.note()).as_bytes());
    assert_eq!(status(&a), 422, "{a:?}");
    // A proof from the honest tree does not rescue the forked root either.
    log.tree.grow(&["6", "7"]);
    let honest = prove_tree(8, 6, &log.tree).unwrap();
    assert_eq!(
        status(&w.add_checkpoint(request::format(6, &honest, &fork.note()).as_bytes())),
        422
    );
    // Each refused, correctly signed checkpoint is kept as evidence.
    let kept = w.refusals(&log.origin).unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(
        kept.iter()
            .all(|(size, note, _)| note.contains(&format!("\n{size}\n")))
    );
    // The witness still stands at 6 and accepts honest growth.
    assert_eq!(w.latest(&log.origin).unwrap().unwrap().size, 6);
    assert_eq!(status(&w.add_checkpoint(log.body(6).as_bytes())), 200);
}

#[test]
fn proofs_from_zero_must_be_empty_and_empty_trees_must_have_the_empty_root() {
    let mut log = Log::new("warden/warden/a");
    let (w, _, _d) = witness(trusting(&log));
    log.tree.grow(&["0", "1"]);
    let with_proof = request::format(0, &[Hash([1; 32])], &log.note());
    assert_eq!(status(&w.add_checkpoint(with_proof.as_bytes())), 422);
    let bad_empty = crate::checkpoint::sign(&log.origin, 0, Hash([1; 32]), &log.signer).unwrap();
    assert_eq!(
        status(&w.add_checkpoint(request::format(0, &[], &bad_empty).as_bytes())),
        422
    );
}

#[test]
fn keys_and_origins() {
    let log = Log::new("warden/warden/a");
    let stranger = Log::new("warden/warden/a");
    let (w, _, _d) = witness(trusting(&log));
    // Signed by a key the witness does not trust for this origin: 403.
    assert_eq!(status(&w.add_checkpoint(stranger.body(0).as_bytes())), 403);
    // Unknown origin: 404.
    let other = Log::new("elsewhere/log");
    assert_eq!(status(&w.add_checkpoint(other.body(0).as_bytes())), 404);
    // A trusted key's signature that does not verify: 403.
    let note = log.note().replacen("\n0\n", "\n1\n", 1);
    assert_eq!(
        status(&w.add_checkpoint(request::format(0, &[], &note).as_bytes())),
        403
    );
    // An untrusted signature beside a good one is ignored.
    let both = format!("{}{}", log.note(), stranger.note().lines().last().unwrap());
    assert_eq!(
        status(&w.add_checkpoint(request::format(0, &[], &format!("{both}\n")).as_bytes())),
        200
    );
    // Configuration: one of origin/prefix, valid keys.
    let d = tempfile::tempdir().unwrap();
    let c = || Cosigner::generate("w").unwrap();
    let bad = |l: TrustedLog| Witness::new(vec![l], c(), &d.path().join("s.db")).is_err();
    assert!(bad(TrustedLog {
        origin: None,
        origin_prefix: None,
        keys: vec![log.vkey.clone()]
    }));
    assert!(bad(TrustedLog {
        origin: Some("a".into()),
        origin_prefix: Some("a".into()),
        keys: vec![log.vkey.clone()]
    }));
    assert!(bad(TrustedLog {
        origin: Some("a".into()),
        origin_prefix: None,
        keys: vec![]
    }));
    assert!(bad(TrustedLog {
        origin: Some("a".into()),
        origin_prefix: None,
        keys: vec!["junk".into()]
    }));
}

#[test]
fn odd_bodies_get_400_and_never_a_panic() {
    let mut log = Log::new("warden/warden/a");
    let (w, _, _d) = witness(trusting(&log));
    log.tree.grow(&["0", "1", "2"]);
    for bad in [
        "",
        "\n",
        "old 0\n\n",
        "old 0\n\nnot a note\n",
        "old 0\n\na\n3\nAAAA\n\n— k AAAA\n",
    ] {
        assert_eq!(status(&w.add_checkpoint(bad.as_bytes())), 400, "{bad:?}");
    }
    let good = log.body(0);
    for i in 0..good.len() {
        let mut b = good.clone().into_bytes();
        b[i] = b[i].wrapping_add(1);
        let a = w.add_checkpoint(&b);
        assert_ne!(a.status, 200, "byte {i} changed and still cosigned");
        let _prefix = w.add_checkpoint(&good.as_bytes()[..i]);
    }
    assert_eq!(status(&w.add_checkpoint(good.as_bytes())), 200);
}

#[test]
fn concurrent_submissions_never_roll_back() {
    let mut log = Log::new("warden/warden/a");
    let (w, _, _d) = witness(trusting(&log));
    let w = std::sync::Arc::new(w);
    let mut bodies = Vec::new();
    for i in 0..16 {
        log.tree.grow(&[&i.to_string()]);
        bodies.push(log.body(0));
    }
    let threads: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let w = w.clone();
            std::thread::spawn(move || w.add_checkpoint(b.as_bytes()).status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409));
}
