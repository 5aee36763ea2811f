package tomticket

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
	all := fields("name", "João", "email", "j@example.com", "phone", nil, "create_tickets", true,
		"organization_id", "org1", "portfolio_id", "p1", "language", "pt-BR", "custom_fields.cf_plan", "premium")
	tests := []struct {
		name string
		ch   *engine.Change
		want []engine.Call
	}{
		{"create settles every field", change(engine.ActionCreate, "1002", all, nil, nil), []engine.Call{{Method: "POST", Path: "/customer/update", Op: OpCreate,
			Fields: []string{"create_tickets", "custom_fields.cf_plan", "email", "language", "name", "organization_id", "phone", "portfolio_id"}, MayTakeTwo: true}}},
		{"create of a customer a read saw missing starts with customer/new", func() *engine.Change {
			ch := change(engine.ActionCreate, "1002", fields("name", "João"), nil, nil)
			ch.Missing = true
			return ch
		}(), []engine.Call{{Method: "POST", Path: "/customer/new", Op: OpCreate, Fields: []string{"name"}, MayTakeTwo: true}}},
		{"update settles the changed fields only", change(engine.ActionUpdate, "1002", all, nil, nil, "custom_fields.cf_plan", "phone"),
			[]engine.Call{{Method: "POST", Path: "/customer/update", Op: OpUpdate, Fields: []string{"custom_fields.cf_plan", "phone"}}}},
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

func TestForms(t *testing.T) {
	all := fields("name", "João", "email", "j@example.com", "phone", nil, "create_tickets", false,
		"internal_id", "X9", "language", "pt-BR", "custom_fields.cf_plan", "premium")
	tests := []struct {
		name string
		got  []FormField
		want []FormField
	}{
		{"update internal", UpdateForm("1002", "I", all, []string{"create_tickets", "custom_fields.cf_plan", "phone"}),
			[]FormField{{"customer_id", "1002"}, {"customer_type_id", "I"}, {"create_tickets", "0"}, {"custom_field[cf_plan]", "premium"}, {"phone", ""}}},
		{"update by e-mail", UpdateForm("j@example.com", "E", all, []string{"internal_id"}),
			[]FormField{{"customer_id", "j@example.com"}, {"customer_type_id", "E"}, {"internal_id", "X9"}}},
		{"new skips internal_id and cleared fields", NewForm("1002", "I", all),
			[]FormField{{"customer_id", "1002"}, {"create_tickets", "0"}, {"custom_field[cf_plan]", "premium"}, {"email", "j@example.com"}, {"language", "pt-BR"}, {"name", "João"}}},
		{"new by e-mail without managed email", NewForm("j@example.com", "E", fields("name", "J")),
			[]FormField{{"customer_id", "j@example.com"}, {"name", "J"}, {"email", "j@example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("form (-want +got):\n%s", diff)
			}
		})
	}
	if got := idType(fields("id_type", "email"), nil); got != "E" {
		t.Errorf("idType(email) = %q", got)
	}
	if got := idType(nil, fields("id_type", "email")); got != "E" {
		t.Errorf("idType(state email) = %q", got)
	}
	if got := idType(nil, nil); got != "I" {
		t.Errorf("idType() = %q", got)
	}
}
