package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state/backendtest"
)

// TestBackendContract runs the engine.Backend contract, which the
// PostgreSQL backend runs too, against the file backend.
func TestBackendContract(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) func() engine.Backend {
		path := filepath.Join(t.TempDir(), "reconcile.state.json")
		return func() engine.Backend { return NewFile(path) }
	}, backendtest.Options{
		Conflict: ErrConflict,
		// An OS lock dies with its process: Abandon releases it as the
		// kernel would, leaving the info behind.
		Abandon: func(t *testing.T, u engine.Unlocker) {
			l := u.(*fileLock)
			l.mu.Lock()
			defer l.mu.Unlock()
			if err := l.fh.Close(); err != nil {
				t.Fatal(err)
			}
			l.fh = nil
		},
		Corrupt: func(t *testing.T, open func() engine.Backend) string {
			path := open().String()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			lines[1] = `{"address":"bonifiq/1001","fields":{"tier.id":1.5}}`
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			return path + ":2:"
		},
	})
}
