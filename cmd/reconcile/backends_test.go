package main

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
)

// stateBackend is a state backend that tests starting reconcile processes
// run against: env points reconcile at a fresh, empty state.
type stateBackend struct {
	name string
	skip string // why the backend is not available, if it is not
	env  func(t *testing.T) []string
}

// stateBackends returns the file backend (reconcile's default state file in
// the command's directory) and PostgreSQL, a fresh workspace of the
// database RECONCILE_TEST_PG names (.ci/run starts one and sets it).
func stateBackends(t *testing.T) []stateBackend {
	pgURL := os.Getenv("RECONCILE_TEST_PG")
	skip := ""
	if pgURL == "" {
		skip = "RECONCILE_TEST_PG is not set: no PostgreSQL to test against (.ci/run starts one)"
	}
	return []stateBackend{
		{name: "file", env: func(*testing.T) []string {
			// The default state file, whatever the environment says.
			return []string{"RECONCILE_STATE=", "RECONCILE_WORKSPACE="}
		}},
		{name: "postgres", skip: skip, env: func(t *testing.T) []string {
			return []string{"RECONCILE_STATE=" + pgURL, "RECONCILE_WORKSPACE=" + freshWorkspace(t)}
		}},
	}
}

var workspaceSeq atomic.Int64

// freshWorkspace returns a PostgreSQL workspace name no other test uses.
func freshWorkspace(t *testing.T) string {
	return fmt.Sprintf("test-%s-%d-%s", strings.ReplaceAll(t.Name(), "/", "-"), workspaceSeq.Add(1), uuid.NewString()[:8])
}

// testPG returns RECONCILE_TEST_PG or skips the test.
func testPG(t *testing.T) string {
	t.Helper()
	u := os.Getenv("RECONCILE_TEST_PG")
	if u == "" {
		t.Skip("RECONCILE_TEST_PG is not set: no PostgreSQL to test against (.ci/run starts one)")
	}
	return u
}
