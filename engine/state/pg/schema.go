package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaVersion is the version of the tables this build creates and the
// only one it uses. A later release that changes them adds a migration from
// each earlier version and bumps it; this build refuses a newer one.
const SchemaVersion = 1

// schemaLockKey serialises schema creation and migration between processes
// (pg_advisory_xact_lock); it is not a workspace's key (those come from a
// hash, see lockKey).
const schemaLockKey int64 = 0x7265636f6e63696c // "reconcil"

// schemaV1 creates the tables of schema version 1. Texts are stored
// exactly as the file format writes them (engine.AppendFieldsJSON), not as
// jsonb: jsonb would reorder keys and respace them, and the loader reads
// the exact text with the file format's fast parser.
var schemaV1 = []string{
	`CREATE TABLE reconcile_workspaces (
		name    text PRIMARY KEY,
		lineage text NOT NULL,
		serial  bigint NOT NULL,
		updated timestamptz NOT NULL DEFAULT now()
	)`,
	// One row per address: what recording a call or saving a change writes.
	`CREATE TABLE reconcile_resources (
		workspace text NOT NULL,
		address   text COLLATE "C" NOT NULL,
		fields    text NOT NULL,
		ids       text,
		digest    text NOT NULL,
		PRIMARY KEY (workspace, address)
	)`,
	// Completed calls recorded since the last save (engine.Journal), in
	// order; Load folds them, Save deletes those it includes.
	`CREATE TABLE reconcile_journal (
		workspace text NOT NULL,
		seq       bigserial NOT NULL,
		lineage   text NOT NULL,
		record    text NOT NULL,
		PRIMARY KEY (workspace, seq)
	)`,
	// Who holds a workspace's lock, for the message a second user sees.
	// The lock itself is a session advisory lock.
	`CREATE TABLE reconcile_locks (
		workspace   text PRIMARY KEY,
		id          text NOT NULL,
		who         text NOT NULL,
		operation   text NOT NULL,
		created     timestamptz NOT NULL,
		pid         integer NOT NULL,
		backend_pid integer NOT NULL
	)`,
}

// ensureSchema makes sure the tables exist at SchemaVersion, creating them
// on first use. An unknown, newer version is refused; a connection that
// found the schema in place once does not look again.
func (b *Backend) ensureSchema(ctx context.Context, conn *pgx.Conn) error {
	b.schemaOnce.Lock()
	defer b.schemaOnce.Unlock()
	if b.schemaOK {
		return nil
	}
	v, err := schemaVersion(ctx, conn)
	if err != nil {
		return b.dbError("reading the schema version", err)
	}
	if v == 0 {
		if err := b.createSchema(ctx, conn); err != nil {
			return err
		}
		v = SchemaVersion
	}
	if err := b.checkVersion(v); err != nil {
		return err
	}
	b.schemaOK = true
	return nil
}

func (b *Backend) checkVersion(v int) error {
	if v > SchemaVersion {
		return fmt.Errorf("state %s: the database holds reconcile's tables at schema version %d, newer than this build of reconcile knows (%d); upgrade reconcile", b.name, v, SchemaVersion)
	}
	if v < SchemaVersion {
		// No earlier version exists yet; a later release migrates here.
		return fmt.Errorf("state %s: unknown schema version %d", b.name, v)
	}
	return nil
}

// schemaVersion returns the schema's version, 0 when there are no tables.
func schemaVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var v *int
	err := conn.QueryRow(ctx, `SELECT max(version) FROM reconcile_schema_version`).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// createSchema creates the tables in one transaction, under a lock that
// keeps two first uses from racing.
func (b *Backend) createSchema(ctx context.Context, conn *pgx.Conn) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return b.dbError("creating the schema", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockKey); err != nil {
		return b.dbError("creating the schema", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS reconcile_schema_version (
		version integer NOT NULL,
		applied timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return b.dbError("creating the schema", err)
	}
	var v *int
	if err := tx.QueryRow(ctx, `SELECT max(version) FROM reconcile_schema_version`).Scan(&v); err != nil {
		return b.dbError("creating the schema", err)
	}
	if v != nil {
		// Another process created it meanwhile.
		return b.checkVersion(*v)
	}
	for _, stmt := range schemaV1 {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return b.dbError("creating the schema", err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO reconcile_schema_version (version) VALUES ($1)`, SchemaVersion); err != nil {
		return b.dbError("creating the schema", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return b.dbError("creating the schema", err)
	}
	return nil
}
