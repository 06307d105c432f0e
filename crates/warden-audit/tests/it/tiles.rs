//! A store written by the real writer, exported as C2SP tiles: every file is what the admin
//! plane serves for the same path, the tree authenticates against the signed checkpoint
//! (through `tlog_tiles`' tile reader), and logs that cannot be published are refused with
//! the record or checkpoint named.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tlog_tiles::{HashReader, Tile, TileHashReader, TileReader, record_hash, stored_hash_index};
use warden_audit::tile_export::{LogTiles, TilesError, export_tiles};
use warden_audit::tile_read::{TileReadError, latest_checkpoint, read_tile};
use warden_audit::tiles::{TilePath, split_bundle};
use warden_audit::{AuditEvent, AuditWriter, Keys, SessionContext, Store, WriterConfig};

/// Writes one log of `n` gateway events (plus `log_opened` and `log_closed`).
fn write_log(dir: &Path, n: usize) -> String {
    let keys = Keys::load_or_create(&dir.join("keys"), "tiles-test").unwrap();
    let writer = AuditWriter::start(
        Store::open(&dir.join("audit.db"), false).unwrap(),
        keys,
        WriterConfig {
            checkpoint_every: 100,
            checkpoint_interval: Duration::from_secs(3600),
            linger: Duration::ZERO,
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let ctx = Arc::new(SessionContext::default());
    let h = writer.handle();
    for _ in 0..n {
        h.record(AuditEvent::gateway("s".into(), ctx.clone(), "anomaly"))
            .unwrap();
    }
    h.flush().unwrap();
    writer
        .close(AuditEvent::gateway("".into(), ctx, "log_closed"))
        .log_id
}

/// Every file below `root`, by path relative to it.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

struct Dir<'a>(&'a BTreeMap<String, Vec<u8>>);

impl TileReader for Dir<'_> {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                let p = TilePath::Hashes {
                    level: t.level(),
                    index: t.level_index(),
                    width: t.width() as u16,
                };
                self.0
                    .get(&p.path())
                    .cloned()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

#[test]
fn exported_tiles_are_what_is_served_and_authenticate_against_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let log_id = write_log(tmp.path(), 700);
    let store = Store::open_read(&tmp.path().join("audit.db")).unwrap();
    let (size, note) = latest_checkpoint(&store, &log_id).unwrap().unwrap();
    assert_eq!(size, 702);
    let out = tmp.path().join("tiles");
    let done = export_tiles(&store, &out, None).unwrap();
    assert!(
        matches!(&done[..], [LogTiles::Exported { size: 702, .. }]),
        "{done:?}"
    );
    let got = files(&out.join(&log_id));
    // Each file written once (a high level's partial tile recurs at many checkpoints).
    assert!(
        matches!(&done[..], [LogTiles::Exported { files, .. }] if *files as usize == got.len()),
        "{done:?}"
    );
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    // Full tiles, this size's partials, and the partials of the earlier checkpoints where
    // their tile is still partial: level 0 at 600 and 700, level 1 at 300 to 500 (width 1);
    // none where the tile is now full (level 0 at 100 to 500).
    assert_eq!(
        names,
        [
            "checkpoint",
            "tile/0/000",
            "tile/0/001",
            "tile/0/002.p/188",
            "tile/0/002.p/190",
            "tile/0/002.p/88",
            "tile/1/000.p/1",
            "tile/1/000.p/2",
            "tile/entries/000",
            "tile/entries/001",
            "tile/entries/002.p/188",
            "tile/entries/002.p/190",
            "tile/entries/002.p/88",
        ]
    );
    assert_eq!(got["checkpoint"], note.as_bytes());
    for (name, bytes) in &got {
        if name == "checkpoint" {
            continue;
        }
        let tile = TilePath::parse(name).unwrap();
        assert_eq!(&read_tile(&store, &log_id, &tile).unwrap(), bytes, "{name}");
    }
    // The tiles authenticate every leaf hash against the signed root, and every bundle
    // entry is the stored leaf and hashes to it.
    let cp = warden_audit::checkpoint::peek(&note).unwrap();
    let dir = Dir(&got);
    let reader = TileHashReader::new(size, cp.root, &dir);
    let idx: Vec<u64> = (0..size).map(|i| stored_hash_index(0, i)).collect();
    let hashes = reader.read_hashes(&idx).unwrap();
    let mut leaves = Vec::new();
    store
        .scan(&log_id, 0..u64::MAX, |_, leaf, _| {
            leaves.push(leaf.to_vec());
            true
        })
        .unwrap();
    for b in [
        "tile/entries/000",
        "tile/entries/001",
        "tile/entries/002.p/190",
    ] {
        for (i, e) in split_bundle(&got[b]).unwrap().into_iter().enumerate() {
            let n = TilePath::parse(b).unwrap().index() as usize * 256 + i;
            assert_eq!(e, &leaves[n][..]);
            assert_eq!(record_hash(e), hashes[n]);
        }
    }

    // Served: nothing beyond the checkpoint, no unknown log.
    for beyond in [
        "tile/0/002",
        "tile/0/002.p/191",
        "tile/1/000",
        "tile/entries/003.p/1",
    ] {
        let t = TilePath::parse(beyond).unwrap();
        assert!(
            matches!(
                read_tile(&store, &log_id, &t),
                Err(TileReadError::NotInTree)
            ),
            "{beyond}"
        );
    }
    let t = TilePath::parse("tile/0/000").unwrap();
    assert!(matches!(
        read_tile(&store, "01a00000-0000-7000-8000-000000000000", &t),
        Err(TileReadError::NoLog)
    ));

    // Exporting again rewrites the same files and leaves no temporary ones.
    export_tiles(&store, &out, None).unwrap();
    assert_eq!(files(&out.join(&log_id)), got);
}

#[test]
fn logs_that_cannot_be_published_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let big_log = write_log(tmp.path(), 10);
    let good_log = write_log(tmp.path(), 10);
    let db = tmp.path().join("audit.db");
    // A leaf longer than an entry bundle holds (65,535 bytes). The writer keeps leaves under
    // 60 KiB (leaf v2); only logs written before (v1, payloads inside the leaf) have such
    // leaves, so one is made here by rewriting record 6. The refusal comes before any other
    // check.
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        let leaf: Vec<u8> = c
            .query_row(
                "SELECT leaf FROM records WHERE log_id = ?1 AND seq = 6",
                [&big_log],
                |r| r.get(0),
            )
            .unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&leaf).unwrap();
        v["payload"] = serde_json::json!("x".repeat(70_000));
        c.execute(
            "UPDATE records SET leaf = ?1 WHERE log_id = ?2 AND seq = 6",
            rusqlite::params![serde_json::to_vec(&v).unwrap(), big_log],
        )
        .unwrap();
    }
    let store = Store::open_read(&db).unwrap();
    let done = export_tiles(&store, &tmp.path().join("t"), None).unwrap();
    assert_eq!(done.len(), 2);
    let refused = done
        .iter()
        .find_map(|d| match d {
            LogTiles::Refused { log_id, error } if *log_id == big_log => Some(error.to_string()),
            _ => None,
        })
        .unwrap();
    let id: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT id FROM records WHERE log_id = ?1 AND seq = 6",
            [&big_log],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        refused.contains("record 6") && refused.contains(&id),
        "{refused}"
    );
    assert!(refused.contains("65535"), "{refused}");
    assert!(!tmp.path().join("t").join(&big_log).exists());
    // Served: the hash tiles of that log are fine, the bundle holding the record is refused.
    let bundle = TilePath::Entries {
        index: 0,
        width: 12,
    };
    match read_tile(&store, &big_log, &bundle) {
        Err(TileReadError::EntryTooLong {
            seq: 6, id: got, ..
        }) => assert_eq!(got, id),
        other => panic!("{other:?}"),
    }
    let hashes = TilePath::Hashes {
        level: 0,
        index: 0,
        width: 12,
    };
    assert_eq!(read_tile(&store, &big_log, &hashes).unwrap().len(), 12 * 32);
    assert!(
        done.iter()
            .any(|d| matches!(d, LogTiles::Exported { log_id, .. } if *log_id == good_log))
    );

    // An edited leaf: the records no longer give the signed root.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute(
        "UPDATE records SET leaf = CAST(replace(CAST(leaf AS TEXT), 'anomaly', 'anomalx') AS BLOB) \
         WHERE log_id = ?1 AND seq = 3",
        [&good_log],
    )
    .unwrap();
    // A log with no checkpoint: nothing to publish.
    c.execute("DELETE FROM checkpoints WHERE log_id = ?1", [&big_log])
        .unwrap();
    drop(store);
    let store = Store::open_read(&db).unwrap();
    let done = export_tiles(&store, &tmp.path().join("t2"), None).unwrap();
    for d in &done {
        match d {
            LogTiles::NoCheckpoint { log_id, records } => {
                assert_eq!((log_id, *records), (&big_log, 12));
            }
            LogTiles::Refused {
                log_id,
                error: e @ TilesError::Checkpoint { size: 12, .. },
            } => {
                assert_eq!(log_id, &good_log);
                assert!(e.to_string().contains("not the root"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        !tmp.path()
            .join("t2")
            .join(&good_log)
            .join("checkpoint")
            .exists()
    );

    // A checkpoint signed by a key other than the trusted one is refused.
    let (_, stranger) = signed_note::generate_key(&mut rand::rngs::OsRng, "tiles-test");
    let fresh = tempfile::tempdir().unwrap();
    write_log(fresh.path(), 3);
    let store = Store::open_read(&fresh.path().join("audit.db")).unwrap();
    let done = export_tiles(&store, &fresh.path().join("t"), Some(&[stranger])).unwrap();
    assert!(
        matches!(
            &done[..],
            [LogTiles::Refused {
                error: TilesError::Checkpoint { .. },
                ..
            }]
        ),
        "{done:?}"
    );
}

#[test]
fn a_log_of_the_previous_release_exports_and_authenticates() {
    // Leaf v1 (payloads inside the leaves), store upgraded as a writing command would.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    std::fs::copy(fixture.join("audit.db"), &db).unwrap();
    drop(Store::open(&db, false).unwrap());
    let vkey = std::fs::read_to_string(fixture.join("checkpoint.vkey"))
        .unwrap()
        .trim()
        .to_owned();
    let store = Store::open_read(&db).unwrap();
    let out = dir.path().join("tiles");
    let done = export_tiles(&store, &out, Some(std::slice::from_ref(&vkey))).unwrap();
    let [LogTiles::Exported { log_id, size, .. }] = &done[..] else {
        panic!("{done:?}")
    };
    assert_eq!(*size, 26);
    let got = files(&out.join(log_id));
    let cp = warden_audit::checkpoint::open(
        std::str::from_utf8(&got["checkpoint"]).unwrap(),
        &[vkey.as_str()],
    )
    .unwrap();
    let dir_tiles = Dir(&got);
    let reader = TileHashReader::new(*size, cp.root, &dir_tiles);
    let idx: Vec<u64> = (0..*size).map(|i| stored_hash_index(0, i)).collect();
    let hashes = reader.read_hashes(&idx).unwrap();
    let entries = split_bundle(&got["tile/entries/000.p/26"]).unwrap();
    assert_eq!(entries.len(), 26);
    for (e, h) in entries.iter().zip(&hashes) {
        assert_eq!(record_hash(e), *h);
        assert!(e.starts_with(b"{\"v\":1,"));
    }
}
