package pg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/engine/state/backendtest"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// testURL returns the database the tests use, RECONCILE_TEST_PG (.ci/run
// starts a throwaway server and sets it), or skips the test; in CI (CI is
// set, as CI services set it) a missing database fails the test instead,
// so that these tests never pass there unrun.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("RECONCILE_TEST_PG")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("RECONCILE_TEST_PG is not set in CI: no PostgreSQL to test against (.ci/run starts one)")
		}
		t.Skip("RECONCILE_TEST_PG is not set: no PostgreSQL to test against (.ci/run starts one)")
	}
	return u
}

var workspaceSeq atomic.Int64

// freshWorkspace returns a workspace name no other test uses.
func freshWorkspace(t testing.TB) string {
	return fmt.Sprintf("test-%s-%d-%s", strings.ReplaceAll(t.Name(), "/", "-"), workspaceSeq.Add(1), uuid.NewString()[:8])
}

func openTest(t testing.TB, url, ws string) *Backend {
	t.Helper()
	b, err := Open(url, ws, registry.Default().Names()...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sql runs statements on a connection of the test's own.
func sql(t testing.TB, url string, stmt string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// TestPostgresBackendContract runs the engine.Backend contract, which the
// file backend runs too, against PostgreSQL.
func TestPostgresBackendContract(t *testing.T) {
	url := testURL(t)
	backendtest.Run(t, func(t *testing.T) func() engine.Backend {
		ws := freshWorkspace(t)
		return func() engine.Backend { return openTest(t, url, ws) }
	}, backendtest.Options{
		Conflict:        state.ErrConflict,
		BreaksLiveLocks: true,
		// A holder whose connection breaks (its process killed, its
		// network gone): PostgreSQL ends the session and its lock.
		Abandon: func(t *testing.T, u engine.Unlocker) {
			l := u.(*pgLock)
			l.mu.Lock()
			defer l.mu.Unlock()
			l.conn.PgConn().Conn().Close()
		},
		Corrupt: func(t *testing.T, open func() engine.Backend) string {
			b := open().(*Backend)
			sql(t, url, `UPDATE reconcile_resources SET fields = '{"tier.id":1.5}' WHERE workspace = $1 AND address = 'bonifiq/1001'`, b.workspace)
			return `row "bonifiq/1001": field "tier.id": 1.5 is not an integer`
		},
	})
}

func TestPostgresForeignRow(t *testing.T) {
	url := testURL(t)
	for _, tt := range []struct {
		name, stmt, want string
	}{
		{"unknown provider", `INSERT INTO reconcile_resources VALUES ($1, 'hubspot/1', '{}', NULL, 'x')`, `row "hubspot/1": unknown provider "hubspot"`},
		{"fields not JSON", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq/2', 'not json', NULL, 'x')`, `row "bonifiq/2": `},
		{"ids not an object", `INSERT INTO reconcile_resources VALUES ($1, 'bonifiq/3', '{}', '[1]', 'x')`, `row "bonifiq/3": `},
		{"lineage", `UPDATE reconcile_workspaces SET lineage = 'nope' WHERE name = $1`, `lineage "nope" is not a UUID`},
		{"journal", `INSERT INTO reconcile_journal (workspace, lineage, record) SELECT $1, lineage, '{"set":' FROM reconcile_workspaces WHERE name = $1`, `row "journal `},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ws := freshWorkspace(t)
			b := openTest(t, url, ws)
			s := engine.NewState()
			s.Resources["bonifiq/1"] = &engine.Entry{Provider: "bonifiq", ID: "1", Fields: engine.Fields{{Name: "name", Value: engine.String("x")}}}
			if err := b.Save(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			sql(t, url, tt.stmt, ws)
			_, err := openTest(t, url, ws).Load(t.Context())
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, engine.ErrStateCorrupt) {
				t.Fatalf("Load: %v; want a *CorruptError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ws) {
				t.Errorf("Load: %v; want it to name the workspace and contain %q", err, tt.want)
			}
		})
	}
}

func TestPostgresOpenRefusesPassword(t *testing.T) {
	for _, u := range []string{
		"postgres://alice:s3cret@db.example/reconcile",
		"postgresql://alice:s3cret@db.example:5432/reconcile?sslmode=require",
		"postgres://alice@db.example/reconcile?password=s3cret",
	} {
		_, err := Open(u, "")
		if err == nil || !strings.Contains(err.Error(), "PGPASSWORD") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): %v; want a refusal naming PGPASSWORD, without the password", u, err)
		}
	}
}

func TestPostgresConnectError(t *testing.T) {
	// Nothing listens on port 1.
	t.Setenv("PGPASSWORD", "s3cret")
	b, err := Open("postgres://alice@127.0.0.1:1/ledger?connect_timeout=5", "team-a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Load(t.Context())
	if !errors.Is(err, ErrConnect) {
		t.Fatalf("Load: %v; want ErrConnect", err)
	}
	msg := err.Error()
	for _, want := range []string{"postgres://alice@127.0.0.1:1/ledger", `workspace "team-a"`, "cannot connect", "refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("message %q shows the password", msg)
	}
	if strings.Count(msg, "\n") > 0 {
		t.Errorf("message spans lines: %q", msg)
	}
}

func TestPostgresWrongPassword(t *testing.T) {
	url := testURL(t)
	role := "reconcile_pw_test"
	sql(t, url, `DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reconcile_pw_test') THEN
			CREATE ROLE reconcile_pw_test LOGIN PASSWORD 'right-one';
		END IF; END $$`)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSWORD", "wrong-one")
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, cfg.Database)
	// Trust authentication (as .ci/run sets up) accepts any password; the
	// test only makes sense where passwords are checked.
	if conn, err := pgx.Connect(t.Context(), u); err == nil {
		conn.Close(context.Background())
		t.Skip("the server trusts loopback connections: passwords are not checked")
	}
	b, err := Open(u, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Load(t.Context())
	if strings.Contains(err.Error(), "wrong-one") || !strings.Contains(err.Error(), "PGPASSWORD") {
		t.Errorf("Load with a wrong password: %v", err)
	}
}

func TestPostgresNewerSchemaRefused(t *testing.T) {
	url := testURL(t)
	b := openTest(t, url, freshWorkspace(t))
	if _, err := b.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A later release's schema version, in a transaction rolled back at
	// the end, so that the other tests' tables stay as they are: checked
	// on the test's own connection.
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `INSERT INTO reconcile_schema_version (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	b2 := openTest(t, url, "x")
	v, err := schemaVersion(t.Context(), tx.Conn())
	if err != nil {
		t.Fatal(err)
	}
	err = b2.checkVersion(v)
	if err == nil || !strings.Contains(err.Error(), "schema version 99") || !strings.Contains(err.Error(), "upgrade reconcile") {
		t.Fatalf("schema version 99: %v", err)
	}
}

func TestPostgresWorkspacesIndependent(t *testing.T) {
	url := testURL(t)
	a, b := openTest(t, url, freshWorkspace(t)), openTest(t, url, freshWorkspace(t))
	ua, err := a.Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Unlock()
	ub, err := b.Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatalf("locking another workspace: %v", err)
	}
	defer ub.Unlock()
	sa := engine.NewState()
	sa.Resources["bonifiq/1"] = &engine.Entry{Provider: "bonifiq", ID: "1"}
	if err := a.Save(t.Context(), sa); err != nil {
		t.Fatal(err)
	}
	if s, err := b.Load(t.Context()); err != nil || len(s.Resources) != 0 || s.Serial != 0 {
		t.Fatalf("the other workspace: %v, %+v", err, s)
	}
}

// TestPostgresSaveWritesOnlyChanges checks that Save after Load rewrites
// only the rows that changed, by watching the rows' system column xmin
// (the transaction that wrote each row).
func TestPostgresSaveWritesOnlyChanges(t *testing.T) {
	url := testURL(t)
	ws := freshWorkspace(t)
	b := openTest(t, url, ws)
	s := engine.NewState()
	for i := range 5000 {
		id := fmt.Sprintf("%05d", i)
		s.Resources["bonifiq/"+id] = &engine.Entry{Provider: "bonifiq", ID: id, Fields: engine.Fields{{Name: "name", Value: engine.String("n" + id)}}}
	}
	if err := b.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	b2 := openTest(t, url, ws)
	s2, err := b2.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s2.Resources["bonifiq/00007"].Fields = s2.Resources["bonifiq/00007"].Fields.Set("name", engine.String("changed"))
	delete(s2.Resources, "bonifiq/00008")
	s2.Resources["bonifiq/99999"] = &engine.Entry{Provider: "bonifiq", ID: "99999"}
	if err := b2.Save(t.Context(), s2); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rewritten []string
	rows, err := conn.Query(t.Context(), `SELECT address FROM reconcile_resources WHERE workspace = $1
		AND xmin::text = (SELECT xmin::text FROM reconcile_workspaces WHERE name = $1) ORDER BY address`, ws)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		rows.Scan(&a)
		rewritten = append(rewritten, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rewritten, " ") != "bonifiq/00007 bonifiq/99999" {
		t.Errorf("rows written by the second save: %v; want the changed and the added one", rewritten)
	}
	got, err := openTest(t, url, ws).Load(t.Context())
	if err != nil || len(got.Resources) != 5000 || got.Serial != 2 {
		t.Fatalf("%v: %d resources, serial %d", err, len(got.Resources), got.Serial)
	}
}

// TestPostgresLockLostRefusesSave: when the lock's connection dies, the
// lock is gone, and a Save by its former holder is refused.
func TestPostgresLockLostRefusesSave(t *testing.T) {
	url := testURL(t)
	ws := freshWorkspace(t)
	b := openTest(t, url, ws)
	u, err := b.Lock(t.Context(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u.(*pgLock).conn.PgConn().Conn().Close()
	// Another runner takes it as soon as PostgreSQL notices.
	other, err := openTest(t, url, ws).Lock(t.Context(), "other", 10*time.Second)
	if err != nil {
		t.Fatalf("the lock was not released with its connection: %v", err)
	}
	defer other.Unlock()
	err = b.Save(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), "was lost") {
		t.Fatalf("Save after losing the lock: %v", err)
	}
}
