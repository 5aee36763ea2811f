package pg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
)

// DefaultWorkspace is the workspace used when none is named.
const DefaultWorkspace = "default"

// connectTimeout bounds the making of one connection, unless the URL or
// PGCONNECT_TIMEOUT says otherwise: a server that does not answer is
// reported, not waited for.
const connectTimeout = 15 * time.Second

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://) rather than a state file.
func IsURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Backend is a state stored in PostgreSQL, one workspace of the database;
// see the package documentation. It implements engine.Backend.
//
// A Backend opens connections as it needs them and closes them when done:
// Load, Save and ForceUnlock use one each for their duration, a lock holds
// its own until Unlock, and a journal its own until Close.
type Backend struct {
	services  []string // the services the state may hold
	cfg       *pgx.ConnConfig
	workspace string
	name      string // for messages: URL without secrets, and workspace
	lockKey   int64

	schemaOnce sync.Mutex
	schemaOK   bool

	mu sync.Mutex
	// known is what this Backend last loaded or saved: per address, the
	// digest of the row as stored, so Save writes only what changed.
	known *snapshot
	// lock is the lock this Backend holds, if any: Save checks that it is
	// still held before committing.
	lock *pgLock
	// journalSeq is the highest journal row this Backend's journals wrote;
	// the state they recorded into includes it.
	journalSeq int64
}

// snapshot is the stored state as this Backend last read or wrote it.
type snapshot struct {
	lineage string
	serial  int64
	digests map[string]digest
	// journalSeq is the highest journal row the state includes.
	journalSeq int64
}

// Open returns the backend for workspace in the database at rawURL, a
// postgres:// or postgresql:// URL without a password. The password, TLS
// settings and defaults come from libpq's environment variables and files
// (PGPASSWORD, PGPASSFILE, PGSSLMODE, PGHOST, ...), as pgx reads them. A URL
// that carries a password is refused: URLs end up in shell histories, CI
// logs and process lists. Nothing is connected until a method is called.
//
// known lists the services whose addresses the state may hold (none: any
// well-formed name).
func Open(rawURL, workspace string, known ...string) (*Backend, error) {
	if workspace == "" {
		workspace = DefaultWorkspace
	}
	if err := checkWorkspace(workspace); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || !IsURL(rawURL) {
		return nil, fmt.Errorf("state %s: not a postgres:// URL", redactBroken(rawURL))
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.User(u.User.Username())
		return nil, fmt.Errorf("state %s: the URL carries a password; remove it and give the password in PGPASSWORD or a password file (PGPASSFILE, default ~/.pgpass), so that it stays out of shell histories, logs and process lists", redact(u))
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Del(k)
			u.RawQuery = q.Encode()
			return nil, fmt.Errorf("state %s: the URL carries a %s parameter; give it in the environment (PGPASSWORD, PGPASSFILE, PGSSLKEY...) instead", redact(u), k)
		}
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", redact(u), unwrapPg(err))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "reconcile"
	}
	b := &Backend{services: known, cfg: cfg, workspace: workspace, lockKey: lockKey(workspace)}
	b.name = fmt.Sprintf("%s (workspace %q)", describe(cfg), workspace)
	return b, nil
}

// checkWorkspace keeps workspace names printable and short.
func checkWorkspace(w string) error {
	if len(w) > 200 {
		return fmt.Errorf("-workspace: %d bytes is too long (at most 200)", len(w))
	}
	for _, r := range w {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("-workspace %q: control characters are not allowed", w)
		}
	}
	return nil
}

// String names the database and workspace, never a password:
// postgres://USER@HOST:PORT/DB (workspace "NAME").
func (b *Backend) String() string { return b.name }

// Workspace returns the workspace's name.
func (b *Backend) Workspace() string { return b.workspace }

// describe renders the connection the config makes, as the settings stand
// after the environment was read: what a message about it should name.
func describe(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		host = "[" + host + "]" // a Unix socket directory
	}
	u := &url.URL{Scheme: "postgres", Host: net.JoinHostPort(host, strconv.Itoa(int(cfg.Port))), Path: "/" + cfg.Database}
	if strings.HasPrefix(cfg.Host, "/") {
		u.Host = strings.Trim(host, "[]") + ":" + strconv.Itoa(int(cfg.Port))
	}
	if cfg.User != "" {
		u.User = url.User(cfg.User)
	}
	return u.String()
}

// redact returns u without password and query.
func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	c.RawQuery = ""
	c.Fragment = ""
	return c.String()
}

// redactBroken cuts anything that may be a password from a URL that does
// not parse.
func redactBroken(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = "…@" + rest[at+1:]
		}
		if q := strings.IndexByte(rest, '?'); q >= 0 {
			rest = rest[:q]
		}
		return s[:i+3] + rest
	}
	return "(unparsable URL)"
}

// connect opens a connection and makes sure the schema is there and known.
// Its errors name the host, database and workspace, and say what failed.
func (b *Backend) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.cfg)
	if err != nil {
		return nil, b.connError(err)
	}
	if err := b.ensureSchema(ctx, conn); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// ErrConnect is wrapped by every failure to connect to the database.
var ErrConnect = errors.New("cannot connect to the state database")

// connError words a connection failure: which server and database, and
// the server's or the network's reason, without pgx's repetition of the
// settings.
func (b *Backend) connError(err error) error {
	reason := unwrapPg(err)
	hint := ""
	// pgx lists each attempt (every address, with and without TLS) on a
	// line of its own: say each different reason once.
	var parts []string
	for _, line := range strings.Split(reason.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(parts, line) {
			parts = append(parts, line)
		}
	}
	msg := strings.Join(parts, "; ")
	switch {
	case strings.Contains(msg, "password authentication failed"), strings.Contains(msg, "no password supplied"), strings.Contains(msg, "SASL"):
		hint = "; check the password in PGPASSWORD or the password file (PGPASSFILE, default ~/.pgpass)"
	case strings.Contains(msg, "no pg_hba.conf entry") || strings.Contains(msg, "SSL") || strings.Contains(msg, "TLS") || strings.Contains(msg, "tls"):
		hint = "; the server may require TLS: set PGSSLMODE=require (or verify-full with PGSSLROOTCERT)"
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"), strings.Contains(msg, "timeout"), strings.Contains(msg, "i/o timeout"):
		hint = "; is the server running and reachable?"
	}
	return &connectError{msg: fmt.Sprintf("state %s: cannot connect: %s%s", b.name, msg, hint), err: reason}
}

type connectError struct {
	msg string
	err error
}

func (e *connectError) Error() string   { return e.msg }
func (e *connectError) Unwrap() []error { return []error{ErrConnect, e.err} }

// unwrapPg drops pgx's "failed to connect to `user=... database=...`:"
// prefix, which repeats the settings, keeping the server's or network's
// reason.
func unwrapPg(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Unwrap() != nil {
		return ce.Unwrap()
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap()
	}
	return err
}

// dbError words an error from a statement, naming the state.
func (b *Backend) dbError(doing string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Errorf("state %s: %s: %s (SQLSTATE %s)", b.name, doing, pe.Message, pe.Code)
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fmt.Errorf("state %s: %s: the connection failed: %w", b.name, doing, err)
	}
	return fmt.Errorf("state %s: %s: %w", b.name, doing, err)
}

// conflictError is a Save refusal; it matches state.ErrConflict, as the
// file backend's refusals do.
type conflictError struct{ msg string }

func (e *conflictError) Error() string        { return e.msg }
func (e *conflictError) Is(target error) bool { return target == state.ErrConflict }

// CorruptError says which row of the state cannot be read and why. It
// wraps engine.ErrStateCorrupt.
type CorruptError struct {
	// State names the database and workspace.
	State string
	// Row is the address of the row at fault, "" when the problem is the
	// workspace as a whole.
	Row string
	// Msg says what is wrong.
	Msg string
}

func (e *CorruptError) Error() string {
	if e.Row == "" {
		return fmt.Sprintf("state %s: %s", e.State, e.Msg)
	}
	return fmt.Sprintf("state %s: row %q: %s", e.State, e.Row, e.Msg)
}

// Unwrap returns engine.ErrStateCorrupt.
func (e *CorruptError) Unwrap() error { return engine.ErrStateCorrupt }

var (
	_ engine.Backend = (*Backend)(nil)
	_ engine.Journal = (*journal)(nil)
)
