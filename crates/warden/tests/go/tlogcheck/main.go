// Command tlogcheck checks warden's audit evidence with Go's reference implementation of
// signed notes and tiled logs (golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog,
// Debian's golang-golang-x-mod-dev). It shares no code with warden: the formats are read here
// from their specs (c2sp.org/tlog-checkpoint, tlog-proof, tlog-tiles).
//
//	tlogcheck proof VKEY PROOF ENTRY   a c2sp.org/tlog-proof@v1 file and the entry it proves
//	tlogcheck consistency VKEY PROOF   warden's JSON consistency proof (audit prove --from-checkpoint)
//	tlogcheck tiles VKEY LOGDIR        a C2SP tlog-tiles directory (checkpoint, tile/...)
//
// VKEY is a file holding a note verifier key. Any mismatch exits 1 with a message on stderr;
// success prints one line starting with "OK".
//
// Build (GOPATH mode, against Debian's packages):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlogcheck .
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: tlogcheck proof VKEY PROOF ENTRY | consistency VKEY PROOF | tiles VKEY LOGDIR")
	}
	v := verifier(os.Args[2])
	switch {
	case os.Args[1] == "proof" && len(os.Args) == 5:
		checkProof(v, os.Args[3], os.Args[4])
	case os.Args[1] == "consistency" && len(os.Args) == 4:
		checkConsistency(v, os.Args[3])
	case os.Args[1] == "tiles" && len(os.Args) == 4:
		checkTiles(v, os.Args[3])
	default:
		fail("unknown command or wrong arguments: %q", os.Args[1:])
	}
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

// verifier reads the first key line of a verifier key file.
func verifier(path string) note.Verifier {
	for _, line := range strings.Split(string(read(path)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := note.NewVerifier(line)
		if err != nil {
			fail("verifier key %s: %v", path, err)
		}
		return v
	}
	fail("%s holds no verifier key", path)
	return nil
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// open checks a checkpoint's signature with note.Open and parses its body
// (c2sp.org/tlog-checkpoint: origin, size, root, no extension lines).
func open(v note.Verifier, msg []byte, what string) checkpoint {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("%s: note.Open: %v", what, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" || lines[0] == "" {
		fail("%s: the body is not origin, size, root: %q", what, n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("%s: bad tree size %q", what, lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("%s: bad root hash %q: %v", what, lines[2], err)
	}
	return checkpoint{origin: lines[0], size: size, root: root}
}

// checkProof reads a c2sp.org/tlog-proof@v1 file and checks that ENTRY is included in the
// signed checkpoint it carries (tlog.CheckRecord).
func checkProof(v note.Verifier, proofPath, entryPath string) {
	text := string(read(proofPath))
	entry := read(entryPath)
	next := func() string {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			fail("%s: ends before its checkpoint", proofPath)
		}
		line := text[:i]
		text = text[i+1:]
		return line
	}
	if next() != "c2sp.org/tlog-proof@v1" {
		fail("%s: first line is not c2sp.org/tlog-proof@v1", proofPath)
	}
	line := next()
	if strings.HasPrefix(line, "extra ") {
		if _, err := base64.StdEncoding.DecodeString(line[len("extra "):]); err != nil {
			fail("%s: extra is not base64", proofPath)
		}
		line = next()
	}
	if !strings.HasPrefix(line, "index ") {
		fail("%s: no index line", proofPath)
	}
	digits := line[len("index "):]
	index, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != digits {
		fail("%s: bad index %q", proofPath, digits)
	}
	var proof tlog.RecordProof
	for {
		line := next()
		if line == "" {
			break
		}
		h, err := tlog.ParseHash(line)
		if err != nil {
			fail("%s: bad proof hash %q", proofPath, line)
		}
		proof = append(proof, h)
	}
	cp := open(v, []byte(text), proofPath+" checkpoint")
	if err := tlog.CheckRecord(proof, cp.size, cp.root, index, tlog.RecordHash(entry)); err != nil {
		fail("%s: entry %d is not in %s at size %d: %v", proofPath, index, cp.origin, cp.size, err)
	}
	fmt.Printf("OK proof: entry %d is in %s at size %d\n", index, cp.origin, cp.size)
}

// checkConsistency reads warden's JSON consistency proof and checks it with tlog.CheckTree.
func checkConsistency(v note.Verifier, path string) {
	var p struct {
		Type          string      `json:"type"`
		Origin        string      `json:"origin"`
		OldCheckpoint string      `json:"old_checkpoint"`
		NewCheckpoint string      `json:"new_checkpoint"`
		Proof         []tlog.Hash `json:"proof"`
	}
	if err := json.Unmarshal(read(path), &p); err != nil {
		fail("%s: %v", path, err)
	}
	if p.Type != "consistency" {
		fail("%s: not a consistency proof (type %q)", path, p.Type)
	}
	old := open(v, []byte(p.OldCheckpoint), path+" old_checkpoint")
	cur := open(v, []byte(p.NewCheckpoint), path+" new_checkpoint")
	if old.origin != p.Origin || cur.origin != p.Origin {
		fail("%s: checkpoints of %s and %s, proof for %s", path, old.origin, cur.origin, p.Origin)
	}
	if err := tlog.CheckTree(p.Proof, cur.size, cur.root, old.size, old.root); err != nil {
		fail("%s: size %d does not extend size %d: %v", path, cur.size, old.size, err)
	}
	fmt.Printf("OK consistency: %s at size %d extends size %d\n", p.Origin, cur.size, old.size)
}

// dirTiles reads hash tiles from a C2SP tile directory: tile/<L>/<N>[.p/<W>]. Go's own
// Tile.Path is tile/<H>/<L>/...; the C2SP path is the same without the height.
type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return height }

func c2spPath(t tlog.Tile) string {
	return "tile/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
}

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != height {
			return nil, fmt.Errorf("tile of height %d asked for", t.H)
		}
		b, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(c2spPath(t))))
		if err != nil {
			return nil, err
		}
		if len(b) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s is %d bytes, want %d", c2spPath(t), len(b), t.W*tlog.HashSize)
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// entries splits an entry bundle: big-endian uint16 length, then the entry, repeated.
func entries(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("a length prefix is cut short")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, fmt.Errorf("an entry is cut short")
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out, nil
}

// checkTiles reads LOGDIR/checkpoint, authenticates every hash of every tile of its tree
// through tlog.TileHashReader, recomputes every entry's hash from the entry bundles, and
// checks every other (older partial) tile and bundle in the directory against them.
func checkTiles(v note.Verifier, dir string) {
	cp := open(v, read(filepath.Join(dir, "checkpoint")), dir+"/checkpoint")
	tree := tlog.Tree{N: cp.size, Hash: cp.root}
	hr := tlog.TileHashReader(tree, dirTiles{dir})
	// tileData[path] is the authenticated content of every tile of the tree.
	tileData := map[string][]byte{}
	var bundles [][]byte // every entry, in order
	for level := 0; cp.size>>(uint(level)*height) > 0; level++ {
		count := cp.size >> (uint(level) * height)
		for start := int64(0); start < count; start += 1 << height {
			w := int64(1 << height)
			if start+w > count {
				w = count - start
			}
			t := tlog.Tile{H: height, L: level, N: start >> height, W: int(w)}
			data, err := tlog.ReadTileData(t, hr)
			if err != nil {
				fail("%s: %s: %v", dir, c2spPath(t), err)
			}
			tileData[c2spPath(t)] = data
			if level != 0 {
				continue
			}
			bpath := "tile/entries/" + strings.TrimPrefix(c2spPath(t), "tile/0/")
			es, err := entries(read(filepath.Join(dir, filepath.FromSlash(bpath))))
			if err != nil {
				fail("%s: %s: %v", dir, bpath, err)
			}
			if int64(len(es)) != w {
				fail("%s: %s holds %d entries, want %d", dir, bpath, len(es), w)
			}
			for i, e := range es {
				h := tlog.RecordHash(e)
				if !bytes.Equal(h[:], data[i*tlog.HashSize:(i+1)*tlog.HashSize]) {
					fail("%s: entry %d (in %s) does not hash to its tile hash", dir, start+int64(i), bpath)
				}
				bundles = append(bundles, e)
			}
		}
	}
	// Every file under tile/ is a tile or bundle of this tree, or an older partial one whose
	// content is a prefix of this tree's.
	files := 0
	err := filepath.WalkDir(filepath.Join(dir, "tile"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		files++
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		b := read(p)
		if strings.HasPrefix(rel, "tile/entries/") {
			t, err := tlog.ParseTilePath(fmt.Sprintf("tile/%d/0/", height) + strings.TrimPrefix(rel, "tile/entries/"))
			if err != nil {
				return fmt.Errorf("%s is not an entry bundle path", rel)
			}
			es, err := entries(b)
			if err != nil || len(es) != t.W {
				return fmt.Errorf("%s does not hold %d entries", rel, t.W)
			}
			for i, e := range es {
				n := t.N<<height + int64(i)
				if n >= int64(len(bundles)) || !bytes.Equal(e, bundles[n]) {
					return fmt.Errorf("%s: entry %d differs from the tree's", rel, n)
				}
			}
			return nil
		}
		t, err := tlog.ParseTilePath(fmt.Sprintf("tile/%d/", height) + strings.TrimPrefix(rel, "tile/"))
		if err != nil {
			return fmt.Errorf("%s is not a tile path", rel)
		}
		full := t
		full.W = 1 << height
		want, ok := tileData[c2spPath(full)]
		if !ok {
			// The tree's own tile at this position is partial: find it.
			for w := 1<<height - 1; w >= t.W && !ok; w-- {
				full.W = w
				want, ok = tileData[c2spPath(full)]
			}
		}
		if !ok || len(b) != t.W*tlog.HashSize || !bytes.Equal(b, want[:len(b)]) {
			return fmt.Errorf("%s does not match the tree's tile", rel)
		}
		return nil
	})
	if err != nil {
		fail("%s: %v", dir, err)
	}
	fmt.Printf("OK tiles: %s at size %d, %d entries, %d tile files\n", cp.origin, cp.size, len(bundles), files)
}
