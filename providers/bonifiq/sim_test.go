package bonifiq

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

// simClient starts sim behind an httptest server, under a path prefix, and
// returns a client with the given credentials.
func simClient(t *testing.T, sim *Sim, token, key string) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/bonifiq/", http.StripPrefix("/bonifiq", sim))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	env := map[string]string{EnvToken: token, EnvKey: key, EnvBaseURL: srv.URL + "/bonifiq"}
	c, err := New(Options{Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apply runs every planned call of ch, as apply would, and returns the
// outcomes.
func apply(t *testing.T, c *Client, ch *engine.Change) ([]engine.Outcome, error) {
	t.Helper()
	var outs []engine.Outcome
	for _, call := range c.Calls(ch) {
		out, err := c.Do(context.Background(), ch, call)
		if err != nil {
			return outs, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

func TestClientAgainstSim(t *testing.T) {
	sim := NewSim(SimOptions{})
	c := simClient(t, sim, SandboxToken, SandboxKey)
	ctx := context.Background()
	all := fields("name", "Maria", "email", "m@example.com", "phone", "+55 11 99999-0000", "document", "123", "enrolled", true,
		"birthday", "1990-05-01", "signup_date", "2024-01-02T03:04:05Z", "enabled", false,
		"tier.id", 3, "tier.grace_period_days", 30, "tier.comments", "kept Gold")

	if _, err := c.Read(ctx, &engine.Resource{Provider: Name, ID: "1001"}, nil); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Read before create = %v, want ErrNotFound", err)
	}
	outs, err := apply(t, c, change(engine.ActionCreate, "1001", all, fields("status_reason", "migration")))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 3 || outs[0].IDs == nil || outs[1].Warning != "" || outs[2].Warning != "" {
		t.Errorf("outcomes = %+v", outs)
	}
	obs, err := c.Read(ctx, &engine.Resource{Provider: Name, ID: "1001"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fields("name", "Maria", "email", "m@example.com", "phone", "+55 11 99999-0000", "document", "123", "enrolled", true,
		"birthday", "1990-05-01", "signup_date", "2024-01-02T03:04:05Z")
	if diff := cmp.Diff(want, obs.Fields); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(outs[0].IDs, obs.IDs); diff != "" {
		t.Errorf("PublicId differs between upsert and read (-upsert +read):\n%s", diff)
	}
	got, _ := sim.Customer("1001")
	if got.IsEnabled || got.TierId != 3 || *got.GracePeriodInDays != 30 || *got.GracePeriodComments != "kept Gold" || got.StatusReason != "migration" {
		t.Errorf("sim holds %+v", got)
	}

	// A changestatus that changes nothing is a warning.
	outs, err = apply(t, c, change(engine.ActionUpdate, "1001", all, nil, "enabled"))
	if err != nil || outs[0].Warning != "Customer_StatusUnchanged" {
		t.Errorf("unchanged status: %+v, %v", outs, err)
	}
	// Clearing and updating the profile.
	upd := all.Clone().Set("email", engine.Null()).Set("birthday", engine.Null())
	if _, err := apply(t, c, change(engine.ActionUpdate, "1001", upd, nil, "birthday", "email")); err != nil {
		t.Fatal(err)
	}
	obs, _ = c.Read(ctx, &engine.Resource{Provider: Name, ID: "1001"}, nil)
	if v, _ := obs.Fields.Get("email"); !v.IsNull() {
		t.Errorf("email after clearing = %v", v)
	}
	// An unknown tier.
	_, err = apply(t, c, change(engine.ActionUpdate, "1001", fields("tier.id", 9), nil, "tier.id"))
	checkErr(t, err, &stub.WantErr{Status: 200, Message: "Tier_NotFound"})
	// An update of a customer the service does not have.
	_, err = apply(t, c, change(engine.ActionUpdate, "nobody", fields("name", "N"), nil, "name"))
	checkErr(t, err, &stub.WantErr{Status: 404, Message: "Customer not found"})
	// A disable.
	sim.Edit("1001", false, func(c *Customer) { c.IsEnabled = true })
	if _, err := apply(t, c, change(engine.ActionDisable, "1001", fields("enabled", false), nil, "enabled")); err != nil {
		t.Fatal(err)
	}
	if got, _ := sim.Customer("1001"); got.IsEnabled {
		t.Error("disable left the customer enabled")
	}
	// Wrong credentials.
	bad := simClient(t, sim, "other", "creds")
	_, err = apply(t, bad, change(engine.ActionUpdate, "1001", fields("name", "N"), nil, "name"))
	checkErr(t, err, &stub.WantErr{Status: 401, Message: "denied", Fatal: true})

	// The log saw every request, with paths relative to the API root.
	var paths []string
	for _, r := range sim.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	if !slices.Contains(paths, "POST /v1/pvt/Customer/upsert") || !slices.Contains(paths, "POST /v1/pvt/Customer/1001/changetier") {
		t.Errorf("log = %v", paths)
	}
}

func TestSimAdminEditIsDrift(t *testing.T) {
	sim := NewSim(SimOptions{})
	c := simClient(t, sim, SandboxToken, SandboxKey)
	if err := sim.Edit("2002", true, func(c *Customer) { c.Name = "Edited"; c.Email = ptr("x@example.com") }); err != nil {
		t.Fatal(err)
	}
	obs, err := c.Read(context.Background(), &engine.Resource{Provider: Name, ID: "2002"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := obs.Fields.Get("name"); v != engine.String("Edited") {
		t.Errorf("name = %v", v)
	}
	if err := sim.Edit("missing", false, func(*Customer) {}); err == nil {
		t.Error("Edit of a missing customer succeeded")
	}
}

func TestSimSnapshot(t *testing.T) {
	sim := NewSim(SimOptions{})
	c := simClient(t, sim, SandboxToken, SandboxKey)
	if _, err := apply(t, c, change(engine.ActionCreate, "1", fields("name", "A", "birthday", "2000-02-29"), nil)); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(sim.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var snap Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	other := NewSim(SimOptions{})
	other.Restore(snap)
	if diff := cmp.Diff(sim.Snapshot(), other.Snapshot()); diff != "" {
		t.Errorf("restored snapshot (-want +got):\n%s", diff)
	}
	c2 := simClient(t, other, SandboxToken, SandboxKey)
	if _, err := apply(t, c2, change(engine.ActionCreate, "2", fields("name", "B"), nil)); err != nil {
		t.Fatal(err)
	}
	a, _ := other.Customer("1")
	b, _ := other.Customer("2")
	if a.PublicId == b.PublicId {
		t.Errorf("restored sim reused PublicId %q", a.PublicId)
	}
}

// TestSimShapes checks the simulator's answers against the documented
// shapes (seeds 000-002), not only through the client.
func TestSimShapes(t *testing.T) {
	sim := NewSim(SimOptions{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	do := func(method, path, body string, auth bool) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if auth {
			req.SetBasicAuth(SandboxToken, SandboxKey)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.StatusCode, m
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	status, m := do("POST", "/v1/pvt/Customer/upsert", `{"OriginalId":"1","Name":"A","BirthdayDate":"2000-01-02T00:00:00Z","IsEnrolled":true}`, true)
	if status != 200 || m["HasError"] != false {
		t.Fatalf("upsert: %d %v", status, m)
	}
	status, m = do("GET", "/v1/pvt/Customer/1", "", true)
	if diff := cmp.Diff([]string{"ErrorCode", "ErrorMessage", "HasError", "Result"}, keys(m)); status != 200 || diff != "" {
		t.Errorf("GET envelope: %d (-want +got):\n%s", status, diff)
	}
	res := m["Result"].(map[string]any)
	if diff := cmp.Diff([]string{"BirthdayDate", "CurrentTier", "Document", "Email", "IsEnrolled", "Name", "OriginalId", "Phone",
		"PublicId", "ReferralURL", "SignupDate", "WhatsappReferralUrl"}, keys(res)); diff != "" {
		t.Errorf("GET Result keys (-want +got):\n%s", diff)
	}
	if res["BirthdayDate"] != "2000-01-02T00:00:00Z" || res["IsEnrolled"] != true || res["Email"] != nil {
		t.Errorf("GET Result = %v", res)
	}
	if diff := cmp.Diff([]string{"Color", "IconUrl", "Name"}, keys(res["CurrentTier"].(map[string]any))); diff != "" {
		t.Errorf("CurrentTier keys (-want +got):\n%s", diff)
	}
	actionKeys := []string{"Code", "CodeName", "ErrorCode", "ErrorMessage", "HasError", "HasWarning", "Result", "Severity"}
	for _, tt := range []struct {
		path, body string
		status     int
		want       map[string]any
	}{
		{"/v1/pvt/Customer/1/changestatus", `{"IsEnabled":false,"Reason":"r"}`, 200,
			map[string]any{"Result": true, "Severity": 0.0, "HasWarning": false, "HasError": false, "CodeName": "Success"}},
		{"/v1/pvt/Customer/1/changestatus", `{"IsEnabled":false,"Reason":"r"}`, 200,
			map[string]any{"Result": false, "Severity": 1.0, "HasWarning": true, "HasError": false, "CodeName": "Customer_StatusUnchanged"}},
		{"/v1/pvt/Customer/1/changetier", `{"TierId":4,"GracePeriodInDays":10,"GracePeriodComments":null}`, 200,
			map[string]any{"Result": true, "Severity": 0.0, "HasError": false}},
		{"/v1/pvt/Customer/1/changetier", `{"TierId":99}`, 200,
			map[string]any{"Result": false, "Severity": 2.0, "HasError": true, "CodeName": "Tier_NotFound", "Code": "02"}},
		{"/v1/pvt/Customer/2/changetier", `{"TierId":1}`, 404,
			map[string]any{"HasError": true, "ErrorMessage": "Customer not found", "CodeName": "Customer_NotFound"}},
	} {
		status, m := do("POST", tt.path, tt.body, true)
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.path, tt.body, status, tt.status)
		}
		if diff := cmp.Diff(actionKeys, keys(m)); diff != "" {
			t.Errorf("%s envelope keys (-want +got):\n%s", tt.path, diff)
		}
		for k, v := range tt.want {
			if m[k] != v {
				t.Errorf("%s %s: %s = %v, want %v", tt.path, tt.body, k, m[k], v)
			}
		}
	}
	for _, tt := range []struct {
		method, path, body string
		auth               bool
		status             int
	}{
		{"GET", "/v1/pvt/Customer/1", "", false, 401},
		{"PUT", "/v1/pvt/Customer/1", `{"Name":""}`, true, 400},
		{"PUT", "/v1/pvt/Customer/1", `{"Name":"x","Bogus":1}`, true, 400},
		{"PUT", "/v1/pvt/Customer/1", `{"OriginalId":"2"}`, true, 400},
		{"PUT", "/v1/pvt/Customer/1", `{"BirthdayDate":"yesterday"}`, true, 400},
		{"PUT", "/v1/pvt/Customer/1", `not json`, true, 400},
		{"PUT", "/v1/pvt/Customer/9", `{"Name":"x"}`, true, 404},
		{"POST", "/v1/pvt/Customer/upsert", `{"Name":"x"}`, true, 400},
		{"POST", "/v1/pvt/Customer/upsert", `{"OriginalId":"3"}`, true, 400},
		{"POST", "/v1/pvt/Customer/1/changetier", `{"GracePeriodInDays":3}`, true, 400},
		{"POST", "/v1/pvt/Customer/1/changetier", `{"TierId":1,"GracePeriodInDays":-1}`, true, 400},
		{"DELETE", "/v1/pvt/Customer/1", "", true, 405},
		{"GET", "/v1/pvt/Other/1", "", true, 404},
	} {
		status, m := do(tt.method, tt.path, tt.body, tt.auth)
		if status != tt.status || m["HasError"] != true {
			t.Errorf("%s %s %s: %d %v, want %d with HasError", tt.method, tt.path, tt.body, status, m, tt.status)
		}
	}
	req, _ := http.NewRequest("PUT", srv.URL+"/v1/pvt/Customer/1", strings.NewReader(`{"Name":"x"}`))
	req.SetBasicAuth(SandboxToken, SandboxKey)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d, want 415", resp.StatusCode)
	}
}
