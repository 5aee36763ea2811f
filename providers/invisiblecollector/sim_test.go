package invisiblecollector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

func simClient(t *testing.T, sim *Sim, token string) *Client {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	env := map[string]string{EnvToken: token, EnvBaseURL: srv.URL}
	c, err := New(Options{Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func do(t *testing.T, c *Client, ch *engine.Change) (engine.Outcome, error) {
	t.Helper()
	calls := c.Calls(ch)
	if len(calls) != 1 {
		t.Fatalf("Calls = %v", calls)
	}
	return c.Do(context.Background(), ch, calls[0])
}

func TestClientAgainstSim(t *testing.T) {
	sim := NewSim(SimOptions{Seed: 1})
	c := simClient(t, sim, SandboxToken)
	ctx := context.Background()
	res := &engine.Resource{Provider: Name, ID: "100001"}
	if _, err := c.Read(ctx, res, nil); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Read before create = %v", err)
	}
	out, err := do(t, c, change(engine.ActionCreate, "100001", john.Clone().Set("locale", engine.String("en")), nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := out.IDs.Get("gid")
	if gid.S == "" {
		t.Fatalf("create outcome %+v has no gid", out)
	}
	for _, ids := range []engine.Fields{nil, out.IDs} {
		obs, err := c.Read(ctx, res, ids)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&engine.Observed{Fields: john.Clone().Set("locale", engine.String("en")), IDs: out.IDs}, obs); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
	}
	// Update by gid, clearing a field.
	upd := john.Clone().Set("city", engine.Null())
	if _, err := do(t, c, change(engine.ActionUpdate, "100001", upd, nil, out.IDs, "city")); err != nil {
		t.Fatal(err)
	}
	if got, _ := sim.Customer(gid.S); got.City != nil || got.Locale == nil || *got.Locale != "en" {
		t.Errorf("after update: %+v", got)
	}
	// Another customer with the same VAT: the create fails naming the gid.
	_, err = do(t, c, change(engine.ActionCreate, "200002", john.Clone().Set("name", engine.String("Other")), nil, nil))
	checkErr(t, err, &stub.WantErr{Status: 409, Message: "gid " + gid.S})
	// A create whose path gid is stale: PUT 404, POST 409, read by
	// externalId, same customer: adopted and updated.
	moved := john.Clone().Set("city", engine.String("Faro"))
	out2, err := do(t, c, change(engine.ActionCreate, "100001", moved, fields("gid", "stale-gid"), nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(out.IDs, out2.IDs); diff != "" {
		t.Errorf("adopted gid (-want +got):\n%s", diff)
	}
	if got, _ := sim.Customer("100001"); got.City == nil || *got.City != "Faro" {
		t.Errorf("adopted customer not updated: %+v", got)
	}
	// An update of a missing customer.
	_, err = do(t, c, change(engine.ActionUpdate, "404", fields("name", "N", "country", "PT"), nil, nil, "name"))
	checkErr(t, err, &stub.WantErr{Status: 404, Message: "Customer not found"})
	// Validation.
	_, err = do(t, c, change(engine.ActionCreate, "300003", fields("name", "N", "vat_number", "X1", "country", "Portugal"), nil, nil))
	checkErr(t, err, &stub.WantErr{Status: 422, Message: "Unprocessable request"})
	_, err = do(t, c, change(engine.ActionCreate, "300003", fields("name", "N", "country", "PT"), nil, nil))
	checkErr(t, err, &stub.WantErr{Status: 422, Message: "vatNumber is mandatory"})
	// Wrong token.
	_, err = do(t, simClient(t, sim, "nope"), change(engine.ActionUpdate, "100001", john, nil, nil, "name"))
	checkErr(t, err, &stub.WantErr{Status: 401, Message: "Credentials are required to access this resource", Fatal: true})
}

func TestSimAdminEditAndSnapshot(t *testing.T) {
	sim := NewSim(SimOptions{Seed: 2})
	if err := sim.Edit("555", true, func(c *Customer) { c.Name = "Edited"; c.Country = "ES" }); err != nil {
		t.Fatal(err)
	}
	if err := sim.Edit("nobody", false, func(*Customer) {}); err == nil {
		t.Error("Edit of a missing customer succeeded")
	}
	obs, err := simClient(t, sim, SandboxToken).Read(context.Background(), &engine.Resource{Provider: Name, ID: "555"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := obs.Fields.Get("name"); v != engine.String("Edited") {
		t.Errorf("name = %v", v)
	}
	data, _ := json.Marshal(sim.Snapshot())
	var snap Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	other := NewSim(SimOptions{Seed: 2})
	other.Restore(snap)
	if diff := cmp.Diff(sim.Snapshot(), other.Snapshot()); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	other.Edit("556", true, func(*Customer) {})
	a, _ := other.Customer("555")
	b, _ := other.Customer("556")
	if a.Gid == b.Gid {
		t.Error("restored sim reused a gid")
	}
}

// TestSimShapes checks the simulator's answers against the documented
// shapes and the SDK fixtures, not only through the client.
func TestSimShapes(t *testing.T) {
	sim := NewSim(SimOptions{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	send := func(method, path, body, token string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	jsonEq := func(name string, want string, got []byte) {
		t.Helper()
		var w, g any
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %s: %v", name, got, err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	status, body := send("GET", "/customers/1", "", "")
	if status != 401 {
		t.Errorf("no token: %d", status)
	}
	jsonEq("401 body", vector(t, "unauthorized.json"), body)
	status, body = send("GET", "/customers/1", "", SandboxToken)
	if status != 404 {
		t.Errorf("unknown customer: %d", status)
	}
	jsonEq("404 body", vector(t, "not_found.json"), body)
	status, body = send("POST", "/customers", "{nope", SandboxToken)
	if status != 400 {
		t.Errorf("bad JSON: %d", status)
	}
	jsonEq("400 body", vector(t, "invalid.json"), body)

	// The SDK's fixture customer, posted, comes back in the documented shape.
	status, body = send("POST", "/customers", `{"name":"John Doe Inc.","vatNumber":"PT543219876","address":"Invisible Avenue, 456",
		"zipCode":"1234-543","city":"Lisbon","country":"PT","email":"potatoes@farm.com","mobile":"351557424678","externalId":"100001"}`, SandboxToken)
	if status != 200 {
		t.Fatalf("POST: %d %s", status, body)
	}
	var got map[string]any
	json.Unmarshal(body, &got)
	var fixture map[string]any
	json.Unmarshal([]byte(vector(t, "post.json")), &fixture)
	// The docs' shape: the fixture's keys (mobile is its own field), plus
	// phone and locale.
	var wantKeys []string
	for k := range fixture {
		wantKeys = append(wantKeys, k)
	}
	wantKeys = append(wantKeys, "locale", "phone")
	var gotKeys []string
	for k, v := range got {
		gotKeys = append(gotKeys, k)
		if f, ok := fixture[k]; ok && k != "gid" && f != v {
			t.Errorf("%s = %v, fixture has %v", k, v, f)
		}
	}
	slices.Sort(wantKeys)
	slices.Sort(gotKeys)
	if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
		t.Errorf("customer keys (-want +got):\n%s", diff)
	}
	gid := got["gid"].(string)

	// Doubled slashes, as the official SDK sends them.
	if status, body := send("GET", "//customers/"+gid, "", SandboxToken); status != 200 || !strings.Contains(string(body), gid) {
		t.Errorf("//customers/{gid}: %d %s", status, body)
	}
	// The same data again is the same customer; other data is a 409 naming it.
	status, body = send("POST", "/customers", `{"name":"John Doe Inc.","vatNumber":"PT543219876","address":"Invisible Avenue, 456",
		"zipCode":"1234-543","city":"Lisbon","country":"PT","email":"potatoes@farm.com","mobile":"351557424678","externalId":"100001"}`, SandboxToken)
	if status != 200 || !strings.Contains(string(body), gid) {
		t.Errorf("same POST again: %d %s", status, body)
	}
	status, body = send("POST", "/customers", `{"name":"Else","vatNumber":"PT543219876","country":"PT"}`, SandboxToken)
	if status != 409 {
		t.Errorf("conflicting POST: %d", status)
	}
	jsonEq("409 body", `{"code":409,"gid":"`+gid+`","message":"Customer already registered"}`, body)

	for _, tt := range []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/customers/100001", `{"name":"x"}`, 422},                            // country is mandatory
		{"PUT", "/customers/100001", `{"country":"PT","gid":"x"}`, 200},              // the SDKs send the gid: ignored
		{"PUT", "/customers/100001", `{"country":"PT","attributes":{"a":"b"}}`, 200}, // and custom attributes
		{"PUT", "/customers/100001", `{"country":"PT","locale":"it"}`, 422},          // locale list
		{"PUT", "/customers/100001", `{"country":"PT","colour":"red"}`, 422},         // unknown attribute
		{"PUT", "/customers/100001", `{"country":"PT","name":null}`, 422},            // name cannot be cleared
		{"PUT", "/customers/nobody", `{"country":"PT"}`, 404},                        //
		{"POST", "/customers", `{"name":"N","country":"PT"}`, 422},                   // vatNumber is mandatory
		{"POST", "/customers", `{"vatNumber":"V","country":"PT"}`, 422},              // name is mandatory
		{"POST", "/customers", `{"name":"N","vatNumber":"V"}`, 422},                  // country is mandatory
		{"DELETE", "/customers/100001", ``, 405},                                     //
		{"GET", "/debts/1", ``, 404},                                                 //
		{"PUT", "/customers/" + gid, `{"country":"ES","address":null}`, 200},         // partial update
		{"POST", "/customers", `{"name":"N","vatNumber":"V2","country":"PT"}`, 200},  //
	} {
		status, body := send(tt.method, tt.path, tt.body, SandboxToken)
		if status != tt.status {
			t.Errorf("%s %s %s: %d %s, want %d", tt.method, tt.path, tt.body, status, body, tt.status)
		}
		if status >= 400 {
			var e struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Code != status || e.Message == "" {
				t.Errorf("%s %s: error body %s", tt.method, tt.path, body)
			}
		}
	}
	c, _ := sim.Customer(gid)
	if c.Country != "ES" || c.Address != nil || c.Name != "John Doe Inc." {
		t.Errorf("after partial PUT: %+v", c)
	}
	if n := len(sim.Requests()); n < 15 {
		t.Errorf("request log has %d entries", n)
	}
}

// TestSimFind: GET /customers/find answers the matching customers, [] for
// none, as the Ruby SDK's fixtures show (find.json, find_empty.json).
func TestSimFind(t *testing.T) {
	sim := NewSim(SimOptions{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	get := func(q string) (int, []map[string]any) {
		req, _ := http.NewRequest("GET", srv.URL+"/customers/find?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+SandboxToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	req, _ := http.NewRequest("POST", srv.URL+"/customers", strings.NewReader(vector(t, "post.json")))
	req.Header.Set("Authorization", "Bearer "+SandboxToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	if status, got := get("email=potatoes@farm.com"); status != 200 || len(got) != 1 || got[0]["mobile"] != "351557424678" {
		t.Errorf("find by email: %d %v", status, got)
	}
	if status, got := get("email=nobody@example.com"); status != 200 || got == nil || len(got) != 0 {
		t.Errorf("find with no match: %d %v, want 200 []", status, got)
	}
}
