package pg

import (
	"context"
	"runtime"
	"sync"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
)

// Load and Scan read the workspace's rows the same way: one goroutine
// receives them from the server and packs them into blocks of consecutive
// rows, GOMAXPROCS goroutines decode the blocks (each row as the state
// file's line it stands for, with the file format's decoder), and the
// calling goroutine takes the blocks' results in the order the server sent
// them, so the first bad row in that order is the one reported.

// rowsPerBlock is how many rows a decoder takes at a time, at most: the
// size of Scan's batches. A block also ends after blockBytes of text.
const (
	rowsPerBlock = 4096
	blockBytes   = 4 << 20
)

// rowBuf holds the texts of a block's rows, back to back.
type rowBuf struct {
	text []byte
	rows []rawRow
}

// rawRow is where one row's address, fields and ids end in its rowBuf's
// text (each starts where the one before it ends); ids is NULL when null.
// A row too long to be a line of the state (long) keeps its address only.
type rawRow struct {
	addr, fields, ids int32
	null, long        bool
}

// rowBlock is a run of consecutive rows, and its result to come.
type rowBlock struct {
	seq   int // the block's place in the stream, from 0
	first int // the stream's number of its first row, from 0
	*rowBuf
	res chan blockResult
}

// blockResult is what decoding a block gave: n rows decoded, then the
// block's first problem, if any.
type blockResult struct {
	n   int
	err error
	// Load's: the rows' entries, addresses and digests.
	entries []engine.Entry
	addrs   []string
	digests []digest
}

// row returns the texts of row i of bl.
func (bl *rowBlock) row(i int) (addr, fields, ids []byte, r rawRow) {
	start := int32(0)
	if i > 0 {
		start = bl.rows[i-1].ids
	}
	r = bl.rows[i]
	return bl.text[start:r.addr], bl.text[r.addr:r.fields], bl.text[r.fields:r.ids], r
}

// appendLine appends the state file's line that the row stands for (what
// Save wrote it from, engine.Entry.AppendJSON, when Save wrote it).
func appendLine(line, addr, fields, ids []byte, null bool) []byte {
	line = append(line, `{"address":`...)
	// A view of addr, only read while it is appended: no copy per row.
	line = engine.AppendJSONString(line, unsafe.String(unsafe.SliceData(addr), len(addr)))
	line = append(line, `,"fields":`...)
	line = append(line, fields...)
	if !null {
		line = append(line, `,"ids":`...)
		line = append(line, ids...)
	}
	return append(line, '}')
}

// rowError is the *CorruptError about a row that does not decode.
func (b *Backend) rowError(addr []byte, err error) error {
	return &CorruptError{State: b.name, Row: string(addr), Msg: err.Error()}
}

// decoder decodes the rows of blocks, one block at a time, for one decoding
// goroutine.
type decoder struct {
	b    *Backend
	dec  *state.LineDecoder
	line []byte
}

// decode decodes bl's rows into d.dec, up to the first that does not
// decode, calling each(line) after each row that does.
func (d *decoder) decode(bl *rowBlock, each func(line []byte)) error {
	d.dec.Reset()
	for i := range bl.rows {
		addr, fields, ids, r := bl.row(i)
		if r.long {
			return d.b.rowError(addr, state.ErrLineTooLong)
		}
		d.line = appendLine(d.line[:0], addr, fields, ids, r.null)
		if err := d.dec.Decode(d.line, bl.first+i+2); err != nil {
			return d.b.rowError(addr, err)
		}
		if each != nil {
			each(d.line)
		}
	}
	return nil
}

// beginRead starts the transaction Load and Scan read in: repeatable read
// and read-only, so that every statement sees one snapshot, that of its
// first, and a concurrent save is seen whole or not at all. Without JIT
// compilation (PostgreSQL 11 and later): for a walk of the index it costs
// the server more than it saves.
func (b *Backend) beginRead(ctx context.Context, conn *pgx.Conn) (pgx.Tx, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, b.dbError("reading the state", err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('jit', 'off', true) WHERE current_setting('server_version_num')::int >= 110000`); err != nil {
		tx.Rollback(context.Background())
		return nil, b.dbError("reading the state", err)
	}
	return tx, nil
}

// rowsQuery reads the workspace's rows in address order: byte order (the
// collation "C"), which is Go's string order and the order of the table's
// primary key index, which the server walks. Scan needs that order, and
// Load then reports the first bad row in it, as Scan does, whatever order
// the rows are stored in.
const rowsQuery = `SELECT address, fields, ids FROM reconcile_resources WHERE workspace = $1 ORDER BY address COLLATE "C"`

// stream reads the workspace's rows (rowsQuery) in tx and decodes them:
// work, called once per decoding goroutine, returns what decodes a block
// there; collect is called in the calling goroutine with each block's
// result, in the order of the rows, before the block's error is looked at.
// The first error, of the query, of a block or of collect, stops the
// stream and is returned.
func (b *Backend) stream(ctx context.Context, tx pgx.Tx, work func(d *decoder) func(*rowBlock) blockResult, collect func(*blockResult) error) error {
	workers := runtime.GOMAXPROCS(0)
	// Cancelled when the stream stops early, which also interrupts the
	// query: the connection is then unusable, and the caller closes it.
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	blocks := make(chan *rowBlock, workers)
	order := make(chan *rowBlock, 2*workers)
	free := make(chan *rowBuf, 3*workers+2)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { b.receive(qctx, tx, blocks, order, free, done) })
	for range workers {
		wg.Go(func() {
			do := work(&decoder{b: b, dec: state.NewLineDecoder(b.services...)})
			for bl := range blocks {
				var res blockResult
				select {
				case <-done:
				default:
					res = do(bl)
				}
				select {
				case free <- bl.rowBuf:
				default:
				}
				bl.res <- res
			}
		})
	}
	stop := func() {
		close(done)
		cancel()
		wg.Wait()
	}
	for bl := range order {
		res := <-bl.res
		err := ctx.Err()
		if err == nil {
			err = collect(&res)
		}
		if err == nil {
			err = res.err
		}
		if err != nil {
			stop()
			return err
		}
	}
	stop()
	return nil
}

// receive runs rowsQuery and hands its rows out in blocks, each to order
// (in the order of the rows) and to blocks (to be decoded), reusing the
// buffers the decoders are done with (free). A failure of the query comes
// last in order.
func (b *Backend) receive(ctx context.Context, tx pgx.Tx, blocks, order chan<- *rowBlock, free <-chan *rowBuf, done <-chan struct{}) {
	defer close(order)
	defer close(blocks)
	send := func(bl *rowBlock) bool {
		select {
		case order <- bl:
		case <-done:
			return false
		}
		select {
		case blocks <- bl:
			return true
		case <-done:
			return false
		}
	}
	fail := func(err error) {
		bl := &rowBlock{res: make(chan blockResult, 1)}
		bl.res <- blockResult{err: b.dbError("reading the state", err)}
		select {
		case order <- bl:
		case <-done:
		}
	}
	next := func(seq, first int) *rowBlock {
		bl := &rowBlock{seq: seq, first: first, res: make(chan blockResult, 1)}
		select {
		case bl.rowBuf = <-free:
			bl.text, bl.rows = bl.text[:0], bl.rows[:0]
		default:
			bl.rowBuf = &rowBuf{text: make([]byte, 0, 1<<20), rows: make([]rawRow, 0, rowsPerBlock)}
		}
		return bl
	}
	rows, err := tx.Query(ctx, rowsQuery, b.workspace)
	if err != nil {
		fail(err)
		return
	}
	defer rows.Close()
	bl := next(0, 0)
	n := 0
	for rows.Next() {
		raw := rows.RawValues()
		addr, fields, ids := raw[0], raw[1], raw[2]
		r := rawRow{null: ids == nil}
		if len(addr)+len(fields)+len(ids) > state.MaxLineBytes {
			// Refused whatever it holds: its address is enough.
			r.long, fields, ids = true, nil, nil
		}
		bl.text = append(bl.text, addr...)
		r.addr = int32(len(bl.text))
		bl.text = append(bl.text, fields...)
		r.fields = int32(len(bl.text))
		bl.text = append(bl.text, ids...)
		r.ids = int32(len(bl.text))
		bl.rows = append(bl.rows, r)
		n++
		if len(bl.rows) == rowsPerBlock || len(bl.text) >= blockBytes {
			if !send(bl) {
				return
			}
			bl = next(bl.seq+1, n)
		}
	}
	if len(bl.rows) > 0 && !send(bl) {
		return
	}
	if err := rows.Err(); err != nil {
		fail(err)
	}
}
