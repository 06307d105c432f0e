//! C2SP `tlog-tiles` coordinates: the paths of hash tiles (`tile/<L>/<N>[.p/<W>]`) and entry
//! bundles (`tile/entries/<N>[.p/<W>]`), their encoding and strict parsing, the widths a tree
//! of a given size publishes, and the entry-bundle encoding (big-endian `u16` length, then the
//! entry). Tile height is 8 (256 hashes to a full tile). Pure: no I/O.
//!
//! These are the C2SP paths (<https://c2sp.org/tlog-tiles>), not the Go sumdb paths of
//! `tlog_tiles::Tile::path` (`tile/8/<L>/…`, `tile/8/data/…`).

/// Levels of the tree a tile spans: a tile of level L holds hashes of subtrees of height 8·L.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// The longest entry an entry bundle can hold (its length is a big-endian `u16`).
pub const MAX_ENTRY: usize = u16::MAX as usize;
/// The longest tile path [`TilePath::parse`] reads (far above any real one).
const MAX_PATH: usize = 96;

/// One resource of a tiled log below its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// Hash tile `index` of `level`, `width` hashes (256: a full tile).
    Hashes { level: u8, index: u64, width: u16 },
    /// Entry bundle `index`, `width` entries (256: a full bundle).
    Entries { index: u64, width: u16 },
}

/// `N` as the spec writes it: 3-digit groups, every group but the last prefixed by `x`
/// (1234067 is `x001/x234/067`).
pub fn encode_index(n: u64) -> String {
    let mut groups = vec![n % 1000];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g:03}")
            } else {
                format!("{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl TilePath {
    pub fn is_full(&self) -> bool {
        self.width() as u64 == TILE_WIDTH
    }

    pub fn width(&self) -> u16 {
        match *self {
            TilePath::Hashes { width, .. } | TilePath::Entries { width, .. } => width,
        }
    }

    pub fn index(&self) -> u64 {
        match *self {
            TilePath::Hashes { index, .. } | TilePath::Entries { index, .. } => index,
        }
    }

    /// The path below the log's prefix, e.g. `tile/0/x001/234.p/7`.
    pub fn path(&self) -> String {
        let (level, index, width) = match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            TilePath::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        let partial = if u64::from(width) == TILE_WIDTH {
            String::new()
        } else {
            format!(".p/{width}")
        };
        format!("tile/{level}/{}{partial}", encode_index(index))
    }

    /// Reads a path as [`TilePath::path`] writes it, and only so (no leading zeros, no
    /// empty or out-of-range width, the canonical encoding of `N`). Never panics.
    pub fn parse(path: &str) -> Option<TilePath> {
        if path.len() > MAX_PATH {
            return None;
        }
        let rest = path.strip_prefix("tile/")?;
        let (level, rest) = rest.split_once('/')?;
        let (groups, width) = match rest.split_once(".p/") {
            Some((groups, w)) => {
                let w = canonical_decimal(w)?;
                if w == 0 || w >= TILE_WIDTH {
                    return None;
                }
                (groups, w as u16)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let mut index: u64 = 0;
        for g in groups.split('/') {
            let digits = g.strip_prefix('x').unwrap_or(g);
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: u64 = digits.parse().ok()?;
            index = index.checked_mul(1000)?.checked_add(v)?;
        }
        let tile = if level == "entries" {
            TilePath::Entries { index, width }
        } else {
            let level = canonical_decimal(level)?;
            if level > 63 {
                return None;
            }
            TilePath::Hashes {
                level: level as u8,
                index,
                width,
            }
        };
        (tile.path() == path).then_some(tile)
    }
}

/// A decimal without leading zeros (`0` itself allowed), at most 20 digits.
fn canonical_decimal(s: &str) -> Option<u64> {
    if s.is_empty()
        || s.len() > 20
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The number of hashes at tile level `level` in a tree of `size` entries
/// (`floor(size / 256^level)`), 0 when the level is above the tree.
pub fn hashes_at_level(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.checked_shr(shift).unwrap_or(0)
}

/// The width of the partial tile at `level` in a tree of `size` (0: none).
pub fn partial_width(size: u64, level: u8) -> u16 {
    (hashes_at_level(size, level) % TILE_WIDTH) as u16
}

/// Whether a tree of `size` entries holds `tile` (a full tile wholly inside it, or the
/// partial tile of exactly the width some smaller-or-equal tree would give it).
pub fn tree_holds(size: u64, tile: &TilePath) -> bool {
    let level = match tile {
        TilePath::Hashes { level, .. } => *level,
        TilePath::Entries { .. } => 0,
    };
    let Some(end) = tile
        .index()
        .checked_mul(TILE_WIDTH)
        .and_then(|s| s.checked_add(u64::from(tile.width())))
    else {
        return false;
    };
    end <= hashes_at_level(size, level)
}

/// Appends one entry to an entry bundle: its length as a big-endian `u16`, then its bytes.
/// `None` when the entry is longer than [`MAX_ENTRY`].
pub fn push_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Option<()> {
    let len = u16::try_from(entry.len()).ok()?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Some(())
}

/// Splits an entry bundle into its entries; `None` if it is not exactly a sequence of
/// length-prefixed entries.
pub fn split_bundle(mut bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !bundle.is_empty() {
        let (len, rest) = bundle.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return None;
        }
        let (entry, rest) = rest.split_at(len);
        out.push(entry);
        bundle = rest;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_encoding_matches_the_spec() {
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(5), "005");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
    }

    #[test]
    fn paths_are_the_c2sp_ones() {
        let t = |level, index, width| TilePath::Hashes {
            level,
            index,
            width,
        };
        assert_eq!(t(0, 0, 256).path(), "tile/0/000");
        assert_eq!(t(1, 1234067, 17).path(), "tile/1/x001/x234/067.p/17");
        assert_eq!(
            TilePath::Entries {
                index: 3,
                width: 112
            }
            .path(),
            "tile/entries/003.p/112"
        );
        assert_eq!(
            TilePath::Entries {
                index: 1000,
                width: 256
            }
            .path(),
            "tile/entries/x001/000"
        );
    }

    #[test]
    fn parse_reads_exactly_what_path_writes() {
        for tile in [
            TilePath::Hashes {
                level: 0,
                index: 0,
                width: 256,
            },
            TilePath::Hashes {
                level: 63,
                index: u64::MAX,
                width: 1,
            },
            TilePath::Hashes {
                level: 2,
                index: 1234067,
                width: 255,
            },
            TilePath::Entries {
                index: 1000,
                width: 7,
            },
        ] {
            assert_eq!(TilePath::parse(&tile.path()), Some(tile), "{}", tile.path());
        }
        for bad in [
            "",
            "tile",
            "tile/0",
            "tile/0/",
            "tile/00/000",
            "tile/64/000",
            "tile/-1/000",
            "tile/0/0",
            "tile/0/0000",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/07",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/0/000.p/1/2",
            "tile/data/000",
            "tile/8/0/000",
            "tile/entries/x018/x446/x744/x073/x709/x551/616",
            "tile/0/+12",
            "tile/0/../000",
            "tile/０/000",
        ] {
            assert_eq!(TilePath::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn widths_follow_the_spec_example() {
        // A tree of 70,000: 273 full level-0 tiles and one of 112, one full level-1 tile and
        // one of 17, one level-2 tile of 1.
        assert_eq!(hashes_at_level(70_000, 0) / TILE_WIDTH, 273);
        assert_eq!(partial_width(70_000, 0), 112);
        assert_eq!(hashes_at_level(70_000, 1) / TILE_WIDTH, 1);
        assert_eq!(partial_width(70_000, 1), 17);
        assert_eq!(partial_width(70_000, 2), 1);
        assert_eq!(partial_width(70_000, 3), 0);
        assert_eq!(partial_width(256, 0), 0);
        assert_eq!(partial_width(256, 1), 1);
        assert_eq!(partial_width(u64::MAX, 63), 0);
        let full0 = TilePath::Hashes {
            level: 0,
            index: 272,
            width: 256,
        };
        assert!(tree_holds(70_000, &full0));
        assert!(!tree_holds(
            70_000,
            &TilePath::Hashes {
                level: 0,
                index: 273,
                width: 256
            }
        ));
        assert!(tree_holds(
            70_000,
            &TilePath::Entries {
                index: 273,
                width: 112
            }
        ));
        assert!(!tree_holds(
            70_000,
            &TilePath::Entries {
                index: 273,
                width: 113
            }
        ));
        assert!(!tree_holds(
            u64::MAX,
            &TilePath::Hashes {
                level: 1,
                index: u64::MAX,
                width: 256
            }
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_path_parses_or_is_refused_without_panicking(s in "(tile/)?[0-9a-z./x]{0,60}") {
            if let Some(t) = TilePath::parse(&s) {
                proptest::prop_assert_eq!(t.path(), s);
            }
        }

        #[test]
        fn every_tile_path_round_trips(level in 0u8..64, index in proptest::num::u64::ANY, width in 1u16..=256, entries in proptest::bool::ANY) {
            let t = if entries {
                TilePath::Entries { index, width }
            } else {
                TilePath::Hashes { level, index, width }
            };
            proptest::prop_assert_eq!(TilePath::parse(&t.path()), Some(t));
        }

        #[test]
        fn any_bundle_splits_or_is_refused_without_panicking(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _split = split_bundle(&b);
        }
    }

    #[test]
    fn bundles_round_trip_and_reject_garbage() {
        let mut b = Vec::new();
        push_entry(&mut b, b"").unwrap();
        push_entry(&mut b, b"abc").unwrap();
        push_entry(&mut b, &vec![7; MAX_ENTRY]).unwrap();
        assert!(push_entry(&mut b, &vec![7; MAX_ENTRY + 1]).is_none());
        assert_eq!(&b[..5], &[0, 0, 0, 3, b'a']);
        let entries = split_bundle(&b).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1], b"abc");
        assert_eq!(entries[2].len(), MAX_ENTRY);
        assert!(split_bundle(&b[..b.len() - 1]).is_none());
        assert!(split_bundle(&[0]).is_none());
        assert_eq!(split_bundle(&[]).unwrap().len(), 0);
    }
}
