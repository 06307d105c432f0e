//! The Merkle tree of one log in the RFC 6962 / Go `sumdb/tlog` design (via `tlog_tiles`).
//!
//! `Frontier` keeps only the roots of the complete subtrees on the tree's right edge: all that
//! is needed to compute the hashes stored with the next record and the root of the tree, so
//! memory stays O(log n) however long the log grows.

use std::collections::BTreeMap;

use tlog_tiles::{Hash, HashReader, stored_hash_index, stored_hashes_for_record_hash, tree_hash};

/// The right edge of a log's tree at `size` records.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    hashes: BTreeMap<u64, Hash>,
}

/// The stored-hash indexes of the complete subtrees that make up a tree of `size` records.
pub fn edge_indexes(size: u64) -> impl Iterator<Item = u64> {
    (0..64u8)
        .filter(move |l| size >> l & 1 == 1)
        .map(move |l| stored_hash_index(l, (size >> l) - 1))
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of records appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the record with leaf hash `leaf` and returns the hashes to store with it
    /// (they belong at `stored_hash_index(0, n)` onwards, `n` being the record's index).
    pub fn append(&mut self, leaf: Hash) -> Vec<Hash> {
        let n = self.size;
        // The frontier always holds every hash `stored_hashes` reads.
        let new = stored_hashes_for_record_hash(n, leaf, self).unwrap_or_default();
        let base = stored_hash_index(0, n);
        for (i, h) in new.iter().enumerate() {
            self.hashes.insert(base + i as u64, *h);
        }
        self.size = n + 1;
        let keep: Vec<u64> = edge_indexes(self.size).collect();
        self.hashes.retain(|k, _| keep.contains(k));
        new
    }

    /// The frontier of a tree of `size` records from its right-edge hashes (stored-hash
    /// index → hash), as [`Frontier::edge`] gave them; `None` if one is missing.
    pub fn from_edge(size: u64, edge: &[(u64, Hash)]) -> Option<Frontier> {
        let hashes: BTreeMap<u64, Hash> = edge.iter().copied().collect();
        edge_indexes(size)
            .all(|i| hashes.contains_key(&i))
            .then_some(Frontier { size, hashes })
    }

    /// The right-edge hashes (stored-hash index → hash): all a tree needs to grow, to compute
    /// its root, and to prove later records.
    pub fn edge(&self) -> Vec<(u64, Hash)> {
        self.hashes.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Root hash of the tree as it stands.
    pub fn root(&self) -> Hash {
        tree_hash(self.size, self).unwrap_or(tlog_tiles::EMPTY_HASH)
    }
}

impl HashReader for Frontier {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.hashes
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Every stored hash of a tree, in stored-hash order: used to make proofs from a read log.
#[derive(Default)]
pub struct AllHashes(pub Vec<Hash>);

impl HashReader for AllHashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.0.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog_tiles::{record_hash, stored_hashes};

    #[test]
    fn frontier_matches_full_stored_hashes() {
        let mut all = AllHashes::default();
        let mut f = Frontier::new();
        for n in 0..300u64 {
            let data = format!("record {n}");
            let full = stored_hashes(n, data.as_bytes(), &all).unwrap();
            let ours = f.append(record_hash(data.as_bytes()));
            assert_eq!(full, ours, "record {n}");
            all.0.extend(full);
            assert_eq!(f.root(), tree_hash(n + 1, &all).unwrap());
            assert!(f.hashes.len() <= 9);
        }
    }
}
