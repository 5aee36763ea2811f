package bonifiq

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

var _ engine.Provider = (*Client)(nil)

// fields and change build test inputs (stub.Fields, stub.Change).
var fields = stub.Fields

func change(action engine.Action, id string, desired, params engine.Fields, changed ...string) *engine.Change {
	return stub.Change(Name, action, id, desired, params, nil, changed...)
}

func newTestClient(t *testing.T, base string) *Client {
	t.Helper()
	env := map[string]string{EnvToken: "tok", EnvKey: "key", EnvBaseURL: base}
	c, err := New(Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCalls(t *testing.T) {
	all := fields("name", "Maria", "email", "m@example.com", "phone", nil, "document", "123", "enrolled", true,
		"birthday", "1990-05-01", "signup_date", "2024-01-02T03:04:05Z", "enabled", true,
		"tier.id", 3, "tier.grace_period_days", 30, "tier.comments", "kept")
	profile := []string{"birthday", "document", "email", "enrolled", "name", "phone", "signup_date"}
	tiers := []string{"tier.comments", "tier.grace_period_days", "tier.id"}
	put := engine.Call{Method: "PUT", Path: "/v1/pvt/Customer/1001", Op: OpUpdate, Fields: profile}
	status := engine.Call{Method: "POST", Path: "/v1/pvt/Customer/1001/changestatus", Op: OpChangeStatus, Fields: []string{"enabled"}}
	tier := engine.Call{Method: "POST", Path: "/v1/pvt/Customer/1001/changetier", Op: OpChangeTier, Fields: tiers}
	tests := []struct {
		name string
		ch   *engine.Change
		want []engine.Call
	}{
		// A new customer is enabled: enabled: true rides on the upsert (which
		// sets it only if the customer turns out to exist already).
		{"create everything", change(engine.ActionCreate, "1001", all, nil), []engine.Call{
			{Method: "POST", Path: "/v1/pvt/Customer/upsert", Op: OpUpsert, Fields: append(profile[:len(profile):len(profile)], "enabled"), MayTakeTwo: true}, tier}},
		{"create disabled", change(engine.ActionCreate, "1001", fields("name", "M", "enabled", false), nil), []engine.Call{
			{Method: "POST", Path: "/v1/pvt/Customer/upsert", Op: OpUpsert, Fields: []string{"name"}}, status}},
		{"create name only", change(engine.ActionCreate, "1001", fields("name", "Maria"), nil), []engine.Call{
			{Method: "POST", Path: "/v1/pvt/Customer/upsert", Op: OpUpsert, Fields: []string{"name"}}}},
		{"create with tier, no status", change(engine.ActionCreate, "1001", fields("name", "M", "tier.id", 2), nil), []engine.Call{
			{Method: "POST", Path: "/v1/pvt/Customer/upsert", Op: OpUpsert, Fields: []string{"name"}},
			{Method: "POST", Path: "/v1/pvt/Customer/1001/changetier", Op: OpChangeTier, Fields: []string{"tier.id"}}}},
		{"update email", change(engine.ActionUpdate, "1001", all, nil, "email"), []engine.Call{put}},
		{"update enabled", change(engine.ActionUpdate, "1001", all, nil, "enabled"), []engine.Call{status}},
		{"update grace days", change(engine.ActionUpdate, "1001", all, nil, "tier.grace_period_days"), []engine.Call{tier}},
		{"update all three, in order", change(engine.ActionUpdate, "1001", all, nil, "birthday", "enabled", "tier.id"), []engine.Call{put, status, tier}},
		{"disable", change(engine.ActionDisable, "1001", fields("enabled", false), nil, "enabled"), []engine.Call{status}},
		{"forget", &engine.Change{Provider: Name, ID: "1001", Action: engine.ActionForget}, nil},
		{"id escaped", change(engine.ActionUpdate, "a/b c?", all, nil, "enabled"), []engine.Call{
			{Method: "POST", Path: "/v1/pvt/Customer/a%2Fb%20c%3F/changestatus", Op: OpChangeStatus, Fields: []string{"enabled"}}}},
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

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		config  string
		base    string
		wantErr string
		ready   string
	}{
		{name: "defaults", base: "https://api.bonifiq.com.br", ready: "bonifiq: credentials missing: set BONIFIQ_API_TOKEN and BONIFIQ_API_KEY"},
		{name: "one missing", env: map[string]string{EnvToken: "t"}, base: "https://api.bonifiq.com.br", ready: "bonifiq: credentials missing: set BONIFIQ_API_KEY"},
		// A manifest's base_url receives credentials only when the operator
		// allowed it (issue 12): a loopback one included.
		{name: "config, not allowed", config: "https://eu.example.com/api/", env: map[string]string{EnvToken: "t", EnvKey: "k"}, base: "https://eu.example.com/api",
			ready: "base_url https://eu.example.com:443/api, which the operator has not allowed"},
		{name: "config, loopback, not allowed", config: "http://127.0.0.1:9/x", env: map[string]string{EnvToken: "t", EnvKey: "k"}, base: "http://127.0.0.1:9/x",
			ready: "export RECONCILE_ALLOW_BASE_URLS=http://127.0.0.1:9/x"},
		{name: "config, allowed", config: "https://eu.example.com/api/", env: map[string]string{EnvToken: "t", EnvKey: "k", "RECONCILE_ALLOW_BASE_URLS": "https://other.example.com, https://EU.example.com:443/api"}, base: "https://eu.example.com/api"},
		{name: "config, other port allowed", config: "https://eu.example.com:8443/api", env: map[string]string{EnvToken: "t", EnvKey: "k", "RECONCILE_ALLOW_BASE_URLS": "https://eu.example.com/api"}, base: "https://eu.example.com:8443/api",
			ready: "has not allowed"},
		{name: "env wins", config: "https://eu.example.com", env: map[string]string{EnvBaseURL: "http://127.0.0.1:8080/bonifiq"}, base: "http://127.0.0.1:8080/bonifiq", ready: "credentials missing"},
		{name: "localhost", env: map[string]string{EnvBaseURL: "http://localhost:1"}, base: "http://localhost:1", ready: "credentials missing"},
		{name: "ipv6 loopback", env: map[string]string{EnvBaseURL: "http://[::1]:1"}, base: "http://[::1]:1", ready: "credentials missing"},
		{name: "127/8", env: map[string]string{EnvBaseURL: "http://127.9.9.9"}, base: "http://127.9.9.9", ready: "credentials missing"},
		{name: "http elsewhere", env: map[string]string{EnvBaseURL: "http://api.example.com"}, wantErr: "http:// is allowed only on a loopback host"},
		{name: "no scheme", config: "api.example.com", wantErr: "needs a scheme and a host"},
		{name: "ftp", config: "ftp://api.example.com", wantErr: "scheme must be https"},
		{name: "user info", config: "https://u:secret@api.example.com", wantErr: "credentials belong in the environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{Config: engine.ProviderConfig{BaseURL: tt.config}, Getenv: func(k string) string { return tt.env[k] }})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error leaks a credential: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.BaseURL(); got != tt.base {
				t.Errorf("BaseURL = %q, want %q", got, tt.base)
			}
			err = c.Ready()
			switch {
			case tt.ready == "" && err != nil:
				t.Errorf("Ready = %v", err)
			case tt.ready != "" && (err == nil || !strings.Contains(err.Error(), tt.ready)):
				t.Errorf("Ready = %v, want %q", err, tt.ready)
			}
		})
	}
}
