//! Builds a log's C2SP tiles while its entries stream past, in one pass and O(log n) memory:
//! hash tiles of every level, entry bundles, and the tree's root at any size along the way.
//!
//! Each entry's record hash goes into the level-0 tile; the right edge of the tree
//! (complete subtrees, as in RFC 6962) merges as entries arrive, and every subtree of height
//! 8·L that completes is the next hash of the level-L tile. A tile or bundle is handed out the
//! moment it is full; partial ones on request ([`Tiler::partials`]).

use tlog_tiles::{EMPTY_HASH, Hash, node_hash, record_hash};

use crate::tiles::{self, TILE_HEIGHT, TILE_WIDTH, TilePath};

const HASH: usize = 32;

/// An entry an entry bundle cannot hold.
#[derive(Debug, PartialEq, Eq)]
pub struct EntryTooLong {
    pub index: u64,
    pub len: usize,
}

/// The tiles of a tree being built entry by entry.
#[derive(Default)]
pub struct Tiler {
    size: u64,
    /// The hashes (32 bytes each) of the unfinished tile at each level.
    levels: Vec<Vec<u8>>,
    /// Complete subtrees on the right edge: (height, root), tallest first.
    edge: Vec<(u32, Hash)>,
    /// The unfinished entry bundle.
    bundle: Vec<u8>,
}

impl Tiler {
    pub fn new() -> Tiler {
        Tiler::default()
    }

    /// Entries added so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds the next entry; `out` receives each tile and bundle that this entry completes.
    pub fn push<E>(
        &mut self,
        entry: &[u8],
        out: &mut impl FnMut(TilePath, &[u8]) -> Result<(), E>,
    ) -> Result<(), PushError<E>> {
        let mut bundle = std::mem::take(&mut self.bundle);
        if tiles::push_entry(&mut bundle, entry).is_none() {
            self.bundle = bundle;
            return Err(PushError::TooLong(EntryTooLong {
                index: self.size,
                len: entry.len(),
            }));
        }
        self.bundle = bundle;
        let h = record_hash(entry);
        self.size += 1;
        self.add(0, h);
        self.edge.push((0, h));
        while let [.., (hl, l), (hr, r)] = self.edge[..] {
            if hl != hr {
                break;
            }
            self.edge.truncate(self.edge.len() - 2);
            let up = (hl + 1, node_hash(l, r));
            self.edge.push(up);
            if up.0 % u32::from(TILE_HEIGHT) == 0 {
                self.add((up.0 / u32::from(TILE_HEIGHT)) as usize, up.1);
            }
        }
        // Lower levels fill first: a level-L tile completes with the entry that completes
        // the level-(L-1) tile under its last hash.
        for level in 0..self.levels.len() {
            if self.levels[level].len() == TILE_WIDTH as usize * HASH {
                let tile = TilePath::Hashes {
                    level: level as u8,
                    index: tiles::hashes_at_level(self.size, level as u8) / TILE_WIDTH - 1,
                    width: TILE_WIDTH as u16,
                };
                out(tile, &self.levels[level]).map_err(PushError::Out)?;
                self.levels[level].clear();
            }
        }
        if self.size.is_multiple_of(TILE_WIDTH) {
            let b = TilePath::Entries {
                index: self.size / TILE_WIDTH - 1,
                width: TILE_WIDTH as u16,
            };
            out(b, &self.bundle).map_err(PushError::Out)?;
            self.bundle.clear();
        }
        Ok(())
    }

    fn add(&mut self, level: usize, h: Hash) {
        if self.levels.len() <= level {
            self.levels
                .resize_with(level + 1, || Vec::with_capacity(TILE_WIDTH as usize * HASH));
        }
        self.levels[level].extend_from_slice(&h.0);
    }

    /// The RFC 6962 root of the entries so far.
    pub fn root(&self) -> Hash {
        let mut it = self.edge.iter().rev();
        let Some(&(_, mut h)) = it.next() else {
            return EMPTY_HASH;
        };
        for &(_, l) in it {
            h = node_hash(l, h);
        }
        h
    }

    /// The partial tiles (and partial entry bundle) of the tree as it stands, lowest level
    /// first; `keep(tile)` chooses which to hand to `out`.
    pub fn partials<E>(
        &self,
        mut keep: impl FnMut(&TilePath) -> bool,
        out: &mut impl FnMut(TilePath, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        for (level, data) in self.levels.iter().enumerate() {
            let width = tiles::partial_width(self.size, level as u8);
            if width == 0 {
                continue;
            }
            let tile = TilePath::Hashes {
                level: level as u8,
                index: tiles::hashes_at_level(self.size, level as u8) / TILE_WIDTH,
                width,
            };
            if keep(&tile) {
                out(tile, data)?;
            }
        }
        let width = tiles::partial_width(self.size, 0);
        if width > 0 {
            let b = TilePath::Entries {
                index: self.size / TILE_WIDTH,
                width,
            };
            if keep(&b) {
                out(b, &self.bundle)?;
            }
        }
        Ok(())
    }
}

/// Why [`Tiler::push`] failed.
#[derive(Debug)]
pub enum PushError<E> {
    TooLong(EntryTooLong),
    Out(E),
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tlog_tiles::{Tile, TileHashReader, TileReader, stored_hash_index, stored_hashes};

    use super::*;
    use crate::tree::AllHashes;

    /// The tiles a Tiler hands out, by C2SP path, read back through `tlog_tiles`' reader
    /// (its Go-sumdb `Tile` mapped onto the C2SP paths).
    struct Files(HashMap<String, Vec<u8>>);

    impl TileReader for Files {
        fn height(&self) -> u8 {
            TILE_HEIGHT
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

    fn entry(n: u64) -> Vec<u8> {
        format!("entry {n}").into_bytes()
    }

    #[test]
    fn tiles_and_roots_match_the_reference_tree() {
        // 70,000 is the spec's example; sizes around tile edges on the way.
        let checks: Vec<u64> = vec![
            1, 2, 3, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 70_000,
        ];
        let mut all = AllHashes::default();
        let mut t = Tiler::new();
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        for n in 0..70_000u64 {
            let e = entry(n);
            all.0.extend(stored_hashes(n, &e, &all).unwrap());
            let mut got = Vec::new();
            t.push(&e, &mut |p: TilePath, d: &[u8]| -> Result<(), ()> {
                got.push((p, d.to_vec()));
                Ok(())
            })
            .unwrap();
            for (p, d) in got {
                assert!(p.is_full(), "push hands out full tiles only: {}", p.path());
                assert!(files.insert(p.path(), d).is_none(), "{} twice", p.path());
            }
            let size = n + 1;
            if !checks.contains(&size) {
                continue;
            }
            assert_eq!(
                t.root(),
                tlog_tiles::tree_hash(size, &all).unwrap(),
                "root at {size}"
            );
            let mut at_size = Files(files.clone());
            t.partials(|_| true, &mut |p: TilePath, d: &[u8]| -> Result<(), ()> {
                assert!(!p.is_full());
                at_size.0.insert(p.path(), d.to_vec());
                Ok(())
            })
            .unwrap();
            // Every tile the reference says a tree of this size publishes is there, with the
            // reference's bytes, and nothing else.
            let want = Tile::new_tiles(TILE_HEIGHT, 0, size);
            let mut hash_tiles = 0;
            for w in &want {
                let p = TilePath::Hashes {
                    level: w.level(),
                    index: w.level_index(),
                    width: w.width() as u16,
                };
                if !p.is_full() && p.width() != tiles::partial_width(size, w.level()) {
                    continue; // an older partial the reference lists; not this size's
                }
                hash_tiles += 1;
                assert_eq!(
                    at_size.0.get(&p.path()),
                    Some(&w.read_data(&all).unwrap()),
                    "{} at {size}",
                    p.path()
                );
            }
            let bundles = at_size
                .0
                .keys()
                .filter(|k| k.starts_with("tile/entries/"))
                .count();
            assert_eq!(at_size.0.len(), hash_tiles + bundles, "at {size}");
            assert_eq!(bundles as u64, size.div_ceil(TILE_WIDTH));
            // The reference's tile reader authenticates every hash against the root.
            let reader = TileHashReader::new(size, t.root(), &at_size);
            let idx: Vec<u64> = (0..size).map(|i| stored_hash_index(0, i)).collect();
            let leaf_hashes = tlog_tiles::HashReader::read_hashes(&reader, &idx).unwrap();
            // And each bundle entry hashes to its level-0 hash.
            for (i, h) in leaf_hashes.iter().enumerate() {
                let b = TilePath::Entries {
                    index: i as u64 / TILE_WIDTH,
                    width: if (i as u64 / TILE_WIDTH) < size / TILE_WIDTH {
                        TILE_WIDTH as u16
                    } else {
                        tiles::partial_width(size, 0)
                    },
                };
                let data = &at_size.0[&b.path()];
                let entries = tiles::split_bundle(data).unwrap();
                assert_eq!(record_hash(entries[i % TILE_WIDTH as usize]), *h);
            }
        }
    }

    #[test]
    fn an_entry_too_long_is_refused_and_changes_nothing() {
        let mut t = Tiler::new();
        let mut out = |_: TilePath, _: &[u8]| -> Result<(), ()> { Ok(()) };
        t.push(b"a", &mut out).unwrap();
        let err = t.push(&vec![0; 65_536], &mut out);
        assert!(matches!(
            err,
            Err(PushError::TooLong(EntryTooLong {
                index: 1,
                len: 65_536
            }))
        ));
        assert_eq!(t.size(), 1);
        assert_eq!(t.root(), record_hash(b"a"));
        t.push(&vec![0; 65_535], &mut out).unwrap();
        assert_eq!(t.size(), 2);
    }
}
