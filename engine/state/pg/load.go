package pg

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// Rows are streamed from the server into the file format's parallel
// decoder, which checks them as it checks a state file; a row that does not
// decode gives a *CorruptError naming its address. Journal rows (calls
// recorded by an apply that did not save) are folded into the state
// returned, in the order they were recorded.
func (b *Backend) Load(ctx context.Context) (*engine.State, error) {
	conn, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, b.dbError("reading the state", err)
	}
	defer tx.Rollback(context.Background())

	var (
		lineage string
		serial  int64
	)
	err = tx.QueryRow(ctx, `SELECT lineage, serial FROM reconcile_workspaces WHERE name = $1`, b.workspace).Scan(&lineage, &serial)
	var s *engine.State
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
		if s, err = b.readRows(ctx, tx, lineage, serial); err != nil {
			return nil, err
		}
	}
	digests, _ := digestAll(s, false)
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

// readRows streams the workspace's rows into state.Read.
func (b *Backend) readRows(ctx context.Context, tx pgx.Tx, lineage string, serial int64) (*engine.State, error) {
	var count int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM reconcile_resources WHERE workspace = $1`, b.workspace).Scan(&count); err != nil {
		return nil, b.dbError("reading the state", err)
	}
	rows, err := tx.Query(ctx, `SELECT address, fields, ids FROM reconcile_resources WHERE workspace = $1`, b.workspace)
	if err != nil {
		return nil, b.dbError("reading the state", err)
	}
	pr, pw := io.Pipe()
	// addrs keeps each line's address (line n is addrs[n-2]), to name the
	// row a decoding error is about.
	var (
		arena []byte
		ends  []int32
		werr  error
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		defer rows.Close()
		bw := bufio.NewWriterSize(pw, 1<<20)
		line := make([]byte, 0, 512)
		line = fmt.Appendf(line, `{"format_version":%q,"lineage":%q,"serial":%d,"resources":%d}`+"\n", engine.StateFormatVersion, lineage, serial, count)
		if _, err := bw.Write(line); err != nil {
			return
		}
		for rows.Next() {
			raw := rows.RawValues()
			line = append(line[:0], `{"address":`...)
			line = engine.AppendJSONString(line, string(raw[0]))
			line = append(line, `,"fields":`...)
			line = append(line, raw[1]...)
			if raw[2] != nil {
				line = append(line, `,"ids":`...)
				line = append(line, raw[2]...)
			}
			line = append(line, "}\n"...)
			arena = append(arena, raw[0]...)
			ends = append(ends, int32(len(arena)))
			if _, err := bw.Write(line); err != nil {
				return // the reader stopped
			}
		}
		if err := rows.Err(); err != nil {
			werr = b.dbError("reading the state", err)
			pw.CloseWithError(werr)
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
		pw.Close()
	})
	s, err := state.Read(ctx, pr, b.name, b.services...)
	pr.CloseWithError(errors.New("reading stopped"))
	wg.Wait()
	if werr != nil {
		return nil, werr
	}
	var ce *state.CorruptError
	if errors.As(err, &ce) {
		out := &CorruptError{State: b.name, Msg: ce.Msg}
		if n := ce.Line - 2; n >= 0 && n < len(ends) {
			start := int32(0)
			if n > 0 {
				start = ends[n-1]
			}
			out.Row = string(arena[start:ends[n]])
		}
		return nil, out
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// digestAll returns the digest of every entry of s, computed in parallel;
// with check, it first checks that each entry would read back (checkEntry).
func digestAll(s *engine.State, check bool) (map[string]digest, error) {
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
			if check {
				if err := state.CheckEntry(addrs[i], e); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return
				}
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
