package pg

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
)

// digest is engine.Entry.Digest in binary: the first 12 bytes of the
// SHA-256 of the entry's JSON line.
type digest [12]byte

func entryDigest(buf []byte, e *engine.Entry) (digest, []byte) {
	buf = e.AppendJSON(buf[:0])
	sum := sha256.Sum256(buf)
	return digest(sum[:12]), buf
}

func (d digest) String() string { return hex.EncodeToString(d[:]) }

// Load reads the workspace's state in one consistent snapshot (a
// repeatable-read, read-only transaction), so it needs no lock and sees
// either all of a save or none of it. A workspace that does not exist yet
// is an empty state with a fresh lineage and serial 0; nothing is created
// but the schema.
//
// Rows are streamed from the server in address order and decoded in
// parallel, each as the state file's line it stands for, with the file
// format's decoder (state.LineDecoder), which checks it as it checks a line
// of a file; the first row in address order that does not decode gives a
// *CorruptError naming its address. Journal rows (calls
// recorded by an apply that did not save) are folded into the state
// returned, in the order they were recorded.
func (b *Backend) Load(ctx context.Context) (*engine.State, error) {
	conn, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	tx, err := b.beginRead(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())

	var (
		lineage string
		serial  int64
	)
	err = tx.QueryRow(ctx, `SELECT lineage, serial FROM reconcile_workspaces WHERE name = $1`, b.workspace).Scan(&lineage, &serial)
	var (
		s       *engine.State
		digests = map[string]digest{}
	)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s = engine.NewState()
		// A journal without a saved state: keep its lineage, as the file
		// backend does, so that its records fold in.
		var jl string
		if err := tx.QueryRow(ctx, `SELECT lineage FROM reconcile_journal WHERE workspace = $1 ORDER BY seq LIMIT 1`, b.workspace).Scan(&jl); err == nil && validLineage(jl) {
			s.Lineage = jl
		}
	case err != nil:
		return nil, b.dbError("reading the state", err)
	default:
		if !validLineage(lineage) {
			return nil, &CorruptError{State: b.name, Msg: fmt.Sprintf("lineage %q is not a UUID", lineage)}
		}
		if serial < 0 {
			return nil, &CorruptError{State: b.name, Msg: fmt.Sprintf("serial %d is negative", serial)}
		}
		if s, digests, err = b.readRows(ctx, tx, lineage, serial); err != nil {
			return nil, err
		}
	}
	seq, err := b.foldJournal(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, b.dbError("reading the state", err)
	}
	b.mu.Lock()
	b.known = &snapshot{lineage: s.Lineage, serial: s.Serial, digests: digests, journalSeq: seq}
	b.mu.Unlock()
	return s, nil
}

// readRows reads the workspace's rows into a state, and the digest of
// each row as stored: the first 12 bytes of the SHA-256 of the line it
// stands for. That is engine.Entry.Digest of the entry read from it when
// Save wrote the row (the line is then what the entry writes), without
// writing the entry again; a row written otherwise (by hand, not in the
// file format's canonical form) gets a digest no entry has, so the next
// Save rewrites it.
//
// The maps are made once every row is decoded, at their final size (one
// that grows row by row spends more than the rows' decoding), both at
// once.
func (b *Backend) readRows(ctx context.Context, tx pgx.Tx, lineage string, serial int64) (*engine.State, map[string]digest, error) {
	work := func(d *decoder) func(*rowBlock) blockResult {
		return func(bl *rowBlock) blockResult {
			res := blockResult{digests: make([]digest, 0, len(bl.rows))}
			res.err = d.decode(bl, func(line []byte) {
				sum := sha256.Sum256(line)
				res.digests = append(res.digests, digest(sum[:12]))
			})
			res.entries, res.addrs = d.dec.Entries(make([]string, 0, len(res.digests)))
			res.n = len(res.entries)
			return res
		}
	}
	var (
		blocks []blockResult
		n      int
	)
	collect := func(res *blockResult) error {
		if res.err == nil {
			blocks = append(blocks, *res)
			n += res.n
		}
		return nil
	}
	if err := b.stream(ctx, tx, work, collect); err != nil {
		return nil, nil, err
	}
	s := &engine.State{Lineage: lineage, Serial: serial, Resources: make(map[string]*engine.Entry, n)}
	digests := make(map[string]digest, n)
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, res := range blocks {
			for i, addr := range res.addrs {
				digests[addr] = res.digests[i]
			}
		}
	})
	var dup string
	func() {
		for _, res := range blocks {
			for i, addr := range res.addrs {
				k := len(s.Resources)
				if s.Resources[addr] = &res.entries[i]; len(s.Resources) == k {
					dup = addr // the table's key forbids it
					return
				}
			}
		}
	}()
	wg.Wait()
	if dup != "" {
		return nil, nil, &CorruptError{State: b.name, Row: dup, Msg: fmt.Sprintf("address %q appears twice", dup)}
	}
	return s, digests, nil
}

// digestAll returns the digest of every entry of s, computed in parallel,
// after checking that each entry would read back (state.CheckEntry).
func digestAll(s *engine.State) (map[string]digest, error) {
	addrs := make([]string, 0, len(s.Resources))
	for a := range s.Resources {
		addrs = append(addrs, a)
	}
	ds := make([]digest, len(addrs))
	var (
		mu       sync.Mutex
		firstErr error
	)
	parallel(len(addrs), func(lo, hi int) {
		var buf []byte
		for i := lo; i < hi; i++ {
			e := s.Resources[addrs[i]]
			if err := state.CheckEntry(addrs[i], e); err != nil {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
				return
			}
			ds[i], buf = entryDigest(buf, e)
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	m := make(map[string]digest, len(addrs))
	for i, a := range addrs {
		m[a] = ds[i]
	}
	return m, nil
}

// parallel runs f over [0, n) in GOMAXPROCS parts.
func parallel(n int, f func(lo, hi int)) {
	parts := runtime.GOMAXPROCS(0)
	if n < 4096 || parts == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := n*p/parts, n*(p+1)/parts
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// foldJournal applies the workspace's journal rows to s in order and
// returns the last row's seq (0 when there is none).
func (b *Backend) foldJournal(ctx context.Context, tx pgx.Tx, s *engine.State) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT seq, lineage, record FROM reconcile_journal WHERE workspace = $1 ORDER BY seq`, b.workspace)
	if err != nil {
		return 0, b.dbError("reading the state journal", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var (
			seq     int64
			lineage string
			raw     []byte
		)
		if err := rows.Scan(&seq, &lineage, &raw); err != nil {
			return 0, b.dbError("reading the state journal", err)
		}
		if lineage != s.Lineage {
			return 0, &CorruptError{State: b.name, Row: "journal " + strconv.FormatInt(seq, 10), Msg: fmt.Sprintf("journal record of lineage %s in a state of lineage %s", lineage, s.Lineage)}
		}
		var rec engine.Record
		if err := json.Unmarshal(raw, &rec); err != nil || rec.Address == "" {
			return 0, &CorruptError{State: b.name, Row: "journal " + strconv.FormatInt(seq, 10), Msg: "unreadable journal record"}
		}
		if _, _, ok := engine.SplitAddress(rec.Address); !ok && !rec.Delete {
			return 0, &CorruptError{State: b.name, Row: "journal " + strconv.FormatInt(seq, 10), Msg: fmt.Sprintf("%q is not an address", rec.Address)}
		}
		s.ApplyRecord(rec)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return 0, b.dbError("reading the state journal", err)
	}
	return last, nil
}

// validLineage reports whether s is a UUID in its usual 36-character form.
func validLineage(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
