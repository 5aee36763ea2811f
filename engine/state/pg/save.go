package pg

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/reconcile-dev/reconcile/engine"
)

// stageThreshold is the number of changed rows above which Save streams
// them with COPY instead of sending them as arrays in one statement.
const stageThreshold = 2000

// Save writes s to the workspace after incrementing s.Serial, in one
// transaction: the rows that changed since this Backend loaded or saved
// the state (by digest), the deletion of rows no longer in s and of the
// journal rows s includes, and the new serial. Other readers see all of it
// or none of it.
//
// Save refuses (an error matching state.ErrConflict, nothing written) when
// the workspace holds another lineage or another serial than s was read
// at: someone wrote it meanwhile. When this Backend holds the workspace's
// lock, Save also checks that the lock is still held, and refuses if its
// connection was lost (someone else may hold it now).
//
// Save finishes once started even if ctx is cancelled: a state write cut
// short by Ctrl-C would lose the record of what was applied. On failure
// s.Serial is unchanged.
func (b *Backend) Save(ctx context.Context, s *engine.State) error {
	if s == nil {
		return fmt.Errorf("saving state %s: no state", b.name)
	}
	if !validLineage(s.Lineage) {
		return fmt.Errorf("saving state %s: lineage %q is not a UUID", b.name, s.Lineage)
	}
	if s.Serial < 0 {
		return fmt.Errorf("saving state %s: serial %d is negative", b.name, s.Serial)
	}
	ctx = context.WithoutCancel(ctx)
	digests, err := digestAll(s)
	if err != nil {
		return fmt.Errorf("saving state %s: %w", b.name, err)
	}
	return b.write(ctx, s, digests, false)
}

// Replace makes s the workspace's state, whatever it holds (another
// lineage, another serial), after incrementing s.Serial: every row is
// rewritten and the journal emptied, in one transaction. It is state push;
// the caller holds the lock and has decided that s may replace what is
// there.
func (b *Backend) Replace(ctx context.Context, s *engine.State) error {
	if s == nil || !validLineage(s.Lineage) || s.Serial < 0 {
		return fmt.Errorf("replacing state %s: not a valid state", b.name)
	}
	ctx = context.WithoutCancel(ctx)
	digests, err := digestAll(s)
	if err != nil {
		return fmt.Errorf("replacing state %s: %w", b.name, err)
	}
	return b.write(ctx, s, digests, true)
}

func (b *Backend) write(ctx context.Context, s *engine.State, digests map[string]digest, replace bool) error {
	conn, err := b.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return b.dbError("saving the state", err)
	}
	defer tx.Rollback(context.Background())

	b.mu.Lock()
	known, lock := b.known, b.lock
	b.mu.Unlock()
	if lock != nil {
		if err := b.checkLockHeld(ctx, tx, lock); err != nil {
			return err
		}
	}

	var (
		lineage string
		serial  int64
		exists  = true
	)
	err = tx.QueryRow(ctx, `SELECT lineage, serial FROM reconcile_workspaces WHERE name = $1 FOR UPDATE`, b.workspace).Scan(&lineage, &serial)
	if errors.Is(err, pgx.ErrNoRows) {
		exists = false
		// Create it, or find the one another process just created.
		tag, ierr := tx.Exec(ctx, `INSERT INTO reconcile_workspaces (name, lineage, serial) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`, b.workspace, s.Lineage, s.Serial)
		if ierr != nil {
			return b.dbError("saving the state", ierr)
		}
		if tag.RowsAffected() == 0 {
			return &conflictError{fmt.Sprintf("refusing to save the state %s: it was created by another process meanwhile; run the command again", b.name)}
		}
		lineage, serial = s.Lineage, s.Serial
		err = nil
	} else if err != nil {
		return b.dbError("saving the state", err)
	}
	if !replace {
		if lineage != s.Lineage {
			return &conflictError{fmt.Sprintf("refusing to save the state %s: it holds another state (lineage %s; the state being saved has lineage %s)", b.name, lineage, s.Lineage)}
		}
		if serial != s.Serial {
			return &conflictError{fmt.Sprintf("refusing to save the state %s: it was written since this state was read (serial %d there, %d here); run the command again", b.name, serial, s.Serial)}
		}
	}

	// What is stored now, by digest: known from the last Load or Save when
	// it is that version, else read from the rows.
	var stored map[string]digest
	switch {
	case replace:
		if _, err := tx.Exec(ctx, `DELETE FROM reconcile_resources WHERE workspace = $1`, b.workspace); err != nil {
			return b.dbError("saving the state", err)
		}
		stored = map[string]digest{}
	case known != nil && known.lineage == lineage && known.serial == serial && (exists || len(known.digests) == 0):
		stored = known.digests
	default:
		if stored, err = b.storedDigests(ctx, tx); err != nil {
			return err
		}
	}

	var changed, removed []string
	for addr, d := range digests {
		if old, ok := stored[addr]; !ok || old != d {
			changed = append(changed, addr)
		}
	}
	for addr := range stored {
		if _, ok := digests[addr]; !ok {
			removed = append(removed, addr)
		}
	}
	if len(removed) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM reconcile_resources WHERE workspace = $1 AND address = ANY($2::text[])`, b.workspace, removed); err != nil {
			return b.dbError("saving the state", err)
		}
	}
	if err := b.writeRows(ctx, tx, s, digests, changed, len(stored) == len(removed)); err != nil {
		return err
	}

	// The journal rows s includes: those Load folded, those this Backend's
	// journals recorded; a replacement includes (overrides) them all.
	jseq := int64(-1)
	if known != nil {
		jseq = known.journalSeq
	}
	b.mu.Lock()
	jseq = max(jseq, b.journalSeq)
	b.mu.Unlock()
	if replace {
		_, err = tx.Exec(ctx, `DELETE FROM reconcile_journal WHERE workspace = $1`, b.workspace)
	} else if jseq > 0 {
		_, err = tx.Exec(ctx, `DELETE FROM reconcile_journal WHERE workspace = $1 AND seq <= $2`, b.workspace, jseq)
	}
	if err != nil {
		return b.dbError("saving the state", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE reconcile_workspaces SET lineage = $2, serial = $3, updated = now() WHERE name = $1`, b.workspace, s.Lineage, s.Serial+1); err != nil {
		return b.dbError("saving the state", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return b.dbError("saving the state (nothing was written)", err)
	}
	s.Serial++
	b.mu.Lock()
	b.known = &snapshot{lineage: s.Lineage, serial: s.Serial, digests: digests, journalSeq: max(jseq, 0)}
	b.mu.Unlock()
	return nil
}

// storedDigests reads the digest of every row of the workspace.
func (b *Backend) storedDigests(ctx context.Context, tx pgx.Tx) (map[string]digest, error) {
	rows, err := tx.Query(ctx, `SELECT address, digest FROM reconcile_resources WHERE workspace = $1`, b.workspace)
	if err != nil {
		return nil, b.dbError("saving the state", err)
	}
	defer rows.Close()
	m := map[string]digest{}
	for rows.Next() {
		raw := rows.RawValues()
		var d digest
		// A digest that does not decode matches nothing: the row is
		// rewritten.
		_, _ = hex.Decode(d[:], raw[1])
		m[string(raw[0])] = d
	}
	if err := rows.Err(); err != nil {
		return nil, b.dbError("saving the state", err)
	}
	return m, nil
}

// writeRows inserts or updates the rows of the changed addresses: in one
// statement of arrays when they are few, else streamed with COPY, straight
// into the table when it holds no row of the workspace.
func (b *Backend) writeRows(ctx context.Context, tx pgx.Tx, s *engine.State, digests map[string]digest, changed []string, empty bool) error {
	if len(changed) == 0 {
		return nil
	}
	slices.Sort(changed) // a stable order of row locks
	if len(changed) <= stageThreshold {
		fields := make([]string, len(changed))
		ids := make([]*string, len(changed))
		ds := make([]string, len(changed))
		for i, addr := range changed {
			e := s.Resources[addr]
			fields[i], ids[i] = encodeEntry(e)
			ds[i] = digests[addr].String()
		}
		_, err := tx.Exec(ctx, `INSERT INTO reconcile_resources (workspace, address, fields, ids, digest)
			SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
			ON CONFLICT (workspace, address) DO UPDATE SET fields = EXCLUDED.fields, ids = EXCLUDED.ids, digest = EXCLUDED.digest`,
			b.workspace, changed, fields, ids, ds)
		if err != nil {
			return b.dbError("saving the state", err)
		}
		return nil
	}
	table := "reconcile_resources"
	if !empty {
		if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE reconcile_stage (LIKE reconcile_resources) ON COMMIT DROP`); err != nil {
			return b.dbError("saving the state", err)
		}
		table = "reconcile_stage"
	}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(changed) {
			return nil, nil
		}
		addr := changed[i]
		i++
		f, ids := encodeEntry(s.Resources[addr])
		return []any{b.workspace, addr, f, ids, digests[addr].String()}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, []string{"workspace", "address", "fields", "ids", "digest"}, src); err != nil {
		return b.dbError("saving the state", err)
	}
	if !empty {
		_, err := tx.Exec(ctx, `INSERT INTO reconcile_resources SELECT * FROM reconcile_stage
			ON CONFLICT (workspace, address) DO UPDATE SET fields = EXCLUDED.fields, ids = EXCLUDED.ids, digest = EXCLUDED.digest`)
		if err != nil {
			return b.dbError("saving the state", err)
		}
	}
	return nil
}

// encodeEntry returns e's fields and ids as the file format writes them;
// ids is nil when there are none.
func encodeEntry(e *engine.Entry) (string, *string) {
	f := string(engine.AppendFieldsJSON(nil, e.Fields))
	if len(e.IDs) == 0 {
		return f, nil
	}
	ids := string(engine.AppendFieldsJSON(nil, e.IDs))
	return f, &ids
}
