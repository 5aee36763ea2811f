// Package pg stores reconcile's state in PostgreSQL, so that a team shares
// one state: Backend implements engine.Backend for one workspace of a
// database.
//
// # Connecting
//
// The state is named by a postgres:// or postgresql:// URL (-state, or
// RECONCILE_STATE) without a password: the password and TLS settings come
// from libpq's variables and files, which pgx reads (PGPASSWORD,
// PGPASSFILE or ~/.pgpass, PGSSLMODE, PGSSLROOTCERT, PGHOST...). A URL
// with a password is refused. A connection that fails gives one message
// naming the host, database and workspace, and the server's reason.
//
// # Tables
//
// The tables are created on first use, in the connection's default schema,
// and versioned in reconcile_schema_version (SchemaVersion); a newer
// version than this build knows is refused, so a later release can migrate
// them.
//
//	reconcile_workspaces (name, lineage, serial, updated)
//	reconcile_resources  (workspace, address, fields, ids, digest)   one row per address
//	reconcile_journal    (workspace, seq, lineage, record)           one row per completed call
//	reconcile_locks      (workspace, id, who, operation, created, pid, backend_pid)
//	reconcile_schema_version (version, applied)
//
// fields and ids hold exactly what the file format's lines hold
// (engine.AppendFieldsJSON; ids NULL when empty), as text: jsonb would
// reorder and respace them. digest is engine.Entry.Digest of the row.
//
// # Reading and writing
//
// Load reads a workspace in one repeatable-read snapshot, streaming the
// rows in address order and decoding them in parallel, each as the line of
// the file format it stands for, with that format's decoder
// (state.LineDecoder), which checks it as it checks a line of a file: a row
// that does not decode, or of an unknown provider, is a *CorruptError
// naming its address (the first such row in address order), and is never
// overwritten (Save refuses a state it could not read: its lineage
// differs). Journal rows are folded in. Load takes no lock.
//
// Scan (engine.StateScanner, which plan uses) reads the same snapshot in
// the same way, but hands the rows to the plan in batches decoded in place,
// without building the state, so a plan of a million customers holds the
// changes it finds rather than two million entries. A workspace with
// journal rows to fold is left to Load (engine.ErrScanUnavailable).
//
// Save writes, in one transaction, only the rows whose digest differs from
// what was loaded (or last saved), deletes the removed ones and the
// journal rows the state includes, and bumps the serial; it refuses
// (state.ErrConflict) when the workspace's lineage or serial is not the
// one the state was read at. A million-address state whose apply changed
// a thousand rows writes a thousand rows.
//
// # Journal
//
// Each completed call is one INSERT into reconcile_journal; Record returns
// once it is committed, so a killed apply loses nothing. Records that
// arrive while a commit is in flight share the next one (group commit, on
// JournalWriters connections), which keeps the throughput far above any
// service's rate limit.
//
// # Locking
//
// Lock takes a session-level advisory lock (pg_try_advisory_lock) whose
// key is a hash of the workspace, on a connection of its own held for the
// whole command, and writes who holds it to reconcile_locks. PostgreSQL
// releases the lock when the session ends, whatever ends it (exit, kill
// -9, a broken connection), so a crashed runner never blocks the team; only
// its info row stays, and the next Lock overwrites it. ForceUnlock clears
// such a row; when the session that took the lock is still alive (hung, or
// on a machine that vanished, its half-open connection not yet noticed),
// it ends that session with pg_terminate_backend, but only when that
// session is the one that recorded the given lock id. Save checks that its
// Backend's lock is still held before it commits.
//
// # Going further: one apply across several runners
//
// A million-customer apply is bound by the services' rate limits (at
// TomTicket's 3 requests/s, a million calls take almost four days), not by
// reconcile; several runners help only when they share each service's
// budget rather than multiply it. It could be split
//
//   - by provider: one runner per service, each locking its own slice of the
//     state. Each service's limit then lives in exactly one process, as
//     today, and nothing else is needed but a lock per (workspace,
//     provider) instead of per workspace, and Save writing only that
//     provider's rows (the per-row storage already makes that natural).
//     It gives at most three runners, which is also the most that helps
//     while every service has one budget.
//   - by address hash range: runner k of n takes the addresses whose hash
//     falls in its range, under a lock per range (an advisory key derived
//     from workspace and range), and saves only its rows, with a serial per
//     range or row-level checks instead of the workspace serial. Every
//     runner then calls every service, so the rate limit must become one
//     shared budget: a token bucket or sliding window kept in PostgreSQL
//     (a row per provider updated with SELECT ... FOR UPDATE, or
//     runners leasing batches of tokens, say a second's worth, so the
//     database sees a few statements per second rather than one per
//     call), or one runner acting as the dispatcher that the others ask
//     for tokens. A 429 seen by one runner must slow all of them, so the
//     backoff state belongs in the shared budget too. Plans would be made
//     per range, and the apply summary gathered from all runners.
//
// Neither is worth building until the calls themselves can go faster than
// one process can send them, which at the documented limits they cannot.
package pg
