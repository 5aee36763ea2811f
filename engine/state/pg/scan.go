package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/reconcile-dev/reconcile/engine"
)

// Scan streams the workspace's rows to visit in address order, in batches
// of up to rowsPerBlock entries decoded in place, without building the
// state (engine.StateScanner): what a plan of a million customers needs.
// Batches are decoded and visited by several goroutines at once; their Seq
// numbers them in address order.
//
// It reads, as Load does, one consistent snapshot (a repeatable-read,
// read-only transaction), takes no lock, and reports every row Load
// refuses as Load does (a *CorruptError naming the row). A workspace with
// journal rows to fold gives engine.ErrScanUnavailable before any visit:
// the caller loads it instead. A workspace that does not exist yet is an
// empty state with a fresh lineage.
func (b *Backend) Scan(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	conn, err := b.connect(ctx)
	if err != nil {
		return engine.ScanInfo{}, err
	}
	defer conn.Close(context.Background())
	tx, err := b.beginRead(ctx, conn)
	if err != nil {
		return engine.ScanInfo{}, err
	}
	defer tx.Rollback(context.Background())

	// The transaction's first statement takes its snapshot: the journal,
	// the header and the rows are all read in it.
	var journaled bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reconcile_journal WHERE workspace = $1)`, b.workspace).Scan(&journaled); err != nil {
		return engine.ScanInfo{}, b.dbError("reading the state journal", err)
	}
	if journaled {
		return engine.ScanInfo{}, engine.ErrScanUnavailable
	}
	var info engine.ScanInfo
	err = tx.QueryRow(ctx, `SELECT lineage, serial FROM reconcile_workspaces WHERE name = $1`, b.workspace).Scan(&info.Lineage, &info.Serial)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return engine.ScanInfo{Lineage: engine.NewLineage()}, nil
	case err != nil:
		return engine.ScanInfo{}, b.dbError("reading the state", err)
	case !validLineage(info.Lineage):
		return engine.ScanInfo{}, &CorruptError{State: b.name, Msg: fmt.Sprintf("lineage %q is not a UUID", info.Lineage)}
	case info.Serial < 0:
		return engine.ScanInfo{}, &CorruptError{State: b.name, Msg: fmt.Sprintf("serial %d is negative", info.Serial)}
	}

	work := func(d *decoder) func(*rowBlock) blockResult {
		var batch engine.EntryBatch
		return func(bl *rowBlock) blockResult {
			var res blockResult
			res.err = d.decode(bl, nil)
			if res.n = d.dec.Len(); res.n == 0 {
				return res
			}
			d.dec.Fill(&batch)
			batch.Seq = bl.seq
			if err := visit(&batch); err != nil && res.err == nil {
				res.err = err
			}
			return res
		}
	}
	collect := func(res *blockResult) error {
		info.Entries += res.n
		return nil
	}
	if err := b.stream(ctx, tx, work, collect); err != nil {
		return info, err
	}
	if err := tx.Commit(ctx); err != nil {
		return info, b.dbError("reading the state", err)
	}
	return info, nil
}

var _ engine.StateScanner = (*Backend)(nil)
