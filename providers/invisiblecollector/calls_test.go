package invisiblecollector

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

var _ engine.Provider = (*Client)(nil)

// fields and change build test inputs (stub.Fields, stub.Change).
var fields = stub.Fields

func change(action engine.Action, id string, desired, params, ids engine.Fields, changed ...string) *engine.Change {
	return stub.Change(Name, action, id, desired, params, ids, changed...)
}

func newTestClient(t *testing.T, base string) *Client {
	t.Helper()
	env := map[string]string{EnvToken: "tok", EnvBaseURL: base}
	c, err := New(Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCalls(t *testing.T) {
	all := fields("name", "ACME", "email", "a@example.com", "phone", nil, "vat_number", "PT1", "address", "Rua 1",
		"zip_code", "1000", "city", "Lisboa", "country", "PT", "locale", "pt")
	names := []string{"address", "city", "country", "email", "locale", "name", "phone", "vat_number", "zip_code"}
	gid := fields("gid", "g-1")
	tests := []struct {
		name string
		ch   *engine.Change
		want []engine.Call
	}{
		{"create by id", change(engine.ActionCreate, "100001", all, nil, nil),
			[]engine.Call{{Method: "PUT", Path: "/customers/100001", Op: OpCreate, Fields: names, MayTakeTwo: true}}},
		{"create by manifest gid", change(engine.ActionCreate, "100001", all, gid, nil),
			[]engine.Call{{Method: "PUT", Path: "/customers/g-1", Op: OpCreate, Fields: names, MayTakeTwo: true}}},
		{"create of a customer a read saw missing starts with the POST", func() *engine.Change {
			ch := change(engine.ActionCreate, "100001", all, nil, nil)
			ch.Missing = true
			return ch
		}(), []engine.Call{{Method: "POST", Path: "/customers", Op: OpCreate, Fields: names, MayTakeTwo: true}}},
		{"update by state gid, settles every managed field", change(engine.ActionUpdate, "100001", all, nil, fields("gid", "g-2"), "city"),
			[]engine.Call{{Method: "PUT", Path: "/customers/g-2", Op: OpUpdate, Fields: names}}},
		{"manifest gid wins over state", change(engine.ActionUpdate, "100001", all, gid, fields("gid", "g-2"), "city"),
			[]engine.Call{{Method: "PUT", Path: "/customers/g-1", Op: OpUpdate, Fields: names}}},
		{"update escaped id", change(engine.ActionUpdate, "a b/c", fields("country", "PT", "name", "N"), nil, nil, "name"),
			[]engine.Call{{Method: "PUT", Path: "/customers/a%20b%2Fc", Op: OpUpdate, Fields: []string{"country", "name"}}}},
		{"forget", &engine.Change{Provider: Name, ID: "1", Action: engine.ActionForget}, nil},
		{"disable (not offered)", &engine.Change{Provider: Name, ID: "1", Action: engine.ActionDisable}, nil},
	}
	c := newTestClient(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, c.Calls(tt.ch)); diff != "" {
				t.Errorf("Calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReady(t *testing.T) {
	c, err := New(Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.BaseURL(), DefaultBaseURL; got != want {
		t.Errorf("BaseURL = %q, want %q", got, want)
	}
	if err := c.Ready(); err == nil || err.Error() != "invisiblecollector: credentials missing: set INVISIBLECOLLECTOR_API_TOKEN" {
		t.Errorf("Ready = %v", err)
	}
	if _, err := New(Options{Getenv: func(k string) string { return map[string]string{EnvBaseURL: "http://10.0.0.1"}[k] }}); err == nil {
		t.Error("New accepted http:// on a non-loopback host")
	}
}
