package pg

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reconcile-dev/reconcile/engine"
)

// Lock waits: the first retry comes after minLockRetry, then the pause
// doubles up to maxLockRetry.
const (
	minLockRetry = 100 * time.Millisecond
	maxLockRetry = time.Second
)

// lockKey is the advisory lock key of a workspace: 64 bits of a hash of
// its name, so that workspaces do not share a lock.
func lockKey(workspace string) int64 {
	sum := sha256.Sum256([]byte("reconcile workspace\x00" + workspace))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// lockHeldBy is the condition on pg_locks that finds the session holding
// the advisory lock of key $1: a bigint key shows as classid (high 32
// bits), objid (low 32 bits) and objsubid 1.
const lockHeldBy = `locktype = 'advisory' AND granted AND objsubid = 1
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid`

// pgLock is a held workspace lock: a session advisory lock on conn.
type pgLock struct {
	b          *Backend
	mu         sync.Mutex
	conn       *pgx.Conn // nil once released
	id         string
	backendPID uint32
}

// Lock takes the workspace's lock for operation: a session-level advisory
// lock (pg_try_advisory_lock) on a connection of its own, held until
// Unlock, plus a row in reconcile_locks saying who holds it (engine.LockInfo)
// for the message a second user sees. A held lock is retried with pauses of
// 100 ms growing to 1 s until timeout has passed (0: one try); then Lock
// returns *engine.LockedError with the holder's info. Cancelling ctx stops
// the wait.
//
// PostgreSQL releases the advisory lock when the session ends, however it
// ends: the holder's process exits or is killed, or its connection breaks.
// Only the info row can outlive its holder; the next Lock overwrites it and
// ForceUnlock clears it.
func (b *Backend) Lock(ctx context.Context, operation string, timeout time.Duration) (engine.Unlocker, error) {
	conn, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	info := engine.LockInfo{ID: uuid.NewString(), Who: who(), Operation: operation, PID: os.Getpid(), Path: b.name}
	start := time.Now()
	pause := minLockRetry
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, b.lockKey).Scan(&ok); err != nil {
			conn.Close(context.Background())
			return nil, b.dbError("locking the state", err)
		}
		if ok {
			l, err := b.hold(ctx, conn, info)
			if err != nil {
				conn.Close(context.Background()) // releases the lock
				return nil, err
			}
			return l, nil
		}
		waited := time.Since(start)
		if waited >= timeout {
			h := b.holder(ctx, conn)
			conn.Close(context.Background())
			return nil, &engine.LockedError{Info: h, Waited: timeout}
		}
		t := time.NewTimer(min(pause, timeout-waited))
		select {
		case <-ctx.Done():
			t.Stop()
			h := b.holder(context.WithoutCancel(ctx), conn)
			conn.Close(context.Background())
			return nil, fmt.Errorf("waiting for the state lock (%s): %w", h.String(), ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, maxLockRetry)
	}
}

// hold records info for the advisory lock conn has just taken.
func (b *Backend) hold(ctx context.Context, conn *pgx.Conn, info engine.LockInfo) (*pgLock, error) {
	info.Created = time.Now().UTC().Truncate(time.Microsecond)
	pid := conn.PgConn().PID()
	_, err := conn.Exec(ctx, `INSERT INTO reconcile_locks (workspace, id, who, operation, created, pid, backend_pid)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (workspace) DO UPDATE SET id = EXCLUDED.id, who = EXCLUDED.who, operation = EXCLUDED.operation,
			created = EXCLUDED.created, pid = EXCLUDED.pid, backend_pid = EXCLUDED.backend_pid`,
		b.workspace, info.ID, info.Who, info.Operation, info.Created, info.PID, int64(pid))
	if err != nil {
		return nil, b.dbError("locking the state", err)
	}
	l := &pgLock{b: b, conn: conn, id: info.ID, backendPID: pid}
	b.mu.Lock()
	b.lock = l
	b.mu.Unlock()
	return l, nil
}

// Unlock clears the lock's info and releases it, closing its connection.
// Unlocking twice is harmless. If the connection was lost, PostgreSQL has
// already released the lock; the error says so.
func (l *pgLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	b := l.b
	b.mu.Lock()
	if b.lock == l {
		b.lock = nil
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err1 := l.conn.Exec(ctx, `DELETE FROM reconcile_locks WHERE workspace = $1 AND id = $2`, b.workspace, l.id)
	_, err2 := l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, b.lockKey)
	err3 := l.conn.Close(ctx)
	l.conn = nil
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("unlocking the state %s (the lock ends with its connection, which is now closed; its info may remain until the next lock): %w", b.name, err)
	}
	return nil
}

// checkLockHeld checks, inside Save's transaction, that l's session still
// holds the advisory lock.
func (b *Backend) checkLockHeld(ctx context.Context, tx pgx.Tx, l *pgLock) error {
	l.mu.Lock()
	released := l.conn == nil
	l.mu.Unlock()
	if released {
		return nil
	}
	var held bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE `+lockHeldBy+` AND pid = $2)`, b.lockKey, int64(l.backendPID)).Scan(&held); err != nil {
		return b.dbError("checking the state lock", err)
	}
	if !held {
		return fmt.Errorf("refusing to save the state %s: its lock (ID %s) was lost with its connection, so another command may be writing it; nothing was saved, and the calls made are in the journal, which the next command folds in", b.name, l.id)
	}
	return nil
}

// holderPID returns the server process id of the session holding the
// workspace's advisory lock, 0 when nobody holds it.
func (b *Backend) holderPID(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int64, error) {
	var pid int64
	err := q.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE `+lockHeldBy+` LIMIT 1`, b.lockKey).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return pid, err
}

// lockRow is a row of reconcile_locks.
type lockRow struct {
	info       engine.LockInfo
	backendPID int64
}

func (b *Backend) readLockRow(ctx context.Context, conn *pgx.Conn) (lockRow, bool, error) {
	var r lockRow
	err := conn.QueryRow(ctx, `SELECT id, who, operation, created, pid, backend_pid FROM reconcile_locks WHERE workspace = $1`, b.workspace).
		Scan(&r.info.ID, &r.info.Who, &r.info.Operation, &r.info.Created, &r.info.PID, &r.backendPID)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	r.info.Path = b.name
	return r, true, nil
}

// holder returns the info of a lock found held. A holder that has just
// taken the lock may not have written its info yet, and the row may still
// be a gone holder's: look a few times for the row of the live session.
func (b *Backend) holder(ctx context.Context, conn *pgx.Conn) engine.LockInfo {
	var last lockRow
	found := false
	for try := range 3 {
		if try > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		r, ok, err := b.readLockRow(ctx, conn)
		if err != nil {
			break
		}
		pid, err := b.holderPID(ctx, conn)
		if err != nil {
			break
		}
		if ok {
			last, found = r, true
			if pid == r.backendPID {
				return r.info
			}
		}
	}
	if found {
		return last.info
	}
	return engine.LockInfo{ID: "?", Who: "unknown", Operation: "unknown (no lock info recorded)", Path: b.name}
}

// ForceUnlock removes the lock with this id.
//
// If the session that took it is gone, PostgreSQL has already released the
// advisory lock, and ForceUnlock only clears the info row left behind. If a
// live session still holds it (a runner that hangs, or whose machine
// vanished while the server still waits on its half-open connection),
// ForceUnlock ends that session with pg_terminate_backend, which releases
// the lock and aborts whatever the session was writing (a transaction is
// rolled back whole; completed calls already recorded stay recorded) -
// but only when the session holding the lock is the one that recorded
// this id, so a lock taken by someone else meanwhile is never broken.
// Ending another role's session takes the pg_signal_backend role (or
// superuser).
func (b *Backend) ForceUnlock(ctx context.Context, id string) error {
	conn, err := b.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	r, ok, err := b.readLockRow(ctx, conn)
	if err != nil {
		return b.dbError("force-unlock", err)
	}
	pid, err := b.holderPID(ctx, conn)
	if err != nil {
		return b.dbError("force-unlock", err)
	}
	if !ok {
		if pid == 0 {
			return fmt.Errorf("force-unlock: no lock with ID %s: the state %s is not locked", id, b.name)
		}
		return fmt.Errorf("force-unlock: no lock with ID %s: the state %s is locked but its holder has not recorded who it is yet; try again", id, b.name)
	}
	if r.info.ID != id {
		return fmt.Errorf("force-unlock: no lock with ID %s (current lock: %s)", id, r.info)
	}
	switch {
	case pid == 0:
		// The holder is gone and PostgreSQL released its lock: clear
		// what it left.
	case pid != r.backendPID:
		return fmt.Errorf("force-unlock: the state %s is now locked by another session (server process %d) than the one that took lock %s; run the command that failed again to see its holder", b.name, pid, id)
	default:
		var ended bool
		if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1::integer)`, pid).Scan(&ended); err != nil {
			return b.dbError(fmt.Sprintf("force-unlock: ending the session (server process %d) that holds lock %s", pid, id), err)
		}
		if !ended {
			// pg_terminate_backend says false of a process already gone:
			// the holder may have ended on its own meanwhile (its client
			// killed, its connection closed).
			cur, err := b.holderPID(ctx, conn)
			if err != nil {
				return b.dbError("force-unlock", err)
			}
			if cur == pid {
				return fmt.Errorf("force-unlock: the session (server process %d) that holds lock %s could not be ended", pid, id)
			}
		}
		if err := b.waitReleased(ctx, conn, pid); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, `DELETE FROM reconcile_locks WHERE workspace = $1 AND id = $2`, b.workspace, id); err != nil {
		return b.dbError("force-unlock", err)
	}
	return nil
}

// waitReleased waits until the session pid no longer holds the lock.
func (b *Backend) waitReleased(ctx context.Context, conn *pgx.Conn, pid int64) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := b.holderPID(ctx, conn)
		if err != nil {
			return b.dbError("force-unlock", err)
		}
		if cur != pid {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("force-unlock: the session (server process %d) was told to end but still holds the lock after 10s", pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// who returns user@host for LockInfo.
func who() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = fmt.Sprintf("uid %d", os.Getuid())
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return name + "@" + host
}
